"""Bank messages: stateless checks (shared by CheckTx and the wallet) and handlers."""

from __future__ import annotations

from app.context import Context
from app.modules.bank import keeper
from app.modules.common import parse_address, parse_positive_coins
from app.pb.mgrid.bank.v1 import bank_pb2


def validate_send(msg: bank_pb2.MsgSend) -> None:
    parse_address(msg.to_address, "to_address")
    parse_positive_coins(msg.amount)


def handle_send(ctx: Context, signer: bytes, msg: bank_pb2.MsgSend) -> None:
    recipient = parse_address(msg.to_address, "to_address")
    keeper.send(ctx, signer, recipient, parse_positive_coins(msg.amount))
