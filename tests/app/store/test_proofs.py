"""ICS-23 proofs from the store (DESIGN.md section 3: membership and
non-membership proofs under the SMT ProofSpec), verified with the project's
verifier, ibc.commitment.ics23.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.store import ProofUnavailable, Store
from ibc.commitment.ics23 import SMT_SPEC, verify_membership, verify_non_membership
from tests.support.smt import leaf, sha


def exists(s: Store, key: bytes, value: bytes, version: int | None = None) -> bool:
    proof = s.prove(key, version)
    assert proof.WhichOneof("proof") == "exist"
    return verify_membership(SMT_SPEC, s.root(version), proof, key, value)


def absent(s: Store, key: bytes, version: int | None = None) -> bool:
    proof = s.prove(key, version)
    assert proof.WhichOneof("proof") == "nonexist"
    return verify_non_membership(SMT_SPEC, s.root(version), proof, key)


@pytest.fixture
def filled(store: Store) -> tuple[Store, dict[bytes, bytes]]:
    items = {b"acct/%d" % i: b"balance-%d" % (i * 7) for i in range(300)}
    store.stage(items)
    store.commit()
    return store, items


def test_empty_tree_has_no_proof(store: Store) -> None:
    with pytest.raises(ProofUnavailable):
        store.prove(b"a")
    store.stage({b"a": b"1"})
    store.commit()
    store.stage({b"a": None})
    store.commit()
    with pytest.raises(ProofUnavailable, match="version 2"):
        store.prove(b"a")
    assert exists(store, b"a", b"1", version=1)


def test_empty_key_cannot_be_proven(filled) -> None:
    s, _ = filled
    with pytest.raises(ValueError):
        s.prove(b"")


def test_one_key_tree(store: Store) -> None:
    store.stage({b"only": b"one"})
    store.commit()
    proof = store.prove(b"only")
    # The root is the leaf: no inner ops.
    assert list(proof.exist.path) == []
    assert store.root() == leaf(b"only", b"one")
    assert exists(store, b"only", b"one")
    # Every other key is proven absent by that single leaf, as its left or
    # its right neighbour.
    only = sha(b"only")
    below = next(b"o%d" % i for i in itertools.count() if sha(b"o%d" % i) < only)
    above = next(b"o%d" % i for i in itertools.count() if sha(b"o%d" % i) > only)
    for key, sides in ((below, (False, True)), (above, (True, False))):
        assert absent(store, key)
        nonexist = store.prove(key).nonexist
        assert (nonexist.HasField("left"), nonexist.HasField("right")) == sides


def test_two_key_proof_shape(store: Store) -> None:
    a = next(b"k%d" % i for i in itertools.count() if sha(b"k%d" % i)[0] < 0x80)
    b = next(b"k%d" % i for i in itertools.count() if sha(b"k%d" % i)[0] >= 0x80)
    store.stage({a: b"A", b: b"B"})
    store.commit()
    left = store.prove(a).exist
    right = store.prove(b).exist
    # Leaf op is the spec's; a left child carries its sibling in the
    # suffix, a right child in the prefix.
    assert left.leaf.prefix == b"\x00"
    assert left.leaf.hash == proofs_pb2.SHA256
    assert left.leaf.prehash_key == proofs_pb2.SHA256
    assert left.leaf.prehash_value == proofs_pb2.SHA256
    assert left.leaf.length == proofs_pb2.NO_PREFIX
    assert [(op.prefix, op.suffix) for op in left.path] == [(b"\x01", leaf(b, b"B"))]
    assert [(op.prefix, op.suffix) for op in right.path] == [(b"\x01" + leaf(a, b"A"), b"")]


def test_every_present_key(filled) -> None:
    s, items = filled
    for key, value in items.items():
        assert exists(s, key, value)


def test_absent_keys(filled) -> None:
    s, _ = filled
    for i in range(300):
        assert absent(s, b"missing/%d" % i)


def test_edges(filled) -> None:
    s, items = filled
    hashes = sorted(sha(key) for key in items)
    below = next(b"x%d" % i for i in itertools.count() if sha(b"x%d" % i) < hashes[0])
    above = next(b"x%d" % i for i in itertools.count() if sha(b"x%d" % i) > hashes[-1])
    low = s.prove(below).nonexist
    assert not low.HasField("left") and low.HasField("right")
    assert absent(s, below)
    high = s.prove(above).nonexist
    assert high.HasField("left") and not high.HasField("right")
    assert absent(s, above)
    # The leftmost and rightmost present keys prove as members too.
    by_hash = {sha(key): key for key in items}
    for h in (hashes[0], hashes[-1]):
        assert exists(s, by_hash[h], items[by_hash[h]])


def test_tampering_fails(filled) -> None:
    s, items = filled
    root = s.root()
    bad_root = bytes([root[0] ^ 1]) + root[1:]
    for key in list(items)[:40]:
        proof = s.prove(key)
        value = items[key]
        assert verify_membership(SMT_SPEC, root, proof, key, value)
        assert not verify_membership(SMT_SPEC, root, proof, key, value + b"!")
        assert not verify_membership(SMT_SPEC, root, proof, key + b"!", value)
        assert not verify_membership(SMT_SPEC, bad_root, proof, key, value)
        # A membership proof is no non-membership proof.
        assert not verify_non_membership(SMT_SPEC, root, proof, key)
    for i in range(40):
        key = b"missing/%d" % i
        proof = s.prove(key)
        assert verify_non_membership(SMT_SPEC, root, proof, key)
        assert not verify_non_membership(SMT_SPEC, bad_root, proof, key)
        # The same proof says nothing about another key, present or not...
        other = list(items)[i]
        assert not verify_non_membership(SMT_SPEC, root, proof, other)
        # ...and a proof of absence cannot claim membership.
        assert not verify_membership(SMT_SPEC, root, proof, key, b"v")


def test_tampered_inner_op_fails(filled) -> None:
    s, items = filled
    key, value = next(iter(items.items()))
    proof = s.prove(key)
    op = proof.exist.path[0]
    if op.suffix:
        op.suffix = bytes([op.suffix[0] ^ 1]) + op.suffix[1:]
    else:
        op.prefix = op.prefix[:1] + bytes([op.prefix[1] ^ 1]) + op.prefix[2:]
    assert not verify_membership(SMT_SPEC, s.root(), proof, key, value)


def test_proofs_at_past_versions(filled) -> None:
    s, items = filled
    s.stage({b"acct/1": b"changed", b"acct/2": None, b"acct/new": b"fresh"})
    s.commit()
    # At version 1, the old state, against the old root.
    assert exists(s, b"acct/1", items[b"acct/1"], version=1)
    assert exists(s, b"acct/2", items[b"acct/2"], version=1)
    assert absent(s, b"acct/new", version=1)
    # At version 2, the new state.
    assert exists(s, b"acct/1", b"changed", version=2)
    assert absent(s, b"acct/2", version=2)
    assert exists(s, b"acct/new", b"fresh")
    # A proof of version 1 does not verify against version 2's root.
    old = s.prove(b"acct/1", 1)
    assert not verify_membership(SMT_SPEC, s.root(2), old, b"acct/1", items[b"acct/1"])
    old_absent = s.prove(b"acct/new", 1)
    assert verify_non_membership(SMT_SPEC, s.root(1), old_absent, b"acct/new")
    assert not verify_non_membership(SMT_SPEC, s.root(2), old_absent, b"acct/new")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    present=st.sets(st.binary(min_size=1, max_size=6), min_size=1, max_size=40),
    queries=st.lists(st.binary(min_size=1, max_size=6), max_size=15),
)
def test_proofs_verify_for_random_sets(tmp_path: Path, present, queries) -> None:
    path = tmp_path / str(len(list(tmp_path.iterdir())))
    with Store(str(path), sync=False) as s:
        s.stage({key: b"v" + key for key in present})
        s.commit()
        for key in list(present)[:10] + queries:
            if key in present:
                assert exists(s, key, b"v" + key)
            else:
                assert absent(s, key)
