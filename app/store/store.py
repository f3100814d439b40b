"""The authenticated, versioned key-value store whose root is the app hash
(DESIGN.md section 3, "State" and "Crash safety"; section 4 for determinism).

One store holds all consensus state.  A block's writes go through two steps:

1. ``stage(writes)`` computes, in memory only, the sparse Merkle tree of the
   next version (the app hash FinalizeBlock returns);
2. ``commit(meta)`` persists it, with the new values, the version's root, the
   application's metadata and the pruning of old versions, in one atomic
   LevelDB write batch (what ABCI Commit does).

Nothing reaches LevelDB before commit, so a crash at any point leaves the last
committed version, root and metadata intact, and CometBFT's handshake replays
whatever came after.

Values are kept twice on purpose: the latest value of every key in a flat
table (a read at the latest version is one LevelDB get, never a tree walk),
and, for each change, the value the key had just before it (a read at a past
version is one seek).  Tree pages are versioned IAVL-style: each commit lists
the LevelDB keys it made obsolete (replaced tree pages and history entries),
and pruning a version deletes exactly that list.  Nothing is shared between
versions by content, so no deletion can remove something a retained version
still uses.

Readers on other threads see one committed version at a time: every commit
publishes a new immutable view holding a LevelDB snapshot, and each read uses
the view it picked up when it started.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import starmap
from typing import Any

import plyvel

from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.store import keys as k
from app.store.cache import PageCache
from app.store.errors import ProofUnavailable, StoreError, VersionNotAvailable
from app.store.proofs import existence_proof, non_existence_proof
from app.store.smt import (
    LEAF,
    MAX_KEY_LEN,
    BatchResult,
    NodeLoader,
    Ref,
    apply_batch,
    batch_entries,
    decode_node,
    decode_ref,
    edge_leaf,
    encode_ref,
    key_hash,
    leaf_hash,
    ref_hash,
    sibling_path,
    walk,
)

# Pruning catches up at most this many versions per commit, so that lowering
# keep_recent on a node with a long history does not stall one block.
MAX_PRUNED_PER_COMMIT = 64
DEFAULT_PAGE_CACHE_BYTES = 64 << 20
DEFAULT_LEVELDB_CACHE_BYTES = 64 << 20

_ABSENT = b"\x00"
_PRESENT = b"\x01"
# Exclusive ends of the history and latest-value tables.
_HISTORY_END = bytes([k.HISTORY[0] + 1])
_LATEST_END = bytes([k.LATEST[0] + 1])
_MAX_VERSION8 = b"\xff" * k.VERSION_BYTES


@dataclass(frozen=True, slots=True)
class _View:
    """A committed version as readers see it; replaced whole by each commit."""

    version: int
    earliest: int
    root: Ref | None
    snapshot: Any  # plyvel snapshot taken right after the version's write


@dataclass(frozen=True, slots=True)
class _Staged:
    base_version: int
    result: BatchResult
    # (key, previous value, new value) for every key whose value changes.
    changes: list[tuple[bytes, bytes | None, bytes | None]]


class Store:
    """Versioned key-value store authenticated by a sparse Merkle tree.

    Parameters:
        path: LevelDB directory.
        keep_recent: 0 keeps every version; N > 0 keeps the latest version
            and the N versions before it, and prunes older ones during
            commit (as Cosmos SDK's pruning-keep-recent).
        create: create the database if it does not exist; otherwise a
            missing database raises StoreError.
        page_cache_bytes: memory for tree pages kept in the process.
        sync: fsync each commit (on by default: a committed block must
            survive a power loss, not just a process crash).
        leveldb_cache_bytes: LevelDB's own block cache.

    One thread writes (stage, discard, commit); any thread may read.
    """

    def __init__(
        self,
        path: str,
        *,
        keep_recent: int = 0,
        create: bool = True,
        page_cache_bytes: int = DEFAULT_PAGE_CACHE_BYTES,
        sync: bool = True,
        leveldb_cache_bytes: int = DEFAULT_LEVELDB_CACHE_BYTES,
    ) -> None:
        if keep_recent < 0:
            raise ValueError(f"keep_recent must be >= 0, got {keep_recent}")
        self._keep_recent = keep_recent
        self._sync = sync
        self._cache = PageCache(page_cache_bytes)
        self._write_lock = threading.Lock()
        self._staged: _Staged | None = None
        self._closed = False
        try:
            if create:
                os.makedirs(path, exist_ok=True)
            self._db = plyvel.DB(
                path,
                create_if_missing=create,
                lru_cache_size=leveldb_cache_bytes,
                bloom_filter_bits=10,
            )
        except (plyvel.Error, OSError) as exc:
            raise StoreError(f"cannot open store at {path}: {exc}") from exc
        try:
            self._view = self._load_view()
        except BaseException:
            self._db.close()
            raise

    def _load_view(self) -> _View:
        db = self._db
        fmt = db.get(k.FORMAT)
        if fmt is not None and fmt != k.FORMAT_VALUE:
            raise StoreError(f"unknown store format {fmt!r} (expected {k.FORMAT_VALUE!r})")
        state = db.get(k.STATE)
        if state is None:
            return _View(0, 0, None, db.snapshot())
        version = int.from_bytes(state[:8], "big")
        earliest = int.from_bytes(state[8:16], "big")
        snapshot = db.snapshot()
        return _View(version, earliest, self._root_ref(snapshot, version), snapshot)

    # ------------------------------------------------------------------ reads

    @property
    def version(self) -> int:
        """Last committed version (block height); 0 for a new store."""
        return self._current().version

    @property
    def earliest_version(self) -> int:
        """Oldest version still queryable."""
        return self._current().earliest

    def root(self, version: int | None = None) -> bytes:
        """Root hash (app hash) of a committed version; 32 zero bytes if empty.

        Raises:
            VersionNotAvailable: the version is pruned or not committed.
        """
        view = self._current()
        if version is None or version == view.version:
            return ref_hash(view.root)
        self._check_version(view, version)
        return ref_hash(self._root_ref(view.snapshot, version))

    def get(self, key: bytes, version: int | None = None) -> bytes | None:
        """Value of ``key`` at a committed version (default: the latest).

        Raises:
            VersionNotAvailable: the version is pruned or not committed.
        """
        view = self._current()
        if version is None or version == view.version:
            return view.snapshot.get(k.LATEST + key)
        self._check_version(view, version)
        return self._get_past(view, key, version)

    def get_meta(self, key: bytes) -> bytes | None:
        """Application metadata as written by the last commit that set it."""
        return self._current().snapshot.get(k.META + key)

    def iterate(
        self,
        prefix: bytes = b"",
        *,
        version: int | None = None,
        start: bytes | None = None,
        reverse: bool = False,
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) pairs whose key starts with ``prefix``, in raw key order.

        ``start`` is where to resume, inclusive in the direction of travel:
        forward yields keys >= start, reverse yields keys <= start.  The whole
        iteration reads one version, even if commits happen meanwhile: the
        LevelDB snapshot is taken when ``iterate`` is called, so an iterator
        handed to another thread (a state-sync snapshot being written) reads
        that version to its end, even if it is pruned meanwhile.

        Raises:
            VersionNotAvailable: immediately, if the version is pruned or not
                committed.
        """
        view = self._current()
        if version is None:
            version = view.version
        else:
            self._check_version(view, version)
        # Raw key range [lower, upper); upper None = unbounded.
        lower = prefix
        upper = k.successor(prefix)
        if start is not None:
            if not reverse:
                lower = max(lower, start)
            elif upper is None or start < upper:
                upper = start + b"\x00"  # the smallest key after start
        latest = _strip(
            _scan(
                view.snapshot,
                k.LATEST + lower,
                _LATEST_END if upper is None else k.LATEST + upper,
                reverse,
            )
        )
        if version == view.version:
            return latest
        history = _scan(
            view.snapshot,
            k.HISTORY + k.escape_prefix(lower),
            _HISTORY_END if upper is None else k.HISTORY + k.escape_prefix(upper),
            reverse,
        )
        return _merge_past(_history_groups(history, version, reverse), latest, reverse)

    def prove(self, key: bytes, version: int | None = None) -> proofs_pb2.CommitmentProof:
        """ICS-23 proof for ``key`` at a version against ``root(version)``.

        An existence proof when the key is present, else a non-existence
        proof built from the key's neighbours in SHA256(key) order.

        Raises:
            ValueError: empty key (ICS-23 cannot prove it).
            ProofUnavailable: the tree at that version is empty.
            VersionNotAvailable: the version is pruned or not committed.
        """
        _check_key(key)
        view = self._current()
        if version is None:
            version = view.version
            root = view.root
        else:
            self._check_version(view, version)
            root = view.root if version == view.version else self._root_ref(view.snapshot, version)
        if root is None:
            raise ProofUnavailable(f"the tree at version {version} is empty: nothing to prove")
        load = self._loader(view.snapshot)
        khash = key_hash(key)
        steps, end = walk(root, khash, load)
        if end is not None and key_hash(end[2]) == khash:
            value = self._value_at(view, key, version)
            return proofs_pb2.CommitmentProof(exist=self._exist(key, value, end, steps, version))
        left: bytes | None = None
        right: bytes | None = None
        if end is not None:
            if key_hash(end[2]) < khash:
                left = end[2]
            else:
                right = end[2]
        # The neighbour missing so far hangs off the deepest step that turned
        # the other way: its nearest leaf on our side is the neighbour.
        if left is None:
            for step in reversed(steps):
                sibling = step.node[0]
                if step.bit == 1 and sibling is not None:
                    path = sibling_path(khash, step.depth)
                    left = edge_leaf(sibling, path, step.depth + 1, load, rightmost=True)[2]
                    break
        if right is None:
            for step in reversed(steps):
                sibling = step.node[1]
                if step.bit == 0 and sibling is not None:
                    path = sibling_path(khash, step.depth)
                    right = edge_leaf(sibling, path, step.depth + 1, load, rightmost=False)[2]
                    break
        left_proof = None if left is None else self._prove_present(view, root, left, version)
        right_proof = None if right is None else self._prove_present(view, root, right, version)
        return proofs_pb2.CommitmentProof(
            nonexist=non_existence_proof(key, left_proof, right_proof)
        )

    # ----------------------------------------------------------------- writes

    def stage(self, writes: Mapping[bytes, bytes | None]) -> bytes:
        """Compute, in memory only, the root of the next version.

        The next version is the latest committed state with ``writes``
        applied (None deletes).  Replaces anything staged before.

        Returns:
            The root hash the next commit will have.
        Raises:
            TypeError: a key or value is not bytes.
            ValueError: a key or value is empty, or a key is longer than
                65535 bytes.
        """
        _check_writes(writes)
        with self._write_lock:
            self._check_open()
            self._staged = None
            view = self._view
            latest = k.LATEST
            # Sorted raw keys read the latest-value table sequentially.
            keys = sorted(writes)
            prevs = map(view.snapshot.get, [latest + key for key in keys])
            # Only real changes: the tree walk requires them.
            changes = [
                (key, prev, value)
                for key, prev, value in zip(keys, prevs, map(writes.__getitem__, keys), strict=True)
                if prev != value
            ]
            khashes, leaves, tree_keys = batch_entries([(c[0], c[2]) for c in changes])
            result = apply_batch(
                view.root,
                khashes,
                leaves,
                tree_keys,
                k.version_bytes(view.version + 1),
                self._record_loader(view.snapshot, replaced=True),
            )
            self._staged = _Staged(view.version, result, changes)
            return ref_hash(result.root)

    def discard(self) -> None:
        """Drop whatever is staged."""
        with self._write_lock:
            self._staged = None

    def commit(
        self, meta: Mapping[bytes, bytes] | None = None, *, version: int | None = None
    ) -> int:
        """Persist the staged version atomically and return its number.

        One LevelDB write batch holds the new tree nodes, the changed values
        and their history, the version's root, ``meta``, the pruning of
        versions that fall out of keep_recent, and the version counters.
        Committing with nothing staged makes a new version with the same
        root.

        ``version`` numbers the new version; by default, and always once
        something is committed, it is the latest version + 1.  The first
        commit of a new store may choose any version >= 1: a chain whose
        genesis has initial height N commits its first block as version N,
        and a state-sync restore commits the snapshot's state as the
        snapshot's height.  Versions before a first version N > 1 never
        existed: the earliest version is N and no history is written for it.

        Raises:
            ValueError: ``version`` is not latest + 1 (or, on a new store, < 1).
        """
        if meta:
            for mkey, mvalue in meta.items():
                if not isinstance(mkey, bytes) or not mkey:
                    raise ValueError(f"meta key must be non-empty bytes, got {mkey!r}")
                if not isinstance(mvalue, bytes):
                    raise TypeError(f"meta value for {mkey!r} must be bytes, got {type(mvalue)}")
        with self._write_lock:
            self._check_open()
            view = self._view
            staged = self._staged
            if staged is not None and staged.base_version != view.version:
                raise StoreError(
                    f"staged on version {staged.base_version}, but latest is {view.version}"
                )
            new_version = self._new_version(view, version)
            # A first version above 1 starts the store there: nothing older
            # to keep or read, so no pruning and no history.
            first = view.version == 0 and new_version > 1
            version8 = k.version_bytes(new_version)
            root = view.root if staged is None else staged.result.root
            if first:
                earliest, pruned_versions = new_version, range(0)
            else:
                earliest = self._next_earliest(view.earliest, new_version)
                pruned_versions = range(view.earliest + 1, earliest + 1)
            snapshot = view.snapshot
            with self._db.write_batch(transaction=True, sync=self._sync) as batch:
                put = batch.put
                delete = batch.delete
                if staged is not None:
                    _write_staged(batch, staged, new_version, history=not first)
                put(k.root_key(new_version), encode_ref(root))
                if meta:
                    for mkey in sorted(meta):
                        put(k.META + mkey, meta[mkey])
                for pruned in pruned_versions:
                    # Keys made obsolete by version `pruned` were last used by
                    # version pruned - 1, which is now below the window.
                    blob = snapshot.get(k.orphans_key(pruned))
                    if blob is not None:
                        _drain(map(delete, k.unpack_key_list(blob)))
                        delete(k.orphans_key(pruned))
                    delete(k.root_key(pruned - 1))
                put(k.STATE, version8 + k.version_bytes(earliest))
                if view.version == 0:
                    put(k.FORMAT, k.FORMAT_VALUE)
            self._view = _View(new_version, earliest, root, self._db.snapshot())
            self._staged = None
            if staged is not None:
                self._cache.put_many(staged.result.nodes)
            return new_version

    def close(self) -> None:
        """Close the database; staged changes are dropped."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            self._staged = None
            self._cache.clear()
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- internal

    def _current(self) -> _View:
        self._check_open()
        return self._view

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    @staticmethod
    def _check_version(view: _View, version: int) -> None:
        if not view.earliest <= version <= view.version:
            raise VersionNotAvailable(version, view.earliest, view.version)

    @staticmethod
    def _new_version(view: _View, version: int | None) -> int:
        if version is None or version == view.version + 1:
            return view.version + 1
        if view.version == 0:
            if version < 1 or version > k.MAX_VERSION:
                raise ValueError(f"a store's first version must be >= 1, got {version}")
            return version
        raise ValueError(
            f"cannot commit version {version}: the latest is {view.version}, "
            f"so the next must be {view.version + 1}"
        )

    def _next_earliest(self, earliest: int, new_version: int) -> int:
        if self._keep_recent == 0:
            return earliest
        target = new_version - self._keep_recent
        if target <= earliest:
            return earliest
        return min(target, earliest + MAX_PRUNED_PER_COMMIT)

    @staticmethod
    def _root_ref(snapshot: Any, version: int) -> Ref | None:
        if version == 0:
            return None  # version 0 is the empty store; it has no record
        raw = snapshot.get(k.root_key(version))
        if raw is None:
            raise StoreError(f"root of version {version} is missing")
        ref, _ = decode_ref(raw)
        return ref

    def _record_loader(self, snapshot: Any, *, replaced: bool = False) -> Callable[[bytes], bytes]:
        """Reads a tree page's record, through the page cache.

        ``replaced``: the pages read are about to be replaced (by a batch),
        so they leave the cache (see PageCache.taker).
        """
        db_get = snapshot.get

        def fetch(nkey: bytes) -> bytes:
            record: bytes | None = db_get(nkey)
            if record is None:
                raise StoreError(f"tree page {nkey.hex()} is missing")
            return record

        return self._cache.taker(fetch) if replaced else self._cache.loader(fetch)

    def _loader(self, snapshot: Any) -> NodeLoader:
        load_record = self._record_loader(snapshot)

        def load(nkey: bytes) -> tuple[Ref | None, Ref | None]:
            return decode_node(load_record(nkey))

        return load

    def _get_past(self, view: _View, key: bytes, version: int) -> bytes | None:
        # The first change after `version` recorded the value key had at
        # `version`; with no change since, the latest value is that value.
        hprefix = k.HISTORY + k.escape(key)
        with view.snapshot.iterator(
            start=hprefix + k.version_bytes(version + 1),
            stop=hprefix + _MAX_VERSION8,
            include_stop=True,
        ) as it:
            for _, prev in it:
                return None if prev[:1] == _ABSENT else prev[1:]
        return view.snapshot.get(k.LATEST + key)

    def _value_at(self, view: _View, key: bytes, version: int) -> bytes | None:
        if version == view.version:
            return view.snapshot.get(k.LATEST + key)
        return self._get_past(view, key, version)

    def _exist(
        self, key: bytes, value: bytes | None, leaf: Ref, steps: list[Any], version: int
    ) -> proofs_pb2.ExistenceProof:
        if value is None or leaf[1] != LEAF or leaf_hash(key_hash(key), value) != leaf[0]:
            raise StoreError(f"tree and values disagree on key {key!r} at version {version}")
        return existence_proof(key, value, steps)

    def _prove_present(
        self, view: _View, root: Ref, key: bytes, version: int
    ) -> proofs_pb2.ExistenceProof:
        steps, end = walk(root, key_hash(key), self._loader(view.snapshot))
        if end is None or end[2] != key:
            raise StoreError(f"neighbour key {key!r} not found at version {version}")
        return self._exist(key, self._value_at(view, key, version), end, steps, version)


def _write_staged(batch: Any, staged: _Staged, version: int, *, history: bool = True) -> None:
    """Put a staged version's tree pages, values, history and orphan list
    into ``batch`` (the commit's LevelDB write batch).

    ``history`` False leaves out the previous values, for a first version
    that has no earlier version to read them from.  A block writes
    thousands of entries, so each kind is written by a map drained in C
    rather than a Python loop.
    """
    put = batch.put
    version8 = k.version_bytes(version)
    changes = staged.changes
    latest = k.LATEST
    _drain(starmap(put, staged.result.nodes))
    _drain(map(batch.delete, [latest + c[0] for c in changes if c[2] is None]))
    written = [c for c in changes if c[2] is not None]
    _drain(map(put, [latest + c[0] for c in written], [c[2] for c in written]))
    if not history:
        if staged.result.orphans:
            put(k.orphans_key(version), k.pack_key_list(staged.result.orphans))
        return
    hkeys = k.history_keys([c[0] for c in changes], version8)
    absent = _ABSENT
    present = _PRESENT
    _drain(map(put, hkeys, [absent if c[1] is None else present + c[1] for c in changes]))
    # History entries are needed only to read versions before this one.
    obsolete = staged.result.orphans + hkeys
    if obsolete:
        put(k.orphans_key(version), k.pack_key_list(obsolete))


def _drain(it: Iterable[object]) -> None:
    """Run an iterator to its end, discarding what it yields, at C speed."""
    deque(it, maxlen=0)


def _scan(
    snapshot: Any, lower: bytes, upper: bytes, reverse: bool
) -> Iterator[tuple[bytes, bytes]]:
    """LevelDB entries with lower <= key < upper, ascending or descending.

    Descending scans drive a raw iterator by hand: plyvel 1.5.1's bounded
    reverse iterator skips a range's only entry when it equals the lower
    bound.
    """
    if not reverse:
        with snapshot.iterator(start=lower, stop=upper) as it:
            yield from it
        return
    it = snapshot.raw_iterator()
    try:
        it.seek(upper)
        if it.valid():
            it.prev()
        else:
            it.seek_to_last()
        while it.valid():
            key = it.key()
            if key < lower:
                break
            yield key, it.value()
            it.prev()
    finally:
        it.close()


def _strip(entries: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    """Latest-value table entries as (user key, value)."""
    for dbkey, value in entries:
        yield dbkey[1:], value


def _merge_past(
    history: Iterator[tuple[bytes, bytes | None, bool]],
    latest: Iterator[tuple[bytes, bytes]],
    reverse: bool,
) -> Iterator[tuple[bytes, bytes]]:
    """Merge the latest values with the history of changes after a version.

    A key's value at the version is the previous value recorded by its first
    change after the version or, if it has not changed since, its latest
    value.  Both streams come in the same raw key order, so one merge pass
    answers the range.
    """
    group = next(history, None)
    item = next(latest, None)
    while group is not None or item is not None:
        if group is not None and (
            item is None or (group[0] > item[0] if reverse else group[0] < item[0])
        ):
            # Absent now; present at the version only if a later change
            # recorded a value.
            if group[1] is not None:
                yield group[0], group[1]
            group = next(history, None)
        elif group is None or item is None or group[0] != item[0]:
            assert item is not None
            yield item  # unchanged since the version
            item = next(latest, None)
        else:
            if not group[2]:
                yield item
            elif group[1] is not None:
                yield group[0], group[1]
            group = next(history, None)
            item = next(latest, None)


def _history_groups(
    entries: Iterator[tuple[bytes, bytes]], version: int, reverse: bool
) -> Iterator[tuple[bytes, bytes | None, bool]]:
    """Per key in the history range: (key, value at version, changed since).

    A key's entries come in version order (descending when reversed); the
    one that matters is its earliest change after ``version``.
    """
    current: bytes | None = None
    value: bytes | None = None
    changed = False
    for dbkey, prev in entries:
        encoded = dbkey[1:-8]
        if encoded != current:
            if current is not None:
                yield k.unescape(current), value, changed
            current, value, changed = encoded, None, False
        # Forward: keep the first change after `version`; reversed: keep
        # overwriting, the last one seen is the earliest.
        if (reverse or not changed) and int.from_bytes(dbkey[-8:], "big") > version:
            value = None if prev[:1] == _ABSENT else prev[1:]
            changed = True
    if current is not None:
        yield k.unescape(current), value, changed


def _check_writes(writes: Mapping[bytes, bytes | None]) -> None:
    """Raise on the first bad key or value of ``writes`` (see Store.stage).

    The common case, all keys bytes and all values bytes or None, is
    recognised with C-level passes over the mapping; only a mapping that
    fails them goes through the per-entry checks, which find the first bad
    entry and raise what they always raised.
    """
    key_types = set(map(type, writes))
    value_types = set(map(type, writes.values()))
    if (
        key_types <= _BYTES
        and value_types <= _BYTES_OR_NONE
        and b"" not in writes
        and b"" not in writes.values()
        and (not writes or max(map(len, writes)) <= MAX_KEY_LEN)
    ):
        return
    for key, value in writes.items():
        _check_key(key)
        if value is not None:
            if not isinstance(value, bytes):
                raise TypeError(f"value for key {key!r} must be bytes, got {type(value)}")
            if not value:
                raise ValueError(f"value for key {key!r} is empty (delete with None)")
    # The fast checks are stricter than these (bytes subclasses fail them),
    # so reaching here without an error means the writes are valid.


_BYTES = frozenset([bytes])
_BYTES_OR_NONE = frozenset([bytes, type(None)])


def _check_key(key: object) -> None:
    if not isinstance(key, bytes):
        raise TypeError(f"key must be bytes, got {type(key)}")
    if not key:
        raise ValueError("key is empty (ICS-23 cannot prove empty keys)")
    if len(key) > MAX_KEY_LEN:
        raise ValueError(f"key is {len(key)} bytes, more than the maximum {MAX_KEY_LEN}")
