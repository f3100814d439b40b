"""The shape of a localnet: ports, addresses, directories and the state file.

A localnet home ``DIR`` holds::

    DIR/localnet.json          this module's state file (ports, pids, chain id, app)
    DIR/keyring/               test-backend keyring with the funded keys
    DIR/node{i}/config/        CometBFT config of node i (config.toml, genesis.json, keys)
    DIR/node{i}/data/          CometBFT data of node i, and the app's data (app.db)
    DIR/node{i}/logs/          cometbft.log and app.log of node i

The state file may also hold a ``netns`` section (:class:`NetnsSection`)
for a network whose nodes run in network namespaces of this machine (see
:mod:`localnet.netns`), and ``"remote": true`` for node homes written by
``testnet`` for other machines, which nothing here starts or stops. Both
keys are optional, so state files written before they existed still load.

Ports of node ``i`` with port offset ``K`` are ``base + 10*i + K`` for the
bases below. Host addresses are kept in one place, the ``host`` of each node
and the network's ``listen_host`` in the state file (both default to
:data:`LOCAL_HOST`), so the same homes work across machines once those
addresses are changed and the configs rewritten.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localnet.errors import HomeError

# The only addresses the tooling knows. LOCAL_HOST is where nodes listen and
# how they reach each other on one machine; APP_HOST is where CometBFT finds
# its ABCI app, which always runs next to it. ANY_HOST is where the servers of
# a node that has a host (or a network namespace) of its own listen.
LOCAL_HOST = "127.0.0.1"
APP_HOST = "127.0.0.1"
ANY_HOST = "0.0.0.0"

P2P_BASE = 26656
RPC_BASE = 26657
ABCI_BASE = 26658
PROMETHEUS_BASE = 26660
APP_METRICS_BASE = 26661  # the app's own Prometheus endpoint (mgridd)
GRPC_BASE = 9090
NODE_STRIDE = 10
MAX_PORT = 65535

APP_KINDS = ("mgrid", "kvstore")
DEFAULT_CHAIN_ID = "mg-1"
DEFAULT_VALIDATORS = 4
DEFAULT_BLOCK_TIME = 1.0
VALIDATOR_POWER = 10

STATE_FILE = "localnet.json"
STATE_VERSION = 1
KEYRING_DIR = "keyring"
KEYRING_BACKEND = "test"
# Funded keys of every localnet and their genesis balances (smallest unit of the denom).
FUNDED_KEYS: dict[str, int] = {"faucet": 10**15, "utility": 10**12, "regulator": 10**9}

PROCESS_KINDS = ("app", "cometbft")

_CHAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")


def default_home(chain_id: str, cwd: Path | None = None) -> Path:
    """``.localnet/<chain-id>`` under the current working directory."""
    return (cwd or Path.cwd()) / ".localnet" / chain_id


def check_chain_id(chain_id: str) -> None:
    """Reject chain ids CometBFT would refuse or that make awkward directory names."""
    if not _CHAIN_ID.match(chain_id):
        raise HomeError(
            f"invalid chain id {chain_id!r}: use 1-50 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


@dataclass(frozen=True)
class Ports:
    """The TCP ports of one node."""

    p2p: int
    rpc: int
    abci: int
    grpc: int
    prometheus: int
    metrics: int

    @classmethod
    def of(cls, index: int, offset: int) -> Ports:
        """Ports of node ``index`` (0-based) with port offset ``offset``."""
        shift = NODE_STRIDE * index + offset
        return cls(
            p2p=P2P_BASE + shift,
            rpc=RPC_BASE + shift,
            abci=ABCI_BASE + shift,
            grpc=GRPC_BASE + shift,
            prometheus=PROMETHEUS_BASE + shift,
            metrics=APP_METRICS_BASE + shift,
        )

    @classmethod
    def standard(cls, shift: int = 0) -> Ports:
        """The standard ports of a node that has a host of its own, all moved by ``shift``."""
        return cls.of(0, shift)

    def named(self) -> dict[str, int]:
        return asdict(self)


def check_ports_range(validators: int, offset: int) -> None:
    if offset < 0:
        raise HomeError(f"port offset must be >= 0, got {offset}")
    highest = Ports.of(validators - 1, offset).metrics
    if highest > MAX_PORT:
        raise HomeError(
            f"{validators} validators at port offset {offset} need port {highest} > {MAX_PORT}"
        )


@dataclass
class Process:
    """A process the localnet started.

    ``start_time`` is the kernel's start time of the pid (clock ticks since
    boot, from /proc) so a pid reused by an unrelated process is never
    signalled; it is None where /proc is not available.
    """

    pid: int
    start_time: int | None
    argv: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Process:
        return cls(pid=int(data["pid"]), start_time=data.get("start_time"), argv=list(data["argv"]))


@dataclass
class Node:
    """One validator: a CometBFT node and its app process."""

    index: int
    host: str
    ports: Ports
    node_id: str
    processes: dict[str, Process] = field(default_factory=dict)
    # False for a full node added after genesis (it is not in the validator set).
    validator: bool = True

    @property
    def moniker(self) -> str:
        return f"node{self.index}"

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.ports.rpc}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.ports.grpc}"

    @property
    def p2p_address(self) -> str:
        """``node_id@host:port``, as in persistent_peers."""
        return f"{self.node_id}@{self.host}:{self.ports.p2p}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.host}:{self.ports.prometheus}/metrics"

    @property
    def app_metrics_url(self) -> str:
        """The app's (mgridd's) own Prometheus endpoint, next to CometBFT's."""
        return f"http://{self.host}:{self.ports.metrics}/metrics"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "moniker": self.moniker,
            "host": self.host,
            "node_id": self.node_id,
            "validator": self.validator,
            "ports": self.ports.named(),
            "processes": {kind: asdict(proc) for kind, proc in self.processes.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        ports = {k: int(v) for k, v in data["ports"].items()}
        ports.setdefault("metrics", ports["prometheus"] + 1)  # homes made before it existed
        return cls(
            index=int(data["index"]),
            host=str(data["host"]),
            ports=Ports(**ports),
            node_id=str(data["node_id"]),
            validator=bool(data.get("validator", True)),
            processes={
                kind: Process.from_json(proc) for kind, proc in data.get("processes", {}).items()
            },
        )


@dataclass
class NetnsSection:
    """Where the nodes of a network-namespace network live (see :mod:`localnet.netns`).

    Node ``i`` runs in namespace ``namespaces[i]``, whose ``eth0`` is the
    peer of ``veths[i]`` on ``bridge`` in the root namespace; the bridge
    holds ``bridge_address`` so this machine reaches every node. Every name
    contains ``tag``, which is unique to the home. ``partition`` lists the
    groups of node indexes that can only reach each other (None: all connected).
    """

    tag: str
    subnet: str
    bridge: str
    bridge_address: str
    namespaces: list[str]
    veths: list[str]
    partition: list[list[int]] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetnsSection:
        partition = data.get("partition")
        return cls(
            tag=str(data["tag"]),
            subnet=str(data["subnet"]),
            bridge=str(data["bridge"]),
            bridge_address=str(data["bridge_address"]),
            namespaces=[str(name) for name in data["namespaces"]],
            veths=[str(name) for name in data["veths"]],
            partition=None
            if partition is None
            else [[int(i) for i in group] for group in partition],
        )


@dataclass
class Network:
    """A localnet as recorded in its state file."""

    home: Path
    chain_id: str
    app: str
    block_time: float
    port_offset: int
    listen_host: str
    nodes: list[Node]
    keys: dict[str, str] = field(default_factory=dict)
    netns: NetnsSection | None = None
    # Node homes for other machines (``testnet``): described here, run elsewhere.
    remote: bool = False

    @property
    def state_path(self) -> Path:
        return self.home / STATE_FILE

    @property
    def keyring_dir(self) -> Path:
        return self.home / KEYRING_DIR

    def node_home(self, node: Node) -> Path:
        return self.home / node.moniker

    def log_path(self, node: Node, kind: str) -> Path:
        """Log file of process ``kind`` ("app" or "cometbft") of ``node``."""
        return self.node_home(node) / "logs" / f"{kind}.log"

    def node(self, index: int) -> Node:
        if not 0 <= index < len(self.nodes):
            raise HomeError(
                f"no node {index} in {self.home}: it has nodes 0..{len(self.nodes) - 1}"
            )
        return self.nodes[index]

    def namespace_of(self, node: Node) -> str | None:
        """The network namespace ``node`` runs in, or None when it runs in this one."""
        return self.netns.namespaces[node.index] if self.netns is not None else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": STATE_VERSION,
            "chain_id": self.chain_id,
            "app": self.app,
            "validators": len(self.nodes),
            "block_time": self.block_time,
            "port_offset": self.port_offset,
            "listen_host": self.listen_host,
            "keys": dict(self.keys),
            "nodes": [node.to_json() for node in self.nodes],
        }
        if self.netns is not None:
            data["netns"] = self.netns.to_json()
        if self.remote:
            data["remote"] = True
        return data

    def save(self) -> None:
        """Write the state file atomically (a reader never sees half a file)."""
        tmp = self.state_path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.state_path)

    def reload(self) -> None:
        """Re-read the processes and keys recorded on disk (another command may have changed them)."""
        fresh = Network.load(self.home)
        self.nodes = fresh.nodes
        self.keys = fresh.keys
        self.netns = fresh.netns

    @classmethod
    def load(cls, home: Path) -> Network:
        """Read the network recorded under ``home``.

        Raises:
            HomeError: there is no localnet at ``home`` or its state file is unreadable.
        """
        home = home.resolve()
        path = home / STATE_FILE
        if not path.is_file():
            hint = "" if home.exists() else " (the directory does not exist)"
            raise HomeError(
                f"no localnet at {home}{hint}: {STATE_FILE} is missing; "
                "start one with `python -m localnet up` or pass --home"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != STATE_VERSION:
                raise HomeError(
                    f"{path} has state version {data.get('version')!r}, "
                    f"this tool reads version {STATE_VERSION}"
                )
            return cls(
                home=home,
                chain_id=str(data["chain_id"]),
                app=str(data["app"]),
                block_time=float(data["block_time"]),
                port_offset=int(data["port_offset"]),
                listen_host=str(data["listen_host"]),
                keys={str(k): str(v) for k, v in data.get("keys", {}).items()},
                nodes=[Node.from_json(node) for node in data["nodes"]],
                netns=NetnsSection.from_json(data["netns"]) if data.get("netns") else None,
                remote=bool(data.get("remote", False)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise HomeError(f"cannot read {path}: {exc!r}") from None
