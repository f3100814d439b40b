"""ICS-02 client keeper: the store side of this chain's light clients of others.

A client (type 07-tendermint, the only one) is a ClientState and the
ConsensusStates it has verified, one per counterparty height, under the
ICS-24 paths of ``ibc.host``. The verification itself is the pure light
client in ``ibc.client.tendermint``; this module decides what is stored,
as ibc-go's 02-client keeper and 07-tendermint's update logic do:

- create: the client state is validated, stored with the initial consensus
  state at its latest height; the client must be active at once.
- update: the header verifies from the consensus state at its trusted
  height (now = block time); its consensus state is stored at the header's
  height, and latest_height rises if it is higher. A different consensus
  state already stored at that height, or one whose time is not strictly
  between its stored neighbours', is misbehaviour: the client is frozen
  (frozen_height = 1) and the update *succeeds*, so that the evidence is
  kept. The same consensus state again is a no-op. The oldest consensus
  state is pruned when it has expired (one per update, as ibc-go).
- misbehaviour: two headers that verify and conflict freeze the client.
- status: Frozen if frozen_height != 0, else Expired if the consensus state
  at latest_height is older than the trusting period, else Active. Only an
  active client is updated or verifies proofs.

Proofs are ICS-23 CommitmentProofs of one key of the counterparty's sparse
Merkle store, checked against the consensus state's root (the counterparty
header's app hash) at proof_height.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.message import Message

from app.context import Context
from app.errors import ABCIError
from app.kv import KV, CacheKV
from app.modules.common import encode
from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import commitment, host
from ibc.client import tendermint
from ibc.client.errors import ClientError
from ibc.errors import (
    ErrClientExpired,
    ErrClientFrozen,
    ErrClientNotFound,
    ErrConsensusStateNotFound,
    ErrInvalidClient,
    ErrInvalidHeader,
    ErrInvalidHeight,
    ErrInvalidMisbehaviour,
    ErrInvalidProof,
)

ACTIVE = "Active"
FROZEN = "Frozen"
EXPIRED = "Expired"
FROZEN_HEIGHT = 1  # ibc-go freezes at revision 0, height 1
HASH_LEN = 32


# --- reading ---------------------------------------------------------------------


M = TypeVar("M", bound=Message)
T = TypeVar("T")


def _decode(raw: bytes | None, cls: type[M]) -> M | None:
    return None if raw is None else cls.FromString(raw)


def get_client_state(kv: KV, client_id: str) -> ibc_pb2.ClientState | None:
    return _decode(kv.get(host.key(host.client_state_path(client_id))), ibc_pb2.ClientState)


def must_client_state(kv: KV, client_id: str) -> ibc_pb2.ClientState:
    cs = get_client_state(kv, client_id)
    if cs is None:
        raise ErrClientNotFound(f"client {client_id!r} does not exist")
    return cs


def get_consensus_state(kv: KV, client_id: str, height: int) -> ibc_pb2.ConsensusState | None:
    raw = kv.get(host.key(host.consensus_state_path(client_id, height)))
    return _decode(raw, ibc_pb2.ConsensusState)


def must_consensus_state(kv: KV, client_id: str, height: int) -> ibc_pb2.ConsensusState:
    cons = get_consensus_state(kv, client_id, height)
    if cons is None:
        raise ErrConsensusStateNotFound(
            f"client {client_id} has no consensus state at height {height}"
        )
    return cons


def consensus_heights(kv: KV, client_id: str) -> list[int]:
    """The heights of the client's stored consensus states, ascending."""
    prefix = host.consensus_heights_prefix(client_id)
    return [int.from_bytes(k[len(prefix) :], "big") for k, _ in kv.iterate(prefix)]


