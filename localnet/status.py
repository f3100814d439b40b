"""What a localnet is doing: processes, heights and whether the nodes agree.

The app hash compared across nodes is the one in the header of the block at
the common height H (the lowest height every answering node has reached),
that is, the application state after block H-1, as committed by each node's
own block store. Nodes that agree on it executed the same blocks to the same
state; a node whose app disagreed would have refused block H.
"""

from __future__ import annotations

from typing import Any

from clients.rpc import RPC, RPCError
from localnet import procs
from localnet.layout import PROCESS_KINDS, Network, Node

RPC_TIMEOUT = 3.0
BLOCKCHAIN_PAGE = 20  # CometBFT's /blockchain returns at most 20 block metas per call


def _pid(node: Node, kind: str) -> int | None:
    proc = node.processes.get(kind)
    return proc.pid if proc is not None and procs.is_alive(proc) else None


def node_status(network: Network, node: Node) -> dict[str, Any]:
    """One node's processes and, if its RPC answers, its sync info."""
    pids = {kind: _pid(node, kind) for kind in PROCESS_KINDS}
    entry: dict[str, Any] = {
        "index": node.index,
        "moniker": node.moniker,
        "rpc": node.rpc_url,
        "grpc": node.grpc_address,
        "p2p": node.p2p_address,
        "prometheus": node.prometheus_url,
        "logs": {kind: str(network.log_path(node, kind)) for kind in PROCESS_KINDS},
        "pids": pids,
        "running": all(pid is not None for pid in pids.values()),
        "height": None,
        "catching_up": None,
        "latest_app_hash": None,
        "app_hash": None,
        "error": None,
    }
    try:
        sync = RPC(node.rpc_url, timeout=RPC_TIMEOUT).status()["sync_info"]
    except (RPCError, KeyError) as exc:
        entry["error"] = str(exc)
        return entry
    entry["height"] = int(sync["latest_block_height"])
    entry["catching_up"] = bool(sync["catching_up"])
    entry["latest_app_hash"] = sync["latest_app_hash"]
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


def collect(network: Network) -> dict[str, Any]:
    """The status of every node, the common height and whether the app hashes agree."""
    nodes = [node_status(network, node) for node in network.nodes]
    answering = [entry for entry in nodes if entry["height"] is not None]
    common = min((entry["height"] for entry in answering), default=None)
    if common:
        for entry in answering:
            try:
                entry["app_hash"] = header_app_hash(entry["rpc"], common)
            except (RPCError, KeyError) as exc:
                entry["error"] = f"block {common}: {exc}"
    hashes = {entry["app_hash"] for entry in answering}
    return {
        "home": str(network.home),
        "chain_id": network.chain_id,
        "app": network.app,
        "validators": len(network.nodes),
        "keyring": str(network.keyring_dir),
        "keys": dict(network.keys),
        "all_running": all(entry["running"] for entry in nodes),
        "answering": len(answering),
        "common_height": common,
        "app_hashes_agree": bool(answering) and None not in hashes and len(hashes) == 1,
        "nodes": nodes,
    }


def render(report: dict[str, Any]) -> str:
    """A terminal table of :func:`collect`'s report."""
    lines = [f"localnet {report['chain_id']} ({report['app']} app) at {report['home']}", ""]
    header = f"{'node':<6} {'running':<8} {'app pid':>8} {'cmt pid':>8} {'height':>7}  "
    header += f"{'syncing':<8} {'rpc':<24} app hash at common height"
    lines.append(header)
    for entry in report["nodes"]:
        pids = entry["pids"]
        running = (
            "yes"
            if entry["running"]
            else ("partly" if any(p is not None for p in pids.values()) else "no")
        )
        height = "-" if entry["height"] is None else str(entry["height"])
        syncing = "-" if entry["catching_up"] is None else ("yes" if entry["catching_up"] else "no")
        lines.append(
            f"{entry['moniker']:<6} {running:<8} {pids['app'] or '-':>8} "
            f"{pids['cometbft'] or '-':>8} {height:>7}  {syncing:<8} {entry['rpc']:<24} "
            f"{entry['app_hash'] or '-'}"
        )
    lines.append("")
    common = report["common_height"]
    if common is None:
        lines.append("no node answers on its RPC")
    elif report["app_hashes_agree"]:
        lines.append(
            f"common height {common}: the {report['answering']} answering nodes agree on the app hash"
        )
    else:
        lines.append(f"common height {common}: APP HASHES DIFFER between nodes")
    for entry in report["nodes"]:
        if entry["error"]:
            lines.append(f"{entry['moniker']}: {entry['error']}")
    return "\n".join(lines)
