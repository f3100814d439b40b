"""``mgridd``: the microgrid ABCI application daemon.

    mgridd start --home DIR [--abci tcp://127.0.0.1:26658] [--grpc 127.0.0.1:9090]
                 [--keep-recent N] [--log-format text|json] [--log-level info]
    mgridd version

State lives in DIR/data/app.db (LevelDB). Settings may also come from
DIR/config/app.toml (keys: abci_address, grpc_address, keep_recent,
log_format, log_level, check_invariants); flags override the file. Run it
next to ``cometbft start --home DIR`` with CometBFT's proxy_app pointing at
the ABCI address. SIGTERM/SIGINT stop it cleanly; a SIGKILL at any point is
recovered by CometBFT's handshake, because nothing is persisted before
Commit and Commit is one atomic batch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import tomllib
from pathlib import Path
from typing import Any

from app import __version__
from app.abci.adapter import ABCIApplication
from app.abci.server import ABCIServer
from app.chain import Chain
from app.grpc_server import serve as serve_grpc
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
    # The app's Prometheus endpoint host:port ('' = off; app/metrics.py).
    "metrics_address": "",
}


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(fmt: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


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
    server = ABCIServer(ABCIApplication(chain).handle, settings["abci_address"])
    await server.start()
    grpc_server = serve_grpc(chain, settings["grpc_address"]) if settings["grpc_address"] else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    await server.close()
    if grpc_server is not None:
        grpc_server.stop(grace=1)
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