def status(kv: KV, client_id: str, now_ns: int) -> str:
    """ACTIVE, FROZEN or EXPIRED (ibc-go's client status); ErrClientNotFound if absent."""
    cs = must_client_state(kv, client_id)
    if cs.frozen_height:
        return FROZEN
    latest = get_consensus_state(kv, client_id, cs.latest_height)
    if latest is None or _expired(cs, latest, now_ns):
        return EXPIRED
    return ACTIVE


def require_active(kv: KV, client_id: str, now_ns: int) -> ibc_pb2.ClientState:
    """The client state of an active client; ErrClientFrozen / ErrClientExpired otherwise."""
    cs = must_client_state(kv, client_id)
    state = status(kv, client_id, now_ns)
    if state == FROZEN:
        raise ErrClientFrozen(f"client {client_id} is frozen (misbehaviour was submitted)")
    if state == EXPIRED:
        raise ErrClientExpired(
            f"client {client_id}: consensus state at latest height {cs.latest_height} is "
            f"older than the trusting period {cs.trusting_period_ns} ns"
        )
    return cs


def _expired(cs: ibc_pb2.ClientState, cons: ibc_pb2.ConsensusState, now_ns: int) -> bool:
    try:
        return bool(tendermint.is_expired(cs, cons, now_ns))
    except ClientError:
        return True


# --- writing ----------------------------------------------------------------------


def _set_client_state(kv: CacheKV, client_id: str, cs: ibc_pb2.ClientState) -> None:
    kv.set(host.key(host.client_state_path(client_id)), encode(cs))


def _set_consensus_state(
    kv: CacheKV, client_id: str, height: int, cons: ibc_pb2.ConsensusState
) -> None:
    kv.set(host.key(host.consensus_state_path(client_id, height)), encode(cons))
    kv.set(host.consensus_height_key(client_id, height), str(height).encode())


def _delete_consensus_state(kv: CacheKV, client_id: str, height: int) -> None:
    kv.delete(host.key(host.consensus_state_path(client_id, height)))
    kv.delete(host.consensus_height_key(client_id, height))


def next_client_sequence(kv: KV) -> int:
    raw = kv.get(host.key(host.NEXT_CLIENT_SEQUENCE))
    return int.from_bytes(raw, "big") if raw else 0


def _light_client_call(error: type[ABCIError], what: str, fn: Callable[..., T], *args: object) -> T:
    """Run a light client check; any failure becomes ``error`` (an ABCIError).

    The light client raises ClientError on bad input; anything else it raises
    on input from the network is turned into the same error rather than
    crashing block execution (the message is deterministic on every node).
    """
    try:
        return fn(*args)
    except ClientError as exc:
        raise error(f"{what}: {exc}") from None
    except Exception as exc:  # defensive: untrusted input must never crash a block
        raise error(f"{what}: {type(exc).__name__}: {exc}") from None


def validate_consensus_state(cons: ibc_pb2.ConsensusState) -> None:
    if cons.timestamp_ns == 0:
        raise ErrInvalidClient("consensus state: timestamp is zero")
    if not cons.root:
        raise ErrInvalidClient("consensus state: root is empty")
    if len(cons.root) > 64:
        raise ErrInvalidClient(f"consensus state: root is {len(cons.root)} bytes")
    if len(cons.next_validators_hash) != HASH_LEN:
        raise ErrInvalidClient(
            f"consensus state: next_validators_hash must be {HASH_LEN} bytes, "
            f"got {len(cons.next_validators_hash)}"
        )


