"""IBC core messages (Msg fields 60-76): stateless checks and handlers.

``validate_<name>`` runs in CheckTx and in the wallet before broadcast: it
checks shapes only (identifiers, required fields, heights). ``handle_<name>``
parses nothing more and calls the keeper, which does every stateful check.
Any account may relay: the signer pays the fee and is passed to the
applications as the relayer.
"""

from __future__ import annotations

from app.context import Context
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import host
from ibc.channel import keeper as channel_keeper
from ibc.client import keeper as client_keeper
from ibc.connection import keeper as connection_keeper
from ibc.errors import (
    ErrInvalidAcknowledgement,
    ErrInvalidChannel,
    ErrInvalidClient,
    ErrInvalidCounterparty,
    ErrInvalidHeader,
    ErrInvalidHeight,
    ErrInvalidMisbehaviour,
    ErrInvalidPacket,
    ErrInvalidProof,
    ErrInvalidVersion,
)

MAX_PROOF_BYTES = 16 * 1024
MAX_ACK_BYTES = 16 * 1024


def _proof(proof: bytes, proof_height: int, what: str) -> None:
    if not proof:
        raise ErrInvalidProof(f"{what}: proof is empty")
    if len(proof) > MAX_PROOF_BYTES:
        raise ErrInvalidProof(f"{what}: proof is {len(proof)} bytes, limit {MAX_PROOF_BYTES}")
    if proof_height == 0:
        raise ErrInvalidHeight(f"{what}: proof height must be positive")


def _header(header: ibc_pb2.Header, what: str = "header") -> None:
    if not header.HasField("signed_header") or not header.signed_header.HasField("header"):
        raise ErrInvalidHeader(f"{what}: signed header is missing")
    if not header.signed_header.HasField("commit"):
        raise ErrInvalidHeader(f"{what}: commit is missing")
    if not header.HasField("validator_set"):
        raise ErrInvalidHeader(f"{what}: validator set is missing")
    if not header.HasField("trusted_validators"):
        raise ErrInvalidHeader(f"{what}: trusted validators are missing")
    if header.trusted_height == 0:
        raise ErrInvalidHeader(f"{what}: trusted height must be positive")
    if header.signed_header.header.height <= 0:
        raise ErrInvalidHeader(f"{what}: height must be positive")


def _connection_counterparty(cp: ibc_pb2.ConnectionCounterparty, need_connection: bool) -> None:
    host.validate_client_id(cp.client_id)
    if need_connection:
        host.validate_connection_id(cp.connection_id)
    elif cp.connection_id:
        raise ErrInvalidCounterparty("counterparty connection id must be empty in Init")
    if not cp.prefix:
        raise ErrInvalidCounterparty("counterparty prefix is empty")


def _channel(channel: ibc_pb2.Channel, need_counterparty_channel: bool) -> None:
    if channel.ordering not in (channel_keeper.ORDERED, channel_keeper.UNORDERED):
        raise ErrInvalidChannel(f"ordering must be ORDERED or UNORDERED, got {channel.ordering}")
    if len(channel.connection_hops) != 1:
        raise ErrInvalidChannel(
            f"channel must have exactly one connection hop, has {len(channel.connection_hops)}"
        )
    host.validate_connection_id(channel.connection_hops[0])
    host.validate_port_id(channel.counterparty.port_id)
    if need_counterparty_channel:
        host.validate_channel_id(channel.counterparty.channel_id)
    elif channel.counterparty.channel_id:
        raise ErrInvalidCounterparty("counterparty channel id must be empty in Init")
    if len(channel.version) > channel_keeper.MAX_VERSION_LEN:
        raise ErrInvalidChannel(f"version is {len(channel.version)} characters")


def _packet(msg_packet: ibc_pb2.Packet, present: bool) -> None:
    if not present:
        raise ErrInvalidPacket("packet is missing")
    channel_keeper.validate_packet(msg_packet)


# --- clients ----------------------------------------------------------------------------


def validate_create_client(msg: ibc_pb2.MsgCreateClient) -> None:
    if not msg.HasField("client_state"):
        raise ErrInvalidClient("client state is missing")
    if not msg.HasField("consensus_state"):
        raise ErrInvalidClient("consensus state is missing")
    if not msg.client_state.chain_id:
        raise ErrInvalidClient("client state: chain id is empty")
    if msg.client_state.latest_height == 0:
        raise ErrInvalidClient("client state: latest height must be positive")


def handle_create_client(ctx: Context, signer: bytes, msg: ibc_pb2.MsgCreateClient) -> None:
    client_keeper.create_client(ctx, msg.client_state, msg.consensus_state)


def validate_update_client(msg: ibc_pb2.MsgUpdateClient) -> None:
    host.validate_client_id(msg.client_id)
    if not msg.HasField("header"):
        raise ErrInvalidHeader("header is missing")
    _header(msg.header)


def handle_update_client(ctx: Context, signer: bytes, msg: ibc_pb2.MsgUpdateClient) -> None:
    client_keeper.update_client(ctx, msg.client_id, msg.header)


