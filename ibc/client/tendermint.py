"""ICS-07: the light client of a CometBFT chain, as pure functions.

The rules are CometBFT v0.38's light client (``light/verifier.go``,
``types/validation.go``, ``types/block.go``) as ibc-go's 07-tendermint
client applies them, with consensus states keyed by height and a trusted
consensus state passed in by the caller (the client keeper, which owns the
store). Nothing here reads a clock: "now" is the block time the caller
passes. Every failure raises :class:`~ibc.client.errors.ClientError`; no
malformed input (missing fields, wrong lengths, absurd sizes) raises
anything else.

An update (``verify_header``) is accepted when:

1. the client is not frozen and its trusted consensus state has not expired
   (``trusted.timestamp + trusting_period > now``);
2. the signed header is well formed (``Header.ValidateBasic``,
   ``Commit.ValidateBasic``), belongs to the client's chain, and its commit
   is for this header (commit height, and block hash == header hash);
3. it is above the trusted height, later than the trusted time and not
   from the future (``time < now + max_clock_drift``);
4. the supplied validator set hashes to the header's ``validators_hash``
   and the trusted validators to the trusted ``next_validators_hash``;
5. adjacent (height == trusted + 1): the header's validators are the trusted
   next validators; otherwise (skipping): validators of the trusted set
   whose signatures verify carry more than ``trust_level`` of its power;
6. always: validators of the header's own set whose signatures verify carry
   more than 2/3 of its power.

As in CometBFT's ``VerifyCommitLight``, only ``BLOCK_ID_FLAG_COMMIT``
signatures count (absent and nil votes are skipped), and signature checking
stops once enough power is tallied. A validator that appears twice in a
commit checked against the trusted set is rejected ("double vote"), as
CometBFT does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from app.crypto import verify as ed25519_verify
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.tendermint.types import types_pb2, validator_pb2

from .errors import (
    ClientError,
    ErrExpired,
    ErrFrozen,
    ErrInsufficientPower,
    ErrInvalidClientState,
    ErrInvalidHeader,
    ErrInvalidSignature,
    ErrMisbehaviour,
    short_hex,
)
from .hashing import (
    MAX_TIMESTAMP_SECONDS,
    MIN_TIMESTAMP_SECONDS,
    block_id_is_zero,
    header_hash,
    timestamp_to_ns,
    validator_set_hash,
    vote_sign_bytes,
)

DEFAULT_TRUST_LEVEL = (1, 3)

BLOCK_PROTOCOL = 11  # CometBFT v0.38 version.BlockProtocol
MAX_CHAIN_ID_LEN = 50  # types.MaxChainIDLen
MAX_VALIDATORS = 10_000  # types.MaxVotesCount
MAX_TOTAL_VOTING_POWER = (2**63 - 1) // 8  # types.MaxTotalVotingPower
HASH_LEN = 32
ADDRESS_LEN = 20
ED25519_PUBKEY_LEN = 32
ED25519_SIGNATURE_LEN = 64
_UINT64_LIMIT = 1 << 64

_FLAG_ABSENT = validator_pb2.BLOCK_ID_FLAG_ABSENT
_FLAG_COMMIT = validator_pb2.BLOCK_ID_FLAG_COMMIT
_FLAG_NIL = validator_pb2.BLOCK_ID_FLAG_NIL


@dataclass(frozen=True)
class _Validator:
    address: bytes
    pub_key: bytes
    power: int


# ---- client state ----


def _trust_level(cs: ibc_pb2.ClientState) -> tuple[int, int]:
    num, den = cs.trust_level.numerator, cs.trust_level.denominator
    # light.ValidateTrustLevel: 1/3 <= num/den <= 1.
    if den == 0 or num * 3 < den or num > den:
        raise ErrInvalidClientState(f"trust level must be within [1/3, 1], got {num}/{den}")
    return num, den


def validate_client_state(cs: ibc_pb2.ClientState) -> None:
    """Check a client state's parameters (as ibc-go ``ClientState.Validate``).

    Raises:
        ErrInvalidClientState: empty or over-long chain id, trust level outside
            [1/3, 1], zero trusting period or clock drift, zero latest height.
    """
    if not cs.chain_id.strip():
        raise ErrInvalidClientState("chain id is empty")
    if len(cs.chain_id) > MAX_CHAIN_ID_LEN:
        raise ErrInvalidClientState(
            f"chain id is too long ({len(cs.chain_id)} > {MAX_CHAIN_ID_LEN} characters)"
        )
    _trust_level(cs)
    if cs.trusting_period_ns == 0:
        raise ErrInvalidClientState("trusting period is zero")
    if cs.max_clock_drift_ns == 0:
        raise ErrInvalidClientState("max clock drift is zero")
    if cs.latest_height == 0:
        raise ErrInvalidClientState("latest height is zero")


def is_expired(cs: ibc_pb2.ClientState, cons: ibc_pb2.ConsensusState, now_ns: int) -> bool:
    """True when ``cons`` is no longer trusted: its time + trusting period <= now."""
    return cons.timestamp_ns + cs.trusting_period_ns <= now_ns


def consensus_state_from_header(header: ibc_pb2.Header) -> ibc_pb2.ConsensusState:
    """The consensus state an (already verified) update installs.

    Raises:
        ErrInvalidHeader: the header is missing or its time is not a uint64 ns.
    """
    if not header.HasField("signed_header") or not header.signed_header.HasField("header"):
        raise ErrInvalidHeader("update has no signed header")
    h = header.signed_header.header
    ns = _time_ns(h.time, "header time")
    if not 0 <= ns < _UINT64_LIMIT:
        raise ErrInvalidHeader(f"header time {ns} ns is not representable as uint64 ns")
    return ibc_pb2.ConsensusState(
        timestamp_ns=ns, root=h.app_hash, next_validators_hash=h.next_validators_hash
    )


# ---- structural checks (CometBFT ValidateBasic) ----


def _time_ns(ts: Timestamp, what: str) -> int:
    if not MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS:
        raise ErrInvalidHeader(f"{what} seconds {ts.seconds} out of range")
    if not 0 <= ts.nanos < 1_000_000_000:
        raise ErrInvalidHeader(f"{what} nanos {ts.nanos} out of range")
    return timestamp_to_ns(ts)


def _check_hash(value: bytes, what: str, required: bool = False) -> None:
    """``types.ValidateHash``: empty or 32 bytes (exactly 32 when required)."""
    if (value or required) and len(value) != HASH_LEN:
        raise ErrInvalidHeader(f"{what} must be {HASH_LEN} bytes, got {len(value)}")


def _validate_header_basic(h: types_pb2.Header, chain_id: str) -> None:
    if h.version.block != BLOCK_PROTOCOL:
        raise ErrInvalidHeader(f"block protocol is {h.version.block}, expected {BLOCK_PROTOCOL}")
    if h.chain_id != chain_id:
        raise ErrInvalidHeader(f"header belongs to chain {h.chain_id!r}, not {chain_id!r}")
    if h.height <= 0:
        raise ErrInvalidHeader(f"header height {h.height} is not positive")
    _time_ns(h.time, "header time")
    _check_hash(h.last_block_id.hash, "last block id hash")
    _check_hash(h.last_block_id.part_set_header.hash, "last block id part set hash")
    _check_hash(h.last_commit_hash, "last commit hash")
    _check_hash(h.data_hash, "data hash")
    _check_hash(h.evidence_hash, "evidence hash")
    if len(h.proposer_address) != ADDRESS_LEN:
        raise ErrInvalidHeader(
            f"proposer address must be {ADDRESS_LEN} bytes, got {len(h.proposer_address)}"
        )
    # A light client needs both validator hashes (the next one becomes trusted).
    _check_hash(h.validators_hash, "validators hash", required=True)
    _check_hash(h.next_validators_hash, "next validators hash", required=True)
    _check_hash(h.consensus_hash, "consensus hash")
    _check_hash(h.last_results_hash, "last results hash")


def _validate_commit_basic(c: types_pb2.Commit) -> None:
    if c.round < 0:
        raise ErrInvalidHeader(f"commit round {c.round} is negative")
    if block_id_is_zero(c.block_id):
        raise ErrInvalidHeader("commit is for a nil block")
    _check_hash(c.block_id.hash, "commit block hash", required=True)
    _check_hash(c.block_id.part_set_header.hash, "commit part set hash")
    n = len(c.signatures)
    if n == 0:
        raise ErrInvalidHeader("commit has no signatures")
    if n > MAX_VALIDATORS:
        raise ErrInvalidHeader(f"commit has {n} signatures, more than {MAX_VALIDATORS}")
    for i, sig in enumerate(c.signatures):
        flag = sig.block_id_flag
        if flag == _FLAG_ABSENT:
            # Absent votes count for nothing; their (zero) timestamp is not checked.
            if sig.validator_address or sig.signature:
                raise ErrInvalidHeader(f"absent commit signature #{i} has an address or signature")
        elif flag in (_FLAG_COMMIT, _FLAG_NIL):
            if len(sig.validator_address) != ADDRESS_LEN:
                raise ErrInvalidHeader(
                    f"commit signature #{i}: validator address must be {ADDRESS_LEN} bytes, "
                    f"got {len(sig.validator_address)}"
                )
            if not 0 < len(sig.signature) <= ED25519_SIGNATURE_LEN:
                raise ErrInvalidHeader(
                    f"commit signature #{i}: signature must be 1 to {ED25519_SIGNATURE_LEN} "
                    f"bytes, got {len(sig.signature)}"
                )
            _time_ns(sig.timestamp, f"commit signature #{i} time")
        else:
            raise ErrInvalidHeader(f"commit signature #{i}: unknown block id flag {flag}")


def _validate_signed_header(sh: types_pb2.SignedHeader, chain_id: str) -> None:
    """``SignedHeader.ValidateBasic(chainID)``: the commit is for this header."""
    h, c = sh.header, sh.commit
    _validate_header_basic(h, chain_id)
    _validate_commit_basic(c)
    if c.height != h.height:
        raise ErrInvalidHeader(f"commit height {c.height} != header height {h.height}")
    computed = header_hash(h)
    if c.block_id.hash != computed:
        raise ErrInvalidHeader(
            f"commit signs block {short_hex(c.block_id.hash)}, "
            f"header hashes to {short_hex(computed)}"
        )


def _validators(vs: validator_pb2.ValidatorSet, what: str) -> list[_Validator]:
    """The entries of a validator set, checked as ``ValidatorSetFromProto``.

    The set's ``total_voting_power`` and ``proposer`` fields are ignored, as
    CometBFT recomputes the total rather than trusting it.
    """
    n = len(vs.validators)
    if n == 0:
        raise ErrInvalidHeader(f"{what} is empty")
    if n > MAX_VALIDATORS:
        raise ErrInvalidHeader(f"{what} has {n} validators, more than {MAX_VALIDATORS}")
    out: list[_Validator] = []
    seen: set[bytes] = set()
    total = 0
    for i, v in enumerate(vs.validators):
        kind = v.pub_key.WhichOneof("sum")
        if kind != "ed25519":
            raise ErrInvalidHeader(f"{what} validator #{i}: key type {kind} is not ed25519")
        pk = v.pub_key.ed25519
        if len(pk) != ED25519_PUBKEY_LEN:
            raise ErrInvalidHeader(
                f"{what} validator #{i}: ed25519 key must be {ED25519_PUBKEY_LEN} bytes, "
                f"got {len(pk)}"
            )
        address = hashlib.sha256(pk).digest()[:ADDRESS_LEN]
        if v.address != address:
            raise ErrInvalidHeader(
                f"{what} validator #{i}: address {short_hex(v.address)} is not that of its "
                f"key ({short_hex(address)})"
            )
        if v.voting_power <= 0:
            raise ErrInvalidHeader(f"{what} validator #{i}: voting power {v.voting_power} <= 0")
        if address in seen:
            raise ErrInvalidHeader(f"{what} lists validator {short_hex(address)} twice")
        seen.add(address)
        total += v.voting_power
        if total > MAX_TOTAL_VOTING_POWER:
            raise ErrInvalidHeader(f"{what} total voting power exceeds {MAX_TOTAL_VOTING_POWER}")
        out.append(_Validator(address, pk, v.voting_power))
    return out


def _unpack(
    header: ibc_pb2.Header,
) -> tuple[types_pb2.SignedHeader, validator_pb2.ValidatorSet, validator_pb2.ValidatorSet]:
    if not header.HasField("signed_header"):
        raise ErrInvalidHeader("update has no signed header")
    sh = header.signed_header
    if not sh.HasField("header"):
        raise ErrInvalidHeader("signed header has no header")
    if not sh.HasField("commit"):
        raise ErrInvalidHeader("signed header has no commit")
    if not header.HasField("validator_set"):
        raise ErrInvalidHeader("update has no validator set")
    if not header.HasField("trusted_validators"):
        raise ErrInvalidHeader("update has no trusted validators")
    if header.trusted_height == 0:
        raise ErrInvalidHeader("trusted height is zero")
    return sh, header.validator_set, header.trusted_validators


# ---- commit verification (types/validation.go) ----


def _check_vote(chain_id: str, c: types_pb2.Commit, idx: int, val: _Validator) -> None:
    sig = c.signatures[idx]
    msg = vote_sign_bytes(chain_id, c.height, c.round, c.block_id, timestamp_to_ns(sig.timestamp))
    if not ed25519_verify(val.pub_key, msg, sig.signature):
        raise ErrInvalidSignature(
            f"wrong signature (#{idx}) from validator {short_hex(val.address)}"
        )


def _check_commit_size(vals: list[_Validator], c: types_pb2.Commit) -> None:
    """A commit has one CommitSig per validator of the header's set."""
    if len(vals) != len(c.signatures):
        raise ErrInvalidHeader(
            f"validator set has {len(vals)} validators, commit has {len(c.signatures)} signatures"
        )


