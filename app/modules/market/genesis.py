"""Market genesis (skeleton; being written)."""

from __future__ import annotations

from typing import Any

from app.context import Context


class GenesisError(ValueError):
    """The market section of app_state is invalid; the message names the field."""


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    pass
