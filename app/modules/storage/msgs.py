"""Storage messages: stateless checks (shared by CheckTx and the wallet) and handlers.

A deposit or redemption for interval n marks n for settlement
(settlement.note_due): storage deliveries are settled inside it.
"""

from __future__ import annotations

from app.context import Context
from app.modules.common import parse_address
from app.modules.settlement import keeper as settlement
from app.modules.storage import keeper
from app.pb.mgrid.storage.v1 import storage_pb2


def _wh(wh: int) -> None:
    if not 1 <= wh <= keeper.MAX_WH:
        raise keeper.ErrInvalidAmount(f"wh must be 1..{keeper.MAX_WH}, got {wh}")


def validate_storage_deposit(msg: storage_pb2.MsgDeposit) -> None:
    parse_address(msg.storage, "storage")
    _wh(msg.wh)


def handle_storage_deposit(ctx: Context, signer: bytes, msg: storage_pb2.MsgDeposit) -> None:
    deposit = keeper.deposit(ctx, signer, msg)
    settlement.note_due(ctx.kv, deposit.interval)


def validate_storage_redeem(msg: storage_pb2.MsgRedeem) -> None:
    parse_address(msg.storage, "storage")
    _wh(msg.wh)


def handle_storage_redeem(ctx: Context, signer: bytes, msg: storage_pb2.MsgRedeem) -> None:
    redemption = keeper.redeem(ctx, signer, msg)
    settlement.note_due(ctx.kv, redemption.interval)


def validate_transfer_credits(msg: storage_pb2.MsgTransferCredits) -> None:
    parse_address(msg.storage, "storage")
    parse_address(msg.to, "to")
    _wh(msg.wh)


def handle_transfer_credits(
    ctx: Context, signer: bytes, msg: storage_pb2.MsgTransferCredits
) -> None:
    keeper.transfer_credits(ctx, signer, msg)
