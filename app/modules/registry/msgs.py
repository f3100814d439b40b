"""Registry messages (skeleton; being written)."""

from __future__ import annotations

from typing import Any

from app.context import Context


def _todo(*_: Any) -> None:
    raise NotImplementedError


validate_apply = validate_approve = validate_reject = validate_set_suspended = _todo
validate_register_meter = validate_revoke_meter = _todo
handle_apply = handle_approve = handle_reject = handle_set_suspended = _todo
handle_register_meter = handle_revoke_meter = _todo
__all__ = ["Context"]
