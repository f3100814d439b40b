"""ICS-23 verifier against the public cosmos/ics23 vectors, plus unit cases.

Golden vectors: every proof under ics23-testdata/{iavl,smt,tendermint} must
verify, and break when key, value or root is altered; every Test*Data.json
case must give the reference's result (and error text, where it has one).
Table-driven cases cover the rules the vectors do not reach.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from typing import Any

import pytest
from google.protobuf import json_format

from app.pb.cosmos.ics23.v1 import proofs_pb2 as pb
from ibc.commitment import (
    IAVL_SPEC,
    SMT_SPEC,
    SPECS,
    TENDERMINT_SPEC,
    ProofError,
    calculate_root,
    check_existence_against_spec,
    compress,
    decompress,
    verify_existence,
    verify_membership,
    verify_non_existence,
    verify_non_membership,
)
from ibc.commitment.hashing import (
    BLAKE3,
    KECCAK,
    NO_HASH,
    do_hash,
    do_length_op,
    encode_varint_proto,
    ripemd160_pure,
)
from ibc.commitment.ics23 import (
    is_left_most,
    is_left_neighbor,
    is_right_most,
    left_branches_are_empty,
    right_branches_are_empty,
)
from ibc.commitment.ops import (
    SpecRules,
    apply_inner,
    apply_leaf,
    check_inner_op,
    check_leaf_op,
    validate_iavl_op,
    validate_tendermint_op,
)

# --- helpers --------------------------------------------------------------------


def b64(s: str | None) -> bytes:
    """Decode a base64 field of the JSON cases (null means empty)."""
    return base64.b64decode(s) if s else b""


def parse(d: dict[str, Any] | None, msg: Any) -> Any:
    """Fill protobuf message ``msg`` from a protobuf-JSON dict of the cases."""
    return json_format.ParseDict(d or {}, msg)


def decode_vector(vec: dict[str, Any]) -> tuple[pb.CommitmentProof, bytes, bytes, bytes]:
    """(proof, root, key, value) of a proof vector file."""
    proof = pb.CommitmentProof.FromString(bytes.fromhex(vec["proof"]))
    return proof, bytes.fromhex(vec["root"]), bytes.fromhex(vec["key"]), bytes.fromhex(vec["value"])


def flip(data: bytes, index: int) -> bytes:
    """``data`` with one byte changed."""
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def compare_key(spec: pb.ProofSpec, key: bytes) -> bytes:
    """Key in tree order (hashed for the SMT)."""
    return hashlib.sha256(key).digest() if spec.prehash_key_before_comparison else key


def verify(
    spec: pb.ProofSpec, root: bytes, proof: pb.CommitmentProof, key: bytes, value: bytes
) -> bool:
    """Membership or non-membership, by what the vector holds."""
    if value:
        return verify_membership(spec, root, proof, key, value)
    return verify_non_membership(spec, root, proof, key)


# --- golden proof vectors ---------------------------------------------------------


def test_vector_directory_is_complete(proof_vectors: list[dict[str, Any]]) -> None:
    assert len(proof_vectors) == 18
    for vec in proof_vectors:
        kind = vec["file"].split("/")[1].split("_")[0]
        proof, _root, _key, value = decode_vector(vec)
        assert proof.WhichOneof("proof") == kind
        assert bool(value) == (kind == "exist")


def test_vector_verifies(proof_vector: dict[str, Any]) -> None:
    spec = SPECS[proof_vector["spec_name"]]
    proof, root, key, value = decode_vector(proof_vector)
    if proof.WhichOneof("proof") == "exist":
        verify_existence(spec, root, proof.exist, key, value)
        assert calculate_root(proof.exist) == root
        assert verify_membership(spec, root, proof, key, value) is True
        assert verify_non_membership(spec, root, proof, key) is False
    else:
        verify_non_existence(spec, root, proof.nonexist, key)
        assert verify_non_membership(spec, root, proof, key) is True
        assert verify_membership(spec, root, proof, key, b"any value") is False


@pytest.mark.parametrize("index", [0, 15, 31])
def test_vector_fails_with_altered_root(proof_vector: dict[str, Any], index: int) -> None:
    spec = SPECS[proof_vector["spec_name"]]
    proof, root, key, value = decode_vector(proof_vector)
    bad_root = flip(root, index)
    assert verify(spec, bad_root, proof, key, value) is False
    with pytest.raises(ProofError, match="root doesn't match"):
        if value:
            verify_existence(spec, bad_root, proof.exist, key, value)
        else:
            verify_non_existence(spec, bad_root, proof.nonexist, key)


def test_exist_vector_fails_with_altered_key_or_value(exist_vector: dict[str, Any]) -> None:
    spec = SPECS[exist_vector["spec_name"]]
    proof, root, key, value = decode_vector(exist_vector)
    for bad_key in (flip(key, 0), flip(key, len(key) - 1), key + b"\x00", key[:-1]):
        assert verify_membership(spec, root, proof, bad_key, value) is False
        with pytest.raises(ProofError, match="provided key doesn't match proof"):
            verify_existence(spec, root, proof.exist, bad_key, value)
    for bad_value in (flip(value, 0), flip(value, len(value) - 1), value + b"\x00", b""):
        assert verify_membership(spec, root, proof, key, bad_value) is False
        with pytest.raises(ProofError, match="provided value doesn't match proof"):
            verify_existence(spec, root, proof.exist, key, bad_value)
    # a proof whose stored key/value were changed to match no longer hashes to the root
    forged = pb.CommitmentProof()
    forged.CopyFrom(proof)
    forged.exist.value = flip(value, 0)
    assert verify_membership(spec, root, forged, key, forged.exist.value) is False


def _probe_outside(spec: pb.ProofSpec, lo: bytes | None, hi: bytes | None) -> bytes:
    """A key that sorts (in tree order) outside the open interval (lo, hi)."""
    for i in range(10_000):
        cand = b"probe-%d" % i
        c = compare_key(spec, cand)
        if (lo is not None and c <= compare_key(spec, lo)) or (
            hi is not None and c >= compare_key(spec, hi)
        ):
            return cand
    raise AssertionError("no probe key found")


def test_nonexist_vector_fails_for_other_keys(nonexist_vector: dict[str, Any]) -> None:
    spec = SPECS[nonexist_vector["spec_name"]]
    proof, root, _key, _value = decode_vector(nonexist_vector)
    n = proof.nonexist
    left = n.left.key if n.HasField("left") else None
    right = n.right.key if n.HasField("right") else None
    # the neighbours themselves exist, so their absence cannot be proven
    for present in (k for k in (left, right) if k is not None):
        assert verify_non_membership(spec, root, proof, present) is False
        with pytest.raises(ProofError, match=r"key is not (left of right|right of left) proof"):
            verify_non_existence(spec, root, n, present)
    outside = _probe_outside(spec, left, right)
    assert verify_non_membership(spec, root, proof, outside) is False
    with pytest.raises(ProofError, match="key is not"):
        verify_non_existence(spec, root, n, outside)


def test_vector_fails_under_other_specs(proof_vector: dict[str, Any]) -> None:
    proof, root, key, value = decode_vector(proof_vector)
    for name, spec in SPECS.items():
        if name != proof_vector["spec_name"]:
            assert verify(spec, root, proof, key, value) is False, name


def test_nonexist_vector_fails_without_a_neighbour(nonexist_vector: dict[str, Any]) -> None:
    spec = SPECS[nonexist_vector["spec_name"]]
    proof, root, key, _value = decode_vector(nonexist_vector)
    n = proof.nonexist
    if n.HasField("left") and n.HasField("right"):
        only_left = pb.NonExistenceProof(key=n.key, left=n.left)
        with pytest.raises(ProofError, match="left proof must be right-most"):
            verify_non_existence(spec, root, only_left, key)
        only_right = pb.NonExistenceProof(key=n.key, right=n.right)
        with pytest.raises(ProofError, match="right proof must be left-most"):
            verify_non_existence(spec, root, only_right, key)
        swapped = pb.NonExistenceProof(key=n.key, left=n.right, right=n.left)
        with pytest.raises(ProofError, match="key is not"):
            verify_non_existence(spec, root, swapped, key)
    with pytest.raises(ProofError, match="both left and right proofs missing"):
        verify_non_existence(spec, root, pb.NonExistenceProof(key=key), key)


@pytest.mark.parametrize("spec_name", ["iavl", "smt", "tendermint"])
def test_batch_and_compressed_batch(proof_vectors: list[dict[str, Any]], spec_name: str) -> None:
    spec = SPECS[spec_name]
    vectors = [decode_vector(v) for v in proof_vectors if v["spec_name"] == spec_name]
    batch = pb.CommitmentProof()
    for proof, *_ in vectors:
        entry = batch.batch.entries.add()
        if proof.WhichOneof("proof") == "exist":
            entry.exist.CopyFrom(proof.exist)
        else:
            entry.nonexist.CopyFrom(proof.nonexist)
    compressed = compress(batch)
    assert compressed.WhichOneof("proof") == "compressed"
    assert len(compressed.SerializeToString()) < len(batch.SerializeToString())
    assert decompress(compressed) == batch
    assert decompress(batch) is batch
    assert compress(compressed) is compressed
    for proof_form in (batch, compressed):
        for _proof, root, key, value in vectors:
            assert verify(spec, root, proof_form, key, value) is True
            assert verify(spec, flip(root, 0), proof_form, key, value) is False
        # a key no entry is about
        _proof, root, key, value = vectors[0]
        assert verify_membership(spec, root, proof_form, key + b"\x00", value) is False


def test_compressed_batch_with_bad_index_is_rejected(proof_vectors: list[dict[str, Any]]) -> None:
    proof, root, key, value = decode_vector(proof_vectors[6])  # smt/exist_left
    batch = pb.CommitmentProof()
    batch.batch.entries.add().exist.CopyFrom(proof.exist)
    compressed = compress(batch)
    assert verify_membership(SMT_SPEC, root, compressed, key, value) is True
    for bad in (len(compressed.compressed.lookup_inners), -1, 2**31 - 1):
        broken = pb.CommitmentProof()
        broken.CopyFrom(compressed)
        broken.compressed.entries[0].exist.path[0] = bad
        assert verify_membership(SMT_SPEC, root, broken, key, value) is False
        with pytest.raises(ProofError, match=f"refers to inner op {bad}"):
            decompress(broken)
    # an empty entry anywhere rejects the whole compressed batch, as in the reference
    broken = pb.CommitmentProof()
    broken.CopyFrom(compressed)
    broken.compressed.entries.add()
    assert verify_membership(SMT_SPEC, root, broken, key, value) is False
    with pytest.raises(ProofError, match="entry 1 holds no proof"):
        decompress(broken)


def test_smt_vectors_use_prehashed_keys(proof_vectors: list[dict[str, Any]]) -> None:
    """The SMT vectors need prehash_key SHA256 and hashed-key ordering."""
    raw_order = pb.ProofSpec()
    raw_order.CopyFrom(SMT_SPEC)
    raw_order.prehash_key_before_comparison = False
    for vec in proof_vectors:
        if vec["spec_name"] != "smt":
            continue
        proof, root, key, value = decode_vector(vec)
        n = proof.nonexist
        exist = proof.exist if value else (n.left if n.HasField("left") else n.right)
        assert exist.leaf.prehash_key == pb.SHA256
        if not value:
            # nonexist.key holds SHA256(key); verification ignores it
            assert proof.nonexist.key == hashlib.sha256(key).digest()
            assert verify_non_membership(raw_order, root, proof, key) is False


# --- Test*Data.json cases -----------------------------------------------------------


def test_leaf_op_data(leaf_op_case: tuple[str, dict[str, Any]]) -> None:
    _name, case = leaf_op_case
    op = parse(case["Op"], pb.LeafOp())
    if case["IsErr"]:
        with pytest.raises(ProofError):
            apply_leaf(op, b64(case["Key"]), b64(case["Value"]))
    else:
        assert apply_leaf(op, b64(case["Key"]), b64(case["Value"])) == b64(case["Expected"])


def test_inner_op_data(inner_op_case: tuple[str, dict[str, Any]]) -> None:
    _name, case = inner_op_case
    op = parse(case["Op"], pb.InnerOp())
    if case["IsErr"]:
        with pytest.raises(ProofError, match="inner op needs child value"):
            apply_inner(op, b64(case["Child"]))
    else:
        assert apply_inner(op, b64(case["Child"])) == b64(case["Expected"])


def test_do_hash_data(do_hash_case: tuple[str, dict[str, Any]]) -> None:
    _name, case = do_hash_case
    # The file spells the field both "Preimage" and "PreImage" (Go's JSON
    # decoding matches field names case-insensitively).
    fields = {k.lower(): v for k, v in case.items()}
    digest = do_hash(fields["hashop"], fields["preimage"].encode())
    assert digest.hex() == fields["expectedhash"]


def test_existence_proof_data(existence_proof_case: tuple[str, dict[str, Any]]) -> None:
    _name, case = existence_proof_case
    proof = parse(case["Proof"], pb.ExistenceProof())
    if case["IsErr"]:
        with pytest.raises(ProofError):
            calculate_root(proof)
    else:
        assert calculate_root(proof) == b64(case["Expected"])


def test_check_leaf_data(check_leaf_case: tuple[str, dict[str, Any]]) -> None:
    _name, case = check_leaf_case
    leaf = parse(case["Leaf"], pb.LeafOp())
    spec = pb.ProofSpec()
    spec.leaf_spec.CopyFrom(parse(case["Spec"], pb.LeafOp()))
    if case["IsErr"]:
        with pytest.raises(ProofError):
            check_leaf_op(leaf, SpecRules.of(spec))
    else:
        check_leaf_op(leaf, SpecRules.of(spec))


def test_check_against_spec_data(check_against_spec_case: tuple[str, dict[str, Any]]) -> None:
    _name, case = check_against_spec_case
    proof = parse(case["Proof"], pb.ExistenceProof())
    spec = parse(case["Spec"], pb.ProofSpec())
    if not case["Err"]:
        check_existence_against_spec(spec, proof)
        return
    with pytest.raises(ProofError) as info:
        check_existence_against_spec(spec, proof)
    # our messages start with the reference's text, then add both values
    assert str(info.value).startswith(case["Err"]), (str(info.value), case["Err"])


def test_empty_branch_data(empty_branch_case: tuple[str, dict[str, Any]]) -> None:
    _name, case = empty_branch_case
    op = parse(case["Op"], pb.InnerOp())
    rules = SpecRules.of(parse(case["Spec"], pb.ProofSpec()))
    check_inner_op(op, rules, 1)
    assert left_branches_are_empty(rules, op) is case["IsLeft"]
    assert right_branches_are_empty(rules, op) is case["IsRight"]


# --- specs --------------------------------------------------------------------------


def test_smt_spec_is_the_project_store_spec() -> None:
    leaf, inner = SMT_SPEC.leaf_spec, SMT_SPEC.inner_spec
    assert (leaf.hash, leaf.prehash_key, leaf.prehash_value) == (pb.SHA256,) * 3
    assert (leaf.length, leaf.prefix) == (pb.NO_PREFIX, b"\x00")
    assert list(inner.child_order) == [0, 1]
    assert (inner.child_size, inner.min_prefix_length, inner.max_prefix_length) == (32, 1, 1)
    assert (inner.empty_child, inner.hash) == (bytes(32), pb.SHA256)
    assert (SMT_SPEC.max_depth, SMT_SPEC.min_depth) == (256, 0)
    assert SMT_SPEC.prehash_key_before_comparison is True
    assert SPECS == {"smt": SMT_SPEC, "iavl": IAVL_SPEC, "tendermint": TENDERMINT_SPEC}


def test_spec_rules_recognise_iavl_and_tendermint() -> None:
    assert SpecRules.of(IAVL_SPEC).is_iavl and not SpecRules.of(IAVL_SPEC).is_tendermint
    assert SpecRules.of(TENDERMINT_SPEC).is_tendermint and not SpecRules.of(TENDERMINT_SPEC).is_iavl
    smt = SpecRules.of(SMT_SPEC)
    assert not smt.is_iavl and not smt.is_tendermint
    assert smt.max_depth == 256 and SpecRules.of(IAVL_SPEC).max_depth == 128


# --- hashing and length ops -------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "match"),
    [
        (NO_HASH, "unsupported hashop: 0 \\(NO_HASH\\)"),
        (KECCAK, "unsupported hashop: 3 \\(KECCAK\\)"),
        (BLAKE3, "unsupported hashop: 9 \\(BLAKE3\\)"),
        (1000, "unsupported hashop: 1000"),
        (-1, "unsupported hashop: -1"),
    ],
)
def test_unsupported_hash_ops(op: int, match: str) -> None:
    with pytest.raises(ProofError, match=match):
        do_hash(op, b"food")


def test_ripemd160_fallback_matches_known_digests() -> None:
    assert ripemd160_pure(b"").hex() == "9c1185a5c5e9fc54612808977ee8f548b2258d31"
    assert ripemd160_pure(b"abc").hex() == "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc"
    assert ripemd160_pure(b"food").hex() == "b1ab9988c7c7c5ec4b2b291adfeeee10e77cdd46"
    million_a = ripemd160_pure(b"a" * 1_000_000).hex()
    assert million_a == "52783243c1697bdbe16d37f97f68f08325dc1528"


@pytest.mark.parametrize(
    ("op", "data", "expected"),
    [
        (pb.NO_PREFIX, b"food", b"food"),
        (pb.VAR_PROTO, b"food", b"\x04food"),
        (pb.VAR_PROTO, b"x" * 300, b"\xac\x02" + b"x" * 300),
        (pb.FIXED32_BIG, b"food", b"\x00\x00\x00\x04food"),
        (pb.FIXED32_LITTLE, b"food", b"\x04\x00\x00\x00food"),
        (pb.FIXED64_BIG, b"food", b"\x00" * 7 + b"\x04food"),
        (pb.FIXED64_LITTLE, b"food", b"\x04" + b"\x00" * 7 + b"food"),
        (pb.REQUIRE_32_BYTES, bytes(32), bytes(32)),
        (pb.REQUIRE_64_BYTES, bytes(64), bytes(64)),
    ],
)
def test_length_ops(op: int, data: bytes, expected: bytes) -> None:
    assert do_length_op(op, data) == expected


@pytest.mark.parametrize(
    ("op", "data", "match"),
    [
        (pb.REQUIRE_32_BYTES, bytes(31), "data was 31 bytes, not 32"),
        (pb.REQUIRE_64_BYTES, bytes(65), "data was 65 bytes, not 64"),
        (pb.VAR_RLP, b"food", "unsupported lengthop: 2 \\(VAR_RLP\\)"),
        (99, b"food", "unsupported lengthop: 99"),
    ],
)
def test_length_op_errors(op: int, data: bytes, match: str) -> None:
    with pytest.raises(ProofError, match=match):
        do_length_op(op, data)


def test_encode_varint_proto() -> None:
    assert encode_varint_proto(0) == b"\x00"
    assert encode_varint_proto(127) == b"\x7f"
    assert encode_varint_proto(128) == b"\x80\x01"
    assert encode_varint_proto(2**32) == b"\x80\x80\x80\x80\x10"


def test_leaf_op_error_context() -> None:
    op = pb.LeafOp(hash=pb.SHA256, prehash_key=KECCAK)
    with pytest.raises(ProofError, match=r"^prehash key, unsupported hashop: 3"):
        apply_leaf(op, b"k", b"v")
    op = pb.LeafOp(hash=pb.SHA256, length=pb.REQUIRE_32_BYTES, prehash_key=pb.SHA256)
    with pytest.raises(ProofError, match=r"^prehash value, data was 1 bytes, not 32"):
        apply_leaf(op, b"k", b"v")


# --- IAVL and Tendermint layout checks (cases of the reference's ops_test.go) ----------


def zigzag(*values: int) -> bytes:
    """Go binary.PutVarint encoding of each value, concatenated."""
    out = b""
    for v in values:
        out += encode_varint_proto((v << 1) ^ (v >> 63) if v < 0 else v << 1)
    return out


VALID_IAVL_INNER_PREFIX = zigzag(5, 10, 20) + b"\x20"


@pytest.mark.parametrize(
    ("prefix", "hash_op", "layer", "error"),
    [
        (VALID_IAVL_INNER_PREFIX, pb.SHA256, 1, None),
        (b"", pb.SHA256, 1, "failed to read IAVL height varint: EOF"),
        (b"\x80", pb.SHA256, 1, "failed to read IAVL height varint: unexpected EOF"),
        (b"\xff" * 10 + b"\x01", pb.SHA256, 1, "failed to read IAVL height varint: binary:"),
        (b"\x01", pb.SHA256, 1, "IAVL height (-1) must be non-negative and greater than or"),
        (zigzag(5), pb.SHA256, 1, "failed to read IAVL size varint: EOF"),
        (zigzag(5, -1), pb.SHA256, 1, "IAVL size must be non-negative"),
        (zigzag(5, 10), pb.SHA256, 1, "failed to read IAVL version varint: EOF"),
        (zigzag(5, 10, -1), pb.SHA256, 1, "IAVL version must be non-negative"),
        (VALID_IAVL_INNER_PREFIX, pb.SHA256, 0, "expected remaining prefix length to be 0, got: 1"),
        (VALID_IAVL_INNER_PREFIX + b"\x01", pb.SHA256, 1, "remainder of prefix must be of length"),
        (VALID_IAVL_INNER_PREFIX, pb.NO_HASH, 1, "IAVL hash op must be SHA256"),
        (zigzag(2, 3, 4) + bytes(34), pb.SHA256, 2, None),
        (zigzag(1, 3, 4) + b"\x20", pb.SHA256, 2, "IAVL height (1) must be non-negative"),
        (zigzag(0, 1, 7), pb.SHA256, 0, None),
    ],
)
def test_validate_iavl_op(prefix: bytes, hash_op: int, layer: int, error: str | None) -> None:
    if error is None:
        validate_iavl_op(prefix, hash_op, layer)
    else:
        with pytest.raises(ProofError) as info:
            validate_iavl_op(prefix, hash_op, layer)
        assert str(info.value).startswith(error)


@pytest.mark.parametrize(
    ("prefix", "suffix", "error"),
    [
        (b"\x01", b"\x01", None),
        (b"\x01\x02", b"", None),
        (b"", b"", "inner op prefix must not be empty"),
        (b"\x00", b"\x01", "expected inner op prefix: 01, got: 00"),
        (b"\x02\x01", b"", "expected inner op prefix to begin with: 01, got: 02"),
    ],
)
def test_validate_tendermint_op(prefix: bytes, suffix: bytes, error: str | None) -> None:
    op = pb.InnerOp(hash=pb.SHA256, prefix=prefix, suffix=suffix)
    if error is None:
        validate_tendermint_op(op)
    else:
        with pytest.raises(ProofError, match=error):
            validate_tendermint_op(op)


def _iavl_like(**changes: Any) -> pb.ProofSpec:
    spec = pb.ProofSpec()
    spec.CopyFrom(IAVL_SPEC)
    for path, value in changes.items():
        part, field = path.split("__")
        setattr(getattr(spec, part), field, value)
    return spec


@pytest.mark.parametrize(
    ("spec", "op", "error"),
    [
        (IAVL_SPEC, pb.InnerOp(hash=pb.SHA256, prefix=VALID_IAVL_INNER_PREFIX), None),
        (pb.ProofSpec(leaf_spec=IAVL_SPEC.leaf_spec), pb.InnerOp(), "spec.InnerSpec must be"),
        (pb.ProofSpec(inner_spec=IAVL_SPEC.inner_spec), pb.InnerOp(), "spec.LeafSpec must be"),
        (
            IAVL_SPEC,
            pb.InnerOp(hash=pb.BITCOIN, prefix=VALID_IAVL_INNER_PREFIX),
            "unexpected HashOp: 5 (BITCOIN), spec requires 1 (SHA256)",
        ),
        (IAVL_SPEC, pb.InnerOp(hash=pb.SHA256, prefix=b"\x01"), "IAVL height (-1)"),
        (
            _iavl_like(leaf_spec__prehash_key=pb.BITCOIN),
            pb.InnerOp(hash=pb.SHA256, prefix=b"\x00" + VALID_IAVL_INNER_PREFIX),
            "inner Prefix starts with 00",
        ),
        (
            _iavl_like(leaf_spec__prehash_key=pb.BITCOIN),
            pb.InnerOp(hash=pb.SHA256, prefix=b"\x01"),
            "innerOp prefix too short (1)",
        ),
        (
            _iavl_like(leaf_spec__prehash_key=pb.BITCOIN),
            pb.InnerOp(hash=pb.SHA256, prefix=b"A" * 52),
            "innerOp prefix too long (52), at most 45 allowed",
        ),
        (
            _iavl_like(inner_spec__child_size=0),
            pb.InnerOp(hash=pb.SHA256, prefix=VALID_IAVL_INNER_PREFIX),
            "spec.InnerSpec.ChildSize must be >= 1",
        ),
        (
            _iavl_like(inner_spec__max_prefix_length=4 + 33),
            pb.InnerOp(hash=pb.SHA256, prefix=VALID_IAVL_INNER_PREFIX),
            "spec.InnerSpec.MaxPrefixLength must be < spec.InnerSpec.MinPrefixLength + spec.Inn",
        ),
        (
            IAVL_SPEC,
            pb.InnerOp(hash=pb.SHA256, prefix=VALID_IAVL_INNER_PREFIX, suffix=b"\x01"),
            "InnerOp suffix malformed",
        ),
        (TENDERMINT_SPEC, pb.InnerOp(hash=pb.SHA256, prefix=b"\x02"), "expected inner op prefix"),
        (SMT_SPEC, pb.InnerOp(hash=pb.SHA256, prefix=b"\x02", suffix=bytes(32)), None),
        (SMT_SPEC, pb.InnerOp(hash=pb.SHA256, prefix=b"\x00"), "inner Prefix starts with 00"),
    ],
)
def test_check_inner_op(spec: pb.ProofSpec, op: pb.InnerOp, error: str | None) -> None:
    if error is None:
        check_inner_op(op, SpecRules.of(spec), 1)
    else:
        with pytest.raises(ProofError) as info:
            check_inner_op(op, SpecRules.of(spec), 1)
        assert str(info.value).startswith(error), str(info.value)


def test_check_leaf_op_reports_both_values() -> None:
    leaf = pb.LeafOp(hash=pb.SHA512, prehash_key=pb.SHA256, prehash_value=pb.SHA256, prefix=b"\x00")
    with pytest.raises(ProofError, match=r"unexpected HashOp: 2 \(SHA512\), spec requires 1"):
        check_leaf_op(leaf, SpecRules.of(SMT_SPEC))
    leaf.hash = pb.SHA256
    leaf.length = pb.VAR_PROTO
    with pytest.raises(ProofError, match=r"LengthOp: 1 \(VAR_PROTO\), spec requires 0 \(NO_PREFIX"):
        check_leaf_op(leaf, SpecRules.of(SMT_SPEC))
    leaf.length = pb.NO_PREFIX
    leaf.prefix = b"\x01"
    with pytest.raises(ProofError, match="leaf Prefix doesn't start with 00 \\(leaf prefix is 01"):
        check_leaf_op(leaf, SpecRules.of(SMT_SPEC))
    with pytest.raises(ProofError, match=r"spec\.LeafSpec must be non-nil"):
        check_leaf_op(leaf, SpecRules.of(pb.ProofSpec()))


def test_forged_proofs_with_loose_max_prefix_length_are_rejected() -> None:
    """An inner spec whose prefix may hold a whole child admits forged proofs.

    The reference's regression test for the 2024 audit finding: with
    max_prefix_length 33 a tendermint-like tree lets a 3-leaf subtree be
    presented as leaves at different depths. Every proof must be refused.
    """
    spec = pb.ProofSpec()
    spec.CopyFrom(TENDERMINT_SPEC)
    spec.inner_spec.max_prefix_length = 33
    leaf_op = spec.leaf_spec
    a, b, b2, c = (apply_leaf(leaf_op, k, k) for k in (b"a", b"b", b"b2", b"c"))
    inner = pb.SHA256
    a_exist = pb.ExistenceProof(
        key=b"a",
        value=b"a",
        leaf=leaf_op,
        path=[
            pb.InnerOp(hash=inner, prefix=b"\x01", suffix=b + b2),
            pb.InnerOp(hash=inner, prefix=b"\x01", suffix=c),
        ],
    )
    b_exist = pb.ExistenceProof(
        key=b"b",
        value=b"b",
        leaf=leaf_op,
        path=[
            pb.InnerOp(hash=inner, prefix=b"\x01" + a, suffix=b2),
            pb.InnerOp(hash=inner, prefix=b"\x01", suffix=c),
        ],
    )
    root = calculate_root(a_exist)
    assert calculate_root(b_exist) == root
    for proof, key in ((a_exist, b"a"), (b_exist, b"b")):
        with pytest.raises(ProofError, match=r"^inner, spec\.InnerSpec\.MaxPrefixLength must be <"):
            verify_existence(spec, root, proof, key, key)
    with pytest.raises(ProofError, match=r"^right proof, inner, spec\.InnerSpec\.MaxPrefixLength"):
        verify_non_existence(spec, root, pb.NonExistenceProof(key=b"a", right=b_exist), b"a")


def test_existence_proof_depth_limits() -> None:
    leaf = pb.LeafOp()
    leaf.CopyFrom(SMT_SPEC.leaf_spec)
    step = pb.InnerOp(hash=pb.SHA256, prefix=b"\x01", suffix=bytes(32))
    proof = pb.ExistenceProof(key=b"k", value=b"v", leaf=leaf, path=[step] * 256)
    check_existence_against_spec(SMT_SPEC, proof)
    proof.path.append(step)
    with pytest.raises(ProofError, match=r"^innerOps depth too long: 257 \(max_depth 256\)"):
        check_existence_against_spec(SMT_SPEC, proof)
    negative = pb.ProofSpec()
    negative.CopyFrom(SMT_SPEC)
    negative.max_depth = -1  # as in the reference, a negative limit admits nothing
    with pytest.raises(ProofError, match="innerOps depth too long: 0"):
        check_existence_against_spec(negative, pb.ExistenceProof(key=b"k", value=b"v", leaf=leaf))


def test_calculate_root_rejects_oversized_intermediate_hash() -> None:
    leaf = pb.LeafOp()
    leaf.CopyFrom(SMT_SPEC.leaf_spec)
    proof = pb.ExistenceProof(
        key=b"k",
        value=b"v",
        leaf=leaf,
        path=[pb.InnerOp(hash=pb.SHA512, prefix=b"\x01", suffix=bytes(32))],
    )
    spec = pb.ProofSpec()
    spec.CopyFrom(SMT_SPEC)
    spec.inner_spec.hash = pb.SHA512
    root = calculate_root(proof)  # no spec: fine
    with pytest.raises(ProofError, match="hash of 64 bytes exceeds child_size 32"):
        verify_existence(spec, root, proof, b"k", b"v")


# --- neighbour rules on hand-made paths --------------------------------------------------


def _op(prefix: bytes, suffix: bytes = b"") -> pb.InnerOp:
    return pb.InnerOp(hash=pb.SHA256, prefix=prefix, suffix=suffix)


H1, H2, H3 = (bytes([i]) * 32 for i in (1, 2, 3))
EMPTY = bytes(32)
SMT = SpecRules.of(SMT_SPEC)


@pytest.mark.parametrize(
    ("path", "left_most", "right_most"),
    [
        ([], True, True),
        ([_op(b"\x01", H1)], True, False),  # we are the left child
        ([_op(b"\x01" + H1)], False, True),  # we are the right child
        ([_op(b"\x01" + EMPTY)], True, True),  # right child, but left sibling empty
        ([_op(b"\x01", EMPTY)], True, True),  # left child, right sibling empty
        ([_op(b"\x01", H1), _op(b"\x01" + H2)], False, False),
        ([_op(b"\x01", H1), _op(b"\x01" + EMPTY)], True, False),
        ([_op(b"\x01\x02", H1)], False, False),  # no branch has this padding
    ],
)
def test_left_most_and_right_most(
    path: list[pb.InnerOp], left_most: bool, right_most: bool
) -> None:
    assert is_left_most(SMT, path) is left_most
    assert is_right_most(SMT, path) is right_most


def test_left_neighbor() -> None:
    top = _op(b"\x01", H3)  # shared upper step: both under the left child of the root
    left = [_op(b"\x01" + H1), _op(b"\x01", H2), top]  # right-most leaf of node X
    right = [_op(b"\x01", H1), _op(b"\x01" + H2), top]  # left-most leaf of node Y
    # X is the left child and Y the right child of one node: adjacent
    assert is_left_neighbor(SMT, left, right) is True
    # swapping them: divergent steps in the wrong order
    assert is_left_neighbor(SMT, right, left) is False
    # a leaf that is not the right-most of the left subtree
    not_right_most = [_op(b"\x01", H1), _op(b"\x01", H2), top]
    assert is_left_neighbor(SMT, not_right_most, right) is False
    with pytest.raises(ProofError, match="no divergent step"):
        is_left_neighbor(SMT, left, left)
    with pytest.raises(ProofError, match="non-empty paths"):
        is_left_neighbor(SMT, [], right)


def test_neighbour_rules_do_not_crash_on_malformed_specs() -> None:
    op = _op(b"\x01", H1)
    for inner in (
        pb.InnerSpec(),
        pb.InnerSpec(child_order=[1, 2], child_size=32, min_prefix_length=1, max_prefix_length=1),
        pb.InnerSpec(child_order=[0, 1], child_size=-32, min_prefix_length=1, max_prefix_length=1),
    ):
        rules = SpecRules.of(pb.ProofSpec(leaf_spec=SMT_SPEC.leaf_spec, inner_spec=inner))
        for check in (is_left_most, is_right_most):
            with contextlib.suppress(ProofError):
                assert isinstance(check(rules, [op]), bool)


# --- odds and ends ------------------------------------------------------------------------


def test_exclusion_entries_survive_compression(proof_vectors: list[dict[str, Any]]) -> None:
    """Exclusion proofs are carried through (de)compression but never verified."""
    proof, root, key, value = decode_vector(proof_vectors[6])  # smt/exist_left
    batch = pb.CommitmentProof()
    excl = batch.batch.entries.add().exclusion
    excl.key = key
    excl.actual_path = b"p"
    excl.actual_value_hash = b"h"
    excl.leaf.CopyFrom(proof.exist.leaf)
    excl.path.extend(proof.exist.path)
    batch.batch.entries.add().exist.CopyFrom(proof.exist)
    compressed = compress(batch)
    assert decompress(compressed) == batch
    assert verify_membership(SMT_SPEC, root, compressed, key, value) is True
    only_exclusion = pb.CommitmentProof()
    only_exclusion.exclusion.CopyFrom(excl)
    assert verify_membership(SMT_SPEC, root, only_exclusion, key, value) is False
    assert verify_non_membership(SMT_SPEC, root, only_exclusion, key) is False


def test_unsupported_comparison_prehash_rejects_quietly(
    proof_vectors: list[dict[str, Any]],
) -> None:
    proof, root, key, _value = decode_vector(proof_vectors[10])  # smt/nonexist_middle
    spec = pb.ProofSpec()
    spec.CopyFrom(SMT_SPEC)
    spec.leaf_spec.prehash_key = KECCAK
    assert verify_non_membership(spec, root, proof, key) is False
    with pytest.raises(ProofError):
        verify_non_existence(spec, root, proof.nonexist, key)


def test_long_values_are_truncated_in_messages(proof_vectors: list[dict[str, Any]]) -> None:
    proof, root, key, _value = decode_vector(proof_vectors[6])  # smt/exist_left
    with pytest.raises(ProofError, match=r"\.\.\.\(1000 bytes\) != ") as info:
        verify_existence(SMT_SPEC, root, proof.exist, key, b"x" * 1000)
    assert len(str(info.value)) < 300
