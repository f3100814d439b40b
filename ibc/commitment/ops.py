"""ICS-23 leaf and inner operations: applying them, and checking them against a spec.

An ExistenceProof is a LeafOp (turns key and value into a leaf hash) followed
by InnerOps (each hashes prefix || child || suffix). This module applies the
ops and enforces the ProofSpec rules on them, with the semantics and checks of
the reference Go implementation (cosmos/ics23 go/ops.go, v0.11 plus the
2024 hardening: IAVL and Tendermint layout checks, MaxPrefixLength bound).
The error texts start with the reference's own, then add both values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.pb.cosmos.ics23.v1 import proofs_pb2 as pb

from .errors import ProofError, short_hex
from .hashing import (
    SHA256,
    do_hash,
    do_hash_or_noop,
    do_length_op,
    hash_op_name,
    length_op_name,
)
from .specs import IAVL_SPEC, TENDERMINT_SPEC, spec_equals

# The reference treats max_depth == 0 as this limit (cosmos/ics23 go v0.11).
DEFAULT_MAX_DEPTH = 128


@dataclass(frozen=True, slots=True)
class SpecRules:
    """The fields of a ProofSpec, read once per verification.

    Reading protobuf fields is slow next to comparing Python values, and the
    IAVL / Tendermint equality tests are needed for every inner op; so a spec
    is flattened into this record once, at the top of each verify call.
    """

    has_leaf_spec: bool
    has_inner_spec: bool
    leaf_hash: int
    leaf_prehash_key: int
    leaf_prehash_value: int
    leaf_length: int
    leaf_prefix: bytes
    inner_hash: int
    child_order: tuple[int, ...]
    child_size: int
    min_prefix_length: int
    max_prefix_length: int
    empty_child: bytes
    min_depth: int
    max_depth: int  # effective limit: 0 in the spec means DEFAULT_MAX_DEPTH
    prehash_key_before_comparison: bool
    is_iavl: bool
    is_tendermint: bool

    @classmethod
    def of(cls, spec: pb.ProofSpec) -> SpecRules:
        """Flatten ``spec``."""
        leaf, inner = spec.leaf_spec, spec.inner_spec
        return cls(
            has_leaf_spec=spec.HasField("leaf_spec"),
            has_inner_spec=spec.HasField("inner_spec"),
            leaf_hash=leaf.hash,
            leaf_prehash_key=leaf.prehash_key,
            leaf_prehash_value=leaf.prehash_value,
            leaf_length=leaf.length,
            leaf_prefix=leaf.prefix,
            inner_hash=inner.hash,
            child_order=tuple(inner.child_order),
            child_size=inner.child_size,
            min_prefix_length=inner.min_prefix_length,
            max_prefix_length=inner.max_prefix_length,
            empty_child=inner.empty_child,
            min_depth=spec.min_depth,
            max_depth=spec.max_depth or DEFAULT_MAX_DEPTH,
            prehash_key_before_comparison=spec.prehash_key_before_comparison,
            is_iavl=spec_equals(spec, IAVL_SPEC),
            is_tendermint=spec_equals(spec, TENDERMINT_SPEC),
        )


def _mismatch(what: str, got: int, want: int, namer: Callable[[int], str] = hash_op_name) -> str:
    """'unexpected X: got (NAME), spec requires want (NAME)'."""
    return f"unexpected {what}: {got} ({namer(got)}), spec requires {want} ({namer(want)})"


# --- applying ops -------------------------------------------------------------


def _prepare_leaf_data(prehash: int, length: int, data: bytes) -> bytes:
    """Prehash (or not) then length-prefix one half of a leaf preimage."""
    return do_length_op(length, do_hash_or_noop(prehash, data))


def apply_leaf(op: pb.LeafOp, key: bytes, value: bytes) -> bytes:
    """Leaf hash of (key, value): hash(prefix || prep(key) || prep(value)).

    Raises:
        ProofError: empty key or value (the reference forbids both), or an
            unsupported hash / length op.
    """
    if not key:
        raise ProofError("leaf op needs key")
    if not value:
        raise ProofError("leaf op needs value")
    try:
        pkey = _prepare_leaf_data(op.prehash_key, op.length, key)
    except ProofError as e:
        raise ProofError(f"prehash key, {e}") from e
    try:
        pvalue = _prepare_leaf_data(op.prehash_value, op.length, value)
    except ProofError as e:
        raise ProofError(f"prehash value, {e}") from e
    return do_hash(op.hash, op.prefix + pkey + pvalue)


def apply_inner(op: pb.InnerOp, child: bytes) -> bytes:
    """Parent hash of ``child``: hash(prefix || child || suffix).

    Raises:
        ProofError: empty child or unsupported hash op.
    """
    if not child:
        raise ProofError("inner op needs child value")
    return do_hash(op.hash, op.prefix + child + op.suffix)


# --- spec checks ---------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Read a zig-zag signed varint at ``pos``, as Go's binary.ReadVarint does.

    Returns (value, position after it). Error texts are Go's (EOF,
    unexpected EOF, overflow) because the reference embeds them.
    """
    x = 0
    shift = 0
    for i in range(10):
        if pos >= len(data):
            raise ProofError("unexpected EOF" if i > 0 else "EOF")
        b = data[pos]
        pos += 1
        if b < 0x80:
            if i == 9 and b > 1:
                raise ProofError("binary: varint overflows a 64-bit integer")
            ux = x | (b << shift)
            return ((ux >> 1) ^ -(ux & 1)), pos
        x |= (b & 0x7F) << shift
        shift += 7
    raise ProofError("binary: varint overflows a 64-bit integer")


