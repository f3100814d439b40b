"""Flexibility genesis: the module has no params and starts with no needs.

    "flexibility": {}

An empty (or absent) section is the only valid one; anything in it is refused.
"""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.modules.genesis_util import GenesisError


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if section:
        raise GenesisError(f"flexibility: takes no fields, got {sorted(section)}")