def create_client(
    ctx: Context, client_state: ibc_pb2.ClientState, consensus_state: ibc_pb2.ConsensusState
) -> str:
    """Store a new client and its initial consensus state; returns its identifier."""
    _light_client_call(
        ErrInvalidClient, "client state", tendermint.validate_client_state, client_state
    )
    if client_state.latest_height == 0:
        raise ErrInvalidClient("client state: latest_height must be positive")
    if client_state.frozen_height != 0:
        raise ErrInvalidClient(
            f"client state: frozen_height must be 0, got {client_state.frozen_height}"
        )
    validate_consensus_state(consensus_state)
    if _expired(client_state, consensus_state, ctx.time_ns):
        raise ErrInvalidClient(
            f"consensus state at {consensus_state.timestamp_ns} ns is already older than the "
            f"trusting period at block time {ctx.time_ns} ns"
        )
    n = next_client_sequence(ctx.kv)
    client_id = host.client_id(n)
    ctx.kv.set(host.key(host.NEXT_CLIENT_SEQUENCE), host.u64(n + 1))
    _set_client_state(ctx.kv, client_id, client_state)
    _set_consensus_state(ctx.kv, client_id, client_state.latest_height, consensus_state)
    ctx.emit(
        "create_client",
        client_id=client_id,
        client_type=host.CLIENT_TYPE,
        consensus_height=client_state.latest_height,
    )
    return client_id


def _freeze(ctx: Context, client_id: str, cs: ibc_pb2.ClientState) -> None:
    cs.frozen_height = FROZEN_HEIGHT
    _set_client_state(ctx.kv, client_id, cs)
    ctx.emit("client_misbehaviour", client_id=client_id, client_type=host.CLIENT_TYPE)


def _breaks_monotonicity(
    kv: KV, client_id: str, cs: ibc_pb2.ClientState, height: int, timestamp_ns: int
) -> bool:
    """Whether a consensus state at ``height`` with ``timestamp_ns`` breaks time order:
    its stored neighbours must be strictly earlier (below) and later (above)."""
    if height > cs.latest_height:  # the common case: only the latest is a neighbour
        latest = get_consensus_state(kv, client_id, cs.latest_height)
        return latest is not None and latest.timestamp_ns >= timestamp_ns
    for h in consensus_heights(kv, client_id):
        cons = must_consensus_state(kv, client_id, h)
        if h < height and cons.timestamp_ns >= timestamp_ns:
            return True
        if h > height:
            return cons.timestamp_ns <= timestamp_ns
    return False


def _prune_oldest(ctx: Context, client_id: str, cs: ibc_pb2.ClientState, keep: int) -> None:
    prefix = host.consensus_heights_prefix(client_id)
    for k, _ in ctx.kv.iterate(prefix):
        height = int.from_bytes(k[len(prefix) :], "big")
        if height in (keep, cs.latest_height):
            return
        cons = must_consensus_state(ctx.kv, client_id, height)
        if _expired(cs, cons, ctx.time_ns):
            _delete_consensus_state(ctx.kv, client_id, height)
        return


def update_client(ctx: Context, client_id: str, header: ibc_pb2.Header) -> None:
    """Verify ``header`` and store its consensus state, or freeze on misbehaviour."""
    cs = require_active(ctx.kv, client_id, ctx.time_ns)
    if not header.HasField("signed_header") or not header.signed_header.HasField("header"):
        raise ErrInvalidHeader("header has no signed header")
    height = header.signed_header.header.height
    if height <= 0:
        raise ErrInvalidHeader(f"header height must be positive, got {height}")
    trusted = must_consensus_state(ctx.kv, client_id, header.trusted_height)
    new = _light_client_call(
        ErrInvalidHeader,
        f"header at height {height} from trusted height {header.trusted_height}",
        tendermint.verify_header,
        cs,
        trusted,
        header,
        ctx.time_ns,
    )
    existing = get_consensus_state(ctx.kv, client_id, height)
    if existing is not None:
        if encode(existing) == encode(new):
            return  # the same update again: nothing to do
        _freeze(ctx, client_id, cs)  # two different valid headers at one height
        return
    if _breaks_monotonicity(ctx.kv, client_id, cs, height, new.timestamp_ns):
        _freeze(ctx, client_id, cs)
        return
    _set_consensus_state(ctx.kv, client_id, height, new)
    if height > cs.latest_height:
        cs.latest_height = height
        _set_client_state(ctx.kv, client_id, cs)
    _prune_oldest(ctx, client_id, cs, height)
    ctx.emit(
        "update_client",
        client_id=client_id,
        client_type=host.CLIENT_TYPE,
        consensus_height=height,
    )


