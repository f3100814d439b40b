"""Settling demand-response events on a real in-process chain: the event's
lifecycle, exact amounts per opt-in (table), several opt-ins, the reserve's
refund to the funder, penalties to a named account, reputation."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from app.pb.mgrid.reputation.v1 import reputation_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.demand_response.conftest import DR, PENALTIES
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, POOL, START, UTILITY

N0 = START // 60  # the interval block 1 is in
E = N0 + 5  # the event's interval: its baseline intervals are N0+1..N0+4
HISTORY = (N0 + 1, N0 + 2, N0 + 3, N0 + 4)

Reading = tuple[int, int] | None  # (exported, imported) Wh, or no reading


def settlement_net(dr: DR, who: Any) -> int:
    """What the settlement module (imbalances of the readings) did to ``who``'s balance."""
    req = settlement_pb2.QuerySettlementsRequest(participant=who.address, limit=1000)
    rows = dr.m.q("Settlements", req, settlement_pb2).settlements
    return sum(int(r.net) for r in rows)


def run_event(dr: DR, opt_ins: dict[Any, tuple[int, list[Reading], Reading]], **event: Any) -> int:
    """Issue an event for E, opt each participant in (committed, history, reading in E),
    report the readings and settle; returns the event id."""
    event_id = dr.new_event(interval=E, **event)
    for who, (committed, _, _) in opt_ins.items():
        dr.joined(who, event_id, committed)
    for i, n in enumerate(HISTORY):
        dr.report(n, {who: history[i] for who, (_, history, _) in opt_ins.items()})
    dr.report(E, {who: reading for who, (_, _, reading) in opt_ins.items()})
    dr.finish(E)
    return event_id


