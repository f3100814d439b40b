"""Storage keeper (skeleton: being built)."""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.kv import KV


def end_block(ctx: Context, *args: Any) -> None:
    return None


def check_invariants(kv: KV) -> None:
    return None
