"""Random demands, quota orders and readings through the real state machine, from
announcement to settlement. Every block keeps supply conserved and the quota
escrow equal to what open buy orders lock (Chain(check_invariants=True)
asserts both); the quotas never exceed the margin, trading moves quota and
money between stations without creating either, and every station's balance
moved by exactly what it received for quota, paid for it, paid in penalties
and what settlement did to it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app import crypto
from app.modules.quota import keeper
from app.modules.quota.allocation import allocate, format_beta
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, START, app_state
from tests.app.quota.conftest import Quota
from tests.support.inproc import InProcessNode
from tests.support.txs import key

STATIONS = (ALICE, BOB, CAROL, EVE)
QUOTA_POOL = key(58)
SECONDS = 60  # the test microgrid's interval length

demands = st.lists(
    st.one_of(st.integers(1, 20_000), st.integers(1_000, 20_000), st.none()),
    min_size=len(STATIONS),
    max_size=len(STATIONS),
)
orders = st.lists(
    st.tuples(
        st.integers(0, len(STATIONS) - 1),
        st.sampled_from(["buy", "sell"]),
        st.integers(1, 3_000),  # W
        st.integers(0, 2_000),  # per kW
    ),
    min_size=2,
    max_size=12,
)
# Per station: no reading, or (exported, imported) within b1's 5000 Wh line.
readings = st.lists(
    st.one_of(st.none(), st.tuples(st.integers(0, 5000), st.integers(0, 5000))),
    min_size=len(STATIONS),
    max_size=len(STATIONS),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.integers(1, 50_000), st.integers(10_000, 60_000)),  # W
    demands,
    orders,
    readings,
    st.one_of(st.integers(0, 5_000), st.integers(0, 10**9)),  # per kWh: mild, or ruinous
)
def test_random_margins_conserve_quota_and_money(  # type: ignore[no-untyped-def]
    margin_w, asked, book, metered, penalty
) -> None:
    with tempfile.TemporaryDirectory() as home:
        node = InProcessNode(Path(home), app_state(), start_time=START)
        try:
            _run(Quota(node), margin_w, asked, book, metered, penalty)
        finally:
            node.close()


def _run(q, margin_w, asked, book, metered, penalty) -> None:  # type: ignore[no-untyped-def]
    supply = q.supply()
    start = {s.address: q.balance(s.address) for s in STATIONS}
    mid = q.new_margin(margin_w=margin_w, penalty=penalty, account=QUOTA_POOL.address)
    for who, demand in zip(STATIONS, asked, strict=True):
        if demand is not None:
            assert q.demand(who, mid, demand).code == 0
    m = q.allocate(mid)
    stations = q.stations(mid)
    ordered = list(stations)  # as the query lists them: in address order
    assert ordered == sorted(ordered, key=crypto.decode_address)
    beta, quotas = allocate(margin_w, [(a, stations[a].demand_w) for a in ordered])
    assert m.beta == format_beta(beta) and m.allocated_w == sum(quotas) <= margin_w
    assert [stations[a].initial_quota_w for a in ordered] == quotas

    for who, side, quantity, price in book:
        r = q.order(STATIONS[who], mid, side, quantity, price)
        assert r.code == 0 or (r.codespace, r.code) in {("quota", 13), ("quota", 17)}, r.log

    resp = q.close(mid)
    assert q.balance(crypto.encode_address(keeper.ESCROW)) == 0
    rows = list(resp.stations)
    assert sum(s.final_quota_w for s in rows) == sum(quotas) <= margin_w
    assert sum(s.bought_w for s in rows) == sum(s.sold_w for s in rows) == resp.margin.traded_w
    assert sum(int(s.paid) for s in rows) == sum(int(s.received) for s in rows)
    assert int(resp.margin.traded_amount) == sum(int(t.amount) for t in resp.trades)
    for s in rows:
        assert s.final_quota_w == s.initial_quota_w + s.bought_w - s.sold_w
        assert s.sold_w <= s.initial_quota_w and s.offered_w == 0
    for t in resp.trades:
        assert t.buyer != t.seller
        assert int(t.amount) == t.quantity_w * t.price_per_kw // 1000
    by_order = {o.id: o for o in resp.orders}
    for t in resp.trades:  # each pair at the midpoint of its own bid and ask, rounded down
        bid, ask = by_order[t.buy_order].price_per_kw, by_order[t.sell_order].price_per_kw
        assert t.price_per_kw == ask + (bid - ask) // 2

    event(f"beta {'1' if beta == 1 else '< 1'}, trades: {bool(resp.trades)}")
    n = resp.margin.interval
    q.node.advance_to(q.interval(n).end_time)
    for who, value in zip(STATIONS, metered, strict=True):
        if value is not None:
            assert q.read(who, n, *value).code == 0
    settled = q.settle_margin(mid)
    collected = 0
    for s in settled.stations:
        who = next(w for w in STATIONS if w.address == s.station)
        value = metered[STATIONS.index(who)]
        load = s.demand_w * SECONDS // 3600 if value is None else value[1]
        assert s.missing_reading == (value is None)
        assert s.allowed_wh == s.final_quota_w * SECONDS // 3600
        assert s.over_quota_wh == max(0, load - s.allowed_wh)
        assert int(s.penalty) == s.over_quota_wh * penalty // 1000
        collected += int(s.penalty) - int(s.unrecovered)
    assert q.balance(QUOTA_POOL.address) == collected
    event(f"penalised: {collected > 0}, unrecovered: {settled.margin.unrecovered != '0'}")
    assert int(settled.margin.penalties) - int(settled.margin.unrecovered) == collected
    req = settlement_pb2.QuerySettlementsRequest(interval=n, limit=100)
    nets = {r.participant: int(r.net) for r in q.q("Settlements", req, settlement_pb2).settlements}
    for who in STATIONS:
        s = next((s for s in settled.stations if s.station == who.address), None)
        quota_net = (
            0
            if s is None
            else (int(s.received) - int(s.paid) - int(s.penalty) + int(s.unrecovered))
        )
        assert q.balance(who.address) - start[who.address] == quota_net + nets.get(who.address, 0)
    assert q.supply() == supply