def _verify_commit_light(chain_id: str, vals: list[_Validator], c: types_pb2.Commit) -> None:
    """``VerifyCommitLight``: the header's own set signed with more than 2/3."""
    _check_commit_size(vals, c)
    total = sum(v.power for v in vals)
    needed = total * 2 // 3
    tallied = 0
    for idx, sig in enumerate(c.signatures):
        if sig.block_id_flag != _FLAG_COMMIT:
            continue
        val = vals[idx]
        if sig.validator_address != val.address:
            raise ErrInvalidHeader(
                f"validator address mismatch at index {idx}: expected "
                f"{short_hex(val.address)}, got {short_hex(sig.validator_address)}"
            )
        _check_vote(chain_id, c, idx, val)
        tallied += val.power
        if tallied > needed:
            return
    raise ErrInsufficientPower(
        f"signatures carry {tallied} of {total} voting power, need more than {needed} (2/3)"
    )


def _verify_commit_light_trusting(
    chain_id: str, vals: list[_Validator], c: types_pb2.Commit, trust: tuple[int, int]
) -> None:
    """``VerifyCommitLightTrusting``: trusted validators signed with > trust level."""
    num, den = trust
    total = sum(v.power for v in vals)
    needed = total * num // den
    by_address = {v.address: i for i, v in enumerate(vals)}
    seen: dict[int, int] = {}
    tallied = 0
    for idx, sig in enumerate(c.signatures):
        if sig.block_id_flag != _FLAG_COMMIT:
            continue
        j = by_address.get(sig.validator_address)
        if j is None:
            continue  # not a trusted validator
        if j in seen:
            raise ErrInvalidHeader(
                f"double vote from validator {short_hex(vals[j].address)} "
                f"(signatures #{seen[j]} and #{idx})"
            )
        seen[j] = idx
        _check_vote(chain_id, c, idx, vals[j])
        tallied += vals[j].power
        if tallied > needed:
            return
    raise ErrInsufficientPower(
        f"trusted validators signed with {tallied} of {total} voting power, "
        f"need more than {needed} ({num}/{den})"
    )


