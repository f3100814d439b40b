"""Two microgrid localnets on one machine, joined by ``mgrid-relayer`` (``make ibc-localnet``).

    python -m localnet ibc up [--root DIR] [--validators N] [--block-time S] [--link]
    python -m localnet ibc down [--root DIR]         (stop-relayer: only the relayer)
    python -m localnet ibc reset [--root DIR]        (down, then remove homes and relayer dir)
    python -m localnet ibc status [--root DIR]
    python -m localnet ibc channel PORT [--chain mg-1|mg-2] [--root DIR]

``up`` starts localnet ``mg-1`` (ports offset by 500, home ROOT/mg-1) and
``mg-2`` (offset 600, home ROOT/mg-2), each with the localnet's usual funded
test keyring; creates the relayer's key ``relayer`` in ROOT/relayer/keys/<chain>
(test backend: unencrypted, localnets only), funds it from each localnet's
faucet, and writes ROOT/relayer/config.toml for ``mgrid-relayer``. With
``--link`` it also runs ``mgrid-relayer link`` (clients, connection, the
``transfer`` and ``energy`` channels); ``make ibc-localnet`` does exactly that.
Everything is idempotent: a second ``up`` restarts what is stopped and
changes nothing else. ``channel PORT`` prints a chain's end of the linked
channel on PORT (for scripts: the Makefile's ibc-demo passes the energy
channel to ``mgrid-sim --offer-channel``).

The relayer itself (``mgrid-relayer start``) is not started here: the
Makefile's ``ibc-demo`` runs it in the background with its log in
ROOT/relayer/relayer.log and its pid in ROOT/relayer/relayer.pid, and
``down`` stops it (by that recorded pid) before the chains.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localnet import network as net
from localnet.errors import LocalnetError
from localnet.layout import KEYRING_BACKEND, Network
from localnet.testing import pid_alive

DEFAULT_ROOT = Path(".localnet") / "ibc"
CHAINS = (("mg-1", 500), ("mg-2", 600))
DEFAULT_VALIDATORS = 2  # two chains of 2 validators each stay light on a 2-core machine
RELAYER_KEY = "relayer"
RELAYER_FUNDS = 10**10  # smallest unit of each chain's denom
METRICS_ADDRESS = "127.0.0.1:26690"


@dataclass(frozen=True)
class IBCOptions:
    root: Path = DEFAULT_ROOT
    validators: int = DEFAULT_VALIDATORS
    block_time: float | None = None
    chains: tuple[tuple[str, int], ...] = CHAINS
    metrics: str = METRICS_ADDRESS

    @property
    def relayer_dir(self) -> Path:
        return self.root / "relayer"

    @property
    def config_path(self) -> Path:
        return self.relayer_dir / "config.toml"

    def home(self, chain_id: str) -> Path:
        return (self.root / chain_id).resolve()


def _fund(network: Network, address: str, amount: int, log: Callable[[str], None]) -> None:
    """Send ``amount`` of the chain's denom from the localnet's faucet to ``address``
    unless it already holds half of it."""
    from app.coins import Coin
    from clients.mgrid import tx as txmod
    from clients.mgrid.chain import ChainClient, parse_broadcast
    from clients.mgrid.keyring import Keyring
    from clients.rpc import RPC

    rpc = RPC(network.node(0).rpc_url)
    chain = ChainClient(rpc)
    params = chain.bank_params()
    if chain.balance(address, params.denom).amount >= amount // 2:
        return
    faucet = Keyring(network.keyring_dir, KEYRING_BACKEND).private_key("faucet")
    body = txmod.build_body(
        faucet.address,
        [txmod.msg_send(address, [Coin(params.denom, amount)])],
        txmod.TxParams(
            chain_id=network.chain_id,
            sequence=chain.account(faucet.address).sequence,
            fee=params.min_fee,
        ),
    )
    signed = txmod.sign(body, faucet)
    result = parse_broadcast("commit", rpc.broadcast_tx_commit(signed.raw), signed.hash_hex)
    if not result.ok:
        raise LocalnetError(
            f"funding the relayer on {network.chain_id} failed: {result.codespace}/"
            f"{result.code} {result.log}"
        )
    log(f"funded the relayer on {network.chain_id} with {amount}{params.denom}")


def up(options: IBCOptions, log: Callable[[str], None] = lambda _: None) -> Path:
    """Both localnets up, the relayer's keys funded and its configuration written;
    returns the configuration's path."""
    from clients.mgrid.keyring import Keyring
    from ibc.relayer.config import render_config

    entries = []
    for chain_id, offset in options.chains:
        network, _ = net.up(
            net.UpOptions(
                home=options.home(chain_id),
                chain_id=chain_id,
                validators=options.validators,
                port_offset=offset,
                block_time=options.block_time,
            ),
            log=log,
        )
        keys_dir = options.relayer_dir / "keys" / chain_id
        ring = Keyring(keys_dir, "test")
        info = ring.get(RELAYER_KEY) if ring.exists(RELAYER_KEY) else ring.add(RELAYER_KEY)
        _fund(network, info.address, RELAYER_FUNDS, log)
        entries.append(
            {
                "name": chain_id,
                "rpc": network.node(0).rpc_url,
                "chain_id": chain_id,
                "key": RELAYER_KEY,
                "keyring_dir": f"keys/{chain_id}",
                "keyring_backend": "test",
            }
        )
    options.relayer_dir.mkdir(parents=True, exist_ok=True)
    text = render_config(
        entries, a=options.chains[0][0], b=options.chains[1][0], metrics=options.metrics
    )
    if not options.config_path.exists() or options.config_path.read_text() != text:
        options.config_path.write_text(text)
        log(f"wrote {options.config_path}")
    return options.config_path


