"""Fuzzing the ICS-23 verifier: garbage in, False / ProofError out, nothing else.

A relayer hands the chain arbitrary proof bytes, so no input may crash the
verifier with another exception type (that would be a consensus-visible
difference from the reference, or a way to halt a node). Three sources of
garbage: random bytes parsed as a CommitmentProof, structurally random
proofs and specs built from weird field values, and the public vectors with
bytes or fields mutated (which must also stop verifying).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from app.pb.cosmos.ics23.v1 import proofs_pb2 as pb
from ibc.commitment import (
    SPECS,
    ProofError,
    calculate_root,
    decompress,
    verify_existence,
    verify_membership,
    verify_non_existence,
    verify_non_membership,
)
from ibc.commitment.hashing import encode_varint_proto, ripemd160_pure
from ibc.commitment.ics23 import (
    is_left_most,
    is_left_neighbor,
    is_right_most,
    left_branches_are_empty,
    right_branches_are_empty,
)
from ibc.commitment.ops import SpecRules

# MGRID_FUZZ_EXAMPLES raises the number of examples for a deep run.
FUZZ = settings(
    max_examples=int(os.environ.get("MGRID_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def exercise(
    spec: pb.ProofSpec, proof: pb.CommitmentProof, root: bytes, key: bytes, value: bytes
) -> None:
    """Run every entry point on ``proof``; only bools and ProofError may come out."""
    assert verify_membership(spec, root, proof, key, value) in (True, False)
    assert verify_non_membership(spec, root, proof, key) in (True, False)
    with contextlib.suppress(ProofError):
        decompress(proof)
    kind = proof.WhichOneof("proof")
    try:
        if kind == "exist":
            calculate_root(proof.exist)
        elif kind == "nonexist":
            verify_non_existence(spec, root, proof.nonexist, key)
    except ProofError:
        pass
    try:
        if kind == "exist":
            verify_existence(spec, root, proof.exist, key, value)
    except ProofError:
        pass


# --- random bytes -----------------------------------------------------------------


def _varint(n: int) -> bytes:
    return encode_varint_proto(n)


def _len_field(num_and_payload: tuple[int, bytes]) -> bytes:
    num, payload = num_and_payload
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(num_and_value: tuple[int, int]) -> bytes:
    num, value = num_and_value
    return _varint(num << 3) + _varint(value)


# Bytes shaped like protobuf (nested length-delimited and varint fields with
# the field numbers ICS-23 messages use), so most of them parse into proofs.
proto_shaped = st.recursive(
    st.one_of(st.binary(max_size=40), st.sampled_from([b"", bytes(32), b"\x01" + bytes(32)])),
    lambda children: st.lists(
        st.one_of(
            st.tuples(st.integers(1, 6), children).map(_len_field),
            st.tuples(st.integers(1, 6), st.integers(0, 2**64 - 1)).map(_varint_field),
        ),
        max_size=6,
    ).map(b"".join),
    max_leaves=40,
)


@FUZZ
@given(
    data=st.one_of(st.binary(max_size=3000), proto_shaped),
    key=st.binary(max_size=40),
    value=st.binary(max_size=40),
)
def test_random_bytes_never_crash(data: bytes, key: bytes, value: bytes) -> None:
    try:
        proof = pb.CommitmentProof.FromString(data)
    except DecodeError:
        return  # rejected by the parser: never reaches the verifier
    for spec in SPECS.values():
        exercise(spec, proof, bytes(32), key, value)


# --- structurally random proofs and specs ---------------------------------------------

# Typed Any: the generated enum stubs reject plain ints, but proto3 enums are
# open and garbage proofs carry any number.
hash_ops: st.SearchStrategy[Any] = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 2**31 - 1, -1])
length_ops: st.SearchStrategy[Any] = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -5])
other_hash_ops: st.SearchStrategy[Any] = st.sampled_from([0, 2, 3, 4, 5, 6, 7, 8])
small_ints = st.sampled_from([-33, -1, 0, 1, 2, 4, 12, 31, 32, 33, 64, 2**31 - 1, -(2**31)])
chunks = st.sampled_from([b"", b"\x00", b"\x01", bytes(32), b"\x01" + bytes(32), b"\xff" * 33])
byte_fields = st.one_of(chunks, st.binary(max_size=70))


@st.composite
def inner_ops(draw: st.DrawFn) -> pb.InnerOp:
    return pb.InnerOp(hash=draw(hash_ops), prefix=draw(byte_fields), suffix=draw(byte_fields))


@st.composite
def leaf_ops(draw: st.DrawFn) -> pb.LeafOp:
    return pb.LeafOp(
        hash=draw(hash_ops),
        prehash_key=draw(hash_ops),
        prehash_value=draw(hash_ops),
        length=draw(length_ops),
        prefix=draw(byte_fields),
    )


@st.composite
def existence_proofs(draw: st.DrawFn) -> pb.ExistenceProof:
    proof = pb.ExistenceProof(key=draw(st.binary(max_size=8)), value=draw(st.binary(max_size=8)))
    if draw(st.booleans()):
        proof.leaf.CopyFrom(draw(leaf_ops()))
    proof.path.extend(draw(st.lists(inner_ops(), max_size=6)))
    return proof


@st.composite
def commitment_proofs(draw: st.DrawFn) -> pb.CommitmentProof:
    proof = pb.CommitmentProof()
    kind = draw(st.sampled_from(["exist", "nonexist", "batch", "compressed", "exclusion", "none"]))
    if kind == "exist":
        proof.exist.CopyFrom(draw(existence_proofs()))
    elif kind == "nonexist":
        proof.nonexist.key = draw(st.binary(max_size=8))
        if draw(st.booleans()):
            proof.nonexist.left.CopyFrom(draw(existence_proofs()))
        if draw(st.booleans()):
            proof.nonexist.right.CopyFrom(draw(existence_proofs()))
        proof.nonexist.SetInParent()
    elif kind == "batch":
        proof.batch.SetInParent()
        for sub in draw(st.lists(existence_proofs(), max_size=3)):
            proof.batch.entries.add().exist.CopyFrom(sub)
        for _ in range(draw(st.integers(0, 2))):
            proof.batch.entries.add()  # empty entries
    elif kind == "compressed":
        comp = proof.compressed
        comp.SetInParent()
        comp.lookup_inners.extend(draw(st.lists(inner_ops(), max_size=4)))
        for _ in range(draw(st.integers(0, 3))):
            entry = comp.entries.add()
            which = draw(st.sampled_from(["exist", "nonexist", "empty"]))
            indices = draw(st.lists(st.integers(-2, 5), max_size=5))
            if which == "exist":
                entry.exist.key = draw(st.binary(max_size=8))
                entry.exist.path.extend(indices)
                entry.exist.SetInParent()
            elif which == "nonexist":
                entry.nonexist.left.path.extend(indices)
                entry.nonexist.SetInParent()
    elif kind == "exclusion":
        proof.exclusion.key = draw(st.binary(max_size=8))
        proof.exclusion.SetInParent()
    return proof


@st.composite
def proof_specs(draw: st.DrawFn) -> pb.ProofSpec:
    spec = pb.ProofSpec(
        max_depth=draw(small_ints),
        min_depth=draw(small_ints),
        prehash_key_before_comparison=draw(st.booleans()),
    )
    if draw(st.booleans()):
        spec.leaf_spec.CopyFrom(draw(leaf_ops()))
    if draw(st.booleans()):
        spec.inner_spec.CopyFrom(
            pb.InnerSpec(
                child_order=draw(st.lists(st.integers(-2, 4), max_size=4)),
                child_size=draw(small_ints),
                min_prefix_length=draw(small_ints),
                max_prefix_length=draw(small_ints),
                empty_child=draw(chunks),
                hash=draw(hash_ops),
            )
        )
    return spec


@FUZZ
@given(
    spec=st.one_of(st.sampled_from(list(SPECS.values())), proof_specs()),
    proof=commitment_proofs(),
    key=st.binary(max_size=8),
    value=st.binary(max_size=8),
)
def test_structured_garbage_never_crashes(
    spec: pb.ProofSpec, proof: pb.CommitmentProof, key: bytes, value: bytes
) -> None:
    exercise(spec, proof, bytes(32), key, value)


@FUZZ
@given(
    spec=proof_specs(),
    left=st.lists(inner_ops(), max_size=5),
    right=st.lists(inner_ops(), max_size=5),
)
def test_neighbour_rules_with_weird_specs_never_crash(
    spec: pb.ProofSpec, left: list[pb.InnerOp], right: list[pb.InnerOp]
) -> None:
    """The adjacency rules themselves, under specs no honest chain would use."""
    rules = SpecRules.of(spec)
    for check in (
        lambda: is_left_most(rules, left),
        lambda: is_right_most(rules, right),
        lambda: is_left_neighbor(rules, left, right),
        lambda: is_left_neighbor(rules, left + right, right),
        *(lambda op=op: left_branches_are_empty(rules, op) for op in left),
        *(lambda op=op: right_branches_are_empty(rules, op) for op in right),
    ):
        with contextlib.suppress(ProofError):
            assert check() in (True, False)


# --- mutated vectors ------------------------------------------------------------------


def _decode(vec: dict[str, Any]) -> tuple[pb.ProofSpec, bytes, bytes, bytes, bytes]:
    return (
        SPECS[vec["spec_name"]],
        bytes.fromhex(vec["proof"]),
        bytes.fromhex(vec["root"]),
        bytes.fromhex(vec["key"]),
        bytes.fromhex(vec["value"]),
    )


def _essence(proof: pb.CommitmentProof) -> bytes:
    """What verification depends on: the existence proofs inside.

    The non-existence key and unknown fields (a mutated tag can turn a known
    field into one) are not read by verification, so they are left out.
    """
    copy = pb.CommitmentProof()
    copy.CopyFrom(proof)
    copy.DiscardUnknownFields()
    if copy.WhichOneof("proof") == "nonexist":
        copy.nonexist.key = b""
    return copy.SerializeToString(deterministic=True)


@FUZZ
@given(
    data=st.data(),
    op=st.sampled_from(["flip", "set", "delete", "insert", "truncate"]),
)
def test_byte_mutated_vectors(
    proof_vectors: list[dict[str, Any]], data: st.DataObject, op: str
) -> None:
    vec = data.draw(st.sampled_from(proof_vectors))
    spec, raw, root, key, value = _decode(vec)
    original = pb.CommitmentProof.FromString(raw)
    i = data.draw(st.integers(0, len(raw) - 1))
    b = data.draw(st.integers(0, 255))
    mutated = {
        "flip": raw[:i] + bytes([raw[i] ^ (1 << (b % 8))]) + raw[i + 1 :],
        "set": raw[:i] + bytes([b]) + raw[i + 1 :],
        "delete": raw[:i] + raw[i + 1 :],
        "insert": raw[:i] + bytes([b]) + raw[i:],
        "truncate": raw[:i],
    }[op]
    try:
        proof = pb.CommitmentProof.FromString(mutated)
    except DecodeError:
        assume(False)
        return
    exercise(spec, proof, root, key, value)
    ok = (
        verify_membership(spec, root, proof, key, value)
        if value
        else verify_non_membership(spec, root, proof, key)
    )
    if ok:
        # only a mutation that left every verified byte intact may still pass
        assert proof.WhichOneof("proof") == original.WhichOneof("proof")
        assert _essence(proof) == _essence(original)


def _sub_proofs(proof: pb.CommitmentProof) -> list[pb.ExistenceProof]:
    if proof.WhichOneof("proof") == "exist":
        return [proof.exist]
    n = proof.nonexist
    return [p for p, f in ((n.left, "left"), (n.right, "right")) if n.HasField(f)]


@FUZZ
@given(data=st.data())
def test_field_mutated_vectors_fail(
    proof_vectors: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Changing any field a proof's verification reads must make it fail."""
    vec = data.draw(st.sampled_from(proof_vectors))
    spec, raw, root, key, value = _decode(vec)
    proof = pb.CommitmentProof.FromString(raw)
    target = data.draw(st.sampled_from(_sub_proofs(proof)))
    what = data.draw(
        st.sampled_from(
            [
                "key",
                "value",
                "leaf_prefix",
                "leaf_hash",
                "leaf_length",
                "prefix",
                "suffix",
                "step_hash",
                "drop_step",
                "dup_step",
                "swap_steps",
                "drop_leaf",
            ]
        )
    )
    n = len(target.path)
    step = target.path[data.draw(st.integers(0, n - 1))] if n else None
    if what == "key":
        target.key = target.key + b"\x00"
    elif what == "value":
        target.value = hashlib.sha256(target.value).digest()
    elif what == "leaf_prefix":
        target.leaf.prefix = target.leaf.prefix + b"\x01"
    elif what == "leaf_hash":
        target.leaf.hash = data.draw(other_hash_ops)
    elif what == "leaf_length":
        new_length = data.draw(length_ops)
        assume(new_length != target.leaf.length)
        target.leaf.length = new_length
    elif what == "drop_leaf":
        target.ClearField("leaf")
    elif step is None:
        assume(False)
    elif what == "prefix":
        assume(len(step.prefix) > 0)
        j = data.draw(st.integers(0, len(step.prefix) - 1))
        step.prefix = step.prefix[:j] + bytes([step.prefix[j] ^ 0x80]) + step.prefix[j + 1 :]
    elif what == "suffix":
        assume(len(step.suffix) > 0)
        j = data.draw(st.integers(0, len(step.suffix) - 1))
        step.suffix = step.suffix[:j] + bytes([step.suffix[j] ^ 0x01]) + step.suffix[j + 1 :]
    elif what == "step_hash":
        step.hash = data.draw(other_hash_ops)
    elif what == "drop_step":
        del target.path[data.draw(st.integers(0, n - 1))]
    elif what == "dup_step":
        target.path.add().CopyFrom(step)
    elif what == "swap_steps":
        assume(n >= 2 and target.path[0] != target.path[-1])
        first, last = pb.InnerOp(), pb.InnerOp()
        first.CopyFrom(target.path[0])
        last.CopyFrom(target.path[-1])
        target.path[0].CopyFrom(last)
        target.path[-1].CopyFrom(first)
    if value:
        assert not verify_membership(spec, root, proof, key, value)
        if what != "key":
            assert not verify_membership(spec, root, proof, target.key, target.value)
    else:
        assert not verify_non_membership(spec, root, proof, key)


# --- hash fallback ------------------------------------------------------------------


@pytest.mark.skipif("ripemd160" not in hashlib.algorithms_available, reason="no OpenSSL ripemd160")
@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_ripemd160_fallback_matches_openssl(data: bytes) -> None:
    assert ripemd160_pure(data) == hashlib.new("ripemd160", data).digest()
