"""mgrid.ibc.v1.Query: clients, consensus states, connections, channels, packets.

Every answer reads the ICS-24 keys of ``ibc.host``; relayers that need a
value *with a proof* read the same keys through ``/store/key`` with
prove=true instead. Malformed identifiers are ErrInvalidRequest, missing
objects ErrNotFound. Lists are complete (the number of clients, connections
and channels stays small) and in identifier order; sequence lists ascend.
"""

from __future__ import annotations

from collections.abc import Callable

from app.errors import ABCIError, ErrInvalidRequest, ErrNotFound
from app.kv import KV
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import host
from ibc.channel import keeper as channel_keeper
from ibc.client import keeper as client_keeper
from ibc.connection import keeper as connection_keeper

MAX_SEQUENCES = 1000


def _checked(check: Callable[[str], object], value: str, field: str) -> None:
    try:
        check(value)
    except ABCIError as err:
        raise ErrInvalidRequest(f"{field}: {err.detail}") from None


def _port_channel(port_id: str, channel_id: str) -> None:
    _checked(host.validate_port_id, port_id, "port_id")
    _checked(host.validate_channel_id, channel_id, "channel_id")


def _sequences(kv: KV, path_prefix: str) -> list[int]:
    prefix = host.key(path_prefix)
    out = []
    for k, _ in kv.iterate(prefix):
        tail = k[len(prefix) :]
        if tail.isdigit():
            out.append(int(tail))
    return sorted(out)


def _requested(sequences: list[int]) -> list[int]:
    if len(sequences) > MAX_SEQUENCES:
        raise ErrInvalidRequest(f"{len(sequences)} sequences, limit {MAX_SEQUENCES}")
    if any(s == 0 for s in sequences):
        raise ErrInvalidRequest("sequence 0 does not exist")
    return list(sequences)


