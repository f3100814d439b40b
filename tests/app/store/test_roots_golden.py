"""Golden roots and on-disk layout of the authenticated store (DESIGN.md
section 3, "State"): the app hash is consensus, so an optimisation of the
tree or the store must reproduce, bit for bit, the roots, proofs and LevelDB
records the store produced when these constants were recorded.

The workload is deterministic (a SHA-256 counter stream, not ``random``, so
it does not depend on the Python version): inserts, updates, deletes, no-op
writes and deletes of absent keys over several versions, batches of 1 to
5,000 keys, keys of 1 to 65,535 bytes, with pruning on.  To re-record after
an *intended* format change, run this file with ``GOLDEN_RECORD=1`` and
``-s`` and paste the printed constants.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.store import Store
from app.store.smt import MAX_KEY_LEN


class _Stream:
    """Deterministic pseudo-random numbers from SHA-256 of a counter."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._n = 0

    def bytes(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._n.to_bytes(8, "big")).digest()
            self._n += 1
        return out[:n]

    def below(self, n: int) -> int:
        return int.from_bytes(self.bytes(8), "big") % n


def _key(rng: _Stream) -> bytes:
    roll = rng.below(100)
    if roll < 5:
        return rng.bytes(1 + rng.below(2))  # very short, collisions likely
    if roll < 15:
        # Zero bytes exercise the history key escaping.
        return b"\x00" + rng.bytes(rng.below(6)) + b"\x00"
    if roll < 20:
        return rng.bytes(100 + rng.below(900))
    return b"mod/" + rng.bytes(1 + rng.below(40))


def _value(rng: _Stream) -> bytes:
    return rng.bytes(1 + rng.below(80))


# (batch size, share of inserts, updates, deletes in percent); the rest of
# each batch are no-op writes (same value) and deletes of absent keys.
_PLAN = [
    (1, 100, 0, 0),
    (2, 100, 0, 0),
    (17, 70, 20, 5),
    (300, 60, 25, 10),
    (5000, 80, 10, 5),
    (1, 0, 100, 0),
    (1200, 30, 40, 25),
    (1, 0, 0, 100),
    (64, 40, 30, 25),
    (2500, 20, 40, 35),
    (7, 30, 30, 30),
    (4000, 10, 10, 75),
]


def _batches() -> list[dict[bytes, bytes | None]]:
    rng = _Stream(b"golden-roots")
    live: dict[bytes, bytes] = {}
    out: list[dict[bytes, bytes | None]] = []
    for size, ins, upd, dele in _PLAN:
        writes: dict[bytes, bytes | None] = {}
        keys = sorted(live)
        for _ in range(size):
            roll = rng.below(100)
            if roll < ins or not keys:
                key = _key(rng)
                writes[key] = _value(rng)
            elif roll < ins + upd:
                key = keys[rng.below(len(keys))]
                writes[key] = _value(rng)
            elif roll < ins + upd + dele:
                writes[keys[rng.below(len(keys))]] = None
            elif roll % 2:
                key = keys[rng.below(len(keys))]
                writes[key] = live[key]  # not a change
            else:
                writes[b"absent/" + rng.bytes(8)] = None  # not a change
        for key, value in writes.items():
            if value is None:
                live.pop(key, None)
            else:
                live[key] = value
        out.append(writes)
    # The longest key there is, then a batch emptying the tree but for three
    # keys (compaction all the way up), then refilling it.
    out.append({b"L" * (MAX_KEY_LEN - 1) + b"!": b"long"})
    live[b"L" * (MAX_KEY_LEN - 1) + b"!"] = b"long"
    keep = sorted(live)[:3]
    out.append({key: None for key in sorted(live) if key not in keep})
    out.append({_key(rng): _value(rng) for _ in range(900)})
    return out


# Recorded from the store before its write path was optimised (issue 7).
GOLDEN_ROOTS = [
    "e6ad91738394d5e93189643e5add98301524cb1836ede91591203fe64a003724",
    "4cab79ed0de66b53388b52cbfa73742ddace0530634f20257732a83de44e0855",
    "caccbf7cd8f0d81863382ee48f0d1217f8e182ad2cce36b0382798ad9df6c3fa",
    "15ee3bea748a247d00f6e717ab3765454fd8bfbece269941b1986c7c23676b9f",
    "1d4f02095a9c27577cb8c12b118ebdae944f073b440c6b5bde332160acd5e8e0",
    "2c4378a5bf047ce6b10a63a47b363bc722d5885e0828f267e7a8b891c236b26f",
    "b88c35e6f49c5eda9ce2d499901516a36764d2c21bdba395e392046c24c4b581",
    "b88c35e6f49c5eda9ce2d499901516a36764d2c21bdba395e392046c24c4b581",
    "73862cd4cba3dbda040cb5155d83dc1cba5e40e83e0224b4c890b49733fc9013",
    "d7ef89c725b359f29129bb06f457d753e42706747ae515b9226e68c7b923e937",
    "ed1356c04e72973a130b2b3b68def3e901fa51ee1f068d2e731e07659847230d",
    "0c7196f937d2c7fc20d5033ef6a0e615b7445b95d119f1d6c1be7c5c55bc825d",
    "99242be68420178e9b142628ecdbbea08e444b761652a54859f59901cd0dc9df",
    "6af782b411915d83eca74d1b10c9d595fc3108ac16ceaaafdef1d3bfebda2acb",
    "bd9f49b6a0995a9f993dceb8aad7cabd20cd91acb9ee6875289d5e6bffa3ad33",
    "e67c1a8f790b1f9cc266a366713dc5820dcf466279a4b859612c550211db6c27",
]
GOLDEN_PROOFS = "c90ca0dfff1888bb2000e5e148cd227d9b9eb98f72235a9230acf2c3959fe7b9"
GOLDEN_DB = "c489b75ef04c4f62b6828be013bd44fffea01f0a30af4830d0b8228bb5607460"


