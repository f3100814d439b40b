"""Certificates genesis (skeleton: being built)."""

from __future__ import annotations

from typing import Any

from app.context import Context


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    return None
