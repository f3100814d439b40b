"""Storage messages (skeleton: being built)."""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ErrUnknownMessage


def validate_storage_deposit(msg: Any) -> None:
    raise ErrUnknownMessage("storage_deposit: not built yet")


def handle_storage_deposit(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrUnknownMessage("storage_deposit: not built yet")


def validate_storage_redeem(msg: Any) -> None:
    raise ErrUnknownMessage("storage_redeem: not built yet")


def handle_storage_redeem(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrUnknownMessage("storage_redeem: not built yet")


def validate_transfer_credits(msg: Any) -> None:
    raise ErrUnknownMessage("transfer_credits: not built yet")


def handle_transfer_credits(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrUnknownMessage("transfer_credits: not built yet")
