"""State-sync snapshots of the app's state (issue 8; the format is in
docs/state-sync.md).

A validator with ``snapshot_interval`` N > 0 takes a snapshot after
committing every height divisible by N: a background thread reads the
store's version H through one LevelDB snapshot (``Store.iterate`` pins it
when called, on the ABCI thread, right after Commit), so consensus goes on
while it is written. Snapshots live in ``HOME/data/snapshots/<H>/`` and are
written to a temporary directory renamed when complete, so a half-written
snapshot is never listed; the newest ``snapshot_keep_recent`` are kept.

Format 1: every (key, value) of the state at H in raw key order, as records
``u32be(len key) key u32be(len value) value``, cut into chunks of about
:data:`CHUNK_BYTES` (a record is never split) and each chunk compressed with
zlib. The metadata is canonical JSON naming the chain id, the height, the
app hash, the time of block H (CheckTx needs it before the next block), the
number of entries and the SHA-256 of every chunk; ``Snapshot.hash`` is the
SHA-256 of the metadata. Nothing in it depends on the node that took it, so
every validator's snapshot of a height is byte-identical and a joining node
can fetch chunks from all of them.

A new node restores one: OfferSnapshot accepts only format 1 with sane
metadata on an empty app; ApplySnapshotChunk checks each chunk against its
hash in the metadata (a bad chunk is fetched again from another peer), and
after the last one builds the store at version H and commits it only if its
root is the app hash CometBFT's light client verified. Nothing a peer sends
can raise out of these handlers: every refusal is a result and a log line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.chain import Chain, RestoreError
from app.pb.tendermint.abci import types_pb2 as abci
from app.store.smt import MAX_KEY_LEN

log = logging.getLogger("mgrid.snapshots")

FORMAT = 1
# Record bytes per chunk before compression. CometBFT v0.38 caps a chunk
# message at 16e6 bytes (statesync/messages.go, chunkMsgSize); chunks of a
# few MiB keep well below it and let several fetchers work in parallel.
CHUNK_BYTES = 4 << 20
# A single record larger than this cannot be snapshotted (keys are at most
# 64 KiB; no module writes values anywhere near this).
MAX_RECORD_BYTES = 8 << 20
# Decompressed size a chunk may reach: a full chunk plus one record.
MAX_CHUNK_RAW = CHUNK_BYTES + MAX_RECORD_BYTES
# Metadata travels in CometBFT's snapshot message, capped at 4e6 bytes
# (snapshotMsgSize); 32768 chunk hashes take 2.2 MB of it. That is 128 GiB
# of records.
MAX_CHUNKS = 32768
MAX_METADATA_BYTES = 3_000_000
# zlib level 1: the state is mostly hashes and addresses, which higher
# levels hardly shrink further (measured: 0.517 of raw at level 1, 0.526 at
# 6, at 68 MB/s against 43 MB/s). The level is part of the format: every
# validator must produce the same bytes.
COMPRESS_LEVEL = 1

METADATA_FILE = "metadata.json"
TMP_PREFIX = ".tmp-"

_LEN = 4
_METADATA_FIELDS = frozenset(
    ["format", "chain_id", "height", "app_hash", "block_time_ns", "entries", "chunk_hashes"]
)

Result = abci.ResponseOfferSnapshot.Result
ChunkResult = abci.ResponseApplySnapshotChunk.Result


class SnapshotError(Exception):
    """A snapshot cannot be taken, read or restored (the message says why)."""


@dataclass(frozen=True)
class Metadata:
    """What a snapshot's metadata says (see the module docstring)."""

    chain_id: str
    height: int
    app_hash: bytes
    block_time_ns: int
    entries: int
    chunk_hashes: tuple[bytes, ...]

    def encode(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): the bytes Snapshot.hash covers."""
        doc = {
            "format": FORMAT,
            "chain_id": self.chain_id,
            "height": self.height,
            "app_hash": self.app_hash.hex().upper(),
            "block_time_ns": self.block_time_ns,
            "entries": self.entries,
            "chunk_hashes": [h.hex() for h in self.chunk_hashes],
        }
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Metadata:
        """Parse metadata from a peer or from disk.

        Raises:
            SnapshotError: it is not format-1 metadata (the message says what is wrong).
        """
        if len(raw) > MAX_METADATA_BYTES:
            raise SnapshotError(f"metadata of {len(raw)} bytes exceeds {MAX_METADATA_BYTES}")
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise SnapshotError(f"metadata is not JSON: {exc}") from None
        if not isinstance(doc, dict) or set(doc) != _METADATA_FIELDS:
            got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
            raise SnapshotError(
                f"metadata must have the fields {sorted(_METADATA_FIELDS)}, got {got}"
            )
        if doc["format"] != FORMAT:
            raise SnapshotError(f"metadata format {doc['format']!r} is not {FORMAT}")
        chain_id, hashes = doc["chain_id"], doc["chunk_hashes"]
        if not isinstance(chain_id, str) or not chain_id:
            raise SnapshotError(
                f"metadata chain_id must be a non-empty string, got {chain_id!r:.80}"
            )
        height = _uint(doc["height"], "height", minimum=1)
        block_time_ns = _uint(doc["block_time_ns"], "block_time_ns", minimum=0)
        entries = _uint(doc["entries"], "entries", minimum=0)
        app_hash = _hex32(doc["app_hash"], "app_hash")
        if not isinstance(hashes, list) or not 1 <= len(hashes) <= MAX_CHUNKS:
            raise SnapshotError(f"metadata chunk_hashes must list 1..{MAX_CHUNKS} hashes")
        chunk_hashes = tuple(_hex32(h, f"chunk_hashes[{i}]") for i, h in enumerate(hashes))
        return cls(chain_id, height, app_hash, block_time_ns, entries, chunk_hashes)


def _uint(value: Any, name: str, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value < 1 << 63:
        raise SnapshotError(f"metadata {name} must be an integer >= {minimum}, got {value!r:.80}")
    return value


def _hex32(value: Any, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SnapshotError(f"metadata {name} must be 32 bytes of hex, got {value!r:.80}")
    return raw


# -- records -------------------------------------------------------------------------------------


def encode_record(key: bytes, value: bytes) -> bytes:
    """One record: ``u32be(len key) key u32be(len value) value``."""
    return b"".join((len(key).to_bytes(_LEN, "big"), key, len(value).to_bytes(_LEN, "big"), value))


def decode_records(raw: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    """The records of one decompressed chunk, checked.

    ``after`` is the last key of the previous chunk (b"" for the first):
    keys must ascend strictly across the whole snapshot, so no key can be
    given twice.

    Raises:
        SnapshotError: truncated or malformed records, or keys out of order.
    """
    out: list[tuple[bytes, bytes]] = []
    append = out.append
    pos, end, last = 0, len(raw), after
    while pos < end:
        if pos + _LEN > end:
            raise SnapshotError(f"record at byte {pos} is truncated (key length)")
        klen = int.from_bytes(raw[pos : pos + _LEN], "big")
        if not 1 <= klen <= MAX_KEY_LEN:
            raise SnapshotError(f"record at byte {pos}: key length {klen} not in 1..{MAX_KEY_LEN}")
        kend = pos + _LEN + klen
        if kend + _LEN > end:
            raise SnapshotError(f"record at byte {pos} is truncated (key or value length)")
        vlen = int.from_bytes(raw[kend : kend + _LEN], "big")
        vend = kend + _LEN + vlen
        if vlen < 1 or vend > end:
            raise SnapshotError(f"record at byte {pos}: value length {vlen} is 0 or past the end")
        key = raw[pos + _LEN : kend]
        if key <= last:
            raise SnapshotError(
                f"record at byte {pos}: key {key.hex()} is not after the previous key {last.hex()}"
            )
        append((key, raw[kend + _LEN : vend]))
        last = key
        pos = vend
    return out


def decompress_chunk(chunk: bytes) -> bytes:
    """Inflate a chunk, refusing anything that would grow past MAX_CHUNK_RAW.

    Raises:
        SnapshotError: not zlib data, trailing bytes, or too large.
    """
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(chunk, MAX_CHUNK_RAW + 1)
    except zlib.error as exc:
        raise SnapshotError(f"chunk is not zlib data: {exc}") from None
    if len(raw) > MAX_CHUNK_RAW or inflater.unconsumed_tail:
        raise SnapshotError(f"chunk inflates to more than {MAX_CHUNK_RAW} bytes")
    if not inflater.eof or inflater.unused_data:
        raise SnapshotError("chunk is truncated or has bytes after its zlib stream")
    return raw


def iter_chunks(
    entries: Iterable[tuple[bytes, bytes]], chunk_bytes: int = CHUNK_BYTES
) -> Iterator[tuple[bytes, int]]:
    """(compressed chunk, number of records) for ``entries``, in order.

    A chunk closes once its records reach ``chunk_bytes``; an empty state
    still gives one (empty) chunk, since CometBFT needs at least one.
    """
    parts: list[bytes] = []
    size = count = 0
    produced = False
    for key, value in entries:
        record = encode_record(key, value)
        if len(record) > MAX_RECORD_BYTES:
            raise SnapshotError(
                f"key {key[:32].hex()}... has a record of {len(record)} bytes, "
                f"more than a snapshot chunk may hold ({MAX_RECORD_BYTES})"
            )
        parts.append(record)
        size += len(record)
        count += 1
        if size >= chunk_bytes:
            yield zlib.compress(b"".join(parts), COMPRESS_LEVEL), count
            parts, size, count, produced = [], 0, 0, True
    if parts or not produced:
        yield zlib.compress(b"".join(parts), COMPRESS_LEVEL), count


# -- taking snapshots ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """A complete snapshot on disk."""

    path: Path
    metadata: Metadata
    raw_metadata: bytes

    @property
    def height(self) -> int:
        return self.metadata.height

    @property
    def size(self) -> int:
        """Bytes of all chunks."""
        return sum(p.stat().st_size for p in self.path.glob("chunk-*"))

    def to_abci(self) -> abci.Snapshot:
        return abci.Snapshot(
            height=self.metadata.height,
            format=FORMAT,
            chunks=len(self.metadata.chunk_hashes),
            hash=hashlib.sha256(self.raw_metadata).digest(),
            metadata=self.raw_metadata,
        )


def chunk_path(directory: Path, index: int) -> Path:
    return directory / f"chunk-{index:06d}"


def write_snapshot(
    root: Path,
    entries: Iterable[tuple[bytes, bytes]],
    *,
    chain_id: str,
    height: int,
    app_hash: bytes,
    block_time_ns: int,
    chunk_bytes: int = CHUNK_BYTES,
    cancelled: Callable[[], bool] = lambda: False,
) -> SnapshotInfo:
    """Write a snapshot of ``entries`` (the state at ``height``) under ``root``.

    Chunks go to a temporary directory renamed to ``root/<height>`` once
    the metadata is written and everything is flushed to disk.

    Raises:
        SnapshotError: the snapshot exists already, was cancelled, or a
            record is too large; nothing is left behind.
        OSError: writing failed; nothing is left behind.
    """
    final = root / str(height)
    if final.exists():
        raise SnapshotError(f"a snapshot at height {height} exists already in {final}")
    tmp = root / f"{TMP_PREFIX}{height}-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        hashes: list[bytes] = []
        total = 0
        for chunk, count in iter_chunks(entries, chunk_bytes):
            if cancelled():
                raise SnapshotError(f"snapshot at height {height} cancelled")
            if len(hashes) >= MAX_CHUNKS:
                raise SnapshotError(f"the state needs more than {MAX_CHUNKS} chunks")
            _write_synced(chunk_path(tmp, len(hashes)), chunk)
            hashes.append(hashlib.sha256(chunk).digest())
            total += count
        metadata = Metadata(chain_id, height, app_hash, block_time_ns, total, tuple(hashes))
        raw = metadata.encode()
        _write_synced(tmp / METADATA_FILE, raw)
        tmp.rename(final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SnapshotInfo(final, metadata, raw)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_snapshot(path: Path) -> SnapshotInfo:
    """A complete snapshot directory, checked for its metadata and chunk files.

    Raises:
        SnapshotError: the directory is not a complete format-1 snapshot.
    """
    try:
        raw = (path / METADATA_FILE).read_bytes()
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read {METADATA_FILE}: {exc}") from None
    metadata = Metadata.decode(raw)
    if path.name != str(metadata.height):
        raise SnapshotError(f"{path}: directory name is not its height {metadata.height}")
    missing = [i for i in range(len(metadata.chunk_hashes)) if not chunk_path(path, i).is_file()]
    if missing:
        raise SnapshotError(f"{path}: chunk files {missing[:5]} are missing")
    return SnapshotInfo(path, metadata, raw)


def genesis_chain_id(path: Path) -> str | None:
    """The chain id in a CometBFT genesis file, or None if it cannot be read."""
    try:
        with path.open("rb") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        log.info("no chain id from %s (%s): snapshots of any chain are accepted", path, exc)
        return None
    chain_id = doc.get("chain_id") if isinstance(doc, dict) else None
    return chain_id if isinstance(chain_id, str) and chain_id else None


# -- restoring -------------------------------------------------------------------------------------


@dataclass
class _Restore:
    """A snapshot being restored: accepted by OfferSnapshot, fed by ApplySnapshotChunk."""

    snapshot: abci.Snapshot
    metadata: Metadata
    trusted_app_hash: bytes
    started: float
    next_index: int = 0
    last_key: bytes = b""
    writes: dict[bytes, bytes] = field(default_factory=dict)
    # Verified chunks that arrived ahead of their turn (CometBFT applies in
    # order, so this stays empty in practice).
    ahead: dict[int, bytes] = field(default_factory=dict)


def _chunk_response(
    result: Any, refetch: Iterable[int] = (), reject: Iterable[str] = ()
) -> abci.ResponseApplySnapshotChunk:
    return abci.ResponseApplySnapshotChunk(
        result=result, refetch_chunks=list(refetch), reject_senders=[s for s in reject if s]
    )


class SnapshotStore:
    """Takes, lists and serves this node's snapshots, and restores one on a new node.

    Parameters:
        directory: where snapshots live (HOME/data/snapshots).
        interval: take a snapshot after each height divisible by it (0 = never).
        keep_recent: how many of the newest snapshots to keep (>= 1).
        expected_chain_id: if known (the node's genesis.json), snapshots of
            another chain are refused: the chain id is not part of the app
            hash, so nothing else would catch a peer that lies about it.
        chunk_bytes: record bytes per chunk (tests use small ones).

    ``after_commit``, ``list``, ``load_chunk``, ``offer`` and ``apply_chunk``
    run on the ABCI thread; one background thread writes snapshots.
    """

    def __init__(
        self,
        directory: Path,
        *,
        interval: int = 0,
        keep_recent: int = 2,
        expected_chain_id: str | None = None,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        if interval < 0:
            raise ValueError(f"snapshot interval must be >= 0, got {interval}")
        if keep_recent < 1:
            raise ValueError(f"snapshot_keep_recent must be >= 1, got {keep_recent}")
        if not 1 <= chunk_bytes <= CHUNK_BYTES:
            raise ValueError(f"chunk_bytes must be in 1..{CHUNK_BYTES}, got {chunk_bytes}")
        self.directory = Path(directory)
        self.interval = interval
        self.keep_recent = keep_recent
        self.expected_chain_id = expected_chain_id
        self.chunk_bytes = chunk_bytes
        self._lock = threading.Lock()
        self._snapshots: dict[int, SnapshotInfo] = {}
        self._worker: threading.Thread | None = None
        self._cancel = threading.Event()
        self._restore: _Restore | None = None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._load()

    def _load(self) -> None:
        for path in sorted(self.directory.iterdir()):
            if path.name.startswith(TMP_PREFIX):
                log.info("removing an unfinished snapshot %s", path)
                shutil.rmtree(path, ignore_errors=True)
                continue
            if not path.is_dir():
                continue
            try:
                info = read_snapshot(path)
            except SnapshotError as exc:
                log.warning("ignoring snapshot directory %s: %s", path, exc)
                continue
            self._snapshots[info.height] = info
        if self._snapshots:
            log.info("snapshots on disk at heights %s", sorted(self._snapshots))

    # -- taking ------------------------------------------------------------------------------

    def after_commit(self, chain: Chain, height: int) -> None:
        """Called after each Commit: start a snapshot of ``height`` if it is due."""
        if not self.interval or height % self.interval:
            return
        if self._worker is not None and self._worker.is_alive():
            log.warning(
                "snapshot at height %d skipped: the previous snapshot is still being written",
                height,
            )
            return
        if height in self._snapshots:
            return
        # Pinned here, on the ABCI thread, right after Commit: the iterator
        # reads version `height` through one LevelDB snapshot whatever is
        # committed while the thread runs.
        entries = chain.store.iterate(b"", version=height)
        job = {
            "entries": entries,
            "chain_id": chain.chain_id,
            "height": height,
            "app_hash": chain.store.root(height),
            "block_time_ns": chain.last_block_time_ns,
        }
        self._worker = threading.Thread(
            target=self._take, args=(job,), name=f"snapshot-{height}", daemon=True
        )
        self._worker.start()

    def _take(self, job: dict[str, Any]) -> None:
        height = job["height"]
        started = time.perf_counter()
        try:
            info = write_snapshot(
                self.directory,
                job["entries"],
                chain_id=job["chain_id"],
                height=height,
                app_hash=job["app_hash"],
                block_time_ns=job["block_time_ns"],
                chunk_bytes=self.chunk_bytes,
                cancelled=self._cancel.is_set,
            )
        except SnapshotError as exc:
            log.error("snapshot at height %d not taken: %s", height, exc)
            return
        except Exception:
            log.exception("snapshot at height %d failed", height)
            return
        with self._lock:
            self._snapshots[height] = info
            old = sorted(self._snapshots)[: -self.keep_recent]
            pruned = [self._snapshots.pop(h) for h in old]
        for gone in pruned:
            shutil.rmtree(gone.path, ignore_errors=True)
        log.info(
            "snapshot at height %d: %d entries in %d chunks, %d bytes, hash %s, in %.2f s%s",
            height,
            info.metadata.entries,
            len(info.metadata.chunk_hashes),
            info.size,
            hashlib.sha256(info.raw_metadata).hexdigest().upper(),
            time.perf_counter() - started,
            f"; pruned {[g.height for g in pruned]}" if pruned else "",
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the snapshot being written, if any; False if it is still running."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def close(self) -> None:
        """Stop a snapshot being written (it is discarded) and wait for the thread.

        Call before closing the store: the thread reads it.
        """
        self._cancel.set()
        self.wait()

    # -- serving -------------------------------------------------------------------------------

    def snapshots(self) -> list[SnapshotInfo]:
        """Complete snapshots, oldest first."""
        with self._lock:
            return [self._snapshots[h] for h in sorted(self._snapshots)]

    def list(self) -> list[abci.Snapshot]:
        """ListSnapshots: every complete snapshot, newest first."""
        return [info.to_abci() for info in reversed(self.snapshots())]

    def load_chunk(self, height: int, fmt: int, index: int) -> bytes:
        """LoadSnapshotChunk: the chunk's bytes, or b"" (CometBFT: missing) if unknown."""
        with self._lock:
            info = self._snapshots.get(height)
        if fmt != FORMAT or info is None or not 0 <= index < len(info.metadata.chunk_hashes):
            log.info(
                "asked for chunk %d of snapshot %d format %d, which we do not have",
                index,
                height,
                fmt,
            )
            return b""
        try:
            return chunk_path(info.path, index).read_bytes()
        except OSError as exc:  # pruned meanwhile
            log.info("chunk %d of snapshot %d is gone: %s", index, height, exc)
            return b""

    # -- restoring -----------------------------------------------------------------------------

    def offer(self, chain: Chain, snapshot: abci.Snapshot, app_hash: bytes) -> int:
        """OfferSnapshot: accept ``snapshot`` for restore, or say why not.

        ``app_hash`` is the app hash at the snapshot's height as CometBFT's
        light client verified it.
        """
        if self._restore is not None:
            log.info(
                "dropping the restore of snapshot %d for a new offer", self._restore.metadata.height
            )
            self._restore = None
        try:
            result, why = self._check_offer(chain, snapshot, app_hash)
        except Exception:  # a bug here must not take the node down
            log.exception("offer of snapshot at height %d failed", snapshot.height)
            return Result.REJECT
        if result != Result.ACCEPT:
            log.warning(
                "rejecting snapshot at height %d format %d (%s): %s",
                snapshot.height,
                snapshot.format,
                Result.Name(result),
                why,
            )
        return result

    def _check_offer(
        self, chain: Chain, snapshot: abci.Snapshot, app_hash: bytes
    ) -> tuple[int, str]:
        if snapshot.format != FORMAT:
            return Result.REJECT_FORMAT, f"this app restores format {FORMAT} only"
        if chain.height:
            return Result.REJECT, (
                f"the app already holds state at height {chain.height}; state sync needs an "
                "empty node (remove HOME/data to start over)"
            )
        if snapshot.height < 1:
            return Result.REJECT, "height 0"
        try:
            metadata = Metadata.decode(snapshot.metadata)
        except SnapshotError as exc:
            return Result.REJECT, f"bad metadata: {exc}"
        if hashlib.sha256(snapshot.metadata).digest() != snapshot.hash:
            return Result.REJECT, "the snapshot hash is not the SHA-256 of its metadata"
        if metadata.height != snapshot.height:
            return Result.REJECT, (
                f"metadata height {metadata.height} != snapshot height {snapshot.height}"
            )
        if len(metadata.chunk_hashes) != snapshot.chunks:
            return Result.REJECT, (
                f"metadata lists {len(metadata.chunk_hashes)} chunks, the snapshot {snapshot.chunks}"
            )
        if metadata.app_hash != app_hash:
            return Result.REJECT, (
                f"metadata app hash {metadata.app_hash.hex().upper()} != trusted app hash "
                f"{app_hash.hex().upper()}"
            )
        if self.expected_chain_id is not None and metadata.chain_id != self.expected_chain_id:
            return Result.REJECT, (
                f"snapshot of chain {metadata.chain_id!r}, this node's genesis is "
                f"{self.expected_chain_id!r}"
            )
        self._restore = _Restore(snapshot, metadata, app_hash, time.perf_counter())
        log.info(
            "restoring snapshot at height %d: %d chunks, %d entries, chain %s",
            metadata.height,
            snapshot.chunks,
            metadata.entries,
            metadata.chain_id,
        )
        return Result.ACCEPT, ""

    def apply_chunk(
        self, chain: Chain, index: int, chunk: bytes, sender: str
    ) -> abci.ResponseApplySnapshotChunk:
        """ApplySnapshotChunk: check chunk ``index`` and, after the last, restore."""
        restore = self._restore
        if restore is None:
            log.error("chunk %d from %s applied while no snapshot is being restored", index, sender)
            return _chunk_response(ChunkResult.ABORT)
        try:
            return self._apply(chain, restore, index, chunk, sender)
        except Exception:  # a bug here must not take the node down
            log.exception(
                "restoring snapshot %d failed at chunk %d", restore.metadata.height, index
            )
            self._restore = None
            return _chunk_response(ChunkResult.REJECT_SNAPSHOT)

    def _apply(
        self, chain: Chain, restore: _Restore, index: int, chunk: bytes, sender: str
    ) -> abci.ResponseApplySnapshotChunk:
        metadata = restore.metadata
        height = metadata.height
        count = len(metadata.chunk_hashes)
        if not 0 <= index < count:
            log.warning("snapshot %d has chunks 0..%d, got chunk %d", height, count - 1, index)
            self._restore = None
            return _chunk_response(ChunkResult.REJECT_SNAPSHOT)
        if hashlib.sha256(chunk).digest() != metadata.chunk_hashes[index]:
            log.warning(
                "chunk %d of snapshot %d from peer %s does not match its hash: fetching it again "
                "from another peer",
                index,
                height,
                sender or "?",
            )
            return _chunk_response(ChunkResult.RETRY, refetch=[index], reject=[sender])
        if index < restore.next_index:
            return _chunk_response(ChunkResult.ACCEPT)  # applied already
        restore.ahead[index] = chunk
        while restore.next_index in restore.ahead:
            data = restore.ahead.pop(restore.next_index)
            try:
                records = decode_records(decompress_chunk(data), restore.last_key)
            except SnapshotError as exc:
                # The chunk is the one the metadata names, so the snapshot
                # itself is bad, whoever sent it.
                log.warning(
                    "snapshot %d is malformed (chunk %d): %s; rejecting it",
                    height,
                    restore.next_index,
                    exc,
                )
                self._restore = None
                return _chunk_response(ChunkResult.REJECT_SNAPSHOT)
            if records:
                restore.writes.update(records)
                restore.last_key = records[-1][0]
            restore.next_index += 1
        if restore.next_index < count:
            return _chunk_response(ChunkResult.ACCEPT)
        return self._finish(chain, restore)

    def _finish(self, chain: Chain, restore: _Restore) -> abci.ResponseApplySnapshotChunk:
        metadata = restore.metadata
        self._restore = None
        if len(restore.writes) != metadata.entries:
            log.warning(
                "snapshot %d holds %d entries, its metadata says %d; rejecting it",
                metadata.height,
                len(restore.writes),
                metadata.entries,
            )
            return _chunk_response(ChunkResult.REJECT_SNAPSHOT)
        try:
            chain.restore(
                metadata.height,
                restore.writes,
                chain_id=metadata.chain_id,
                block_time_ns=metadata.block_time_ns,
                app_hash=restore.trusted_app_hash,
            )
        except RestoreError as exc:
            log.warning("%s; rejecting the snapshot, nothing was kept", exc)
            return _chunk_response(ChunkResult.REJECT_SNAPSHOT)
        log.info(
            "restored snapshot at height %d: %d entries from %d chunks in %.2f s, app hash %s",
            metadata.height,
            metadata.entries,
            len(metadata.chunk_hashes),
            time.perf_counter() - restore.started,
            restore.trusted_app_hash.hex().upper(),
        )
        return _chunk_response(ChunkResult.ACCEPT)
