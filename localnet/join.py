"""Adding a full node to a running localnet, by state sync or by replaying
blocks (issue 8, "state sync"; docs/state-sync.md).

:func:`add_node` makes node ``N`` (the next index; ports
``Ports.of(N, port_offset)``) beside the validators: ``cometbft init``, the
network's genesis, a config.toml with every other node as a persistent peer,
and the app's settings. It is recorded in the state file with
``validator: false`` (it is not in the validator set), so ``status``,
``stop-node``, ``start-node`` and ``down`` handle it like any node.

With ``state_sync`` the node's ``[statesync]`` section is turned on: two
validators' RPC servers for the light client, and a trust height and hash
read from a validator's latest block (on a localnet the operator trusts its
own validators; on a real network they come from a source the operator
trusts). CometBFT then fetches a snapshot the validators took (they take
one every ``snapshot_interval`` blocks), the app restores it after checking
it against the light-client-verified app hash, and the node block-syncs
from there: it never executes the blocks before the snapshot. Without
``state_sync`` it replays every block from genesis.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable

from clients.rpc import RPC, RPCError
from localnet import procs, tomledit
from localnet.commands import run_cometbft
from localnet.create import write_app_config, write_node_config
from localnet.errors import HomeError, PortInUse, StartError
from localnet.layout import APP_HOST, Network, Node, Ports, check_ports_range
from localnet.network import (
    LOCALNET_SNAPSHOT_INTERVAL,
    _stop_started,
    _wait_rpc,
    locked,
    start_nodes,
)

# A light client may trust the validators for this long after the trusted
# block; a localnet is young, so CometBFT's default is ample.
TRUST_PERIOD = "168h0m0s"
# How long CometBFT looks for snapshots before picking one: its minimum
# (the default is 15 s), since every validator of a localnet answers at once.
DISCOVERY_TIME = "5s"
# CometBFT serves RPC only after its handshake with the app, and a node that
# replays from genesis runs InitChain in it: about half a minute for a
# million accounts on a loaded machine.
START_TIMEOUT = 300.0
# How long before a chunk is asked for again from another peer: CometBFT's
# minimum; a localnet's chunks come in milliseconds unless a peer is gone.
CHUNK_REQUEST_TIMEOUT = "5s"


def add_node(
    network: Network,
    *,
    state_sync: bool,
    log: Callable[[str], None] = lambda _: None,
    timeout: float = START_TIMEOUT,
) -> Node:
    """Create, record and start a full node that joins ``network``; return it.

    Returns once the node's processes run and its RPC answers; whether it
    catches up is for the caller to watch (its ``/status`` reports
    ``catching_up``).

    Raises:
        HomeError: the network cannot take a node here (state sync on the
            kvstore app, a network of other machines or namespaces).
        PortInUse: one of the new node's ports is taken.
        LocalnetError: a validator's RPC does not answer, or a step failed;
            nothing of the new node is left behind.
    """
    if network.app != "mgrid" and state_sync:
        raise HomeError(f"state sync needs the mgrid app; {network.home} runs {network.app}")
    if network.remote or network.netns is not None:
        raise HomeError(
            f"{network.home} runs its nodes on other hosts or in network namespaces; "
            "add-node adds nodes to a localnet of this machine only"
        )
    with locked(network):
        validators = [n for n in network.nodes if n.validator]
        if not validators:
            raise HomeError(f"{network.home} records no validator")
        index = len(network.nodes)
        check_ports_range(index + 1, network.port_offset)
        ports = Ports.of(index, network.port_offset)
        for name, port in ports.named().items():
            host = APP_HOST if name == "abci" else network.listen_host
            if not procs.port_free(host, port):
                raise PortInUse(
                    f"port {port} ({name} of the new node{index}) on {host} is in use; "
                    "stop what holds it or add the node to a localnet at another --port-offset"
                )
        home = network.home / f"node{index}"
        if home.exists():
            raise HomeError(f"{home} exists but {network.state_path} has no node{index}: remove it")
        trust = _trust_options(validators) if state_sync else None
        log(
            f"adding node{index} to {network.chain_id} "
            + ("by state sync" if state_sync else "by replaying blocks from genesis")
        )
        node = Node(
            index=index,
            host=validators[0].host,
            ports=ports,
            node_id="",
            validator=False,
        )
        started = []
        try:
            run_cometbft("init", "--home", str(home))
            node.node_id = run_cometbft("show-node-id", "--home", str(home)).strip()
            (home / "logs").mkdir(exist_ok=True)
            shutil.copyfile(
                network.node_home(validators[0]) / "config" / "genesis.json",
                home / "config" / "genesis.json",
            )
            network.nodes.append(node)
            write_node_config(network, node)
            if trust is not None:
                tomledit.edit_file(home / "config" / "config.toml", trust)
            if network.app == "mgrid":
                write_app_config(network, node, snapshot_interval=LOCALNET_SNAPSHOT_INTERVAL)
            network.save()
            started = start_nodes(network, [node])
            _wait_rpc(network, node, timeout)
        except BaseException:
            _stop_started(network, started)
            if node in network.nodes:
                network.nodes.remove(node)
                network.save()
            shutil.rmtree(home, ignore_errors=True)
            raise
    log(f"node{index} started: rpc {node.rpc_url}, logs in {home / 'logs'}")
    return node


def _trust_options(validators: list[Node]) -> dict[tuple[str, str], tomledit.Scalar]:
    """config.toml's [statesync] settings: two validators' RPC and a trusted block."""
    servers = [v.rpc_url for v in validators[:2]]
    if len(servers) == 1:
        servers *= 2  # CometBFT wants two; with one validator it is primary and witness
    header = None
    last_error: Exception | None = None
    for validator in validators:
        try:
            header = RPC(validator.rpc_url, timeout=5.0).commit()["signed_header"]
            break
        except (RPCError, KeyError) as exc:
            last_error = exc
    if header is None:
        raise StartError(f"no validator's RPC gave a trusted block for state sync: {last_error}")
    return {
        ("statesync", "enable"): True,
        ("statesync", "rpc_servers"): ",".join(servers),
        ("statesync", "trust_height"): int(header["header"]["height"]),
        ("statesync", "trust_hash"): str(header["commit"]["block_id"]["hash"]),
        ("statesync", "trust_period"): TRUST_PERIOD,
        ("statesync", "discovery_time"): DISCOVERY_TIME,
        ("statesync", "chunk_request_timeout"): CHUNK_REQUEST_TIMEOUT,
    }