def validate_iavl_op(prefix: bytes, hash_op: int, layer_num: int) -> None:
    """IAVL layout check of a leaf (layer 0) or inner (layer >= 1) op prefix.

    An IAVL node prefix is varint(height) varint(size) varint(version), then
    nothing for a leaf, or for an inner node the length byte of the left
    child (1 byte) or a whole left child (34 bytes). Heights must be at least
    the layer number. The reference applies this when the spec is IAVL, to
    stop a leaf being passed off as an inner node and vice versa.

    Raises:
        ProofError: the prefix does not have that layout.
    """
    try:
        height, pos = _read_varint(prefix, 0)
    except ProofError as e:
        raise ProofError(f"failed to read IAVL height varint: {e}") from e
    if height < 0 or height < layer_num:
        raise ProofError(
            f"IAVL height ({height}) must be non-negative and greater than or equal "
            f"to the layer number ({layer_num})"
        )
    try:
        size, pos = _read_varint(prefix, pos)
    except ProofError as e:
        raise ProofError(f"failed to read IAVL size varint: {e}") from e
    if size < 0:
        raise ProofError(f"IAVL size must be non-negative (got {size})")
    try:
        version, pos = _read_varint(prefix, pos)
    except ProofError as e:
        raise ProofError(f"failed to read IAVL version varint: {e}") from e
    if version < 0:
        raise ProofError(f"IAVL version must be non-negative (got {version})")
    remaining = len(prefix) - pos
    if layer_num == 0:
        if remaining != 0:
            raise ProofError(f"expected remaining prefix length to be 0, got: {remaining}")
        return
    if remaining not in (1, 34):
        raise ProofError(f"remainder of prefix must be of length 1 or 34, got: {remaining}")
    if hash_op != SHA256:
        raise ProofError(f"IAVL hash op must be SHA256, got {hash_op_name(hash_op)}")


def validate_tendermint_op(op: pb.InnerOp) -> None:
    """Tendermint layout check of an inner op: prefix is 0x01 (+ left child).

    CometBFT's inner node is SHA256(0x01 || left || right); so with a suffix
    (we are the left child) the prefix is exactly 0x01, and without one the
    prefix starts with 0x01.

    Raises:
        ProofError: the prefix does not have that layout.
    """
    prefix = op.prefix
    if not prefix:
        raise ProofError("inner op prefix must not be empty")
    if op.suffix and prefix != b"\x01":
        raise ProofError(f"expected inner op prefix: 01, got: {short_hex(prefix)}")
    if prefix[0] != 1:
        raise ProofError(f"expected inner op prefix to begin with: 01, got: {prefix[:1].hex()}")


