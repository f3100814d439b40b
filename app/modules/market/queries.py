"""mgrid.registry.v1.Query (skeleton; being written)."""

from typing import Any


class Queries:
    def __getattr__(self, name: str) -> Any:
        def todo(*_: Any) -> Any:
            raise NotImplementedError(name)

        return todo
