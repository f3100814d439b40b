"""``mgridd``: the microgrid ABCI application daemon.

    mgridd start --home DIR [--abci tcp://127.0.0.1:26658] [--grpc 127.0.0.1:9090]
                 [--keep-recent N] [--log-format text|json] [--log-level info]
                 [--metrics HOST:PORT]
                 [--snapshot-interval N] [--snapshot-keep-recent K] [--halt-height H]
    mgridd export --home DIR [--height H] [--out FILE] [--chain-id ID] [--genesis-time T]
    mgridd version

State lives in DIR/data/app.db (LevelDB). Settings may also come from
DIR/config/app.toml (keys: abci_address, grpc_address, keep_recent,
log_format, log_level, check_invariants, metrics_address, ...); flags
override the file. Logs go to stderr, as text or one JSON object per line,
with the block height and tx hash as fields (app/logs.py); ``--metrics``
serves Prometheus metrics (app/metrics.py, docs/observability.md). Run it
next to ``cometbft start --home DIR`` with CometBFT's proxy_app pointing at
the ABCI address. SIGTERM/SIGINT stop it cleanly; a SIGKILL at any point is
recovered by CometBFT's handshake, because nothing is persisted before
Commit and Commit is one atomic batch.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app import __version__
from app import logs as logs_mod
from app.abci.adapter import ABCIApplication
from app.abci.server import ABCIServer
from app.chain import Chain
from app.grpc_server import serve as serve_grpc
from app.metrics import AppMetrics, MetricsAddressError
from app.pb.tendermint.abci import types_pb2 as abci
from app.snapshots import SnapshotStore, genesis_chain_id
from app.store import Store

DEFAULTS: dict[str, Any] = {
    "abci_address": "tcp://127.0.0.1:26658",
    "grpc_address": "127.0.0.1:9090",
    "keep_recent": 10000,
    "log_format": "text",
    "log_level": "info",
    "check_invariants": False,
    # State sync (app/snapshots.py): a snapshot every N heights (0 = none),
    # the newest K kept, in DIR/data/snapshots.
    "snapshot_interval": 0,
    "snapshot_keep_recent": 2,
    # Upgrades (docs/upgrade.md): stop after committing this height (0 = never).
    "halt_height": 0,
    # The app's Prometheus endpoint host:port ('' = off; app/metrics.py).
    "metrics_address": "",
}


JSONFormatter = logs_mod.JSONFormatter


def setup_logging(fmt: str, level: str) -> None:
    """Structured logs on stderr (``fmt`` "text" or "json"; app/logs.py)."""
    logs_mod.setup(fmt, level, sys.stderr)


def start_metrics(chain: Chain, address: str) -> AppMetrics | None:
    """The app's metrics, served on ``address`` (None when it is '').

    Raises:
        SystemExit: the address is malformed or taken (the message says which).
    """
    if not address:
        return None
    metrics = AppMetrics()
    metrics.load(chain)
    try:
        metrics.serve(address)
    except MetricsAddressError as exc:
        raise SystemExit(f"mgridd: {exc}") from None
    return metrics


def open_snapshots(home: Path, chain: Chain, settings: dict[str, Any]) -> SnapshotStore:
    """The node's state-sync snapshots in HOME/data/snapshots (app/snapshots.py).

    An empty node (one that may be restored by state sync) learns its chain
    id from HOME/config/genesis.json, so that it refuses snapshots of
    another chain.
    """
    interval = int(settings["snapshot_interval"])
    keep = int(settings["snapshot_keep_recent"])
    if interval < 0 or keep < 1:
        raise SystemExit(
            f"mgridd: snapshot_interval must be >= 0 and snapshot_keep_recent >= 1, "
            f"got {interval} and {keep}"
        )
    expected = None if chain.height else genesis_chain_id(home / "config" / "genesis.json")
    return SnapshotStore(
        home / "data" / "snapshots",
        interval=interval,
        keep_recent=keep,
        expected_chain_id=expected,
    )


# Requests that would run a block; above the halt height they are refused.
_BLOCK_REQUESTS = ("prepare_proposal", "process_proposal", "finalize_block")
# After committing the halt height the app stops this much later: time for
# the Commit's answer and the Flush after it to reach CometBFT (it sends
# both at once) and for CometBFT to save its state, but less than any
# timeout_commit in use (localnets 0.5 s, CometBFT's default 1 s), so that
# CometBFT has not asked for the next block yet. Asked for one, it would
# fail on the refusal (v0.38 panics on a PrepareProposal error) instead of
# shutting down because its app went away.
HALT_GRACE_SECONDS = 0.2


def halt_guard(
    handle: Callable[[abci.Request], abci.Response],
    chain: Chain,
    halt_height: int,
    home: Path,
    stop: asyncio.Event,
) -> Callable[[abci.Request], abci.Response]:
    """Wrap the ABCI handler so that the app stops at ``halt_height``.

    After committing it the app exits cleanly; CometBFT, which loses its
    app, then stops as well (it sends itself SIGTERM, a clean shutdown).
    ``run`` refuses to start a node already at the halt height, and a
    request for a block above it is refused here too and stops the app.
    """
    log = logging.getLogger("mgrid.halt")

    def guarded(request: abci.Request) -> abci.Response:
        kind = request.WhichOneof("value") or ""
        if kind in _BLOCK_REQUESTS and getattr(request, kind).height > halt_height:
            height = getattr(request, kind).height
            log.error(
                "halt height %d: refusing %s of block %d; stopping. Remove halt_height "
                "(app.toml or --halt-height) to go on, or export: mgridd export --home %s",
                halt_height,
                kind,
                height,
                home,
            )
            stop.set()
            return abci.Response(
                exception=abci.ResponseException(
                    error=f"halt height {halt_height} reached; block {height} refused"
                )
            )
        response = handle(request)
        if kind == "commit" and chain.height == halt_height:
            log.warning(
                "halt height %d reached: committed with app hash %s; stopping. Export the "
                "state with: mgridd export --home %s",
                halt_height,
                chain.app_hash().hex().upper(),
                home,
            )
            asyncio.get_running_loop().call_later(HALT_GRACE_SECONDS, stop.set)
        return response

    return guarded


def load_settings(home: Path, args: argparse.Namespace) -> dict[str, Any]:
    settings = dict(DEFAULTS)
    config = home / "config" / "app.toml"
    if config.exists():
        with config.open("rb") as f:
            file_settings = tomllib.load(f)
        unknown = set(file_settings) - set(DEFAULTS)
        if unknown:
            raise SystemExit(f"mgridd: unknown settings in {config}: {sorted(unknown)}")
        settings.update(file_settings)
    for key in DEFAULTS:
        value = getattr(args, key, None)
        if value is not None:
            settings[key] = value
    return settings


async def run(home: Path, settings: dict[str, Any]) -> None:
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    store = Store(str(data / "app.db"), keep_recent=int(settings["keep_recent"]))
    chain = Chain(store, check_invariants=bool(settings["check_invariants"]))
    log = logging.getLogger("mgrid")
    log.info(
        "mgridd %s: home %s, height %d, app hash %s",
        __version__,
        home,
        chain.height,
        chain.app_hash().hex().upper(),
    )
    halt_height = int(settings["halt_height"])
    if halt_height and chain.height >= halt_height:
        height = chain.height
        store.close()
        raise SystemExit(
            f"mgridd: this node is at height {height}, at or past halt_height "
            f"{halt_height}: it runs no further block. Remove halt_height (app.toml or "
            f"--halt-height) to go on, or export the state: mgridd export --home {home}"
        )
    metrics = start_metrics(chain, str(settings["metrics_address"]))
    snapshots = open_snapshots(home, chain, settings)
    stop = asyncio.Event()
    handle: Callable[[abci.Request], abci.Response]
    handle = ABCIApplication(chain, snapshots=snapshots, metrics=metrics).handle
    if halt_height:
        handle = halt_guard(handle, chain, halt_height, home, stop)
    server = ABCIServer(handle, settings["abci_address"])
    await server.start()
    grpc_server = serve_grpc(chain, settings["grpc_address"]) if settings["grpc_address"] else None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await server.close()
    if grpc_server is not None:
        grpc_server.stop(grace=1)
    if metrics is not None:
        metrics.close()
    snapshots.close()  # before the store: a snapshot being written reads it
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mgridd", description="Microgrid ABCI application")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="run the ABCI server (and the gRPC query service)")
    start.add_argument("--home", required=True, type=Path, help="node home (data in HOME/data)")
    start.add_argument(
        "--abci", dest="abci_address", help="ABCI listen address (tcp://h:p or unix://path)"
    )
    start.add_argument(
        "--grpc", dest="grpc_address", help="gRPC listen address host:port ('' = off)"
    )
    start.add_argument(
        "--keep-recent", dest="keep_recent", type=int, help="versions kept for queries (0 = all)"
    )
    start.add_argument("--log-format", dest="log_format", choices=["text", "json"])
    start.add_argument(
        "--log-level", dest="log_level", choices=["debug", "info", "warning", "error"]
    )
    start.add_argument(
        "--metrics", dest="metrics_address", metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics ('' = off, the default)",
    )  # fmt: skip
    start.add_argument(
        "--snapshot-interval", dest="snapshot_interval", type=int, metavar="N",
        help="take a state-sync snapshot every N heights (0 = none, the default)",
    )  # fmt: skip
    start.add_argument(
        "--snapshot-keep-recent", dest="snapshot_keep_recent", type=int, metavar="K",
        help="keep the newest K snapshots (default 2)",
    )  # fmt: skip
    start.add_argument(
        "--halt-height", dest="halt_height", type=int, metavar="H",
        help="stop after committing height H, for upgrades (docs/upgrade.md; 0 = never)",
    )  # fmt: skip
    start.add_argument(
        "--check-invariants", dest="check_invariants", action="store_true", default=None,
        help="check supply invariants after every block (slow; for tests)",
    )  # fmt: skip
    sub.add_parser("version", help="print the version")
    from app import export as export_mod

    export_mod.add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "export":
        return export_mod.run(args)
    settings = load_settings(args.home, args)
    setup_logging(settings["log_format"], settings["log_level"])
    asyncio.run(run(args.home, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
