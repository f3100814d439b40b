"""CometBFT RPC JSON <-> light client protos.

The relayer reads ``/commit?height=H`` (``result.signed_header``) and
``/validators?height=H`` (``result.validators``, every page) from a node and
turns them into the ``tendermint.types`` protos an ICS-07 update carries;
in-process test nodes go the other way to serve those endpoints exactly as
CometBFT v0.38 does. JSON shapes (CometBFT's ``libs/json``):

- 64-bit integers (heights, voting power, version numbers) are strings;
  ``round``, ``parts.total`` and ``block_id_flag`` are JSON numbers;
- hashes and addresses are upper-case hex ("" when empty);
- signatures and public keys are base64 (an absent signature is ``null``);
- times are RFC 3339 with up to 9 fractional digits, in UTC; absent
  signatures carry Go's zero time "0001-01-01T00:00:00Z".

Malformed JSON raises :class:`~ibc.client.errors.ErrInvalidHeader`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from app.pb.tendermint.types import types_pb2, validator_pb2

from .errors import ErrInvalidHeader
from .hashing import MAX_TIMESTAMP_SECONDS, MIN_TIMESTAMP_SECONDS

ED25519_TYPE = "tendermint/PubKeyEd25519"
_KEY_TYPES = {ED25519_TYPE: "ed25519", "tendermint/PubKeySecp256k1": "secp256k1"}
_KEY_TYPE_NAMES = {v: k for k, v in _KEY_TYPES.items()}

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$"
)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_INT64_MAX = 2**63 - 1


# ---- scalars ----


def parse_time(text: Any) -> Timestamp:
    """An RFC 3339 (nano) time as a protobuf Timestamp, exactly (no floats)."""
    if not isinstance(text, str) or not (m := _RFC3339.match(text)):
        raise ErrInvalidHeader(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zulu, sign, off_h, off_m = m.groups()[6:]
    try:
        days = datetime.date(year, month, day).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        raise ErrInvalidHeader(f"not a calendar date: {text!r}") from None
    if hour > 23 or minute > 59 or second > 59:
        raise ErrInvalidHeader(f"not a time of day: {text!r}")
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    if not zulu:
        offset = int(off_h) * 3_600 + int(off_m) * 60
        seconds -= offset if sign == "+" else -offset
    if not MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS:
        raise ErrInvalidHeader(f"time out of range: {text!r}")
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return Timestamp(seconds=seconds, nanos=nanos)


def format_time(ts: Timestamp) -> str:
    """Go's ``time.RFC3339Nano`` of a UTC time (trailing zero digits dropped)."""
    days, rem = divmod(int(ts.seconds), 86_400)
    date = datetime.date.fromordinal(days + _EPOCH_ORDINAL)
    hour, rem = divmod(rem, 3_600)
    minute, second = divmod(rem, 60)
    text = f"{date.year:04d}-{date.month:02d}-{date.day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    if ts.nanos:
        text += "." + f"{ts.nanos:09d}".rstrip("0")
    return text + "Z"


