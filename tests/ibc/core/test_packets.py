"""Packet lifecycles on two in-process chains: send, receive, acknowledge (sync and
async), time out (height, timestamp, on close), ordered sequencing, duplicate relays,
and every forgery a relayer could try."""

from __future__ import annotations

import hashlib

import pytest

from app.context import Context, Mode
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import host
from ibc.channel import keeper as channel_keeper
from ibc.client import keeper as client_keeper
from ibc.errors import (
    ErrAcknowledgementExists,
    ErrChannelNotFound,
    ErrInvalidPacket,
    ErrPacketTimeout,
)
from tests.ibc.core.helpers import ECHO_VERSION, count, rejected, send, snapshot
from tests.support.ibcpair import IBCNode, IBCPair

Echo = tuple[IBCPair, str, str]


def events(node: IBCNode, event_type: str, since: int = 0) -> list[dict[str, str]]:
    return [dict(e.attributes) for _, e in node.events(since) if e.type == event_type]


def commitments(node: IBCNode, channel: str) -> list[int]:
    return list(node.q("PacketCommitments", port_id="echo", channel_id=channel).sequences)


def test_send_receive_acknowledge(echo: Echo) -> None:
    pair, ch_a, ch_b = echo
    since_a, since_b = pair.a.height, pair.b.height
    p = send(pair.a, ch_a, b"hello", pair=pair)
    assert p.sequence == 1
    assert (p.destination_port, p.destination_channel) == ("echo", ch_b)
    assert commitments(pair.a, ch_a) == [1]
    stored = pair.a.chain.store.get(host.key(host.packet_commitment_path("echo", ch_a, 1)))
    assert stored == host.packet_commitment(p.timeout_timestamp, 0, b"hello")

    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (1, 1)
    assert all(r.code == 0 for r in relayed.results)

    ack = ibc_pb2.Acknowledgement(result=b"echo:hello").SerializeToString(deterministic=True)
    assert pair.b.chain.store.get(host.key(host.packet_ack_path("echo", ch_b, 1))) == (
        hashlib.sha256(ack).digest()
    )
    assert pair.b.chain.store.get(host.key(host.packet_receipt_path("echo", ch_b, 1))) == b"\x01"
    assert commitments(pair.a, ch_a) == []
    assert pair.a.chain.store.get(b"echo/ack/1") == ack
    assert (count(pair.b, "recv"), count(pair.a, "ack")) == (1, 1)

    sent = events(pair.a, "send_packet", since_a)
    assert sent == [
        {
            "packet_sequence": "1",
            "packet_src_port": "echo",
            "packet_src_channel": ch_a,
            "packet_dst_port": "echo",
            "packet_dst_channel": ch_b,
            "packet_timeout_height": "0",
            "packet_timeout_timestamp": str(p.timeout_timestamp),
            "packet_data_hex": b"hello".hex(),
            "packet_channel_ordering": "ORDER_UNORDERED",
            "connection_id": "connection-0",
        }
    ]
    assert len(events(pair.b, "recv_packet", since_b)) == 1
    written = events(pair.b, "write_acknowledgement", since_b)
    assert len(written) == 1 and written[0]["packet_ack_hex"] == ack.hex()
    assert len(events(pair.a, "acknowledge_packet", since_a)) == 1
    # queries a relayer uses
    assert list(
        pair.b.q("UnreceivedPackets", port_id="echo", channel_id=ch_b, sequences=[1, 2]).sequences
    ) == [2]
    assert (
        list(pair.a.q("UnreceivedAcks", port_id="echo", channel_id=ch_a, sequences=[1]).sequences)
        == []
    )
    assert list(pair.b.q("PacketAcknowledgements", port_id="echo", channel_id=ch_b).sequences) == [
        1
    ]


def test_packets_both_ways_and_many(echo: Echo) -> None:
    pair, ch_a, ch_b = echo
    for i in range(3):
        send(pair.a, ch_a, b"a%d" % i, pair=pair)
        send(pair.b, ch_b, b"b%d" % i, pair=pair)
    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (6, 6)
    assert count(pair.a, "recv") == count(pair.b, "recv") == 3
    assert count(pair.a, "ack") == count(pair.b, "ack") == 3
    assert commitments(pair.a, ch_a) == commitments(pair.b, ch_b) == []