# name, history (N0+1..N0+4), reading in E, committed,
# (baseline, samples, metered, missing, delivered, credited, shortfall, reward, penalty)
# at reward 200 and penalty 100 per kWh.
CASES = [
    ("over-delivery capped at the commitment", [(0, 3000)] * 4, (0, 500), 1000,
     (3000, 4, 500, False, 2500, 1000, 0, 200, 0)),
    ("partial delivery", [(0, 3000)] * 4, (0, 2400), 1000,
     (3000, 4, 2400, False, 600, 600, 400, 120, 40)),
    ("consumption above the baseline", [(0, 3000)] * 4, (0, 3500), 1000,
     (3000, 4, 3500, False, -500, 0, 1000, 0, 100)),
    ("missing reading", [(0, 3000)] * 4, None, 1000,
     (3000, 4, 0, True, 0, 0, 1000, 0, 100)),
    ("no baseline history", [None] * 4, (0, 0), 1000,
     (0, 0, 0, False, 0, 0, 1000, 0, 100)),
    ("no history, exporting", [None] * 4, (700, 0), 1000,
     (0, 0, -700, False, 700, 700, 300, 140, 30)),
    # (1000 + 1001 + 1002) / 3 = 1001; 501 * 200 / 1000 = 100.2; 499 * 100 / 1000 = 49.9
    ("gaps skipped, amounts rounded down", [(0, 1000), None, (0, 1001), (0, 1002)], (0, 500),
     1000, (1001, 3, 500, False, 501, 501, 499, 100, 49)),
    # (-1000 - 1001 + 0 + 0) / 4 = -500.25 -> -501; delivered -501 + 1200 = 699
    ("negative baseline rounds down", [(1000, 0), (1001, 0), (0, 0), (0, 0)], (1200, 0), 1000,
     (-501, 4, -1200, False, 699, 699, 301, 139, 30)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("history", "reading", "committed", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_settlement_rule(
    make_dr: Any,
    history: list[Reading],
    reading: Reading,
    committed: int,
    expected: tuple[int, ...],
) -> None:
    dr: DR = make_dr()
    m = dr.m
    supply = m.supply()
    before = {k.address: m.balance(k.address) for k in (ALICE, UTILITY)}
    event_id = run_event(
        dr, {ALICE: (committed, history, reading)}, penalty_account=PENALTIES.address
    )

    resp = dr.event(event_id)
    (record,) = resp.opt_ins
    d = record.delivery
    baseline, samples, metered, missing, delivered, credited, shortfall, reward, penalty = expected
    assert (d.interval, d.committed_wh) == (E, committed)
    assert (d.baseline_wh, d.baseline_samples, d.metered_wh, d.missing_reading) == (
        baseline,
        samples,
        metered,
        missing,
    )
    assert (d.delivered_wh, d.credited_wh, d.shortfall_wh) == (delivered, credited, shortfall)
    assert (d.reward, d.penalty) == (str(reward), str(penalty))
    assert record.settled and record.collateral == "100"  # 1000 Wh at 100 per kWh

    ev = resp.event
    assert ev.status == dr_pb2.EVENT_STATUS_SETTLED and ev.settled_height
    assert (ev.reserve, ev.rewards, ev.penalties) == ("2000", str(reward), str(penalty))
    assert (ev.credited_wh, ev.shortfall_wh, ev.committed_wh, ev.opt_ins) == (
        credited,
        shortfall,
        committed,
        1,
    )

    # Money: reward to the participant, penalty to the named account, the rest of the
    # reserve back to the utility cell; nothing left in escrow, nothing created.
    alice = m.balance(ALICE.address) - before[ALICE.address] - settlement_net(dr, ALICE)
    assert alice == reward - penalty
    assert m.balance(PENALTIES.address) == penalty
    assert m.balance(UTILITY.address) - before[UTILITY.address] == -reward
    assert dr.escrow() == 0
    assert m.supply() == supply

    (settled,) = dr.block_events("demand_response_settle")
    assert settled == {
        "event_id": str(event_id),
        "interval": str(E),
        "opt_ins": "1",
        "credited_wh": str(credited),
        "shortfall_wh": str(shortfall),
        "rewards": str(reward),
        "penalties": str(penalty),
        "refund": str(2000 - reward),
    }
    (row,) = dr.block_events("settlement_delivery")
    assert row["source"] == "demand_response" and row["participant"] == ALICE.address
    assert (row["credited_wh"], row["reward"], row["penalty"]) == (
        str(credited),
        str(reward),
        str(penalty),
    )


def test_lifecycle_several_opt_ins_refund_and_reputation(dr: DR) -> None:
    m = dr.m
    supply = m.supply()
    participants = (ALICE, BOB, CAROL)
    before = {k.address: m.balance(k.address) for k in (*participants, UTILITY)}
    event_id = dr.new_event(4000, 300, 150, interval=E)  # reserve 1200
    assert dr.event(event_id).event.status == dr_pb2.EVENT_STATUS_OPEN
    dr.joined(CAROL, event_id, 1000)  # collateral 150
    dr.joined(ALICE, event_id, 2000)  # collateral 300
    dr.joined(BOB, event_id, 500)  # collateral 75
    assert dr.escrow() == 1200 + 150 + 300 + 75

    # The gate closes: CLOSED, and opting in is over.
    dr.node.advance_to(m.interval(E).gate_closure_time)
    assert dr.event(event_id).event.status == dr_pb2.EVENT_STATUS_CLOSED
    (closed,) = dr.block_events("demand_response_close")
    assert closed == {
        "event_id": str(event_id),
        "interval": str(E),
        "opt_ins": "3",
        "committed_wh": "3500",
    }
    assert dr.opt_in(EVE, event_id, 100).code == 8

    # Baselines: ALICE 2000, BOB 1000, CAROL 4000 (one sample).
    dr.report(E - 1, {ALICE: (0, 2000), BOB: (0, 1000), CAROL: (0, 4000)})
    dr.report(E, {ALICE: (0, 500), BOB: (0, 800), CAROL: None})
    dr.finish(E)
    resp = dr.event(event_id)
    rows = {o.participant: o.delivery for o in resp.opt_ins}
    # ALICE: delivered 1500 of 2000; BOB: 200 of 500; CAROL: no reading, nothing.
    assert (rows[ALICE.address].credited_wh, rows[ALICE.address].reward) == (1500, "450")
    assert rows[ALICE.address].penalty == "75"  # 500 Wh at 150
    assert (rows[BOB.address].credited_wh, rows[BOB.address].reward) == (200, "60")
    assert rows[BOB.address].penalty == "45"  # 300 Wh at 150
    assert (rows[CAROL.address].credited_wh, rows[CAROL.address].reward) == (0, "0")
    assert rows[CAROL.address].penalty == "150"
    ev = resp.event
    assert (ev.status, ev.credited_wh, ev.shortfall_wh) == (
        dr_pb2.EVENT_STATUS_SETTLED,
        1700,
        1800,
    )
    assert (ev.rewards, ev.penalties) == ("510", "270")
    # Opt-ins in participant address order (the address bytes).
    order = [o.participant for o in resp.opt_ins]
    assert order == sorted(order, key=crypto.decode_address)

    # Penalties to the settlement params' penalty pool (the default account).
    assert m.balance(POOL.address) == 270
    assert m.balance(UTILITY.address) - before[UTILITY.address] == -510  # refund 690
    for who, gain in ((ALICE, 450 - 75), (BOB, 60 - 45), (CAROL, -150)):
        delta = m.balance(who.address) - before[who.address] - settlement_net(dr, who)
        assert delta == gain, who.address
    assert dr.escrow() == 0 and m.supply() == supply
    (settled,) = dr.block_events("demand_response_settle")
    assert settled["refund"] == "690"

    # Reputation moved as for a contract of the commitment, under its own source.
    req = reputation_pb2.QueryHistoryRequest(participant=ALICE.address)
    (entry,) = m.q("History", req, reputation_pb2).entries
    assert (entry.source, entry.interval, entry.contracted_wh, entry.deviation_wh) == (
        "demand_response",
        E,
        2000,
        500,
    )
    assert entry.accuracy == 750_000
    assert rows[ALICE.address].score_before == 500_000
    assert rows[ALICE.address].score_after == entry.score_after == 500_000 * 3 // 4 + 750_000 // 4

    # Settled once: later blocks change nothing.
    dr.node.advance(120)
    assert len(dr.block_events("demand_response_settle")) == 1
    assert dr.event(event_id) == resp


def test_events_of_one_interval_settle_in_id_order_with_their_own_rates(dr: DR) -> None:
    m = dr.m
    first = dr.new_event(1000, 100, 0, interval=E)
    second = dr.new_event(1000, 400, 0, interval=E, penalty_account=PENALTIES.address)
    other = dr.new_event(1000, 100, 0, interval=E + 1)
    dr.joined(BOB, first, 1000)
    dr.joined(EVE, second, 1000)
    dr.report(E - 1, {BOB: (0, 3000), EVE: (0, 3000)})
    dr.report(E, {BOB: (0, 1000), EVE: (0, 1000)})  # both commitments met
    dr.finish(E)
    settled = dr.block_events("demand_response_settle")
    assert [s["event_id"] for s in settled] == [str(first), str(second)]
    assert [s["rewards"] for s in settled] == ["100", "400"]
    assert dr.event(other).event.status == dr_pb2.EVENT_STATUS_CLOSED  # its window is later
    assert dr.escrow() == 100  # the other event's reserve
    dr.finish(E + 1)
    assert dr.event(other).event.status == dr_pb2.EVENT_STATUS_SETTLED
    assert dr.escrow() == 0
    # An event nobody joined returns its whole reserve.
    assert dr.block_events("demand_response_settle")[-1]["refund"] == "100"
    assert m.balance(PENALTIES.address) == 0


def test_queries(dr: DR) -> None:
    a = dr.new_event(1000, 100, 100, interval=E)
    b = dr.new_event(2000, 100, 100, interval=E + 1, bus="b2")
    c = dr.new_event(3000, 100, 100, interval=E)
    dr.joined(BOB, a, 100)
    dr.joined(BOB, b, 200)
    dr.joined(EVE, b, 300)
    every = dr.events()
    assert [e.id for e in every.events] == [a, b, c] and not every.next_key
    assert [e.id for e in dr.events(E).events] == [a, c]
    assert [e.id for e in dr.events(E + 1).events] == [b]
    assert list(dr.events(E + 2).events) == []
    page = dr.events(limit=2)
    assert [e.id for e in page.events] == [a, b] and page.next_key
    rest = dr.events(limit=2, page_key=page.next_key)
    assert [e.id for e in rest.events] == [c] and not rest.next_key
    mine = dr.opt_ins(BOB.address)
    assert [(o.event_id, o.committed_wh) for o in mine.opt_ins] == [(b, 200), (a, 100)]
    page = dr.opt_ins(BOB.address, limit=1)
    assert [o.event_id for o in page.opt_ins] == [b]
    assert [o.event_id for o in dr.opt_ins(BOB.address, page_key=page.next_key).opt_ins] == [a]
    assert list(dr.opt_ins(ALICE.address).opt_ins) == []
    ev = dr.event(b).event
    assert (ev.bus, ev.requested_wh, ev.committed_wh, ev.opt_ins, ev.reserve) == (
        "b2",
        2000,
        500,
        2,
        "200",
    )
    assert ev.funder == UTILITY.address and ev.penalty_account == POOL.address
    assert not ev.automatic
    params = dr.m.q("Params", dr_pb2.QueryParamsRequest(), dr_pb2).params
    assert params.max_opt_ins == 1000 and params.auto_threshold_wh == 0
    with pytest.raises(AssertionError, match="no demand-response event 99"):
        dr.event(99)
    with pytest.raises(AssertionError, match="participant"):
        dr.opt_ins("mg1nope")
