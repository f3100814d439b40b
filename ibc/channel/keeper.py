"""ICS-04 channel keeper: channel handshakes and the packet lifecycle, as ibc-go v8.

Channel handshake (each proven step checks the counterparty's channel end,
rebuilt here, against the proof; the connection must be OPEN; the port's
application (ibc.ports) is called and may refuse by raising, or choose the
version in Init/Try):

    A: ChanOpenInit     -> INIT       B: ChanOpenTry     -> TRYOPEN (proves A INIT)
    A: ChanOpenAck      -> OPEN (proves B TRYOPEN)
    B: ChanOpenConfirm  -> OPEN (proves A OPEN)
    ChanCloseInit -> CLOSED (app may refuse); ChanCloseConfirm -> CLOSED (proves CLOSED)

Packets. ``send_packet`` (called by applications) stores the packet
commitment and bumps nextSequenceSend. ``recv_packet`` checks the channel,
the timeouts against this chain's height and block time, the proof of the
commitment on the sender, then replay protection (unordered: a receipt;
ordered: nextSequenceRecv) before calling the application; its
acknowledgement is written at once, or later by ``write_acknowledgement``.
``acknowledge_packet`` and ``timeout_packet`` / ``timeout_on_close`` check the
stored commitment, prove the counterparty's ack / absence of receipt / next
receive sequence, delete the commitment and call the application. A packet
relayed again (already received, acknowledged or timed out) is a no-op
success: nothing is written, no event is emitted, the application is not
called. State is written only after every check passed.

Events (the relayer's API, ibc-go's names): send_packet, recv_packet,
write_acknowledgement (with packet_ack_hex), acknowledge_packet,
timeout_packet, each with packet_sequence, packet_src_port,
packet_src_channel, packet_dst_port, packet_dst_channel,
packet_timeout_height (a plain height, revision 0), packet_timeout_timestamp
(ns), packet_data_hex, packet_channel_ordering (ORDER_ORDERED /
ORDER_UNORDERED) and connection_id; channel_open_init|try|ack|confirm,
channel_close_init|confirm and channel_close (an ordered channel closed by a
timeout) with port_id, channel_id, counterparty_port_id,
counterparty_channel_id and connection_id.
"""

from __future__ import annotations

from collections.abc import Callable

from app.context import Context
from app.kv import KV
from app.modules.common import encode
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import host, ports
from ibc.client import keeper as client_keeper
from ibc.connection import keeper as connection_keeper
from ibc.errors import (
    ErrAcknowledgementExists,
    ErrChannelNotFound,
    ErrInvalidAcknowledgement,
    ErrInvalidChannel,
    ErrInvalidChannelState,
    ErrInvalidCounterparty,
    ErrInvalidPacket,
    ErrPacketNotSent,
    ErrPacketReceived,
    ErrPacketSequenceOutOfOrder,
    ErrPacketTimeout,
    ErrTimeoutNotReached,
)

INIT = ibc_pb2.CHANNEL_STATE_INIT
TRYOPEN = ibc_pb2.CHANNEL_STATE_TRYOPEN
OPEN = ibc_pb2.CHANNEL_STATE_OPEN
CLOSED = ibc_pb2.CHANNEL_STATE_CLOSED
ORDERED = ibc_pb2.ORDER_ORDERED
UNORDERED = ibc_pb2.ORDER_UNORDERED

MAX_VERSION_LEN = 256
MAX_PACKET_DATA = 60 * 1024


def state_name(state: int) -> str:
    return str(ibc_pb2.ChannelState.Name(state)) if state in (0, 1, 2, 3, 4) else str(state)


def order_name(order: int) -> str:
    return str(ibc_pb2.Order.Name(order)) if order in (0, 1, 2) else str(order)


# --- reading -----------------------------------------------------------------------------


def get_channel(kv: KV, port_id: str, channel_id: str) -> ibc_pb2.Channel | None:
    raw = kv.get(host.key(host.channel_path(port_id, channel_id)))
    return None if raw is None else ibc_pb2.Channel.FromString(raw)


def must_channel(kv: KV, port_id: str, channel_id: str) -> ibc_pb2.Channel:
    channel = get_channel(kv, port_id, channel_id)
    if channel is None:
        raise ErrChannelNotFound(f"no channel {channel_id!r} on port {port_id!r}")
    return channel