def test_relayed_twice_is_a_noop(echo: Echo) -> None:
    pair, ch_a, _ch_b = echo
    p = send(pair.a, ch_a, b"once", pair=pair)
    pair.step()
    recv = pair.recv_msg(pair.a, p)
    pair._relay_tx(pair.a, pair.b, recv, what="recv")
    before = snapshot(pair.b)
    again = pair.must(pair.b, recv)
    assert [e.type for e in again.events] == ["tx", "message"]
    assert snapshot(pair.b) == before
    assert count(pair.b, "recv") == 1

    pair.step()
    ack_bytes = ibc_pb2.Acknowledgement(result=b"echo:once").SerializeToString(deterministic=True)
    ack = pair.ack_msg(pair.b, p, ack_bytes)
    pair._relay_tx(pair.b, pair.a, ack, what="ack")
    before = snapshot(pair.a)
    again = pair.must(pair.a, ack)
    assert [e.type for e in again.events] == ["tx", "message"]
    assert snapshot(pair.a) == before
    assert count(pair.a, "ack") == 1


def test_async_acknowledgement(echo: Echo) -> None:
    pair, ch_a, ch_b = echo
    p = send(pair.a, ch_a, b"async-job", pair=pair)
    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (1, 0)
    assert pair.b.chain.store.get(host.key(host.packet_ack_path("echo", ch_b, 1))) is None
    assert commitments(pair.a, ch_a) == [1]

    later = ibc_pb2.Acknowledgement(result=b"done")
    pair.b.in_next_block(lambda ctx: channel_keeper.write_acknowledgement(ctx, p, later))
    pair.step()
    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (0, 1)
    assert pair.a.chain.store.get(b"echo/ack/1") == later.SerializeToString()

    ctx = Context(
        pair.b.chain.block_kv.branch(), pair.b.height + 1, pair.b.time_ns, "mg-b", Mode.DELIVER
    )
    with pytest.raises(ErrAcknowledgementExists):
        channel_keeper.write_acknowledgement(ctx, p, later)


def test_error_acknowledgement_discards_app_writes(echo: Echo) -> None:
    pair, ch_a, ch_b = echo
    send(pair.a, ch_a, b"fail-please", pair=pair)
    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (1, 1)
    assert count(pair.b, "recv") == 0  # the app's write was dropped with the error ack
    assert pair.b.chain.store.get(host.key(host.packet_receipt_path("echo", ch_b, 1))) == b"\x01"
    ack = ibc_pb2.Acknowledgement.FromString(pair.a.chain.store.get(b"echo/ack/1") or b"")
    assert ack.error == "fail requested"


def test_app_error_fails_the_receive(echo: Echo) -> None:
    pair, ch_a, ch_b = echo
    p = send(pair.a, ch_a, b"raise-please", pair=pair)
    pair.step()
    codespace, _ = rejected(pair.b, pair.update_msg(pair.a, pair.b), pair.recv_msg(pair.a, p))
    assert codespace == "echo-test"
    assert pair.b.chain.store.get(host.key(host.packet_receipt_path("echo", ch_b, 1))) is None
    assert list(
        pair.b.q("UnreceivedPackets", port_id="echo", channel_id=ch_b, sequences=[1]).sequences
    ) == [1]


def test_timeout_by_height(echo: Echo) -> None:
    pair, ch_a, _ch_b = echo
    p = send(pair.a, ch_a, b"slow", timeout_height=pair.b.height + 3, pair=pair)
    pair.step(4)
    relayed = pair.relay_packets()
    assert relayed.received == 0 and relayed.timed_out == [p]
    since = pair.a.height
    r = pair.timeout_packet(pair.a, p)
    assert r.code == 0
    assert commitments(pair.a, ch_a) == []
    assert count(pair.a, "timeout") == 1
    assert len(events(pair.a, "timeout_packet", since)) == 1
    # the channel stays open (unordered) and the timeout cannot be replayed for effect
    chan = pair.a.q("Channel", port_id="echo", channel_id=ch_a).channel
    assert chan.state == ibc_pb2.CHANNEL_STATE_OPEN
    again = pair.timeout_packet(pair.a, p)
    assert again.code == 0 and count(pair.a, "timeout") == 1