# ---- updates ----


def verify_header(
    cs: ibc_pb2.ClientState,
    trusted: ibc_pb2.ConsensusState,
    header: ibc_pb2.Header,
    now_ns: int,
) -> ibc_pb2.ConsensusState:
    """Verify an update from the consensus state trusted at ``header.trusted_height``.

    Parameters:
        cs: the client state (chain id, trust level, periods, frozen height).
        trusted: the consensus state stored at ``header.trusted_height``.
        header: signed header, its validator set, trusted height and the
            validators trusted there (the trusted header's next validators).
        now_ns: the current block time of the verifying chain.

    Returns:
        The consensus state to store at the header's height.

    Raises:
        ClientError: a subclass naming the failed check (see the module doc).
    """
    if cs.frozen_height:
        raise ErrFrozen(f"client is frozen at height {cs.frozen_height}")
    trust = _trust_level(cs)
    sh, vals, trusted_vals = _check_header(cs, trusted, header, now_ns)
    h, c = sh.header, sh.commit
    header_ns = timestamp_to_ns(h.time)
    if header_ns <= trusted.timestamp_ns:
        raise ErrInvalidHeader(
            f"header time {header_ns} ns is not after the trusted time {trusted.timestamp_ns} ns"
        )
    if header_ns >= now_ns + cs.max_clock_drift_ns:
        raise ErrInvalidHeader(
            f"header time {header_ns} ns is from the future (now {now_ns} ns, "
            f"max clock drift {cs.max_clock_drift_ns} ns)"
        )
    if h.height == header.trusted_height + 1:
        if h.validators_hash != trusted.next_validators_hash:
            raise ErrInvalidHeader(
                f"adjacent header's validators hash {short_hex(h.validators_hash)} is not the "
                f"trusted next validators hash {short_hex(trusted.next_validators_hash)}"
            )
    else:
        _verify_commit_light_trusting(cs.chain_id, trusted_vals, c, trust)
    _verify_commit_light(cs.chain_id, vals, c)
    return consensus_state_from_header(header)


