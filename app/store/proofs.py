"""ICS-23 commitment proofs for the sparse Merkle tree (DESIGN.md section 3,
"State": membership and non-membership proofs under the SMT ProofSpec).

An ExistenceProof carries the raw key and value, the spec's leaf operation,
and one InnerOp per inner node from the leaf up to the root:

- when the proven node is the right child: prefix 0x01 || left sibling hash,
  empty suffix;
- when it is the left child: prefix 0x01, suffix right sibling hash.

A NonExistenceProof carries the existence proofs of the neighbours of the
absent key in SHA256(key) order; the left one is missing when the key sorts
before every key, the right one when it sorts after every key.
"""

from __future__ import annotations

from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.store.smt import INNER_PREFIX, LEAF_PREFIX, Step, ref_hash

LEAF_OP = proofs_pb2.LeafOp(
    hash=proofs_pb2.SHA256,
    prehash_key=proofs_pb2.SHA256,
    prehash_value=proofs_pb2.SHA256,
    length=proofs_pb2.NO_PREFIX,
    prefix=LEAF_PREFIX,
)


def existence_proof(key: bytes, value: bytes, steps: list[Step]) -> proofs_pb2.ExistenceProof:
    """Existence proof of (key, value) from the walk that reached its leaf.

    ``steps`` are the inner nodes from the root down, as returned by
    :func:`app.store.smt.walk`; the proof lists them leaf first.
    """
    path = []
    for step in reversed(steps):
        left, right = step.node
        if step.bit:
            op = proofs_pb2.InnerOp(
                hash=proofs_pb2.SHA256, prefix=INNER_PREFIX + ref_hash(left), suffix=b""
            )
        else:
            op = proofs_pb2.InnerOp(
                hash=proofs_pb2.SHA256, prefix=INNER_PREFIX, suffix=ref_hash(right)
            )
        path.append(op)
    proof = proofs_pb2.ExistenceProof(key=key, value=value, path=path)
    proof.leaf.CopyFrom(LEAF_OP)
    return proof


def non_existence_proof(
    key: bytes,
    left: proofs_pb2.ExistenceProof | None,
    right: proofs_pb2.ExistenceProof | None,
) -> proofs_pb2.NonExistenceProof:
    proof = proofs_pb2.NonExistenceProof(key=key)
    if left is not None:
        proof.left.CopyFrom(left)
    if right is not None:
        proof.right.CopyFrom(right)
    return proof
