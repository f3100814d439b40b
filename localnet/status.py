"""What a localnet is doing, and whether it is healthy.

For every node: its processes, its height and how far it is behind the
highest node, whether it is catching up, its peers (/net_info), how long
ago its last block was made (the block header's time against this
machine's clock), the app's version (/abci_info) and whether the app's
metrics endpoint answers. Then a verdict: ``healthy``, or ``degraded:``
and every reason found (a node down or behind, app hashes that differ, no
new block for too long, ...). ``python -m localnet status`` exits with
:data:`EXIT_DEGRADED` when the network is degraded.

The app hash compared across nodes is the one in the header of the block at
the common height H (the lowest height every answering node has reached),
that is, the application state after block H-1, as committed by each node's
own block store. Nodes that agree on it executed the same blocks to the same
state; a node whose app disagreed would have refused block H.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from clients.rpc import RPC, RPCError
from localnet import procs
from localnet.layout import PROCESS_KINDS, Network, Node

RPC_TIMEOUT = 3.0
METRICS_TIMEOUT = 3.0
BLOCKCHAIN_PAGE = 20  # CometBFT's /blockchain returns at most 20 block metas per call
EXIT_DEGRADED = 3  # exit status of `status` on a degraded network (1: the command failed)
DEFAULT_MAX_LAG = 2  # blocks a node may be behind the highest before it counts as behind
MIN_STALL_SECONDS = 10.0
STALL_BLOCKS = 10  # no new block for this many block times (at least MIN_STALL_SECONDS)


def _pid(node: Node, kind: str) -> int | None:
    proc = node.processes.get(kind)
    return proc.pid if proc is not None and procs.is_alive(proc) else None


def _block_age(block_time: str, now: float) -> float | None:
    """Seconds from an RFC 3339 block time (nanoseconds allowed) to ``now``."""
    try:
        return round(now - datetime.fromisoformat(block_time).timestamp(), 1)
    except (ValueError, TypeError):
        return None


def metrics_answer(url: str, timeout: float = METRICS_TIMEOUT) -> bool:
    """True if the app's Prometheus endpoint at ``url`` serves its metrics."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200 and b"mgrid_height" in resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def node_status(network: Network, node: Node) -> dict[str, Any]:
    """One node's processes and, if its RPC answers, its sync info, peers and app."""
    pids = {kind: _pid(node, kind) for kind in PROCESS_KINDS}
    mgrid = network.app == "mgrid"
    entry: dict[str, Any] = {
        "index": node.index,
        "moniker": node.moniker,
        "rpc": node.rpc_url,
        "grpc": node.grpc_address,
        "p2p": node.p2p_address,
        "prometheus": node.prometheus_url,
        "app_metrics": node.app_metrics_url if mgrid else None,
        "logs": {kind: str(network.log_path(node, kind)) for kind in PROCESS_KINDS},
        "pids": pids,
        "running": all(pid is not None for pid in pids.values()),
        "height": None,
        "lag": None,
        "catching_up": None,
        "peers": None,
        "latest_block_time": None,
        "seconds_since_block": None,
        "app_version": None,
        "app_metrics_ok": None,
        "latest_app_hash": None,
        "app_hash": None,
        "error": None,
    }
    # A stopped app has no endpoint to ask (on a home for other machines
    # nothing runs here, so the endpoint is always asked).
    if mgrid and (pids["app"] is not None or getattr(network, "remote", False)):
        entry["app_metrics_ok"] = metrics_answer(node.app_metrics_url)
    rpc = RPC(node.rpc_url, timeout=RPC_TIMEOUT)
    try:
        sync = rpc.status()["sync_info"]
    except (RPCError, KeyError) as exc:
        entry["error"] = str(exc)
        return entry
    entry["height"] = int(sync["latest_block_height"])
    entry["catching_up"] = bool(sync["catching_up"])
    entry["latest_app_hash"] = sync["latest_app_hash"]
    if entry["height"]:  # a node still syncing (state sync, block sync) has no block yet
        entry["latest_block_time"] = sync.get("latest_block_time")
        entry["seconds_since_block"] = _block_age(sync.get("latest_block_time", ""), time.time())
    try:
        entry["peers"] = int(rpc.call("net_info")["n_peers"])
        info = rpc.call("abci_info")["response"]
        entry["app_version"] = {
            "version": str(info.get("version", "")),
            "app_version": int(info.get("app_version", 0)),
        }
    except (RPCError, KeyError, ValueError) as exc:
        entry["error"] = str(exc)
    return entry


