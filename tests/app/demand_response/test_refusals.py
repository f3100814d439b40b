"""Every refusal of MsgCreateEvent and MsgOptIn, with its code and a log naming both
values; a refused message moves no money and leaves no record."""

from __future__ import annotations

from typing import Any

import pytest

from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from tests.app.demand_response.conftest import DR, dr_state
from tests.app.market.conftest import ALICE, BOB, CAROL, DAVE, EVE, FUNDS, START, UTILITY

N0 = START // 60
E = N0 + 3


def refused(result: Any, codespace: str, code: int, *fragments: str) -> None:
    assert (result.codespace, result.code) == (codespace, code), result.log
    for fragment in fragments:
        assert fragment in result.log, (fragment, result.log)


CREATE_CASES = [
    ("not the utility cell", dict(signer=ALICE), "registry", 2,
     [f"signer {ALICE.address} is not the utility cell {UTILITY.address}"]),
    ("gate closed", dict(interval=N0), "market", 5,
     [f"the gate of interval {N0} closed", f"earliest open interval is {N0 + 1}"]),
    ("too far ahead", dict(interval=N0 + 11), "market", 6,
     [f"interval {N0 + 11} is beyond the latest open one, {N0 + 10}"]),
    ("unknown bus", dict(bus="b9"), "demand_response", 5, ["bus 'b9' is not in the network"]),
    ("nothing requested", dict(requested_wh=0), "demand_response", 4,
     ["requested_wh must be 1..1000000000000 Wh, got 0"]),
    ("too much requested", dict(requested_wh=10**12 + 1), "demand_response", 4,
     ["got 1000000000001"]),
    ("reward too high", dict(reward=10**9 + 1), "demand_response", 4,
     ["reward_per_kwh must be at most 1000000000, got 1000000001"]),
    ("penalty too high", dict(penalty=10**9 + 1), "demand_response", 4, ["penalty_per_kwh"]),
    ("bad penalty account", dict(penalty_account="mg1xyz"), "demand_response", 4,
     ["penalty_account:"]),
    ("bus id too long", dict(bus="b" * 65), "demand_response", 4, ["bus: at most 64 bytes"]),
    # reserve floor(2 * 10^9 Wh * 1000 / 1000) = 2 * 10^9
    ("reserve not covered", dict(requested_wh=2 * 10**9, reward=1000), "demand_response", 6,
     [f"reserve of 2000000000ugrid needed; {UTILITY.address} has {FUNDS}ugrid"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("change", "codespace", "code", "fragments"),
    [c[1:] for c in CREATE_CASES],
    ids=[c[0] for c in CREATE_CASES],
)
def test_create_event_refused(
    dr: DR, change: dict[str, Any], codespace: str, code: int, fragments: list[str]
) -> None:
    supply = dr.m.supply()
    refused(dr.create(**change), codespace, code, *fragments)
    assert list(dr.events().events) == []
    assert dr.escrow() == 0 and dr.m.balance(UTILITY.address) == FUNDS
    assert dr.m.supply() == supply


def test_penalty_account_defaults_to_the_pool_and_a_named_one_is_kept(dr: DR) -> None:
    a = dr.new_event(interval=E)
    b = dr.new_event(interval=E, penalty_account=DAVE.address)
    assert dr.event(a).event.penalty_account != dr.event(b).event.penalty_account
    assert dr.event(b).event.penalty_account == DAVE.address


def test_opt_in_refusals(make_dr: Any) -> None:
    dr: DR = make_dr(dr_state({"max_opt_ins": 2}))
    m = dr.m
    on_b1 = dr.new_event(1000, 100, 100, interval=E, bus="b1")
    event = dr.new_event(1000, 100, 100, interval=E)
    pricey = dr.new_event(10**9, 0, 10**6, interval=E)  # collateral 1000 per Wh
    escrow = dr.escrow()

    refused(dr.opt_in(BOB, 0, 10), "demand_response", 7, "event ids start at 1")
    refused(dr.opt_in(BOB, 99, 10), "demand_response", 7, "no event 99")
    refused(dr.opt_in(BOB, event, 0), "demand_response", 13, "committed_wh must be 1..")
    refused(dr.opt_in(DAVE, event, 10), "demand_response", 9, f"{DAVE.address} has not applied")
    refused(dr.opt_in(BOB, on_b1, 10), "demand_response", 11,
            f"{BOB.address} is on bus 'b2', not on 'b1' nor below it")  # fmt: skip
    refused(dr.opt_in(BOB, event, 1001), "demand_response", 14,
            "commits 1001 Wh, but only 1000 Wh of the 1000 Wh requested remain")  # fmt: skip
    refused(dr.opt_in(BOB, pricey, 401), "demand_response", 6,
            f"collateral of 401000ugrid needed; {BOB.address} has {FUNDS}ugrid")  # fmt: skip
    assert dr.escrow() == escrow and m.balance(BOB.address) == FUNDS

    dr.joined(BOB, event, 600)
    refused(dr.opt_in(BOB, event, 10), "demand_response", 12,
            f"{BOB.address} already opted in to event {event}")  # fmt: skip
    # One commitment per interval: another event of E would pay the same reduction again.
    refused(dr.opt_in(BOB, pricey, 1), "settlement", 13,
            f"{BOB.address} already committed its flexibility in interval {E} to "
            f"demand_response/{event}")  # fmt: skip
    later = dr.new_event(1000, 100, 100, interval=E + 1)
    dr.joined(BOB, later, 1)  # another interval is fine
    refused(dr.opt_in(CAROL, event, 401), "demand_response", 14,
            "commits 401 Wh, but only 400 Wh of the 1000 Wh requested remain")  # fmt: skip
    dr.joined(CAROL, event, 400)
    dr.joined(ALICE, on_b1, 1000)  # ALICE is on b1 (and any bus covers its own)
    refused(dr.opt_in(EVE, event, 1), "demand_response", 14, "only 0 Wh")
    # max_opt_ins 2: a third participant on an event with room left is refused.
    dr.joined(CAROL, later, 1)
    refused(dr.opt_in(EVE, later, 1), "demand_response", 15,
            f"event {later} already has 2 opt-ins, the limit 2")  # fmt: skip

    # A participant the utility cell suspended in the registry is not approved.
    suspend = registry_pb2.MsgSetSuspended(participant=EVE.address, suspended=True, reason="t")
    assert m.tx(UTILITY, set_suspended=suspend).code == 0
    refused(dr.opt_in(EVE, on_b1, 1), "demand_response", 10, f"{EVE.address} is suspended")

    # After the gate closure (in the same block, before end_block closes it, and after).
    gate = m.interval(E).gate_closure_time
    dr.node.advance_to(gate - 1)
    late = dr.node.sign(CAROL, ("dr_opt_in", dr_pb2.MsgOptIn(event_id=pricey, committed_wh=1)))
    result = dr.node.commit_block([late], seconds=1).tx_results[0]  # the block at the gate
    refused(result, "demand_response", 8,
            f"event {pricey} is for interval {E}, whose gate closed at {gate} (block time {gate})")  # fmt: skip
    assert dr.event(pricey).event.status == dr_pb2.EVENT_STATUS_CLOSED
    refused(dr.opt_in(EVE, event, 1), "demand_response", 8)


def test_reputation_suspension_refuses_opt_ins(make_dr: Any) -> None:
    # weight 1: one commitment delivered with accuracy 0 sets the score to 0.
    state = dr_state(reputation={"weight": "1", "suspension_threshold": 100_000})
    dr: DR = make_dr(state)
    first = dr.new_event(1000, 100, 100, interval=N0 + 1)
    later = dr.new_event(1000, 100, 100, interval=N0 + 5)
    dr.joined(BOB, first, 500)
    dr.report(N0 + 1, {BOB: None})  # no reading: nothing delivered
    dr.finish(N0 + 1)
    (row,) = dr.event(first).opt_ins
    assert row.delivery.score_after == 0
    refused(dr.opt_in(BOB, later, 10), "reputation", 3, "may place orders again from interval")
    dr.joined(CAROL, later, 10)
