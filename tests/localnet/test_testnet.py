"""``python -m localnet testnet``: node homes for real machines.

The output is read back (peers on the given addresses, the standard ports,
an app.toml mgridd's own loader accepts, systemd units, one genesis, distinct
validator keys), bad hosts are refused with nothing written, and the homes
are then run as written (``mgridd start --home H``, ``cometbft start --home H``,
no flags) on two network namespaces standing in for two hosts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.daemon import load_settings
from localnet import netns, procs
from localnet.commands import REPO_ROOT, cometbft_binary, mgridd_binary, run_cometbft
from localnet.errors import HomeError
from localnet.layout import FUNDED_KEYS, Network, Ports
from localnet.testing import LocalnetRunner
from localnet.testnet import UNITS, parse_hosts

# Nodes 0 and 3 share 10.1.0.1, node 3 on ports moved by 100; the DNS name is normalised.
HOSTS = ["10.1.0.1", "10.1.0.2", "Node-C.Example.org", "10.1.0.1:26756"]


def localnet(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m localnet ARGS`` as an operator runs it (``testnet`` takes --out, not --home)."""
    return subprocess.run(
        [sys.executable, "-m", "localnet", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
        check=False,
    )


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("testnet") / "out"
    result = localnet(
        "testnet", "--hosts", ",".join(HOSTS), "--chain-id", "mg-tn", "--out", str(directory),
        "--block-time", "2", "--snapshot-interval", "50",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for i, host in enumerate(["10.1.0.1", "10.1.0.2", "node-c.example.org", "10.1.0.1"]):
        assert f"node{i}  ->  {host}" in result.stdout
    return directory


def expected_ports(index: int) -> Ports:
    return Ports.standard(100) if index == 3 else Ports.standard()


def config(out: Path, index: int) -> dict:  # type: ignore[type-arg]
    with (out / f"node{index}" / "config" / "config.toml").open("rb") as f:
        return tomllib.load(f)


def test_peers_are_every_other_node_on_its_host_and_standard_ports(out: Path) -> None:
    ids = [run_cometbft("show-node-id", "--home", str(out / f"node{i}")).strip() for i in range(4)]
    assert len(set(ids)) == 4
    hosts = ["10.1.0.1", "10.1.0.2", "node-c.example.org", "10.1.0.1"]
    for i in range(4):
        cfg = config(out, i)
        ports = expected_ports(i)
        peers = sorted(cfg["p2p"]["persistent_peers"].split(","))
        assert peers == sorted(
            f"{ids[j]}@{hosts[j]}:{expected_ports(j).p2p}" for j in range(4) if j != i
        )
        assert cfg["p2p"]["laddr"] == f"tcp://0.0.0.0:{ports.p2p}"
        assert cfg["p2p"]["external_address"] == f"{hosts[i]}:{ports.p2p}"
        assert cfg["rpc"]["laddr"] == f"tcp://0.0.0.0:{ports.rpc}"
        assert cfg["proxy_app"] == f"tcp://127.0.0.1:{ports.abci}"
        assert cfg["instrumentation"]["prometheus_listen_addr"] == f"0.0.0.0:{ports.prometheus}"
        # Two nodes share 10.1.0.1, so peers must accept a second connection from one IP.
        assert cfg["p2p"]["allow_duplicate_ip"] is True
        assert cfg["consensus"]["timeout_commit"] == "2000ms"
    assert expected_ports(0) == Ports(
        p2p=26656, rpc=26657, abci=26658, grpc=9090, prometheus=26660, metrics=26661
    )


def test_app_toml_is_what_mgridd_loads_without_flags(out: Path) -> None:
    for i in range(4):
        ports = expected_ports(i)
        settings = load_settings(out / f"node{i}", argparse.Namespace())
        assert settings["abci_address"] == f"tcp://127.0.0.1:{ports.abci}"
        assert settings["grpc_address"] == f"0.0.0.0:{ports.grpc}"
        assert settings["metrics_address"] == f"0.0.0.0:{ports.metrics}"
        assert settings["snapshot_interval"] == 50


def test_one_genesis_distinct_validator_keys_and_a_funded_keyring(out: Path) -> None:
    from clients.mgrid.keyring import Keyring

    geneses = {(out / f"node{i}" / "config" / "genesis.json").read_bytes() for i in range(4)}
    assert len(geneses) == 1
    genesis = json.loads(geneses.pop())
    assert genesis["chain_id"] == "mg-tn"
    keys = [
        json.loads((out / f"node{i}" / "config" / "priv_validator_key.json").read_text())
        for i in range(4)
    ]
    assert len({k["pub_key"]["value"] for k in keys}) == 4
    assert [v["pub_key"]["value"] for v in genesis["validators"]] == [
        k["pub_key"]["value"] for k in keys
    ]
    funded = {k.name: k.address for k in Keyring(out / "keyring", backend="test").list()}
    balances = {
        b["address"]: int(b["coins"][0]["amount"]) for b in genesis["app_state"]["bank"]["balances"]
    }
    assert balances == {funded[name]: amount for name, amount in FUNDED_KEYS.items()}


def test_systemd_units_and_readme_are_written(out: Path) -> None:
    units = {name: (out / "systemd" / name).read_text() for name in UNITS}
    app, cometbft = units["mgridd@.service"], units["cometbft@.service"]
    for text in units.values():
        for line in (
            "Restart=on-failure",
            "LimitNOFILE=65536",
            "User=mgrid",
            "WorkingDirectory=/var/lib/mgrid/%i",
            "WantedBy=multi-user.target",
        ):
            assert line in text.splitlines()
    assert "ExecStart=/opt/mgrid/.venv/bin/mgridd start --home /var/lib/mgrid/%i" in app
    assert "Requires=mgridd@%i.service" in cometbft.splitlines()
    assert "After=mgridd@%i.service network-online.target" in cometbft.splitlines()
    assert "ExecStart=/opt/mgrid/bin/cometbft start --home /var/lib/mgrid/%i" in cometbft
    readme = (out / "README.md").read_text()
    for i, host in enumerate(["10.1.0.1", "10.1.0.2", "node-c.example.org", "10.1.0.1"]):
        assert f"| node{i}/ | {host} | {expected_ports(i).p2p} |" in readme
    assert "systemctl enable --now cometbft@node0" in readme


def test_the_state_file_describes_a_remote_network_that_is_not_started_here(out: Path) -> None:
    network = Network.load(out)
    assert network.remote is True and network.netns is None
    assert [n.host for n in network.nodes][2] == "node-c.example.org"
    runner = LocalnetRunner(out, port_offset=0)
    result = runner.run("start-node", "0", check=False)
    assert result.returncode == 1 and "other machines" in result.stderr
    assert not any(n.processes for n in Network.load(out).nodes)


@pytest.mark.parametrize(
    ("hosts", "message"),
    [
        ("10.1.0.1,10.1.0.1", "overlapping ports"),
        ("10.1.0.1,10.1.0.1:26660", "overlapping ports"),
        ("10.1.0.300", "not a valid IPv4 address"),
        ("10.1.0.1,,10.1.0.2", "empty host"),
        ("fe80::1", "IPv6"),
        ("bad_name.example", "neither an IPv4 address nor a DNS name"),
        ("-lead.example", "neither an IPv4 address nor a DNS name"),
        ("host.123", "numeric label"),
        ("0.0.0.0", "not the address of one machine"),
        ("10.1.0.1:http", "not a number"),
        ("10.1.0.1:65534", "outside 1..65535"),
    ],
)
def test_bad_hosts_are_refused_and_nothing_is_written(
    tmp_path: Path, hosts: str, message: str
) -> None:
    with pytest.raises(HomeError, match=message):
        parse_hosts(hosts)
    result = localnet(
        "testnet", f"--hosts={hosts}", "--chain-id", "x", "--out", str(tmp_path / "o")
    )
    assert result.returncode == 1
    assert message.split("..")[0] in result.stderr
    assert not (tmp_path / "o").exists()


def test_a_nonempty_out_directory_is_refused(out: Path) -> None:
    before = sorted(p.name for p in out.iterdir())
    result = localnet("testnet", "--hosts", "10.2.0.1", "--chain-id", "x", "--out", str(out))
    assert result.returncode == 1 and "not an empty directory" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == before


# -- the homes as written, run on two namespaces standing in for two hosts ---------------------

UNUSABLE = netns.available()


@pytest.fixture
def two_hosts(tmp_path: Path) -> Iterator[tuple[Network, list[procs.Process]]]:
    """A 2-host testnet written for 10.77.3.1 and .2, and namespaces with those addresses."""
    if UNUSABLE is not None:
        pytest.skip(f"network namespaces unusable here: {UNUSABLE}")
    out = tmp_path / "tn"
    result = localnet(
        "testnet", "--hosts", "10.77.3.1,10.77.3.2", "--chain-id", "mg-tn2", "--out", str(out),
        "--block-time", "0.5",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    network = Network.load(out)
    section, hosts = netns.plan(tmp_path / "hosts", netns.parse_subnet("10.77.3.0/24", 2), 2)
    assert hosts == [n.host for n in network.nodes]
    network.netns = section  # in memory only: the namespaces are this test's "machines"
    started: list[procs.Process] = []
    try:
        netns.ensure_links(network)
        yield network, started
    finally:
        procs.terminate(started)
        netns.remove_links(section.tag, section)


@pytest.mark.localnet
def test_written_homes_run_with_no_flags_on_their_hosts(
    two_hosts: tuple[Network, list[procs.Process]],
) -> None:
    network, started = two_hosts
    assert network.netns is not None
    for node in network.nodes:
        home = network.node_home(node)
        namespace = network.netns.namespaces[node.index]
        app = procs.spawn([mgridd_binary(), "start", "--home", str(home)],
                          home / "logs" / "app.log", cwd=home, netns=namespace)  # fmt: skip
        started.append(app)
        deadline = time.monotonic() + 30
        while not procs.is_listening("127.0.0.1", 26658, pid=app.pid, netns=namespace):
            assert procs.is_alive(app), procs.tail(home / "logs" / "app.log")
            assert time.monotonic() < deadline, "mgridd did not listen"
            time.sleep(0.2)
    for node in network.nodes:
        home = network.node_home(node)
        started.append(
            procs.spawn(
                [cometbft_binary(), "start", "--home", str(home)],
                home / "logs" / "cometbft.log",
                cwd=home,
                netns=network.netns.namespaces[node.index],
            )
        )
    runner = LocalnetRunner(network.home, port_offset=0, validators=2)
    runner.wait_for_height(3, timeout=60)
    report = runner.status()
    assert report["app_hashes_agree"] is True
    assert report["common_height"] >= 3
    # Each node's gRPC and metrics answer on its own host's address, as app.toml says.
    for node in network.nodes:
        with urllib.request.urlopen(node.app_metrics_url, timeout=5) as resp:
            assert resp.status == 200
        assert procs.is_listening(node.host, node.ports.grpc, pid=started[node.index].pid)
