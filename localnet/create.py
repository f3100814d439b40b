"""Creating a localnet home: node homes, the keyring, one shared genesis, node configs.

Each node home is made by ``cometbft init``; then one genesis.json with every
validator (power :data:`~localnet.layout.VALIDATOR_POWER`) and the app's
genesis state funding the keyring's keys is written to all of them, and each
node's config.toml is edited for its ports, peers and timeouts. An mgrid
node also gets config/app.toml, so ``mgridd start --home NODE`` needs no
flags wherever the home is copied.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.genesis import (
    DEMO_MARKET_PARAMS,
    DEMO_REPUTATION_PARAMS,
    DEMO_SETTLEMENT_PARAMS,
    default_app_state,
)
from localnet import tomledit
from localnet.commands import run_cometbft
from localnet.errors import HomeError, LocalnetError
from localnet.layout import (
    APP_HOST,
    FUNDED_KEYS,
    KEYRING_BACKEND,
    LOCAL_HOST,
    VALIDATOR_POWER,
    NetnsSection,
    Network,
    Node,
    Ports,
    check_chain_id,
    check_ports_range,
)

APP_CONFIG = "app.toml"

# Consensus timeouts. CometBFT's defaults suit a loaded 2-core machine running
# four validators and their Python apps: a proposal gets 3 s (plus 0.5 s per
# round) before validators prevote nil, votes get 1 s. Only timeout_commit,
# the pause after a commit, follows the requested block time.
TIMEOUT_PROPOSE = "3s"
TIMEOUT_PREVOTE = "1s"
TIMEOUT_PRECOMMIT = "1s"
# Redial a persistent peer at least this often, so a restarted validator is
# reconnected promptly however long it was down.
PEER_MAX_DIAL_PERIOD = "10s"


def _duration(seconds: float) -> str:
    """A Go duration string in whole milliseconds ("500ms")."""
    return f"{round(seconds * 1000)}ms"


def create_network(
    home: Path,
    *,
    chain_id: str,
    validators: int,
    port_offset: int,
    block_time: float,
    app: str,
    hosts: Sequence[str] | None = None,
    listen_host: str = LOCAL_HOST,
    ports: Sequence[Ports] | None = None,
    snapshot_interval: int = 0,
    netns: NetnsSection | None = None,
) -> Network:
    """Create a new localnet under ``home`` (which must not exist) and record it.

    ``hosts`` are the addresses of the nodes as their peers and clients see
    them (all :data:`~localnet.layout.LOCAL_HOST` by default); ``listen_host``
    is the address their servers bind. ``ports`` are each node's ports
    (default :meth:`Ports.of` with ``port_offset``: distinct ports on one
    host; nodes on hosts of their own use :meth:`Ports.standard`).
    ``snapshot_interval`` goes to the app's config (0: no state-sync snapshots).
    ``netns`` records the network namespaces the nodes will run in.

    Raises:
        HomeError: bad options or ``home`` already exists.
        LocalnetError: a step failed; the partly created home is removed.
    """
    check_chain_id(chain_id)
    if validators < 1:
        raise HomeError(f"need at least 1 validator, got {validators}")
    if block_time <= 0:
        raise HomeError(f"block time must be > 0 seconds, got {block_time}")
    check_ports_range(validators, port_offset)
    hosts = list(hosts) if hosts is not None else [LOCAL_HOST] * validators
    if len(hosts) != validators:
        raise HomeError(f"{len(hosts)} hosts given for {validators} validators")
    node_ports = list(ports) if ports is not None else None
    if node_ports is not None and len(node_ports) != validators:
        raise HomeError(f"{len(node_ports)} port sets given for {validators} validators")
    if snapshot_interval < 0:
        raise HomeError(f"snapshot interval must be >= 0 blocks, got {snapshot_interval}")
    home = home.resolve()
    try:
        home.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise HomeError(f"{home} already exists") from None

    try:
        network = Network(
            home=home,
            chain_id=chain_id,
            app=app,
            block_time=block_time,
            port_offset=port_offset,
            listen_host=listen_host,
            nodes=[],
            netns=netns,
        )
        for index in range(validators):
            node_home = home / f"node{index}"
            run_cometbft("init", "--home", str(node_home))
            node_id = run_cometbft("show-node-id", "--home", str(node_home)).strip()
            (node_home / "logs").mkdir()
            node = Node(
                index=index,
                host=hosts[index],
                ports=node_ports[index] if node_ports else Ports.of(index, port_offset),
                node_id=node_id,
            )
            network.nodes.append(node)
        network.keys = create_keyring(network.keyring_dir)
        genesis = build_genesis(network, datetime.now(UTC))
        for node in network.nodes:
            write_genesis(network.node_home(node) / "config" / "genesis.json", genesis)
            write_node_config(network, node)
            if app == "mgrid":
                write_app_config(network, node, snapshot_interval=snapshot_interval)
        network.save()
    except BaseException:
        shutil.rmtree(home, ignore_errors=True)
        raise
    return network


def create_keyring(directory: Path) -> dict[str, str]:
    """Create the unencrypted test keyring with the funded keys; return name -> address."""
    try:
        from clients.mgrid.keyring import Keyring, KeyringError
    except ImportError as exc:
        raise LocalnetError(f"cannot create the localnet keyring: {exc}") from None
    try:
        keyring = Keyring(directory, backend=KEYRING_BACKEND)
        return {name: str(keyring.add(name).address) for name in FUNDED_KEYS}
    except KeyringError as exc:
        raise LocalnetError(f"cannot create the localnet keyring in {directory}: {exc}") from None


def build_genesis(network: Network, genesis_time: datetime) -> dict[str, Any]:
    """The shared genesis document: node 0's consensus params, every validator, app state."""
    first = _read_json(network.node_home(network.nodes[0]) / "config" / "genesis.json")
    validators = []
    for node in network.nodes:
        key = _read_json(network.node_home(node) / "config" / "priv_validator_key.json")
        validators.append(
            {
                "address": key["address"],
                "pub_key": key["pub_key"],
                "power": str(VALIDATOR_POWER),
                "name": node.moniker,
            }
        )
    balances = {network.keys[name]: amount for name, amount in FUNDED_KEYS.items()}
    stamp = genesis_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "genesis_time": stamp,
        "chain_id": network.chain_id,
        "initial_height": "1",
        "consensus_params": first["consensus_params"],
        "validators": validators,
        "app_hash": "",
        "app_state": default_app_state(
            balances=balances,
            utility=network.keys["utility"],
            regulator=network.keys["regulator"],
            market_params=DEMO_MARKET_PARAMS,
            settlement_params=DEMO_SETTLEMENT_PARAMS,
            reputation_params=DEMO_REPUTATION_PARAMS,
        ),
    }