def _require_state(channel: ibc_pb2.Channel, port_id: str, channel_id: str, *states: int) -> None:
    if channel.state not in states:
        wanted = " or ".join(state_name(s) for s in states)
        raise ErrInvalidChannelState(
            f"channel {port_id}/{channel_id} is {state_name(channel.state)}, must be {wanted}"
        )


def _get_u64(kv: KV, path: str) -> int:
    raw = kv.get(host.key(path))
    return int.from_bytes(raw, "big") if raw else 0


def next_sequence_send(kv: KV, port_id: str, channel_id: str) -> int:
    return _get_u64(kv, host.next_sequence_send_path(port_id, channel_id))


def next_sequence_recv(kv: KV, port_id: str, channel_id: str) -> int:
    return _get_u64(kv, host.next_sequence_recv_path(port_id, channel_id))


def next_sequence_ack(kv: KV, port_id: str, channel_id: str) -> int:
    return _get_u64(kv, host.next_sequence_ack_path(port_id, channel_id))


def get_packet_commitment(kv: KV, port_id: str, channel_id: str, sequence: int) -> bytes | None:
    return kv.get(host.key(host.packet_commitment_path(port_id, channel_id, sequence)))


def has_receipt(kv: KV, port_id: str, channel_id: str, sequence: int) -> bool:
    return kv.get(host.key(host.packet_receipt_path(port_id, channel_id, sequence))) is not None


def get_ack_commitment(kv: KV, port_id: str, channel_id: str, sequence: int) -> bytes | None:
    return kv.get(host.key(host.packet_ack_path(port_id, channel_id, sequence)))


def next_channel_sequence(kv: KV) -> int:
    return _get_u64(kv, host.NEXT_CHANNEL_SEQUENCE)


def connection_of(kv: KV, channel: ibc_pb2.Channel) -> tuple[str, ibc_pb2.ConnectionEnd]:
    if len(channel.connection_hops) != 1:
        raise ErrInvalidChannel(
            f"channel must have exactly one connection hop, has {len(channel.connection_hops)}"
        )
    connection_id = channel.connection_hops[0]
    return connection_id, connection_keeper.must_connection(kv, connection_id)


# --- writing -------------------------------------------------------------------------------


def _set_channel(ctx: Context, port_id: str, channel_id: str, channel: ibc_pb2.Channel) -> None:
    ctx.kv.set(host.key(host.channel_path(port_id, channel_id)), encode(channel))


def _set_u64(ctx: Context, path: str, value: int) -> None:
    ctx.kv.set(host.key(path), host.u64(value))


def _emit_channel(
    ctx: Context, event: str, port_id: str, channel_id: str, channel: ibc_pb2.Channel
) -> None:
    ctx.emit(
        event,
        port_id=port_id,
        channel_id=channel_id,
        counterparty_port_id=channel.counterparty.port_id,
        counterparty_channel_id=channel.counterparty.channel_id,
        connection_id=channel.connection_hops[0] if channel.connection_hops else "",
    )


def _emit_packet(
    ctx: Context,
    event: str,
    packet: ibc_pb2.Packet,
    channel: ibc_pb2.Channel,
    **extra: str | int,
) -> None:
    ctx.emit(
        event,
        packet_sequence=packet.sequence,
        packet_src_port=packet.source_port,
        packet_src_channel=packet.source_channel,
        packet_dst_port=packet.destination_port,
        packet_dst_channel=packet.destination_channel,
        packet_timeout_height=packet.timeout_height,
        packet_timeout_timestamp=packet.timeout_timestamp,
        packet_data_hex=packet.data.hex(),
        packet_channel_ordering=order_name(channel.ordering),
        connection_id=channel.connection_hops[0],
        **extra,
    )


def _verify(
    ctx: Context,
    conn: ibc_pb2.ConnectionEnd,
    proof: bytes,
    proof_height: int,
    path: str,
    value: bytes,
) -> None:
    client_keeper.verify_membership(
        ctx.kv,
        conn.client_id,
        proof_height,
        proof,
        path,
        value,
        conn.counterparty.prefix,
        now_ns=ctx.time_ns,
    )


