"""A new node joins a running localnet by state sync (issue 8 "done when":
"a new node joins by state sync in a test"), on the real CometBFT binary.

Two validators (taking a snapshot every 10 blocks, as every localnet does)
hold some state; node2 is added with ``[statesync]`` on. It must restore a
snapshot (its app says so, its store starts at the snapshot's height, it
never executed an earlier block), show the state, and then keep up with the
chain with the same app hash at every height.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.rpc import RPC
from localnet.join import add_node
from localnet.network import LOCALNET_SNAPSHOT_INTERVAL
from localnet.testing import LocalnetRunner
from tests.support.localnets import mgrid, mgrid_tx, wait_until
from tests.support.txs import key

pytestmark = pytest.mark.localnet

PORT_OFFSET = 4700
RECIPIENTS = [key(90 + i).address for i in range(3)]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    runner = LocalnetRunner(
        tmp_path_factory.mktemp("join") / "net",
        port_offset=PORT_OFFSET,
        chain_id="mg-join",
        validators=2,
        app="mgrid",
        block_time=0.5,
    )
    runner.up()
    yield runner
    runner.down(check=False)


def snapshot_heights(net: LocalnetRunner, index: int) -> list[int]:
    directory = net.network().node_home(net.network().node(index)) / "data" / "snapshots"
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def test_a_new_node_joins_by_state_sync_and_keeps_up(net: LocalnetRunner) -> None:
    sent_at = 0
    for i, address in enumerate(RECIPIENTS):
        out = mgrid_tx(net, "bank", "send", "faucet", address, f"{1000 + i}ugrid")
        sent_at = max(sent_at, int(out["height"]))
    # A snapshot that holds the transfers, old enough for the light client
    # (it verifies the headers of the two blocks after the snapshot).
    wait_until(
        "a snapshot after the transfers on both validators",
        lambda: all(
            any(h >= sent_at for h in snapshot_heights(net, i)) for i in range(net.validators)
        ),
        timeout=60 + 4 * LOCALNET_SNAPSHOT_INTERVAL,
    )
    net.wait_for_height(max(snapshot_heights(net, 0)) + 2)

    added = net.run("add-node", "--state-sync")
    assert "added node2" in added.stdout
    node = net.network().node(2)
    assert not node.validator
    recorded = json.loads((net.home / "localnet.json").read_text())["nodes"][2]
    assert recorded["validator"] is False

    rpc = RPC(node.rpc_url, timeout=5.0)
    status = wait_until(
        "node2 to catch up",
        lambda: (
            (s := rpc.status())["sync_info"]["catching_up"] is False
            and int(s["sync_info"]["latest_block_height"]) >= net.max_height(range(2)) - 1
            and s
        ),
        timeout=180,
    )
    app_log = net.network().log_path(node, "app").read_text()
    restored = re.search(r"restored snapshot at height (\d+)", app_log)
    assert restored, app_log[-3000:]
    snap = int(restored.group(1))
    assert snap >= sent_at and snap % LOCALNET_SNAPSHOT_INTERVAL == 0
    # It never executed a block at or below the snapshot: its first block is snap + 1.
    finalized = [int(h) for h in re.findall(r"finalized height (\d+)", app_log)]
    assert finalized and min(finalized) == snap + 1
    # Its store starts at the snapshot: earlier heights were never there.
    early = rpc.abci_query("/store/key", b"anything", height=snap - 1)
    assert early["code"] != 0 and f"available {snap}.." in early["log"], early
    # CometBFT's own block store starts after the snapshot too.
    assert int(status["sync_info"]["earliest_block_height"]) > snap

    for i, address in enumerate(RECIPIENTS):
        balance = mgrid(net, "query", "bank", "balance", address, node=2)
        assert int(balance["amount"]) == 1000 + i

    # It keeps up, with the validators' app hash at every height since it joined.
    mgrid_tx(net, "bank", "send", "faucet", RECIPIENTS[0], "5ugrid")
    target = net.max_height(range(2)) + 5
    net.wait_for_height(target, nodes=[0, 1, 2], timeout=60)
    ours = net.app_hash_histories(snap + 1, target, nodes=[2])[2]
    theirs = net.app_hash_histories(snap + 1, target, nodes=[0])[0]
    assert ours == theirs
    assert int(mgrid(net, "query", "bank", "balance", RECIPIENTS[0], node=2)["amount"]) == 1005
    report = net.status()
    assert {n["index"] for n in report["nodes"]} == {0, 1, 2}


def test_add_node_refuses_a_taken_port_and_leaves_nothing(net: LocalnetRunner) -> None:
    import socket

    from localnet.errors import PortInUse
    from localnet.layout import Ports

    network = net.network()
    index = len(network.nodes)
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", Ports.of(index, PORT_OFFSET).rpc))
    blocker.listen()
    try:
        with pytest.raises(PortInUse, match=f"node{index}"):
            add_node(network, state_sync=True)
    finally:
        blocker.close()
    assert len(net.network().nodes) == index
    assert not Path(net.home / f"node{index}").exists()
