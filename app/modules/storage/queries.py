"""Storage queries (skeleton: being built)."""

from __future__ import annotations

from typing import Any

from app.errors import ErrInvalidRequest
from app.kv import KV


class Queries:
    def Storage(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Storage: not built yet")

    def Storages(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Storages: not built yet")

    def Holders(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Holders: not built yet")

    def Credits(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Credits: not built yet")

    def Deposits(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Deposits: not built yet")

    def Redemptions(self, kv: KV, req: Any) -> Any:
        raise ErrInvalidRequest("Redemptions: not built yet")
