"""CometBFT v0.38 hashes and sign bytes, byte for byte.

What a light client checks is signatures over hashes that CometBFT computed
in Go from gogoproto encodings, so this module writes those encodings out by
hand instead of trusting Python protobuf's field-presence rules to match:

- ``merkle_root``: the RFC-6962 simple Merkle tree of ``crypto/merkle``.
- ``header_hash``: ``types.Header.Hash()`` (``types/block.go``), a Merkle
  root over the 14 header fields, each encoded as ``cdcEncode``
  (``types/encoding_helper.go``) or as a plain proto message.
- ``validator_set_hash``: ``types.ValidatorSet.Hash()``, a Merkle root over
  ``SimpleValidator{pub_key, voting_power}`` encodings in the set's order.
- ``vote_sign_bytes``: ``types.VoteSignBytes`` for a precommit, the
  varint-length-delimited ``CanonicalVote``.

Everything here is a pure function of its arguments; nothing raises on
well-typed input (validation lives in :mod:`ibc.client.tendermint`).
"""

from __future__ import annotations

import hashlib

from google.protobuf.timestamp_pb2 import Timestamp

from app.pb.tendermint.crypto import keys_pb2
from app.pb.tendermint.types import types_pb2, validator_pb2

NS_PER_S = 1_000_000_000
# Go's zero time.Time (0001-01-01T00:00:00Z) as a protobuf Timestamp: what
# CometBFT stores in absent commit signatures and in empty votes.
GO_ZERO_TIME_SECONDS = -62_135_596_800
GO_ZERO_TIME_NS = GO_ZERO_TIME_SECONDS * NS_PER_S
# The range google.protobuf.Timestamp (and Go's gogoproto) accepts.
MIN_TIMESTAMP_SECONDS = GO_ZERO_TIME_SECONDS
MAX_TIMESTAMP_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z

PRECOMMIT_TYPE = types_pb2.SIGNED_MSG_TYPE_PRECOMMIT  # 2

_WIRE_VARINT = 0
_WIRE_FIXED64 = 1
_WIRE_BYTES = 2


# ---- protobuf wire primitives ----


def _uvarint(n: int) -> bytes:
    """Unsigned LEB128; negative int64/int32 values as 64-bit two's complement."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(field: int, wire: int) -> bytes:
    return _uvarint(field << 3 | wire)


def _varint_field(field: int, n: int) -> bytes:
    """A proto3 scalar varint field: omitted when zero."""
    return _tag(field, _WIRE_VARINT) + _uvarint(n) if n else b""


def _sfixed64_field(field: int, n: int) -> bytes:
    """A proto3 sfixed64 field: omitted when zero."""
    if not n:
        return b""
    return _tag(field, _WIRE_FIXED64) + (n & ((1 << 64) - 1)).to_bytes(8, "little")


def _bytes_field(field: int, data: bytes) -> bytes:
    """A proto3 bytes/string field: omitted when empty."""
    return _tag(field, _WIRE_BYTES) + _uvarint(len(data)) + data if data else b""


def _message_field(field: int, body: bytes) -> bytes:
    """An embedded message that is always written (gogoproto non-nullable)."""
    return _tag(field, _WIRE_BYTES) + _uvarint(len(body)) + body


# ---- time ----


def timestamp_to_ns(ts: Timestamp) -> int:
    """Unix nanoseconds of a protobuf Timestamp (no range check)."""
    return int(ts.seconds) * NS_PER_S + int(ts.nanos)


def ns_to_timestamp(ns: int) -> Timestamp:
    """The protobuf Timestamp of Unix nanoseconds (nanos always in [0, 1e9))."""
    seconds, nanos = divmod(ns, NS_PER_S)
    return Timestamp(seconds=seconds, nanos=nanos)


def timestamp_bytes(ns: int) -> bytes:
    """Proto encoding of a Timestamp (``gogotypes.StdTimeMarshal``)."""
    seconds, nanos = divmod(ns, NS_PER_S)
    return _varint_field(1, seconds) + _varint_field(2, nanos)


# ---- Merkle tree (crypto/merkle, RFC 6962) ----


def _leaf_hash(item: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + item).digest()


def _inner_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split_point(n: int) -> int:
    """The largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(items: list[bytes]) -> bytes:
    """CometBFT's ``merkle.HashFromByteSlices``: sha256(b"") for no items."""
    if not items:
        return hashlib.sha256(b"").digest()
    # Bottom-up over leaf hashes, splitting as the recursive definition does.
    hashes = [_leaf_hash(item) for item in items]
    return _root_of(hashes, 0, len(hashes))


