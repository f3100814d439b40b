"""ICS-24 identifiers and paths, stateless message checks, queries, and malformed
input from the network (only registered errors, never anything else)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.context import Context, Mode
from app.errors import ABCIError
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.router import MSG_ROUTES, QUERY_ROUTES
from ibc import host, msgs
from ibc.errors import ErrInvalidIdentifier
from tests.ibc.core.helpers import ECHO_VERSION, EchoApp, send
from tests.support.ibcpair import IBCPair

# --- identifiers and paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("check", "value", "ok"),
    [
        (host.validate_client_id, "07-tendermint-0", True),
        (host.validate_client_id, "07-tendermint-18446744073709551615", True),
        (host.validate_client_id, "07-tm-0", False),  # 7 < 9 characters
        (host.validate_client_id, "x" * 65, False),
        (host.validate_connection_id, "connection-0", True),
        (host.validate_connection_id, "conn-0", False),
        (host.validate_connection_id, "connection/0", False),
        (host.validate_channel_id, "channel-0", True),
        (host.validate_channel_id, "chan-0", False),
        (host.validate_channel_id, "channel 0", False),
        (host.validate_channel_id, "channel-é", False),
        (host.validate_port_id, "transfer", True),
        (host.validate_port_id, "a._+-#[]<>", True),
        (host.validate_port_id, "e", False),
        (host.validate_port_id, "p" * 129, False),
        (host.validate_port_id, "   ", False),
        (host.validate_port_id, "", False),
    ],
)
def test_identifiers(check: Any, value: str, ok: bool) -> None:
    if ok:
        check(value)
    else:
        with pytest.raises(ErrInvalidIdentifier):
            check(value)


def test_identifier_parsing() -> None:
    assert host.parse_client_id("07-tendermint-12") == ("07-tendermint", 12)
    assert host.parse_connection_id("connection-3") == 3
    assert host.parse_channel_id("channel-10") == 10
    for bad in ("channel-01", "channel-x", "channel--1", "chanxxx-1"):
        with pytest.raises(ErrInvalidIdentifier):
            host.parse_channel_id(bad)


def test_paths_and_keys_are_ibc_go_s() -> None:
    assert host.key(host.client_state_path("07-tendermint-0")) == (
        b"ibc/clients/07-tendermint-0/clientState"
    )
    assert host.consensus_state_path("07-tendermint-0", 12) == (
        "clients/07-tendermint-0/consensusStates/0-12"
    )
    assert host.channel_path("transfer", "channel-1") == (
        "channelEnds/ports/transfer/channels/channel-1"
    )
    assert host.packet_commitment_path("transfer", "channel-1", 5) == (
        "commitments/ports/transfer/channels/channel-1/sequences/5"
    )
    assert host.packet_receipt_path("p", "channel-1", 5) == (
        "receipts/ports/p/channels/channel-1/sequences/5"
    )
    assert (
        host.packet_ack_path("p", "channel-1", 5) == "acks/ports/p/channels/channel-1/sequences/5"
    )
    assert host.next_sequence_recv_path("p", "channel-1") == (
        "nextSequenceRecv/ports/p/channels/channel-1"
    )
    assert host.counterparty_key(b"ibc", "connections/connection-0") == (
        b"ibc/connections/connection-0"
    )


def test_packet_commitment_layout() -> None:
    data = b'{"amount":"100"}'
    preimage = (
        (1_700_000_000_000_000_000).to_bytes(8, "big")
        + (0).to_bytes(8, "big")
        + (42).to_bytes(8, "big")
        + hashlib.sha256(data).digest()
    )
    assert host.packet_commitment(1_700_000_000_000_000_000, 42, data) == (
        hashlib.sha256(preimage).digest()
    )


# --- stateless message checks ---------------------------------------------------------------


def test_every_ibc_msg_field_is_routed() -> None:
    fields = ibc_pb2.DESCRIPTOR.message_types_by_name
    names = [n for n in msgs.MSG_NAMES]
    assert len(names) == 17
    for name in names:
        route = MSG_ROUTES[name]
        assert route.module == "ibc"
        assert route.handle is getattr(msgs, f"handle_{name}")
    assert "MsgRecvPacket" in fields
    assert "/mgrid.ibc.v1.Query/UnreceivedPackets" in QUERY_ROUTES


PACKET = ibc_pb2.Packet(
    sequence=1,
    source_port="echo",
    source_channel="channel-0",
    destination_port="echo",
    destination_channel="channel-0",
    data=b"x",
    timeout_height=10,
)


@pytest.mark.parametrize(
    ("name", "msg", "code"),
    [
        ("create_client", ibc_pb2.MsgCreateClient(), 4),
        ("update_client", ibc_pb2.MsgUpdateClient(client_id="07-tendermint-0"), 7),
        ("update_client", ibc_pb2.MsgUpdateClient(client_id="bad"), 2),
        ("submit_misbehaviour", ibc_pb2.MsgSubmitMisbehaviour(client_id="07-tendermint-0"), 9),
        (
            "connection_open_init",
            ibc_pb2.MsgConnectionOpenInit(
                client_id="07-tendermint-0",
                counterparty=ibc_pb2.ConnectionCounterparty(
                    client_id="07-tendermint-0", connection_id="connection-0", prefix=b"ibc"
                ),
            ),
            26,
        ),
        (
            "connection_open_try",
            ibc_pb2.MsgConnectionOpenTry(
                client_id="07-tendermint-0",
                counterparty=ibc_pb2.ConnectionCounterparty(
                    client_id="07-tendermint-0", connection_id="connection-0", prefix=b"ibc"
                ),
                counterparty_versions=[ibc_pb2.Version(identifier="1", features=["ORDER_ORDERED"])],
                proof_height=5,
            ),
            13,
        ),
        (
            "connection_open_ack",
            ibc_pb2.MsgConnectionOpenAck(
                connection_id="connection-0",
                counterparty_connection_id="connection-0",
                proof_try=b"p",
                proof_height=5,
            ),
            12,
        ),
        (
            "connection_open_confirm",
            ibc_pb2.MsgConnectionOpenConfirm(connection_id="connection-0", proof_ack=b"p"),
            28,
        ),
        ("channel_open_init", ibc_pb2.MsgChannelOpenInit(port_id="echo"), 16),
        (
            "channel_open_init",
            ibc_pb2.MsgChannelOpenInit(
                port_id="echo",
                channel=ibc_pb2.Channel(
                    ordering=ibc_pb2.ORDER_UNORDERED,
                    counterparty=ibc_pb2.ChannelCounterparty(port_id="echo"),
                    connection_hops=["connection-0", "connection-1"],
                ),
            ),
            16,
        ),
        (
            "channel_open_ack",
            ibc_pb2.MsgChannelOpenAck(
                port_id="echo", channel_id="channel-0", counterparty_channel_id="ch"
            ),
            2,
        ),
        ("channel_close_init", ibc_pb2.MsgChannelCloseInit(port_id="echo", channel_id="x"), 2),
        (
            "recv_packet",
            ibc_pb2.MsgRecvPacket(packet=PACKET, proof_commitment=b"", proof_height=1),
            13,
        ),
        ("recv_packet", ibc_pb2.MsgRecvPacket(proof_commitment=b"p", proof_height=1), 18),
        (
            "acknowledgement",
            ibc_pb2.MsgAcknowledgement(packet=PACKET, proof_acked=b"p", proof_height=1),
            24,
        ),
        (
            "timeout",
            ibc_pb2.MsgTimeout(
                packet=ibc_pb2.Packet(
                    sequence=1,
                    source_port="echo",
                    source_channel="channel-0",
                    destination_port="echo",
                    destination_channel="channel-0",
                    data=b"x",
                ),
                proof_unreceived=b"p",
                proof_height=1,
            ),
            18,
        ),
        (
            "timeout_on_close",
            ibc_pb2.MsgTimeoutOnClose(packet=PACKET, proof_unreceived=b"p", proof_height=1),
            13,
        ),
    ],
)
def test_validate_basic_refusals(name: str, msg: Any, code: int) -> None:
    with pytest.raises(ABCIError) as info:
        MSG_ROUTES[name].validate_basic(msg)
    assert (info.value.codespace, info.value.code) == ("ibc", code), info.value.log


# --- queries ------------------------------------------------------------------------------


def test_queries_refuse_bad_requests(pair: IBCPair) -> None:
    chain = pair.a.chain
    cases: list[tuple[str, Any, tuple[str, int]]] = [
        ("ClientState", ibc_pb2.QueryClientStateRequest(client_id="x"), ("tx", 9)),
        (
            "ClientState",
            ibc_pb2.QueryClientStateRequest(client_id="07-tendermint-5"),
            ("tx", 15),
        ),
        ("Connection", ibc_pb2.QueryConnectionRequest(connection_id="c/1"), ("tx", 9)),
        (
            "Channel",
            ibc_pb2.QueryChannelRequest(port_id="echo", channel_id="channel-4"),
            ("tx", 15),
        ),
        (
            "ConsensusState",
            ibc_pb2.QueryConsensusStateRequest(client_id="07-tendermint-0", height=1),
            ("tx", 15),
        ),
        (
            "UnreceivedPackets",
            ibc_pb2.QueryUnreceivedPacketsRequest(
                port_id="echo", channel_id="channel-0", sequences=[0]
            ),
            ("tx", 15),
        ),
    ]
    for method, request, (codespace, code) in cases:
        r = chain.query(f"/mgrid.ibc.v1.Query/{method}", request.SerializeToString())
        assert (r.codespace, r.code) == (codespace, code), (method, r.log)
    r = chain.query("/mgrid.ibc.v1.Query/Clients", b"\xff\xff")
    assert r.code == 9


def test_packet_queries(echo: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = echo
    for i in range(3):
        send(pair.a, ch_a, b"q%d" % i, pair=pair)
    assert list(pair.a.q("PacketCommitments", port_id="echo", channel_id=ch_a).sequences) == [
        1,
        2,
        3,
    ]
    assert list(
        pair.a.q("UnreceivedAcks", port_id="echo", channel_id=ch_a, sequences=[3, 1, 9]).sequences
    ) == [3, 1]
    pair.relay_packets()
    assert list(pair.b.q("PacketAcknowledgements", port_id="echo", channel_id=ch_b).sequences) == [
        1,
        2,
        3,
    ]
    assert pair.b.q("NextSequenceReceive", port_id="echo", channel_id=ch_b).next_sequence_receive
    assert pair.a.q("ConsensusState", client_id="07-tendermint-0").height == pair.client_height(
        pair.a
    )


def test_rpc_shapes_for_the_relayer(pair: IBCPair) -> None:
    """IBCNode answers /commit, /validators, /block_results and proven /store/key queries
    in CometBFT's JSON shapes, from which the light client's rpc module rebuilds headers."""
    from ibc.client import rpc

    node = pair.b
    h = node.height
    sh = rpc.signed_header_from_json(node.commit(h)["signed_header"])
    assert sh == node.signed_header(h)
    vals = node.validators(h, page=1, per_page=3)
    assert (vals["count"], vals["total"]) == ("3", "4")
    rest = node.validators(h, page=2, per_page=3)["validators"]
    vs = rpc.validator_set_from_json(vals["validators"] + rest)
    assert vs.validators == node.test_validators.validator_set().validators
    key = host.key(host.connection_path("connection-0"))
    answer = node.abci_query("/store/key", key, h - 1, prove=True)
    assert answer["value"] == node.chain.store.get(key, h - 1)
    op = answer["proofOps"]["ops"][0]
    assert op["type"] == "ics23:smt"
    results = node.block_results(h - 1)
    assert "txs_results" in results and "finalize_block_events" in results
    assert node.status()["sync_info"]["latest_block_time"].endswith("Z")


# --- malformed input ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_pair(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A linked pair with one packet sent by A, and valid messages of each kind for B."""
    from ibc import ports

    patch = pytest.MonkeyPatch()
    patch.setitem(ports.ROUTES, "echo", EchoApp())
    pair = IBCPair(Path(tmp_path_factory.mktemp("fuzz")))
    pair.create_clients()
    pair.open_connection()
    ch_a, _ = pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    p = send(pair.a, ch_a, b"fuzz me", pair=pair)
    pair.step()
    samples = [
        (pair.b, *pair.update_msg(pair.a, pair.b)),
        (pair.b, *pair.recv_msg(pair.a, p)),
        (pair.a, *pair.timeout_msg(pair.b, p)),
        (pair.a, *pair.update_msg(pair.b, pair.a)),
    ]
    yield samples
    pair.close()
    patch.undo()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_messages_raise_only_registered_errors(fuzz_pair: Any, data: Any) -> None:
    node, name, msg = data.draw(st.sampled_from(fuzz_pair))
    raw = bytearray(msg.SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        mutated = type(msg).FromString(bytes(raw))
    except Exception:
        return  # does not decode: the tx decoder refuses it before any handler
    ctx = Context(
        node.chain.block_kv.branch(), node.height + 1, node.time_ns, node.chain_id, Mode.DELIVER
    )
    route = MSG_ROUTES[name]
    signer = b"\x09" * 20
    try:
        route.validate_basic(mutated)
        route.handle(ctx, signer, mutated)
    except ABCIError:
        pass