def _verify_absent(
    ctx: Context, conn: ibc_pb2.ConnectionEnd, proof: bytes, proof_height: int, path: str
) -> None:
    client_keeper.verify_non_membership(
        ctx.kv,
        conn.client_id,
        proof_height,
        proof,
        path,
        conn.counterparty.prefix,
        now_ns=ctx.time_ns,
    )


# --- channel handshake -----------------------------------------------------------------------


def _check_new_channel(kv: KV, port_id: str, channel: ibc_pb2.Channel) -> ibc_pb2.ConnectionEnd:
    """Shared checks of Init and Try: ordering, one OPEN connection supporting it."""
    if channel.ordering not in (ORDERED, UNORDERED):
        raise ErrInvalidChannel(f"ordering must be ORDERED or UNORDERED, got {channel.ordering}")
    connection_id, conn = connection_of(kv, channel)
    if conn.state != connection_keeper.OPEN:
        raise ErrInvalidChannel(
            f"connection {connection_id} is {connection_keeper.state_name(conn.state)}, "
            "must be OPEN"
        )
    if not connection_keeper.supports_ordering(conn, order_name(channel.ordering)):
        raise ErrInvalidChannel(
            f"connection {connection_id} does not support {order_name(channel.ordering)}"
        )
    return conn


def _check_version(version: str) -> None:
    if len(version) > MAX_VERSION_LEN:
        raise ErrInvalidChannel(f"version is {len(version)} characters, limit {MAX_VERSION_LEN}")


def _new_channel_id(ctx: Context) -> str:
    n = next_channel_sequence(ctx.kv)
    _set_u64(ctx, host.NEXT_CHANNEL_SEQUENCE, n + 1)
    return host.channel_id(n)


def _init_sequences(ctx: Context, port_id: str, channel_id: str) -> None:
    _set_u64(ctx, host.next_sequence_send_path(port_id, channel_id), 1)
    _set_u64(ctx, host.next_sequence_recv_path(port_id, channel_id), 1)
    _set_u64(ctx, host.next_sequence_ack_path(port_id, channel_id), 1)


def chan_open_init(ctx: Context, port_id: str, channel: ibc_pb2.Channel) -> str:
    """ChanOpenInit: a new channel in INIT on ``port_id``; returns its identifier."""
    app = ports.app_for(port_id)
    if channel.state != INIT:
        raise ErrInvalidChannelState(f"channel state must be INIT, got {state_name(channel.state)}")
    if channel.counterparty.channel_id:
        raise ErrInvalidCounterparty("counterparty channel id must be empty in Init")
    _check_version(channel.version)
    _check_new_channel(ctx.kv, port_id, channel)
    return _open_new(ctx, port_id, channel, app.on_chan_open_init, channel.version, "init")


def _open_new(
    ctx: Context,
    port_id: str,
    channel: ibc_pb2.Channel,
    callback: Callable[..., str],
    version: str,
    step: str,
) -> str:
    """The end of Init and Try: a new channel id, the application's version, the
    channel and its sequences stored, the event emitted."""
    channel_id = _new_channel_id(ctx)
    chosen = callback(
        ctx,
        channel.ordering,
        list(channel.connection_hops),
        channel_id,
        channel.counterparty,
        version,
    )
    _check_version(chosen)
    stored = ibc_pb2.Channel()
    stored.CopyFrom(channel)
    stored.version = chosen
    _set_channel(ctx, port_id, channel_id, stored)
    _init_sequences(ctx, port_id, channel_id)
    _emit_channel(ctx, f"channel_open_{step}", port_id, channel_id, stored)
    return channel_id