def validate_submit_misbehaviour(msg: ibc_pb2.MsgSubmitMisbehaviour) -> None:
    host.validate_client_id(msg.client_id)
    if not msg.HasField("misbehaviour"):
        raise ErrInvalidMisbehaviour("misbehaviour is missing")
    for name in ("header_1", "header_2"):
        if not msg.misbehaviour.HasField(name):
            raise ErrInvalidMisbehaviour(f"{name} is missing")
        try:
            _header(getattr(msg.misbehaviour, name), name)
        except ErrInvalidHeader as err:
            raise ErrInvalidMisbehaviour(err.detail) from None


def handle_submit_misbehaviour(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgSubmitMisbehaviour
) -> None:
    client_keeper.submit_misbehaviour(ctx, msg.client_id, msg.misbehaviour)


# --- connections -----------------------------------------------------------------------------


def validate_connection_open_init(msg: ibc_pb2.MsgConnectionOpenInit) -> None:
    host.validate_client_id(msg.client_id)
    _connection_counterparty(msg.counterparty, need_connection=False)
    if msg.HasField("version"):
        connection_keeper.validate_version(msg.version)


def handle_connection_open_init(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgConnectionOpenInit
) -> None:
    connection_keeper.conn_open_init(
        ctx,
        msg.client_id,
        msg.counterparty,
        msg.version if msg.HasField("version") else None,
        msg.delay_period,
    )


def validate_connection_open_try(msg: ibc_pb2.MsgConnectionOpenTry) -> None:
    host.validate_client_id(msg.client_id)
    _connection_counterparty(msg.counterparty, need_connection=True)
    if not msg.counterparty_versions:
        raise ErrInvalidVersion("counterparty versions are empty")
    if len(msg.counterparty_versions) > connection_keeper.MAX_VERSIONS:
        raise ErrInvalidVersion(
            f"{len(msg.counterparty_versions)} counterparty versions, "
            f"limit {connection_keeper.MAX_VERSIONS}"
        )
    for v in msg.counterparty_versions:
        connection_keeper.validate_version(v)
    _proof(msg.proof_init, msg.proof_height, "proof_init")


def handle_connection_open_try(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgConnectionOpenTry
) -> None:
    connection_keeper.conn_open_try(
        ctx,
        msg.client_id,
        msg.counterparty,
        msg.delay_period,
        list(msg.counterparty_versions),
        msg.proof_init,
        msg.proof_height,
    )


def validate_connection_open_ack(msg: ibc_pb2.MsgConnectionOpenAck) -> None:
    host.validate_connection_id(msg.connection_id)
    host.validate_connection_id(msg.counterparty_connection_id)
    if not msg.HasField("version"):
        raise ErrInvalidVersion("version is missing")
    connection_keeper.validate_version(msg.version)
    _proof(msg.proof_try, msg.proof_height, "proof_try")


def handle_connection_open_ack(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgConnectionOpenAck
) -> None:
    connection_keeper.conn_open_ack(
        ctx,
        msg.connection_id,
        msg.counterparty_connection_id,
        msg.version,
        msg.proof_try,
        msg.proof_height,
    )


def validate_connection_open_confirm(msg: ibc_pb2.MsgConnectionOpenConfirm) -> None:
    host.validate_connection_id(msg.connection_id)
    _proof(msg.proof_ack, msg.proof_height, "proof_ack")


def handle_connection_open_confirm(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgConnectionOpenConfirm
) -> None:
    connection_keeper.conn_open_confirm(ctx, msg.connection_id, msg.proof_ack, msg.proof_height)


# --- channels ----------------------------------------------------------------------------------


def validate_channel_open_init(msg: ibc_pb2.MsgChannelOpenInit) -> None:
    host.validate_port_id(msg.port_id)
    if not msg.HasField("channel"):
        raise ErrInvalidChannel("channel is missing")
    _channel(msg.channel, need_counterparty_channel=False)


def handle_channel_open_init(ctx: Context, signer: bytes, msg: ibc_pb2.MsgChannelOpenInit) -> None:
    channel_keeper.chan_open_init(ctx, msg.port_id, msg.channel)


def validate_channel_open_try(msg: ibc_pb2.MsgChannelOpenTry) -> None:
    host.validate_port_id(msg.port_id)
    if not msg.HasField("channel"):
        raise ErrInvalidChannel("channel is missing")
    _channel(msg.channel, need_counterparty_channel=True)
    if len(msg.counterparty_version) > channel_keeper.MAX_VERSION_LEN:
        raise ErrInvalidChannel(f"counterparty version is {len(msg.counterparty_version)} chars")
    _proof(msg.proof_init, msg.proof_height, "proof_init")


def handle_channel_open_try(ctx: Context, signer: bytes, msg: ibc_pb2.MsgChannelOpenTry) -> None:
    channel_keeper.chan_open_try(
        ctx, msg.port_id, msg.channel, msg.counterparty_version, msg.proof_init, msg.proof_height
    )


