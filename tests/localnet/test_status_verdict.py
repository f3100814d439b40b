"""The verdict of ``localnet status`` for each kind of trouble, from reports built
by hand (tests/localnet/test_status_health.py runs it on a real network)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from localnet.layout import Network
from localnet.status import diagnose, render

HASH, OTHER = "AB" * 32, "CD" * 32


def node(i: int, **overrides: Any) -> dict[str, Any]:
    entry = {
        "index": i,
        "moniker": f"node{i}",
        "rpc": f"http://127.0.0.1:{26657 + 10 * i}",
        "app_metrics": f"http://127.0.0.1:{26661 + 10 * i}/metrics",
        "pids": {"app": 100 + i, "cometbft": 200 + i},
        "running": True,
        "height": 50,
        "lag": 0,
        "catching_up": False,
        "peers": 3,
        "seconds_since_block": 0.4,
        "app_version": {"version": "0.1.0", "app_version": 1},
        "app_metrics_ok": True,
        "app_hash": HASH,
        "error": None,
    }
    entry.update(overrides)
    return entry


def report(*changes: dict[str, Any]) -> dict[str, Any]:
    nodes = [node(i) for i in range(4)]
    for i, change in enumerate(changes):
        nodes[i].update(change)
    answering = [n for n in nodes if n["height"] is not None]
    hashes = {n["app_hash"] for n in answering}
    return {
        "chain_id": "mg-t",
        "app": "mgrid",
        "home": "/tmp/x",
        "nodes": nodes,
        "answering": len(answering),
        "common_height": min((n["height"] for n in answering if n["height"]), default=None),
        "app_hashes_agree": bool(answering) and None not in hashes and len(hashes) == 1,
        "max_lag": 2,
        "max_stall_seconds": 10.0,
    }


LOCAL = cast(Network, SimpleNamespace(remote=False))
REMOTE = cast(Network, SimpleNamespace(remote=True))
DOWN = {"pids": {"app": None, "cometbft": None}, "running": False, "height": None,
        "lag": None, "peers": None, "app_hash": None, "app_metrics_ok": None,
        "error": "connection refused"}  # fmt: skip

CASES = {
    "healthy": ([], []),
    "down": ([{}, {}, DOWN], ["node2 down"]),
    "app crashed": (
        [{"pids": {"app": None, "cometbft": 201}, "running": False, "app_metrics_ok": None}],
        ["node0 app not running"],
    ),
    "cometbft gone": (
        [{}, {**DOWN, "pids": {"app": 101, "cometbft": None}, "app_metrics_ok": True}],
        ["node1 cometbft not running"],
    ),
    "rpc silent": (
        [{}, {"height": None, "lag": None, "app_hash": None, "error": "timed out"}],
        ["node1 RPC does not answer (timed out)"],
    ),
    "behind": ([{"height": 45, "lag": 5}], ["node0 5 blocks behind"]),
    "catching up": ([{"catching_up": True}], ["node0 catching up"]),
    "alone": ([{}, {"peers": 0}], ["node1 has no peers"]),
    "metrics": (
        [{"app_metrics_ok": False}],
        ["node0 app metrics do not answer at http://127.0.0.1:26661/metrics"],
    ),
    "fork": (
        [{}, {}, {}, {"app_hash": OTHER}],
        [
            f"app hashes differ at height 50 (node0 {HASH}, node1 {HASH}, node2 {HASH}, node3 {OTHER})"
        ],
    ),
    "unreadable": ([{"app_hash": None}], ["app hash at height 50 unreadable on node0"]),
    "stalled": (
        [{"seconds_since_block": 31.0}, {"seconds_since_block": 30.2}]
        + [{"seconds_since_block": 30.5}] * 2,
        ["no new block for 30 s"],
    ),
    "upgrade half done": (
        [{}, {"app_version": {"version": "0.2.0", "app_version": 2}}],
        ["app versions differ (node0 0.1.0/1, node1 0.2.0/2, node2 0.1.0/1, node3 0.1.0/1)"],
    ),
    # A new full node still state syncing: no block yet, so no app hash to
    # compare; its lag and catching up say what is going on.
    "joining": (
        [
            {},
            {},
            {},
            {
                "height": 0,
                "lag": 50,
                "catching_up": True,
                "app_hash": None,
                "seconds_since_block": None,
            },
        ],
        ["node3 catching up", "node3 50 blocks behind"],
    ),
    "all down": (
        [DOWN] * 4,
        ["node0 down", "node1 down", "node2 down", "node3 down", "no node answers on its RPC"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_each_trouble_is_named(case: str) -> None:
    changes, expected = CASES[case]
    assert diagnose(LOCAL, report(*changes)) == expected


def test_a_lag_within_the_limit_and_one_slow_node_are_fine() -> None:
    assert diagnose(LOCAL, report({"height": 48, "lag": 2}, {"seconds_since_block": 60})) == []


def test_homes_for_other_machines_are_judged_by_rpc_not_local_processes() -> None:
    nobody = {"pids": {"app": None, "cometbft": None}, "running": False}
    assert diagnose(REMOTE, report(nobody, nobody, nobody, nobody)) == []
    changes = [nobody, {**DOWN, "error": "refused"}]
    assert diagnose(REMOTE, report(*changes)) == ["node1 RPC does not answer (refused)"]


def test_render_ends_with_the_verdict() -> None:
    r = report({"height": 40, "lag": 10})
    r["problems"] = diagnose(LOCAL, r)
    r["verdict"] = "degraded: " + "; ".join(r["problems"])
    text = render(r)
    assert text.splitlines()[-1] == "degraded: node0 10 blocks behind"
    assert "node0  yes" in text and " 10 " in text


def test_a_node_without_blocks_is_not_compared_and_shows_no_block_age() -> None:
    joining = {"height": 0, "lag": 50, "catching_up": True, "app_hash": None,
               "seconds_since_block": None}  # fmt: skip
    r = report({}, {}, {}, joining)
    r["app_hashes_agree"] = True
    r["problems"] = diagnose(LOCAL, r)
    r["verdict"] = "degraded: " + "; ".join(r["problems"])
    text = render(r)
    assert "common height 50: the 3 nodes with blocks agree on the app hash" in text
    node3 = next(line for line in text.splitlines() if line.startswith("node3"))
    assert " - " in node3 and "ago" not in node3