def chan_open_try(
    ctx: Context,
    port_id: str,
    channel: ibc_pb2.Channel,
    counterparty_version: str,
    proof_init: bytes,
    proof_height: int,
) -> str:
    """ChanOpenTry: a new channel in TRYOPEN after proving the counterparty's INIT end."""
    app = ports.app_for(port_id)
    if channel.state != TRYOPEN:
        raise ErrInvalidChannelState(
            f"channel state must be TRYOPEN, got {state_name(channel.state)}"
        )
    if not channel.counterparty.channel_id:
        raise ErrInvalidCounterparty("counterparty channel id is required in Try")
    _check_version(counterparty_version)
    conn = _check_new_channel(ctx.kv, port_id, channel)
    expected = ibc_pb2.Channel(
        state=INIT,
        ordering=channel.ordering,
        counterparty=ibc_pb2.ChannelCounterparty(port_id=port_id, channel_id=""),
        connection_hops=[conn.counterparty.connection_id],
        version=counterparty_version,
    )
    _verify(
        ctx,
        conn,
        proof_init,
        proof_height,
        host.channel_path(channel.counterparty.port_id, channel.counterparty.channel_id),
        encode(expected),
    )
    return _open_new(ctx, port_id, channel, app.on_chan_open_try, counterparty_version, "try")


def chan_open_ack(
    ctx: Context,
    port_id: str,
    channel_id: str,
    counterparty_channel_id: str,
    counterparty_version: str,
    proof_try: bytes,
    proof_height: int,
) -> None:
    """ChanOpenAck: INIT -> OPEN after proving the counterparty's TRYOPEN end."""
    app = ports.app_for(port_id)
    channel = must_channel(ctx.kv, port_id, channel_id)
    _require_state(channel, port_id, channel_id, INIT)
    _check_version(counterparty_version)
    connection_id, conn = connection_of(ctx.kv, channel)
    if conn.state != connection_keeper.OPEN:
        raise ErrInvalidChannel(f"connection {connection_id} is not OPEN")
    expected = ibc_pb2.Channel(
        state=TRYOPEN,
        ordering=channel.ordering,
        counterparty=ibc_pb2.ChannelCounterparty(port_id=port_id, channel_id=channel_id),
        connection_hops=[conn.counterparty.connection_id],
        version=counterparty_version,
    )
    _verify(
        ctx,
        conn,
        proof_try,
        proof_height,
        host.channel_path(channel.counterparty.port_id, counterparty_channel_id),
        encode(expected),
    )
    app.on_chan_open_ack(ctx, channel_id, counterparty_channel_id, counterparty_version)
    channel.state = OPEN
    channel.version = counterparty_version
    channel.counterparty.channel_id = counterparty_channel_id
    _set_channel(ctx, port_id, channel_id, channel)
    _emit_channel(ctx, "channel_open_ack", port_id, channel_id, channel)


def chan_open_confirm(
    ctx: Context, port_id: str, channel_id: str, proof_ack: bytes, proof_height: int
) -> None:
    """ChanOpenConfirm: TRYOPEN -> OPEN after proving the counterparty's OPEN end."""
    app = ports.app_for(port_id)
    channel = must_channel(ctx.kv, port_id, channel_id)
    _require_state(channel, port_id, channel_id, TRYOPEN)
    connection_id, conn = connection_of(ctx.kv, channel)
    if conn.state != connection_keeper.OPEN:
        raise ErrInvalidChannel(f"connection {connection_id} is not OPEN")
    expected = ibc_pb2.Channel(
        state=OPEN,
        ordering=channel.ordering,
        counterparty=ibc_pb2.ChannelCounterparty(port_id=port_id, channel_id=channel_id),
        connection_hops=[conn.counterparty.connection_id],
        version=channel.version,
    )
    _verify(
        ctx,
        conn,
        proof_ack,
        proof_height,
        host.channel_path(channel.counterparty.port_id, channel.counterparty.channel_id),
        encode(expected),
    )
    app.on_chan_open_confirm(ctx, channel_id)
    channel.state = OPEN
    _set_channel(ctx, port_id, channel_id, channel)
    _emit_channel(ctx, "channel_open_confirm", port_id, channel_id, channel)


def chan_close_init(ctx: Context, port_id: str, channel_id: str) -> None:
    """ChanCloseInit: close this end (the application may refuse)."""
    app = ports.app_for(port_id)
    channel = must_channel(ctx.kv, port_id, channel_id)
    if channel.state == CLOSED:
        raise ErrInvalidChannelState(f"channel {port_id}/{channel_id} is already CLOSED")
    connection_keeper.require_open(ctx.kv, connection_of(ctx.kv, channel)[0])
    app.on_chan_close_init(ctx, channel_id)
    channel.state = CLOSED
    _set_channel(ctx, port_id, channel_id, channel)
    _emit_channel(ctx, "channel_close_init", port_id, channel_id, channel)


