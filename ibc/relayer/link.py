"""``mgrid-relayer link``: light clients, a connection and channels between two chains.

1. Clients: on each chain a 07-tendermint client of the other (trust level 1/3,
   the configured trusting period and clock drift), created from the other
   chain's latest signed header (consensus state: its time, app hash and next
   validators hash).
2. Connection (ICS-03): Init on a, Try on b, Ack on a, Confirm on b; each
   proven step goes in one transaction with the client update that makes its
   proof verifiable (the proof is read at store height H, the client updated
   to H+1).
3. Channels (ICS-04) for each configured port (default ``transfer`` with
   ics20-1 and ``energy`` with mgrid-energy-1, unordered): Init, Try, Ack,
   Confirm the same way.

Every step reads both ends first and does only what is missing, so ``link``
resumes after a crash and does nothing on a linked path. The identifiers go
to the state file as soon as the chain has assigned them.

The same step functions complete handshakes that someone else started
(``start`` follows the handshake events of the path's connection).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from app.pb.mgrid.ibc.v1 import ibc_pb2
from clients.mgrid.chain import TxResult
from ibc import host
from ibc.relayer.chain import RelayerError
from ibc.relayer.config import ChannelSpec
from ibc.relayer.path import Path, msg, other

log = logging.getLogger("mgrid-relayer")

CONN_INIT = ibc_pb2.CONNECTION_STATE_INIT
CONN_TRYOPEN = ibc_pb2.CONNECTION_STATE_TRYOPEN
CONN_OPEN = ibc_pb2.CONNECTION_STATE_OPEN
CHAN_INIT = ibc_pb2.CHANNEL_STATE_INIT
CHAN_TRYOPEN = ibc_pb2.CHANNEL_STATE_TRYOPEN
CHAN_OPEN = ibc_pb2.CHANNEL_STATE_OPEN
CHAN_CLOSED = ibc_pb2.CHANNEL_STATE_CLOSED
ORDERS = {"unordered": ibc_pb2.ORDER_UNORDERED, "ordered": ibc_pb2.ORDER_ORDERED}
# Each handshake needs at most four steps; a few more allow for a step
# another relayer took at the same time.
MAX_STEPS = 8


@dataclass
class LinkReport:
    """What ``link`` did (``actions``) and the resulting identifiers."""

    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def _attribute(result: TxResult, event: str, key: str) -> str:
    values = result.attribute(event, key)
    if not values:
        raise RelayerError(f"the transaction {result.txhash} emitted no {event}.{key}")
    return values[-1]


# -- clients ---------------------------------------------------------------------------------


def create_client(path: Path, side: str, trusting_period_ns: int, max_clock_drift_ns: int) -> str:
    """Create on ``side`` a client of the other chain from its latest header."""
    src = path.chain(other(side))
    height = src.latest_height()
    info = src.header_info(height)
    client_state = ibc_pb2.ClientState(
        chain_id=src.chain_id,
        trust_level=ibc_pb2.Fraction(numerator=1, denominator=3),
        trusting_period_ns=trusting_period_ns,
        max_clock_drift_ns=max_clock_drift_ns,
        latest_height=height,
    )
    consensus_state = ibc_pb2.ConsensusState(
        timestamp_ns=info.time_ns,
        root=info.app_hash,
        next_validators_hash=info.next_validators_hash,
    )
    m = ibc_pb2.MsgCreateClient(client_state=client_state, consensus_state=consensus_state)
    result = path.submit(
        side, [msg("create_client", m)], f"create client of {src.chain_id} at {height}"
    )
    return _attribute(result, "create_client", "client_id")


def _client_usable(path: Path, side: str) -> bool:
    client_id = path.end(side).client_id
    if not client_id:
        return False
    cs = path.chain(side).client_state(client_id)
    if cs is None:
        raise RelayerError(
            f"the state file names client {client_id} on {path.chain(side).name}, "
            "which the chain does not have (another network under the same chain id?)"
        )
    if cs.chain_id != path.chain(other(side)).chain_id:
        raise RelayerError(
            f"client {client_id} on {path.chain(side).name} tracks {cs.chain_id!r}, "
            f"not {path.chain(other(side)).chain_id!r}"
        )
    return True


def ensure_clients(
    path: Path, trusting_period_ns: int, max_clock_drift_ns: int, report: LinkReport
) -> None:
    for side in ("a", "b"):
        if _client_usable(path, side):
            continue
        client_id = create_client(path, side, trusting_period_ns, max_clock_drift_ns)
        path.end(side).client_id = client_id
        path.end(side).chain_id = path.chain(side).chain_id
        path.save()
        report.actions.append(f"created client {client_id} on {path.chain(side).name}")


# -- connection ------------------------------------------------------------------------------


def conn_open_init(path: Path, side: str) -> str:
    m = ibc_pb2.MsgConnectionOpenInit(
        client_id=path.end(side).client_id,
        counterparty=ibc_pb2.ConnectionCounterparty(
            client_id=path.end(other(side)).client_id, prefix=host.STORE_PREFIX
        ),
        delay_period=0,
    )
    result = path.submit(side, [msg("connection_open_init", m)], "connection open init")
    return _attribute(result, "connection_open_init", "connection_id")


def conn_open_try(path: Path, side: str, counterparty_connection_id: str) -> str:
    """Try on ``side`` against the other side's INIT end ``counterparty_connection_id``."""
    src = path.chain(other(side))
    proof_height, update = path.client_update(side)
    proven = src.prove(host.key(host.connection_path(counterparty_connection_id)), proof_height - 1)
    counterparty_end = _decode_connection(proven.value, src.name, counterparty_connection_id)
    m = ibc_pb2.MsgConnectionOpenTry(
        client_id=path.end(side).client_id,
        counterparty=ibc_pb2.ConnectionCounterparty(
            client_id=counterparty_end.client_id,
            connection_id=counterparty_connection_id,
            prefix=host.STORE_PREFIX,
        ),
        delay_period=0,
        counterparty_versions=list(counterparty_end.versions),
        proof_init=proven.proof,
        proof_height=proof_height,
    )
    result = path.submit(
        side, [*update, msg("connection_open_try", m)], "update client + connection open try"
    )
    return _attribute(result, "connection_open_try", "connection_id")