def write_genesis(path: Path, genesis: dict[str, Any]) -> None:
    path.write_text(json.dumps(genesis, indent=2) + "\n", encoding="utf-8")


def node_config(network: Network, node: Node) -> dict[tuple[str, str], tomledit.Scalar]:
    """The config.toml settings of ``node`` that differ from ``cometbft init``'s."""
    listen = network.listen_host
    peers = ",".join(other.p2p_address for other in network.nodes if other is not node)
    # CometBFT refuses a second peer from one IP unless told; that is only
    # wanted where several nodes share a host.
    shared_ip = len({other.host for other in network.nodes}) < len(network.nodes)
    return {
        ("", "proxy_app"): f"tcp://{APP_HOST}:{node.ports.abci}",
        ("", "moniker"): node.moniker,
        ("", "log_level"): "info",
        ("", "log_format"): "plain",
        ("rpc", "laddr"): f"tcp://{listen}:{node.ports.rpc}",
        ("p2p", "laddr"): f"tcp://{listen}:{node.ports.p2p}",
        ("p2p", "external_address"): f"{node.host}:{node.ports.p2p}",
        ("p2p", "persistent_peers"): peers,
        ("p2p", "persistent_peers_max_dial_period"): PEER_MAX_DIAL_PERIOD,
        ("p2p", "allow_duplicate_ip"): shared_ip,
        ("p2p", "addr_book_strict"): False,
        ("consensus", "timeout_propose"): TIMEOUT_PROPOSE,
        ("consensus", "timeout_prevote"): TIMEOUT_PREVOTE,
        ("consensus", "timeout_precommit"): TIMEOUT_PRECOMMIT,
        ("consensus", "timeout_commit"): _duration(network.block_time),
        ("instrumentation", "prometheus"): True,
        ("instrumentation", "prometheus_listen_addr"): f"{listen}:{node.ports.prometheus}",
    }


def write_node_config(network: Network, node: Node) -> None:
    """Edit ``node``'s config.toml for its ports, peers and timeouts (comments are kept)."""
    tomledit.edit_file(
        network.node_home(node) / "config" / "config.toml", node_config(network, node)
    )


def app_config(network: Network, node: Node, snapshot_interval: int = 0) -> dict[str, Any]:
    """The settings of ``node``'s mgridd (config/app.toml; see app.daemon.DEFAULTS)."""
    listen = network.listen_host
    return {
        "abci_address": f"tcp://{APP_HOST}:{node.ports.abci}",
        "grpc_address": f"{listen}:{node.ports.grpc}",
        "metrics_address": f"{listen}:{node.ports.metrics}",
        "snapshot_interval": snapshot_interval,
        "log_format": "text",
        "log_level": "info",
    }


_APP_CONFIG_COMMENTS = {
    "abci_address": "where CometBFT's proxy_app connects (always this machine)",
    "grpc_address": "the typed query service ('' = off)",
    "metrics_address": "the app's Prometheus endpoint, next to CometBFT's ('' = off)",
    "snapshot_interval": "a state-sync snapshot every N blocks (0 = none)",
    "log_format": "text or json",
    "log_level": "debug, info, warning or error",
}


def write_app_config(network: Network, node: Node, snapshot_interval: int = 0) -> None:
    """Write ``node``'s config/app.toml, read by ``mgridd start --home NODE``."""
    lines = [
        f"# mgridd settings of {node.moniker} of {network.chain_id}.",
        "# Flags of `mgridd start` override these; see app/daemon.py for every key.",
        "",
    ]
    for key, value in app_config(network, node, snapshot_interval).items():
        lines.append(f"# {_APP_CONFIG_COMMENTS[key]}")
        lines.append(f"{key} = {tomledit.format_value(value)}")
    path = network.node_home(node) / "config" / APP_CONFIG
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LocalnetError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise LocalnetError(f"{path} does not hold a JSON object")
    return data
