"""ICS-23 verification of proofs from a small model sparse Merkle tree.

The model is a compact SMT laid out as SMT_SPEC describes (the layout of the
project's store, DESIGN.md section 3): a leaf is SHA256(0x00 || SHA256(key)
|| SHA256(value)) placed by the bits of SHA256(key); a subtree holding one
leaf is that leaf; an empty subtree is 32 zero bytes; an inner node is
SHA256(0x01 || left || right). Random key sets give trees with many shapes
of empty branches, so the neighbour rules get exercised far beyond the six
SMT vectors: honest proofs must verify and dishonest neighbours must not.
"""

from __future__ import annotations

import hashlib
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from app.pb.cosmos.ics23.v1 import proofs_pb2 as pb
from ibc.commitment import (
    SMT_SPEC,
    compress,
    verify_membership,
    verify_non_membership,
)

EMPTY = bytes(32)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def bit(path: bytes, depth: int) -> int:
    return (path[depth // 8] >> (7 - depth % 8)) & 1


class ModelSMT:
    """A compact sparse Merkle tree over a fixed set of (key, value) pairs."""

    def __init__(self, items: dict[bytes, bytes]) -> None:
        self.items = items
        self.by_path = sorted((sha256(k), k) for k in items)

    def _leaf(self, key: bytes) -> bytes:
        return sha256(b"\x00" + sha256(key) + sha256(self.items[key]))

    def _split(self, leaves: list[tuple[bytes, bytes]], depth: int) -> tuple[list, list]:
        return (
            [x for x in leaves if bit(x[0], depth) == 0],
            [x for x in leaves if bit(x[0], depth) == 1],
        )

    def _hash(self, leaves: list[tuple[bytes, bytes]], depth: int) -> bytes:
        if not leaves:
            return EMPTY
        if len(leaves) == 1:
            return self._leaf(leaves[0][1])
        left, right = self._split(leaves, depth)
        return sha256(b"\x01" + self._hash(left, depth + 1) + self._hash(right, depth + 1))

    def root(self) -> bytes:
        return self._hash(self.by_path, 0)

    def prove(self, key: bytes) -> pb.ExistenceProof:
        path, leaves, depth, ops = sha256(key), self.by_path, 0, []
        while len(leaves) > 1:
            left, right = self._split(leaves, depth)
            if bit(path, depth) == 0:
                sibling = self._hash(right, depth + 1)
                ops.append(pb.InnerOp(hash=pb.SHA256, prefix=b"\x01", suffix=sibling))
                leaves = left
            else:
                sibling = self._hash(left, depth + 1)
                ops.append(pb.InnerOp(hash=pb.SHA256, prefix=b"\x01" + sibling))
                leaves = right
            depth += 1
        assert leaves[0][1] == key
        proof = pb.ExistenceProof(key=key, value=self.items[key], path=reversed(ops))
        proof.leaf.CopyFrom(SMT_SPEC.leaf_spec)
        return proof

    def neighbours(self, key: bytes) -> tuple[bytes | None, bytes | None]:
        """Keys just before and just after ``key`` in hash order (excluding it)."""
        h = sha256(key)
        before = [k for p, k in self.by_path if p < h]
        after = [k for p, k in self.by_path if p > h]
        return (before[-1] if before else None, after[0] if after else None)

    def non_existence(
        self, key: bytes, left: bytes | None, right: bytes | None
    ) -> pb.CommitmentProof:
        proof = pb.CommitmentProof()
        proof.nonexist.key = sha256(key)
        if left is not None:
            proof.nonexist.left.CopyFrom(self.prove(left))
        if right is not None:
            proof.nonexist.right.CopyFrom(self.prove(right))
        return proof


def exist(proof: pb.ExistenceProof) -> pb.CommitmentProof:
    out = pb.CommitmentProof()
    out.exist.CopyFrom(proof)
    return out


# MGRID_FUZZ_EXAMPLES raises the number of examples for a deep run.
EXAMPLES = int(os.environ.get("MGRID_FUZZ_EXAMPLES", "60"))
keys = st.binary(min_size=1, max_size=12)
trees = st.dictionaries(keys, st.binary(min_size=1, max_size=8), min_size=1, max_size=24)


@settings(max_examples=EXAMPLES, deadline=None)
@given(items=trees, absent=keys)
def test_honest_proofs_verify(items: dict[bytes, bytes], absent: bytes) -> None:
    tree = ModelSMT(items)
    root = tree.root()
    for key, value in items.items():
        proof = exist(tree.prove(key))
        assert verify_membership(SMT_SPEC, root, proof, key, value)
        assert not verify_membership(SMT_SPEC, root, proof, key, value + b"!")
        assert not verify_non_membership(SMT_SPEC, root, proof, key)
    if absent not in items:
        left, right = tree.neighbours(absent)
        proof = tree.non_existence(absent, left, right)
        assert verify_non_membership(SMT_SPEC, root, proof, absent)
        assert not verify_membership(SMT_SPEC, root, proof, absent, b"v")


@settings(max_examples=EXAMPLES, deadline=None)
@given(items=trees, pick=st.integers(min_value=0))
def test_present_key_cannot_be_proven_absent(items: dict[bytes, bytes], pick: int) -> None:
    """Bracketing a present key by its own neighbours must fail: they are not adjacent."""
    tree = ModelSMT(items)
    root = tree.root()
    key = tree.by_path[pick % len(tree.by_path)][1]
    left, right = tree.neighbours(key)
    assert not verify_non_membership(SMT_SPEC, root, tree.non_existence(key, left, right), key)
    # nor with one side dropped, unless the key really is at that end
    if left is not None:
        assert not verify_non_membership(SMT_SPEC, root, tree.non_existence(key, None, right), key)
    if right is not None:
        assert not verify_non_membership(SMT_SPEC, root, tree.non_existence(key, left, None), key)


@settings(max_examples=EXAMPLES, deadline=None)
@given(items=trees, absent=keys)
def test_non_adjacent_neighbours_are_rejected(items: dict[bytes, bytes], absent: bytes) -> None:
    tree = ModelSMT(items)
    if absent in items:
        return
    root = tree.root()
    left, right = tree.neighbours(absent)
    if left is not None:
        further_left, _ = tree.neighbours(left)
        # skip over the true left neighbour
        proof = tree.non_existence(absent, further_left, right)
        assert not verify_non_membership(SMT_SPEC, root, proof, absent)
        # drop the left neighbour entirely: the right one is not left-most
        assert not verify_non_membership(
            SMT_SPEC, root, tree.non_existence(absent, None, right), absent
        )
    if right is not None:
        _, further_right = tree.neighbours(right)
        proof = tree.non_existence(absent, left, further_right)
        assert not verify_non_membership(SMT_SPEC, root, proof, absent)
        assert not verify_non_membership(
            SMT_SPEC, root, tree.non_existence(absent, left, None), absent
        )


@settings(max_examples=max(EXAMPLES // 2, 1), deadline=None)
@given(items=trees, absent=st.lists(keys, max_size=4))
def test_batch_and_compressed_proofs(items: dict[bytes, bytes], absent: list[bytes]) -> None:
    tree = ModelSMT(items)
    root = tree.root()
    batch = pb.CommitmentProof()
    for key in items:
        batch.batch.entries.add().exist.CopyFrom(tree.prove(key))
    missing = [k for k in absent if k not in items]
    for key in missing:
        batch.batch.entries.add().nonexist.CopyFrom(
            tree.non_existence(key, *tree.neighbours(key)).nonexist
        )
    compressed = compress(batch)
    for proof in (batch, compressed):
        for key, value in items.items():
            assert verify_membership(SMT_SPEC, root, proof, key, value)
        for key in missing:
            assert verify_non_membership(SMT_SPEC, root, proof, key)
        for key in items:
            assert not verify_non_membership(SMT_SPEC, root, proof, key)
