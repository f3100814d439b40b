"""MsgTransfer (Msg field 80): stateless checks (CheckTx, the wallet) and the handler.
The signer is the sender."""

from __future__ import annotations

from app import coins
from app.context import Context
from app.errors import ErrInvalidCoins
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from ibc import host
from ibc.apps.transfer import keeper
from ibc.apps.transfer.errors import (
    ErrInvalidAmount,
    ErrInvalidMemo,
    ErrInvalidPacketTimeout,
    ErrInvalidPort,
    ErrInvalidReceiver,
)


def validate_transfer(msg: transfer_pb2.MsgTransfer) -> None:
    if msg.source_port != keeper.PORT:
        raise ErrInvalidPort(f"source_port must be {keeper.PORT!r}, got {msg.source_port!r}")
    host.validate_channel_id(msg.source_channel)
    try:
        token = coins.from_proto(msg.token)
    except coins.CoinError as exc:
        raise ErrInvalidCoins(f"token: {exc}") from None
    if token.amount == 0:
        raise ErrInvalidAmount("token: amount must be positive")
    if not msg.receiver.strip():
        raise ErrInvalidReceiver("receiver is empty")
    if len(msg.receiver) > keeper.MAX_RECEIVER_CHARS:
        raise ErrInvalidReceiver(
            f"receiver is {len(msg.receiver)} chars, limit {keeper.MAX_RECEIVER_CHARS}"
        )
    if len(msg.memo) > keeper.MAX_MEMO_CHARS:
        raise ErrInvalidMemo(f"memo is {len(msg.memo)} chars, limit {keeper.MAX_MEMO_CHARS}")
    if not msg.timeout_height and not msg.timeout_timestamp:
        raise ErrInvalidPacketTimeout("set timeout_height or timeout_timestamp (or both)")


def handle_transfer(ctx: Context, signer: bytes, msg: transfer_pb2.MsgTransfer) -> None:
    keeper.send_transfer(ctx, signer, msg)
