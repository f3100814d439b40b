"""``link`` on two in-process chains: clients, connection and channels, idempotent,
resumable after a crash part way."""

from __future__ import annotations

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.relayer import link as linkmod
from ibc.relayer.state import StateFile
from tests.ibc.relayer.conftest import MAX_CLOCK_DRIFT_NS, TRUSTING_PERIOD_NS, Env


def test_link_opens_clients_connection_and_channels(env: Env) -> None:
    report = env.link()
    assert report.changed
    ea, eb = env.path.end("a"), env.path.end("b")
    assert ea.client_id.startswith("07-tendermint-") and eb.client_id.startswith("07-tendermint-")
    cs_a = env.a.q("ClientState", client_id=ea.client_id).client_state
    assert cs_a.chain_id == "mg-b"
    assert (cs_a.trust_level.numerator, cs_a.trust_level.denominator) == (1, 3)
    assert cs_a.trusting_period_ns == TRUSTING_PERIOD_NS
    conn_a = env.a.q("Connection", connection_id=ea.connection_id).connection
    conn_b = env.b.q("Connection", connection_id=eb.connection_id).connection
    assert conn_a.state == conn_b.state == ibc_pb2.CONNECTION_STATE_OPEN
    assert conn_a.counterparty.connection_id == eb.connection_id
    for port, version in (("transfer", "ics20-1"), ("energy", "mgrid-energy-1")):
        ch_a, ch_b = env.channel(port)
        chan_a = env.a.q("Channel", port_id=port, channel_id=ch_a).channel
        chan_b = env.b.q("Channel", port_id=port, channel_id=ch_b).channel
        assert chan_a.state == chan_b.state == ibc_pb2.CHANNEL_STATE_OPEN
        assert chan_a.version == chan_b.version == version
        assert chan_a.ordering == ibc_pb2.ORDER_UNORDERED
        assert chan_a.counterparty.channel_id == ch_b
    # Everything went to the state file.
    saved = StateFile(env.state.path).path_state("default")
    assert saved.to_json() == env.path.state.to_json()
    assert saved.a.cursor > 0 and saved.b.cursor > 0


def test_link_twice_does_nothing(env: Env) -> None:
    env.link()
    heights = (env.a.height, env.b.height)
    broadcasts = env.rpc_a.broadcasts + env.rpc_b.broadcasts
    again = linkmod.link(env.new_path(), TRUSTING_PERIOD_NS, MAX_CLOCK_DRIFT_NS)
    assert not again.changed
    assert env.rpc_a.broadcasts + env.rpc_b.broadcasts == broadcasts
    assert (env.a.height, env.b.height) == heights


def test_link_resumes_a_half_done_handshake(env: Env) -> None:
    # A first run that stopped after Init and Try of the connection.
    linkmod.ensure_clients(env.path, TRUSTING_PERIOD_NS, MAX_CLOCK_DRIFT_NS, linkmod.LinkReport())
    ea, eb = env.path.end("a"), env.path.end("b")
    ea.connection_id = linkmod.conn_open_init(env.path, "a")
    env.pair.step()
    eb.connection_id = linkmod.conn_open_try(env.path, "b", ea.connection_id)
    env.path.save()
    clients = (ea.client_id, eb.client_id)
    # A new process reads the state file and finishes.
    path = env.new_path()
    report = linkmod.link(path, TRUSTING_PERIOD_NS, MAX_CLOCK_DRIFT_NS)
    assert (path.end("a").client_id, path.end("b").client_id) == clients
    assert not any("created client" in a for a in report.actions)
    assert any("connection open ack" in a for a in report.actions)
    assert path.end("a").connection_id == ea.connection_id
    conn = env.b.q("Connection", connection_id=eb.connection_id).connection
    assert conn.state == ibc_pb2.CONNECTION_STATE_OPEN
    # Only one connection exists on each chain.
    assert len(env.a.q("Connections").connections) == 1
    assert len(env.b.q("Connections").connections) == 1