class Queries:
    def ClientState(
        self, kv: KV, req: ibc_pb2.QueryClientStateRequest
    ) -> ibc_pb2.QueryClientStateResponse:
        _checked(host.validate_client_id, req.client_id, "client_id")
        cs = client_keeper.get_client_state(kv, req.client_id)
        if cs is None:
            raise ErrNotFound(f"client {req.client_id} does not exist")
        return ibc_pb2.QueryClientStateResponse(client_state=cs)

    def ConsensusState(
        self, kv: KV, req: ibc_pb2.QueryConsensusStateRequest
    ) -> ibc_pb2.QueryConsensusStateResponse:
        _checked(host.validate_client_id, req.client_id, "client_id")
        cs = client_keeper.get_client_state(kv, req.client_id)
        if cs is None:
            raise ErrNotFound(f"client {req.client_id} does not exist")
        height = req.height or cs.latest_height
        cons = client_keeper.get_consensus_state(kv, req.client_id, height)
        if cons is None:
            raise ErrNotFound(f"client {req.client_id} has no consensus state at height {height}")
        return ibc_pb2.QueryConsensusStateResponse(consensus_state=cons, height=height)

    def Clients(self, kv: KV, req: ibc_pb2.QueryClientsRequest) -> ibc_pb2.QueryClientsResponse:
        out = ibc_pb2.QueryClientsResponse()
        for n in range(client_keeper.next_client_sequence(kv)):
            client_id = host.client_id(n)
            cs = client_keeper.get_client_state(kv, client_id)
            if cs is not None:
                out.clients.add(client_id=client_id, client_state=cs)
        return out

    def Connection(
        self, kv: KV, req: ibc_pb2.QueryConnectionRequest
    ) -> ibc_pb2.QueryConnectionResponse:
        _checked(host.validate_connection_id, req.connection_id, "connection_id")
        conn = connection_keeper.get_connection(kv, req.connection_id)
        if conn is None:
            raise ErrNotFound(f"connection {req.connection_id} does not exist")
        return ibc_pb2.QueryConnectionResponse(connection=conn)

    def Connections(
        self, kv: KV, req: ibc_pb2.QueryConnectionsRequest
    ) -> ibc_pb2.QueryConnectionsResponse:
        out = ibc_pb2.QueryConnectionsResponse()
        for n in range(connection_keeper.next_connection_sequence(kv)):
            connection_id = host.connection_id(n)
            conn = connection_keeper.get_connection(kv, connection_id)
            if conn is not None:
                out.connections.add(connection_id=connection_id, connection=conn)
        return out

    def Channel(self, kv: KV, req: ibc_pb2.QueryChannelRequest) -> ibc_pb2.QueryChannelResponse:
        _port_channel(req.port_id, req.channel_id)
        channel = channel_keeper.get_channel(kv, req.port_id, req.channel_id)
        if channel is None:
            raise ErrNotFound(f"no channel {req.channel_id} on port {req.port_id}")
        return ibc_pb2.QueryChannelResponse(channel=channel)

    def Channels(self, kv: KV, req: ibc_pb2.QueryChannelsRequest) -> ibc_pb2.QueryChannelsResponse:
        rows = []
        prefix = host.key(host.CHANNEL_ENDS_PREFIX)
        for k, v in kv.iterate(prefix):
            port_id, sep, channel_id = k[len(prefix) :].decode().partition("/channels/")
            if sep:
                rows.append((_channel_sort_key(channel_id), port_id, channel_id, v))
        out = ibc_pb2.QueryChannelsResponse()
        for _, port_id, channel_id, raw in sorted(rows):
            out.channels.add(
                port_id=port_id, channel_id=channel_id, channel=ibc_pb2.Channel.FromString(raw)
            )
        return out

    def PacketCommitments(
        self, kv: KV, req: ibc_pb2.QueryPacketCommitmentsRequest
    ) -> ibc_pb2.QueryPacketCommitmentsResponse:
        _port_channel(req.port_id, req.channel_id)
        seqs = _sequences(kv, host.packet_commitment_prefix(req.port_id, req.channel_id))
        return ibc_pb2.QueryPacketCommitmentsResponse(sequences=seqs)

    def UnreceivedPackets(
        self, kv: KV, req: ibc_pb2.QueryUnreceivedPacketsRequest
    ) -> ibc_pb2.QueryUnreceivedPacketsResponse:
        _port_channel(req.port_id, req.channel_id)
        channel = channel_keeper.get_channel(kv, req.port_id, req.channel_id)
        if channel is None:
            raise ErrNotFound(f"no channel {req.channel_id} on port {req.port_id}")
        wanted = _requested(list(req.sequences))
        if channel.ordering == channel_keeper.ORDERED:
            next_recv = channel_keeper.next_sequence_recv(kv, req.port_id, req.channel_id)
            missing = [s for s in wanted if s >= next_recv]
        else:
            missing = [
                s
                for s in wanted
                if not channel_keeper.has_receipt(kv, req.port_id, req.channel_id, s)
            ]
        return ibc_pb2.QueryUnreceivedPacketsResponse(sequences=missing)

    def UnreceivedAcks(
        self, kv: KV, req: ibc_pb2.QueryUnreceivedAcksRequest
    ) -> ibc_pb2.QueryUnreceivedAcksResponse:
        _port_channel(req.port_id, req.channel_id)
        wanted = _requested(list(req.sequences))
        pending = [
            s
            for s in wanted
            if channel_keeper.get_packet_commitment(kv, req.port_id, req.channel_id, s) is not None
        ]
        return ibc_pb2.QueryUnreceivedAcksResponse(sequences=pending)

    def PacketAcknowledgements(
        self, kv: KV, req: ibc_pb2.QueryPacketAcknowledgementsRequest
    ) -> ibc_pb2.QueryPacketAcknowledgementsResponse:
        _port_channel(req.port_id, req.channel_id)
        seqs = _sequences(kv, host.packet_ack_prefix(req.port_id, req.channel_id))
        return ibc_pb2.QueryPacketAcknowledgementsResponse(sequences=seqs)

    def NextSequenceReceive(
        self, kv: KV, req: ibc_pb2.QueryNextSequenceReceiveRequest
    ) -> ibc_pb2.QueryNextSequenceReceiveResponse:
        _port_channel(req.port_id, req.channel_id)
        if channel_keeper.get_channel(kv, req.port_id, req.channel_id) is None:
            raise ErrNotFound(f"no channel {req.channel_id} on port {req.port_id}")
        return ibc_pb2.QueryNextSequenceReceiveResponse(
            next_sequence_receive=channel_keeper.next_sequence_recv(kv, req.port_id, req.channel_id)
        )


def _channel_sort_key(channel_id: str) -> tuple[int, str]:
    """channel-2 before channel-10; foreign-looking identifiers after, by text."""
    try:
        return (host.parse_channel_id(channel_id), channel_id)
    except ABCIError:
        return (2**64, channel_id)