def chan_close_confirm(
    ctx: Context, port_id: str, channel_id: str, proof_init: bytes, proof_height: int
) -> None:
    """ChanCloseConfirm: close this end after proving the counterparty's end CLOSED."""
    app = ports.app_for(port_id)
    channel = must_channel(ctx.kv, port_id, channel_id)
    if channel.state == CLOSED:
        raise ErrInvalidChannelState(f"channel {port_id}/{channel_id} is already CLOSED")
    connection_id, conn = connection_of(ctx.kv, channel)
    connection_keeper.require_open(ctx.kv, connection_id)
    _verify(
        ctx,
        conn,
        proof_init,
        proof_height,
        host.channel_path(channel.counterparty.port_id, channel.counterparty.channel_id),
        encode(_closed_counterparty(port_id, channel_id, channel, conn)),
    )
    app.on_chan_close_confirm(ctx, channel_id)
    channel.state = CLOSED
    _set_channel(ctx, port_id, channel_id, channel)
    _emit_channel(ctx, "channel_close_confirm", port_id, channel_id, channel)


def _closed_counterparty(
    port_id: str, channel_id: str, channel: ibc_pb2.Channel, conn: ibc_pb2.ConnectionEnd
) -> ibc_pb2.Channel:
    return ibc_pb2.Channel(
        state=CLOSED,
        ordering=channel.ordering,
        counterparty=ibc_pb2.ChannelCounterparty(port_id=port_id, channel_id=channel_id),
        connection_hops=[conn.counterparty.connection_id],
        version=channel.version,
    )


# --- packets ------------------------------------------------------------------------------------


def validate_packet(packet: ibc_pb2.Packet) -> None:
    """Stateless shape of a packet (ibc-go Packet.ValidateBasic)."""
    host.validate_port_id(packet.source_port)
    host.validate_channel_id(packet.source_channel)
    host.validate_port_id(packet.destination_port)
    host.validate_channel_id(packet.destination_channel)
    if packet.sequence == 0:
        raise ErrInvalidPacket("packet sequence cannot be 0")
    if packet.timeout_height == 0 and packet.timeout_timestamp == 0:
        raise ErrInvalidPacket("packet timeout height and timestamp cannot both be 0")
    if not packet.data:
        raise ErrInvalidPacket("packet data cannot be empty")
    if len(packet.data) > MAX_PACKET_DATA:
        raise ErrInvalidPacket(f"packet data is {len(packet.data)} bytes, limit {MAX_PACKET_DATA}")


def commit_packet(packet: ibc_pb2.Packet) -> bytes:
    return host.packet_commitment(packet.timeout_timestamp, packet.timeout_height, packet.data)


def send_packet(
    ctx: Context,
    source_port: str,
    source_channel: str,
    timeout_height: int,
    timeout_timestamp: int,
    data: bytes,
) -> int:
    """Commit to a packet on an OPEN channel and return its sequence.

    The timeout must not already have passed on the counterparty as far as
    this chain's client of it knows (its latest height and that height's
    timestamp). Raises ErrChannelNotFound, ErrInvalidChannelState,
    ErrInvalidPacket, ErrPacketTimeout, or the client's status errors.
    """
    channel = must_channel(ctx.kv, source_port, source_channel)
    _require_state(channel, source_port, source_channel, OPEN)
    _, conn = connection_of(ctx.kv, channel)
    cs = client_keeper.require_active(ctx.kv, conn.client_id, ctx.time_ns)
    sequence = next_sequence_send(ctx.kv, source_port, source_channel)
    packet = ibc_pb2.Packet(
        sequence=sequence,
        source_port=source_port,
        source_channel=source_channel,
        destination_port=channel.counterparty.port_id,
        destination_channel=channel.counterparty.channel_id,
        data=data,
        timeout_height=timeout_height,
        timeout_timestamp=timeout_timestamp,
    )
    validate_packet(packet)
    latest_height = cs.latest_height
    if timeout_height and latest_height >= timeout_height:
        raise ErrPacketTimeout(
            f"receiving chain is already at height {latest_height} >= timeout height "
            f"{timeout_height}"
        )
    latest_time = client_keeper.timestamp_at_height(ctx.kv, conn.client_id, latest_height)
    if timeout_timestamp and latest_time >= timeout_timestamp:
        raise ErrPacketTimeout(
            f"receiving chain's time {latest_time} ns is already >= timeout timestamp "
            f"{timeout_timestamp} ns"
        )
    ctx.kv.set(
        host.key(host.packet_commitment_path(source_port, source_channel, sequence)),
        commit_packet(packet),
    )
    _set_u64(ctx, host.next_sequence_send_path(source_port, source_channel), sequence + 1)
    _emit_packet(ctx, "send_packet", packet, channel)
    return sequence


