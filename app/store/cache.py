"""In-memory cache of tree pages (DESIGN.md section 3, "State").

Pages are immutable and their LevelDB keys are never reused (a key names a
position *and* the version that created the page), so a cached page can
never be stale and the cache needs no invalidation, only a bound.

The cache holds the records as stored (bytes), not decoded nodes: decoding
a page's root costs about a microsecond, far less than a LevelDB read, and
raw records take a third of the memory of decoded ones.  The bound is in
bytes, kept with two generations instead of a strict LRU list: lookups hit
the young dict, then the old one (promoting the record); when the young
dict holds half the budget it becomes the old one and the previous old one
is dropped.  Pages touched at every block (the top of the tree) therefore
stay, at the cost of one or two dict operations per access.  A batch takes
the pages it replaces out of the cache as it reads them (only queries of
older versions read them again), so the cache holds the live tree instead
of churning through superseded pages.  Every step is a single dict operation or attribute swap,
so readers on other threads use the cache concurrently with the committing
thread without a lock; a lost race only drops an entry or miscounts a few
bytes.  Eviction is deterministic, although nothing in the app hash depends
on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

# Rough per-entry cost of a dict slot and the key and record objects.
_ENTRY_OVERHEAD = 160


class PageCache:
    """Bounded map from page key to page record (about ``capacity`` bytes)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"page cache capacity must be >= 0 bytes, got {capacity}")
        self._half = capacity // 2
        self._young: dict[bytes, bytes] = {}
        self._old: dict[bytes, bytes] = {}
        self._young_bytes = 0

    def get(self, key: bytes) -> bytes | None:
        record = self._young.get(key)
        if record is None:
            record = self._old.get(key)
            if record is not None:
                self.put(key, record)
        return record

    def loader(self, fetch: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        """A function reading records through the cache.

        ``fetch`` reads a record the cache does not hold (and raises if
        there is none); what it returns is cached.  A hit in the young
        generation, the common case for a block's pages, costs one call.
        """

        def load(key: bytes) -> bytes:
            record = self._young.get(key)
            if record is None:
                record = self._old.get(key)
                if record is None:
                    record = fetch(key)
                self.put(key, record)  # cached, or promoted from the old generation
            return record

        return load

    def taker(self, fetch: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        """Like :meth:`loader`, for pages being replaced: a cached record is
        removed as it is read, and a fetched one is not cached.

        A batch replaces every page it reads, and only queries of older
        versions read a replaced page again, so taking them out makes room
        for the batch's new pages without a separate pass.
        """

        def take(key: bytes) -> bytes:
            record = self._young.pop(key, None)
            if record is not None:
                self._young_bytes -= len(key) + len(record) + _ENTRY_OVERHEAD
                return record
            record = self._old.pop(key, None)
            return fetch(key) if record is None else record

        return take

    def put(self, key: bytes, record: bytes) -> None:
        if self._half == 0:
            return
        young = self._young
        young[key] = record
        self._young_bytes += len(key) + len(record) + _ENTRY_OVERHEAD
        if self._young_bytes >= self._half:
            self._old = young
            self._young = {}
            self._young_bytes = 0

    def put_many(self, items: Iterable[tuple[bytes, bytes]]) -> None:
        """``put`` of each (key, record), in order, with the loop's state in
        local variables (a commit adds thousands of pages).  A reader
        promoting a page meanwhile may see its entry dropped, as with put."""
        if self._half == 0:
            return
        half = self._half
        overhead = _ENTRY_OVERHEAD
        young = self._young
        size = self._young_bytes
        for key, record in items:
            young[key] = record
            size += len(key) + len(record) + overhead
            if size >= half:
                self._old = young
                young = self._young = {}
                size = 0
        self._young_bytes = size

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def clear(self) -> None:
        self._young = {}
        self._old = {}
        self._young_bytes = 0