def test_receive_after_timeout_is_refused(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"late", timeout_timestamp=pair.a.time_ns + 5 * 10**9, pair=pair)
    pair.step()
    recv = pair.recv_msg(pair.a, p)
    update = pair.update_msg(pair.a, pair.b)
    pair.advance(10)
    assert rejected(pair.b, update, recv) == ("ibc", ErrPacketTimeout.code)


def test_timeout_by_timestamp(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"slow", timeout_timestamp=pair.a.time_ns + 5 * 10**9, pair=pair)
    pair.advance(8)
    assert pair.relay_packets().timed_out == [p]
    assert pair.timeout_packet(pair.a, p).code == 0
    assert count(pair.a, "timeout") == 1


def test_timeout_not_reached_is_refused(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"patient", timeout_height=pair.b.height + 50, pair=pair)
    pair.step()
    msg = pair.timeout_msg(pair.b, p)
    assert rejected(pair.a, pair.update_msg(pair.b, pair.a), msg) == ("ibc", 20)


def test_timeout_of_a_received_packet_is_refused(echo: Echo) -> None:
    """The packet was received before its timeout; the ack is not relayed yet. After the
    timeout height, no proof of absence of its receipt exists: a membership proof of the
    receipt, passed off as one, fails."""
    pair, ch_a, ch_b = echo
    p = send(pair.a, ch_a, b"got-it", timeout_height=pair.b.height + 6, pair=pair)
    pair.step()
    pair._relay_tx(pair.a, pair.b, pair.recv_msg(pair.a, p), what="recv")
    pair.step(6)
    h = pair.b.height
    _, receipt_proof = pair.b.prove(host.key(host.packet_receipt_path("echo", ch_b, 1)), h - 1)
    forged = ibc_pb2.MsgTimeout(packet=p, proof_unreceived=receipt_proof, proof_height=h)
    update = pair.update_msg(pair.b, pair.a)
    assert rejected(pair.a, update, ("timeout", forged)) == ("ibc", 13)
    assert count(pair.a, "timeout") == 0 and commitments(pair.a, ch_a) == [1]


def test_timeout_on_close(echo: Echo) -> None:
    pair, ch_a, ch_b = echo
    p = send(pair.a, ch_a, b"orphan", pair=pair)
    # B closes its end before the packet arrives
    pair.must(
        pair.b,
        ("channel_close_init", ibc_pb2.MsgChannelCloseInit(port_id="echo", channel_id=ch_b)),
    )
    since = pair.a.height
    r = pair.timeout_packet(pair.a, p, on_close=True)
    assert r.code == 0
    assert count(pair.a, "timeout") == 1
    assert commitments(pair.a, ch_a) == []
    assert len(events(pair.a, "timeout_packet", since)) == 1


def test_timeout_on_close_needs_a_closed_counterparty(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"orphan", pair=pair)
    pair.step()
    msg = pair.timeout_msg(pair.b, p, on_close=True)
    assert rejected(pair.a, pair.update_msg(pair.b, pair.a), msg) == ("ibc", 13)


# --- ordered channels -------------------------------------------------------------------


@pytest.fixture
def ordered(pair: IBCPair) -> Echo:
    ch_a, ch_b = pair.open_channel("echo", ibc_pb2.ORDER_ORDERED, ECHO_VERSION)
    return pair, ch_a, ch_b


def test_ordered_sequencing(ordered: Echo) -> None:
    pair, ch_a, ch_b = ordered
    packets = [send(pair.a, ch_a, b"p%d" % i, pair=pair) for i in range(3)]
    assert [p.sequence for p in packets] == [1, 2, 3]
    pair.step()
    update = pair.update_msg(pair.a, pair.b)
    second = pair.recv_msg(pair.a, packets[1])
    assert rejected(pair.b, update, second) == ("ibc", 22)  # 2 before 1

    pair.step()
    msgs = [pair.recv_msg(pair.a, p) for p in packets]
    pair._relay_tx(pair.a, pair.b, *msgs, what="recv in order")
    assert (
        pair.b.q("NextSequenceReceive", port_id="echo", channel_id=ch_b).next_sequence_receive == 4
    )
    assert count(pair.b, "recv") == 3
    # a replay of the first is a no-op
    again = pair.must(pair.b, msgs[0])
    assert [e.type for e in again.events] == ["tx", "message"]
    assert count(pair.b, "recv") == 3

    pair.step()
    acks = [
        pair.ack_msg(
            pair.b,
            p,
            ibc_pb2.Acknowledgement(result=b"echo:" + p.data).SerializeToString(deterministic=True),
        )
        for p in packets
    ]
    update = pair.update_msg(pair.b, pair.a)
    assert rejected(pair.a, update, acks[2]) == ("ibc", 22)  # 3 before 1
    pair._relay_tx(pair.b, pair.a, *acks, what="acks in order")
    assert count(pair.a, "ack") == 3
    assert commitments(pair.a, ch_a) == []