def _hex(obj: dict, key: str) -> bytes:
    value = obj.get(key, "")
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ErrInvalidHeader(f"{key} is not a hex string: {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ErrInvalidHeader(f"{key} is not hex: {value!r}") from None


def _b64(obj: dict, key: str) -> bytes:
    value = obj.get(key)
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ErrInvalidHeader(f"{key} is not a base64 string: {value!r}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ErrInvalidHeader(f"{key} is not base64: {value!r}") from None


def _int(obj: dict, key: str, lo: int = 0, hi: int = _INT64_MAX, default: int | None = None) -> int:
    """An integer given as a JSON number or a decimal string, within [lo, hi]."""
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ErrInvalidHeader(f"{key} is not an integer: {value!r}")
    if isinstance(value, str):
        if not re.fullmatch(r"-?\d{1,20}", value):
            raise ErrInvalidHeader(f"{key} is not an integer: {value!r}")
        value = int(value)
    if not lo <= value <= hi:
        raise ErrInvalidHeader(f"{key} = {value} out of range [{lo}, {hi}]")
    return value


def _obj(obj: Any, key: str) -> dict:
    if not isinstance(obj, dict):
        raise ErrInvalidHeader(f"expected a JSON object holding {key!r}, got {type(obj).__name__}")
    value = obj.get(key)
    if not isinstance(value, dict):
        raise ErrInvalidHeader(f"{key} is missing or not a JSON object")
    return value


def _str(obj: dict, key: str) -> str:
    value = obj.get(key, "")
    if not isinstance(value, str):
        raise ErrInvalidHeader(f"{key} is not a string: {value!r}")
    return value


def _hex_out(data: bytes) -> str:
    return data.hex().upper()


# ---- block ids, headers, commits ----


def _block_id_from_json(obj: dict) -> types_pb2.BlockID:
    parts = obj.get("parts", {})
    if not isinstance(parts, dict):
        raise ErrInvalidHeader("block_id.parts is not a JSON object")
    return types_pb2.BlockID(
        hash=_hex(obj, "hash"),
        part_set_header=types_pb2.PartSetHeader(
            total=_int(parts, "total", hi=2**32 - 1, default=0), hash=_hex(parts, "hash")
        ),
    )


def _block_id_to_json(bid: types_pb2.BlockID) -> dict:
    return {
        "hash": _hex_out(bid.hash),
        "parts": {"total": bid.part_set_header.total, "hash": _hex_out(bid.part_set_header.hash)},
    }


def header_from_json(obj: dict) -> types_pb2.Header:
    """A ``tendermint.types.Header`` from its RPC JSON object."""
    if not isinstance(obj, dict):
        raise ErrInvalidHeader("header is not a JSON object")
    version = _obj(obj, "version")
    return types_pb2.Header(
        version={
            "block": _int(version, "block", hi=2**64 - 1, default=0),
            "app": _int(version, "app", hi=2**64 - 1, default=0),
        },
        chain_id=_str(obj, "chain_id"),
        height=_int(obj, "height"),
        time=parse_time(obj.get("time")),
        last_block_id=_block_id_from_json(_obj(obj, "last_block_id")),
        last_commit_hash=_hex(obj, "last_commit_hash"),
        data_hash=_hex(obj, "data_hash"),
        validators_hash=_hex(obj, "validators_hash"),
        next_validators_hash=_hex(obj, "next_validators_hash"),
        consensus_hash=_hex(obj, "consensus_hash"),
        app_hash=_hex(obj, "app_hash"),
        last_results_hash=_hex(obj, "last_results_hash"),
        evidence_hash=_hex(obj, "evidence_hash"),
        proposer_address=_hex(obj, "proposer_address"),
    )


def header_to_json(h: types_pb2.Header) -> dict:
    return {
        "version": {"block": str(h.version.block), "app": str(h.version.app)},
        "chain_id": h.chain_id,
        "height": str(h.height),
        "time": format_time(h.time),
        "last_block_id": _block_id_to_json(h.last_block_id),
        "last_commit_hash": _hex_out(h.last_commit_hash),
        "data_hash": _hex_out(h.data_hash),
        "validators_hash": _hex_out(h.validators_hash),
        "next_validators_hash": _hex_out(h.next_validators_hash),
        "consensus_hash": _hex_out(h.consensus_hash),
        "app_hash": _hex_out(h.app_hash),
        "last_results_hash": _hex_out(h.last_results_hash),
        "evidence_hash": _hex_out(h.evidence_hash),
        "proposer_address": _hex_out(h.proposer_address),
    }


def commit_from_json(obj: dict) -> types_pb2.Commit:
    """A ``tendermint.types.Commit`` from its RPC JSON object."""
    if not isinstance(obj, dict):
        raise ErrInvalidHeader("commit is not a JSON object")
    sigs = obj.get("signatures")
    if not isinstance(sigs, list):
        raise ErrInvalidHeader("commit.signatures is missing or not a list")
    signatures = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict):
            raise ErrInvalidHeader(f"commit signature #{i} is not a JSON object")
        signatures.append(
            types_pb2.CommitSig(
                block_id_flag=_int(s, "block_id_flag", hi=2**31 - 1),  # type: ignore[arg-type]
                validator_address=_hex(s, "validator_address"),
                timestamp=parse_time(s.get("timestamp")),
                signature=_b64(s, "signature"),
            )
        )
    return types_pb2.Commit(
        height=_int(obj, "height"),
        round=_int(obj, "round", hi=2**31 - 1),
        block_id=_block_id_from_json(_obj(obj, "block_id")),
        signatures=signatures,
    )


def commit_to_json(c: types_pb2.Commit) -> dict:
    return {
        "height": str(c.height),
        "round": c.round,
        "block_id": _block_id_to_json(c.block_id),
        "signatures": [
            {
                "block_id_flag": int(s.block_id_flag),
                "validator_address": _hex_out(s.validator_address),
                "timestamp": format_time(s.timestamp),
                "signature": base64.b64encode(s.signature).decode() if s.signature else None,
            }
            for s in c.signatures
        ],
    }


def signed_header_from_json(obj: dict) -> types_pb2.SignedHeader:
    """The ``signed_header`` object of CometBFT's ``/commit`` result as a proto.

    Raises:
        ErrInvalidHeader: a field is missing or not of CometBFT's JSON shape.
    """
    return types_pb2.SignedHeader(
        header=header_from_json(_obj(obj, "header")),
        commit=commit_from_json(_obj(obj, "commit")),
    )


def signed_header_to_json(sh: types_pb2.SignedHeader) -> dict:
    """The inverse of :func:`signed_header_from_json` (CometBFT's shape)."""
    return {"header": header_to_json(sh.header), "commit": commit_to_json(sh.commit)}


# ---- validator sets ----


def _validator_from_json(obj: Any, i: int) -> validator_pb2.Validator:
    if not isinstance(obj, dict):
        raise ErrInvalidHeader(f"validator #{i} is not a JSON object")
    pub = _obj(obj, "pub_key")
    key_type = pub.get("type")
    kind = _KEY_TYPES.get(key_type) if isinstance(key_type, str) else None
    if kind is None:
        raise ErrInvalidHeader(f"validator #{i}: unsupported key type {pub.get('type')!r}")
    v = validator_pb2.Validator(
        address=_hex(obj, "address"),
        voting_power=_int(obj, "voting_power"),
        proposer_priority=_int(obj, "proposer_priority", lo=-(2**63), default=0),
    )
    setattr(v.pub_key, kind, _b64(pub, "value"))
    return v


def _validator_to_json(v: validator_pb2.Validator) -> dict:
    kind = v.pub_key.WhichOneof("sum") or "ed25519"
    return {
        "address": _hex_out(v.address),
        "pub_key": {
            "type": _KEY_TYPE_NAMES.get(kind, kind),
            "value": base64.b64encode(getattr(v.pub_key, kind)).decode(),
        },
        "voting_power": str(v.voting_power),
        "proposer_priority": str(v.proposer_priority),
    }


def validator_set_from_json(
    validators: list[dict], proposer_address: str | None = None
) -> validator_pb2.ValidatorSet:
    """A ValidatorSet from ``/validators`` result entries (all pages, in order).

    ``total_voting_power`` is the sum of the entries' powers; ``proposer`` is
    the entry whose address is ``proposer_address`` (hex), if given.

    Raises:
        ErrInvalidHeader: malformed entries, or no entry has the proposer address.
    """
    if not isinstance(validators, list):
        raise ErrInvalidHeader("validators is not a JSON list")
    vals = [_validator_from_json(v, i) for i, v in enumerate(validators)]
    vs = validator_pb2.ValidatorSet(
        validators=vals,
        total_voting_power=min(sum(v.voting_power for v in vals), _INT64_MAX),
    )
    if proposer_address is not None:
        want = _hex({"proposer_address": proposer_address}, "proposer_address")
        for v in vals:
            if v.address == want:
                vs.proposer.CopyFrom(v)
                break
        else:
            raise ErrInvalidHeader(f"proposer {proposer_address} is not in the validator set")
    return vs


def validator_set_to_json(vs: validator_pb2.ValidatorSet) -> list[dict]:
    """The ``validators`` entries of a ``/validators`` result for this set."""
    return [_validator_to_json(v) for v in vs.validators]