def submit_misbehaviour(ctx: Context, client_id: str, misbehaviour: ibc_pb2.Misbehaviour) -> None:
    """Freeze the client if ``misbehaviour`` holds two verified, conflicting headers."""
    cs = require_active(ctx.kv, client_id, ctx.time_ns)
    for name in ("header_1", "header_2"):
        if not misbehaviour.HasField(name):
            raise ErrInvalidMisbehaviour(f"{name} is missing")
    trusted_1 = must_consensus_state(ctx.kv, client_id, misbehaviour.header_1.trusted_height)
    trusted_2 = must_consensus_state(ctx.kv, client_id, misbehaviour.header_2.trusted_height)
    _light_client_call(
        ErrInvalidMisbehaviour,
        "misbehaviour",
        tendermint.check_misbehaviour,
        cs,
        trusted_1,
        trusted_2,
        misbehaviour,
        ctx.time_ns,
    )
    _freeze(ctx, client_id, cs)


# --- proofs -------------------------------------------------------------------------


def _proof_root(
    kv: KV, client_id: str, proof_height: int, proof_bytes: bytes, now_ns: int
) -> tuple[bytes, proofs_pb2.CommitmentProof]:
    cs = require_active(kv, client_id, now_ns)
    if proof_height == 0:
        raise ErrInvalidHeight("proof height must be positive")
    if proof_height > cs.latest_height:
        raise ErrInvalidHeight(
            f"proof height {proof_height} is above client {client_id}'s latest height "
            f"{cs.latest_height}: update the client first"
        )
    cons = must_consensus_state(kv, client_id, proof_height)
    if not proof_bytes:
        raise ErrInvalidProof("proof is empty")
    try:
        proof = proofs_pb2.CommitmentProof.FromString(proof_bytes)
    except Exception as exc:  # protobuf raises several types on garbage
        raise ErrInvalidProof(f"proof does not decode as a CommitmentProof: {exc}") from None
    return cons.root, proof


def verify_membership(
    kv: KV,
    client_id: str,
    proof_height: int,
    proof_bytes: bytes,
    path: str,
    value: bytes,
    prefix: bytes,
    *,
    now_ns: int,
) -> None:
    """Check that the counterparty stored ``value`` at ``prefix/path`` at ``proof_height``.

    Raises ErrInvalidProof (or the client's status / height errors) otherwise.
    """
    root, proof = _proof_root(kv, client_id, proof_height, proof_bytes, now_ns)
    key = host.counterparty_key(prefix, path)
    if not commitment.verify_membership(commitment.SMT_SPEC, root, proof, key, value):
        raise ErrInvalidProof(
            f"proof does not show {path} = {value.hex()[:64]} on the counterparty at height "
            f"{proof_height} (root {root.hex()[:16]}...)"
        )


def verify_non_membership(
    kv: KV,
    client_id: str,
    proof_height: int,
    proof_bytes: bytes,
    path: str,
    prefix: bytes,
    *,
    now_ns: int,
) -> None:
    """Check that ``prefix/path`` was absent from the counterparty's store at ``proof_height``."""
    root, proof = _proof_root(kv, client_id, proof_height, proof_bytes, now_ns)
    key = host.counterparty_key(prefix, path)
    if not commitment.verify_non_membership(commitment.SMT_SPEC, root, proof, key):
        raise ErrInvalidProof(
            f"proof does not show {path} absent on the counterparty at height {proof_height}"
        )


def timestamp_at_height(kv: KV, client_id: str, height: int) -> int:
    """The counterparty's block time (ns) at ``height`` as the client recorded it."""
    return int(must_consensus_state(kv, client_id, height).timestamp_ns)