def test_ordered_timeout_closes_the_channel(ordered: Echo) -> None:
    pair, ch_a, ch_b = ordered
    p = send(pair.a, ch_a, b"late", timeout_height=pair.b.height + 2, pair=pair)
    pair.step(3)
    assert pair.relay_packets().timed_out == [p]
    since = pair.a.height
    assert pair.timeout_packet(pair.a, p).code == 0
    chan = pair.a.q("Channel", port_id="echo", channel_id=ch_a).channel
    assert chan.state == ibc_pb2.CHANNEL_STATE_CLOSED
    assert len(events(pair.a, "channel_close", since)) == 1
    assert count(pair.a, "timeout") == 1
    # the counterparty learns of it with ChanCloseConfirm
    pair.close_confirm(pair.a, "echo", ch_a)
    chan_b = pair.b.q("Channel", port_id="echo", channel_id=ch_b).channel
    assert chan_b.state == ibc_pb2.CHANNEL_STATE_CLOSED


def test_ordered_timeout_of_a_received_packet_is_refused(ordered: Echo) -> None:
    pair, ch_a, ch_b = ordered
    p = send(pair.a, ch_a, b"got-it", timeout_height=pair.b.height + 6, pair=pair)
    pair.step()
    pair._relay_tx(pair.a, pair.b, pair.recv_msg(pair.a, p), what="recv")
    pair.step(6)
    h = pair.b.height
    path = host.next_sequence_recv_path("echo", ch_b)
    value, proof = pair.b.prove(host.key(path), h - 1)
    assert int.from_bytes(value, "big") == 2
    update = pair.update_msg(pair.b, pair.a)
    honest = ibc_pb2.MsgTimeout(
        packet=p, proof_unreceived=proof, proof_height=h, next_sequence_recv=2
    )
    assert rejected(pair.a, update, ("timeout", honest)) == ("ibc", 27)
    lying = ibc_pb2.MsgTimeout(
        packet=p, proof_unreceived=proof, proof_height=h, next_sequence_recv=1
    )
    assert rejected(pair.a, update, ("timeout", lying)) == ("ibc", 13)


# --- forgeries -----------------------------------------------------------------------------


def test_proof_for_other_data_is_refused(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"real", pair=pair)
    pair.step()
    name, msg = pair.recv_msg(pair.a, p)
    msg.packet.data = b"fake"
    assert rejected(pair.b, pair.update_msg(pair.a, pair.b), (name, msg)) == ("ibc", 13)
    assert count(pair.b, "recv") == 0


def test_proof_against_the_wrong_height_or_root_is_refused(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"real", pair=pair)
    pair.step(2)
    update = pair.update_msg(pair.a, pair.b)
    name, msg = pair.recv_msg(pair.a, p)
    pair.must(pair.b, update)  # the client knows A at msg.proof_height now
    known = client_keeper.consensus_heights(pair.b.chain.block_kv, "07-tendermint-0")
    assert msg.proof_height == known[-1]

    def variant(**fields: object) -> tuple[str, ibc_pb2.MsgRecvPacket]:
        out = ibc_pb2.MsgRecvPacket()
        out.CopyFrom(msg)
        for k, v in fields.items():
            setattr(out, k, v)
        return name, out

    # the right proof, claimed for an earlier height the client knows: another root
    assert rejected(pair.b, variant(proof_height=known[-2])) == ("ibc", 13)
    # a proof of an older state (before the packet), claimed for the right height
    path = host.packet_commitment_path("echo", ch_a, p.sequence)
    _, old_proof = pair.a.prove(host.key(path), msg.proof_height - 4)
    assert rejected(pair.b, variant(proof_commitment=old_proof)) == ("ibc", 13)
    # a height the client has no consensus state for
    assert msg.proof_height - 1 not in known
    assert rejected(pair.b, variant(proof_height=msg.proof_height - 1)) == ("ibc", 8)
    # above the client's latest height
    assert rejected(pair.b, variant(proof_height=msg.proof_height + 100)) == ("ibc", 28)
    # bytes that are no proof at all
    assert rejected(pair.b, variant(proof_commitment=b"\xff\x00garbage")) == ("ibc", 13)
    # and the honest one still works
    assert pair.must(pair.b, (name, msg)).code == 0
    assert count(pair.b, "recv") == 1


