"""``mgrid-relayer``: the IBC relayer between two microgrid chains (docs/relayer.md).

    mgrid-relayer [--config FILE] [--log-json] [--log-level LEVEL] COMMAND
      keys add CHAIN NAME [--recover]   a key in CHAIN's keyring (prints its address)
      keys list [CHAIN]                 the keys of each chain's keyring
      link [--path NAME]                clients, connection, channels (idempotent)
      start [--path NAME]               relay until stopped (SIGINT/SIGTERM); metrics
      status [--path NAME] [--json]     clients, connection, channels, pending packets
      clear [--path NAME] [--from-height H]   relay everything pending once, then exit

The configuration (default ``$MGRID_RELAYER_CONFIG``, else
``~/.mgrid-relayer/config.toml``) is described in config.py; the identifiers
``link`` creates and the scan cursors go to the state file beside it.
Keys live in the wallet's keyring format (clients/mgrid/keyring.py); a
``file`` keyring's passphrase comes from the chain's ``passphrase_file``,
else ``$MGRID_RELAYER_PASSPHRASE``, else it is asked on the terminal.

Exit codes: 0 success; 1 a chain refused a transaction, a node failed or the
path is in a state the relayer cannot continue from; 2 usage or
configuration errors.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from clients.mgrid.chain import ChainError
from clients.mgrid.keyring import Keyring, KeyringError
from clients.rpc import RPC, RPCError
from ibc.relayer import link as linkmod
from ibc.relayer import status as statusmod
from ibc.relayer.chain import RelayChain, RelayerError
from ibc.relayer.config import (
    ChainConfig,
    ConfigError,
    RelayerConfig,
    load_config,
    parse_listen_address,
)
from ibc.relayer.metrics import Metrics, MetricsServer
from ibc.relayer.path import Path
from ibc.relayer.relay import Relayer
from ibc.relayer.state import StateError, StateFile

DEFAULT_CONFIG = "~/.mgrid-relayer/config.toml"
PASSPHRASE_ENV = "MGRID_RELAYER_PASSPHRASE"
log = logging.getLogger("mgrid-relayer")


class UsageError(Exception):
    """Bad arguments (exit 2)."""


# -- logging ---------------------------------------------------------------------------------


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(json_lines: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JSONFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)-5s %(message)s", "%H:%M:%S")
    )
    log.handlers[:] = [handler]
    log.setLevel(level.upper())
    log.propagate = False


# -- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgrid-relayer",
        description="Relay IBC packets between two microgrid chains: light clients, "
        "connection, channels, packets, acknowledgements and timeouts.",
    )
    parser.add_argument(
        "--config",
        default=os.environ.get("MGRID_RELAYER_CONFIG", DEFAULT_CONFIG),
        help=f"relayer configuration (default $MGRID_RELAYER_CONFIG or {DEFAULT_CONFIG})",
    )
    parser.add_argument("--log-json", action="store_true", help="log JSON lines on stderr")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys = sub.add_parser("keys", help="the relayer's signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    add = keys_sub.add_parser("add", help="create a key in a chain's keyring; prints the address")
    add.add_argument("chain", help="chain name as in [chains.<name>]")
    add.add_argument("name", help="key name (set it as the chain's `key` in the config)")
    add.add_argument("--recover", action="store_true", help="recover from a mnemonic read on stdin")
    lst = keys_sub.add_parser("list", help="keys of each configured chain's keyring")
    lst.add_argument("chain", nargs="?", help="only this chain")

    def with_path(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--path", help="path name ([paths.<name>]); default: the only one")
        return p

    with_path(sub.add_parser("link", help="create clients, connection and channels (idempotent)"))
    with_path(sub.add_parser("start", help="relay packets until stopped"))
    st = with_path(sub.add_parser("status", help="clients, connection, channels, pending packets"))
    st.add_argument("--json", action="store_true", help="print the report as JSON")
    clear = with_path(sub.add_parser("clear", help="relay everything pending once, then exit"))
    clear.add_argument(
        "--from-height",
        type=int,
        help="scan both chains from this height (default: the saved cursors)",
    )
    return parser


# -- building blocks -------------------------------------------------------------------------


def _passphrase(cc: ChainConfig, new: bool) -> Any:
    if cc.keyring_backend != "file":
        return None
    if cc.passphrase_file is not None:
        file = cc.passphrase_file

        def from_file() -> str:
            try:
                return file.read_text().splitlines()[0]
            except (OSError, IndexError) as exc:
                raise UsageError(f"cannot read passphrase file {file}: {exc}") from None

        return from_file
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]

    def ask() -> str:
        if not sys.stdin.isatty():
            raise UsageError(
                f"the 'file' keyring of {cc.name} needs a passphrase: set passphrase_file "
                f"in [chains.{cc.name}] or ${PASSPHRASE_ENV}"
            )
        first = getpass.getpass(f"keyring passphrase for {cc.name}: ")
        if new and getpass.getpass("repeat it: ") != first:
            raise UsageError("the two passphrases differ; nothing was written")
        return first

    return ask


def keyring(cc: ChainConfig, new: bool = False) -> Keyring:
    return Keyring(cc.keyring_dir, cc.keyring_backend, _passphrase(cc, new))


def open_path(
    cfg: RelayerConfig,
    state: StateFile,
    name: str | None,
    metrics: Metrics | None = None,
    signing: bool = True,
) -> Path:
    pc = cfg.select_path(name)
    chains = []
    for chain_name in (pc.a, pc.b):
        cc = cfg.chain(chain_name)
        signer = keyring(cc).private_key(cc.key) if signing else None
        rpc = RPC(cc.rpc, timeout=cc.rpc_timeout)
        chains.append(
            RelayChain(cc.name, rpc, cc.chain_id, signer, cc.fee, batch_size=cfg.batch_size)
        )
    return Path(
        pc.name,
        chains[0],
        chains[1],
        state.path_state(pc.name),
        save=state.save,
        metrics=metrics or Metrics(),
        channels=pc.channels,
    )


# -- commands --------------------------------------------------------------------------------


def cmd_keys(args: argparse.Namespace, cfg: RelayerConfig) -> int:
    if args.keys_command == "add":
        cc = cfg.chain(args.chain)
        ring = keyring(cc, new=True)
        if args.recover:
            mnemonic = sys.stdin.readline().strip()
            info = ring.recover(args.name, mnemonic)
            print(info.address)
            return 0
        info, mnemonic = ring.create(args.name)
        print(info.address)
        print(
            f"\nkey {args.name!r} for {cc.name} ({cc.chain_id}) in {cc.keyring_dir}; "
            "the mnemonic below is the only way to recover it without the file:\n"
            f"{mnemonic}",
            file=sys.stderr,
        )
        if cc.key != args.name:
            print(
                f"note: [chains.{cc.name}] key is {cc.key!r}; set it to {args.name!r} to use this key",
                file=sys.stderr,
            )
        return 0
    names = [args.chain] if args.chain else list(cfg.chains)
    for name in names:
        cc = cfg.chain(name)
        for info in Keyring(cc.keyring_dir, cc.keyring_backend).list():
            mark = " (configured)" if info.name == cc.key else ""
            print(f"{cc.name}\t{info.name}\t{info.address}{mark}")
    return 0


def cmd_link(args: argparse.Namespace, cfg: RelayerConfig, state: StateFile) -> int:
    path = open_path(cfg, state, args.path)
    report = linkmod.link(path, cfg.trusting_period_ns, cfg.max_clock_drift_ns)
    state.save()
    if not report.changed:
        print(f"path {path.name} is already linked; nothing to do")
    for action in report.actions:
        print(action)
    ea, eb = path.end("a"), path.end("b")
    print(
        f"{path.a.name}: client {ea.client_id}, {ea.connection_id}; "
        f"{path.b.name}: client {eb.client_id}, {eb.connection_id}"
    )
    for ch in path.state.channels:
        print(f"channel {ch.port}: {path.a.name} {ch.a} <-> {path.b.name} {ch.b}")
    return 0


def cmd_start(args: argparse.Namespace, cfg: RelayerConfig, state: StateFile) -> int:
    metrics = Metrics()
    path = open_path(cfg, state, args.path, metrics)
    for side in ("a", "b"):
        if not path.end(side).connection_id:
            raise RelayerError(f"path {path.name} is not linked yet: run `mgrid-relayer link`")
    server = None
    if cfg.metrics:
        host, port = parse_listen_address(cfg.metrics)
        server = MetricsServer(metrics, host, port).start()
        log.info("metrics on http://%s:%d/metrics", *server.address)
    relayer = Relayer(path, refresh_fraction=cfg.refresh_fraction)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping after this round", signum)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info(
        "relaying path %s: %s (%s) <-> %s (%s), cursors %d / %d",
        path.name,
        path.a.name,
        path.a.chain_id,
        path.b.name,
        path.b.chain_id,
        path.end("a").cursor,
        path.end("b").cursor,
    )
    try:
        relayer.run(stop, cfg.poll_interval)
    finally:
        state.save()
        if server is not None:
            server.stop()
    log.info("stopped")
    return 0


def cmd_status(args: argparse.Namespace, cfg: RelayerConfig, state: StateFile) -> int:
    path = open_path(cfg, state, args.path, signing=False)
    report = statusmod.collect(path)
    print(json.dumps(report, indent=2) if args.json else statusmod.render(report))
    return 0


def cmd_clear(args: argparse.Namespace, cfg: RelayerConfig, state: StateFile) -> int:
    path = open_path(cfg, state, args.path)
    relayer = Relayer(path, refresh_fraction=cfg.refresh_fraction)
    total = relayer.clear(args.from_height)
    state.save()
    relayed = ", ".join(f"{n} {k}" for k, n in sorted(total.relayed.items())) or "nothing"
    print(f"relayed {relayed}; {total.errors} failed transactions; {relayer.pending_count()} left")
    return 1 if total.errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.log_json, args.log_level)
    try:
        cfg = load_config(args.config)
        if args.command == "keys":
            return cmd_keys(args, cfg)
        state = StateFile(cfg.state_file)
        command = {"link": cmd_link, "start": cmd_start, "status": cmd_status, "clear": cmd_clear}
        return command[args.command](args, cfg, state)
    except (ConfigError, StateError, UsageError, KeyringError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (RelayerError, ChainError, RPCError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
