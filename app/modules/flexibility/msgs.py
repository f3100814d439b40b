"""Flexibility messages: stateless checks (shared by CheckTx and the wallet) and handlers."""

from __future__ import annotations

from app.context import Context
from app.modules.common import parse_address
from app.modules.flexibility import keeper
from app.modules.registry.keeper import MAX_BUS_ID_BYTES
from app.pb.mgrid.flexibility.v1 import flexibility_pb2


def _check_quantity(quantity_wh: int) -> None:
    if not 1 <= quantity_wh <= keeper.MAX_QUANTITY_WH:
        raise keeper.ErrInvalidQuantity(
            f"quantity must be 1..{keeper.MAX_QUANTITY_WH} Wh, got {quantity_wh}"
        )


def _check_rate(name: str, value: int, minimum: int = 0) -> None:
    if not minimum <= value <= keeper.MAX_RATE:
        raise keeper.ErrInvalidPrice(f"{name} must be {minimum}..{keeper.MAX_RATE}, got {value}")


def validate_post_flex_need(msg: flexibility_pb2.MsgPostNeed) -> None:
    _check_quantity(msg.quantity_wh)
    _check_rate("max_price_per_kwh", msg.max_price_per_kwh, 1)
    _check_rate("penalty_per_kwh", msg.penalty_per_kwh)
    if len(msg.bus.encode()) > MAX_BUS_ID_BYTES:
        raise keeper.ErrUnknownBus(
            f"bus id is {len(msg.bus.encode())} bytes, at most {MAX_BUS_ID_BYTES}"
        )
    if msg.penalty_account:
        parse_address(msg.penalty_account, "penalty_account")


def handle_post_flex_need(ctx: Context, signer: bytes, msg: flexibility_pb2.MsgPostNeed) -> None:
    keeper.post_need(ctx, signer, msg)


def validate_offer_flexibility(msg: flexibility_pb2.MsgOfferFlexibility) -> None:
    if msg.need_id == 0:
        raise keeper.ErrNeedNotFound("need ids start at 1")
    _check_quantity(msg.quantity_wh)
    _check_rate("price_per_kwh", msg.price_per_kwh)


def handle_offer_flexibility(
    ctx: Context, signer: bytes, msg: flexibility_pb2.MsgOfferFlexibility
) -> None:
    keeper.offer_flexibility(ctx, signer, msg)