def validate_channel_open_ack(msg: ibc_pb2.MsgChannelOpenAck) -> None:
    host.validate_port_id(msg.port_id)
    host.validate_channel_id(msg.channel_id)
    host.validate_channel_id(msg.counterparty_channel_id)
    if len(msg.counterparty_version) > channel_keeper.MAX_VERSION_LEN:
        raise ErrInvalidChannel(f"counterparty version is {len(msg.counterparty_version)} chars")
    _proof(msg.proof_try, msg.proof_height, "proof_try")


def handle_channel_open_ack(ctx: Context, signer: bytes, msg: ibc_pb2.MsgChannelOpenAck) -> None:
    channel_keeper.chan_open_ack(
        ctx,
        msg.port_id,
        msg.channel_id,
        msg.counterparty_channel_id,
        msg.counterparty_version,
        msg.proof_try,
        msg.proof_height,
    )


def validate_channel_open_confirm(msg: ibc_pb2.MsgChannelOpenConfirm) -> None:
    host.validate_port_id(msg.port_id)
    host.validate_channel_id(msg.channel_id)
    _proof(msg.proof_ack, msg.proof_height, "proof_ack")


def handle_channel_open_confirm(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgChannelOpenConfirm
) -> None:
    channel_keeper.chan_open_confirm(
        ctx, msg.port_id, msg.channel_id, msg.proof_ack, msg.proof_height
    )


def validate_channel_close_init(msg: ibc_pb2.MsgChannelCloseInit) -> None:
    host.validate_port_id(msg.port_id)
    host.validate_channel_id(msg.channel_id)


def handle_channel_close_init(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgChannelCloseInit
) -> None:
    channel_keeper.chan_close_init(ctx, msg.port_id, msg.channel_id)


def validate_channel_close_confirm(msg: ibc_pb2.MsgChannelCloseConfirm) -> None:
    host.validate_port_id(msg.port_id)
    host.validate_channel_id(msg.channel_id)
    _proof(msg.proof_init, msg.proof_height, "proof_init")


def handle_channel_close_confirm(
    ctx: Context, signer: bytes, msg: ibc_pb2.MsgChannelCloseConfirm
) -> None:
    channel_keeper.chan_close_confirm(
        ctx, msg.port_id, msg.channel_id, msg.proof_init, msg.proof_height
    )


# --- packets -------------------------------------------------------------------------------------


def validate_recv_packet(msg: ibc_pb2.MsgRecvPacket) -> None:
    _packet(msg.packet, msg.HasField("packet"))
    _proof(msg.proof_commitment, msg.proof_height, "proof_commitment")


def handle_recv_packet(ctx: Context, signer: bytes, msg: ibc_pb2.MsgRecvPacket) -> None:
    channel_keeper.recv_packet(ctx, msg.packet, msg.proof_commitment, msg.proof_height, signer)


def validate_acknowledgement(msg: ibc_pb2.MsgAcknowledgement) -> None:
    _packet(msg.packet, msg.HasField("packet"))
    if not msg.acknowledgement:
        raise ErrInvalidAcknowledgement("acknowledgement is empty")
    if len(msg.acknowledgement) > MAX_ACK_BYTES:
        raise ErrInvalidAcknowledgement(
            f"acknowledgement is {len(msg.acknowledgement)} bytes, limit {MAX_ACK_BYTES}"
        )
    _proof(msg.proof_acked, msg.proof_height, "proof_acked")


def handle_acknowledgement(ctx: Context, signer: bytes, msg: ibc_pb2.MsgAcknowledgement) -> None:
    channel_keeper.acknowledge_packet(
        ctx, msg.packet, msg.acknowledgement, msg.proof_acked, msg.proof_height, signer
    )


def validate_timeout(msg: ibc_pb2.MsgTimeout) -> None:
    _packet(msg.packet, msg.HasField("packet"))
    _proof(msg.proof_unreceived, msg.proof_height, "proof_unreceived")


def handle_timeout(ctx: Context, signer: bytes, msg: ibc_pb2.MsgTimeout) -> None:
    channel_keeper.timeout_packet(
        ctx, msg.packet, msg.proof_unreceived, msg.proof_height, msg.next_sequence_recv, signer
    )


def validate_timeout_on_close(msg: ibc_pb2.MsgTimeoutOnClose) -> None:
    _packet(msg.packet, msg.HasField("packet"))
    _proof(msg.proof_unreceived, msg.proof_height, "proof_unreceived")
    _proof(msg.proof_close, msg.proof_height, "proof_close")


def handle_timeout_on_close(ctx: Context, signer: bytes, msg: ibc_pb2.MsgTimeoutOnClose) -> None:
    channel_keeper.timeout_on_close(
        ctx,
        msg.packet,
        msg.proof_unreceived,
        msg.proof_close,
        msg.proof_height,
        msg.next_sequence_recv,
        signer,
    )


MSG_NAMES = (
    "create_client",
    "update_client",
    "submit_misbehaviour",
    "connection_open_init",
    "connection_open_try",
    "connection_open_ack",
    "connection_open_confirm",
    "channel_open_init",
    "channel_open_try",
    "channel_open_ack",
    "channel_open_confirm",
    "channel_close_init",
    "channel_close_confirm",
    "recv_packet",
    "acknowledgement",
    "timeout",
    "timeout_on_close",
)
"""The Msg oneof fields (60-76) this module routes."""
