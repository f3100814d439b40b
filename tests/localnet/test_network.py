"""A 4-validator localnet under faults: one validator down, two down, a crashed app,
then ``down`` and ``up`` again (DESIGN.md section 6).

One network per app kind serves the whole module; each test leaves every
node running. Port offsets 1000 (kvstore) and 1050 (mgrid) keep it clear of
a developer's own localnet.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from localnet import procs
from localnet.layout import FUNDED_KEYS, Ports
from localnet.testing import LocalnetRunner, pid_alive
from tests.support.localnets import assert_same_history, send_transfer

pytestmark = pytest.mark.localnet

OFFSETS = {"kvstore": 1000, "mgrid": 1050}
VALIDATORS = 4
BLOCK_TIME = 0.5


@pytest.fixture(scope="module")
def ln(tmp_path_factory: pytest.TempPathFactory, app_kind: str) -> Iterator[LocalnetRunner]:
    runner = LocalnetRunner(
        tmp_path_factory.mktemp(f"localnet-{app_kind}") / "net",
        chain_id=f"ln-{app_kind}",
        validators=VALIDATORS,
        port_offset=OFFSETS[app_kind],
        block_time=BLOCK_TIME,
        app=app_kind,
    )
    runner.up()
    try:
        yield runner
    finally:
        runner.down(check=False)


def send_txs(ln: LocalnetRunner, node: int, count: int, tag: str) -> None:
    """Put a few transactions into blocks, so app hashes change.

    kvstore takes ``key=value`` transactions; for mgrid the wallet CLI sends
    coins from the faucet (waiting for each to be committed, so fewer).
    """
    if ln.app == "kvstore":
        rpc = ln.rpc(node)
        for i in range(count):
            reply = rpc.broadcast_tx_sync(f"{tag}-{i}={time.monotonic_ns()}".encode())
            assert reply["code"] == 0, reply
        return
    for _ in range(min(count, 2)):
        send_transfer(ln, node)


def test_up_reaches_height_two_and_all_nodes_agree(ln: LocalnetRunner) -> None:
    report = ln.status()
    assert report["chain_id"] == ln.chain_id
    assert [n["index"] for n in report["nodes"]] == list(range(VALIDATORS))
    assert all(n["running"] for n in report["nodes"])
    assert all(n["height"] >= 2 for n in report["nodes"])
    assert report["common_height"] >= 2
    assert report["app_hashes_agree"] is True
    assert len({n["app_hash"] for n in report["nodes"]}) == 1

    height = report["common_height"]
    header_hashes = {
        ln.rpc(i).block(height)["block"]["header"]["app_hash"] for i in range(VALIDATORS)
    }
    assert len(header_hashes) == 1


def test_every_node_serves_metrics_and_the_app_its_grpc(ln: LocalnetRunner) -> None:
    for node in ln.network().nodes:
        with urllib.request.urlopen(node.prometheus_url, timeout=5) as resp:
            assert b"cometbft_consensus_height" in resp.read()
        if ln.app == "mgrid":
            assert procs.is_listening("127.0.0.1", node.ports.grpc)


def test_up_prints_endpoints_files_and_commands(ln: LocalnetRunner) -> None:
    out = ln.up_output
    for i in range(VALIDATORS):
        ports = Ports.of(i, ln.port_offset)
        assert f"http://127.0.0.1:{ports.rpc}" in out
        assert f"127.0.0.1:{ports.p2p}" in out
        if ln.app == "mgrid":
            assert f"127.0.0.1:{ports.grpc}" in out
    assert str(ln.home) in out
    assert "logs" in out
    assert f"python -m localnet status --home {ln.home}" in out
    assert f"python -m localnet down --home {ln.home}" in out


def test_home_has_shared_genesis_funded_keyring_and_configs(ln: LocalnetRunner) -> None:
    from clients.mgrid.keyring import Keyring

    net = ln.network()
    geneses = [(ln.home / f"node{i}" / "config" / "genesis.json").read_text() for i in range(4)]
    assert len(set(geneses)) == 1
    genesis = json.loads(geneses[0])
    assert genesis["chain_id"] == ln.chain_id
    assert [v["power"] for v in genesis["validators"]] == ["10"] * VALIDATORS
    keys = {k.name: k.address for k in Keyring(ln.home / "keyring", backend="test").list()}
    assert keys == net.keys
    balances = {
        b["address"]: int(b["coins"][0]["amount"]) for b in genesis["app_state"]["bank"]["balances"]
    }
    assert balances == {keys[name]: amount for name, amount in FUNDED_KEYS.items()}
    for i in range(VALIDATORS):
        assert (ln.home / f"node{i}" / "logs" / "cometbft.log").stat().st_size > 0
        assert (ln.home / f"node{i}" / "logs" / "app.log").exists()


def test_one_validator_down_chain_commits_and_node_catches_up(ln: LocalnetRunner) -> None:
    ln.stop_node(3)
    try:
        assert ln.height(3) is None
        before = ln.max_height([0, 1, 2])
        send_txs(ln, 0, 5, "while-node3-down")
        ln.wait_for_height(before + 3, nodes=[0, 1, 2], timeout=60)
    finally:
        ln.start_node(3)
    ln.wait_for_height(ln.max_height([0, 1, 2]), nodes=[3], timeout=60)
    report = ln.status()
    assert all(n["running"] for n in report["nodes"])
    assert report["app_hashes_agree"] is True
    assert_same_history(ln)


def test_two_validators_down_chain_halts_then_resumes_without_divergence(
    ln: LocalnetRunner,
) -> None:
    send_txs(ln, 0, 5, "before-halt")
    ln.stop_node(2)
    ln.stop_node(3)
    try:
        time.sleep(4 * BLOCK_TIME)  # a block already being committed may still land
        halted = ln.heights([0, 1])
        assert None not in halted.values()
        time.sleep(8 * BLOCK_TIME + 2)  # several block times and a consensus round
        assert ln.heights([0, 1]) == halted, "half the voting power must not commit"
    finally:
        ln.start_node(2)
        ln.start_node(3)
    resume = max(h for h in halted.values() if h is not None)
    send_txs(ln, 0, 5, "after-halt")
    ln.wait_for_height(resume + 2, timeout=90)
    assert_same_history(ln)


def test_crashed_app_takes_its_node_down_and_restart_catches_up(ln: LocalnetRunner) -> None:
    app_pid = ln.status()["nodes"][1]["pids"]["app"]
    ln.kill_app(1)
    assert not pid_alive(app_pid)
    # CometBFT exits by itself once its app connection breaks.
    deadline = time.monotonic() + 30
    while ln.status()["nodes"][1]["pids"]["cometbft"] is not None:
        assert time.monotonic() < deadline, "node1's CometBFT kept running without its app"
        time.sleep(0.5)
    send_txs(ln, 0, 3, "while-app1-dead")
    ln.wait_for_height(ln.max_height([0, 2, 3]) + 2, nodes=[0, 2, 3], timeout=60)
    ln.start_node(1)
    ln.wait_for_height(ln.max_height([0, 2, 3]), nodes=[1], timeout=60)
    assert_same_history(ln)


def test_up_on_existing_home_restarts_only_stopped_processes(ln: LocalnetRunner) -> None:
    running = {n["index"]: n["pids"] for n in ln.status()["nodes"]}
    ln.stop_node(2)
    ln.up()
    after = {n["index"]: n["pids"] for n in ln.status()["nodes"]}
    assert all(None not in pids.values() for pids in after.values())
    for i in (0, 1, 3):
        assert after[i] == running[i]
    assert after[2] != running[2]


def test_down_stops_every_process_and_up_resumes_the_chain(ln: LocalnetRunner) -> None:
    pids = ln.recorded_pids()
    assert len(pids) == 2 * VALIDATORS
    assert all(pid_alive(pid) for pid in pids)
    height = ln.max_height()

    ln.down()
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert all(not n["running"] for n in ln.status()["nodes"])
    for i in range(VALIDATORS):
        for port in Ports.of(i, ln.port_offset).named().values():
            assert procs.port_free("127.0.0.1", port)
    assert "was not running" in ln.down().stdout

    ln.up()
    ln.wait_for_height(height + 1, timeout=60)
    assert_same_history(ln)


def test_stop_node_of_unknown_index_is_a_clear_error(ln: LocalnetRunner) -> None:
    result = ln.run("stop-node", "7", check=False)
    assert result.returncode == 1
    assert "no node 7" in result.stderr
    assert Path(ln.home).exists()
