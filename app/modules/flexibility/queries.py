"""STUB: mgrid.flexibility.v1.Query."""

from __future__ import annotations

from typing import Any

from app.errors import ErrInvalidRequest
from app.kv import KV


class Queries:
    def Need(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Need: not implemented yet")

    def Needs(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Needs: not implemented yet")

    def Offers(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Offers: not implemented yet")
