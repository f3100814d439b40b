"""Market keeper (skeleton; being written)."""

from __future__ import annotations

from app.context import Context
from app.kv import KV


def end_block(ctx: Context) -> None:
    pass


def check_invariants(kv: KV) -> None:
    pass
