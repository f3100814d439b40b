"""What every ``mgrid`` command works with: the environment, one invocation's
session, the shared argument types and flags, and the common tail of every
``tx`` command (sign, confirm, broadcast, report).

cli.py assembles the parser and maps exceptions to exit codes; the command
groups (cli.py's own, cmd_keys.py, cmd_txfile.py, cmd_registry.py,
cmd_market.py, cmd_settlement.py) build on this module.

Every ``tx`` command ends in ``sign_and_broadcast``: with ``--generate-only``
it prints the unsigned document (tx.py) and stops, touching neither the
keyring's private keys nor the node; otherwise it fills the envelope (chain
id, sequence and fee from the flags or the node), shows the transaction and
asks on a terminal unless ``--yes``, signs and hands over to
``broadcast_signed``, which ``mgrid tx broadcast`` shares. A refused
transaction is reported with the chain's codespace, code and log and, when
errors.py knows the code, what to do about it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from app.coins import Coin, CoinError, parse_coin
from app.crypto import AddressError, decode_address
from app.tx import codec
from clients.mgrid import chain as chainmod
from clients.mgrid import errors, render
from clients.mgrid import tx as txmod
from clients.mgrid.chain import ChainClient, ChainError, RPCLike, TxResult
from clients.mgrid.keyring import BACKENDS, Keyring, Passphrase, PassphraseError
from clients.rpc import DEFAULT_NODE, RPC, NodeUnreachable, RPCError

DEFAULT_KEYRING_DIR = "~/.mgrid/keyring"
RPC_TIMEOUT_S = 30.0  # above CometBFT's 10 s timeout_broadcast_tx_commit
WH_PER_UNIT = {"wh": 1, "kwh": 1000, "mwh": 1_000_000}


class ExitCode(IntEnum):
    OK = 0
    CHAIN = 1
    USAGE = 2
    NODE_UNREACHABLE = 3
    KEYRING = 4
    TIMEOUT = 5


class UsageError(Exception):
    """The command line asks for something that cannot be done as written."""


class Declined(Exception):
    """The person answered no at a confirmation prompt."""


def _default_confirm(prompt: str) -> bool:
    return input(f"{prompt} [y/N]: ").strip().lower() in ("y", "yes")


@dataclass
class Env:
    """Everything the CLI touches outside its arguments, so tests can substitute it."""

    rpc_factory: Callable[[str], RPCLike] = lambda node: RPC(node, timeout=RPC_TIMEOUT_S)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    interactive: bool = field(default_factory=lambda: sys.stdin.isatty())
    getpass: Callable[[str], str] = getpass.getpass
    # Confirmation hook: asked before signing (unless --yes) when interactive.
    confirm: Callable[[str], bool] = _default_confirm
    # Where `keys add --recover` reads the mnemonic off a terminal, and `-` files.
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    # Clock of `tx wait` (tests substitute one that produces blocks).
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic


# -- argument types and flags -------------------------------------------------------------------


NEXT = "next"


def interval_arg(text: str) -> int | str:
    """argparse type: a delivery interval number, or ``next`` (see ``open_interval``)."""
    return NEXT if text == NEXT else uint_arg(text)


def open_interval(s: Session, value: int | str) -> int:
    """``--interval`` as given, ``next`` being the earliest interval still taking
    orders (the market's Schedule query: ``first_open``)."""
    return int(s.chain.schedule().first_open) if value == NEXT else int(value)


def uint_arg(text: str) -> int:
    """argparse type: a whole number in 0..2^64-1."""
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= txmod.MAX_UINT64:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..2^64-1")
    return value


def energy_arg(text: str) -> int:
    """argparse type: energy in whole Wh: ``1500``, ``1500Wh``, ``1.5kWh``, ``0.002MWh``.

    The number is read as an exact decimal, so ``1.5kWh`` is 1500 Wh and
    ``1.0005kWh`` (half a Wh) is refused rather than rounded.
    """
    raw = text.strip()
    number, scale = raw, 1
    lowered = raw.lower()
    for unit in sorted(WH_PER_UNIT, key=len, reverse=True):
        if lowered.endswith(unit):
            number, scale = raw[: -len(unit)].strip(), WH_PER_UNIT[unit]
            break
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"not an energy: {text!r} (e.g. 1500, 1500Wh or 1.5kWh)"
        ) from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"energy must be a non-negative number, got {text!r}")
    wh = value * scale
    if wh != wh.to_integral_value():
        raise argparse.ArgumentTypeError(f"{text} is {wh} Wh: energy is traded in whole Wh")
    if wh > txmod.MAX_UINT64:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..2^64-1 Wh")
    return int(wh)


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Global options; on subcommands they default to SUPPRESS so that only a
    value actually given there overrides the one given before the command."""

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    g = parser.add_argument_group("global options")
    g.add_argument(
        "--node", metavar="URL", default=default(DEFAULT_NODE), help=f"default {DEFAULT_NODE}"
    )
    g.add_argument("--chain-id", default=default(None), help="default: from the node's /status")
    g.add_argument(
        "--keyring-dir",
        metavar="DIR",
        default=default(DEFAULT_KEYRING_DIR),
        help=f"default {DEFAULT_KEYRING_DIR}",
    )
    g.add_argument(
        "--keyring-backend",
        choices=BACKENDS,
        default=default("file"),
        help="file (encrypted, default) or test (UNENCRYPTED, localnets only)",
    )
    g.add_argument("--output", "-o", choices=("text", "json"), default=default("text"))
    g.add_argument(
        "--passphrase-file",
        metavar="FILE",
        default=default(None),
        help="read the keyring passphrase from the first line of FILE",
    )


def group(parent: Any, name: str, help: str, dest: str, **kw: Any) -> Any:
    """A command group (``tx registry``, ``query market``...) holding leaf commands."""
    return parent.add_parser(name, help=help, description=help, **kw).add_subparsers(
        dest=dest, metavar="SUBCOMMAND", required=True
    )


def leaf(
    parent: Any, name: str, func: Callable[[Session], int], help: str, **kw: Any
) -> argparse.ArgumentParser:
    """A command: ``func(session)`` runs it; global options are accepted after it too."""
    p: argparse.ArgumentParser = parent.add_parser(
        name, help=help, description=help, allow_abbrev=False, **kw
    )
    p.set_defaults(func=func)
    add_global_options(p, top=False)
    return p


def add_tx_flags(p: argparse.ArgumentParser, *, from_flag: bool = True) -> None:
    """The flags of every ``tx`` command; ``--from NAME`` names the signing key."""
    if from_flag:
        p.add_argument(
            "--from", dest="from_key", metavar="NAME", required=True, help="the signing key"
        )
    p.add_argument("--fees", metavar="COIN", help="e.g. 10ugrid (default: the chain's min fee)")
    p.add_argument(
        "--sequence", type=uint_arg, metavar="N", help="default: the account's sequence on chain"
    )
    p.add_argument(
        "--timeout-height", type=uint_arg, metavar="H", default=0, help="0 (default): no timeout"
    )
    p.add_argument("--memo", default="")
    p.add_argument("--broadcast-mode", choices=chainmod.BROADCAST_MODES, default="commit")
    p.add_argument("--yes", "-y", action="store_true", help="sign without asking")
    p.add_argument(
        "--generate-only",
        action="store_true",
        help="print the unsigned transaction as JSON (for mgrid tx sign) and stop; "
        "--from may then be an address",
    )


def add_height(p: argparse.ArgumentParser) -> None:
    p.add_argument("--height", type=uint_arg, default=0, help="query at this height (0: latest)")


def add_page_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=uint_arg, default=0, help="page size (0: the chain's, 100)")
    p.add_argument("--page-key", metavar="HEX", default="", help="next_key of the previous page")


def read_height(s: Session) -> int:
    """The height every query of one command reads: --height, or the latest committed."""
    if s.args.height:
        return int(s.args.height)
    height = int(s.rpc.status()["sync_info"]["latest_block_height"])
    if not height:
        raise ChainError("the node has no block yet")
    return height


def page_or_all(
    s: Session, fetch: Callable[[bytes, int], Any], items: str, response_type: Any
) -> tuple[Any, int]:
    """One page (``--page-key``, ``--limit``) or, with ``--all``, every page at one height.

    ``fetch(page_key, height)`` asks for one page; ``items`` names the response's
    repeated field. Returns the response and the height read (0: latest, one page).
    """
    a = s.args
    if not a.all:
        return fetch(parse_hex(a.page_key, "--page-key"), a.height), a.height
    if a.page_key:
        raise UsageError("--all starts from the first page: drop --page-key")
    height = read_height(s)
    everything = list(chainmod.pages(lambda key: fetch(key, height), items))
    return response_type(**{items: everything}), height


def parse_address(text: str, what: str) -> str:
    try:
        decode_address(text)
    except AddressError as exc:
        raise UsageError(f"{what}: {exc}") from None
    return text


def parse_hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise UsageError(f"{what} is not hex: {text[:40]!r}") from None


def read_json_file(path: str | None, flag: str) -> Any:
    """JSON from ``path`` ('-': stdin); None when ``path`` is None."""
    if path is None:
        return None
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{flag}: {path} is not JSON: {exc}") from None


# -- session: what one command invocation works with ----------------------------------------


class Session:
    def __init__(self, args: argparse.Namespace, env: Env):
        self.args = args
        self.env = env
        self.json = args.output == "json"
        self._rpc: RPCLike | None = None

    @property
    def rpc(self) -> RPCLike:
        if self._rpc is None:
            self._rpc = self.env.rpc_factory(self.args.node)
        return self._rpc

    @property
    def chain(self) -> ChainClient:
        return ChainClient(self.rpc)

    def chain_id(self) -> str:
        if self.args.chain_id:
            return str(self.args.chain_id)
        return str(self.rpc.status()["node_info"]["network"])

    def keyring(self, *, new_key: bool = False) -> Keyring:
        return Keyring(
            self.args.keyring_dir, self.args.keyring_backend, self._passphrase_source(new_key)
        )

    def warn_if_test_backend(self) -> None:
        if self.args.keyring_backend == "test":
            self.warn(
                f"keyring backend 'test' keeps private keys UNENCRYPTED in "
                f"{Path(self.args.keyring_dir).expanduser()}: use it for localnets and tests only"
            )

    def _passphrase_source(self, new_key: bool) -> Passphrase:
        if self.args.keyring_backend != "file":
            return None
        return self.passphrase(
            self.args.passphrase_file,
            flag="--passphrase-file",
            prompt="keyring passphrase",
            missing="the 'file' keyring needs a passphrase",
            mismatch=None if not new_key else "the two passphrases differ; nothing was written",
        )

    def passphrase(
        self, file: str | None, *, flag: str, prompt: str, missing: str, mismatch: str | None
    ) -> Callable[[], str]:
        """A passphrase: the first line of ``file``, else asked on the terminal (twice,
        to choose one, when ``mismatch`` says what a difference means); off a terminal
        and without a file, a PassphraseError that names ``flag``."""
        if file:
            return lambda: _read_passphrase_file(file)
        if not self.env.interactive:

            def absent() -> str:
                raise PassphraseError(
                    f"{missing}: pass {flag} FILE, or run in a terminal to be asked"
                )

            return absent

        def ask() -> str:
            first = self.env.getpass(f"Enter {prompt}: ")
            if mismatch is not None and self.env.getpass(f"Re-enter {prompt}: ") != first:
                raise PassphraseError(mismatch)
            return first

        return ask

    # output

    def emit(self, data: Any, text: str) -> None:
        """Print ``data`` as JSON or ``text`` as is, depending on --output."""
        out = json.dumps(data, indent=2) if self.json else text
        print(out, file=self.env.stdout)

    def warn(self, message: str) -> None:
        print(f"WARNING: {message}", file=self.env.stderr)


def _read_passphrase_file(path: str) -> str:
    try:
        with open(Path(path).expanduser(), encoding="utf-8") as f:
            line = f.readline()
    except OSError as exc:
        raise UsageError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    return line.rstrip("\r\n")


# -- the tail of every tx command -------------------------------------------------------------


def parse_fee_flag(text: str | None) -> Coin | None:
    """``--fees``: one coin, or None when not given."""
    try:
        return parse_coin(text) if text else None
    except CoinError as exc:
        raise UsageError(f"--fees: {exc}") from None


def sign_and_broadcast(
    s: Session,
    key_name: str,
    messages: Sequence[Any],
    report: Callable[[TxResult], tuple[dict[str, Any], list[str]]] | None = None,
) -> int:
    """Check, show, sign and broadcast ``messages`` signed by ``key_name``; report the result.

    ``report`` may add fields to the JSON and lines to the text of a result
    (place-order reads its order id from the events). With
    ``--generate-only`` the unsigned document is printed instead.
    """
    a = s.args
    fee = parse_fee_flag(a.fees)
    try:
        txmod.validate_messages(messages)  # stateless errors cost no passphrase and no query
    except txmod.TxBuildError as exc:
        raise UsageError(str(exc)) from None
    if getattr(a, "generate_only", False):
        return emit_unsigned(s, key_name, messages, fee)
    s.warn_if_test_backend()
    keyring = s.keyring()
    info = keyring.get(key_name)  # unknown keys fail before any network traffic
    chain_id = s.chain_id()
    sequence = a.sequence if a.sequence is not None else s.chain.account(info.address).sequence
    if fee is None:
        fee = s.chain.bank_params().min_fee
    params = txmod.TxParams(chain_id, sequence, fee, a.timeout_height, a.memo)
    try:
        body = txmod.build_body(info.address, messages, params)
    except txmod.TxBuildError as exc:
        raise UsageError(str(exc)) from None
    confirm_signing(s, body, "sign and broadcast this transaction?", info.name)
    signed = txmod.sign(body, keyring.private_key(key_name))
    return broadcast_signed(s, signed, a.broadcast_mode, report)


def signer_address(s: Session, name_or_address: str) -> str:
    """``--from`` of a generated transaction: an ``mg1...`` address, or a key's (public) one."""
    from app.crypto import is_address

    if is_address(name_or_address):
        return name_or_address
    return s.keyring().get(name_or_address).address