# ---- misbehaviour ----


def _check_header(
    cs: ibc_pb2.ClientState,
    trusted: ibc_pb2.ConsensusState,
    header: ibc_pb2.Header,
    now_ns: int,
) -> tuple[types_pb2.SignedHeader, list[_Validator], list[_Validator]]:
    """What an update and a misbehaviour header both need: a well-formed signed header
    above the trusted height, its validator set and the trusted one matching their
    hashes, and a trusted state that has not expired. Returns (signed header,
    validators, trusted validators)."""
    sh, vs, trusted_vs = _unpack(header)
    h, c = sh.header, sh.commit
    _validate_signed_header(sh, cs.chain_id)
    if h.height <= header.trusted_height:
        raise ErrInvalidHeader(
            f"header height {h.height} is not above the trusted height {header.trusted_height}"
        )
    vals = _validators(vs, "validator set")
    if (got := validator_set_hash(vs)) != h.validators_hash:
        raise ErrInvalidHeader(
            f"validator set hashes to {short_hex(got)}, header's validators hash is "
            f"{short_hex(h.validators_hash)}"
        )
    _check_commit_size(vals, c)
    trusted_vals = _validators(trusted_vs, "trusted validators")
    if (got := validator_set_hash(trusted_vs)) != trusted.next_validators_hash:
        raise ErrInvalidHeader(
            f"trusted validators hash to {short_hex(got)}, trusted consensus state's next "
            f"validators hash is {short_hex(trusted.next_validators_hash)}"
        )
    if is_expired(cs, trusted, now_ns):
        raise ErrExpired(
            f"trusted consensus state at height {header.trusted_height} expired at "
            f"{trusted.timestamp_ns + cs.trusting_period_ns} ns (now {now_ns} ns)"
        )
    return sh, vals, trusted_vals


