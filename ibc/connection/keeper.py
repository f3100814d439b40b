"""ICS-03 connection keeper: the four-step handshake, as ibc-go (v8, without the
self-client validation that v9 dropped).

    A: ConnOpenInit     -> INIT       (no proof)
    B: ConnOpenTry      -> TRYOPEN    proves A's end in INIT
    A: ConnOpenAck      -> OPEN       proves B's end in TRYOPEN
    B: ConnOpenConfirm  -> OPEN       proves A's end in OPEN

At each proven step this chain builds the ConnectionEnd the counterparty
must have stored (its client, versions, state, and this end as its
counterparty with prefix ``ibc``) and checks the proof against exactly those
bytes (deterministic protobuf serialisation on both sides). Versions: this
chain supports version "1" with features ORDER_ORDERED and ORDER_UNORDERED;
Try picks the common version, Ack checks that the one chosen is one Init
proposed. Only delay_period 0 is supported. A counterparty's store prefix
must be ``ibc``.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.context import Context
from app.kv import KV
from app.modules.common import encode
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import host
from ibc.client import keeper as client_keeper
from ibc.errors import (
    ErrConnectionNotFound,
    ErrInvalidConnectionState,
    ErrInvalidCounterparty,
    ErrInvalidDelayPeriod,
    ErrInvalidVersion,
)

INIT = ibc_pb2.CONNECTION_STATE_INIT
TRYOPEN = ibc_pb2.CONNECTION_STATE_TRYOPEN
OPEN = ibc_pb2.CONNECTION_STATE_OPEN

DEFAULT_IDENTIFIER = "1"
SUPPORTED_FEATURES = ("ORDER_ORDERED", "ORDER_UNORDERED")
MAX_VERSIONS = 16
MAX_FEATURES = 16


def supported_versions() -> list[ibc_pb2.Version]:
    return [ibc_pb2.Version(identifier=DEFAULT_IDENTIFIER, features=list(SUPPORTED_FEATURES))]


def state_name(state: int) -> str:
    return str(ibc_pb2.ConnectionState.Name(state)) if state in (0, 1, 2, 3) else str(state)


# --- reading ------------------------------------------------------------------------


def get_connection(kv: KV, connection_id: str) -> ibc_pb2.ConnectionEnd | None:
    raw = kv.get(host.key(host.connection_path(connection_id)))
    return None if raw is None else ibc_pb2.ConnectionEnd.FromString(raw)


def must_connection(kv: KV, connection_id: str) -> ibc_pb2.ConnectionEnd:
    conn = get_connection(kv, connection_id)
    if conn is None:
        raise ErrConnectionNotFound(f"connection {connection_id!r} does not exist")
    return conn


def require_open(kv: KV, connection_id: str) -> ibc_pb2.ConnectionEnd:
    conn = must_connection(kv, connection_id)
    if conn.state != OPEN:
        raise ErrInvalidConnectionState(
            f"connection {connection_id} is {state_name(conn.state)}, must be OPEN"
        )
    return conn


def next_connection_sequence(kv: KV) -> int:
    raw = kv.get(host.key(host.NEXT_CONNECTION_SEQUENCE))
    return int.from_bytes(raw, "big") if raw else 0


def _set_connection(ctx: Context, connection_id: str, conn: ibc_pb2.ConnectionEnd) -> None:
    ctx.kv.set(host.key(host.connection_path(connection_id)), encode(conn))


# --- versions -------------------------------------------------------------------------


def validate_version(version: ibc_pb2.Version) -> None:
    """Stateless shape of a version: identifier and distinct, non-blank features."""
    if not version.identifier.strip():
        raise ErrInvalidVersion("version identifier is blank")
    if len(version.features) > MAX_FEATURES:
        raise ErrInvalidVersion(f"{len(version.features)} features, limit {MAX_FEATURES}")
    if len(set(version.features)) != len(version.features):
        raise ErrInvalidVersion(f"version {version.identifier!r} repeats a feature")
    for feature in version.features:
        if not feature.strip():
            raise ErrInvalidVersion(f"version {version.identifier!r} has a blank feature")


def _is_supported(version: ibc_pb2.Version, supported: Sequence[ibc_pb2.Version]) -> bool:
    """ibc-go's VerifyProposedVersion against each supported version: same identifier,
    at least one feature, every feature one the supported version has."""
    for s in supported:
        if s.identifier == version.identifier:
            return bool(version.features) and set(version.features) <= set(s.features)
    return False


def pick_version(counterparty_versions: Sequence[ibc_pb2.Version]) -> ibc_pb2.Version:
    """The first supported version the counterparty also proposes, with the common features
    (in our order)."""
    for ours in supported_versions():
        for theirs in counterparty_versions:
            if theirs.identifier != ours.identifier:
                continue
            common = [f for f in ours.features if f in set(theirs.features)]
            if common:
                return ibc_pb2.Version(identifier=ours.identifier, features=common)
    offered = [(v.identifier, list(v.features)) for v in counterparty_versions]
    raise ErrInvalidVersion(f"no common version: counterparty offers {offered}")


def supports_ordering(conn: ibc_pb2.ConnectionEnd, order_name: str) -> bool:
    """Whether the connection's (single, negotiated) version allows a channel ordering."""
    return len(conn.versions) == 1 and order_name in conn.versions[0].features


