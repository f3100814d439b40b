"""Random order flows through the real state machine: whatever participants
do, every block keeps supply conserved and escrow equal to what open orders
lock (Chain(check_invariants=True) asserts both after each block), every
order ends, and no one pays above its limit or receives below its ask."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.pb.mgrid.market.v1 import market_pb2
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, START, Market, app_state, order_id
from tests.support.inproc import InProcessNode

TRADERS = (ALICE, BOB, CAROL, EVE)
MECHANISMS = ("uniform", "discriminatory", "mcafee", "vcg", "sdr")

actions = st.lists(
    st.tuples(
        st.sampled_from(range(len(TRADERS))),
        st.sampled_from(["buy", "sell", "cancel"]),
        st.integers(10, 6000),  # Wh
        st.one_of(st.none(), st.integers(100, 300)),  # None: automatic price
        st.booleans(),  # grid fill
        st.integers(0, 2),  # which of the next intervals
    ),
    min_size=4,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions, st.sampled_from(MECHANISMS), st.sampled_from([None, 3000]))
def test_random_flows_keep_every_invariant(flow, mechanism, pcc) -> None:  # type: ignore[no-untyped-def]
    state = app_state(
        {"mechanism": mechanism, "max_open_orders": 32}, subsidy=10**5, pcc_capacity=pcc or 10**9
    )
    with tempfile.TemporaryDirectory() as home:
        node = InProcessNode(Path(home), state, start_time=START)
        try:
            m = Market(node)
            supply = m.supply()
            placed: list[int] = []
            first = m.schedule().first_open
            for who, what, qty, price, grid, ahead in flow:
                trader = TRADERS[who]
                if what == "cancel":
                    if placed:  # someone else's order, or an open one of its own
                        m.tx(trader, cancel_order=market_pb2.MsgCancelOrder(order_id=placed[-1]))
                    continue
                msg = m.order_msg(what, qty, price, first + ahead, grid)
                result = m.tx(trader, place_order=msg)
                if result.code == 0:
                    placed.append(order_id(result))
            for n in range(first, first + 3):
                m.clear(n)
            assert m.supply() == supply
            for oid in placed:
                order = m.order(oid)
                assert order.status != market_pb2.ORDER_STATUS_OPEN
                assert order.matched_wh + order.grid_wh <= order.quantity_wh
            for n in range(first, first + 3):
                for t in m.trades(n):
                    buy, sell = m.order(t.buy_order), m.order(t.sell_order)
                    limit = buy.price if buy.HasField("price") else buy.auto_price
                    ask = sell.price if sell.HasField("price") else sell.auto_price
                    assert int(t.amount) * 1000 <= t.quantity_wh * limit
                    assert int(t.seller_amount) >= t.quantity_wh * ask // 1000
        finally:
            node.close()
