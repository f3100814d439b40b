"""Market messages (skeleton; being written)."""

from __future__ import annotations

from typing import Any


def _todo(*_: Any) -> None:
    raise NotImplementedError


validate_place_order = validate_cancel_order = validate_update_params = _todo
validate_publish_forecast = _todo
handle_place_order = handle_cancel_order = handle_update_params = handle_publish_forecast = _todo
