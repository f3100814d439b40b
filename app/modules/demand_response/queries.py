"""STUB: mgrid.demand_response.v1.Query."""

from __future__ import annotations

from typing import Any

from app.errors import ErrInvalidRequest
from app.kv import KV


class Queries:
    def Params(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Params: not implemented yet")

    def Event(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Event: not implemented yet")

    def Events(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Events: not implemented yet")

    def OptIns(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("OptIns: not implemented yet")
