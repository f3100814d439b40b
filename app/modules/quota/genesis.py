"""Quota genesis: the module has no params and starts with no margins.

    "quota": {}      (or no section at all)

Anything in the section is refused, so that a genesis written for a later
version that has something to say here does not start silently without it.
Without a market the module is off: its messages are refused and nothing
happens at the end of a block.
"""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.modules.genesis_util import GenesisError
from app.modules.market import keeper as market


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if not section:
        return
    if not market.is_configured(ctx.kv):
        raise GenesisError("quota: needs a market section (and has nothing to configure)")
    raise GenesisError(f"quota: has no params; unknown fields {sorted(section)}")