def _ack_bytes(ack: ibc_pb2.Acknowledgement) -> bytes:
    """The acknowledgement's bytes after checking it is a result or a non-blank error."""
    which = ack.WhichOneof("response")
    if which == "result" and not ack.result:
        raise ErrInvalidAcknowledgement("acknowledgement result is empty")
    if which == "error" and not ack.error.strip():
        raise ErrInvalidAcknowledgement("acknowledgement error is blank")
    if which is None:
        raise ErrInvalidAcknowledgement("acknowledgement has neither result nor error")
    return encode(ack)


def _was_received(kv: KV, channel: ibc_pb2.Channel, packet: ibc_pb2.Packet) -> bool:
    port, chan = packet.destination_port, packet.destination_channel
    if channel.ordering == ORDERED:
        return packet.sequence < next_sequence_recv(kv, port, chan)
    return has_receipt(kv, port, chan, packet.sequence)


def write_acknowledgement(
    ctx: Context, packet: ibc_pb2.Packet, ack: ibc_pb2.Acknowledgement
) -> None:
    """Write the acknowledgement of a received packet (once; ErrAcknowledgementExists after).

    Applications that answered ``on_recv_packet`` with None call this later.
    """
    port, chan = packet.destination_port, packet.destination_channel
    channel = must_channel(ctx.kv, port, chan)
    _require_state(channel, port, chan, OPEN)
    if get_ack_commitment(ctx.kv, port, chan, packet.sequence) is not None:
        raise ErrAcknowledgementExists(
            f"packet {port}/{chan}/{packet.sequence} already has an acknowledgement"
        )
    if not _was_received(ctx.kv, channel, packet):
        raise ErrInvalidPacket(f"packet {port}/{chan}/{packet.sequence} was not received")
    raw = _ack_bytes(ack)
    ctx.kv.set(
        host.key(host.packet_ack_path(port, chan, packet.sequence)), host.ack_commitment(raw)
    )
    _emit_packet(ctx, "write_acknowledgement", packet, channel, packet_ack_hex=raw.hex())


def _check_counterparty_matches(
    channel: ibc_pb2.Channel, other_port: str, other_channel: str
) -> None:
    """The packet's other end must be the channel's counterparty."""
    expected = (channel.counterparty.port_id, channel.counterparty.channel_id)
    if (other_port, other_channel) != expected:
        raise ErrInvalidPacket(
            f"packet's counterparty end {other_port}/{other_channel} is not the channel's "
            f"counterparty {expected[0]}/{expected[1]}"
        )


