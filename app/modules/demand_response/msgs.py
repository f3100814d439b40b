"""STUB: replaced by the module's real messages."""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ErrInvalidRequest


def validate_create_dr_event(msg: Any) -> None:
    return None


def handle_create_dr_event(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrInvalidRequest("create_dr_event: not implemented yet")


def validate_dr_opt_in(msg: Any) -> None:
    return None


def handle_dr_opt_in(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrInvalidRequest("dr_opt_in: not implemented yet")
