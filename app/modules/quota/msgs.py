"""Quota messages: stateless checks (shared by CheckTx and the wallet) and handlers."""

from __future__ import annotations

from app.context import Context
from app.modules.common import parse_address
from app.modules.quota import keeper
from app.modules.registry.keeper import MAX_BUS_ID_BYTES
from app.pb.mgrid.quota.v1 import quota_pb2


def _margin_id(margin_id: int) -> None:
    if margin_id == 0:
        raise keeper.ErrMarginNotFound("margin ids start at 1")


def validate_announce_margin(msg: quota_pb2.MsgAnnounceMargin) -> None:
    if not 0 < len(msg.bus.encode()) <= MAX_BUS_ID_BYTES:
        raise keeper.ErrUnknownBus(f"bus: 1..{MAX_BUS_ID_BYTES} bytes, got {len(msg.bus.encode())}")
    if not 1 <= msg.margin_w <= keeper.MAX_POWER_W:
        raise keeper.ErrInvalidMargin(
            f"margin_w must be 1..{keeper.MAX_POWER_W} W, got {msg.margin_w}"
        )
    if msg.trading_seconds < 1:
        raise keeper.ErrInvalidMargin("trading_seconds must be at least 1")
    if msg.penalty_per_kwh > keeper.MAX_PRICE:
        raise keeper.ErrInvalidMargin(
            f"penalty_per_kwh {msg.penalty_per_kwh} exceeds {keeper.MAX_PRICE}"
        )
    if msg.penalty_account:
        parse_address(msg.penalty_account, "penalty_account")


def handle_announce_margin(ctx: Context, signer: bytes, msg: quota_pb2.MsgAnnounceMargin) -> None:
    keeper.announce_margin(ctx, signer, msg)


def validate_submit_demand(msg: quota_pb2.MsgSubmitDemand) -> None:
    _margin_id(msg.margin_id)
    if not 1 <= msg.demand_w <= keeper.MAX_POWER_W:
        raise keeper.ErrInvalidDemand(
            f"demand_w must be 1..{keeper.MAX_POWER_W} W, got {msg.demand_w}"
        )


def handle_submit_demand(ctx: Context, signer: bytes, msg: quota_pb2.MsgSubmitDemand) -> None:
    keeper.submit_demand(ctx, signer, msg)


def validate_place_quota_order(msg: quota_pb2.MsgPlaceQuotaOrder) -> None:
    _margin_id(msg.margin_id)
    if msg.side not in (keeper.BUY, keeper.SELL):
        raise keeper.ErrInvalidSide(f"side must be buy or sell, got {msg.side}")
    if not 1 <= msg.quantity_w <= keeper.MAX_POWER_W:
        raise keeper.ErrInvalidQuantity(
            f"quantity_w must be 1..{keeper.MAX_POWER_W} W, got {msg.quantity_w}"
        )
    if msg.price_per_kw > keeper.MAX_PRICE:
        raise keeper.ErrPriceOutOfBounds(
            f"price_per_kw {msg.price_per_kw} exceeds {keeper.MAX_PRICE}"
        )


def handle_place_quota_order(
    ctx: Context, signer: bytes, msg: quota_pb2.MsgPlaceQuotaOrder
) -> None:
    keeper.place_quota_order(ctx, signer, msg)
