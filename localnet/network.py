"""Running a localnet: bring it up, stop and start nodes, take it down.

``up`` creates the home on first use (see :mod:`localnet.create`), then
starts whatever is not running, app before CometBFT on every node (CometBFT
refuses to start when its ABCI app does not answer), and waits until the
chain commits. If anything fails on the way, the processes this call
started are stopped again and the error names the log file to read.

Mutating commands take an exclusive lock on the home, so two of them never
race on the state file.

Everything here also works on a network whose nodes live in network
namespaces (:mod:`localnet.netns`, which creates the namespaces and starts
it): each process is started inside its node's namespace, and port and
listen checks look there.
"""

from __future__ import annotations

import contextlib
import fcntl
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from clients.rpc import RPC, RPCError
from localnet import procs
from localnet.commands import app_argv, cometbft_argv
from localnet.create import create_network
from localnet.errors import HomeError, LocalnetError, PortInUse, StartError
from localnet.layout import (
    APP_HOST,
    DEFAULT_BLOCK_TIME,
    DEFAULT_CHAIN_ID,
    DEFAULT_VALIDATORS,
    LOCAL_HOST,
    STATE_FILE,
    Network,
    Node,
    Ports,
    Process,
    check_ports_range,
    default_home,
)

UP_TIMEOUT = 90.0
APP_LISTEN_TIMEOUT = 30.0
NODE_RPC_TIMEOUT = 30.0
POLL_INTERVAL = 0.25
LOCK_FILE = ".lock"
# Validators of a localnet made by `up` take a state-sync snapshot every 10
# blocks (app.toml snapshot_interval), so a node added with `add-node
# --state-sync` finds a recent one within seconds; a localnet's state is
# small, so each costs milliseconds and the two kept little disk.
LOCALNET_SNAPSHOT_INTERVAL = 10


@dataclass(frozen=True)
class UpOptions:
    """Options of ``up``; None means "not given" (the default, or the recorded value)."""

    home: Path | None = None
    chain_id: str | None = None
    validators: int | None = None
    port_offset: int | None = None
    block_time: float | None = None
    app: str | None = None
    timeout: float = UP_TIMEOUT

    def resolved_home(self) -> Path:
        return (self.home or default_home(self.chain_id or DEFAULT_CHAIN_ID)).resolve()


