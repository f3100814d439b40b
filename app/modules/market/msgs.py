"""Market messages: stateless checks (shared by CheckTx and the wallet) and handlers."""

from __future__ import annotations

from app.context import Context
from app.errors import ErrInvalidRequest
from app.modules.market import keeper
from app.modules.market.params import MAX_ORDER_WH
from app.pb.mgrid.market.v1 import market_pb2

MAX_FORECAST_WH = 10**15  # 1 PWh per interval: anything above is a typo, not a forecast


def validate_place_order(msg: market_pb2.MsgPlaceOrder) -> None:
    if msg.side not in (keeper.BUY, keeper.SELL):
        raise keeper.ErrInvalidSide(f"side must be buy or sell, got {msg.side}")
    if not 0 < msg.quantity_wh <= MAX_ORDER_WH:
        raise keeper.ErrInvalidQuantity(
            f"quantity must be 1..{MAX_ORDER_WH} Wh, got {msg.quantity_wh}"
        )


def handle_place_order(ctx: Context, signer: bytes, msg: market_pb2.MsgPlaceOrder) -> None:
    keeper.place_order(ctx, signer, msg)


def validate_cancel_order(msg: market_pb2.MsgCancelOrder) -> None:
    if msg.order_id == 0:
        raise keeper.ErrOrderNotFound("order ids start at 1")


def handle_cancel_order(ctx: Context, signer: bytes, msg: market_pb2.MsgCancelOrder) -> None:
    keeper.cancel_order(ctx, signer, msg.order_id)


def validate_update_params(msg: market_pb2.MsgUpdateParams) -> None:
    if not msg.HasField("params"):
        raise ErrInvalidRequest("params: missing")


def handle_update_params(ctx: Context, signer: bytes, msg: market_pb2.MsgUpdateParams) -> None:
    keeper.update_params(ctx, signer, msg.params)


def validate_publish_forecast(msg: market_pb2.MsgPublishForecast) -> None:
    for name in ("generation_wh", "demand_wh"):
        value = getattr(msg, name)
        if value > MAX_FORECAST_WH:
            raise keeper.ErrInvalidForecast(f"{name} {value} exceeds {MAX_FORECAST_WH} Wh")


def handle_publish_forecast(
    ctx: Context, signer: bytes, msg: market_pb2.MsgPublishForecast
) -> None:
    keeper.publish_forecast(ctx, signer, msg)
