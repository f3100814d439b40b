"""Certificates messages (skeleton: being built)."""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ErrUnknownMessage


def validate_retire_certificates(msg: Any) -> None:
    raise ErrUnknownMessage("retire_certificates: not built yet")


def handle_retire_certificates(ctx: Context, signer: bytes, msg: Any) -> None:
    raise ErrUnknownMessage("retire_certificates: not built yet")
