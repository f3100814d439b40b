"""State-sync snapshots (app/snapshots.py): taking them beside running
commits, serving them, and restoring one on an empty node through the ABCI
adapter, with every way a peer can get it wrong refused without an
exception."""

from __future__ import annotations

import hashlib
import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import app.snapshots as snapshots_mod
from app.abci.adapter import ABCIApplication
from app.chain import Chain
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.tendermint.abci import types_pb2 as abci
from app.snapshots import (
    CHUNK_BYTES,
    FORMAT,
    MAX_CHUNK_RAW,
    Metadata,
    SnapshotError,
    SnapshotInfo,
    SnapshotStore,
    chunk_path,
    decode_records,
    decompress_chunk,
    encode_record,
    read_snapshot,
)
from app.store import Store
from tests.app.market.conftest import ALICE, BOB, DENOM, Market
from tests.app.snapshots.conftest import CHAIN_ID, busy_market

OFFER = abci.ResponseOfferSnapshot
APPLY = abci.ResponseApplySnapshotChunk
SMALL_CHUNKS = 1024  # record bytes per chunk: the busy market's state spans several


# -- helpers ---------------------------------------------------------------------------------------


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Market]:
    m = busy_market(tmp_path / "source")
    yield m
    m.node.close()


@pytest.fixture
def target(tmp_path: Path) -> Iterator[tuple[Chain, SnapshotStore, ABCIApplication]]:
    store = Store(str(tmp_path / "target" / "app.db"), sync=False)
    chain = Chain(store, check_invariants=True)
    snaps = SnapshotStore(tmp_path / "target" / "snapshots")
    yield chain, snaps, ABCIApplication(chain, snapshots=snaps)
    snaps.close()
    store.close()


def take(m: Market, directory: Path, **kw: Any) -> tuple[SnapshotStore, SnapshotInfo]:
    """A snapshot of the node's latest height, as Commit would start it."""
    kw.setdefault("chunk_bytes", SMALL_CHUNKS)
    snaps = SnapshotStore(directory, interval=1, **kw)
    snaps.after_commit(m.node.chain, m.node.height)
    assert snaps.wait(60)
    [info] = [s for s in snaps.snapshots() if s.height == m.node.height]
    return snaps, info


def call(app: ABCIApplication, **request: Any) -> Any:
    [(kind, req)] = request.items()
    return getattr(app.handle(abci.Request(**{kind: req})), kind)


def offer(app: ABCIApplication, snapshot: abci.Snapshot, app_hash: bytes) -> int:
    req = abci.RequestOfferSnapshot(snapshot=snapshot, app_hash=app_hash)
    return int(call(app, offer_snapshot=req).result)


def apply(app: ABCIApplication, index: int, chunk: bytes, sender: str = "peer-a") -> Any:
    req = abci.RequestApplySnapshotChunk(index=index, chunk=chunk, sender=sender)
    return call(app, apply_snapshot_chunk=req)


def chunks_of(snaps: SnapshotStore, info: SnapshotInfo) -> list[bytes]:
    return [
        snaps.load_chunk(info.height, FORMAT, i) for i in range(len(info.metadata.chunk_hashes))
    ]


def forged(
    metadata: Metadata, chunks: list[bytes], **changes: Any
) -> tuple[abci.Snapshot, list[bytes]]:
    """A snapshot whose metadata names exactly ``chunks`` (so every hash checks)."""
    meta = replace(
        metadata,
        chunk_hashes=tuple(hashlib.sha256(c).digest() for c in chunks),
        **changes,
    )
    raw = meta.encode()
    snap = abci.Snapshot(
        height=meta.height,
        format=FORMAT,
        chunks=len(chunks),
        hash=hashlib.sha256(raw).digest(),
        metadata=raw,
    )
    return snap, chunks


def records_chunk(entries: list[tuple[bytes, bytes]]) -> bytes:
    return zlib.compress(b"".join(encode_record(k, v) for k, v in entries))


