"""Random orders, cancels and readings through the real state machine, to
settlement and beyond: every block keeps supply conserved and escrow equal to
what open orders lock plus what cleared orders hold for settlement
(Chain(check_invariants=True) asserts both after each block); once settled,
escrow is empty and each participant's balance moved by exactly the sum of
its settlements' ``net``."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.market.conftest import (
    ALICE,
    BOB,
    CAROL,
    EVE,
    START,
    WINDOW,
    Market,
    app_state,
    order_id,
)
from tests.support.inproc import InProcessNode

TRADERS = (ALICE, BOB, CAROL, EVE)
INTERVALS = 3

orders = st.lists(
    st.tuples(
        st.sampled_from(range(len(TRADERS))),
        st.sampled_from(["buy", "sell", "cancel"]),
        st.integers(10, 4000),  # Wh
        st.one_of(st.none(), st.integers(100, 300)),  # None: automatic price
        st.booleans(),  # grid fill
        st.integers(0, INTERVALS - 1),
    ),
    min_size=4,
    max_size=24,
)
# Per interval and trader: no reading, or (exported, imported) within b1's 5000 Wh line.
readings = st.lists(
    st.lists(
        st.one_of(st.none(), st.tuples(st.integers(0, 5000), st.integers(0, 5000))),
        min_size=len(TRADERS),
        max_size=len(TRADERS),
    ),
    min_size=INTERVALS,
    max_size=INTERVALS,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders, readings, st.sampled_from(["uniform", "mcafee", "vcg", "sdr"]))
def test_random_flows_settle_with_every_coin_accounted_for(flow, metered, mechanism) -> None:  # type: ignore[no-untyped-def]
    state = app_state({"mechanism": mechanism, "max_open_orders": 32}, subsidy=10**5)
    with tempfile.TemporaryDirectory() as home:
        node = InProcessNode(Path(home), state, start_time=START)
        try:
            m = Market(node)
            supply = m.supply()
            start = {t.address: m.balance(t.address) for t in TRADERS}
            first = m.schedule().first_open
            placed: list[int] = []
            for who, what, qty, price, grid, ahead in flow:
                trader = TRADERS[who]
                if what == "cancel":
                    if placed:
                        m.tx(trader, cancel_order=market_pb2.MsgCancelOrder(order_id=placed[-1]))
                    continue
                result = m.tx(
                    trader, place_order=m.order_msg(what, qty, price, first + ahead, grid)
                )
                if result.code == 0:
                    placed.append(order_id(result))
            for i in range(INTERVALS):
                n = first + i
                m.clear(n)
                given_readings = {t.address: metered[i][j] for j, t in enumerate(TRADERS)}
                m.settle(n, given_readings)
            assert m.supply() == supply
            escrow = m.q("Params", market_pb2.QueryParamsRequest()).escrow_account
            assert m.balance(escrow) == 0
            for oid in placed:
                assert m.order(oid).held in ("", "0")
            for t in TRADERS:
                req = settlement_pb2.QuerySettlementsRequest(participant=t.address)
                rows = m.q("Settlements", req, settlement_pb2).settlements
                assert m.balance(t.address) - start[t.address] == sum(int(r.net) for r in rows)
                for r in rows:
                    assert int(r.unrecovered) >= 0
                    assert 0 <= r.score_after <= 1_000_000
                    contracted_net = r.contracted_sell_wh - r.contracted_buy_wh
                    metered_net = r.exported_wh - r.imported_wh
                    assert r.deviation_wh == metered_net - contracted_net
        finally:
            node.close()


def test_window_end_is_reported_for_unsettled_intervals(market: Market) -> None:
    n = market.schedule().first_open
    resp = market.q("Interval", settlement_pb2.QueryIntervalRequest(interval=n), settlement_pb2)
    assert (resp.settled, resp.window_end) == (False, market.interval(n).end_time + WINDOW)
