"""Ports, node configs and the state file of a localnet, without running anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localnet.create import node_config
from localnet.errors import HomeError
from localnet.layout import Network, Node, Ports, Process, check_chain_id, check_ports_range


def network(tmp_path: Path, validators: int = 3, offset: int = 0) -> Network:
    return Network(
        home=tmp_path,
        chain_id="mg-1",
        app="mgrid",
        block_time=0.5,
        port_offset=offset,
        listen_host="127.0.0.1",
        nodes=[
            Node(index=i, host="127.0.0.1", ports=Ports.of(i, offset), node_id=f"{i:040x}")
            for i in range(validators)
        ],
        keys={"faucet": "mg1faucet", "utility": "mg1utility"},
    )


@pytest.mark.parametrize(
    ("index", "offset", "expected"),
    [
        (0, 0, Ports(p2p=26656, rpc=26657, abci=26658, grpc=9090, prometheus=26660, metrics=26661)),
        (1, 0, Ports(p2p=26666, rpc=26667, abci=26668, grpc=9100, prometheus=26670, metrics=26671)),
        (
            3,
            1000,
            Ports(p2p=27686, rpc=27687, abci=27688, grpc=10120, prometheus=27690, metrics=27691),
        ),
    ],
)
def test_ports_follow_the_documented_formula(index: int, offset: int, expected: Ports) -> None:
    assert Ports.of(index, offset) == expected


def test_port_range_and_chain_id_are_checked() -> None:
    check_ports_range(4, 1000)
    with pytest.raises(HomeError, match="port offset must be >= 0"):
        check_ports_range(4, -1)
    with pytest.raises(HomeError, match="> 65535"):
        check_ports_range(4, 40000)
    check_chain_id("mg-1")
    with pytest.raises(HomeError, match="invalid chain id"):
        check_chain_id("../escape")


def test_node_config_points_at_own_ports_and_every_other_peer(tmp_path: Path) -> None:
    net = network(tmp_path)
    config = node_config(net, net.nodes[1])
    assert config[("", "proxy_app")] == "tcp://127.0.0.1:26668"
    assert config[("rpc", "laddr")] == "tcp://127.0.0.1:26667"
    assert config[("p2p", "laddr")] == "tcp://127.0.0.1:26666"
    assert config[("p2p", "persistent_peers")] == (
        f"{0:040x}@127.0.0.1:26656,{2:040x}@127.0.0.1:26676"
    )
    assert config[("consensus", "timeout_commit")] == "500ms"
    assert config[("instrumentation", "prometheus_listen_addr")] == "127.0.0.1:26670"
    assert config[("", "moniker")] == "node1"


def test_state_file_round_trips(tmp_path: Path) -> None:
    net = network(tmp_path, offset=1000)
    net.nodes[0].processes["app"] = Process(pid=123, start_time=456, argv=["mgridd", "start"])
    net.save()
    loaded = Network.load(tmp_path)
    assert loaded == net
    data = json.loads((tmp_path / "localnet.json").read_text())
    assert data["nodes"][2]["ports"]["rpc"] == 27677
    assert data["validators"] == 3


def test_loading_a_missing_home_names_it(tmp_path: Path) -> None:
    with pytest.raises(HomeError, match=f"no localnet at {tmp_path / 'absent'}"):
        Network.load(tmp_path / "absent")