def check_leaf_op(op: pb.LeafOp, rules: SpecRules) -> None:
    """Check that a proof's LeafOp is the one the spec prescribes.

    All hash and length ops must be equal, and the leaf prefix must start with
    the spec's leaf prefix (it may carry more, e.g. IAVL height/size/version).

    Raises:
        ProofError: naming the first field that differs, with both values.
    """
    if not rules.has_leaf_spec:
        raise ProofError("spec.LeafSpec must be non-nil")
    if rules.is_iavl:
        validate_iavl_op(op.prefix, op.hash, 0)
    if op.hash != rules.leaf_hash:
        raise ProofError(_mismatch("HashOp", op.hash, rules.leaf_hash))
    if op.prehash_key != rules.leaf_prehash_key:
        raise ProofError(_mismatch("PrehashKey", op.prehash_key, rules.leaf_prehash_key))
    if op.prehash_value != rules.leaf_prehash_value:
        raise ProofError(_mismatch("PrehashValue", op.prehash_value, rules.leaf_prehash_value))
    if op.length != rules.leaf_length:
        raise ProofError(_mismatch("LengthOp", op.length, rules.leaf_length, length_op_name))
    if not op.prefix.startswith(rules.leaf_prefix):
        raise ProofError(
            f"leaf Prefix doesn't start with {rules.leaf_prefix.hex().upper()} "
            f"(leaf prefix is {short_hex(op.prefix)})"
        )


def check_inner_op(op: pb.InnerOp, rules: SpecRules, layer_num: int) -> None:
    """Check one InnerOp of a path (``layer_num`` 1 = just above the leaf).

    The op must use the spec's inner hash; its prefix must not start with the
    leaf prefix (else a leaf could pose as an inner node); the prefix length
    must lie between min_prefix_length and max_prefix_length plus the bytes
    of all-but-one children; the suffix must be whole children. The spec
    itself must have child_size >= 1 and max_prefix_length < min_prefix_length
    + child_size (else prefix bytes could pose as a child).

    Raises:
        ProofError: naming the failed rule, with both values.
    """
    if not rules.has_inner_spec:
        raise ProofError("spec.InnerSpec must be non-nil")
    if not rules.has_leaf_spec:
        raise ProofError("spec.LeafSpec must be non-nil")
    if op.hash != rules.inner_hash:
        raise ProofError(_mismatch("HashOp", op.hash, rules.inner_hash))
    prefix = op.prefix
    if rules.is_iavl:
        validate_iavl_op(prefix, op.hash, layer_num)
    if rules.is_tendermint:
        validate_tendermint_op(op)
    # Note: an empty leaf prefix is a prefix of everything, so (as in the
    # reference) a spec without a leaf prefix admits no inner ops at all.
    if prefix.startswith(rules.leaf_prefix):
        raise ProofError(
            f"inner Prefix starts with {rules.leaf_prefix.hex().upper()} "
            f"(inner prefix is {short_hex(prefix)})"
        )
    if len(prefix) < rules.min_prefix_length:
        raise ProofError(
            f"innerOp prefix too short ({len(prefix)}), "
            f"spec min_prefix_length is {rules.min_prefix_length}"
        )
    max_left_child_bytes = (len(rules.child_order) - 1) * rules.child_size
    max_len = rules.max_prefix_length + max_left_child_bytes
    if len(prefix) > max_len:
        raise ProofError(f"innerOp prefix too long ({len(prefix)}), at most {max_len} allowed")
    if rules.child_size <= 0:
        raise ProofError(f"spec.InnerSpec.ChildSize must be >= 1 (is {rules.child_size})")
    if rules.max_prefix_length >= rules.min_prefix_length + rules.child_size:
        raise ProofError(
            "spec.InnerSpec.MaxPrefixLength must be < spec.InnerSpec.MinPrefixLength + "
            f"spec.InnerSpec.ChildSize ({rules.max_prefix_length} >= "
            f"{rules.min_prefix_length} + {rules.child_size})"
        )
    if len(op.suffix) % rules.child_size != 0:
        raise ProofError(
            f"InnerOp suffix malformed: {len(op.suffix)} bytes is not a multiple "
            f"of child_size {rules.child_size}"
        )
