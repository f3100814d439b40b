"""Versions of the store (DESIGN.md section 3: "past heights stay queryable
for a configurable window and are pruned after it"): historical reads and
iteration, pruning of values and tree pages, concurrent readers.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.store import Store, StoreError, VersionNotAvailable
from app.store import keys as k
from app.store.smt import INLINE, LEAF, Ref, decode_node, decode_ref
from ibc.commitment.ics23 import SMT_SPEC, verify_membership, verify_non_membership


def apply(model: dict[bytes, bytes], writes: dict[bytes, bytes | None]) -> dict[bytes, bytes]:
    out = dict(model)
    for key, value in writes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def expected_scan(
    model: dict[bytes, bytes], prefix: bytes, start: bytes | None, reverse: bool
) -> list[tuple[bytes, bytes]]:
    items = sorted((key, v) for key, v in model.items() if key.startswith(prefix))
    if start is not None:
        items = [(key, v) for key, v in items if (key <= start if reverse else key >= start)]
    return items[::-1] if reverse else items


def test_historical_get_and_iterate(store: Store) -> None:
    store.stage({b"a": b"1", b"b": b"1", b"c": b"1"})
    store.commit()
    store.stage({b"a": b"2", b"b": None, b"d": b"2"})
    store.commit()
    store.stage({b"b": b"3", b"c": None})
    store.commit()
    assert store.version == 3
    assert [store.get(b"a", v) for v in (0, 1, 2, 3)] == [None, b"1", b"2", b"2"]
    assert [store.get(b"b", v) for v in (0, 1, 2, 3)] == [None, b"1", None, b"3"]
    assert [store.get(b"c", v) for v in (0, 1, 2, 3)] == [None, b"1", b"1", None]
    assert [store.get(b"d", v) for v in (0, 1, 2, 3)] == [None, None, b"2", b"2"]
    assert list(store.iterate(version=1)) == [(b"a", b"1"), (b"b", b"1"), (b"c", b"1")]
    assert list(store.iterate(version=2)) == [(b"a", b"2"), (b"c", b"1"), (b"d", b"2")]
    assert list(store.iterate(version=3)) == [(b"a", b"2"), (b"b", b"3"), (b"d", b"2")]
    assert list(store.iterate()) == list(store.iterate(version=3))
    assert list(store.iterate(version=2, reverse=True)) == [
        (b"d", b"2"),
        (b"c", b"1"),
        (b"a", b"2"),
    ]
    assert list(store.iterate(version=0)) == []


def test_keys_with_zero_bytes_keep_their_order(store: Store) -> None:
    # History keys escape 0x00; prefixes and order must survive that.
    keys = [b"a", b"a\x00", b"a\x00\x00", b"a\x00\xff", b"a\x01", b"a\xff", b"b", b"\x00"]
    store.stage({key: b"v1" for key in keys})
    store.commit()
    store.stage({key: b"v2" for key in keys[::2]})
    store.commit()
    v1 = {key: b"v1" for key in keys}
    for prefix in (b"", b"a", b"a\x00", b"\x00"):
        assert list(store.iterate(prefix, version=1)) == expected_scan(v1, prefix, None, False)
        assert list(store.iterate(prefix, version=1, reverse=True)) == expected_scan(
            v1, prefix, None, True
        )
    assert store.get(b"a\x00", 1) == b"v1"
    assert store.get(b"a\x00\x00", 1) == b"v1"
    assert store.get(b"a\x00\x00", 2) == b"v2"


def test_unknown_versions_raise(store: Store) -> None:
    store.stage({b"a": b"1"})
    store.commit()
    with pytest.raises(VersionNotAvailable, match=r"version 2 .*0\.\.1"):
        store.get(b"a", 2)
    with pytest.raises(VersionNotAvailable):
        store.root(5)
    with pytest.raises(VersionNotAvailable):
        store.iterate(version=2)  # raised at the call, not on first next()
    with pytest.raises(VersionNotAvailable):
        store.prove(b"a", 2)
    with pytest.raises(VersionNotAvailable):
        store.get(b"a", -1)


OPS = st.lists(
    st.dictionaries(
        st.sampled_from([b"p/a", b"p/b", b"p/\x00", b"p/c/1", b"p/c/2", b"q", b"q\x00", b"r"]),
        st.one_of(st.none(), st.sampled_from([b"1", b"2", b"3"])),
        max_size=6,
    ),
    min_size=1,
    max_size=7,
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=OPS,
    prefix=st.sampled_from([b"", b"p", b"p/", b"p/c", b"q", b"z"]),
    start=st.one_of(st.none(), st.sampled_from([b"", b"p/b", b"p/c", b"q", b"q\x00", b"zz"])),
    reverse=st.booleans(),
)
def test_iterate_matches_model_at_every_version(
    tmp_path: Path, batches, prefix: bytes, start: bytes | None, reverse: bool
) -> None:
    models = [{}]
    path = tmp_path / str(len(list(tmp_path.iterdir())))
    with Store(str(path), sync=False) as s:
        for writes in batches:
            s.stage(writes)
            s.commit()
            models.append(apply(models[-1], writes))
        for version, model in enumerate(models):
            got = list(s.iterate(prefix, version=version, start=start, reverse=reverse))
            assert got == expected_scan(model, prefix, start, reverse)
            for key in (b"p/a", b"p/\x00", b"q\x00", b"r", b"absent"):
                assert s.get(key, version) == model.get(key)


def test_pruning_window(store_path: str) -> None:
    with Store(store_path, keep_recent=2, sync=False) as s:
        for version in range(1, 8):
            s.stage({b"counter": b"%d" % version, b"v%d" % version: b"x"})
            s.commit()
        # keep_recent=2: the latest version and the two before it.
        assert s.version == 7
        assert s.earliest_version == 5
        for version in (5, 6, 7):
            assert s.get(b"counter", version) == b"%d" % version
            assert s.get(b"v4", version) == b"x"
            assert dict(s.iterate(b"v", version=version)) == {
                b"v%d" % i: b"x" for i in range(1, version + 1)
            }
            proof = s.prove(b"counter", version)
            assert verify_membership(SMT_SPEC, s.root(version), proof, b"counter", b"%d" % version)
            proof = s.prove(b"v%d" % (version + 1), version)
            assert verify_non_membership(SMT_SPEC, s.root(version), proof, b"v%d" % (version + 1))
        for version in (0, 1, 4):
            with pytest.raises(VersionNotAvailable, match=r"available versions: 5\.\.7"):
                s.get(b"counter", version)
            with pytest.raises(VersionNotAvailable):
                s.root(version)
    # The window survives a restart.
    with Store(store_path, keep_recent=2, sync=False) as s:
        assert (s.earliest_version, s.version) == (5, 7)


def reachable_pages(s: Store, version: int) -> set[bytes]:
    """LevelDB keys of every page of the tree at ``version`` (white-box)."""
    if version == 0:
        return set()  # the empty initial version has no root record
    db = s._db
    raw = db.get(k.root_key(version))
    assert raw is not None
    root, _ = decode_ref(raw)
    found: set[bytes] = set()

    def visit(ref: Ref | None, depth: int, path: int) -> None:
        if ref is None or ref[1] == LEAF:
            return
        if ref[1] == INLINE:
            left, right = decode_node(ref[2])
        else:
            nkey = k.node_key(path.to_bytes(32, "big"), depth, ref[2])
            found.add(nkey)
            data = db.get(nkey)
            assert data is not None, f"page {nkey.hex()} of version {version} was deleted"
            left, right = decode_node(data)
        visit(left, depth + 1, path)
        visit(right, depth + 1, path | (1 << (255 - depth)))

    visit(root, 0, 0)
    return found


def test_pruning_deletes_exactly_the_unreachable_pages(store_path: str, dump) -> None:
    with Store(store_path, keep_recent=3, sync=False) as s:
        for version in range(1, 30):
            writes: dict[bytes, bytes | None] = {
                b"key%d" % ((version * 7 + i) % 60): b"%d" % version for i in range(15)
            }
            writes[b"key%d" % ((version * 11) % 60)] = None
            s.stage(writes)
            s.commit()
            retained = set()
            for v in range(s.earliest_version, s.version + 1):
                retained |= reachable_pages(s, v)
            stored = {key for key, _ in dump(s) if key[:1] == k.NODE}
            assert stored == retained, f"at version {version}"


def test_db_does_not_grow_under_churn(store_path: str, dump) -> None:
    keys = [b"acct/%d" % i for i in range(200)]
    counts = []
    with Store(store_path, keep_recent=4, sync=False) as s:
        s.stage({key: b"0" for key in keys})
        s.commit()
        for round_ in range(1, 61):
            # Rewrite a rotating third of the keys; delete and re-create some.
            writes: dict[bytes, bytes | None] = {
                keys[(round_ * 37 + i) % 200]: b"%d" % round_ for i in range(70)
            }
            writes[keys[round_ % 200]] = None if round_ % 2 else b"back"
            s.stage(writes)
            s.commit()
            if round_ % 20 == 0:
                counts.append(len(dump(s)))
    # The number of entries is bounded by the window, not by the history.
    assert counts[2] <= counts[0] * 1.1, counts
    # And nothing of a pruned version remains: roots, orphan lists, history.
    with Store(store_path, keep_recent=4, sync=False) as s:
        entries = dump(s)
        versions = [int.from_bytes(key[1:], "big") for key, _ in entries if key[:1] == k.ROOT]
        assert versions == list(range(s.earliest_version, s.version + 1))
        hist = [int.from_bytes(key[-8:], "big") for key, _ in entries if key[:1] == k.HISTORY]
        assert min(hist) > s.earliest_version


def test_keep_everything_by_default(store: Store) -> None:
    for version in range(1, 12):
        store.stage({b"x": b"%d" % version})
        store.commit()
    assert store.earliest_version == 0
    assert [store.get(b"x", v) for v in range(12)] == [None] + [b"%d" % v for v in range(1, 12)]


def test_lowering_keep_recent_catches_up(store_path: str) -> None:
    with Store(store_path, sync=False) as s:
        for version in range(1, 101):
            s.stage({b"x": b"%d" % version})
            s.commit()
    with Store(store_path, keep_recent=1, sync=False) as s:
        s.commit()
        # Pruning is amortised: a bounded number of versions per commit.
        assert s.earliest_version == 64
        s.commit()
        assert s.earliest_version == 101
        assert s.get(b"x", 101) == b"100"
        with pytest.raises(VersionNotAvailable):
            s.get(b"x", 100)


def test_meta_is_latest_only(store: Store) -> None:
    assert store.get_meta(b"height") is None
    store.commit(meta={b"height": b"1", b"hash": b"h1"})
    store.commit(meta={b"height": b"2"})
    assert store.get_meta(b"height") == b"2"
    assert store.get_meta(b"hash") == b"h1"


def test_closed_store_refuses(store_path: str) -> None:
    s = Store(store_path, sync=False)
    s.close()
    with pytest.raises(StoreError):
        s.get(b"a")
    with pytest.raises(StoreError):
        s.stage({b"a": b"1"})
    s.close()  # idempotent


def test_missing_store_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        Store(str(tmp_path / "nope"), create=False)


def test_readers_see_one_version_while_commits_happen(store_path: str) -> None:
    keys = [b"k%03d" % i for i in range(300)]
    errors: list[str] = []
    stop = threading.Event()
    with Store(store_path, keep_recent=3, sync=False) as s:
        s.stage({key: b"0" for key in keys})
        s.commit()

        def reader() -> None:
            # Every commit writes one value to all keys, so a consistent read
            # of the latest version sees a single value everywhere.
            while not stop.is_set():
                values = {v for _, v in s.iterate()}
                if len(values) != 1:
                    errors.append(f"mixed versions in one iteration: {sorted(values)}")
                version = s.version
                try:
                    got = s.get(b"k150", version)
                except VersionNotAvailable:
                    continue  # pruned meanwhile: refused, never wrong
                if got != b"%d" % (version - 1):
                    errors.append(f"version {version}: {got!r}")

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for version in range(2, 60):
                s.stage({key: b"%d" % (version - 1) for key in keys})
                s.commit()
        finally:
            stop.set()
            for t in threads:
                t.join()
    assert errors == []
