"""Certificates queries (skeleton: being built)."""

from __future__ import annotations

from typing import Any

from app.errors import ErrInvalidRequest
from app.kv import KV


class Queries:
    def Params(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Params: not built yet")

    def Holdings(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Holdings: not built yet")

    def Generator(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Generator: not built yet")

    def Issuances(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Issuances: not built yet")

    def Retirements(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Retirements: not built yet")

    def Origin(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Origin: not built yet")
