"""MsgOfferEnergy (Msg field 85): stateless checks (CheckTx, the wallet) and the handler.
The signer must be the market's utility cell (checked by the handler)."""

from __future__ import annotations

from app import coins
from app.context import Context
from app.modules.market.params import MAX_ORDER_WH
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from ibc import host
from ibc.apps.energy import keeper
from ibc.apps.energy.errors import ErrInvalidOffer, ErrInvalidPayment, ErrWrongDenom
from ibc.apps.transfer.keeper import VOUCHER_PREFIX


def validate_offer_energy(msg: energy_pb2.MsgOfferEnergy) -> None:
    host.validate_channel_id(msg.source_channel)
    if msg.side not in (keeper.BUY, keeper.SELL):
        raise ErrInvalidOffer(f"side must be buy or sell, got {msg.side}")
    if not 0 < msg.quantity_wh <= MAX_ORDER_WH:
        raise ErrInvalidOffer(f"quantity must be 1..{MAX_ORDER_WH} Wh, got {msg.quantity_wh}")
    if not msg.delivery_start:
        raise ErrInvalidOffer(
            "delivery_start (unix seconds of the receiver's interval) is required"
        )
    if not msg.limit_price:
        raise ErrInvalidOffer("limit_price must be positive")
    if not msg.timeout_timestamp:
        raise ErrInvalidOffer("timeout_timestamp (ns) is required")
    if msg.denom:
        try:
            coins.validate_denom(msg.denom)
        except coins.CoinError as exc:
            raise ErrWrongDenom(f"denom: {exc}") from None
    if msg.side == keeper.BUY:
        try:
            payment = coins.from_proto(msg.max_payment)
        except coins.CoinError as exc:
            raise ErrInvalidPayment(f"max_payment: {exc}") from None
        if not payment.amount:
            raise ErrInvalidPayment("max_payment: a buy needs a positive budget")
        if not payment.denom.startswith(VOUCHER_PREFIX):
            raise ErrInvalidPayment(
                f"max_payment must be a voucher (ibc/...) of the receiver's denom, got {payment.denom}"
            )
    else:
        if msg.max_payment.amount not in ("", "0"):
            raise ErrInvalidPayment("a sell carries no max_payment")
        if not msg.denom:
            raise ErrWrongDenom("a sell names the receiver's denom (denom)")


def handle_offer_energy(ctx: Context, signer: bytes, msg: energy_pb2.MsgOfferEnergy) -> None:
    keeper.offer(ctx, signer, msg)
