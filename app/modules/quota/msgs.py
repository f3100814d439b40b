"""STUB: replaced by the module's real messages."""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ErrInvalidRequest


def validate_announce_margin(msg: Any) -> None:
    return None


def handle_announce_margin(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrInvalidRequest("announce_margin: not implemented yet")


def validate_submit_demand(msg: Any) -> None:
    return None


def handle_submit_demand(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrInvalidRequest("submit_demand: not implemented yet")


def validate_place_quota_order(msg: Any) -> None:
    return None


def handle_place_quota_order(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrInvalidRequest("place_quota_order: not implemented yet")