def emit_unsigned(s: Session, key_name: str, messages: Sequence[Any], fee: Coin | None) -> int:
    """``--generate-only``: the unsigned document on stdout; asks the node nothing."""
    a = s.args
    try:
        body, unset = txmod.build_unsigned(
            signer_address(s, key_name),
            messages,
            chain_id=a.chain_id or None,
            sequence=a.sequence,
            fee=fee,
            timeout_height=a.timeout_height,
            memo=a.memo,
        )
    except txmod.TxBuildError as exc:
        raise UsageError(str(exc)) from None
    print(json.dumps(txmod.unsigned_document(body, unset), indent=2), file=s.env.stdout)
    return ExitCode.OK


def confirm_signing(s: Session, body: Any, question: str, key_name: str = "") -> None:
    """On a terminal and without --yes: show ``body`` (signed by key ``key_name``) and ask;
    raises Declined on no."""
    if getattr(s.args, "yes", False) or not s.env.interactive:
        return
    print(render.tx_body_text(body, signer_name=key_name), file=s.env.stderr)
    if not s.env.confirm(question):
        raise Declined("transaction not signed")


def broadcast_signed(
    s: Session,
    signed: codec.DecodedTx,
    mode: str,
    report: Callable[[TxResult], tuple[dict[str, Any], list[str]]] | None = None,
) -> int:
    """Send a signed transaction in ``mode`` (sync or commit) and report the result."""
    try:
        if mode == "sync":
            raw_result = s.rpc.broadcast_tx_sync(signed.raw)
        else:
            raw_result = s.rpc.broadcast_tx_commit(signed.raw)
    except NodeUnreachable as exc:
        exc.add_note(f"transaction {signed.hash_hex} may or may not have reached it")
        raise
    except RPCError as exc:
        raise ChainError(
            f"broadcast of transaction {signed.hash_hex} failed: {exc} "
            "(it may still be included in a later block: mgrid tx wait "
            f"{signed.hash_hex})"
        ) from None
    result = chainmod.parse_broadcast(mode, raw_result, signed.hash_hex)
    return report_tx(s, result, report)


