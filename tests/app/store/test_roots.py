"""Roots of the sparse Merkle tree (DESIGN.md section 3, "State"): small
cases worked out by hand from the rules, compaction, and history
independence (the root depends only on the final set of pairs).
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.store import Store
from tests.support.smt import ZERO, inner, leaf, sha


def bits(key: bytes, n: int) -> str:
    """First n bits of SHA256(key) as a string, e.g. '01'."""
    return format(int.from_bytes(sha(key), "big"), "0256b")[:n]


def find_key(pattern: str, exclude: tuple[bytes, ...] = ()) -> bytes:
    """First key b'k<i>' whose hash starts with the given bits."""
    for i in itertools.count():
        key = b"k%d" % i
        if key not in exclude and bits(key, len(pattern)) == pattern:
            return key
    raise AssertionError("unreachable")


def commit(s: Store, writes: dict[bytes, bytes | None]) -> bytes:
    staged = s.stage(writes)
    s.commit()
    assert s.root() == staged
    return staged


def test_empty_store_root_is_zero(store: Store) -> None:
    assert store.version == 0
    assert store.root() == ZERO
    assert store.root(0) == ZERO


def test_one_key_root_is_its_leaf(store: Store) -> None:
    # A subtree with exactly one leaf is that leaf, at the root too.
    assert commit(store, {b"alice": b"100"}) == leaf(b"alice", b"100")
    # Spelled out: SHA256(0x00 || SHA256(key) || SHA256(value)).
    expected = hashlib.sha256(
        b"\x00" + hashlib.sha256(b"alice").digest() + hashlib.sha256(b"100").digest()
    ).digest()
    assert store.root() == expected


def test_two_keys_differing_in_first_bit(store: Store) -> None:
    a = find_key("0")
    b = find_key("1")
    assert commit(store, {b: b"B", a: b"A"}) == inner(leaf(a, b"A"), leaf(b, b"B"))


def test_two_keys_sharing_first_bit(store: Store) -> None:
    # Both under the left child of the root; they split at bit 1, so the
    # root's right child is empty and its left child is an inner node.
    a = find_key("00")
    b = find_key("01")
    expected = inner(inner(leaf(a, b"A"), leaf(b, b"B")), ZERO)
    assert commit(store, {a: b"A", b: b"B"}) == expected


def test_shared_prefix_of_three_bits(store: Store) -> None:
    # Paths 110|0 and 110|1: right, right, left, then the split at bit 3;
    # each level above the split has an empty sibling.
    a = find_key("1100")
    b = find_key("1101")
    expected = inner(ZERO, inner(ZERO, inner(inner(leaf(a, b"x"), leaf(b, b"y")), ZERO)))
    assert commit(store, {a: b"x", b: b"y"}) == expected


def test_three_keys_leaf_sits_at_shortest_unique_prefix(store: Store) -> None:
    a = find_key("0")
    b = find_key("10")
    c = find_key("11")
    # `a` is alone under bit 0, so it sits right below the root.
    expected = inner(leaf(a, b"1"), inner(leaf(b, b"2"), leaf(c, b"3")))
    assert commit(store, {a: b"1", b: b"2", c: b"3"}) == expected


def test_deleting_a_neighbour_lifts_the_leaf(store: Store) -> None:
    a = find_key("00")
    b = find_key("01")
    c = find_key("1")
    commit(store, {a: b"A", b: b"B", c: b"C"})
    assert store.root() == inner(inner(leaf(a, b"A"), leaf(b, b"B")), leaf(c, b"C"))
    # Without b, a is alone under bit 0: its leaf rises to depth 1.
    assert commit(store, {b: None}) == inner(leaf(a, b"A"), leaf(c, b"C"))
    # Without c too, a is alone in the tree: the root is its leaf.
    assert commit(store, {c: None}) == leaf(a, b"A")


def test_delete_back_to_empty_gives_zero_root(store: Store) -> None:
    keys = [b"key-%d" % i for i in range(50)]
    commit(store, {k: b"v" for k in keys})
    assert store.root() != ZERO
    commit(store, {k: None for k in keys[:25]})
    assert commit(store, {k: None for k in keys[25:]}) == ZERO
    assert list(store.iterate()) == []


def test_update_changes_only_that_leaf(store: Store) -> None:
    a = find_key("0")
    b = find_key("1")
    commit(store, {a: b"1", b: b"2"})
    assert commit(store, {a: b"3"}) == inner(leaf(a, b"3"), leaf(b, b"2"))


def test_noop_writes_keep_the_root(store: Store, ref_root) -> None:
    commit(store, {b"a": b"1", b"b": b"2"})
    root = store.root()
    # Same value again, and deleting an absent key, change nothing.
    assert commit(store, {b"a": b"1", b"zzz": None}) == root
    assert store.root() == ref_root({b"a": b"1", b"b": b"2"})


def test_commit_without_stage_keeps_root(store: Store) -> None:
    commit(store, {b"a": b"1"})
    root = store.root()
    assert store.commit() == 2
    assert store.root() == root
    assert store.root(1) == root


def test_matches_reference_on_many_keys(store: Store, ref_root) -> None:
    items = {b"acct/%d" % i: b"%d" % (i * i) for i in range(2000)}
    assert commit(store, items) == ref_root(items)
    # Big overlapping batches: updates, deletes and inserts at once.
    writes: dict[bytes, bytes | None] = {}
    for i in range(0, 3000, 3):
        writes[b"acct/%d" % i] = None if i % 2 else b"new%d" % i
    commit(store, writes)
    for key, value in writes.items():
        if value is None:
            items.pop(key, None)
        else:
            items[key] = value
    assert store.root() == ref_root(items)


def test_stage_rejects_empty_and_non_bytes(store: Store) -> None:
    with pytest.raises(ValueError):
        store.stage({b"": b"v"})
    with pytest.raises(ValueError):
        store.stage({b"k": b""})
    with pytest.raises(TypeError):
        store.stage({"k": b"v"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        store.stage({b"k": "v"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        store.stage({b"k" * 70000: b"v"})


def test_stage_replaces_previous_stage_and_discard(store: Store, ref_root) -> None:
    commit(store, {b"a": b"1"})
    store.stage({b"b": b"2"})
    root = store.stage({b"c": b"3"})
    assert root == ref_root({b"a": b"1", b"c": b"3"})
    store.commit()
    assert store.get(b"b") is None
    assert store.get(b"c") == b"3"
    store.stage({b"d": b"4"})
    store.discard()
    store.commit()
    assert store.get(b"d") is None
    assert store.root() == root


# --- history independence ---------------------------------------------------

KEYS = st.sampled_from([b"k%d" % i for i in range(24)])
VALUES = st.one_of(st.none(), st.sampled_from([b"a", b"b", b"c", b"dd"]))
BATCHES = st.lists(st.dictionaries(KEYS, VALUES, max_size=12), min_size=1, max_size=8)


def apply(model: dict[bytes, bytes], writes: dict[bytes, bytes | None]) -> None:
    for key, value in writes.items():
        if value is None:
            model.pop(key, None)
        else:
            model[key] = value


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=BATCHES, order=st.randoms(use_true_random=False))
def test_root_depends_only_on_final_set(tmp_path: Path, batches, order, ref_root) -> None:
    base = tmp_path / str(len(list(tmp_path.iterdir())))
    model: dict[bytes, bytes] = {}
    with Store(str(base / "history"), sync=False) as s:
        for writes in batches:
            apply(model, writes)
            assert commit(s, writes) == ref_root(model)
        final = s.root()
    assert final == ref_root(model)
    # The same set reached in one batch, and one key at a time in another
    # order, with detours (keys written then deleted again).
    with Store(str(base / "fresh"), sync=False) as s:
        assert commit(s, dict(model)) == final
    items = list(model.items())
    order.shuffle(items)
    with Store(str(base / "shuffled"), sync=False) as s:
        commit(s, {b"detour-1": b"x", b"detour-2": b"y"})
        for key, value in items:
            commit(s, {key: value})
        assert commit(s, {b"detour-1": None, b"detour-2": None}) == final