def test_acknowledgement_for_a_packet_never_sent_is_refused(echo: Echo) -> None:
    pair, ch_a, _ch_b = echo
    p = send(pair.a, ch_a, b"real", pair=pair)
    pair.relay_packets()
    ghost = ibc_pb2.Packet()
    ghost.CopyFrom(p)
    ghost.sequence = 99
    msg = ibc_pb2.MsgAcknowledgement(
        packet=ghost,
        acknowledgement=ibc_pb2.Acknowledgement(result=b"x").SerializeToString(),
        proof_acked=b"\x0a\x00",
        proof_height=pair.client_height(pair.a),
    )
    assert rejected(pair.a, ("acknowledgement", msg)) == ("ibc", 21)


def test_acknowledgement_with_a_forged_ack_is_refused(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"real", pair=pair)
    pair.step()
    pair._relay_tx(pair.a, pair.b, pair.recv_msg(pair.a, p), what="recv")
    pair.step()
    name, msg = pair.ack_msg(
        pair.b, p, ibc_pb2.Acknowledgement(result=b"echo:forged").SerializeToString()
    )
    assert rejected(pair.a, pair.update_msg(pair.b, pair.a), (name, msg)) == ("ibc", 13)
    assert count(pair.a, "ack") == 0


def test_packet_not_matching_its_commitment_is_refused_on_ack(echo: Echo) -> None:
    pair, ch_a, _ = echo
    p = send(pair.a, ch_a, b"real", pair=pair)
    other = ibc_pb2.Packet()
    other.CopyFrom(p)
    other.data = b"other"
    msg = ibc_pb2.MsgAcknowledgement(
        packet=other,
        acknowledgement=ibc_pb2.Acknowledgement(result=b"x").SerializeToString(),
        proof_acked=b"\x0a\x00",
        proof_height=pair.client_height(pair.a),
    )
    assert rejected(pair.a, ("acknowledgement", msg)) == ("ibc", 18)


def test_packet_for_another_channel_is_refused(echo: Echo) -> None:
    pair, ch_a, _ch_b = echo
    p = send(pair.a, ch_a, b"real", pair=pair)
    pair.step()
    name, msg = pair.recv_msg(pair.a, p)
    msg.packet.source_channel = "channel-7"
    assert rejected(pair.b, pair.update_msg(pair.a, pair.b), (name, msg)) == ("ibc", 18)


def test_send_checks(echo: Echo) -> None:
    pair, ch_a, _ = echo
    ctx = Context(
        pair.a.chain.block_kv.branch(), pair.a.height + 1, pair.a.time_ns, "mg-a", Mode.DELIVER
    )
    client_height = pair.client_height(pair.a)
    with pytest.raises(ErrPacketTimeout):
        channel_keeper.send_packet(ctx, "echo", ch_a, client_height, 0, b"x")
    cons = pair.a.q("ConsensusState", client_id="07-tendermint-0").consensus_state
    with pytest.raises(ErrPacketTimeout):
        channel_keeper.send_packet(ctx, "echo", ch_a, 0, cons.timestamp_ns, b"x")
    with pytest.raises(ErrInvalidPacket):
        channel_keeper.send_packet(ctx, "echo", ch_a, 0, 0, b"x")
    with pytest.raises(ErrInvalidPacket):
        channel_keeper.send_packet(ctx, "echo", ch_a, client_height + 10, 0, b"")
    with pytest.raises(ErrChannelNotFound):
        channel_keeper.send_packet(ctx, "echo", "channel-9", client_height + 10, 0, b"x")
    assert channel_keeper.send_packet(ctx, "echo", ch_a, client_height + 1, 0, b"x") == 1
    assert channel_keeper.send_packet(ctx, "echo", ch_a, client_height + 1, 0, b"x") == 2
