"""Clients, connection and channel handshakes end to end on two in-process chains,
with real light client updates and real ICS-23 proofs."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import host
from tests.ibc.core.helpers import ECHO_VERSION, count
from tests.support.ibcpair import IBCNode, IBCPair, TxFailed


def event_types(node: IBCNode, since: int) -> list[str]:
    return [e.type for _, e in node.events(since) if e.type not in ("tx", "message")]


def test_full_handshake_emits_one_event_per_step(tmp_path: Path) -> None:
    pair = IBCPair(tmp_path)
    start_a, start_b = pair.a.height, pair.b.height
    client_a, client_b = pair.create_clients()
    assert (client_a, client_b) == ("07-tendermint-0", "07-tendermint-0")
    conn_a, conn_b = pair.open_connection()
    ch_a, ch_b = pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)

    assert event_types(pair.a, start_a) == [
        "create_client",
        "connection_open_init",
        "update_client",
        "connection_open_ack",
        "channel_open_init",
        "update_client",
        "channel_open_ack",
    ]
    assert event_types(pair.b, start_b) == [
        "create_client",
        "update_client",
        "connection_open_try",
        "update_client",
        "connection_open_confirm",
        "update_client",
        "channel_open_try",
        "update_client",
        "channel_open_confirm",
    ]
    for node, conn, counterparty in ((pair.a, conn_a, conn_b), (pair.b, conn_b, conn_a)):
        end = node.q("Connection", connection_id=conn).connection
        assert end.state == ibc_pb2.CONNECTION_STATE_OPEN
        assert end.counterparty.connection_id == counterparty
        assert end.counterparty.prefix == b"ibc"
        assert [(v.identifier, list(v.features)) for v in end.versions] == [
            ("1", ["ORDER_ORDERED", "ORDER_UNORDERED"])
        ]
    for node, port_chan, other in ((pair.a, ch_a, ch_b), (pair.b, ch_b, ch_a)):
        chan = node.q("Channel", port_id="echo", channel_id=port_chan).channel
        assert chan.state == ibc_pb2.CHANNEL_STATE_OPEN
        assert chan.version == ECHO_VERSION
        assert chan.counterparty.channel_id == other
        assert node.q(
            "NextSequenceReceive", port_id="echo", channel_id=port_chan
        ).next_sequence_receive == (1)
    assert [count(pair.a, s) for s in ("open_init", "open_ack")] == [1, 1]
    assert [count(pair.b, s) for s in ("open_try", "open_confirm")] == [1, 1]
    # the stored values are the ICS-24 keys a relayer proves
    raw = pair.a.chain.store.get(host.key(host.connection_path(conn_a)))
    assert ibc_pb2.ConnectionEnd.FromString(raw).client_id == client_a
    pair.close()


def test_connection_event_attributes(pair: IBCPair) -> None:
    events = [e for _, e in pair.b.events() if e.type == "connection_open_confirm"]
    assert len(events) == 1
    assert dict(events[0].attributes) == {
        "connection_id": "connection-0",
        "client_id": "07-tendermint-0",
        "counterparty_client_id": "07-tendermint-0",
        "counterparty_connection_id": "connection-0",
    }


@pytest.mark.parametrize("order", [ibc_pb2.ORDER_ORDERED, ibc_pb2.ORDER_UNORDERED])
def test_channel_initiated_on_b(pair: IBCPair, order: ibc_pb2.Order) -> None:
    ch_a, ch_b = pair.open_channel("echo", order, "", init_on=pair.b)
    assert (ch_a, ch_b) == ("channel-0", "channel-0")
    for node, ch in ((pair.a, ch_a), (pair.b, ch_b)):
        chan = node.q("Channel", port_id="echo", channel_id=ch).channel
        assert chan.ordering == order
        assert chan.state == ibc_pb2.CHANNEL_STATE_OPEN
    events = [e for _, e in pair.a.events() if e.type == "channel_open_try"]
    assert dict(events[0].attributes) == {
        "port_id": "echo",
        "channel_id": "channel-0",
        "counterparty_port_id": "echo",
        "counterparty_channel_id": "channel-0",
        "connection_id": "connection-0",
    }


def test_second_channel_gets_next_identifier(pair: IBCPair) -> None:
    pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    ch_a, ch_b = pair.open_channel("echo", ibc_pb2.ORDER_ORDERED, ECHO_VERSION)
    assert (ch_a, ch_b) == ("channel-1", "channel-1")
    listed = pair.a.q("Channels").channels
    assert [(c.port_id, c.channel_id, c.channel.ordering) for c in listed] == [
        ("echo", "channel-0", ibc_pb2.ORDER_UNORDERED),
        ("echo", "channel-1", ibc_pb2.ORDER_ORDERED),
    ]


def test_close_handshake(pair: IBCPair) -> None:
    ch_a, ch_b = pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    pair.close_channel(pair.a, "echo", ch_a)
    assert pair.a.q("Channel", port_id="echo", channel_id=ch_a).channel.state == (
        ibc_pb2.CHANNEL_STATE_CLOSED
    )
    assert pair.b.q("Channel", port_id="echo", channel_id=ch_b).channel.state == (
        ibc_pb2.CHANNEL_STATE_CLOSED
    )
    assert count(pair.a, "close_init") == 1
    assert count(pair.b, "close_confirm") == 1
    assert len([e for _, e in pair.a.events() if e.type == "channel_close_init"]) == 1
    assert len([e for _, e in pair.b.events() if e.type == "channel_close_confirm"]) == 1
    # closing again is refused on both ends
    again = pair.submit(
        pair.a,
        ("channel_close_init", ibc_pb2.MsgChannelCloseInit(port_id="echo", channel_id=ch_a)),
    )
    assert (again.codespace, again.code) == ("ibc", 15)


def test_app_can_refuse_close(pair: IBCPair) -> None:
    ch_a, _ = pair.open_channel("closed-shop", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    r = pair.submit(
        pair.a,
        (
            "channel_close_init",
            ibc_pb2.MsgChannelCloseInit(port_id="closed-shop", channel_id=ch_a),
        ),
    )
    assert r.codespace == "echo-test"
    chan = pair.a.q("Channel", port_id="closed-shop", channel_id=ch_a).channel
    assert chan.state == ibc_pb2.CHANNEL_STATE_OPEN
    assert not [e for _, e in pair.a.events() if e.type == "channel_close_init"]


def test_close_confirm_needs_a_closed_counterparty(pair: IBCPair) -> None:
    ch_a, _ = pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    with pytest.raises(TxFailed) as info:
        pair.close_confirm(pair.a, "echo", ch_a)  # A's end is still OPEN
    assert (info.value.result.codespace, info.value.result.code) == ("ibc", 13)


def test_unbound_port_is_refused(pair: IBCPair) -> None:
    with pytest.raises(TxFailed) as info:
        pair.open_channel("nobody", ibc_pb2.ORDER_UNORDERED, "")
    assert info.value.result.code == 17


def test_app_refuses_version(pair: IBCPair) -> None:
    with pytest.raises(TxFailed) as info:
        pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, "echo-99")
    assert info.value.result.codespace == "echo-test"
    assert pair.a.q("Channels").channels == []


def _init(pair: IBCPair, **overrides: object) -> ibc_pb2.MsgConnectionOpenInit:
    fields: dict[str, object] = {
        "client_id": pair.side(pair.a).client_id,
        "counterparty": ibc_pb2.ConnectionCounterparty(
            client_id=pair.side(pair.b).client_id, prefix=b"ibc"
        ),
    }
    fields.update(overrides)
    return ibc_pb2.MsgConnectionOpenInit(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"delay_period": 1}, 25),
        (
            {"counterparty": ibc_pb2.ConnectionCounterparty(client_id="07-tendermint-0")},
            26,
        ),
        (
            {
                "counterparty": ibc_pb2.ConnectionCounterparty(
                    client_id="07-tendermint-0", prefix=b"store"
                )
            },
            26,
        ),
        ({"client_id": "07-tendermint-9"}, 3),
        ({"version": ibc_pb2.Version(identifier="2", features=["ORDER_ORDERED"])}, 12),
        ({"version": ibc_pb2.Version(identifier="1", features=["ORDER_DAG"])}, 12),
        ({"version": ibc_pb2.Version(identifier="1")}, 12),
    ],
)
def test_connection_open_init_refusals(
    tmp_path: Path, overrides: dict[str, object], code: int
) -> None:
    pair = IBCPair(tmp_path)
    pair.create_clients()
    r = pair.submit(pair.a, ("connection_open_init", _init(pair, **overrides)))
    assert (r.codespace, r.code) == ("ibc", code), r.log
    assert pair.a.q("Connections").connections == []
    pair.close()


def test_connection_init_with_one_feature_negotiates_it(tmp_path: Path) -> None:
    """Init proposing only ORDER_UNORDERED: the connection supports no ordered channel."""
    pair = IBCPair(tmp_path)
    pair.create_clients()
    version = ibc_pb2.Version(identifier="1", features=["ORDER_UNORDERED"])
    r = pair.must(pair.a, ("connection_open_init", _init(pair, version=version)))
    conn_a = r.events[-2].attributes[0][1]
    assert conn_a == "connection-0"
    pair.side(pair.a).connection_id = conn_a
    # complete the handshake by hand from Try on
    pair.step()
    h, value, proof = pair._proven(pair.a, host.connection_path(conn_a))
    try_ = ibc_pb2.MsgConnectionOpenTry(
        client_id=pair.side(pair.b).client_id,
        counterparty=ibc_pb2.ConnectionCounterparty(
            client_id=pair.side(pair.a).client_id, connection_id=conn_a, prefix=b"ibc"
        ),
        counterparty_versions=ibc_pb2.ConnectionEnd.FromString(value).versions,
        proof_init=proof,
        proof_height=h,
    )
    pair._relay_tx(pair.a, pair.b, ("connection_open_try", try_), what="try")
    end_b = pair.b.q("Connection", connection_id="connection-0").connection
    assert [list(v.features) for v in end_b.versions] == [["ORDER_UNORDERED"]]


def test_connection_try_with_wrong_counterparty_versions_fails(tmp_path: Path) -> None:
    """The proof is checked against the exact ConnectionEnd: claiming other versions fails."""
    pair = IBCPair(tmp_path)
    pair.create_clients()
    r = pair.must(pair.a, ("connection_open_init", _init(pair)))
    conn_a = dict(r.events[-2].attributes)["connection_id"]
    pair.step()
    h, _, proof = pair._proven(pair.a, host.connection_path(conn_a))
    try_ = ibc_pb2.MsgConnectionOpenTry(
        client_id=pair.side(pair.b).client_id,
        counterparty=ibc_pb2.ConnectionCounterparty(
            client_id=pair.side(pair.a).client_id, connection_id=conn_a, prefix=b"ibc"
        ),
        counterparty_versions=[ibc_pb2.Version(identifier="1", features=["ORDER_ORDERED"])],
        proof_init=proof,
        proof_height=h,
    )
    with pytest.raises(TxFailed) as info:
        pair._relay_tx(pair.a, pair.b, ("connection_open_try", try_), what="try")
    assert info.value.result.code == 13
    assert pair.b.q("Connections").connections == []


def test_connection_ack_replayed_is_refused(pair: IBCPair) -> None:
    """A second ConnOpenAck on an OPEN connection fails on state, whatever its proof."""
    conn = pair.side(pair.a)
    pair.step()
    h, _, proof = pair._proven(pair.b, host.connection_path(pair.side(pair.b).connection_id))
    ack = ibc_pb2.MsgConnectionOpenAck(
        connection_id=conn.connection_id,
        counterparty_connection_id=pair.side(pair.b).connection_id,
        version=ibc_pb2.Version(identifier="1", features=["ORDER_ORDERED", "ORDER_UNORDERED"]),
        proof_try=proof,
        proof_height=h,
    )
    with pytest.raises(TxFailed) as info:
        pair._relay_tx(pair.b, pair.a, ("connection_open_ack", ack), what="ack")
    assert info.value.result.code == 11


def test_channel_on_unopened_connection_is_refused(tmp_path: Path) -> None:
    pair = IBCPair(tmp_path)
    pair.create_clients()
    r = pair.must(pair.a, ("connection_open_init", _init(pair)))
    conn_a = dict(r.events[-2].attributes)["connection_id"]
    pair.side(pair.a).connection_id = conn_a
    with pytest.raises(TxFailed) as info:
        pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    assert info.value.result.code == 16
