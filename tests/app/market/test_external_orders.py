"""External orders (inter-microgrid offers, market.keeper.place_external_order):
checked like a participant's order, no collateral, not counted against the
account limit, a seller's proceeds paid at clearing, and the escrow invariant
(checked after every block by the in-process node) still holds."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.context import Context, Mode
from app.errors import ABCIError
from app.modules.bank import keeper as bank
from app.modules.market import keeper
from app.pb.mgrid.market.v1 import market_pb2
from tests.app.market.conftest import BOB, CAROL, DENOM, Market
from tests.support.inproc import NS

OWNER = bank.module_address("test/external")
BUY, SELL = market_pb2.SIDE_BUY, market_pb2.SIDE_SELL


def place_external(market: Market, **kw: Any) -> market_pb2.Order:
    """Place an external order in the next block (committed)."""
    node = market.node
    ctx = Context(
        node.chain.block_kv, node.height + 1, node.time_ns + NS, node.chain_id, Mode.DELIVER
    )
    n = market.schedule().first_open
    fields: dict[str, Any] = {
        "owner": OWNER,
        "side": SELL,
        "interval": n,
        "quantity_wh": 1000,
        "price": 150,
        "bus": "pcc",
        "ref": "energy/channel-0/1",
        "budget": 0,
    }
    fields.update(kw)
    order = keeper.place_external_order(ctx, keeper.ExternalOffer(**fields))
    node.commit_block()
    return order


def fund_owner(market: Market, amount: int) -> None:
    node = market.node
    ctx = Context(
        node.chain.block_kv, node.height + 1, node.time_ns + NS, node.chain_id, Mode.DELIVER
    )
    bank.send(ctx, crypto.decode_address(BOB.address), OWNER, [bank.Coin(DENOM, amount)])
    node.commit_block()


def owner_balance(market: Market) -> int:
    return market.balance(crypto.encode_address(OWNER))


def test_external_sell_posts_no_collateral_and_is_paid_at_clearing(market: Market) -> None:
    order = place_external(market)
    assert (order.external, order.collateral, order.escrow, order.bus) == (True, "0", "0", "pcc")
    assert order.price == 150 and not order.grid_fill
    assert market.place(BOB, "buy", 600, 250).code == 0
    record = market.clear(order.interval)
    cleared = market.order(order.id)
    assert cleared.matched_wh == 600 and cleared.status == market_pb2.ORDER_STATUS_PARTIAL
    assert cleared.held == "0"
    assert owner_balance(market) == int(cleared.received) == 600 * record.clearing_price // 1000


def test_external_buy_locks_its_escrow_from_the_owner(market: Market) -> None:
    fund_owner(market, 5000)
    order = place_external(market, side=BUY, price=250, budget=5000)
    locked = int(order.escrow)
    assert 0 < locked <= 5000 and owner_balance(market) == 5000 - locked
    assert market.place(CAROL, "sell", 400, 120).code == 0
    market.clear(order.interval)
    cleared = market.order(order.id)
    assert cleared.matched_wh == 400
    assert owner_balance(market) == 5000 - int(cleared.paid)


def test_external_orders_ignore_the_account_limit(market: Market) -> None:
    for i in range(5):  # max_open_orders is 3
        place_external(market, ref=f"energy/channel-0/{i}")
    assert keeper.open_orders_of(market.node.chain.block_kv, OWNER) == 5


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"quantity_wh": 5}, "invalid quantity"),
        ({"price": 10_000}, "price out of bounds"),
        ({"side": 0}, "invalid side"),
        ({"side": BUY, "budget": 1}, "insufficient funds for escrow"),
        ({"side": BUY, "budget": 10**9}, "insufficient funds for escrow"),  # owner holds nothing
        ({"interval": 1}, "interval closed"),
    ],
)
def test_external_order_checks(market: Market, change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ABCIError) as err:
        place_external(market, **change)
    assert fragment in err.value.log


def test_interval_starting_at(market: Market) -> None:
    kv = market.node.chain.block_kv
    n = market.schedule().first_open
    start = market.interval(n).start_time
    assert keeper.interval_starting_at(kv, start) == n
    assert keeper.interval_starting_at(kv, start + 1) is None
    assert keeper.interval_starting_at(kv, 0) is None