def recv_packet(
    ctx: Context, packet: ibc_pb2.Packet, proof: bytes, proof_height: int, relayer: bytes
) -> None:
    """Receive a packet proven committed on the counterparty; call the application.

    A packet already received is a no-op. The application's writes are kept
    when its acknowledgement is a success or deferred, discarded on an error
    acknowledgement (ibc-go); an error it raises fails the whole message.
    """
    validate_packet(packet)
    port, chan = packet.destination_port, packet.destination_channel
    channel = must_channel(ctx.kv, port, chan)
    _require_state(channel, port, chan, OPEN)
    _check_counterparty_matches(channel, packet.source_port, packet.source_channel)
    connection_id, conn = connection_of(ctx.kv, channel)
    connection_keeper.require_open(ctx.kv, connection_id)
    if packet.timeout_height and ctx.height >= packet.timeout_height:
        raise ErrPacketTimeout(
            f"block height {ctx.height} >= packet timeout height {packet.timeout_height}"
        )
    if packet.timeout_timestamp and ctx.time_ns >= packet.timeout_timestamp:
        raise ErrPacketTimeout(
            f"block time {ctx.time_ns} ns >= packet timeout timestamp {packet.timeout_timestamp} ns"
        )
    _verify(
        ctx,
        conn,
        proof,
        proof_height,
        host.packet_commitment_path(packet.source_port, packet.source_channel, packet.sequence),
        commit_packet(packet),
    )
    # replay protection
    if channel.ordering == ORDERED:
        expected = next_sequence_recv(ctx.kv, port, chan)
        if packet.sequence < expected:
            return  # already received: no-op
        if packet.sequence != expected:
            raise ErrPacketSequenceOutOfOrder(
                f"packet sequence != next receive sequence ({packet.sequence} != {expected})"
            )
        app = ports.app_for(port)
        _set_u64(ctx, host.next_sequence_recv_path(port, chan), expected + 1)
    else:
        if has_receipt(ctx.kv, port, chan, packet.sequence):
            return  # already received: no-op
        app = ports.app_for(port)
        ctx.kv.set(host.key(host.packet_receipt_path(port, chan, packet.sequence)), host.RECEIPT)
    _emit_packet(ctx, "recv_packet", packet, channel)
    app_ctx = ctx.branch()
    ack = app.on_recv_packet(app_ctx, packet, relayer)
    if ack is None or ack.WhichOneof("response") == "result":
        app_ctx.kv.write()
        ctx.events.extend(app_ctx.events)
    if ack is not None:
        write_acknowledgement(ctx, packet, ack)


def _check_sent(ctx: Context, channel: ibc_pb2.Channel, packet: ibc_pb2.Packet) -> bytes | None:
    """The stored commitment of a packet sent here (None: already acknowledged or timed
    out); ErrPacketNotSent for a sequence never sent, ErrInvalidPacket for another packet."""
    port, chan = packet.source_port, packet.source_channel
    stored = get_packet_commitment(ctx.kv, port, chan, packet.sequence)
    if stored is None:
        if packet.sequence >= next_sequence_send(ctx.kv, port, chan):
            raise ErrPacketNotSent(
                f"{port}/{chan} never sent sequence {packet.sequence} "
                f"(next send sequence {next_sequence_send(ctx.kv, port, chan)})"
            )
        return None
    if stored != commit_packet(packet):
        raise ErrInvalidPacket(
            f"packet does not match the commitment stored for {port}/{chan}/{packet.sequence}"
        )
    return stored


def acknowledge_packet(
    ctx: Context,
    packet: ibc_pb2.Packet,
    acknowledgement: bytes,
    proof: bytes,
    proof_height: int,
    relayer: bytes,
) -> None:
    """Process the counterparty's acknowledgement of a packet sent here."""
    validate_packet(packet)
    port, chan = packet.source_port, packet.source_channel
    channel = must_channel(ctx.kv, port, chan)
    _require_state(channel, port, chan, OPEN)
    _check_counterparty_matches(channel, packet.destination_port, packet.destination_channel)
    connection_id, conn = connection_of(ctx.kv, channel)
    connection_keeper.require_open(ctx.kv, connection_id)
    if _check_sent(ctx, channel, packet) is None:
        return  # already acknowledged or timed out: no-op
    try:
        ack = ibc_pb2.Acknowledgement.FromString(acknowledgement)
    except Exception as exc:  # protobuf raises several types on garbage
        raise ErrInvalidAcknowledgement(f"acknowledgement does not decode: {exc}") from None
    _verify(
        ctx,
        conn,
        proof,
        proof_height,
        host.packet_ack_path(packet.destination_port, packet.destination_channel, packet.sequence),
        host.ack_commitment(acknowledgement),
    )
    _ack_bytes(ack)  # the counterparty's app wrote a valid one, or this refuses it
    if channel.ordering == ORDERED:
        expected = next_sequence_ack(ctx.kv, port, chan)
        if packet.sequence != expected:
            raise ErrPacketSequenceOutOfOrder(
                f"packet sequence != next ack sequence ({packet.sequence} != {expected})"
            )
        _set_u64(ctx, host.next_sequence_ack_path(port, chan), expected + 1)
    app = ports.app_for(port)
    ctx.kv.delete(host.key(host.packet_commitment_path(port, chan, packet.sequence)))
    _emit_packet(ctx, "acknowledge_packet", packet, channel)
    app.on_acknowledgement_packet(ctx, packet, ack, relayer)


