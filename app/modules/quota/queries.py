"""STUB: mgrid.quota.v1.Query."""

from __future__ import annotations

from typing import Any

from app.errors import ErrInvalidRequest
from app.kv import KV


class Queries:
    def Margin(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Margin: not implemented yet")

    def Margins(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Margins: not implemented yet")

    def Station(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Station: not implemented yet")
