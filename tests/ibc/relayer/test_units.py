"""The relayer's parts on their own: configuration, state file, events, metrics,
transaction splitting, proofs in RPC answers."""

from __future__ import annotations

import base64
import json
import urllib.request
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.tx import codec
from ibc.relayer.chain import RelayChain, RelayerError, extract_proof
from ibc.relayer.config import (
    DEFAULT_CHANNELS,
    ConfigError,
    config_from_dict,
    load_config,
    parse_duration_ns,
    render_config,
)
from ibc.relayer.events import EventError, block_events
from ibc.relayer.metrics import Metrics, MetricsServer
from ibc.relayer.path import msg
from ibc.relayer.state import StateError, StateFile

NS = 10**9

CONFIG = """
[relayer]
trusting_period = "2d"
refresh_fraction = "1/4"
batch_size = 20
poll_interval = 0.5
metrics = "127.0.0.1:0"

[chains.one]
rpc = "http://127.0.0.1:27157"
chain_id = "mg-1"
key = "relayer"
keyring_dir = "keys/one"
keyring_backend = "test"
fee = "5ugrid"

[chains.two]
rpc = "http://127.0.0.1:27257"
chain_id = "mg-2"
key = "relayer"
keyring_dir = "/abs/keys"
keyring_backend = "file"
passphrase_file = "pass.txt"

[path]
a = "one"
b = "two"
"""


def test_config_is_read_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "relayer.toml").write_text(CONFIG)
    cfg = load_config(tmp_path / "relayer.toml")
    assert cfg.trusting_period_ns == 2 * 86_400 * NS
    assert cfg.max_clock_drift_ns == 10 * NS
    assert cfg.refresh_fraction == Fraction(1, 4)
    assert (cfg.batch_size, cfg.poll_interval, cfg.metrics) == (20, 0.5, "127.0.0.1:0")
    assert cfg.state_file == tmp_path / "state.json"
    one, two = cfg.chain("one"), cfg.chain("two")
    assert one.keyring_dir == tmp_path / "keys/one"
    assert one.fee is not None and (one.fee.denom, one.fee.amount) == ("ugrid", 5)
    assert two.keyring_dir == Path("/abs/keys") and two.passphrase_file == tmp_path / "pass.txt"
    path = cfg.select_path()
    assert (path.name, path.a, path.b, path.channels) == ("default", "one", "two", DEFAULT_CHANNELS)


def _broken(change: str) -> str:
    old, _, new = change.partition(" => ")
    assert old in CONFIG
    return CONFIG.replace(old, new)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ("batch_size = 20 => batch_size = 65", "batch_size"),
        ('refresh_fraction = "1/4" => refresh_fraction = "3/2"', "strictly between"),
        ('trusting_period = "2d" => trusting_period = "soon"', "duration"),
        ('keyring_backend = "test" => keyring_backend = "os"', "keyring_backend"),
        ('fee = "5ugrid" => fee = "five"', "fee"),
        ('b = "two" => b = "three"', "not configured"),
        ('b = "two" => b = "one"', "same chain"),
        ('chain_id = "mg-2" => chain_id = "mg-1"', "both chains"),
        ('metrics = "127.0.0.1:0" => metrics = "nowhere"', "HOST:PORT"),
        ('rpc = "http://127.0.0.1:27157" => rpc = 5', "rpc"),
        ("poll_interval = 0.5 => poll_intervall = 0.5", "unknown keys"),
        ("[path] => [pth]", "unknown tables"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, change: str, fragment: str) -> None:
    (tmp_path / "c.toml").write_text(_broken(change))
    with pytest.raises(ConfigError, match=fragment):
        load_config(tmp_path / "c.toml")


