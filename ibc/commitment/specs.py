"""ICS-23 ProofSpecs: the tree formats this project verifies proofs for.

A ProofSpec pins down how a tree turns (key, value) into a leaf and how inner
nodes combine children, so that a proof cannot pass off some other preimage
as a leaf (ICS-23, "vector commitments"). Three specs are defined, equal to
the reference ones in cosmos/ics23 (go/proof.go):

- ``SMT_SPEC``: this project's store (DESIGN.md section 3), a sparse Merkle
  tree: leaf = SHA256(0x00 || SHA256(key) || SHA256(value)), inner =
  SHA256(0x01 || left || right), empty child = 32 zero bytes, depth <= 256,
  keys ordered by their SHA256 when proving absence.
- ``IAVL_SPEC``: Cosmos SDK IAVL stores (what a Cosmos chain would prove).
- ``TENDERMINT_SPEC``: CometBFT's simple Merkle tree (crypto/merkle).

The objects are protobuf messages, which cannot be frozen: treat them as
constants and ``CopyFrom`` them into a new message before changing anything.
"""

from __future__ import annotations

from app.pb.cosmos.ics23.v1 import proofs_pb2 as pb

SMT_SPEC: pb.ProofSpec = pb.ProofSpec(
    leaf_spec=pb.LeafOp(
        hash=pb.SHA256,
        prehash_key=pb.SHA256,
        prehash_value=pb.SHA256,
        length=pb.NO_PREFIX,
        prefix=b"\x00",
    ),
    inner_spec=pb.InnerSpec(
        child_order=[0, 1],
        child_size=32,
        min_prefix_length=1,
        max_prefix_length=1,
        empty_child=bytes(32),
        hash=pb.SHA256,
    ),
    max_depth=256,
    prehash_key_before_comparison=True,
)

IAVL_SPEC: pb.ProofSpec = pb.ProofSpec(
    leaf_spec=pb.LeafOp(
        hash=pb.SHA256,
        prehash_key=pb.NO_HASH,
        prehash_value=pb.SHA256,
        length=pb.VAR_PROTO,
        prefix=b"\x00",
    ),
    inner_spec=pb.InnerSpec(
        child_order=[0, 1],
        child_size=33,  # a 32-byte hash with its length byte
        min_prefix_length=4,
        max_prefix_length=12,
        empty_child=b"",
        hash=pb.SHA256,
    ),
)

TENDERMINT_SPEC: pb.ProofSpec = pb.ProofSpec(
    leaf_spec=pb.LeafOp(
        hash=pb.SHA256,
        prehash_key=pb.NO_HASH,
        prehash_value=pb.SHA256,
        length=pb.VAR_PROTO,
        prefix=b"\x00",
    ),
    inner_spec=pb.InnerSpec(
        child_order=[0, 1],
        child_size=32,  # a bare 32-byte hash
        min_prefix_length=1,
        max_prefix_length=1,
        hash=pb.SHA256,
    ),
)

SPECS: dict[str, pb.ProofSpec] = {
    "smt": SMT_SPEC,
    "iavl": IAVL_SPEC,
    "tendermint": TENDERMINT_SPEC,
}


def spec_equals(a: pb.ProofSpec, b: pb.ProofSpec) -> bool:
    """The reference's loose spec equality (Go ``ProofSpec.SpecEquals``).

    It compares the hash/length ops of the leaf spec and the hash, prefix
    bounds, child size and child count of the inner spec; prefixes, depths
    and empty_child are ignored. The reference uses it to decide whether the
    extra IAVL / Tendermint layout checks apply, so it is reproduced as is.
    """
    if a.HasField("leaf_spec") != b.HasField("leaf_spec"):
        return False
    if a.HasField("leaf_spec"):
        la, lb = a.leaf_spec, b.leaf_spec
        if (la.hash, la.prehash_key, la.prehash_value, la.length) != (
            lb.hash,
            lb.prehash_key,
            lb.prehash_value,
            lb.length,
        ):
            return False
    if a.HasField("inner_spec") != b.HasField("inner_spec"):
        return False
    if a.HasField("inner_spec"):
        ia, ib = a.inner_spec, b.inner_spec
        if (
            ia.hash,
            ia.min_prefix_length,
            ia.max_prefix_length,
            ia.child_size,
            len(ia.child_order),
        ) != (
            ib.hash,
            ib.min_prefix_length,
            ib.max_prefix_length,
            ib.child_size,
            len(ib.child_order),
        ):
            return False
    return True