@contextlib.contextmanager
def locked(network: Network) -> Iterator[None]:
    """Hold the home's lock and re-read the state file under it.

    Fails at once if another localnet command holds the lock.
    """
    home = network.home
    with (home / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LocalnetError(
                f"another localnet command is running on {home}; wait for it to finish"
            ) from None
        try:
            network.reload()
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def load(home: Path) -> Network:
    return Network.load(home)


# -- up ---------------------------------------------------------------------------------------


def up(options: UpOptions, log: Callable[[str], None] = lambda _: None) -> tuple[Network, bool]:
    """Create the network if needed and start every node; return (network, created).

    Returns once every node reports a height of at least 2 and, for a
    network that already had blocks, the chain has committed a new block.

    Raises:
        HomeError: the home is not a localnet home or differs from the options given.
        PortInUse: a port the network needs is taken.
        StartError: a process exited or the chain did not progress in time;
            the processes started by this call have been stopped again.
    """
    home = options.resolved_home()
    created = False
    if (home / STATE_FILE).is_file():
        network = Network.load(home)
        if network.netns is not None:
            raise HomeError(
                f"{home} holds a network-namespace network; start it with "
                f"`python -m localnet netns up --home {home}`"
            )
        _check_matches(network, options)
    else:
        if home.exists() and any(home.iterdir()):
            raise HomeError(
                f"{home} exists but is not a localnet home ({STATE_FILE} is missing); "
                "remove it or choose another --home"
            )
        if home.exists():
            home.rmdir()
        chain_id = options.chain_id or DEFAULT_CHAIN_ID
        validators = options.validators or DEFAULT_VALIDATORS
        port_offset = options.port_offset or 0
        _check_new_ports(validators, port_offset)
        log(f"creating {validators}-validator localnet {chain_id} in {home}")
        network = create_network(
            home,
            chain_id=chain_id,
            validators=validators,
            port_offset=port_offset,
            block_time=options.block_time or DEFAULT_BLOCK_TIME,
            app=options.app or "mgrid",
            snapshot_interval=LOCALNET_SNAPSHOT_INTERVAL,
        )
        created = True
    with locked(network):
        log(f"starting {network.chain_id} ({network.app} app) in {network.home}")
        start_all_and_wait(network, options.timeout)
    return network, created


def start_all_and_wait(network: Network, timeout: float, commits: bool = True) -> None:
    """Start every stopped process and wait (the caller holds the lock).

    With ``commits``, waits as :func:`wait_for_chain` does; without (a
    partitioned network may not be able to commit), only until every node's
    RPC answers. What this call started is stopped again if that fails.
    """
    started = start_nodes(network, network.nodes)
    try:
        if commits:
            wait_for_chain(network, timeout)
        else:
            deadline = time.monotonic() + timeout
            for node in network.nodes:
                _wait_rpc(network, node, max(1.0, deadline - time.monotonic()))
    except BaseException:
        _stop_started(network, started)
        raise


def _check_matches(network: Network, options: UpOptions) -> None:
    """An existing home is re-used as recorded; options that contradict it are errors."""
    recorded = {
        "--chain-id": (options.chain_id, network.chain_id),
        "--validators": (options.validators, len(network.nodes)),
        "--port-offset": (options.port_offset, network.port_offset),
        "--block-time": (options.block_time, network.block_time),
        "--app": (options.app, network.app),
    }
    for flag, (given, actual) in recorded.items():
        if given is not None and given != actual:
            raise HomeError(
                f"{network.home} holds a localnet created with {flag} {actual}, not {given}; "
                f"run `python -m localnet down --home {network.home}` and remove the "
                "directory to create a different one, or drop the option"
            )


def _check_new_ports(validators: int, offset: int) -> None:
    check_ports_range(validators, offset)
    for index in range(validators):
        for name, port in Ports.of(index, offset).named().items():
            if not procs.port_free(LOCAL_HOST, port):
                raise PortInUse(_port_message(index, name, LOCAL_HOST, port))


def _port_message(index: int, name: str, host: str, port: int) -> str:
    return (
        f"port {port} (node{index} {name}) on {host} is in use by another process; "
        "is another localnet running? Stop it (`python -m localnet down --home DIR`) "
        "or pick a different --port-offset"
    )


# -- starting and stopping nodes ---------------------------------------------------------------


def start_nodes(network: Network, nodes: list[Node]) -> list[Process]:
    """Start the stopped processes of ``nodes`` (apps first); return those started.

    Returns when the apps listen and the CometBFT processes are launched;
    whether the chain then runs is for :func:`wait_for_chain` to see. On
    failure everything started here is stopped again.
    """
    _check_runnable(network, nodes)
    need_app: list[Node] = []
    need_cometbft: list[Node] = []
    for node in nodes:
        app = node.processes.get("app")
        cometbft = node.processes.get("cometbft")
        if app is None or not procs.is_alive(app):
            # A CometBFT whose app is gone is about to exit; restart both.
            _stop_kinds(network, [node], ("cometbft",))
            need_app.append(node)
            need_cometbft.append(node)
        elif cometbft is None or not procs.is_alive(cometbft):
            need_cometbft.append(node)
    # Resolve binaries and check every port before starting anything, so a
    # missing program or a port clash leaves nothing behind.
    app_argvs = {node.index: app_argv(network, node) for node in need_app}
    cometbft_argvs = {node.index: cometbft_argv(network, node) for node in need_cometbft}
    app_ports = ("abci", "grpc", "metrics") if network.app == "mgrid" else ("abci",)
    for node in need_app:
        _check_node_ports(network, node, app_ports)
    for node in need_cometbft:
        _check_node_ports(network, node, ("p2p", "rpc", "prometheus"))

    started: list[Process] = []
    try:
        for node in need_app:
            started.append(_spawn(network, node, "app", app_argvs[node.index]))
        _wait_apps_listening(network, need_app)
        for node in need_cometbft:
            started.append(_spawn(network, node, "cometbft", cometbft_argvs[node.index]))
    except BaseException:
        _stop_started(network, started)
        raise
    return started


def _check_runnable(network: Network, nodes: list[Node]) -> None:
    """Refuse to start nodes that belong to other machines or whose namespace is gone."""
    if network.remote:
        raise HomeError(
            f"{network.home} holds node homes for other machines (written by `testnet`); "
            "start each node on its own host (see the README.md there)"
        )
    for node in nodes:
        namespace = network.namespace_of(node)
        if namespace is not None and procs.netns_inode(namespace) is None:
            raise HomeError(
                f"{node.moniker}'s network namespace {namespace} does not exist; "
                f"recreate it with `python -m localnet netns up --home {network.home}`"
            )


def _spawn(network: Network, node: Node, kind: str, argv: list[str]) -> Process:
    proc = procs.spawn(
        argv,
        network.log_path(node, kind),
        cwd=network.node_home(node),
        netns=network.namespace_of(node),
    )
    node.processes[kind] = proc
    network.save()  # record the pid at once, so `down` finds it whatever happens next
    return proc


def _check_node_ports(network: Network, node: Node, names: tuple[str, ...]) -> None:
    ports = node.ports.named()
    for name in names:
        host = APP_HOST if name == "abci" else network.listen_host
        namespace = network.namespace_of(node)
        if not procs.port_free(host, ports[name], netns=namespace):
            where = host if namespace is None else f"{host} in network namespace {namespace}"
            raise PortInUse(_port_message(node.index, name, where, ports[name]))


def _wait_apps_listening(network: Network, nodes: list[Node]) -> None:
    deadline = time.monotonic() + APP_LISTEN_TIMEOUT
    pending = list(nodes)
    while pending:
        for node in list(pending):
            _raise_if_exited(network, node, "app", "while starting")
            app = node.processes["app"]
            if procs.is_listening(
                APP_HOST, node.ports.abci, pid=app.pid, netns=network.namespace_of(node)
            ):
                pending.remove(node)
        if not pending:
            return
        if time.monotonic() > deadline:
            node = pending[0]
            raise StartError(
                f"{node.moniker}'s app did not listen on {APP_HOST}:{node.ports.abci} within "
                f"{APP_LISTEN_TIMEOUT:.0f} s; read {network.log_path(node, 'app')}"
                + _log_tail(network, node, "app")
            )
        time.sleep(POLL_INTERVAL)


def _raise_if_exited(network: Network, node: Node, kind: str, when: str) -> None:
    proc = node.processes.get(kind)
    if proc is None or procs.is_alive(proc):
        return
    status = procs.exit_status(proc)
    how = f"exited with status {status}" if status is not None else "exited"
    raise StartError(
        f"{node.moniker}'s {kind} (pid {proc.pid}) {how} {when}; "
        f"read {network.log_path(node, kind)}" + _log_tail(network, node, kind)
    )


def _log_tail(network: Network, node: Node, kind: str) -> str:
    text = procs.tail(network.log_path(node, kind))
    return f"\n--- last lines of {network.log_path(node, kind)} ---\n{text}" if text else ""


def _stop_started(network: Network, started: list[Process]) -> None:
    """Stop processes started by a failed command and forget them in the state file."""
    # CometBFT first: it exits on its own when its app goes away, noisily.
    order = sorted(started, key=lambda p: 0 if _kind_of(network, p) == "cometbft" else 1)
    procs.terminate([p for p in order if _kind_of(network, p) == "cometbft"])
    procs.terminate([p for p in order if _kind_of(network, p) != "cometbft"])
    for node in network.nodes:
        for kind, proc in list(node.processes.items()):
            if proc in started and not procs.is_alive(proc):
                del node.processes[kind]
    network.save()


def _kind_of(network: Network, proc: Process) -> str:
    for node in network.nodes:
        for kind, recorded in node.processes.items():
            if recorded is proc:
                return kind
    return ""


def _stop_kinds(network: Network, nodes: list[Node], kinds: tuple[str, ...]) -> None:
    """Stop the ``kinds`` processes of ``nodes`` (in that order) and forget them."""
    for kind in kinds:
        recorded = [node.processes[kind] for node in nodes if kind in node.processes]
        survivors = procs.terminate(recorded)
        if survivors:
            pids = ", ".join(str(p.pid) for p in survivors)
            raise LocalnetError(f"could not stop {kind} process(es) {pids} even with SIGKILL")
        for node in nodes:
            node.processes.pop(kind, None)
    network.save()


def stop_nodes(network: Network, indexes: list[int]) -> list[Node]:
    """Stop both processes of each node in ``indexes``: CometBFT first, then its app."""
    with locked(network):
        nodes = [network.node(i) for i in indexes]
        _stop_kinds(network, nodes, ("cometbft", "app"))
    return nodes


def down(network: Network) -> None:
    """Stop every process of the network (SIGTERM, then SIGKILL after a timeout)."""
    stop_nodes(network, [node.index for node in network.nodes])


def start_node(network: Network, index: int, timeout: float = NODE_RPC_TIMEOUT) -> Node:
    """Start node ``index``'s stopped processes and wait until its RPC answers."""
    network.node(index)  # a bad index fails before taking the lock
    with locked(network):
        node = network.node(index)
        started = start_nodes(network, [node])
        try:
            _wait_rpc(network, node, timeout)
        except BaseException:
            _stop_started(network, started)
            raise
    return node


def stop_node(network: Network, index: int) -> Node:
    network.node(index)
    return stop_nodes(network, [index])[0]


def kill_app(network: Network, index: int) -> Process:
    """SIGKILL the app process of node ``index`` (a crash; CometBFT then exits by itself)."""
    return kill_process(network, index, "app")


def kill_process(network: Network, index: int, kind: str) -> Process:
    """SIGKILL process ``kind`` ("app" or "cometbft") of node ``index``, as a crash would."""
    network.node(index)
    with locked(network):
        node = network.node(index)
        proc = node.processes.get(kind)
        if proc is None or not procs.is_alive(proc):
            raise LocalnetError(f"{node.moniker}'s {kind} is not running")
        procs.send_signal(proc, signal.SIGKILL)
        if procs.wait_gone([proc], procs.KILL_TIMEOUT):
            raise LocalnetError(f"{node.moniker}'s {kind} (pid {proc.pid}) survived SIGKILL")
        del node.processes[kind]
        network.save()
    return proc


# -- waiting for the chain ---------------------------------------------------------------------


def _height(node: Node) -> int | None:
    try:
        return RPC(node.rpc_url, timeout=2.0).latest_height()
    except (RPCError, KeyError, ValueError):
        return None


def _or_minus_one(height: int | None) -> int:
    return -1 if height is None else height


def _wait_rpc(network: Network, node: Node, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _height(node) is None:
        _raise_if_exited(network, node, "app", "after starting")
        _raise_if_exited(network, node, "cometbft", "after starting")
        if time.monotonic() > deadline:
            raise StartError(
                f"{node.moniker}'s RPC at {node.rpc_url} did not answer within {timeout:.0f} s; "
                f"read {network.log_path(node, 'cometbft')}" + _log_tail(network, node, "cometbft")
            )
        time.sleep(POLL_INTERVAL)


def wait_for_chain(network: Network, timeout: float = UP_TIMEOUT, min_height: int = 2) -> int:
    """Wait until every node is at ``min_height`` or above and the chain has progressed.

    "Progressed" means the lowest node is above the highest height seen when
    all nodes first answered, so a restarted network is known to commit
    again. Returns the lowest node height.

    Raises:
        StartError: a process exited, or the deadline passed (naming the log to read).
    """
    deadline = time.monotonic() + timeout
    baseline: int | None = None
    heights: dict[int, int | None] = {}
    while True:
        for node in network.nodes:
            for kind in ("app", "cometbft"):
                _raise_if_exited(network, node, kind, "while the chain was starting")
        heights = {node.index: _height(node) for node in network.nodes}
        known = [h for h in heights.values() if h is not None]
        if len(known) == len(heights):
            if baseline is None:
                baseline = max(known)
            if min(known) >= max(min_height, baseline + 1):
                return min(known)
        if time.monotonic() > deadline:
            break
        time.sleep(POLL_INTERVAL)
    # Name the log of the node that is furthest behind.
    worst = min(network.nodes, key=lambda n: _or_minus_one(heights[n.index]))
    shown = ", ".join(
        f"{network.node(i).moniker}: {'no RPC answer' if h is None else h}"
        for i, h in heights.items()
    )
    target = max(min_height, (baseline or 0) + 1)
    raise StartError(
        f"the chain did not reach height {target} on every node within {timeout:.0f} s "
        f"({shown}); read {network.log_path(worst, 'cometbft')}"
        + _log_tail(network, worst, "cometbft")
    )