def link(options: IBCOptions) -> int:
    """``mgrid-relayer link`` on the configuration ``up`` wrote (in this process)."""
    from ibc.relayer import cli

    return cli.main(["--config", str(options.config_path), "link"])


def _relayer_pid(options: IBCOptions) -> int | None:
    pid_file = options.relayer_dir / "relayer.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) and _is_relayer(pid) else None


def _is_relayer(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pid file
    return b"relayer" in cmdline


def stop_relayer(options: IBCOptions) -> bool:
    """SIGTERM the relayer recorded in relayer.pid (if it runs); True if one was stopped."""
    pid = _relayer_pid(options)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    (options.relayer_dir / "relayer.pid").unlink(missing_ok=True)
    return True


def down(options: IBCOptions) -> list[str]:
    """Stop the relayer, then both localnets; returns what was stopped."""
    stopped = ["relayer"] if stop_relayer(options) else []
    for chain_id, _ in options.chains:
        home = options.home(chain_id)
        if (home / "localnet.json").exists():
            net.down(net.load(home))
            stopped.append(chain_id)
    return stopped


def reset(options: IBCOptions) -> list[str]:
    """``down``, then remove both chains' homes and the relayer's directory, so the next
    ``up`` starts from genesis. A home that ``up`` did not create (another port
    offset) is refused, not removed."""
    import shutil

    for chain_id, offset in options.chains:
        home = options.home(chain_id)
        if (home / "localnet.json").exists() and net.load(home).port_offset != offset:
            raise LocalnetError(
                f"{home} holds a localnet with another port offset (not one of ibc up's): "
                f"stop and remove it yourself (python -m localnet down --home {home})"
            )
    stopped = down(options)
    for chain_id, _ in options.chains:
        shutil.rmtree(options.home(chain_id), ignore_errors=True)
    shutil.rmtree(options.relayer_dir, ignore_errors=True)
    return stopped


def channel(options: IBCOptions, port: str, chain: str) -> str:
    """This chain's end of the linked channel on ``port`` (from the relayer's state)."""
    state_file = options.relayer_dir / "state.json"
    try:
        state = json.loads(state_file.read_text())
        path = state["paths"]["default"]
    except (OSError, ValueError, KeyError) as exc:
        raise LocalnetError(
            f"no linked path in {state_file} ({exc}): run make ibc-localnet"
        ) from None
    side = "a" if chain == options.chains[0][0] else "b"
    for record in path.get("channels", []):
        if record.get("port") == port and record.get(side):
            return str(record[side])
    raise LocalnetError(f"no {port} channel on {chain} in {state_file}: run make ibc-localnet")


def status(options: IBCOptions) -> str:
    from localnet import status as status_mod

    lines = []
    for chain_id, _ in options.chains:
        home = options.home(chain_id)
        if not (home / "localnet.json").exists():
            lines.append(f"{chain_id}: not created ({home})")
            continue
        lines.append(status_mod.render(status_mod.collect(net.load(home))))
    pid = _relayer_pid(options)
    lines.append(
        f"relayer: running (pid {pid}), log {options.relayer_dir / 'relayer.log'}"
        if pid
        else "relayer: not running"
    )
    if options.config_path.exists():
        lines.append(f"  mgrid-relayer --config {options.config_path} status")
    return "\n".join(lines)


def main(args: object) -> int:
    """``python -m localnet ibc ...`` (parsed by localnet/cli.py)."""
    a = args
    options = IBCOptions(
        root=Path(getattr(a, "root", DEFAULT_ROOT)),
        validators=getattr(a, "validators", None) or DEFAULT_VALIDATORS,
        block_time=getattr(a, "block_time", None),
    )
    command = getattr(a, "ibc_command", "")
    if command == "up":
        config = up(options, log=lambda m: print(m, file=sys.stderr, flush=True))
        print(f"relayer configuration: {config}")
        if getattr(a, "link", False):
            return link(options)
    elif command == "down":
        stopped = down(options)
        print("stopped " + ", ".join(stopped) if stopped else "nothing was running")
    elif command == "reset":
        reset(options)
        print(f"removed {', '.join(c for c, _ in options.chains)} and {options.relayer_dir}")
    elif command == "stop-relayer":
        print("stopped the relayer" if stop_relayer(options) else "the relayer was not running")
    elif command == "status":
        print(status(options))
    elif command == "channel":
        print(channel(options, a.port, a.chain))  # type: ignore[attr-defined]
    return 0