def report_tx(
    s: Session,
    r: TxResult,
    report: Callable[[TxResult], tuple[dict[str, Any], list[str]]] | None = None,
) -> int:
    lines = [f"txhash: {r.txhash}"]
    if r.height:
        lines.append(f"height: {r.height}")
    lines.append(f"code: {r.code}")
    explanation = None if r.ok else errors.explain(r.codespace, r.code, r.log)
    if not r.ok:
        lines += [f"codespace: {r.codespace}", f"log: {r.log}"]
    elif r.phase == "check":
        lines.append(
            f"accepted into the mempool, not yet in a block (mgrid tx wait {r.txhash} waits for it)"
        )
    data = r.to_json()
    if explanation is not None:
        data["error"] = explanation
    if report is not None and r.ok:
        extra, extra_lines = report(r)
        data.update(extra)
        lines += extra_lines
    s.emit(data, "\n".join(lines))
    if r.ok:
        return ExitCode.OK
    if not s.json:
        where = "by CheckTx (nothing was executed)" if r.phase == "check" else "in the block"
        chain_said = f"codespace={r.codespace} code={r.code}: {r.log}"
        message = (
            f"transaction rejected {where}: {explanation}\n  (chain: {chain_said})"
            if explanation is not None
            else f"transaction rejected {where}: {chain_said}"
        )
        print(f"Error: {message}", file=s.env.stderr)
    return ExitCode.CHAIN
