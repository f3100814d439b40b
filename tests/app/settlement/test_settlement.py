"""Settlement of one interval against the meters, case by case with exact amounts.

The book of every case: ALICE (seller, bus b1) sells 1000 Wh at 150, BOB
(buyer, bus b2) buys 1000 Wh at 250. Uniform k = 1/2 clears at 200: BOB pays
200 + fee 10 + tax 20 at clearing; ALICE's 200 and her collateral of 30 are
held in escrow until settlement. Tariffs: retail 300, feed-in 100; shortfall
penalty 50 per kWh; a missing reading 7. Amounts are floor(Wh * price / 1000).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.modules.settlement.reading import sign_reading
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.reputation.v1 import reputation_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.market.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DENOM,
    METERS,
    POOL,
    UTILITY,
    WINDOW,
    Market,
    app_state,
)

ALICE_COLLATERAL = 30
BOB_PAID = 230  # 200 + fee 10 + tax 20


def trade(m: Market) -> int:
    n = m.schedule().first_open
    assert m.place(ALICE, "sell", 1000, 150, interval=n).code == 0
    assert m.place(BOB, "buy", 1000, 250, interval=n).code == 0
    record = m.clear(n)
    assert (record.clearing_price, record.matched_wh) == (200, 1000)
    return n


def main_grid(m: Market) -> int:
    return int(m.q("GridPosition", market_pb2.QueryGridPositionRequest()).balance)


# (case, readings {who: (exported, imported) or None = missing}, expected rows)
# expected: who -> (deviation, bought, cost, sold, revenue, shortfall, penalty, net)
CASES: list[tuple[str, dict[Any, Any], dict[Any, tuple[int, ...]]]] = [
    (
        "exact delivery",
        {},
        {
            ALICE: (0, 0, 0, 0, 0, 0, 0, 200),
            BOB: (0, 0, 0, 0, 0, 0, 0, -230),
        },
    ),
    (
        "seller shortfall: 400 Wh from the main grid at retail, plus the penalty",
        {ALICE: (600, 0)},
        {
            # pays 400 x 300 = 120 to the main grid and 400 x 50 = 20 to the pool
            ALICE: (-400, 400, 120, 0, 0, 400, 20, 60),
            BOB: (0, 0, 0, 0, 0, 0, 0, -230),
        },
    ),
    (
        "seller over-delivery: the main grid buys 300 Wh at feed-in",
        {ALICE: (1300, 0)},
        {
            ALICE: (300, 0, 0, 300, 30, 0, 0, 230),
            BOB: (0, 0, 0, 0, 0, 0, 0, -230),
        },
    ),
    (
        "seller's reading missing: zero delivery plus the missing-reading penalty",
        {ALICE: None},
        {
            # cost 300, penalty 1000 x 50 = 50 + 7; 230 from escrow, 127 from her balance
            ALICE: (-1000, 1000, 300, 0, 0, 1000, 57, -157),
            BOB: (0, 0, 0, 0, 0, 0, 0, -230),
        },
    ),
    (
        "buyer takes less: the main grid buys back 300 Wh at feed-in",
        {BOB: (0, 700)},
        {
            ALICE: (0, 0, 0, 0, 0, 0, 0, 200),
            BOB: (300, 0, 0, 300, 30, 0, 0, -200),
        },
    ),
    (
        "buyer takes more: 200 Wh at retail, no penalty",
        {BOB: (0, 1200)},
        {
            ALICE: (0, 0, 0, 0, 0, 0, 0, 200),
            BOB: (-200, 200, 60, 0, 0, 0, 0, -290),
        },
    ),
    (
        "buyer's reading missing: taken to have used what it bought, plus the penalty",
        {BOB: None},
        {
            ALICE: (0, 0, 0, 0, 0, 0, 0, 200),
            BOB: (0, 0, 0, 0, 0, 0, 7, -237),
        },
    ),
]


@pytest.mark.parametrize("case, readings, expected", CASES, ids=[c[0] for c in CASES])
def test_settlement_table(
    market: Market,
    case: str,
    readings: dict[Any, Any],
    expected: dict[Any, tuple[int, ...]],
) -> None:
    supply = market.supply()
    n = trade(market)
    before = {p: market.balance(p.address) for p in expected}
    grid, pool = main_grid(market), market.balance(POOL.address)
    out = market.settle(n, {p.address: v for p, v in readings.items()})
    for p, (dev, bought, cost, sold, revenue, short, penalty, net) in expected.items():
        row = market.settlement(n, p)
        got = (
            row.deviation_wh,
            row.imbalance_bought_wh,
            int(row.imbalance_cost),
            row.imbalance_sold_wh,
            int(row.imbalance_revenue),
            row.shortfall_wh,
            int(row.penalty),
            int(row.net),
        )
        assert got == (dev, bought, cost, sold, revenue, short, penalty, net), case
        assert row.unrecovered == "0"
        # net counts BOB's payment, made at clearing; ALICE's collateral comes
        # back at settlement but is not income.
        outside_net = BOB_PAID if p is BOB else ALICE_COLLATERAL
        assert market.balance(p.address) - before[p] == net + outside_net
    costs = sum(int(market.settlement(n, p).imbalance_cost) for p in expected)
    revenues = sum(int(market.settlement(n, p).imbalance_revenue) for p in expected)
    penalties = sum(int(market.settlement(n, p).penalty) for p in expected)
    assert main_grid(market) - grid == costs - revenues
    assert market.balance(POOL.address) - pool == penalties
    assert int(out.penalties) == penalties
    assert market.balance(market.q("Params", market_pb2.QueryParamsRequest()).escrow_account) == 0
    assert market.supply() == supply


def test_charges_beyond_escrow_and_balance_are_unrecovered(market: Market) -> None:
    n = trade(market)
    # ALICE empties her account before settlement: of her charges of 357 only
    # the 230 held in escrow can be collected; the main grid is paid first.
    rest = market.balance(ALICE.address)
    send = bank_pb2.MsgSend(
        to_address=DAVE.address,
        amount=[{"denom": DENOM, "amount": str(rest)}],
    )
    assert market.tx(ALICE, send=send).code == 0
    grid, pool = main_grid(market), market.balance(POOL.address)
    market.settle(n, {ALICE.address: None})
    row = market.settlement(n, ALICE)
    assert (row.imbalance_cost, row.penalty, row.unrecovered) == ("300", "57", "127")
    assert main_grid(market) - grid == 230
    assert market.balance(POOL.address) == pool
    assert market.balance(ALICE.address) == 0


def test_kpis_of_an_interval_and_cumulative(market: Market) -> None:
    n = trade(market)
    k = market.settle(n, {ALICE.address: (600, 0)}).kpis
    assert (k.generation_wh, k.consumption_wh, k.locally_used_wh) == (600, 1000, 600)
    assert (k.self_sufficiency, k.self_consumption) == (600_000, 1_000_000)
    assert (k.local_traded_wh, k.local_amount, k.average_local_price) == (1000, "200", 200)
    assert (k.pcc_import_wh, k.pcc_export_wh) == (400, 0)
    # Savings against the main grid alone: ALICE net 60 vs selling 600 Wh at
    # feed-in (60): 0; BOB net -230 vs buying 1000 Wh at retail (-300): 70.
    assert k.savings == "70"
    m = trade(market)
    market.settle(m)
    totals = market.q("Kpis", settlement_pb2.QueryKpisRequest(), settlement_pb2).totals
    assert (totals.intervals, totals.generation_wh, totals.consumption_wh) == (2, 1600, 2000)
    assert (totals.peak_import_wh, totals.peak_import_interval) == (400, n)
    assert totals.self_sufficiency == 800_000
    assert totals.savings == str(70 + 100 + 70)


def test_settlement_waits_for_the_window_and_reports_it(market: Market) -> None:
    n = trade(market)
    end = market.interval(n).end_time
    resp = market.q("Interval", settlement_pb2.QueryIntervalRequest(interval=n), settlement_pb2)
    assert (resp.settled, resp.window_end) == (False, end + WINDOW)
    market.node.advance_to(end + WINDOW - 2)
    assert market.read(ALICE, n, 1000, 0).code == 0  # in a block at the window's last second
    resp = market.q("Interval", settlement_pb2.QueryIntervalRequest(interval=n), settlement_pb2)
    assert not resp.settled
    market.node.advance_to(end + WINDOW)
    resp = market.q("Interval", settlement_pb2.QueryIntervalRequest(interval=n), settlement_pb2)
    assert resp.settled
    assert market.order(1).held == "0"


def test_participant_without_contracts_settles_its_metered_energy(market: Market) -> None:
    n = trade(market)
    end = market.interval(n).end_time
    market.node.advance_to(end)
    assert market.read(CAROL, n, 0, 500).code == 0  # consumed, never traded
    market.settle(n, {CAROL.address: None})
    row = market.settlement(n, CAROL)
    assert (row.imbalance_bought_wh, row.imbalance_cost, row.penalty) == (500, "150", "0")
    assert row.score_before == row.score_after  # no contract, no reputation change


def test_losses_refer_metered_energy_to_the_coupling_point(make_market: Any) -> None:
    state = app_state()
    for bus in state["registry"]["network"]["buses"]:
        if bus["id"] == "b1":
            bus["loss_ppm"] = 100_000  # 10 % lost on b1's line
    m = make_market(state)
    n = trade(m)
    # ALICE on b1 must inject 1000 / 0.9 to deliver 1000 at the coupling point.
    m.settle(n, {ALICE.address: (1000, 0)})
    row = m.settlement(n, ALICE)
    assert (row.exported_wh, row.deviation_wh, row.shortfall_wh) == (900, -100, 100)
    n = trade(m)
    m.settle(n, {ALICE.address: (1112, 0)})
    assert m.settlement(n, ALICE).exported_wh == 1000  # floor(1112 x 0.9)


# -- readings: bad input is rejected with its own code and changes nothing --------------------


def reading_count(m: Market, n: int) -> int:
    req = settlement_pb2.QueryReadingsRequest(interval=n)
    return len(m.q("Readings", req, settlement_pb2).readings)


def test_bad_readings_are_rejected(market: Market) -> None:
    n = trade(market)
    end = market.interval(n).end_time
    early = market.read(ALICE, n, 1000, 0)
    assert (early.codespace, early.code) == ("settlement", 8)  # interval not over yet
    market.node.advance_to(end)
    stranger = CAROL  # not a registered meter
    cases = [
        (dict(meter=stranger), 5),  # unknown meter
        (dict(sequence=0), 3),  # meters count from 1
        (dict(chain_id="other-chain"), 12),
    ]
    for kwargs, code in cases:
        result = market.read(ALICE, n, 1000, 0, **kwargs)
        assert (result.codespace, result.code) == ("settlement", code), (kwargs, result.log)
    # Another participant's meter signing for ALICE.
    bob_meter = METERS[BOB.address]
    result = market.read(ALICE, n, 1000, 0, meter=bob_meter)
    assert (result.codespace, result.code) == ("settlement", 7)
    # Absurd: more than b1's line carries in an interval (5000 Wh).
    result = market.read(ALICE, n, 5001, 0)
    assert (result.codespace, result.code) == ("settlement", 11)
    assert reading_count(market, n) == 0
    assert market.read(ALICE, n, 1000, 0).code == 0
    again = market.read(ALICE, n, 900, 0, sequence=n + 1)
    assert (again.codespace, again.code) == ("settlement", 9)
    market.node.advance_to(end + WINDOW)
    late = market.read(BOB, n, 0, 1000)
    assert (late.codespace, late.code) == ("settlement", 8)
    assert reading_count(market, n) == 1


def test_forged_signature_and_old_sequence(market: Market) -> None:
    n = trade(market)
    market.node.advance_to(market.interval(n).end_time)
    reading = settlement_pb2.MeterReading(
        chain_id=market.node.chain.chain_id,
        meter=METERS[ALICE.address].public_key,
        participant=ALICE.address,
        interval=n,
        exported_wh=1000,
        sequence=n,
    )
    forged = sign_reading(ALICE, reading)  # the owner's wallet key, not the meter's
    result = market.tx(ALICE, meter_reading=forged)
    assert (result.codespace, result.code) == ("settlement", 4)
    assert market.read(ALICE, n, 1000, 0).code == 0
    market.settle(n)
    m = trade(market)
    market.node.advance_to(market.interval(m).end_time)
    stale = market.read(ALICE, m, 1000, 0, sequence=n)  # not above the last one
    assert (stale.codespace, stale.code) == ("settlement", 10)
    garbage = settlement_pb2.MsgMeterReading(reading=b"\xff\xff", signature=bytes(64))
    result = market.tx(ALICE, meter_reading=garbage)
    assert (result.codespace, result.code) == ("settlement", 3)


def test_revoked_meter_is_refused(market: Market) -> None:
    n = trade(market)
    revoke = registry_pb2.MsgRevokeMeter(pub_key=METERS[ALICE.address].public_key)
    assert market.tx(UTILITY, revoke_meter=revoke).code == 0
    market.node.advance_to(market.interval(n).end_time)
    result = market.read(ALICE, n, 1000, 0)
    assert (result.codespace, result.code) == ("settlement", 6)
    # With no live meter and no reading, ALICE's delivery counts as zero.
    market.settle(n, {ALICE.address: (0, 0)})
    row = market.settlement(n, ALICE)
    assert (row.exported_wh, row.shortfall_wh, row.missing_readings) == (0, 1000, 0)


def test_reputation_records_each_settled_interval(market: Market) -> None:
    n = trade(market)
    market.settle(n, {ALICE.address: (600, 0)})
    score = market.q(
        "Score", reputation_pb2.QueryScoreRequest(participant=ALICE.address), reputation_pb2
    )
    # accuracy = 1 - 400/1000 = 0.6; weight 1/4: 500000 * 3/4 + 600000 / 4
    assert (score.score.score, score.score.intervals) == (525_000, 1)
    bob = market.q(
        "Score", reputation_pb2.QueryScoreRequest(participant=BOB.address), reputation_pb2
    )
    assert bob.score.score == 625_000
    assert (bob.rank, score.rank) == (1, 2)
    history = market.q(
        "History", reputation_pb2.QueryHistoryRequest(participant=ALICE.address), reputation_pb2
    ).entries
    assert [(h.interval, h.accuracy, h.deviation_wh) for h in history] == [(n, 600_000, -400)]
    assert market.settlement(n, ALICE).score_after == 525_000
