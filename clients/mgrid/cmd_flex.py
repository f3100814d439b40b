"""STUB: replaced by the real commands."""

from __future__ import annotations

from typing import Any


def add_tx_commands(group: Any) -> None:
    return None


def add_query_commands(group: Any) -> None:
    return None