def header_app_hash(rpc_url: str, height: int) -> str:
    """The app_hash in the header of block ``height`` as stored by the node at ``rpc_url``."""
    block = RPC(rpc_url, timeout=RPC_TIMEOUT).block(height)
    return str(block["block"]["header"]["app_hash"])


def app_hash_history(rpc_url: str, first: int, last: int) -> dict[int, str]:
    """Header app hashes of blocks ``first..last`` (inclusive) from one node.

    Uses /blockchain, which returns up to 20 block metas per call, newest first.
    """
    rpc = RPC(rpc_url, timeout=10.0)
    hashes: dict[int, str] = {}
    high = last
    while high >= first:
        low = max(first, high - BLOCKCHAIN_PAGE + 1)
        result = rpc.call("blockchain", minHeight=str(low), maxHeight=str(high))
        for meta in result["block_metas"]:
            header = meta["header"]
            hashes[int(header["height"])] = str(header["app_hash"])
        high = low - 1
    missing = [h for h in range(first, last + 1) if h not in hashes]
    if missing:
        raise RPCError(f"{rpc_url} returned no block meta for heights {missing[:5]}...")
    return hashes


def stall_limit(network: Network) -> float:
    """Seconds without a new block after which the chain counts as stalled."""
    return max(MIN_STALL_SECONDS, STALL_BLOCKS * network.block_time)


def collect(
    network: Network, *, max_lag: int = DEFAULT_MAX_LAG, max_stall: float | None = None
) -> dict[str, Any]:
    """The status of every node, the common height, whether the app hashes agree,
    and the verdict (``healthy``, and the ``problems`` found when it is not).

    ``max_lag``: blocks a node may be behind the highest node; ``max_stall``:
    seconds without a new block on any node (default :func:`stall_limit`).
    """
    # Nodes are asked at the same time, so heights are compared at one moment.
    with ThreadPoolExecutor(max_workers=max(1, len(network.nodes))) as pool:
        nodes = list(pool.map(lambda node: node_status(network, node), network.nodes))
    answering = [entry for entry in nodes if entry["height"] is not None]
    highest = max((entry["height"] for entry in answering), default=None)
    for entry in answering:
        entry["lag"] = highest - entry["height"]  # type: ignore[operator]
    # App hashes are compared among nodes that have blocks: one still at
    # height 0 (a new node syncing) has nothing to compare yet, and its lag
    # already reports it.
    compared = [entry for entry in answering if entry["height"]]
    common = min((entry["height"] for entry in compared), default=None)
    if common:
        for entry in compared:
            try:
                entry["app_hash"] = header_app_hash(entry["rpc"], common)
            except (RPCError, KeyError) as exc:
                entry["error"] = f"block {common}: {exc}"
    hashes = {entry["app_hash"] for entry in compared}
    report = {
        "home": str(network.home),
        "chain_id": network.chain_id,
        "app": network.app,
        "validators": len(network.nodes),
        "keyring": str(network.keyring_dir),
        "keys": dict(network.keys),
        "all_running": all(entry["running"] for entry in nodes),
        "answering": len(answering),
        "common_height": common,
        "max_height": highest,
        "app_hashes_agree": bool(compared) and None not in hashes and len(hashes) == 1,
        "max_lag": max_lag,
        "max_stall_seconds": stall_limit(network) if max_stall is None else max_stall,
        "nodes": nodes,
    }
    problems = diagnose(network, report)
    report["healthy"] = not problems
    report["problems"] = problems
    report["verdict"] = "healthy" if not problems else "degraded: " + "; ".join(problems)
    return report