def conn_open_ack(
    path: Path, side: str, connection_id: str, counterparty_connection_id: str
) -> None:
    src = path.chain(other(side))
    proof_height, update = path.client_update(side)
    proven = src.prove(host.key(host.connection_path(counterparty_connection_id)), proof_height - 1)
    counterparty_end = _decode_connection(proven.value, src.name, counterparty_connection_id)
    if not counterparty_end.versions:
        raise RelayerError(f"{src.name}: connection {counterparty_connection_id} has no version")
    m = ibc_pb2.MsgConnectionOpenAck(
        connection_id=connection_id,
        counterparty_connection_id=counterparty_connection_id,
        version=counterparty_end.versions[0],
        proof_try=proven.proof,
        proof_height=proof_height,
    )
    path.submit(side, [*update, msg("connection_open_ack", m)], "update client + connection ack")


def conn_open_confirm(path: Path, side: str, connection_id: str, counterparty_id: str) -> None:
    src = path.chain(other(side))
    proof_height, update = path.client_update(side)
    proven = src.prove(host.key(host.connection_path(counterparty_id)), proof_height - 1)
    _decode_connection(proven.value, src.name, counterparty_id)
    m = ibc_pb2.MsgConnectionOpenConfirm(
        connection_id=connection_id, proof_ack=proven.proof, proof_height=proof_height
    )
    path.submit(
        side, [*update, msg("connection_open_confirm", m)], "update client + connection confirm"
    )


def _decode_connection(raw: bytes, chain: str, connection_id: str) -> ibc_pb2.ConnectionEnd:
    if not raw:
        raise RelayerError(f"{chain} has no connection {connection_id} at the proof height yet")
    return ibc_pb2.ConnectionEnd.FromString(raw)


def ensure_connection(path: Path, report: LinkReport) -> None:
    """Walk the connection handshake from wherever it stands to OPEN on both ends."""
    ea, eb = path.end("a"), path.end("b")
    for _ in range(MAX_STEPS):
        conn_a = path.a.connection(ea.connection_id) if ea.connection_id else None
        conn_b = path.b.connection(eb.connection_id) if eb.connection_id else None
        state_a = conn_a.state if conn_a else None
        state_b = conn_b.state if conn_b else None
        if state_a == CONN_OPEN and state_b == CONN_OPEN:
            return
        if conn_a is None:
            if ea.connection_id:
                raise RelayerError(
                    f"the state file names {ea.connection_id} on {path.a.name}, "
                    "which the chain does not have"
                )
            ea.connection_id = conn_open_init(path, "a")
            eb.connection_id = ""
            path.save()
            report.actions.append(f"connection open init {ea.connection_id} on {path.a.name}")
        elif conn_b is None:
            if state_a != CONN_INIT:
                raise RelayerError(
                    f"{path.a.name} {ea.connection_id} is past INIT but its counterparty "
                    f"end on {path.b.name} is unknown; set it in the state file"
                )
            _wait_for_proof_height(path, "a")
            eb.connection_id = conn_open_try(path, "b", ea.connection_id)
            path.save()
            report.actions.append(f"connection open try {eb.connection_id} on {path.b.name}")
        elif state_a == CONN_INIT and state_b == CONN_TRYOPEN:
            _wait_for_proof_height(path, "b")
            conn_open_ack(path, "a", ea.connection_id, eb.connection_id)
            report.actions.append(f"connection open ack {ea.connection_id} on {path.a.name}")
        elif state_a == CONN_OPEN and state_b == CONN_TRYOPEN:
            _wait_for_proof_height(path, "a")
            conn_open_confirm(path, "b", eb.connection_id, ea.connection_id)
            report.actions.append(f"connection open confirm {eb.connection_id} on {path.b.name}")
        else:
            raise RelayerError(
                f"connection handshake in an unexpected state: {path.a.name} "
                f"{ea.connection_id} {_name(state_a)}, {path.b.name} {eb.connection_id} "
                f"{_name(state_b)}"
            )
    raise RelayerError("the connection handshake did not finish")