# --- the handshake ----------------------------------------------------------------------


def _check_counterparty_prefix(counterparty: ibc_pb2.ConnectionCounterparty) -> None:
    if counterparty.prefix != host.STORE_PREFIX:
        raise ErrInvalidCounterparty(
            f"counterparty prefix must be {host.STORE_PREFIX!r}, got {counterparty.prefix!r}"
        )


def _check_delay(delay_period: int) -> None:
    if delay_period != 0:
        raise ErrInvalidDelayPeriod(f"delay period must be 0, got {delay_period}")


def _emit(ctx: Context, event: str, connection_id: str, conn: ibc_pb2.ConnectionEnd) -> None:
    ctx.emit(
        event,
        connection_id=connection_id,
        client_id=conn.client_id,
        counterparty_client_id=conn.counterparty.client_id,
        counterparty_connection_id=conn.counterparty.connection_id,
    )


def _our_side(client_id: str, connection_id: str) -> ibc_pb2.ConnectionCounterparty:
    """How the counterparty's ConnectionEnd names this end."""
    return ibc_pb2.ConnectionCounterparty(
        client_id=client_id, connection_id=connection_id, prefix=host.STORE_PREFIX
    )


def _verify_connection(
    ctx: Context,
    conn: ibc_pb2.ConnectionEnd,
    proof: bytes,
    proof_height: int,
    counterparty_connection_id: str,
    expected: ibc_pb2.ConnectionEnd,
) -> None:
    client_keeper.verify_membership(
        ctx.kv,
        conn.client_id,
        proof_height,
        proof,
        host.connection_path(counterparty_connection_id),
        encode(expected),
        conn.counterparty.prefix,
        now_ns=ctx.time_ns,
    )


def conn_open_init(
    ctx: Context,
    client_id: str,
    counterparty: ibc_pb2.ConnectionCounterparty,
    version: ibc_pb2.Version | None,
    delay_period: int,
) -> str:
    """ConnOpenInit: a new connection in INIT proposing ``version`` (None: all supported)."""
    client_keeper.require_active(ctx.kv, client_id, ctx.time_ns)
    _check_counterparty_prefix(counterparty)
    if counterparty.connection_id:
        raise ErrInvalidCounterparty(
            f"counterparty connection id must be empty in Init, got {counterparty.connection_id!r}"
        )
    _check_delay(delay_period)
    if version is None:
        versions = supported_versions()
    else:
        validate_version(version)
        if not _is_supported(version, supported_versions()):
            raise ErrInvalidVersion(
                f"version {version.identifier!r} {list(version.features)} is not supported"
            )
        versions = [version]
    n = next_connection_sequence(ctx.kv)
    connection_id = host.connection_id(n)
    ctx.kv.set(host.key(host.NEXT_CONNECTION_SEQUENCE), host.u64(n + 1))
    conn = ibc_pb2.ConnectionEnd(
        client_id=client_id,
        versions=versions,
        state=INIT,
        counterparty=counterparty,
        delay_period=delay_period,
    )
    _set_connection(ctx, connection_id, conn)
    _emit(ctx, "connection_open_init", connection_id, conn)
    return connection_id


