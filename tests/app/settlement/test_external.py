"""Settlement of intervals holding external orders: their owners are not participants
(no settlement row, no readings, penalties or reputation) and their fills are the
connection point's exchange with the neighbouring microgrid."""

from __future__ import annotations

from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.market.conftest import BOB, CAROL, Market
from tests.app.market.test_external_orders import BUY, fund_owner, place_external


def test_inter_import_reduces_the_main_grid_import(market: Market) -> None:
    order = place_external(market, quantity_wh=2000, price=150)
    assert market.place(BOB, "buy", 1500, 250).code == 0
    market.clear(order.interval)
    out = market.settle(order.interval, {BOB.address: (0, 1500)})
    assert (out.inter_import_wh, out.inter_export_wh) == (1500, 0)
    assert out.kpis.consumption_wh == 1500 and out.kpis.generation_wh == 0
    assert (out.kpis.pcc_import_wh, out.kpis.pcc_export_wh) == (0, 0)
    assert out.participants == 1 and out.missing_readings == 0


def test_inter_export_absorbs_local_surplus(market: Market) -> None:
    fund_owner(market, 10_000)
    order = place_external(market, side=BUY, quantity_wh=800, price=250, budget=10_000)
    assert market.place(CAROL, "sell", 1000, 120).code == 0
    market.clear(order.interval)
    out = market.settle(order.interval, {CAROL.address: (1000, 0)})
    assert (out.inter_import_wh, out.inter_export_wh) == (0, 800)
    assert out.kpis.pcc_export_wh == 200  # 1000 generated, 800 went to the neighbour
    rows = market.q(
        "Settlements",
        settlement_pb2.QuerySettlementsRequest(interval=order.interval),
        settlement_pb2,
    ).settlements
    assert [r.participant for r in rows] == [CAROL.address]
    totals = market.q("Kpis", settlement_pb2.QueryKpisRequest(), settlement_pb2).totals
    assert totals.inter_export_wh == 800