def _root_of(hashes: list[bytes], lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 1:
        return hashes[lo]
    k = _split_point(n)
    return _inner_hash(_root_of(hashes, lo, lo + k), _root_of(hashes, lo + k, hi))


# ---- cdcEncode (types/encoding_helper.go) ----


def cdc_string(value: str) -> bytes:
    """``cdcEncode(string)``: StringValue bytes, nothing for the empty string."""
    return _bytes_field(1, value.encode())


def cdc_int64(value: int) -> bytes:
    """``cdcEncode(int64)``: Int64Value bytes, nothing for zero."""
    return _varint_field(1, value)


def cdc_bytes(value: bytes) -> bytes:
    """``cdcEncode(HexBytes)``: BytesValue bytes, nothing for empty bytes."""
    return _bytes_field(1, value)


# ---- block ids, headers, validator sets ----


def part_set_header_bytes(psh: types_pb2.PartSetHeader) -> bytes:
    return _varint_field(1, psh.total) + _bytes_field(2, psh.hash)


def block_id_bytes(block_id: types_pb2.BlockID) -> bytes:
    """Proto encoding of a BlockID (its part_set_header is non-nullable)."""
    return _bytes_field(1, block_id.hash) + _message_field(
        2, part_set_header_bytes(block_id.part_set_header)
    )


def block_id_is_zero(block_id: types_pb2.BlockID) -> bool:
    """``BlockID.IsZero``: the id of a nil block."""
    psh = block_id.part_set_header
    return not block_id.hash and not psh.total and not psh.hash


def header_fields(header: types_pb2.Header) -> list[bytes]:
    """The 14 leaves of ``Header.Hash()``, in field order."""
    version = _varint_field(1, header.version.block) + _varint_field(2, header.version.app)
    return [
        version,
        cdc_string(header.chain_id),
        cdc_int64(header.height),
        timestamp_bytes(timestamp_to_ns(header.time)),
        block_id_bytes(header.last_block_id),
        cdc_bytes(header.last_commit_hash),
        cdc_bytes(header.data_hash),
        cdc_bytes(header.validators_hash),
        cdc_bytes(header.next_validators_hash),
        cdc_bytes(header.consensus_hash),
        cdc_bytes(header.app_hash),
        cdc_bytes(header.last_results_hash),
        cdc_bytes(header.evidence_hash),
        cdc_bytes(header.proposer_address),
    ]


def header_hash(header: types_pb2.Header) -> bytes:
    """``types.Header.Hash()`` of CometBFT v0.38.

    Like CometBFT, a header without a validators hash has no hash: the empty
    bytes are returned, which never equal a commit's 32-byte block hash.
    """
    if not header.validators_hash:
        return b""
    return merkle_root(header_fields(header))


def public_key_bytes(pub_key: keys_pb2.PublicKey) -> bytes:
    """Proto encoding of a ``tendermint.crypto.PublicKey`` (a oneof)."""
    kind = pub_key.WhichOneof("sum")
    if kind is None:
        return b""
    number = keys_pb2.PublicKey.DESCRIPTOR.fields_by_name[kind].number
    key = getattr(pub_key, kind)
    # A set oneof member is written even when empty.
    return _tag(number, _WIRE_BYTES) + _uvarint(len(key)) + key


def simple_validator_bytes(validator: validator_pb2.Validator) -> bytes:
    """``Validator.Bytes()``: SimpleValidator{pub_key, voting_power}."""
    return _message_field(1, public_key_bytes(validator.pub_key)) + _varint_field(
        2, validator.voting_power
    )


def validator_set_hash(vals: validator_pb2.ValidatorSet) -> bytes:
    """``types.ValidatorSet.Hash()``: Merkle root in the set's order."""
    return merkle_root([simple_validator_bytes(v) for v in vals.validators])


# ---- votes (types/vote.go, types/canonical.go) ----


def canonical_vote_bytes(
    chain_id: str,
    type_: int,
    height: int,
    round_: int,
    block_id: types_pb2.BlockID | None,
    timestamp_ns: int,
) -> bytes:
    """``VoteSignBytes``: the length-delimited CanonicalVote of any vote type.

    CanonicalVote fields: type (1, enum), height (2, sfixed64), round (3,
    sfixed64), block_id (4, CanonicalBlockID, omitted for a nil block),
    timestamp (5, always written), chain_id (6).
    """
    body = _varint_field(1, type_) + _sfixed64_field(2, height) + _sfixed64_field(3, round_)
    if block_id is not None and not block_id_is_zero(block_id):
        canonical_block_id = _bytes_field(1, block_id.hash) + _message_field(
            2, part_set_header_bytes(block_id.part_set_header)
        )
        body += _message_field(4, canonical_block_id)
    body += _message_field(5, timestamp_bytes(timestamp_ns))
    body += _bytes_field(6, chain_id.encode())
    return _uvarint(len(body)) + body


def vote_sign_bytes(
    chain_id: str,
    height: int,
    round_: int,
    block_id: types_pb2.BlockID,
    timestamp_ns: int,
) -> bytes:
    """The bytes a validator signs for a precommit of ``block_id``."""
    return canonical_vote_bytes(chain_id, PRECOMMIT_TYPE, height, round_, block_id, timestamp_ns)