def diagnose(network: Network, report: dict[str, Any]) -> list[str]:
    """Every reason ``report`` (from :func:`collect`) is not healthy, most severe first."""
    problems: list[str] = []
    # Homes written for other machines (`testnet`) run no process here: judge
    # their nodes by what their RPC says.
    local = not getattr(network, "remote", False)
    nodes = report["nodes"]
    for e in nodes:
        name = e["moniker"]
        stopped = [kind for kind, pid in e["pids"].items() if pid is None] if local else []
        if stopped and len(stopped) == len(e["pids"]):
            problems.append(f"{name} down")
            continue
        if stopped:
            problems.append(f"{name} {' and '.join(stopped)} not running")
        if e["app_metrics_ok"] is False and "app" not in stopped:
            problems.append(f"{name} app metrics do not answer at {e['app_metrics']}")
        if e["height"] is None:
            if "cometbft" not in stopped:
                problems.append(f"{name} RPC does not answer ({e['error']})")
            continue
        if e["catching_up"]:
            problems.append(f"{name} catching up")
        if e["lag"] is not None and e["lag"] > report["max_lag"]:
            problems.append(f"{name} {e['lag']} blocks behind")
        if e["peers"] == 0 and len(nodes) > 1:
            problems.append(f"{name} has no peers")
    answering = [e for e in nodes if e["height"] is not None]
    if not answering:
        problems.append("no node answers on its RPC")
        return problems
    common = report["common_height"]
    compared = [e for e in answering if e["height"]]
    if len({e["app_hash"] for e in compared if e["app_hash"]}) > 1:
        hashes = ", ".join(f"{e['moniker']} {e['app_hash'] or '?'}" for e in compared)
        problems.append(f"app hashes differ at height {common} ({hashes})")
    unread = [e["moniker"] for e in compared if common and not e["app_hash"]]
    if unread:
        problems.append(f"app hash at height {common} unreadable on {', '.join(unread)}")
    ages = [e["seconds_since_block"] for e in answering if e["seconds_since_block"] is not None]
    if ages and min(ages) > report["max_stall_seconds"]:
        problems.append(f"no new block for {min(ages):.0f} s")
    versions = {
        f"{e['app_version']['version']}/{e['app_version']['app_version']}"
        for e in answering
        if e["app_version"] is not None
    }
    if len(versions) > 1:
        shown = ", ".join(
            f"{e['moniker']} {e['app_version']['version']}/{e['app_version']['app_version']}"
            for e in answering
            if e["app_version"] is not None
        )
        problems.append(f"app versions differ ({shown})")
    return problems


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def render(report: dict[str, Any]) -> str:
    """A terminal table of :func:`collect`'s report, then the verdict."""
    lines = [f"localnet {report['chain_id']} ({report['app']} app) at {report['home']}", ""]
    header = f"{'node':<6} {'running':<8} {'app pid':>8} {'cmt pid':>8} {'height':>7} {'lag':>4}  "
    header += f"{'syncing':<8} {'peers':>5} {'last block':>10}  {'app version':<12} {'metrics':<8} "
    header += f"{'rpc':<24} app hash at common height"
    lines.append(header)
    for entry in report["nodes"]:
        pids = entry["pids"]
        running = (
            "yes"
            if entry["running"]
            else ("partly" if any(p is not None for p in pids.values()) else "no")
        )
        height = "-" if entry["height"] is None else str(entry["height"])
        lag = "-" if entry["lag"] is None else str(entry["lag"])
        peers = "-" if entry["peers"] is None else str(entry["peers"])
        age = entry["seconds_since_block"]
        last = "-" if age is None else f"{age:.1f} s ago"
        version = entry["app_version"]
        shown = "-" if version is None else f"{version['version']}/{version['app_version']}"
        lines.append(
            f"{entry['moniker']:<6} {running:<8} {pids['app'] or '-':>8} "
            f"{pids['cometbft'] or '-':>8} {height:>7} {lag:>4}  "
            f"{_yes_no(entry['catching_up']):<8} {peers:>5} {last:>10}  {shown:<12} "
            f"{_yes_no(entry['app_metrics_ok']):<8} {entry['rpc']:<24} {entry['app_hash'] or '-'}"
        )
    lines.append("")
    common = report["common_height"]
    compared = sum(1 for entry in report["nodes"] if entry["height"])
    if not report["answering"]:
        lines.append("no node answers on its RPC")
    elif common is None:
        lines.append("no node has committed a block yet")
    elif report["app_hashes_agree"]:
        lines.append(
            f"common height {common}: the {compared} nodes with blocks agree on the app hash"
        )
    else:
        lines.append(f"common height {common}: APP HASHES DIFFER between nodes")
    for entry in report["nodes"]:
        if entry["error"]:
            lines.append(f"{entry['moniker']}: {entry['error']}")
    lines.append(report["verdict"])
    return "\n".join(lines)
