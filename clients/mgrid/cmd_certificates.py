"""``mgrid tx certificates ...`` and ``mgrid query certificates ...`` (skeleton: being built)."""

from __future__ import annotations

from typing import Any


def add_tx_commands(tx: Any) -> None:
    """``tx certificates`` subcommands."""


def add_query_commands(query: Any) -> None:
    """``query certificates`` subcommands."""