def _proof_digest(s: Store) -> str:
    """SHA-256 over proofs of present and absent keys at two versions."""
    h = hashlib.sha256()
    rng = _Stream(b"golden-proofs")
    for version in (s.version - 2, s.version):
        present = [key for key, _ in s.iterate(version=version)]
        for i in range(0, len(present), max(1, len(present) // 25)):
            h.update(s.prove(present[i], version).SerializeToString(deterministic=True))
        for _ in range(25):
            h.update(s.prove(_key(rng), version).SerializeToString(deterministic=True))
    return h.hexdigest()


def _db_digest(s: Store) -> str:
    h = hashlib.sha256()
    for key, value in s._db.iterator():
        h.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
    return h.hexdigest()


def _run(path: str, page_cache_bytes: int) -> tuple[list[str], str, str]:
    roots: list[str] = []
    with Store(path, keep_recent=3, sync=False, page_cache_bytes=page_cache_bytes) as s:
        for i, writes in enumerate(_batches()):
            if i == 3:
                s.stage({b"replaced": b"by the next stage"})  # dropped
            staged = s.stage(writes)
            s.commit({b"height": i.to_bytes(4, "big")} if i % 2 else None)
            assert s.root() == staged
            roots.append(staged.hex())
            if i == 6:
                s.commit()  # a version with nothing staged
                roots.append(s.root().hex())
        return roots, _proof_digest(s), _db_digest(s)


def test_roots_proofs_and_layout_match_golden(tmp_path: Path) -> None:
    roots, proofs, db = _run(str(tmp_path / "store"), 64 << 20)
    if os.environ.get("GOLDEN_RECORD"):
        print(f"GOLDEN_ROOTS = {roots!r}\nGOLDEN_PROOFS = {proofs!r}\nGOLDEN_DB = {db!r}")
    assert roots == GOLDEN_ROOTS
    assert proofs == GOLDEN_PROOFS
    assert db == GOLDEN_DB


@pytest.mark.parametrize("page_cache_bytes", [0, 1 << 16])
def test_small_page_cache_same_result(tmp_path: Path, page_cache_bytes: int) -> None:
    # No cache (every page read goes to LevelDB) and a cache that rotates
    # its generations many times per commit must agree with a large one.
    roots, proofs, db = _run(str(tmp_path / "store"), page_cache_bytes)
    assert (roots, proofs, db) == (GOLDEN_ROOTS, GOLDEN_PROOFS, GOLDEN_DB)


# Messages as the store raised them when recorded; the first bad entry in
# the mapping's order is the one reported.
_BAD_WRITES: list[tuple[dict[object, object], type[Exception], str]] = [
    ({"k": b"v"}, TypeError, "key must be bytes, got <class 'str'>"),
    ({b"": b"v"}, ValueError, "key is empty (ICS-23 cannot prove empty keys)"),
    ({b"x" * 65536: b"v"}, ValueError, "key is 65536 bytes, more than the maximum 65535"),
    ({b"k": "v"}, TypeError, "value for key b'k' must be bytes, got <class 'str'>"),
    ({b"k": b""}, ValueError, "value for key b'k' is empty (delete with None)"),
    (
        {b"k": bytearray(b"v")},
        TypeError,
        "value for key b'k' must be bytes, got <class 'bytearray'>",
    ),
    ({b"k": 5}, TypeError, "value for key b'k' must be bytes, got <class 'int'>"),
    ({memoryview(b"k"): b"v"}, TypeError, "key must be bytes, got <class 'memoryview'>"),
    ({b"ok": b"v", 7: b"v"}, TypeError, "key must be bytes, got <class 'int'>"),
    (
        {b"a": b"v", b"b": b"", b"c": "x"},
        ValueError,
        "value for key b'b' is empty (delete with None)",
    ),
    (
        {b"a": None, b"b": 1, b"": b"v"},
        TypeError,
        "value for key b'b' must be bytes, got <class 'int'>",
    ),
]


@pytest.mark.parametrize(("writes", "exc", "message"), _BAD_WRITES)
def test_stage_rejects_bad_input_with_same_errors(
    store: Store, writes: dict[bytes, bytes | None], exc: type[Exception], message: str
) -> None:
    with pytest.raises(exc) as info:
        store.stage(writes)
    assert type(info.value) is exc
    assert str(info.value) == message


class _Bytes(bytes):
    pass


def test_stage_accepts_bytes_subclasses(store: Store) -> None:
    plain = store.stage({b"a": b"1", b"b": b"2"})
    assert store.stage({_Bytes(b"a"): _Bytes(b"1"), b"b": _Bytes(b"2")}) == plain


def test_bad_input_keeps_what_was_staged(store: Store) -> None:
    staged = store.stage({b"a": b"1"})
    with pytest.raises(ValueError):
        store.stage({b"b": b""})
    store.commit()
    assert store.root() == staged
