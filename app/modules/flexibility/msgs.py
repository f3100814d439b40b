"""STUB: replaced by the module's real messages."""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ErrInvalidRequest


def validate_post_flex_need(msg: Any) -> None:
    return None


def handle_post_flex_need(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrInvalidRequest("post_flex_need: not implemented yet")


def validate_offer_flexibility(msg: Any) -> None:
    return None


def handle_offer_flexibility(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrInvalidRequest("offer_flexibility: not implemented yet")