def _verify_misbehaviour_header(
    cs: ibc_pb2.ClientState,
    trusted: ibc_pb2.ConsensusState,
    header: ibc_pb2.Header,
    now_ns: int,
    trust: tuple[int, int],
) -> types_pb2.SignedHeader:
    """One header of a misbehaviour, as ibc-go ``checkMisbehaviourHeader``.

    Unlike an update, the header may be older than the trusted state and its
    time is not compared with now: only signatures and trust matter.
    """
    sh, vals, trusted_vals = _check_header(cs, trusted, header, now_ns)
    _verify_commit_light(cs.chain_id, vals, sh.commit)
    _verify_commit_light_trusting(cs.chain_id, trusted_vals, sh.commit, trust)
    return sh


def check_misbehaviour(
    cs: ibc_pb2.ClientState,
    trusted_1: ibc_pb2.ConsensusState,
    trusted_2: ibc_pb2.ConsensusState,
    m: ibc_pb2.Misbehaviour,
    now_ns: int,
) -> None:
    """Return normally iff ``m`` proves misbehaviour (the caller freezes the client).

    Both headers must verify, each from its own trusted consensus state
    (``trusted_1`` at ``header_1.trusted_height``, ``trusted_2`` likewise),
    with ``header_1`` at least as high as ``header_2``, and they must
    conflict: at the same height, different block hashes; at different
    heights, ``header_1`` (the higher) not later than ``header_2`` (time
    monotonicity broken).

    Raises:
        ErrMisbehaviour: malformed, wrongly ordered, or no conflict.
        ClientError: a header fails verification (message names which).
    """
    if cs.frozen_height:
        raise ErrFrozen(f"client is already frozen at height {cs.frozen_height}")
    trust = _trust_level(cs)
    if not m.HasField("header_1") or not m.HasField("header_2"):
        raise ErrMisbehaviour("misbehaviour needs two headers")
    signed: list[types_pb2.SignedHeader] = []
    for label, trusted, header in (
        ("header_1", trusted_1, m.header_1),
        ("header_2", trusted_2, m.header_2),
    ):
        try:
            signed.append(_verify_misbehaviour_header(cs, trusted, header, now_ns, trust))
        except ClientError as exc:
            raise type(exc)(f"misbehaviour {label}: {exc}") from None
    h1, h2 = signed[0].header, signed[1].header
    if h1.height < h2.height:
        raise ErrMisbehaviour(f"header_1 height {h1.height} is below header_2 height {h2.height}")
    if h1.height == h2.height:
        if signed[0].commit.block_id.hash == signed[1].commit.block_id.hash:
            raise ErrMisbehaviour(
                f"both headers are block {short_hex(signed[0].commit.block_id.hash)} at "
                f"height {h1.height}: no misbehaviour"
            )
        return
    t1, t2 = timestamp_to_ns(h1.time), timestamp_to_ns(h2.time)
    if t1 > t2:
        raise ErrMisbehaviour(
            f"header_1 (height {h1.height}, time {t1}) is after header_2 (height {h2.height}, "
            f"time {t2}): no misbehaviour"
        )
