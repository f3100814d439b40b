"""``mgrid tx storage ...`` and ``mgrid query storage ...`` (skeleton: being built)."""

from __future__ import annotations

from typing import Any


def add_tx_commands(tx: Any) -> None:
    """``tx storage`` subcommands."""


def add_query_commands(query: Any) -> None:
    """``query storage`` subcommands."""