def _name(state: int | None) -> str:
    return "absent" if state is None else str(ibc_pb2.ConnectionState.Name(state))


def _wait_for_proof_height(path: Path, side: str) -> None:
    """Wait until the chain on ``side`` has a block above the one that holds the state
    just written (its store height H must be committed by a header H+1)."""
    path.chain(side).wait_for_height(path.chain(side).latest_height() + 1)


# -- channels --------------------------------------------------------------------------------


def chan_open_init(path: Path, side: str, spec: ChannelSpec) -> str:
    m = ibc_pb2.MsgChannelOpenInit(
        port_id=spec.port,
        channel=ibc_pb2.Channel(
            state=CHAN_INIT,
            ordering=ORDERS[spec.order],
            counterparty=ibc_pb2.ChannelCounterparty(port_id=spec.port),
            connection_hops=[path.end(side).connection_id],
            version=spec.version,
        ),
    )
    result = path.submit(side, [msg("channel_open_init", m)], f"channel open init {spec.port}")
    return _attribute(result, "channel_open_init", "channel_id")


def _proven_channel(
    path: Path, side: str, port: str, channel_id: str
) -> tuple[ibc_pb2.Channel, bytes, int, list]:  # type: ignore[type-arg]
    """The other side's channel end ``port/channel_id`` proven for ``side``, with the
    client update to go first: (channel, proof, proof height, update msgs)."""
    src = path.chain(other(side))
    proof_height, update = path.client_update(side)
    proven = src.prove(host.key(host.channel_path(port, channel_id)), proof_height - 1)
    if not proven.value:
        raise RelayerError(f"{src.name} has no channel {port}/{channel_id} at the proof height")
    return ibc_pb2.Channel.FromString(proven.value), proven.proof, proof_height, update


def chan_open_try(path: Path, side: str, counterparty_port: str, counterparty_channel: str) -> str:
    """Try on ``side`` against the other side's INIT channel; returns the new channel id."""
    cp, proof, proof_height, update = _proven_channel(
        path, side, counterparty_port, counterparty_channel
    )
    m = ibc_pb2.MsgChannelOpenTry(
        port_id=cp.counterparty.port_id,
        channel=ibc_pb2.Channel(
            state=CHAN_TRYOPEN,
            ordering=cp.ordering,
            counterparty=ibc_pb2.ChannelCounterparty(
                port_id=counterparty_port, channel_id=counterparty_channel
            ),
            connection_hops=[path.end(side).connection_id],
            version=cp.version,
        ),
        counterparty_version=cp.version,
        proof_init=proof,
        proof_height=proof_height,
    )
    result = path.submit(
        side, [*update, msg("channel_open_try", m)], f"update client + channel open try {m.port_id}"
    )
    return _attribute(result, "channel_open_try", "channel_id")


def chan_open_ack(
    path: Path, side: str, port: str, channel_id: str, counterparty_channel: str
) -> None:
    ours = path.chain(side).channel(port, channel_id)
    if ours is None:
        raise RelayerError(f"{path.chain(side).name} has no channel {port}/{channel_id}")
    cp, proof, proof_height, update = _proven_channel(
        path, side, ours.counterparty.port_id, counterparty_channel
    )
    m = ibc_pb2.MsgChannelOpenAck(
        port_id=port,
        channel_id=channel_id,
        counterparty_channel_id=counterparty_channel,
        counterparty_version=cp.version,
        proof_try=proof,
        proof_height=proof_height,
    )
    path.submit(side, [*update, msg("channel_open_ack", m)], f"update client + channel ack {port}")