def restore_all(app: ABCIApplication, snapshot: abci.Snapshot, chunks: list[bytes]) -> list[int]:
    return [int(apply(app, i, c).result) for i, c in enumerate(chunks)]


# -- round trip ------------------------------------------------------------------------------------


def test_snapshot_restores_through_abci_and_the_chain_goes_on(
    source: Market, tmp_path: Path, target: tuple[Chain, SnapshotStore, ABCIApplication]
) -> None:
    node = source.node
    height = node.height
    snaps, info = take(source, tmp_path / "snaps")
    serving = ABCIApplication(node.chain, snapshots=snaps)
    [listed] = call(serving, list_snapshots=abci.RequestListSnapshots()).snapshots
    assert (listed.height, listed.format) == (height, FORMAT)
    assert listed.chunks == len(info.metadata.chunk_hashes) > 3
    assert listed.hash == hashlib.sha256(listed.metadata).digest()
    meta = Metadata.decode(listed.metadata)
    assert meta.chain_id == CHAIN_ID
    assert meta.block_time_ns == node.chain.last_block_time_ns
    assert meta.entries == len(list(node.store.iterate()))

    chain, _, app = target
    trusted = node.store.root(height)
    assert offer(app, listed, trusted) == OFFER.ACCEPT
    results = []
    for i in range(listed.chunks):
        req = abci.RequestLoadSnapshotChunk(height=height, format=FORMAT, chunk=i)
        chunk = call(serving, load_snapshot_chunk=req).chunk
        results.append(int(apply(app, i, chunk).result))
    assert results == [APPLY.ACCEPT] * listed.chunks

    info_resp = call(app, info=abci.RequestInfo())
    assert info_resp.last_block_height == height
    assert info_resp.last_block_app_hash == trusted
    assert list(chain.store.iterate()) == list(node.store.iterate())
    assert chain.store.earliest_version == height  # nothing before the snapshot: no replay
    assert chain.chain_id == CHAIN_ID
    assert chain.last_block_time_ns == node.chain.last_block_time_ns

    # The restored node runs the next blocks exactly as the source does.
    coin = coin_pb2.Coin(denom=DENOM, amount="9")
    tx = node.sign(BOB, ("send", bank_pb2.MsgSend(to_address=ALICE.address, amount=[coin])))
    assert chain.check_tx(tx).code == 0
    for txs in ([tx], []):
        expected = node.commit_block(txs)
        got = chain.finalize_block(node.height, node.time_ns, txs)
        assert got.app_hash == expected.app_hash
        assert (
            [r.code for r in got.tx_results]
            == [r.code for r in expected.tx_results]
            == ([0] * len(txs))
        )
        chain.commit()
    assert chain.height == node.height


def test_every_validator_writes_the_same_snapshot(tmp_path: Path) -> None:
    a = busy_market(tmp_path / "a")
    b = busy_market(tmp_path / "b")
    try:
        _, one = take(a, tmp_path / "sa")
        _, two = take(b, tmp_path / "sb")
        assert one.raw_metadata == two.raw_metadata
        assert one.to_abci() == two.to_abci()
    finally:
        a.node.close()
        b.node.close()


def test_empty_state_gives_one_chunk(tmp_path: Path) -> None:
    with Store(str(tmp_path / "db"), sync=False) as store:
        info = snapshots_mod.write_snapshot(
            tmp_path / "s",
            store.iterate(),
            chain_id="c",
            height=3,
            app_hash=bytes(32),
            block_time_ns=0,
        )
    assert len(info.metadata.chunk_hashes) == 1
    assert info.metadata.entries == 0
    assert decode_records(decompress_chunk(chunk_path(info.path, 0).read_bytes()), b"") == []


def test_chunks_stay_under_cometbfts_message_limit() -> None:
    # statesync/messages.go: chunkMsgSize = 16e6 for the whole chunk message.
    assert MAX_CHUNK_RAW + 1024 < 16_000_000
    assert CHUNK_BYTES <= 8 << 20


# -- refusals: chunks ------------------------------------------------------------------------------


