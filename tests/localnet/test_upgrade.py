"""The upgrade procedure of docs/upgrade.md on real CometBFT (issue 8 "done
when": "export then import gives the same app hash").

A two-validator localnet gets some state, is told to halt at a height
(``halt_height`` in each node's app.toml) and stops there by itself; ``mgridd
export`` on each node writes the same genesis of a new chain; each node is
reset and started from it with its validator key, and the new chain makes
block H+1 with the exported app hash in its header and goes on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from clients.rpc import RPC
from localnet import procs
from localnet.commands import cometbft_binary, mgridd_binary
from localnet.testing import LocalnetRunner
from tests.support.localnets import mgrid_tx, wait_until
from tests.support.txs import key

pytestmark = pytest.mark.localnet

# The state-sync benchmark (bench/statesync.py) uses 4800; test_join.py this
# offset too, in a module of its own, so never at the same time.
PORT_OFFSET = 4700
OLD, NEW = "mg-up-1", "mg-up-2"
RECIPIENT = key(95).address


def test_halt_export_and_start_the_new_chain_from_the_export(tmp_path: Path) -> None:
    """docs/upgrade.md, step by step, on a two-validator localnet."""
    net = LocalnetRunner(
        tmp_path / "net", port_offset=PORT_OFFSET, chain_id=OLD, validators=2, app="mgrid",
        block_time=0.5,
    )  # fmt: skip
    try:
        net.up()
        mgrid_tx(net, "bank", "send", "faucet", RECIPIENT, "4242ugrid")
        mgrid_tx(net, "bank", "send", "faucet", RECIPIENT, "1ugrid")
        network = net.network()
        homes = [network.node_home(node) for node in network.nodes]

        # 1-2. Every operator sets the agreed halt height and restarts the node to read it.
        halt = net.max_height() + 15
        for home in homes:
            with (home / "config" / "app.toml").open("a") as f:
                f.write(f"halt_height = {halt}\n")
        for i in range(2):
            net.stop_node(i)
        for i in range(2):
            net.start_node(i)

        # 3. Both processes of every node stop by themselves after committing it.
        network = net.network()
        recorded = [p for node in network.nodes for p in node.processes.values()]
        wait_until("the nodes to halt", lambda: not any(procs.is_alive(p) for p in recorded))
        for node in network.nodes:
            app_log = network.log_path(node, "app").read_text()
            assert f"halt height {halt} reached" in app_log
            assert f"finalized height {halt + 1}" not in app_log
            # CometBFT stopped because its app went away, not on a failed block.
            cometbft_log = network.log_path(node, "cometbft").read_text()
            assert "CONSENSUS FAILURE" not in cometbft_log
            assert "captured terminated, exiting" in cometbft_log
        # Started again with the same setting, the app refuses to run.
        assert net.run("start-node", "0", check=False).returncode != 0
        app_log = network.log_path(network.node(0), "app").read_text()
        assert f"at or past halt_height {halt}" in app_log
        net.down()

        # 4. Every operator exports; the exports are byte for byte the same.
        exports = []
        for i, home in enumerate(homes):
            path = tmp_path / f"genesis-{NEW}-node{i}.json"
            out = subprocess.run(
                [mgridd_binary(), "export", "--home", str(home), "--chain-id", NEW,
                 "--out", str(path)],
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
            assert f"exported height {halt}" in out.stderr
            exports.append(path.read_bytes())
        assert exports[0] == exports[1]
        genesis = json.loads(exports[0])
        assert genesis["initial_height"] == str(halt + 1)
        assert genesis["chain_id"] == NEW
        assert genesis["app_state"]["store"]["height"] == halt

        # 5-7. Keep the old data, reset, install the new genesis, drop the halt height.
        for home in homes:
            (home / "data").rename(home / f"data.{OLD}")
            reset = subprocess.run(
                [cometbft_binary(), "unsafe-reset-all", "--home", str(home), "--keep-addr-book"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert reset.returncode == 0, reset.stderr
            (home / "config" / "genesis.json").write_bytes(exports[0])
            app_toml = home / "config" / "app.toml"
            app_toml.write_text(
                "".join(
                    line
                    for line in app_toml.read_text().splitlines(keepends=True)
                    if not line.startswith("halt_height")
                )
            )
        # 8. Start.
        net.run("up")

        rpc = RPC(network.node(0).rpc_url, timeout=5.0)
        first = rpc.block(halt + 1)["block"]["header"]
        assert first["app_hash"] == genesis["app_hash"]
        assert first["chain_id"] == NEW
        assert int(rpc.status()["sync_info"]["earliest_block_height"]) == halt + 1
        for node in network.nodes:
            new_log = network.log_path(node, "app").read_text()
            assert f"imported the state of height {halt}" in new_log
        # The state came along, and the chain goes on: a transaction on the new chain.
        assert _balance(net, RECIPIENT) == 4243
        sent = _tx(net, "bank", "send", "faucet", RECIPIENT, "7ugrid")
        assert int(sent["height"]) > halt + 1
        assert _balance(net, RECIPIENT) == 4250
        last = int(sent["height"]) + 2
        net.wait_for_height(last)
        histories = net.app_hash_histories(halt + 1, last)
        assert histories[0] == histories[1]
    finally:
        net.down(check=False)


def _mgrid(net: LocalnetRunner, *args: str) -> Any:
    """``mgrid`` against node 0 (the chain id comes from the node: the new one)."""
    cmd = [
        sys.executable, "-m", "clients.mgrid.cli",
        "--node", net.network().node(0).rpc_url, "--keyring-dir", str(net.network().keyring_dir),
        "--keyring-backend", "test", "--output", "json", *args,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert out.returncode == 0, f"{args}: {out.stderr}{out.stdout}"
    return json.loads(out.stdout)


def _balance(net: LocalnetRunner, address: str) -> int:
    return int(_mgrid(net, "query", "bank", "balance", address)["amount"])


def _tx(net: LocalnetRunner, *args: str) -> Any:
    result = _mgrid(net, "tx", *args, "--broadcast-mode", "commit", "--yes")
    assert result["code"] == 0, result
    return result
