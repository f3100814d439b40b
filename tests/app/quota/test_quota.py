"""EV-charging quotas on the in-process chain, case by case with exact amounts:
allocation, quota trading at the midpoint, refunds, final quotas, penalties,
and every refusal. Intervals last 60 s, so a quota of q W allows
floor(q * 60 / 3600) Wh; money is floor(W * price / 1000) per kW, penalties
floor(Wh * rate / 1000) per kWh."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app import crypto
from app.chain import TxResult
from app.coins import Coin
from app.context import Context, Mode
from app.kv import CacheKV
from app.modules.bank import keeper as bank
from app.modules.genesis_util import GenesisError
from app.modules.quota import genesis, keeper
from app.pb.mgrid.quota.v1 import quota_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from tests.app.market.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    DENOM,
    EVE,
    FUNDS,
    POOL,
    UTILITY,
    app_state,
)
from tests.app.quota.conftest import Quota, event, margin_id
from tests.support.txs import key

QUOTA_POOL = key(58)  # an unfunded account to collect a margin's penalties
ESCROW = keeper.ESCROW


def escrow_balance(q: Quota) -> int:
    return q.balance(crypto.encode_address(ESCROW))


def test_announce_records_the_margin(quota: Quota) -> None:
    q = quota
    n = q.schedule().first_open + 1
    gate = q.interval(n).gate_closure_time
    r = q.announce(interval=n, margin_w=5000, trading_seconds=25, penalty=700)
    assert r.code == 0, r.log
    assert event(r, "quota_margin") == {
        "margin_id": "1",
        "bus": "pcc",
        "interval": str(n),
        "margin_w": "5000",
        "allocation_time": str(gate - 25),
        "trading_close_time": str(gate),
    }
    m = q.margin(1).margin
    assert (m.id, m.bus, m.interval, m.margin_w, m.penalty_per_kwh) == (1, "pcc", n, 5000, 700)
    assert (m.allocation_time, m.trading_close_time) == (gate - 25, gate)
    assert m.status == quota_pb2.MARGIN_STATUS_COLLECTING
    assert m.penalty_account == POOL.address  # the settlement params' penalty account
    assert m.announcer == UTILITY.address and m.created_height == q.node.height
    # one margin per (bus, interval); another bus or interval gets the next id
    assert margin_id(q.announce(interval=n, bus="b2", account=QUOTA_POOL.address)) == 2
    assert margin_id(q.announce(interval=n + 1)) == 3
    assert q.margin(2).margin.penalty_account == QUOTA_POOL.address


# (case, margin_w, demands, beta, initial quotas)
ALLOCATIONS = [
    ("fits", 6000, {ALICE: 3000, BOB: 2000}, "1/1", {ALICE: 3000, BOB: 2000}),
    (
        "does not fit: floor(demand * 1000 / 1400)",
        1000,
        {ALICE: 700, BOB: 400, CAROL: 300},
        "5/7",
        {ALICE: 500, BOB: 285, CAROL: 214},
    ),
]


@pytest.mark.parametrize(
    ("case", "margin_w", "demands", "beta", "quotas"), ALLOCATIONS, ids=[a[0] for a in ALLOCATIONS]
)
def test_allocation(
    quota: Quota,
    case: str,
    margin_w: int,
    demands: dict[Any, int],
    beta: str,
    quotas: dict[Any, int],
) -> None:
    q = quota
    mid = q.new_margin(margin_w=margin_w)
    for who, w in demands.items():
        r = q.demand(who, mid, w)
        assert r.code == 0, r.log
        assert event(r, "quota_demand") == {
            "margin_id": str(mid),
            "station": who.address,
            "demand_w": str(w),
        }
    alloc = q.margin(mid).margin.allocation_time
    q.node.advance_to(alloc - 1)
    assert q.margin(mid).margin.status == quota_pb2.MARGIN_STATUS_COLLECTING
    [block] = q.node.advance_to(alloc)
    [e] = [dict(e.attributes) for e in block.events if e.type == "quota_allocate"]
    total = sum(demands.values())
    assert e == {
        "margin_id": str(mid),
        "stations": str(len(demands)),
        "total_demand_w": str(total),
        "beta": beta,
        "allocated_w": str(sum(quotas.values())),
    }
    resp = q.margin(mid)
    m = resp.margin
    assert m.status == quota_pb2.MARGIN_STATUS_TRADING
    assert (m.stations, m.total_demand_w, m.beta, m.allocated_w) == (
        len(demands),
        total,
        beta,
        sum(quotas.values()),
    )
    assert m.allocated_w <= m.margin_w
    addresses = [s.station for s in resp.stations]
    assert addresses == sorted(addresses, key=lambda a: crypto.decode_address(a))
    for who, quota_w in quotas.items():
        st = q.station(mid, who)
        assert (st.demand_w, st.initial_quota_w, st.final_quota_w) == (
            demands[who],
            quota_w,
            quota_w,
        )


def _traded_margin(q: Quota) -> int:
    """Margin 1000 W: ALICE 700, BOB 400, CAROL 300 -> 500, 285, 214 (beta 5/7); then
    ALICE sells 200 W at 100 per kW, BOB buys 150 W at 301, CAROL 100 W at 150."""
    mid = q.new_margin(margin_w=1000)
    for who, w in ((ALICE, 700), (BOB, 400), (CAROL, 300)):
        assert q.demand(who, mid, w).code == 0
    q.allocate(mid)
    for who, side, w, price, escrow in (
        (ALICE, "sell", 200, 100, 0),
        (BOB, "buy", 150, 301, 45),  # floor(150 * 301 / 1000)
        (CAROL, "buy", 100, 150, 15),
    ):
        r = q.order(who, mid, side, w, price)
        assert r.code == 0, r.log
        e = event(r, "quota_order")
        assert (e["station"], e["side"], e["quantity_w"], e["price_per_kw"], e["escrow"]) == (
            who.address,
            side,
            str(w),
            str(price),
            str(escrow),
        )
    return mid


def test_trading_at_the_midpoint_with_partial_fills_and_refunds(quota: Quota) -> None:
    q = quota
    supply = q.supply()
    before = {p: q.balance(p.address) for p in (ALICE, BOB, CAROL)}
    mid = _traded_margin(q)
    assert q.station(mid, ALICE).offered_w == 200
    assert escrow_balance(q) == 45 + 15
    assert [q.balance(p.address) - before[p] for p in (ALICE, BOB, CAROL)] == [0, -45, -15]

    close = q.margin(mid).margin.trading_close_time
    q.node.advance_to(close - 1)
    [block] = q.node.advance_to(close)
    trades = [dict(e.attributes) for e in block.events if e.type == "quota_trade"]
    # BOB (301) meets ALICE (100) at 100 + floor(201 / 2) = 200: 150 W for 30;
    # CAROL (150) takes ALICE's last 50 W at 100 + floor(50 / 2) = 125: floor(6.25) = 6
    assert trades == [
        {"margin_id": str(mid), "buyer": BOB.address, "seller": ALICE.address,
         "quantity_w": "150", "price_per_kw": "200", "amount": "30"},
        {"margin_id": str(mid), "buyer": CAROL.address, "seller": ALICE.address,
         "quantity_w": "50", "price_per_kw": "125", "amount": "6"},
    ]  # fmt: skip
    [clear] = [dict(e.attributes) for e in block.events if e.type == "quota_clear"]
    assert clear == {"margin_id": str(mid), "traded_w": "200", "traded_amount": "36"}

    resp = q.margin(mid)
    m = resp.margin
    assert m.status == quota_pb2.MARGIN_STATUS_CLEARED
    assert (m.quota_orders, m.traded_w, m.traded_amount) == (3, 200, "36")
    assert [(t.buy_order, t.sell_order, t.quantity_w, t.price_per_kw, t.amount)
            for t in resp.trades] == [(2, 1, 150, 200, "30"), (3, 1, 50, 125, "6")]  # fmt: skip
    assert [(o.id, o.matched_w, o.amount, o.escrow) for o in resp.orders] == [
        (1, 200, "36", "0"),
        (2, 150, "30", "45"),
        (3, 50, "6", "15"),  # partly filled
    ]
    # station: (initial, bought, sold, final, paid, received, offered)
    expected = {
        ALICE: (500, 0, 200, 300, "0", "36", 0),
        BOB: (285, 150, 0, 435, "30", "0", 0),
        CAROL: (214, 50, 0, 264, "6", "0", 0),
    }
    for who, row in expected.items():
        st = q.station(mid, who)
        got = (st.initial_quota_w, st.bought_w, st.sold_w, st.final_quota_w, st.paid,
               st.received, st.offered_w)  # fmt: skip
        assert got == row, who.address
    assert sum(s.final_quota_w for s in resp.stations) == 999 <= m.margin_w
    # the unused escrow came back: BOB 45 - 30, CAROL 15 - 6
    assert [q.balance(p.address) - before[p] for p in (ALICE, BOB, CAROL)] == [36, -30, -6]
    assert escrow_balance(q) == 0
    assert q.supply() == supply


def test_a_station_never_trades_with_itself(quota: Quota) -> None:
    q = quota
    mid = q.new_margin(margin_w=1000)
    assert q.demand(ALICE, mid, 800).code == 0
    q.allocate(mid)
    before = q.balance(ALICE.address)
    assert q.order(ALICE, mid, "sell", 100, 50).code == 0
    assert q.order(ALICE, mid, "buy", 100, 500).code == 0
    assert q.balance(ALICE.address) == before - 50
    resp = q.close(mid)
    assert list(resp.trades) == [] and resp.margin.traded_amount == "0"
    assert [o.matched_w for o in resp.orders] == [0, 0]
    st = q.station(mid, ALICE)
    assert (st.initial_quota_w, st.final_quota_w, st.offered_w) == (800, 800, 0)
    assert q.balance(ALICE.address) == before


def test_no_demand_no_orders_goes_through_every_phase(quota: Quota) -> None:
    q = quota
    mid = q.new_margin(margin_w=1000)
    m = q.allocate(mid)
    assert (m.stations, m.total_demand_w, m.beta, m.allocated_w) == (0, 0, "1/1", 0)
    assert q.close(mid).margin.quota_orders == 0
    m = q.settle_margin(mid).margin
    assert (m.over_quota_wh, m.penalties, m.unrecovered) == (0, "0", "0")


def test_penalties_for_load_above_the_final_quota(quota: Quota) -> None:
    """Margin 120000 W, three stations ask 60000 W each: beta 2/3, 40000 W each.
    CAROL sells 10000 W to BOB at 200 per kW. Final quotas allow, in 60 s,
    ALICE 40000 W -> 666 Wh, BOB 50000 W -> 833 Wh, CAROL 30000 W -> 500 Wh.
    Penalty 1500 per kWh over."""
    q = quota
    supply = q.supply()
    mid = q.new_margin(margin_w=120_000, penalty=1500, account=QUOTA_POOL.address)
    for who in (ALICE, BOB, CAROL):
        assert q.demand(who, mid, 60_000).code == 0
    assert q.allocate(mid).beta == "2/3"
    assert q.order(CAROL, mid, "sell", 10_000, 100).code == 0
    assert q.order(BOB, mid, "buy", 10_000, 300).code == 0
    resp = q.close(mid)
    assert [(t.quantity_w, t.price_per_kw, t.amount) for t in resp.trades] == [
        (10_000, 200, "2000")
    ]
    n = resp.margin.interval
    q.node.advance_to(q.interval(n).end_time)
    assert q.read(ALICE, n, 50, 700).code == 0  # exports do not offset the load
    assert q.read(BOB, n, 0, 800).code == 0
    # CAROL sends no reading: her load is taken as her demand, 60000 W for 60 s = 1000 Wh
    end = q.interval(n).end_time + 30
    q.node.advance_to(end - 1)
    assert q.margin(mid).margin.status == quota_pb2.MARGIN_STATUS_CLEARED
    [block] = q.node.advance_to(end)
    penalised = [dict(e.attributes) for e in block.events if e.type == "quota_penalty"]
    assert penalised == [
        {"margin_id": str(mid), "station": p.address, "over_quota_wh": over,
         "penalty": penalty, "unrecovered": "0", "missing_reading": missing}
        for p, over, penalty, missing in sorted(
            [(ALICE, "34", "51", "false"), (CAROL, "500", "750", "true")],
            key=lambda row: crypto.decode_address(row[0].address),
        )
    ]  # fmt: skip
    [settle] = [dict(e.attributes) for e in block.events if e.type == "quota_settle"]
    assert settle == {
        "margin_id": str(mid),
        "over_quota_wh": "534",
        "penalties": "801",
        "unrecovered": "0",
    }
    # station: (final, metered, missing, allowed, over, penalty, unrecovered)
    expected = {
        ALICE: (40_000, 700, False, 666, 34, "51", "0"),  # floor(34 * 1.5)
        BOB: (50_000, 800, False, 833, 0, "0", "0"),
        CAROL: (30_000, 0, True, 500, 500, "750", "0"),
    }
    for who, row in expected.items():
        st = q.station(mid, who)
        got = (st.final_quota_w, st.metered_wh, st.missing_reading, st.allowed_wh,
               st.over_quota_wh, st.penalty, st.unrecovered)  # fmt: skip
        assert got == row, who.address
        assert st.settled
    m = q.margin(mid).margin
    assert (m.status, m.over_quota_wh, m.penalties, m.unrecovered) == (
        quota_pb2.MARGIN_STATUS_SETTLED,
        534,
        "801",
        "0",
    )
    assert m.settled_height == q.node.height
    assert q.balance(QUOTA_POOL.address) == 801
    assert q.supply() == supply


def test_a_station_that_cannot_pay_the_whole_penalty(quota: Quota) -> None:
    """EVE asks 3600 W of a 1 W margin: quota floor(3600 / 3600) = 1 W, which allows
    floor(1 * 60 / 3600) = 0 Wh. Without a reading her load is 3600 W for 60 s = 60 Wh,
    at 10^9 per kWh a penalty of 60000000; she holds 400000."""
    q = quota
    mid = q.new_margin(bus="b2", margin_w=1, penalty=10**9, account=QUOTA_POOL.address)
    assert q.demand(EVE, mid, 3600).code == 0
    assert q.allocate(mid).beta == "1/3600"
    q.close(mid)
    m = q.settle_margin(mid).margin
    st = q.station(mid, EVE)
    assert (st.final_quota_w, st.allowed_wh, st.over_quota_wh, st.missing_reading) == (
        1,
        0,
        60,
        True,
    )
    assert (st.penalty, st.unrecovered) == ("60000000", str(60_000_000 - FUNDS))
    assert (m.penalties, m.unrecovered) == ("60000000", str(60_000_000 - FUNDS))
    assert q.balance(EVE.address) == 0
    assert q.balance(QUOTA_POOL.address) == FUNDS


def test_every_phase_in_one_block_after_a_long_gap(quota: Quota) -> None:
    q = quota
    mid = q.new_margin(margin_w=100, penalty=1000, account=QUOTA_POOL.address)
    assert q.demand(BOB, mid, 300).code == 0
    m = q.margin(mid).margin
    window_end = q.interval(m.interval).end_time + 30
    block = q.node.commit_block(seconds=window_end - q.node.block_time)
    steps = [e.type for e in block.events if e.type.startswith("quota_")]
    assert steps == ["quota_allocate", "quota_clear", "quota_penalty", "quota_settle"]
    st = q.station(mid, BOB)
    # quota 100 W -> 1 Wh; load 300 W x 60 s = 5 Wh; 4 Wh over at 1000 per kWh = 4
    assert (st.final_quota_w, st.allowed_wh, st.over_quota_wh, st.penalty) == (100, 1, 4, "4")
    assert q.balance(QUOTA_POOL.address) == 4


def test_margins_query_pages_and_filters_by_interval(quota: Quota) -> None:
    q = quota
    n = q.schedule().first_open + 1
    ids = [q.new_margin(interval=n, bus=b) for b in ("pcc", "b1", "b2")]
    ids.append(q.new_margin(interval=n + 1))
    assert ids == [1, 2, 3, 4]

    def margins(**kw: Any) -> quota_pb2.QueryMarginsResponse:
        return q.q("Margins", quota_pb2.QueryMarginsRequest(**kw), quota_pb2)

    assert [m.id for m in margins().margins] == [1, 2, 3, 4]
    assert [m.id for m in margins(interval=n).margins] == [1, 2, 3]
    assert [m.id for m in margins(interval=n + 1).margins] == [4]
    page = margins(interval=n, limit=2)
    assert [m.id for m in page.margins] == [1, 2] and page.next_key
    rest = margins(interval=n, limit=2, page_key=page.next_key)
    assert [m.id for m in rest.margins] == [3] and not rest.next_key
    assert margins(interval=n + 5).margins == []


@pytest.mark.parametrize(
    ("method", "request_"),
    [
        ("Margin", quota_pb2.QueryMarginRequest(id=9)),
        ("Station", quota_pb2.QueryStationRequest(margin_id=1, station=ALICE.address)),
    ],
)
def test_queries_say_not_found(quota: Quota, method: str, request_: Any) -> None:
    with pytest.raises(AssertionError, match="tx/15"):
        quota.q(method, request_, quota_pb2)


def test_station_query_refuses_a_bad_address(quota: Quota) -> None:
    with pytest.raises(AssertionError, match="tx/12"):
        req = quota_pb2.QueryStationRequest(margin_id=1, station="mg1nope")
        quota.q("Station", req, quota_pb2)


# -- refusals ---------------------------------------------------------------------------------

Case = tuple[str, Callable[[Quota], TxResult], str, int]


def _announce(**kw: Any) -> Callable[[Quota], TxResult]:
    return lambda q: q.announce(**kw)


def _duplicate(q: Quota) -> TxResult:
    q.new_margin()
    return q.announce()


def _current_interval(q: Quota) -> TxResult:
    return q.announce(interval=q.schedule().current_interval)


def _too_far(q: Quota) -> TxResult:
    return q.announce(interval=q.schedule().first_open + 20)


ANNOUNCE: list[Case] = [
    ("not the utility cell", lambda q: q.announce(ALICE), "registry", 2),
    ("unknown bus", _announce(bus="b9"), "quota", 4),
    ("empty bus", _announce(bus=""), "quota", 4),
    ("zero margin", _announce(margin_w=0), "quota", 3),
    ("margin above 10^12 W", _announce(margin_w=10**12 + 1), "quota", 3),
    ("no trading time", _announce(trading_seconds=0), "quota", 3),
    ("penalty above 10^9", _announce(penalty=10**9 + 1), "quota", 3),
    ("bad penalty account", _announce(account="mg1nope"), "tx", 12),
    ("gate closed", _current_interval, "market", 5),
    ("too far ahead", _too_far, "market", 6),
    # gate 110 s after the last block: 200 s of trading would have begun 90 s ago
    ("allocation time passed", _announce(trading_seconds=200), "quota", 6),
    ("one margin per bus and interval", _duplicate, "quota", 5),
]


def _margin(q: Quota, **kw: Any) -> int:
    kw.setdefault("margin_w", 1000)
    return q.new_margin(**kw)


def _at_allocation(q: Quota) -> TxResult:
    mid = _margin(q)
    q.node.advance_to(q.margin(mid).margin.allocation_time - 1)
    return q.demand(BOB, mid, 100)  # its block is at the allocation time


def _after_allocation(q: Quota) -> TxResult:
    mid = _margin(q)
    q.allocate(mid)
    return q.demand(BOB, mid, 100)


def _not_approved(q: Quota) -> TxResult:
    mid = _margin(q)
    msg = registry_pb2.MsgSetSuspended(participant=BOB.address, suspended=True)
    assert q.tx(UTILITY, set_suspended=msg).code == 0
    return q.demand(BOB, mid, 100)


def _twice(q: Quota) -> TxResult:
    mid = _margin(q)
    assert q.demand(BOB, mid, 100).code == 0
    return q.demand(BOB, mid, 200)


DEMAND: list[Case] = [
    ("no such margin", lambda q: q.demand(BOB, 9, 100), "quota", 2),
    ("margin id 0", lambda q: q.demand(BOB, 0, 100), "quota", 2),
    ("zero demand", lambda q: q.demand(BOB, _margin(q), 0), "quota", 12),
    ("demand above 10^12 W", lambda q: q.demand(BOB, _margin(q), 10**12 + 1), "quota", 12),
    ("not a participant", lambda q: q.demand(DAVE, _margin(q), 100), "quota", 8),
    ("suspended by the utility", _not_approved, "quota", 9),
    ("on another feeder", lambda q: q.demand(ALICE, _margin(q, bus="b2"), 100), "quota", 10),
    ("twice", _twice, "quota", 11),
    ("in the allocation block", _at_allocation, "quota", 6),
    ("after allocation", _after_allocation, "quota", 7),
]


def _trading(q: Quota) -> int:
    """A 1000 W margin where BOB asked 400 W (quota 400 W), now trading."""
    mid = _margin(q)
    assert q.demand(BOB, mid, 400).code == 0
    q.allocate(mid)
    return mid


def _before_allocation(q: Quota) -> TxResult:
    mid = _margin(q)
    assert q.demand(BOB, mid, 400).code == 0
    return q.order(BOB, mid, "sell", 100, 10)


def _oversell(q: Quota) -> TxResult:
    mid = _trading(q)
    assert q.order(BOB, mid, "sell", 300, 10).code == 0
    return q.order(BOB, mid, "sell", 101, 10)  # 100 W left free


def _at_close(q: Quota) -> TxResult:
    mid = _trading(q)
    q.node.advance_to(q.margin(mid).margin.trading_close_time - 1)
    return q.order(BOB, mid, "sell", 100, 10)


def _after_close(q: Quota) -> TxResult:
    mid = _trading(q)
    q.close(mid)
    return q.order(BOB, mid, "sell", 100, 10)


ORDER: list[Case] = [
    ("before allocation", _before_allocation, "quota", 7),
    ("no demand submitted", lambda q: q.order(CAROL, _trading(q), "buy", 10, 10), "quota", 13),
    ("no side", lambda q: q.order(BOB, _trading(q), "hold", 10, 10), "quota", 14),
    ("zero quantity", lambda q: q.order(BOB, _trading(q), "buy", 0, 10), "quota", 15),
    ("price above 10^9", lambda q: q.order(BOB, _trading(q), "buy", 1, 10**9 + 1), "quota", 16),
    ("more than the quota", lambda q: q.order(BOB, _trading(q), "sell", 401, 1), "quota", 17),
    ("more than the free quota", _oversell, "quota", 17),
    # 10^9 W at 10^6 per kW locks 10^12, far above the 400000 BOB holds
    ("escrow beyond funds", lambda q: q.order(BOB, _trading(q), "buy", 10**9, 10**6), "quota", 18),
    ("in the closing block", _at_close, "quota", 19),
    ("after clearing", _after_close, "quota", 19),
]


@pytest.mark.parametrize(
    ("case", "run", "codespace", "code"),
    ANNOUNCE + DEMAND + ORDER,
    ids=[c[0] for c in ANNOUNCE + DEMAND + ORDER],
)
def test_refusals(
    quota: Quota, case: str, run: Callable[[Quota], TxResult], codespace: str, code: int
) -> None:
    supply = quota.supply()
    before = {p: quota.balance(p.address) for p in (ALICE, BOB, CAROL)}
    result = run(quota)
    assert (result.codespace, result.code) == (codespace, code), result.log
    assert quota.supply() == supply
    if case != "more than the free quota":
        assert {p: quota.balance(p.address) for p in before} == before


def test_refusals_say_both_values(quota: Quota) -> None:
    q = quota
    gate = q.interval(q.schedule().first_open + 1).gate_closure_time
    t = q.node.block_time  # refused by CheckTx, at the last block's time
    r = q.announce(trading_seconds=200)
    assert f"allocation time {gate - 200}" in r.log and f"block time {t}" in r.log
    mid = _trading(q)
    r = q.order(BOB, mid, "sell", 401, 1)
    assert "offers 401 W but has 400 W of quota free" in r.log


def test_suspended_by_reputation_cannot_ask_for_quota(make_market: Any) -> None:
    """ALICE sells 1000 Wh and sends no reading: accuracy 0 drops her score below
    the threshold, and a suspended participant asks for no quota either."""
    state = app_state(reputation={"suspension_threshold": 400_000, "weight": "1"})
    q = Quota(make_market(state).node)
    n = q.schedule().first_open
    assert q.place(ALICE, "sell", 1000, 150, interval=n).code == 0
    assert q.place(BOB, "buy", 1000, 250, interval=n).code == 0
    q.clear(n)
    q.settle(n, {ALICE.address: None})
    mid = q.new_margin(margin_w=1000)
    r = q.demand(ALICE, mid, 100)
    assert (r.codespace, r.code) == ("reputation", 3), r.log
    assert q.demand(BOB, mid, 100).code == 0


def test_escrow_invariant_catches_a_leak(quota: Quota) -> None:
    q = quota
    mid = _trading(q)
    assert q.order(BOB, mid, "buy", 100, 1000).code == 0  # locks 100
    kv = CacheKV(q.node.chain.block_kv)
    keeper.check_invariants(kv)
    ctx = Context(kv, q.node.height, q.node.time_ns, q.node.chain_id, Mode.DELIVER)
    bank.send(ctx, crypto.decode_address(BOB.address), ESCROW, [Coin(DENOM, 1)])
    with pytest.raises(AssertionError, match="quota escrow holds 101ugrid"):
        keeper.check_invariants(kv)


# -- genesis ----------------------------------------------------------------------------------


def _ctx(q: Quota) -> Context:
    return Context(CacheKV(q.node.chain.block_kv), 1, q.node.time_ns, "c", Mode.DELIVER)


def test_genesis_has_nothing_to_configure(quota: Quota) -> None:
    genesis.init_genesis(_ctx(quota), {})
    with pytest.raises(GenesisError, match="quota: has no params"):
        genesis.init_genesis(_ctx(quota), {"params": {}})


def test_genesis_without_a_market(make_market: Any) -> None:
    state = app_state()
    for section in ("market", "settlement", "reputation"):
        del state[section]
    bare = make_market({**state, "quota": {}})  # an empty section is fine
    with pytest.raises(GenesisError, match="needs a market"):
        genesis.init_genesis(_ctx(Quota(bare.node)), {"margins": []})
    r = Quota(bare.node).announce(interval=5)
    assert (r.codespace, r.code) == ("market", 2), r.log  # market not configured
    bare.node.advance(3)  # end_block has nothing to do


def test_genesis_section_refused_by_the_chain(make_market: Any) -> None:
    with pytest.raises(Exception, match="quota"):
        make_market({**app_state(), "quota": {"params": {"x": 1}}})
