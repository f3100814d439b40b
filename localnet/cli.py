"""Command line of the localnet tooling: ``python -m localnet <command>``.

Commands: ``up``, ``down``, ``status``, ``stop-node``, ``start-node`` and
``kill-app``; ``ibc up|down|status|channel|...`` runs two localnets joined by
the relayer (localnet/ibc.py). Every command takes ``--home DIR`` (default
``.localnet/<chain-id>`` under the current directory, chain id ``mg-1``).
Errors print one clear message to stderr and exit with status 1.
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
    Network,
    default_home,
)


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
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
        type=_positive_int,
        help=f"number of validators (default {DEFAULT_VALIDATORS})",
    )
    up.add_argument(
        "--port-offset",
        type=int,
        help="added to every port, so several localnets can run side by side (default 0)",
    )
    up.add_argument(
        "--block-time",
        type=_positive_float,
        help=f"seconds between blocks (CometBFT timeout_commit; default {DEFAULT_BLOCK_TIME:g})",
    )
    up.add_argument("--app", choices=APP_KINDS, help="ABCI app each node runs (default mgrid)")
    up.add_argument(
        "--timeout",
        type=_positive_float,
        default=net.UP_TIMEOUT,
        help=f"seconds to wait for the chain to commit (default {net.UP_TIMEOUT:g})",
    )

    down = sub.add_parser("down", help="stop every process of the network (SIGTERM, then SIGKILL)")
    _add_home(down)

    status = sub.add_parser("status", help="processes, heights and app hashes of every node")
    _add_home(status)
    status.add_argument("--json", action="store_true", help="print the report as JSON")

    for name, text in (
        ("stop-node", "stop both processes (CometBFT and app) of node I"),
        ("start-node", "start the stopped processes of node I"),
        ("kill-app", "SIGKILL the app process of node I (simulates a crash)"),
    ):
        node_parser = sub.add_parser(name, help=text)
        node_parser.add_argument("index", type=int, metavar="I", help="node index, 0-based")
        _add_home(node_parser)
    _add_ibc(sub)
    return parser


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
            q.add_argument("--validators", type=_positive_int,
                           help=f"validators per chain (default {ibc.DEFAULT_VALIDATORS})")  # fmt: skip
            q.add_argument("--block-time", type=_positive_float, help="seconds between blocks")
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
        f"{'node':<6} {'rpc':<24} {'grpc':<16} {'p2p':<24} {'prometheus'}",
    ]
    for node in network.nodes:
        grpc = node.grpc_address if network.app == "mgrid" else "-"
        lines.append(
            f"{node.moniker:<6} {node.rpc_url:<24} {grpc:<16} "
            f"{node.host + ':' + str(node.ports.p2p):<24} {node.prometheus_url}"
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
        "  make localnet-stop"
        if home == default_home(network.chain_id, REPO_ROOT).resolve()
        and network.chain_id == DEFAULT_CHAIN_ID
        else f"  python -m localnet down{home_flag}",
    ]
    return "\n".join(lines)


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
        report = status_mod.collect(network)
        print(json.dumps(report, indent=2) if args.json else status_mod.render(report))
    elif command == "stop-node":
        node = net.stop_node(network, args.index)
        print(f"stopped {node.moniker} of {network.chain_id}")
    elif command == "start-node":
        node = net.start_node(network, args.index)
        print(f"started {node.moniker} of {network.chain_id}: rpc {node.rpc_url}")
    elif command == "kill-app":
        proc = net.kill_app(network, args.index)
        print(f"killed the app of node{args.index} (pid {proc.pid})")
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
