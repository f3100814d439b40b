"""Command line of the localnet tooling: ``python -m localnet <command>``.

Commands: ``up``, ``down``, ``status``, ``stop-node``, ``start-node``,
``kill-app`` and ``add-node [--state-sync]`` (localnet/join.py); ``ibc up|down|status|channel|...`` runs two localnets joined by
the relayer (localnet/ibc.py); ``netns up|down|partition|heal`` runs a
network with one network namespace per node (localnet/netns.py);
``testnet`` writes node homes for real machines (localnet/testnet.py).
``chaos`` runs a soak under load and faults and checks nothing was lost
(localnet/chaos.py, docs/chaos.md). Every command takes ``--home DIR`` (default
``.localnet/<chain-id>`` under the current directory, chain id ``mg-1``).
Errors print one clear message to stderr and exit with status 1; ``status``
exits with 3 when the network is degraded (localnet/status.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from localnet import network as net
from localnet import procs
from localnet import status as status_mod
from localnet.commands import REPO_ROOT
from localnet.errors import LocalnetError
from localnet.layout import (
    APP_KINDS,
    DEFAULT_BLOCK_TIME,
    DEFAULT_CHAIN_ID,
    DEFAULT_VALIDATORS,
    KEYRING_BACKEND,
    STATE_FILE,
    Network,
    default_home,
)


def positive_float(text: str) -> float:
    """An argparse type: a number above 0 (shared by every localnet command)."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        type=Path,
        help="localnet home (default: .localnet/<chain-id> under the current directory)",
    )
    parser.add_argument(
        "--chain-id",
        help=f"chain id; picks the default home .localnet/<chain-id> (default {DEFAULT_CHAIN_ID})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localnet",
        description="Run a multi-validator CometBFT localnet of the microgrid app on this machine.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="create the network if needed, start every node, wait for height 2",
        description="Create the network under --home if it does not exist yet, start every "
        "stopped process and return once the chain commits blocks (height >= 2 on every node). "
        "On an existing home the recorded settings are used.",
    )
    _add_home(up)
    up.add_argument(
        "--validators",
        type=positive_int,
        help=f"number of validators (default {DEFAULT_VALIDATORS})",
    )
    up.add_argument(
        "--port-offset",
        type=int,
        help="added to every port, so several localnets can run side by side (default 0)",
    )
    up.add_argument(
        "--block-time",
        type=positive_float,
        help=f"seconds between blocks (CometBFT timeout_commit; default {DEFAULT_BLOCK_TIME:g})",
    )
    up.add_argument("--app", choices=APP_KINDS, help="ABCI app each node runs (default mgrid)")
    up.add_argument(
        "--timeout",
        type=positive_float,
        default=net.UP_TIMEOUT,
        help=f"seconds to wait for the chain to commit (default {net.UP_TIMEOUT:g})",
    )

    down = sub.add_parser("down", help="stop every process of the network (SIGTERM, then SIGKILL)")
    _add_home(down)

    status = sub.add_parser(
        "status",
        help="health of every node and a verdict (exit status 3 when degraded)",
        description="Per node: processes, height and lag behind the highest node, catching up, "
        "peers, seconds since its last block, app version and whether the app's metrics "
        "endpoint answers; then 'healthy' or 'degraded: <reasons>'. Exit status 0 when "
        f"healthy, {status_mod.EXIT_DEGRADED} when degraded, 1 when the command fails.",
    )
    _add_home(status)
    status.add_argument("--json", action="store_true", help="print the report as JSON")
    status.add_argument(
        "--max-lag", type=int, default=status_mod.DEFAULT_MAX_LAG, metavar="BLOCKS",
        help="blocks a node may be behind the highest node (default %(default)s)",
    )  # fmt: skip
    status.add_argument(
        "--max-stall", type=positive_float, metavar="SECONDS",
        help=f"seconds without a new block before the chain counts as stalled (default: "
        f"{status_mod.STALL_BLOCKS} block times, at least {status_mod.MIN_STALL_SECONDS:g} s)",
    )  # fmt: skip

    for name, text in (
        ("stop-node", "stop both processes (CometBFT and app) of node I"),
        ("start-node", "start the stopped processes of node I"),
        ("kill-app", "SIGKILL the app process of node I (simulates a crash)"),
    ):
        node_parser = sub.add_parser(name, help=text)
        node_parser.add_argument("index", type=int, metavar="I", help="node index, 0-based")
        _add_home(node_parser)
    add_node = sub.add_parser(
        "add-node",
        help="add a full node (not a validator) to the running localnet",
        description="Create node N (the next index), with every other node as a persistent peer, "
        "record it and start it (localnet/join.py, docs/state-sync.md). With --state-sync it "
        "restores a validator's snapshot instead of replaying every block from genesis.",
    )
    add_node.add_argument(
        "--state-sync", action="store_true", help="join from a snapshot (light-client verified)"
    )
    _add_home(add_node)
    _add_ibc(sub)
    _add_netns(sub)
    _add_testnet(sub)
    from localnet import chaos

    chaos.add_parser(sub)
    return parser