def chan_open_confirm(path: Path, side: str, port: str, channel_id: str) -> None:
    ours = _own_channel(path, side, port, channel_id)
    _, proof, proof_height, update = _proven_channel(
        path, side, ours.counterparty.port_id, ours.counterparty.channel_id
    )
    m = ibc_pb2.MsgChannelOpenConfirm(
        port_id=port, channel_id=channel_id, proof_ack=proof, proof_height=proof_height
    )
    path.submit(
        side, [*update, msg("channel_open_confirm", m)], f"update client + channel confirm {port}"
    )


def chan_close_confirm(path: Path, side: str, port: str, channel_id: str) -> None:
    ours = _own_channel(path, side, port, channel_id)
    _, proof, proof_height, update = _proven_channel(
        path, side, ours.counterparty.port_id, ours.counterparty.channel_id
    )
    m = ibc_pb2.MsgChannelCloseConfirm(
        port_id=port, channel_id=channel_id, proof_init=proof, proof_height=proof_height
    )
    path.submit(
        side,
        [*update, msg("channel_close_confirm", m)],
        f"update client + channel close confirm {port}/{channel_id}",
    )


def _own_channel(path: Path, side: str, port: str, channel_id: str) -> ibc_pb2.Channel:
    ours = path.chain(side).channel(port, channel_id)
    if ours is None:
        raise RelayerError(f"{path.chain(side).name} has no channel {port}/{channel_id}")
    return ours


def ensure_channel(path: Path, spec: ChannelSpec, report: LinkReport) -> None:
    record = path.state.channel(spec.port)
    for _ in range(MAX_STEPS):
        ch_a = path.a.channel(spec.port, record.a) if record.a else None
        ch_b = path.b.channel(spec.port, record.b) if record.b else None
        state_a = ch_a.state if ch_a else None
        state_b = ch_b.state if ch_b else None
        if state_a == CHAN_OPEN and state_b == CHAN_OPEN:
            return
        if CHAN_CLOSED in (state_a, state_b):
            raise RelayerError(
                f"channel {spec.port} {record.a}/{record.b} is closed; a closed channel "
                "stays closed: remove it from the state file to open a new one"
            )
        if ch_a is None:
            if record.a:
                raise RelayerError(
                    f"the state file names {spec.port}/{record.a} on {path.a.name}, "
                    "which the chain does not have"
                )
            record.a, record.b = chan_open_init(path, "a", spec), ""
            path.save()
            report.actions.append(f"channel open init {spec.port}/{record.a} on {path.a.name}")
        elif ch_b is None:
            _wait_for_proof_height(path, "a")
            record.b = chan_open_try(path, "b", spec.port, record.a)
            path.save()
            report.actions.append(f"channel open try {spec.port}/{record.b} on {path.b.name}")
        elif state_a == CHAN_INIT and state_b == CHAN_TRYOPEN:
            _wait_for_proof_height(path, "b")
            chan_open_ack(path, "a", spec.port, record.a, record.b)
            report.actions.append(f"channel open ack {spec.port}/{record.a} on {path.a.name}")
        elif state_a == CHAN_OPEN and state_b == CHAN_TRYOPEN:
            _wait_for_proof_height(path, "a")
            chan_open_confirm(path, "b", spec.port, record.b)
            report.actions.append(f"channel open confirm {spec.port}/{record.b} on {path.b.name}")
        else:
            raise RelayerError(
                f"channel {spec.port} handshake in an unexpected state: "
                f"{path.a.name} {record.a} {state_a}, {path.b.name} {record.b} {state_b}"
            )
    raise RelayerError(f"the channel handshake of {spec.port} did not finish")


# -- all of it -------------------------------------------------------------------------------


def link(path: Path, trusting_period_ns: int, max_clock_drift_ns: int) -> LinkReport:
    """Clients, connection and the configured channels; idempotent (see the module docstring)."""
    report = LinkReport()
    for side in ("a", "b"):
        chain = path.chain(side)
        chain.check_chain_id()
        end = path.end(side)
        if end.chain_id and end.chain_id != chain.chain_id:
            raise RelayerError(
                f"the state file was written for {end.chain_id!r} on side {side}, "
                f"the configuration now names {chain.chain_id!r}"
            )
        end.chain_id = chain.chain_id
        if not end.cursor:
            # `start` scans from here: no packet can be older than the channels.
            end.cursor = chain.latest_height()
    ensure_clients(path, trusting_period_ns, max_clock_drift_ns, report)
    ensure_connection(path, report)
    for spec in path.channels:
        ensure_channel(path, spec, report)
    return report
