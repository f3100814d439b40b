"""The market module through the whole state machine: orders and escrow,
clearing at gate closure, grid fill, params, forecasts, and every rejection.

Chain(check_invariants=True) checks after every block that supply equals
the sum of balances and that escrow holds exactly what open orders lock.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.modules.market import clearing
from app.modules.market import keeper as market_keeper
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from tests.app.market.conftest import (
    ALICE,
    BOB,
    BOUNDS,
    CAROL,
    DAVE,
    EVE,
    FEES,
    FUNDS,
    PARAMS,
    REGULATOR,
    SUBSIDY,
    TAXES,
    UTILITY,
    Market,
    app_state,
    order_id,
)


def escrow_address(m: Market) -> str:
    return m.q("Params", market_pb2.QueryParamsRequest()).escrow_account


def test_one_interval_uniform(market: Market) -> None:
    supply = market.supply()
    n = market.schedule().first_open
    sell = order_id(market.place(ALICE, "sell", 1000, 150, interval=n))
    buy = order_id(market.place(BOB, "buy", 1000, 250, interval=n))
    # Collateral 1000 Wh x 300 x 1/10 = 30; escrow sized with the regulator's
    # ceilings: 1000 x 250 / 1000 = 250, fee 1000 x 20 / 1000 = 20, tax 250 / 5 = 50.
    assert market.order(sell).collateral == "30"
    assert market.order(buy).escrow == "320"
    assert market.balance(escrow_address(market)) == 350
    record = market.clear(n)
    assert record.clearing_price == 200  # 150 + 1/2 (250 - 150)
    assert record.matched_wh == 1000
    assert (record.fees, record.taxes) == ("10", "20")
    [trade] = market.trades(n)
    assert (trade.buy_order, trade.sell_order, trade.amount, trade.seller_amount) == (
        buy,
        sell,
        "200",
        "200",
    )
    # Buyer's payment and fees move at clearing; the seller's money and its
    # collateral wait in escrow for settlement.
    assert market.balance(BOB.address) == FUNDS - 200 - 10 - 20
    assert market.balance(FEES.address) == 10
    assert market.balance(TAXES.address) == 20
    assert market.balance(ALICE.address) == FUNDS - 30
    assert market.order(sell).held == "230"
    assert market.balance(escrow_address(market)) == 230
    assert market.order(buy).status == market_pb2.ORDER_STATUS_FILLED
    assert market.order(buy).paid == "230"
    assert market.order(sell).received == "200"
    market.settle(n)  # both meters read exactly what was contracted
    assert market.balance(ALICE.address) == FUNDS + 200
    assert market.balance(BOB.address) == FUNDS - 200 - 10 - 20
    assert market.balance(escrow_address(market)) == 0
    assert market.order(sell).held == "0"
    assert market.supply() == supply


def test_grid_fill_both_ways_and_negative_main_grid(market: Market) -> None:
    n = market.schedule().first_open
    market.place(ALICE, "sell", 3000, 150, interval=n, grid_fill=True)
    b = order_id(market.place(BOB, "buy", 1000, 250, interval=n, grid_fill=True))
    record = market.clear(n)
    # 1000 Wh matched locally; the other 2000 Wh of the sell go to the main grid.
    assert record.matched_wh == 1000
    assert (record.grid_import_wh, record.grid_export_wh) == (0, 2000)
    assert record.grid_export_amount == "200"  # 2000 Wh x 100 / 1000
    position = market.q("GridPosition", market_pb2.QueryGridPositionRequest())
    assert position.balance == "-200"
    assert position.export_wh == 2000
    assert market.order(b).status == market_pb2.ORDER_STATUS_FILLED

    n2 = market.schedule().first_open
    o = order_id(market.place(CAROL, "buy", 4000, 250, interval=n2, grid_fill=True))
    record = market.clear(n2)
    assert (record.grid_import_wh, record.grid_export_wh) == (4000, 0)
    assert record.grid_import_amount == "1200"  # 4000 Wh x retail 300 / 1000
    assert market.order(o).grid_wh == 4000
    assert market.order(o).paid == "1200"
    position = market.q("GridPosition", market_pb2.QueryGridPositionRequest())
    assert position.balance == "1000"


def test_coupling_capacity_limits_grid_fill(make_market: Any) -> None:
    m = make_market(app_state(pcc_capacity=1500))
    n = m.schedule().first_open
    a = order_id(m.place(BOB, "buy", 1000, 250, interval=n, grid_fill=True))
    c = order_id(m.place(CAROL, "buy", 1000, 200, interval=n, grid_fill=True))
    record = m.clear(n)
    # Net import may not exceed 1500 Wh: the dearer bid is filled first.
    assert record.grid_import_wh == 1500
    assert record.grid_curtailed_wh == 500
    assert (m.order(a).grid_wh, m.order(c).grid_wh) == (1000, 500)
    assert m.order(c).status == market_pb2.ORDER_STATUS_PARTIAL


def test_unmatched_orders_get_everything_back(market: Market) -> None:
    n = market.schedule().first_open
    s = order_id(market.place(ALICE, "sell", 1000, 290, interval=n))
    b = order_id(market.place(BOB, "buy", 1000, 200, interval=n))
    record = market.clear(n)
    assert record.matched_wh == 0 and not record.HasField("clearing_price")
    assert market.order(s).status == market.order(b).status == market_pb2.ORDER_STATUS_UNMATCHED
    assert market.balance(ALICE.address) == market.balance(BOB.address) == FUNDS


def test_cancel_refunds_and_frees_the_slot(market: Market) -> None:
    n = market.schedule().first_open
    ids = [order_id(market.place(BOB, "buy", 100, 200, interval=n)) for _ in range(3)]
    assert market.balance(BOB.address) < FUNDS
    r = market.rejected(BOB, place_order=market.order_msg("buy", 100, 200, n))
    assert (r.codespace, r.code) == ("market", 10)
    for i in ids:
        assert market.tx(BOB, cancel_order=market_pb2.MsgCancelOrder(order_id=i)).code == 0
    assert market.balance(BOB.address) == FUNDS
    assert market.order(ids[0]).status == market_pb2.ORDER_STATUS_CANCELLED
    assert market.place(BOB, "buy", 100, 200, interval=n).code == 0


def test_own_buy_never_matches_own_sell(market: Market) -> None:
    n = market.schedule().first_open
    market.place(ALICE, "sell", 1000, 100, interval=n)
    market.place(ALICE, "buy", 1000, 300, interval=n)
    assert market.clear(n).matched_wh == 0


def test_automatic_pricing_from_the_forecast(market: Market) -> None:
    n = market.schedule().first_open
    fc = market_pb2.MsgPublishForecast(interval=n, generation_wh=500, demand_wh=1000)
    assert market.tx(UTILITY, publish_forecast=fc).code == 0
    s = order_id(market.place(ALICE, "sell", 500))
    b = order_id(market.place(BOB, "buy", 1000))
    record = market.clear(n)
    # SDR = 1/2: P_s = 300*100 / (200*1/2 + 100) = 150; P_b = 150/2 + 300/2 = 225.
    assert (record.auto_sell_price, record.auto_buy_price) == (150, 225)
    assert market.order(s).auto_price == 150 and market.order(b).auto_price == 225
    assert record.clearing_price == 187  # floor(150 + (225 - 150) / 2)
    assert record.matched_wh == 500


def test_automatic_pricing_without_forecast_uses_the_book(market: Market) -> None:
    n = market.schedule().first_open
    market.place(ALICE, "sell", 2000)
    market.place(BOB, "buy", 1000)
    record = market.clear(n)
    assert (record.auto_sell_price, record.auto_buy_price) == (100, 100)  # SDR >= 1: feed-in


def test_params_update_waits_for_the_next_interval(market: Market) -> None:
    current = market.q("Params", market_pb2.QueryParamsRequest()).params
    new = market_pb2.Params()
    new.CopyFrom(current)
    new.mechanism = "discriminatory"
    new.retail_tariff = 350
    new.ClearField("max_price")
    result = market.tx(UTILITY, update_params=market_pb2.MsgUpdateParams(params=new))
    assert result.code == 0, result.log
    resp = market.q("Params", market_pb2.QueryParamsRequest())
    assert resp.params.mechanism == "uniform"
    assert resp.pending.mechanism == "discriminatory"
    start = market.interval(resp.pending_from_interval).start_time
    market.node.advance_to(start - 1)
    assert market.q("Params", market_pb2.QueryParamsRequest()).params.mechanism == "uniform"
    market.node.advance_to(start)
    resp = market.q("Params", market_pb2.QueryParamsRequest())
    assert resp.params.mechanism == "discriminatory"
    assert resp.params.max_price == 350  # defaults to the new retail tariff
    assert not resp.HasField("pending")


def test_interval_length_change_reanchors_the_schedule(market: Market) -> None:
    new = market_pb2.Params()
    new.CopyFrom(market.q("Params", market_pb2.QueryParamsRequest()).params)
    new.interval_seconds = 30
    assert market.tx(UTILITY, update_params=market_pb2.MsgUpdateParams(params=new)).code == 0
    n = market.q("Params", market_pb2.QueryParamsRequest()).pending_from_interval
    start = market.interval(n).start_time
    market.node.advance_to(start)
    assert market.interval(n).start_time == start
    assert market.interval(n + 1).start_time == start + 30
    assert market.schedule().interval_seconds == 30


def test_vcg_falls_back_to_uniform_without_subsidy(make_market: Any) -> None:
    m = make_market(app_state({"mechanism": "vcg"}))
    n = m.schedule().first_open
    m.place(ALICE, "sell", 1000, 100, interval=n)
    m.place(CAROL, "sell", 1000, 200, interval=n)
    m.place(BOB, "buy", 1000, 300, interval=n)
    record = m.clear(n)
    assert record.mechanism == "uniform"
    assert "subsidy" in record.fallback


def test_vcg_deficit_paid_by_the_subsidy_account(make_market: Any) -> None:
    m = make_market(app_state({"mechanism": "vcg"}, subsidy=10**6))
    n = m.schedule().first_open
    m.place(ALICE, "sell", 1000, 100, interval=n)
    m.place(CAROL, "sell", 1000, 200, interval=n)
    m.place(BOB, "buy", 1000, 300, interval=n)
    record = m.clear(n)
    assert record.mechanism == "vcg" and not record.fallback
    assert int(record.deficit) > 0
    assert m.balance(SUBSIDY.address) == 10**6 - int(record.deficit)


def test_mcafee_surplus_goes_to_the_surplus_account(make_market: Any) -> None:
    m = make_market(app_state({"mechanism": "mcafee"}))
    n = m.schedule().first_open
    for k, price in ((ALICE, 100), (CAROL, 140)):
        m.place(k, "sell", 1000, price, interval=n)
    for k, price in ((BOB, 300), (EVE, 260)):
        m.place(k, "buy", 1000, price, interval=n)
    record = m.clear(n)
    assert int(record.market_surplus) > 0
    surplus = m.q("Params", market_pb2.QueryParamsRequest()).params.surplus_account
    assert m.balance(surplus) == int(record.market_surplus)


def test_line_limit_curtails_and_reclears(market: Market) -> None:
    # b1's line carries 5000 Wh: ALICE (on b1) cannot export 8000 Wh to BOB on b2.
    n = market.schedule().first_open
    market.place(ALICE, "sell", 8000, 100, interval=n)
    market.place(BOB, "buy", 8000, 300, interval=n)
    record = market.clear(n)
    assert record.matched_wh == 5000
    assert record.curtailments and record.curtailments[0].line == "b1"
    assert record.rounds >= 2


def test_keeper_refuses_a_result_that_breaks_a_promise(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = market.schedule().first_open
    s = order_id(market.place(ALICE, "sell", 1000, 150, interval=n))
    b = order_id(market.place(BOB, "buy", 1000, 250, interval=n))
    real = clearing.clear

    def overcharging(*args: Any, **kw: Any) -> clearing.ClearingResult:
        r = real(*args, **kw)
        t = r.trades[0]
        bad = t._replace(price=400, amount=400, seller_price=400, seller_amount=400)
        return clearing.ClearingResult(
            r.mechanism, r.k, 400, r.matched_quantity, (bad,), r.unmatched
        )

    monkeypatch.setattr(market_keeper.clearing, "clear", overcharging)
    record = market.clear(n)
    assert record.fallback.startswith("not cleared")
    assert not market.trades(n)
    assert market.balance(ALICE.address) == market.balance(BOB.address) == FUNDS
    assert market.order(s).status == market.order(b).status == market_pb2.ORDER_STATUS_UNMATCHED


def test_same_blocks_same_app_hash(make_market: Any) -> None:
    hashes = []
    for name in ("x", "y"):
        m = make_market(name=name)
        n = m.schedule().first_open
        m.place(ALICE, "sell", 3000, 120, interval=n, grid_fill=True)
        m.place(CAROL, "sell", 1000, 110, interval=n)
        m.place(BOB, "buy", 2500, 260, interval=n)
        m.clear(n)
        hashes.append(m.node.chain.app_hash())
    assert hashes[0] == hashes[1]


# --- rejections: each with its own code, nothing changed ----------------------------------


def _suspend_bob(m: Market) -> None:
    msg = registry_pb2.MsgSetSuspended(participant=BOB.address, suspended=True)
    assert m.tx(REGULATOR, set_suspended=msg).code == 0


def _pending_dave(m: Market) -> None:
    assert m.tx(DAVE, apply=registry_pb2.MsgApply(role=2, bus="b2")).code == 0


def _params(**changes: Any) -> Any:
    def build(m: Market) -> market_pb2.MsgUpdateParams:
        p = market_pb2.Params()
        p.CopyFrom(m.q("Params", market_pb2.QueryParamsRequest()).params)
        for name, value in changes.items():
            setattr(p, name, value)
        return market_pb2.MsgUpdateParams(params=p)

    return build


REJECTIONS: list[tuple[str, Any, Any, Any, tuple[str, int]]] = [
    # (case, setup, signer, message builder (m, n) -> (field, msg), expected (codespace, code))
    ("unknown participant", None, DAVE, lambda m, n: ("place_order", m.order_msg("buy", 100, 200, n)), ("market", 3)),
    ("pending participant", _pending_dave, DAVE, lambda m, n: ("place_order", m.order_msg("buy", 100, 200, n)), ("market", 4)),
    ("suspended participant", _suspend_bob, BOB, lambda m, n: ("place_order", m.order_msg("buy", 100, 200, n)), ("market", 4)),
    ("gate closed", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 100, 200, n - 1)), ("market", 5)),
    ("past interval", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 100, 200, n - 5)), ("market", 5)),
    ("too far ahead", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 100, 200, n + 20)), ("market", 6)),
    ("zero quantity", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 0, 200, n)), ("market", 7)),
    ("below minimum size", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 9, 200, n)), ("market", 7)),
    ("huge quantity", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 10**13, 200, n)), ("market", 7)),
    ("above max size", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 1_000_001, 200, n)), ("market", 7)),
    ("price above retail", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 100, 301, n)), ("market", 8)),
    ("price below feed-in", None, ALICE, lambda m, n: ("place_order", m.order_msg("sell", 100, 99, n)), ("market", 8)),
    ("no side", None, BOB, lambda m, n: ("place_order", market_pb2.MsgPlaceOrder(interval=n, quantity_wh=100, price=200)), ("market", 9)),
    ("escrow unaffordable", None, BOB, lambda m, n: ("place_order", m.order_msg("buy", 1_000_000, 300, n, True)), ("market", 16)),
    ("cancel unknown order", None, BOB, lambda m, n: ("cancel_order", market_pb2.MsgCancelOrder(order_id=999)), ("market", 11)),
    ("cancel order zero", None, BOB, lambda m, n: ("cancel_order", market_pb2.MsgCancelOrder(order_id=0)), ("market", 11)),
    ("cancel someone else's order", None, BOB, lambda m, n: ("cancel_order", market_pb2.MsgCancelOrder(order_id=1)), ("market", 12)),
    ("params by a participant", None, BOB, lambda m, n: ("update_params", _params()(m)), ("registry", 2)),
    ("params by the regulator", None, REGULATOR, lambda m, n: ("update_params", _params()(m)), ("registry", 2)),
    ("retail above the ceiling", None, UTILITY, lambda m, n: ("update_params", _params(retail_tariff=401)(m)), ("market", 14)),
    ("fee above the ceiling", None, UTILITY, lambda m, n: ("update_params", _params(grid_fee_per_kwh=21)(m)), ("market", 14)),
    ("tax above the ceiling", None, UTILITY, lambda m, n: ("update_params", _params(tax_rate="1/4")(m)), ("market", 14)),
    ("feed-in above retail", None, UTILITY, lambda m, n: ("update_params", _params(feed_in_tariff=140, retail_tariff=130)(m)), ("market", 15)),
    ("unknown mechanism", None, UTILITY, lambda m, n: ("update_params", _params(mechanism="dutch")(m)), ("market", 15)),
    ("k as a float", None, UTILITY, lambda m, n: ("update_params", _params(k="5e-1")(m)), ("market", 15)),
    ("missing params", None, UTILITY, lambda m, n: ("update_params", market_pb2.MsgUpdateParams()), ("tx", 9)),
    ("forecast by a participant", None, BOB, lambda m, n: ("publish_forecast", market_pb2.MsgPublishForecast(interval=n, generation_wh=1)), ("registry", 2)),
    ("forecast for a closed interval", None, UTILITY, lambda m, n: ("publish_forecast", market_pb2.MsgPublishForecast(interval=n - 1, generation_wh=1)), ("market", 5)),
    ("huge forecast", None, UTILITY, lambda m, n: ("publish_forecast", market_pb2.MsgPublishForecast(interval=n, demand_wh=10**16)), ("market", 17)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "signer", "build", "expected"),
    [case[1:] for case in REJECTIONS],
    ids=[case[0] for case in REJECTIONS],
)
def test_rejections_change_nothing(
    market: Market, setup: Any, signer: Any, build: Any, expected: tuple[str, int]
) -> None:
    n = market.schedule().first_open
    assert market.place(ALICE, "sell", 100, 150, interval=n).code == 0  # order 1
    if setup:
        setup(market)
    before = market.node.height, market.node.chain.app_hash()
    funds = market.balance(signer.address)
    field, msg = build(market, n)
    result = market.rejected(signer, **{field: msg})
    assert (result.codespace, result.code) == expected, result.log
    assert result.log  # a clear reason
    assert (market.node.height, market.node.chain.app_hash()) == before
    market.node.commit_block([])
    assert [o.id for o in market.q("Orders", market_pb2.QueryOrdersRequest(interval=n)).orders] == [
        1
    ]
    assert market.balance(signer.address) == funds
    assert not market.q("Params", market_pb2.QueryParamsRequest()).HasField("pending")


def test_cancel_after_clearing_is_refused(market: Market) -> None:
    n = market.schedule().first_open
    o = order_id(market.place(BOB, "buy", 100, 200, interval=n))
    market.clear(n)
    r = market.rejected(BOB, cancel_order=market_pb2.MsgCancelOrder(order_id=o))
    assert (r.codespace, r.code) == ("market", 13)


def test_queries(market: Market) -> None:
    n = market.schedule().first_open
    for price in (200, 210, 220):
        market.place(BOB, "buy", 100, price, interval=n)
    page = market.q("Orders", market_pb2.QueryOrdersRequest(owner=BOB.address, limit=2))
    assert [o.id for o in page.orders] == [1, 2] and page.next_key
    rest = market.q(
        "Orders", market_pb2.QueryOrdersRequest(owner=BOB.address, page_key=page.next_key)
    )
    assert [o.id for o in rest.orders] == [3] and not rest.next_key
    state = market.interval(n)
    assert state.status == market_pb2.INTERVAL_STATUS_OPEN and state.order_count == 3
    market.place(ALICE, "sell", 300, 150, interval=n)
    market.clear(n)
    by_account = market.q("Trades", market_pb2.QueryTradesRequest(address=ALICE.address))
    assert len(by_account.trades) == 3
    assert (
        market.q("Orders", market_pb2.QueryOrdersRequest(interval=n, open_only=True)).orders == []
    )
    sched = market.schedule()
    assert sched.next_to_clear > n and sched.first_open >= sched.next_to_clear
    assert PARAMS["interval_seconds"] == sched.interval_seconds
    assert (
        BOUNDS["retail_tariff_max"]
        == market.q("Params", market_pb2.QueryParamsRequest()).bounds.retail_tariff_max
    )
    bad = market.node.chain.query(
        "/mgrid.market.v1.Query/Order", market_pb2.QueryOrderRequest(id=99).SerializeToString()
    )
    assert (bad.codespace, bad.code) == ("tx", 15)