def _add_netns(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``netns up|down|partition|heal``: one network namespace per node (localnet/netns.py)."""
    from localnet import netns

    p = sub.add_parser(
        "netns",
        help="a network with one network namespace (own IP, standard ports) per node; root only",
        description="Run the testnet layout on this machine: node i in network namespace "
        "mgn-<tag>-<i> with its own IP on --subnet, joined by veth links to a bridge that holds "
        "the subnet's last usable address. `down`, `status`, `stop-node`, `start-node` and "
        "`kill-app` work on it as on any localnet.",
    )
    nsub = p.add_subparsers(dest="netns_command", required=True, metavar="NETNS_COMMAND")

    def home_flags(q: argparse.ArgumentParser) -> None:
        q.add_argument("--home", type=Path, help="network home (default .localnet/<chain-id>)")
        q.add_argument(
            "--chain-id", help=f"picks the default home (default {netns.DEFAULT_CHAIN_ID})"
        )

    up = nsub.add_parser(
        "up",
        help="create the namespaces and the network if needed, start every node, wait for height 2",
    )
    home_flags(up)
    up.add_argument("--validators", type=positive_int,
                    help=f"number of validators (default {DEFAULT_VALIDATORS})")  # fmt: skip
    up.add_argument("--subnet", help=f"private IPv4 subnet of the nodes (default {netns.DEFAULT_SUBNET})")  # fmt: skip
    up.add_argument("--block-time", type=positive_float,
                    help=f"seconds between blocks (default {DEFAULT_BLOCK_TIME:g})")  # fmt: skip
    up.add_argument("--app", choices=APP_KINDS, help="ABCI app each node runs (default mgrid)")
    up.add_argument("--timeout", type=positive_float, default=net.UP_TIMEOUT,
                    help=f"seconds to wait for the chain to commit (default {net.UP_TIMEOUT:g})")  # fmt: skip
    down = nsub.add_parser(
        "down",
        help="stop every process, remove the namespaces, veths and bridge (idempotent)",
    )
    home_flags(down)
    part = nsub.add_parser(
        "partition",
        help="cut the links between groups of nodes, e.g. 0,1/2,3 (replaces any partition)",
    )
    home_flags(part)
    which = part.add_mutually_exclusive_group(required=True)
    which.add_argument("groups", nargs="?", metavar="GROUPS",
                       help="node indexes, ',' inside a group, '/' between groups: 0,1/2,3")  # fmt: skip
    which.add_argument("--isolate", type=int, metavar="I", help="cut node I off from all others")
    heal = nsub.add_parser("heal", help="restore full connectivity between all nodes")
    home_flags(heal)


def _add_testnet(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``testnet``: node homes for real machines (localnet/testnet.py)."""
    p = sub.add_parser(
        "testnet",
        help="write node homes, keyring, systemd units and a README for a network of real hosts",
        description="Write DIR/node<i> for each host (standard ports on every host, persistent "
        "peers on the given addresses, one genesis, config/app.toml for mgridd), the funded "
        "keyring, systemd units and DIR/README.md saying which directory goes to which host. "
        "See docs/deployment.md.",
    )
    p.add_argument("--hosts", required=True, metavar="HOST[:P2P_PORT],...",
                   help="one IPv4 address or DNS name per validator; a node sharing a host with "
                   "another needs its own P2P port (its other ports move with it)")  # fmt: skip
    p.add_argument("--chain-id", required=True, help="chain id of the new network")
    p.add_argument("--out", required=True, type=Path, help="directory to write (new or empty)")
    p.add_argument("--block-time", type=positive_float, default=DEFAULT_BLOCK_TIME,
                   help=f"seconds between blocks (default {DEFAULT_BLOCK_TIME:g})")  # fmt: skip
    p.add_argument("--snapshot-interval", type=int, default=0, metavar="N",
                   help="the app takes a state-sync snapshot every N blocks (default 0: none)")  # fmt: skip


def _add_ibc(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """``ibc up|down|status|channel|stop-relayer|reset``: two localnets joined by mgrid-relayer (localnet/ibc.py)."""
    from localnet import ibc

    p = sub.add_parser("ibc", help="two localnets (mg-1, mg-2) joined by mgrid-relayer")
    isub = p.add_subparsers(dest="ibc_command", required=True, metavar="IBC_COMMAND")
    for name, text in (
        ("up", "start mg-1 and mg-2, fund the relayer key, write the relayer config"),
        ("down", "stop the relayer (if started by make ibc-demo) and both localnets"),
        ("status", "both localnets and the relayer"),
        ("stop-relayer", "stop the relayer started by make ibc-demo (by its recorded pid)"),
        ("reset", "down, then remove both homes and the relayer directory"),
        ("channel", "print a chain's end of the linked channel on PORT"),
    ):
        q = isub.add_parser(name, help=text)
        q.add_argument("--root", type=Path, default=ibc.DEFAULT_ROOT, help="default .localnet/ibc")
        if name == "up":
            q.add_argument("--validators", type=positive_int,
                           help=f"validators per chain (default {ibc.DEFAULT_VALIDATORS})")  # fmt: skip
            q.add_argument("--block-time", type=positive_float, help="seconds between blocks")
            q.add_argument("--link", action="store_true", help="then run mgrid-relayer link")
        if name == "channel":
            q.add_argument("port", help="transfer or energy")
            q.add_argument("--chain", default=ibc.CHAINS[0][0], help="mg-1 (default) or mg-2")


def _home(args: argparse.Namespace) -> Path:
    home: Path | None = args.home
    return (home or default_home(args.chain_id or DEFAULT_CHAIN_ID)).resolve()


def describe(network: Network, height: int | None = None) -> str:
    """What an operator needs after ``up``: endpoints, files and commands."""
    home = network.home
    default = home == default_home(DEFAULT_CHAIN_ID).resolve()
    home_flag = "" if default else f" --home {home}"
    lines = [
        f"localnet {network.chain_id} is up: {len(network.nodes)} validators, "
        f"{network.app} app" + (f", height {height}" if height is not None else ""),
        "",
        f"{'node':<6} {'rpc':<24} {'grpc':<16} {'p2p':<24} {'prometheus (cometbft)':<38} "
        "app metrics",
    ]
    for node in network.nodes:
        mgrid = network.app == "mgrid"
        grpc = node.grpc_address if mgrid else "-"
        lines.append(
            f"{node.moniker:<6} {node.rpc_url:<24} {grpc:<16} "
            f"{node.host + ':' + str(node.ports.p2p):<24} {node.prometheus_url:<38} "
            f"{node.app_metrics_url if mgrid else '-'}"
        )
    lines += [
        "",
        f"home:    {home}",
        f"state:   {network.state_path}",
        f"logs:    {home}/node<i>/logs/cometbft.log and app.log",
        f"keyring: {network.keyring_dir} (backend {KEYRING_BACKEND}, unencrypted)",
    ]
    width = max((len(name) for name in network.keys), default=0)
    lines += [f"  {name:<{width}}  {address}" for name, address in network.keys.items()]
    rpc = network.nodes[0].rpc_url
    lines += ["", "Use it:"]
    if network.app == "mgrid":
        faucet = network.keys.get("faucet", "ADDR")
        lines.append(
            f"  mgrid --node {rpc} --keyring-dir {network.keyring_dir} "
            f"--keyring-backend {KEYRING_BACKEND} query bank balance {faucet}"
        )
    else:
        lines.append(f"  curl -s '{rpc}/broadcast_tx_commit?tx=\"name=satoshi\"'")
        lines.append(f"  curl -s '{rpc}/abci_query?data=\"name\"'")
    lines += [
        f"  python -m localnet status{home_flag}",
        f"  python -m localnet stop-node 1{home_flag}    (and start-node 1)",
    ]
    if network.netns is not None:
        home_flag = f" --home {home}"  # netns commands default to another chain id's home
        lines += [
            f"  python -m localnet netns partition 0,1/2,3{home_flag}    (or --isolate 3)",
            f"  python -m localnet netns heal{home_flag}",
            f"  python -m localnet down{home_flag}    (processes only; namespaces stay)",
            f"  python -m localnet netns down{home_flag}    (also namespaces and bridge)",
        ]
    else:
        lines.append(
            "  make localnet-stop"
            if home == default_home(network.chain_id, REPO_ROOT).resolve()
            and network.chain_id == DEFAULT_CHAIN_ID
            else f"  python -m localnet down{home_flag}"
        )
    return "\n".join(lines) + _netns_lines(network)


def _run(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "up":
        options = net.UpOptions(
            home=args.home,
            chain_id=args.chain_id,
            validators=args.validators,
            port_offset=args.port_offset,
            block_time=args.block_time,
            app=args.app,
            timeout=args.timeout,
        )
        network, _ = net.up(options, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        report = status_mod.collect(network)
        print(describe(network, report["common_height"]))
        return 0

    if command == "ibc":
        from localnet import ibc

        return ibc.main(args)
    if command == "netns":
        return _run_netns(args)
    if command == "testnet":
        return _run_testnet(args)
    if command == "chaos":
        from localnet import chaos

        return chaos.main(args)
    network = net.load(_home(args))
    if command == "down":
        running = [
            f"{node.moniker} {kind} {proc.pid}"
            for node in network.nodes
            for kind, proc in node.processes.items()
            if procs.is_alive(proc)
        ]
        net.down(network)
        print(
            f"stopped localnet {network.chain_id} ({len(running)} processes)"
            if running
            else f"localnet {network.chain_id} was not running"
        )
    elif command == "status":
        report = status_mod.collect(network, max_lag=args.max_lag, max_stall=args.max_stall)
        if network.netns is not None:
            report["netns"] = network.netns.to_json()
        text = status_mod.render(report) + _netns_lines(network) + _remote_lines(network)
        print(json.dumps(report, indent=2) if args.json else text)
        if not report["healthy"]:
            return status_mod.EXIT_DEGRADED
    elif command == "stop-node":
        node = net.stop_node(network, args.index)
        print(f"stopped {node.moniker} of {network.chain_id}")
    elif command == "start-node":
        node = net.start_node(network, args.index)
        print(f"started {node.moniker} of {network.chain_id}: rpc {node.rpc_url}")
    elif command == "kill-app":
        proc = net.kill_app(network, args.index)
        print(f"killed the app of node{args.index} (pid {proc.pid})")
    elif command == "add-node":
        from localnet.join import add_node

        node = add_node(
            network,
            state_sync=args.state_sync,
            log=lambda msg: print(msg, file=sys.stderr, flush=True),
        )
        how = "by state sync" if args.state_sync else "from genesis"
        print(f"added {node.moniker} to {network.chain_id} ({how}): rpc {node.rpc_url}")
    return 0


def _netns_lines(network: Network) -> str:
    """What ``status`` adds for a netns network: bridge, namespaces, partition."""
    if network.netns is None:
        return ""
    from localnet.netns import describe_partition

    section = network.netns
    missing = [ns for ns in section.namespaces if procs.netns_inode(ns) is None]
    return "\n".join(
        [
            "\n",
            f"network namespaces on {section.subnet}: bridge {section.bridge} "
            f"({section.bridge_address}), "
            + ", ".join(
                f"{node.moniker} {ns} {node.host}"
                for node, ns in zip(network.nodes, section.namespaces, strict=True)
            ),
            f"partition: {describe_partition(section.partition)}",
            *(
                [
                    f"not present: {', '.join(missing)} (`python -m localnet netns up` recreates them)"
                ]
                if missing
                else []
            ),
        ]
    )


def _remote_lines(network: Network) -> str:
    if not network.remote:
        return ""
    return (
        "\n\nthese node homes run on other hosts (testnet): the process columns only show "
        "processes started on this machine"
    )


def _netns_home(args: argparse.Namespace) -> Path:
    from localnet import netns

    home: Path | None = args.home
    return (home or default_home(args.chain_id or netns.DEFAULT_CHAIN_ID)).resolve()


def _run_netns(args: argparse.Namespace) -> int:
    from localnet import netns

    home = _netns_home(args)
    command: str = args.netns_command
    if command == "up":
        reason = netns.available()
        if reason is not None:
            raise LocalnetError(f"network namespaces are not usable here: {reason}")
        given = {
            "chain_id": args.chain_id,
            "validators": args.validators,
            "subnet": args.subnet,
            "block_time": args.block_time,
            "app": args.app,
        }
        if (home / STATE_FILE).is_file():
            # Options not given are the recorded ones; given ones must match them.
            recorded = Network.load(home)
            defaults = {
                "chain_id": recorded.chain_id,
                "validators": len(recorded.nodes),
                "subnet": recorded.netns.subnet if recorded.netns else None,
                "block_time": recorded.block_time,
                "app": recorded.app,
            }
            given = {k: v if v is not None else defaults[k] for k, v in given.items()}
        options = netns.NetnsOptions(
            home=home,
            timeout=args.timeout,
            **{k: v for k, v in given.items() if v is not None},
        )
        network = netns.up(options, log=lambda msg: print(msg, file=sys.stderr, flush=True))
        report = status_mod.collect(network)
        print(describe(network, report["common_height"]))
        return 0
    if command == "down":
        removed = netns.down_home(home)
        if (home / STATE_FILE).is_file():
            chain_id = Network.load(home).chain_id
            print(f"stopped {chain_id} and removed its network namespaces, veths and bridge")
        elif removed:
            print(f"removed leftovers of {home}: {', '.join(removed)}")
        else:
            print(f"nothing of {home} to remove")
        return 0
    network = net.load(home)
    netns.section_of(network)  # a loopback localnet or a testnet is refused before anything else
    if command == "partition":
        validators = len(network.nodes)
        groups = (
            netns.isolate_groups(args.isolate, validators)
            if args.isolate is not None
            else netns.parse_groups(args.groups, validators)
        )
        netns.partition(network, groups)
        print(f"partitioned {network.chain_id}: {netns.describe_partition(groups)}")
    elif command == "heal":
        netns.heal(network)
        print(f"healed {network.chain_id}: every node reaches every other")
    return 0


def _run_testnet(args: argparse.Namespace) -> int:
    from localnet import testnet

    if args.snapshot_interval < 0:
        raise LocalnetError(f"--snapshot-interval must be >= 0, got {args.snapshot_interval}")
    hosts = testnet.parse_hosts(args.hosts)
    network = testnet.create_testnet(
        args.out,
        hosts,
        chain_id=args.chain_id,
        block_time=args.block_time,
        snapshot_interval=args.snapshot_interval,
    )
    print(f"wrote testnet {network.chain_id} for {len(network.nodes)} hosts in {network.home}")
    for node in network.nodes:
        print(f"  {network.node_home(node)}  ->  {node.host}  (p2p {node.ports.p2p})")
    print(
        f"systemd units: {network.home / testnet.UNITS_DIR}; read {network.home / testnet.README}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except LocalnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
