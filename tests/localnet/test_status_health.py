"""Observability of a real 4-validator mgrid localnet (CometBFT, port offset 4500).

Every node's app metrics endpoint is scraped over HTTP after some
transfers: its transaction counter equals the transactions in the chain,
its height is the node's, CheckTx saw the transfers and the garbage sent
to it. ``python -m localnet status`` says "healthy" (exit 0), then
"degraded" naming a stopped node (exit 3), then healthy again once the
node is back and has caught up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from clients.rpc import RPC
from localnet.status import EXIT_DEGRADED
from localnet.testing import LocalnetRunner
from tests.support.localnets import mgrid_localnet, mgrid_tx
from tests.support.metrics import Samples, scrape

pytestmark = pytest.mark.localnet

PORT_OFFSET = 4500
SENDS = 3
RECOVERY_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, "mg-observe")


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def txs_in_chain(rpc: RPC, last: int) -> int:
    """Transactions in blocks 1..last, from the block metas."""
    count, high = 0, last
    while high >= 1:
        low = max(1, high - 19)
        metas = rpc.call("blockchain", minHeight=str(low), maxHeight=str(high))["block_metas"]
        count += sum(int(m["num_txs"]) for m in metas)
        high = low - 1
    return count


def status(net: LocalnetRunner, *args: str) -> tuple[int, str]:
    result = net.run("status", *args, check=False)
    assert result.returncode in (0, EXIT_DEGRADED), result.stderr
    return result.returncode, result.stdout


def test_every_nodes_app_metrics_agree_with_the_chain(net: LocalnetRunner) -> None:
    network = net.network()
    receiver = network.keys["utility"]
    for _ in range(SENDS):
        mgrid_tx(net, "bank", "send", "faucet", receiver, "1ugrid")
    garbage = RPC(network.node(0).rpc_url).broadcast_tx_sync(b"\x0a\xff\xff")
    assert (garbage["codespace"], garbage["code"]) == ("tx", 2)
    last_tx_height = net.max_height()
    net.wait_for_height(last_tx_height + 1)  # every node has executed every tx block

    for node in network.nodes:
        rpc = RPC(node.rpc_url, timeout=5)
        before = rpc.latest_height()
        samples = scrape(node.app_metrics_url)
        after = rpc.latest_height()
        height = int(samples[("mgrid_height", ())])
        # The block store saves a block before the app commits it.
        assert before - 1 <= height <= after, (node.moniker, before, height, after)
        in_chain = txs_in_chain(rpc, height)
        assert in_chain >= SENDS
        assert total(samples, "mgrid_txs_total") == in_chain, node.moniker
        assert total(samples, "mgrid_txs_total", type="send", code="0") >= SENDS
        assert total(samples, "mgrid_check_txs_total", kind="new", code="0") >= SENDS
        assert total(samples, "mgrid_block_txs_sum") == in_chain
        assert total(samples, "mgrid_block_execution_seconds_count") >= height - 1
        assert total(samples, "mgrid_store_commit_seconds_count") >= height - 1
        header_time = rpc.block(height)["block"]["header"]["time"]
        assert header_time.startswith(
            time.strftime(
                "%Y-%m-%dT%H:%M:%S",
                time.gmtime(int(samples[("mgrid_last_block_time_seconds", ())])),
            )
        )
        info = (("app_version", "1"), ("version", "0.1.0"))
        assert samples[("mgrid_app_info", info)] == 1
    first = scrape(network.node(0).app_metrics_url)
    assert total(first, "mgrid_check_txs_total", kind="new", code="2", codespace="tx") >= 1


def test_status_is_healthy_then_names_a_stopped_node(net: LocalnetRunner) -> None:
    code, text = status(net)
    assert code == 0, text
    assert text.rstrip().endswith("healthy")
    code, out = status(net, "--json")
    report = json.loads(out)
    assert code == 0 and report["healthy"] and report["verdict"] == "healthy"
    for node in report["nodes"]:
        assert node["running"] and node["app_metrics_ok"], node
        assert node["peers"] == 3
        assert node["lag"] <= report["max_lag"]
        assert node["catching_up"] is False
        assert 0 <= node["seconds_since_block"] < report["max_stall_seconds"]
        assert node["app_version"] == {"version": "0.1.0", "app_version": 1}

    net.stop_node(2)
    try:
        code, text = status(net)
        assert code == EXIT_DEGRADED, text
        [verdict] = [line for line in text.splitlines() if line.startswith("degraded: ")]
        assert "node2 down" in verdict
        report = json.loads(status(net, "--json")[1])
        assert not report["healthy"] and "node2 down" in report["problems"]
        assert [p for p in report["problems"] if "node2" not in p] == [], report["problems"]
    finally:
        net.start_node(2)

    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while True:
        code, out = status(net, "--json")
        if code == 0:
            break
        assert time.monotonic() < deadline, json.loads(out)["verdict"]
        time.sleep(1.0)
