"""Storage genesis: the module has no params and starts with no credits.

    "storage": {}      (or no section at all)

Storage participants and their specs come from the registry section
(role storage, "storage": {...}). Anything in this section is refused, so
that a genesis written for a later version that has something to say here
does not start silently without it. Without a market the module is off: its
deposits and redemptions are refused (they need the market's schedule) and
settlement never calls it.
"""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.modules.genesis_util import GenesisError


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if section:
        raise GenesisError(
            f"storage: has no params or initial state; unknown fields {sorted(section)}"
        )