def test_bad_chunk_is_fetched_again_from_another_peer(
    source: Market, tmp_path: Path, target: tuple[Chain, SnapshotStore, ABCIApplication]
) -> None:
    snaps, info = take(source, tmp_path / "snaps")
    chunks = chunks_of(snaps, info)
    chain, _, app = target
    trusted = source.node.store.root(info.height)
    assert offer(app, info.to_abci(), trusted) == OFFER.ACCEPT
    assert apply(app, 0, chunks[0]).result == APPLY.ACCEPT
    bad = apply(app, 1, chunks[1][:-1] + bytes([chunks[1][-1] ^ 1]), sender="liar")
    assert bad.result == APPLY.RETRY
    assert list(bad.refetch_chunks) == [1]
    assert list(bad.reject_senders) == ["liar"]
    assert chain.height == 0
    results = [int(apply(app, i, c, sender="honest").result) for i, c in enumerate(chunks)][1:]
    assert results == [APPLY.ACCEPT] * (len(chunks) - 1)
    assert chain.height == info.height
    assert chain.app_hash() == trusted


def test_chunk_out_of_range_and_apply_without_offer(
    source: Market, tmp_path: Path, target: tuple[Chain, SnapshotStore, ABCIApplication]
) -> None:
    _, info = take(source, tmp_path / "snaps")
    chain, _, app = target
    assert apply(app, 0, b"x").result == APPLY.ABORT  # nothing offered
    assert offer(app, info.to_abci(), source.node.store.root(info.height)) == OFFER.ACCEPT
    assert apply(app, 999, b"x").result == APPLY.REJECT_SNAPSHOT
    assert chain.height == 0


@pytest.mark.parametrize(
    ("name", "chunks"),
    [
        ("not zlib", [b"\x00garbage"]),
        ("truncated zlib", [zlib.compress(encode_record(b"k", b"v"))[:-3]]),
        ("bytes after the stream", [zlib.compress(encode_record(b"k", b"v")) + b"!"]),
        ("truncated record", [zlib.compress(encode_record(b"k", b"value")[:-2])]),
        ("empty key", [zlib.compress(b"\x00\x00\x00\x00\x00\x00\x00\x01v")]),
        ("empty value", [zlib.compress(b"\x00\x00\x00\x01k\x00\x00\x00\x00")]),
        ("keys out of order", [records_chunk([(b"b", b"1"), (b"a", b"1")])]),
        (
            "key repeated across chunks",
            [records_chunk([(b"a", b"1")]), records_chunk([(b"a", b"2")])],
        ),
        ("zip bomb", [zlib.compress(b"\x00" * (MAX_CHUNK_RAW + 10), 9)]),
    ],
)
def test_malformed_chunk_rejects_the_snapshot(
    name: str,
    chunks: list[bytes],
    source: Market,
    tmp_path: Path,
    target: tuple[Chain, SnapshotStore, ABCIApplication],
    caplog: pytest.LogCaptureFixture,
) -> None:
    snaps, info = take(source, tmp_path / "snaps")
    trusted = source.node.store.root(info.height)
    snapshot, chunks = forged(info.metadata, chunks)
    chain, _, app = target
    assert offer(app, snapshot, trusted) == OFFER.ACCEPT
    with caplog.at_level(logging.WARNING, logger="mgrid.snapshots"):
        results = restore_all(app, snapshot, chunks)
    assert results[-1] == APPLY.REJECT_SNAPSHOT, name
    assert "malformed" in caplog.text
    assert chain.height == 0
    # The genuine snapshot can be restored after it.
    assert offer(app, info.to_abci(), trusted) == OFFER.ACCEPT
    assert set(restore_all(app, info.to_abci(), chunks_of(snaps, info))) == {APPLY.ACCEPT}
    assert chain.app_hash() == trusted