def conn_open_try(
    ctx: Context,
    client_id: str,
    counterparty: ibc_pb2.ConnectionCounterparty,
    delay_period: int,
    counterparty_versions: Sequence[ibc_pb2.Version],
    proof_init: bytes,
    proof_height: int,
) -> str:
    """ConnOpenTry: a new connection in TRYOPEN, after proving the counterparty's INIT end."""
    client_keeper.require_active(ctx.kv, client_id, ctx.time_ns)
    _check_counterparty_prefix(counterparty)
    if not counterparty.connection_id:
        raise ErrInvalidCounterparty("counterparty connection id is required in Try")
    _check_delay(delay_period)
    for v in counterparty_versions:
        validate_version(v)
    version = pick_version(counterparty_versions)
    n = next_connection_sequence(ctx.kv)
    connection_id = host.connection_id(n)
    expected = ibc_pb2.ConnectionEnd(
        client_id=counterparty.client_id,
        versions=list(counterparty_versions),
        state=INIT,
        counterparty=_our_side(client_id, ""),
        delay_period=delay_period,
    )
    conn = ibc_pb2.ConnectionEnd(
        client_id=client_id,
        versions=[version],
        state=TRYOPEN,
        counterparty=counterparty,
        delay_period=delay_period,
    )
    _verify_connection(ctx, conn, proof_init, proof_height, counterparty.connection_id, expected)
    ctx.kv.set(host.key(host.NEXT_CONNECTION_SEQUENCE), host.u64(n + 1))
    _set_connection(ctx, connection_id, conn)
    _emit(ctx, "connection_open_try", connection_id, conn)
    return connection_id


def conn_open_ack(
    ctx: Context,
    connection_id: str,
    counterparty_connection_id: str,
    version: ibc_pb2.Version,
    proof_try: bytes,
    proof_height: int,
) -> None:
    """ConnOpenAck: INIT -> OPEN, after proving the counterparty's TRYOPEN end."""
    conn = must_connection(ctx.kv, connection_id)
    if conn.state != INIT:
        raise ErrInvalidConnectionState(
            f"connection {connection_id} is {state_name(conn.state)}, must be INIT"
        )
    validate_version(version)
    if not _is_supported(version, conn.versions):
        raise ErrInvalidVersion(
            f"version {version.identifier!r} {list(version.features)} is not one that "
            f"{connection_id} proposed"
        )
    expected = ibc_pb2.ConnectionEnd(
        client_id=conn.counterparty.client_id,
        versions=[version],
        state=TRYOPEN,
        counterparty=_our_side(conn.client_id, connection_id),
        delay_period=conn.delay_period,
    )
    _verify_connection(ctx, conn, proof_try, proof_height, counterparty_connection_id, expected)
    conn.state = OPEN
    del conn.versions[:]
    conn.versions.append(version)
    conn.counterparty.connection_id = counterparty_connection_id
    _set_connection(ctx, connection_id, conn)
    _emit(ctx, "connection_open_ack", connection_id, conn)


def conn_open_confirm(
    ctx: Context, connection_id: str, proof_ack: bytes, proof_height: int
) -> None:
    """ConnOpenConfirm: TRYOPEN -> OPEN, after proving the counterparty's OPEN end."""
    conn = must_connection(ctx.kv, connection_id)
    if conn.state != TRYOPEN:
        raise ErrInvalidConnectionState(
            f"connection {connection_id} is {state_name(conn.state)}, must be TRYOPEN"
        )
    expected = ibc_pb2.ConnectionEnd(
        client_id=conn.counterparty.client_id,
        versions=list(conn.versions),
        state=OPEN,
        counterparty=_our_side(conn.client_id, connection_id),
        delay_period=conn.delay_period,
    )
    _verify_connection(
        ctx, conn, proof_ack, proof_height, conn.counterparty.connection_id, expected
    )
    conn.state = OPEN
    _set_connection(ctx, connection_id, conn)
    _emit(ctx, "connection_open_confirm", connection_id, conn)
