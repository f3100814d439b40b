"""Key-value views used by the state machine.

Modules never touch LevelDB. They read and write a ``KV``: either a
``StoreView`` (read-only, a committed version of the authenticated store) or
a ``CacheKV`` layered on another KV. Branching is how a transaction's
messages run atomically: run on a branch, ``write()`` it on success, drop it
on failure. The block's own CacheKV holds every write until Commit
(DESIGN.md section 3: nothing is persisted before Commit).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # the wallet imports message checks without loading the store
    from app.store import Store


class KV(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...


class StoreView:
    """Read-only view of one committed version of the store (None = latest)."""

    def __init__(self, store: Store, version: int | None = None):
        self.store = store
        self.version = version

    def get(self, key: bytes) -> bytes | None:
        return self.store.get(key, self.version)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.store.iterate(prefix, version=self.version)


class PinnedView(StoreView):
    """The latest committed version as of creation, with every read remembered.

    The state machine reads the same keys (params, module state, a sender's
    balance and account) many times per block; this answers repeats from a
    dict instead of walking to LevelDB. Valid until the next Commit, after
    which the chain makes new views (a stale one would read old values).
    """

    def __init__(self, store: Store):
        super().__init__(store, store.version)
        self._reads: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        try:
            return self._reads[key]
        except KeyError:
            value = self._reads[key] = self.store.get(key, self.version)
            return value


class CacheKV:
    """Writes buffered over a parent KV; ``write()`` pushes them down."""

    __slots__ = ("parent", "writes")

    def __init__(self, parent: KV):
        self.parent = parent
        self.writes: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        # A loop down the branches rather than a call per level: transactions
        # read through three or four of them, dozens of times each.
        kv: KV = self
        while type(kv) is CacheKV:
            writes = kv.writes
            if key in writes:
                return writes[key]
            kv = kv.parent
        return kv.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        if not key or not value:
            raise ValueError("keys and values must be non-empty")
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = None

    def branch(self) -> CacheKV:
        return CacheKV(self)

    def write(self) -> None:
        """Apply the buffered writes to the parent (which must be a CacheKV)."""
        parent = self.parent
        if not isinstance(parent, CacheKV):
            raise TypeError("only a branch of a CacheKV can be written down")
        parent.writes.update(self.writes)
        self.writes = {}

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Iterate keys with prefix in key order, local writes shadowing the parent."""
        local = sorted((k, v) for k, v in self.writes.items() if k.startswith(prefix))
        merged = heapq.merge(
            ((k, 0, v) for k, v in local),
            ((k, 1, v) for k, v in self.parent.iterate(prefix)),
        )
        last: bytes | None = None
        for key, _rank, value in merged:
            if key == last:
                continue
            last = key
            if value is not None:
                yield key, value