def _timeout_common(
    ctx: Context,
    packet: ibc_pb2.Packet,
    proof_unreceived: bytes,
    proof_height: int,
    next_sequence_recv_claimed: int,
    relayer: bytes,
    *,
    on_close: bool,
    proof_close: bytes = b"",
) -> None:
    validate_packet(packet)
    port, chan = packet.source_port, packet.source_channel
    channel = must_channel(ctx.kv, port, chan)
    _require_state(channel, port, chan, OPEN, CLOSED)
    _check_counterparty_matches(channel, packet.destination_port, packet.destination_channel)
    _connection_id, conn = connection_of(ctx.kv, channel)
    if not on_close:
        proof_time = client_keeper.timestamp_at_height(ctx.kv, conn.client_id, proof_height)
        height_passed = packet.timeout_height != 0 and proof_height >= packet.timeout_height
        time_passed = packet.timeout_timestamp != 0 and proof_time >= packet.timeout_timestamp
        if not (height_passed or time_passed):
            raise ErrTimeoutNotReached(
                f"at proof height {proof_height} (time {proof_time} ns) the packet's timeout "
                f"(height {packet.timeout_height}, timestamp {packet.timeout_timestamp} ns) "
                "has not passed"
            )
    if _check_sent(ctx, channel, packet) is None:
        return  # already acknowledged or timed out: no-op
    if on_close:
        _verify(
            ctx,
            conn,
            proof_close,
            proof_height,
            host.channel_path(packet.destination_port, packet.destination_channel),
            encode(_closed_counterparty(port, chan, channel, conn)),
        )
    dst_port, dst_chan = packet.destination_port, packet.destination_channel
    if channel.ordering == ORDERED:
        if next_sequence_recv_claimed > packet.sequence:
            raise ErrPacketReceived(
                f"next receive sequence {next_sequence_recv_claimed} > packet sequence "
                f"{packet.sequence}: the packet was received"
            )
        _verify(
            ctx,
            conn,
            proof_unreceived,
            proof_height,
            host.next_sequence_recv_path(dst_port, dst_chan),
            host.u64(next_sequence_recv_claimed),
        )
    else:
        _verify_absent(
            ctx,
            conn,
            proof_unreceived,
            proof_height,
            host.packet_receipt_path(dst_port, dst_chan, packet.sequence),
        )
    app = ports.app_for(port)
    ctx.kv.delete(host.key(host.packet_commitment_path(port, chan, packet.sequence)))
    _emit_packet(ctx, "timeout_packet", packet, channel)
    if channel.ordering == ORDERED and channel.state != CLOSED:
        channel.state = CLOSED
        _set_channel(ctx, port, chan, channel)
        _emit_channel(ctx, "channel_close", port, chan, channel)
    app.on_timeout_packet(ctx, packet, relayer)


def timeout_packet(
    ctx: Context,
    packet: ibc_pb2.Packet,
    proof_unreceived: bytes,
    proof_height: int,
    next_sequence_recv_claimed: int,
    relayer: bytes,
) -> None:
    """Time out a packet sent here whose timeout passed on the counterparty unreceived.

    On an ordered channel the channel is CLOSED afterwards (ICS-04).
    """
    _timeout_common(
        ctx,
        packet,
        proof_unreceived,
        proof_height,
        next_sequence_recv_claimed,
        relayer,
        on_close=False,
    )


def timeout_on_close(
    ctx: Context,
    packet: ibc_pb2.Packet,
    proof_unreceived: bytes,
    proof_close: bytes,
    proof_height: int,
    next_sequence_recv_claimed: int,
    relayer: bytes,
) -> None:
    """Time out a packet sent here whose counterparty channel was CLOSED before receiving it."""
    _timeout_common(
        ctx,
        packet,
        proof_unreceived,
        proof_height,
        next_sequence_recv_claimed,
        relayer,
        on_close=True,
        proof_close=proof_close,
    )