def test_config_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no relayer configuration"):
        load_config(tmp_path / "absent.toml")
    (tmp_path / "bad.toml").write_text("[chains\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "bad.toml")


def test_several_paths_need_a_choice(tmp_path: Path) -> None:
    import tomllib

    data = tomllib.loads(CONFIG.replace("[path]", "[paths.first]"))
    data["paths"]["second"] = {
        "a": "two",
        "b": "one",
        "channels": [{"port": "transfer", "version": "ics20-1"}],
    }
    cfg = config_from_dict(data, tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="choose one with --path"):
        cfg.select_path()
    second = cfg.select_path("second")
    assert [c.port for c in second.channels] == ["transfer"]
    with pytest.raises(ConfigError, match="no path 'third'"):
        cfg.select_path("third")


def test_rendered_config_reads_back(tmp_path: Path) -> None:
    text = render_config(
        [
            {"name": "mg-1", "rpc": "http://x:1", "chain_id": "mg-1", "key": "k",
             "keyring_dir": "k1", "keyring_backend": "test"},
            {"name": "mg-2", "rpc": "http://x:2", "chain_id": "mg-2", "key": "k",
             "keyring_dir": "k2", "keyring_backend": "test", "fee": "0ugrid"},
        ],
        a="mg-1",
        b="mg-2",
    )  # fmt: skip
    (tmp_path / "config.toml").write_text(text)
    cfg = load_config(tmp_path / "config.toml")
    assert cfg.chain("mg-2").rpc == "http://x:2" and cfg.select_path().b == "mg-2"


@pytest.mark.parametrize(
    ("text", "ns"), [("10s", 10 * NS), ("500ms", 5 * 10**8), ("14d", 14 * 86_400 * NS), (3, 3 * NS)]
)
def test_durations(text: object, ns: int) -> None:
    assert parse_duration_ns(text, "x") == ns


def test_state_file_round_trip_and_atomic_write(tmp_path: Path) -> None:
    f = StateFile(tmp_path / "sub" / "state.json")
    ps = f.path_state("default")
    ps.a.client_id, ps.b.cursor = "07-tendermint-0", 42
    ps.channel("transfer").a = "channel-0"
    f.save()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["state.json"]  # no temp left
    again = StateFile(tmp_path / "sub" / "state.json").path_state("default")
    assert again.to_json() == ps.to_json()
    (tmp_path / "sub" / "state.json").write_text(json.dumps({"type": "other"}))
    with pytest.raises(StateError):
        StateFile(tmp_path / "sub" / "state.json")


def _attrs(**kv: str) -> list[dict[str, object]]:
    return [{"key": k, "value": v, "index": True} for k, v in kv.items()]


PACKET = {
    "packet_sequence": "3",
    "packet_src_port": "transfer",
    "packet_src_channel": "channel-0",
    "packet_dst_port": "transfer",
    "packet_dst_channel": "channel-1",
    "packet_timeout_height": "0-120",
    "packet_timeout_timestamp": "1700000000000000000",
    "packet_data_hex": "0a0b",
    "connection_id": "connection-0",
}


def test_block_events_take_successful_txs_and_finalize_block() -> None:
    result = {
        "txs_results": [
            {"code": 0, "events": [{"type": "send_packet", "attributes": _attrs(**PACKET)}]},
            {"code": 5, "events": [{"type": "send_packet", "attributes": _attrs(**PACKET)}]},
            {"code": 0, "events": [{"type": "transfer", "attributes": []}]},
        ],
        "finalize_block_events": [
            {
                "type": "write_acknowledgement",
                "attributes": _attrs(**PACKET, packet_ack_hex="aa01"),
            }
        ],
    }
    events = block_events(result, 9)
    assert [e.type for e in events] == ["send_packet", "write_acknowledgement"]
    p = events[0].packet()
    assert (p.sequence, p.timeout_height, p.timeout_timestamp, p.data) == (
        3,
        120,
        1_700_000_000_000_000_000,
        b"\x0a\x0b",
    )
    assert events[1].ack() == b"\xaa\x01" and events[1].height == 9
    assert block_events({"txs_results": None, "finalize_block_events": None}, 1) == []


@pytest.mark.parametrize(
    "broken", [{"packet_sequence": "x"}, {"packet_data_hex": "zz"}, {"packet_src_port": None}]
)
def test_malformed_packet_events_raise_event_error(broken: dict[str, str | None]) -> None:
    attrs = {k: v for k, v in {**PACKET, **broken}.items() if v is not None}
    (event,) = block_events(
        {
            "txs_results": [
                {"code": 0, "events": [{"type": "send_packet", "attributes": _attrs(**attrs)}]}
            ]
        },
        1,
    )
    with pytest.raises(EventError):
        event.packet()


def test_metrics_endpoint_serves_prometheus_text() -> None:
    m = Metrics()
    m.inc("mgrid_relayer_packets_relayed_total", src_chain="mg-1", dst_chain="mg-2", kind="recv")
    m.inc("mgrid_relayer_packets_relayed_total", 2, src_chain="mg-1", dst_chain="mg-2", kind="recv")
    m.set("mgrid_relayer_packets_pending", 4, chain="mg-1", channel="transfer/channel-0")
    m.set("mgrid_relayer_client_height", 77, chain="mg-2", client_id="07-tendermint-0")
    server = MetricsServer(m, "127.0.0.1", 0).start()
    try:
        host, port = server.address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/plain")
            body = resp.read().decode()
    finally:
        server.stop()
    assert "# TYPE mgrid_relayer_packets_relayed_total counter" in body
    assert (
        'mgrid_relayer_packets_relayed_total{dst_chain="mg-2",kind="recv",src_chain="mg-1"} 3'
        in body
    )
    assert 'mgrid_relayer_packets_pending{chain="mg-1",channel="transfer/channel-0"} 4' in body
    assert 'mgrid_relayer_client_height{chain="mg-2",client_id="07-tendermint-0"} 77' in body


def _recv(size: int) -> tx_pb2.Msg:
    return msg(
        "recv_packet",
        ibc_pb2.MsgRecvPacket(packet=ibc_pb2.Packet(sequence=1, data=b"x" * size), proof_height=2),
    )


def test_chunks_respect_message_count_and_size() -> None:
    chain = RelayChain("x", object(), "x-1", batch_size=64)
    by_count = chain.chunk([_recv(10) for _ in range(130)])
    assert [len(c) for c in by_count] == [64, 64, 2]
    big = chain.chunk([_recv(20_000) for _ in range(7)])
    assert [len(c) for c in big] == [3, 3, 1]
    for c in big:
        assert sum(m.ByteSize() for m in c) < codec.MAX_TX_BYTES
    assert chain.chunk([]) == []


def test_proof_is_taken_from_proof_ops() -> None:
    data = b"\x0a\x02proof"
    resp = {"proofOps": {"ops": [{"type": "ics23:smt", "data": base64.b64encode(data).decode()}]}}
    assert extract_proof(resp) == data
    assert (
        extract_proof({"proof_ops": {"ops": [{"data": base64.b64encode(data).decode()}]}}) == data
    )
    bad: dict[str, Any]
    for bad in ({}, {"proofOps": {"ops": []}}, {"proofOps": {"ops": [{"data": "%%"}]}}):
        with pytest.raises(RelayerError):
            extract_proof(bad)