def test_wrong_app_hash_is_rejected_and_nothing_is_kept(
    source: Market,
    tmp_path: Path,
    target: tuple[Chain, SnapshotStore, ABCIApplication],
    caplog: pytest.LogCaptureFixture,
) -> None:
    snaps, info = take(source, tmp_path / "snaps")
    node = source.node
    trusted = node.store.root(info.height)
    entries = list(node.store.iterate(version=info.height))
    key, value = entries[len(entries) // 2]
    entries[len(entries) // 2] = (key, value + b"0")  # one balance a little larger
    snapshot, chunks = forged(info.metadata, [records_chunk(entries)])
    chain, _, app = target
    assert offer(app, snapshot, trusted) == OFFER.ACCEPT  # the metadata claims the trusted hash
    with caplog.at_level(logging.WARNING, logger="mgrid.snapshots"):
        assert restore_all(app, snapshot, chunks) == [APPLY.REJECT_SNAPSHOT]
    assert f"not the trusted app hash {trusted.hex().upper()}" in caplog.text
    assert chain.height == 0
    assert list(chain.store.iterate()) == []
    assert call(app, info=abci.RequestInfo()).last_block_height == 0
    # Another snapshot can be tried.
    assert offer(app, info.to_abci(), trusted) == OFFER.ACCEPT
    assert set(restore_all(app, info.to_abci(), chunks_of(snaps, info))) == {APPLY.ACCEPT}
    assert chain.height == info.height


def test_entry_count_must_match_metadata(
    source: Market, tmp_path: Path, target: tuple[Chain, SnapshotStore, ABCIApplication]
) -> None:
    _, info = take(source, tmp_path / "snaps")
    entries = list(source.node.store.iterate(version=info.height))
    snapshot, chunks = forged(info.metadata, [records_chunk(entries)], entries=len(entries) + 1)
    _, _, app = target
    assert offer(app, snapshot, source.node.store.root(info.height)) == OFFER.ACCEPT
    assert restore_all(app, snapshot, chunks) == [APPLY.REJECT_SNAPSHOT]


# -- refusals: offers ------------------------------------------------------------------------------


def _bad_offers(info: SnapshotInfo, trusted: bytes) -> dict[str, tuple[abci.Snapshot, bytes, int]]:
    good = info.to_abci()

    def changed(**fields: Any) -> abci.Snapshot:
        snap = abci.Snapshot()
        snap.CopyFrom(good)
        for name, value in fields.items():
            setattr(snap, name, value)
        return snap

    def with_metadata(raw: bytes, **fields: Any) -> abci.Snapshot:
        return changed(metadata=raw, hash=hashlib.sha256(raw).digest(), **fields)

    meta = info.metadata
    return {
        "format 2": (changed(format=2), trusted, OFFER.REJECT_FORMAT),
        "height 0": (changed(height=0), trusted, OFFER.REJECT),
        "metadata not JSON": (with_metadata(b"\xff{"), trusted, OFFER.REJECT),
        "metadata a list": (with_metadata(b"[1,2]"), trusted, OFFER.REJECT),
        "metadata deeply nested": (with_metadata(b"[" * 100_000), trusted, OFFER.REJECT),
        "metadata field missing": (
            with_metadata(meta.encode().replace(b'"entries"', b'"entrees"')),
            trusted,
            OFFER.REJECT,
        ),
        "metadata negative entries": (
            with_metadata(replace(meta, entries=-1).encode()),
            trusted,
            OFFER.REJECT,
        ),
        "metadata no chunks": (
            with_metadata(replace(meta, chunk_hashes=()).encode(), chunks=0),
            trusted,
            OFFER.REJECT,
        ),
        "hash is not of the metadata": (changed(hash=bytes(32)), trusted, OFFER.REJECT),
        "chunk count differs": (changed(chunks=good.chunks + 1), trusted, OFFER.REJECT),
        "metadata height differs": (
            with_metadata(replace(meta, height=meta.height + 1).encode()),
            trusted,
            OFFER.REJECT,
        ),
        "untrusted app hash": (good, bytes(32), OFFER.REJECT),
    }


@pytest.mark.parametrize(
    "case",
    [
        "format 2",
        "height 0",
        "metadata not JSON",
        "metadata a list",
        "metadata deeply nested",
        "metadata field missing",
        "metadata negative entries",
        "metadata no chunks",
        "hash is not of the metadata",
        "chunk count differs",
        "metadata height differs",
        "untrusted app hash",
    ],
)
def test_bad_offers_are_refused_with_a_reason(
    case: str,
    source: Market,
    tmp_path: Path,
    target: tuple[Chain, SnapshotStore, ABCIApplication],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, info = take(source, tmp_path / "snaps")
    snapshot, trusted, expected = _bad_offers(info, source.node.store.root(info.height))[case]
    _, _, app = target
    with caplog.at_level(logging.WARNING, logger="mgrid.snapshots"):
        assert offer(app, snapshot, trusted) == expected
    assert "rejecting snapshot" in caplog.text
    assert apply(app, 0, b"").result == APPLY.ABORT  # nothing is being restored


def test_snapshot_of_another_chain_is_refused(source: Market, tmp_path: Path) -> None:
    _, info = take(source, tmp_path / "snaps")
    with Store(str(tmp_path / "t"), sync=False) as store:
        snaps = SnapshotStore(tmp_path / "ts", expected_chain_id="mg-other")
        app = ABCIApplication(Chain(store), snapshots=snaps)
        assert offer(app, info.to_abci(), source.node.store.root(info.height)) == OFFER.REJECT


def test_a_node_with_state_refuses_snapshots(source: Market, tmp_path: Path) -> None:
    snaps, info = take(source, tmp_path / "snaps")
    app = ABCIApplication(source.node.chain, snapshots=snaps)
    assert offer(app, info.to_abci(), source.node.store.root(info.height)) == OFFER.REJECT


def test_without_a_snapshot_store_offers_are_rejected(source: Market) -> None:
    app = ABCIApplication(source.node.chain)
    assert call(app, list_snapshots=abci.RequestListSnapshots()).snapshots == []
    assert offer(app, abci.Snapshot(height=1, format=1, chunks=1), b"") == OFFER.REJECT


def test_unknown_chunks_are_missing(source: Market, tmp_path: Path) -> None:
    snaps, info = take(source, tmp_path / "snaps")
    assert snaps.load_chunk(info.height, FORMAT, 0) == chunk_path(info.path, 0).read_bytes()
    assert snaps.load_chunk(info.height, 2, 0) == b""
    assert snaps.load_chunk(info.height + 1, FORMAT, 0) == b""
    assert snaps.load_chunk(info.height, FORMAT, len(info.metadata.chunk_hashes)) == b""


# -- taking snapshots --------------------------------------------------------------------------------


def test_interval_and_pruning_of_old_snapshots(source: Market, tmp_path: Path) -> None:
    node = source.node
    snaps = SnapshotStore(tmp_path / "snaps", interval=3, keep_recent=2, chunk_bytes=SMALL_CHUNKS)
    taken = []
    for _ in range(10):
        node.commit_block([])
        snaps.after_commit(node.chain, node.height)
        assert snaps.wait(60)
        if node.height % 3 == 0:
            taken.append(node.height)
    assert len(taken) >= 3
    assert [s.height for s in snaps.snapshots()] == taken[-2:]
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir()) == sorted(
        str(h) for h in taken[-2:]
    )
    assert [s.height for s in snaps.list()] == taken[-2:][::-1]  # newest first


def test_restart_lists_complete_snapshots_and_drops_half_written_ones(
    source: Market, tmp_path: Path
) -> None:
    _, info = take(source, tmp_path / "snaps")
    half = tmp_path / "snaps" / f"{snapshots_mod.TMP_PREFIX}{info.height + 5}-1-1"
    half.mkdir()
    (half / "chunk-000000").write_bytes(b"partial")
    broken = tmp_path / "snaps" / "77"
    broken.mkdir()
    (broken / snapshots_mod.METADATA_FILE).write_bytes(b"{")
    again = SnapshotStore(tmp_path / "snaps")
    assert [s.height for s in again.snapshots()] == [info.height]
    assert again.list()[0] == info.to_abci()
    assert not half.exists()
    with pytest.raises(SnapshotError):
        read_snapshot(broken)


def test_snapshot_reads_its_version_while_commits_go_on(
    source: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot thread reads version H even when later blocks change the
    same keys and H itself is pruned before it reads a single entry."""
    node = source.node
    node.store._keep_recent = 1  # white-box: prune everything but the latest version
    height = node.height
    expected = list(node.store.iterate(version=height))
    go = threading.Event()
    real: Callable[..., Any] = snapshots_mod.iter_chunks

    def held(entries: Any, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
        assert go.wait(60)
        yield from real(entries, chunk_bytes)

    monkeypatch.setattr(snapshots_mod, "iter_chunks", held)
    snaps = SnapshotStore(tmp_path / "snaps", interval=1, chunk_bytes=SMALL_CHUNKS)
    snaps.after_commit(node.chain, height)
    coin = coin_pb2.Coin(denom=DENOM, amount="1000")
    for _ in range(3):
        tx = node.sign(BOB, ("send", bank_pb2.MsgSend(to_address=ALICE.address, amount=[coin])))
        assert node.deliver(tx).code == 0
    assert node.store.earliest_version > height
    assert list(node.store.iterate()) != expected
    go.set()
    assert snaps.wait(60)
    [info] = snaps.snapshots()
    got: list[tuple[bytes, bytes]] = []
    for i in range(len(info.metadata.chunk_hashes)):
        raw = decompress_chunk(chunk_path(info.path, i).read_bytes())
        got += decode_records(raw, got[-1][0] if got else b"")
    assert got == expected
    assert info.metadata.app_hash == Metadata.decode(info.raw_metadata).app_hash


def test_commits_do_not_wait_for_a_snapshot(
    source: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = source.node
    go = threading.Event()
    real = snapshots_mod.iter_chunks

    def held(entries: Any, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
        assert go.wait(60)
        yield from real(entries, chunk_bytes)

    monkeypatch.setattr(snapshots_mod, "iter_chunks", held)
    snaps = SnapshotStore(tmp_path / "snaps", interval=2, chunk_bytes=SMALL_CHUNKS)
    heights: list[int] = []
    while len(heights) < 3:  # the first due height starts a snapshot that is held
        node.commit_block([])
        snaps.after_commit(node.chain, node.height)
        if node.height % 2 == 0:
            heights.append(node.height)
    assert snaps.snapshots() == []  # still being written; the later due heights were skipped
    go.set()
    assert snaps.wait(60)
    assert [s.height for s in snaps.snapshots()] == [heights[0]]


def test_close_cancels_a_snapshot_and_leaves_nothing(
    source: Market, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = source.node
    snaps = SnapshotStore(tmp_path / "snaps", interval=1, chunk_bytes=SMALL_CHUNKS)
    real = snapshots_mod.iter_chunks

    def closing(entries: Any, chunk_bytes: int) -> Iterator[tuple[bytes, int]]:
        chunks = real(entries, chunk_bytes)
        yield next(chunks)
        snaps._cancel.set()  # close() arrives while the snapshot is being written
        yield from chunks

    monkeypatch.setattr(snapshots_mod, "iter_chunks", closing)
    snaps.after_commit(node.chain, node.height)
    snaps.close()
    assert snaps.snapshots() == []
    assert list((tmp_path / "snaps").iterdir()) == []


def test_metadata_round_trip_and_canonical_form() -> None:
    meta = Metadata("mg-1", 10, b"\x01" * 32, 5, 3, (b"\x02" * 32,))
    raw = meta.encode()
    assert Metadata.decode(raw) == meta
    assert b" " not in raw
    assert raw.index(b'"app_hash"') < raw.index(b'"block_time_ns"') < raw.index(b'"chain_id"')


def test_record_decoding_checks_order_against_the_previous_chunk() -> None:
    raw = encode_record(b"b", b"1") + encode_record(b"c", b"2")
    assert decode_records(raw, b"a") == [(b"b", b"1"), (b"c", b"2")]
    with pytest.raises(SnapshotError, match="not after the previous key"):
        decode_records(raw, b"b")
