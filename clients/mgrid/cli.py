"""``mgrid``: the wallet command line (DESIGN.md section 6).

    mgrid [global options] keys add NAME | show NAME [--address] | list | delete NAME --yes
    mgrid [global options] tx bank send FROM_KEY TO_ADDR AMOUNT [--fees 10ugrid]
          [--sequence N] [--timeout-height H] [--memo TEXT] [--broadcast-mode sync|commit] [--yes]
    mgrid [global options] query bank balance ADDR [--denom D] | balances ADDR
          | total-supply | params
    mgrid [global options] query account ADDR
    mgrid [global options] status

Global options (accepted before the command, and after it as Cosmos users
type them): ``--node URL`` (default http://127.0.0.1:26657), ``--chain-id``
(default: asked from the node's /status), ``--keyring-dir DIR`` (default
~/.mgrid/keyring), ``--keyring-backend file|test`` (default file: encrypted;
test: unencrypted, for localnets only), ``--output text|json``,
``--passphrase-file FILE`` (its first line is the keyring passphrase; without
it the passphrase is asked on the terminal).

``tx`` asks the chain for what it is not told: the chain id (/status), the
sequence (auth Account query) and the fee (bank Params ``min_fee``, in the
chain's denom). With ``--chain-id``, ``--sequence`` and ``--fees`` the
transaction is built and signed without contacting the node until broadcast.
On a terminal and without ``--yes`` it shows the transaction and asks before
signing; elsewhere it signs without asking.

With ``--output json`` every command prints one JSON document on stdout:
amounts are decimal strings (they can exceed 2**64), heights, sequences and
codes are numbers, keys' ``pub_key`` is hex. A transaction prints
``{txhash, height, code, codespace, log, phase}``. Errors go to stderr, as
``{"error": ..., "exit_code": ...}`` in JSON mode.

Exit codes:
    0  success
    1  the chain rejected the transaction (codespace, code and log shown), a
       query failed, the node returned an error, or the person declined at
       the confirmation prompt
    2  usage error: bad arguments, amount, address, key name or file
    3  node unreachable at --node
    4  keyring error: unknown key, existing key, wrong or missing passphrase,
       corrupt key file
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from app.coins import Coin, CoinError, parse_coin, parse_coins
from app.crypto import AddressError, decode_address
from app.modules.market import MECHANISMS
from app.pb.cosmos.ics23.v1 import proofs_pb2
from clients.mgrid import chain as chainmod
from clients.mgrid import tx as txmod
from clients.mgrid.chain import ChainClient, ChainError, QueryError, RPCLike, TxResult
from clients.mgrid.keyring import (
    BACKENDS,
    InvalidKeyName,
    KeyInfo,
    KeyNotFound,
    Keyring,
    KeyringError,
    Passphrase,
    PassphraseError,
)
from clients.rpc import DEFAULT_NODE, RPC, NodeUnreachable, RPCError
from ibc.commitment import ics23

DEFAULT_KEYRING_DIR = "~/.mgrid/keyring"
RPC_TIMEOUT_S = 30.0  # above CometBFT's 10 s timeout_broadcast_tx_commit


class ExitCode(IntEnum):
    OK = 0
    CHAIN = 1
    USAGE = 2
    NODE_UNREACHABLE = 3
    KEYRING = 4


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


# -- argument parsing ----------------------------------------------------------------------


def _uint(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= txmod.MAX_UINT64:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..2^64-1")
    return value


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgrid",
        allow_abbrev=False,
        description="Wallet of the microgrid chain: keys, transactions, queries.",
        epilog="Exit codes: 0 ok, 1 chain rejected / query error, 2 usage, "
        "3 node unreachable, 4 keyring error.",
    )
    _add_global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(
        group: Any, name: str, func: Callable[[Session], int], help: str, **kw: Any
    ) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(
            name, help=help, description=help, allow_abbrev=False, **kw
        )
        p.set_defaults(func=func)
        _add_global_options(p, top=False)
        return p

    # keys
    keys = commands.add_parser("keys", help="manage the keyring").add_subparsers(
        dest="keys_command", metavar="SUBCOMMAND", required=True
    )
    p = leaf(keys, "add", cmd_keys_add, "create a new key")
    p.add_argument("name")
    p = leaf(keys, "show", cmd_keys_show, "show a key's address and public key")
    p.add_argument("name")
    p.add_argument("--address", "-a", action="store_true", help="print only the address")
    leaf(keys, "list", cmd_keys_list, "list the keys")
    p = leaf(keys, "delete", cmd_keys_delete, "delete a key for good")
    p.add_argument("name")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    # tx
    tx = commands.add_parser("tx", help="build, sign and broadcast transactions").add_subparsers(
        dest="tx_module", metavar="MODULE", required=True
    )
    bank_tx = tx.add_parser("bank", help="bank transactions").add_subparsers(
        dest="tx_command", metavar="SUBCOMMAND", required=True
    )
    p = leaf(bank_tx, "send", cmd_tx_bank_send, "send coins from a key to an address")
    p.add_argument("from_key", metavar="FROM_KEY", help="name of the sending key")
    p.add_argument("to_address", metavar="TO_ADDR")
    p.add_argument("amount", metavar="AMOUNT", help="e.g. 1000ugrid (comma-separate denoms)")
    _add_tx_flags(p)

    # query
    query = commands.add_parser("query", aliases=["q"], help="query the chain").add_subparsers(
        dest="query_module", metavar="MODULE", required=True
    )
    bank_q = query.add_parser("bank", help="balances, supply and params").add_subparsers(
        dest="query_command", metavar="SUBCOMMAND", required=True
    )
    p = leaf(bank_q, "balance", cmd_query_balance, "balance of one denom")
    p.add_argument("address", metavar="ADDR")
    p.add_argument("--denom", help="default: the chain's denom (bank params)")
    _add_height(p)
    p = leaf(bank_q, "balances", cmd_query_balances, "all balances of an address")
    p.add_argument("address", metavar="ADDR")
    _add_height(p)
    _add_height(leaf(bank_q, "total-supply", cmd_query_total_supply, "total supply per denom"))
    _add_height(leaf(bank_q, "params", cmd_query_bank_params, "denom, min fee, fee collector"))
    p = leaf(query, "account", cmd_query_account, "sequence, public key and balances")
    p.add_argument("address", metavar="ADDR")
    _add_height(p)

    leaf(commands, "status", cmd_status, "node, chain id, latest height")

    # market (offline tools)
    market = commands.add_parser("market", help="market tools").add_subparsers(
        dest="market_command", metavar="SUBCOMMAND", required=True
    )
    p = leaf(
        market,
        "clear",
        cmd_market_clear,
        "clear an order book offline with the chain's own clearing function",
    )
    p.add_argument("--mechanism", required=True, choices=MECHANISMS)
    p.add_argument("--k", help="k of the k-double auction: 0.5 or 1/2 (default 1/2)")
    p.add_argument(
        "--orders", required=True, metavar="FILE", help="JSON list of orders ('-': stdin)"
    )
    p.add_argument(
        "--network", metavar="FILE", help="JSON radial network (buses, lines, capacities)"
    )
    p.add_argument("--params", metavar="FILE", help="JSON tariffs and price bounds")

    # debug
    debug = commands.add_parser("debug", help="offline tools for operators").add_subparsers(
        dest="debug_command", metavar="SUBCOMMAND", required=True
    )
    p = leaf(
        debug,
        "verify-proof",
        cmd_debug_verify_proof,
        "check an ICS-23 proof against a root (exit 0: holds, 1: does not)",
    )
    p.add_argument("--spec", choices=sorted(ics23.SPECS), default="smt")
    p.add_argument("--root", required=True, metavar="HEX", help="the commitment root (app hash)")
    p.add_argument("--key", required=True, metavar="HEX")
    p.add_argument("--value", metavar="HEX", help="omit to prove that the key is absent")
    p.add_argument("--proof", required=True, metavar="HEX", help="a CommitmentProof, protobuf")
    return parser


def _add_tx_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fees", metavar="COIN", help="e.g. 10ugrid (default: the chain's min fee)")
    p.add_argument(
        "--sequence", type=_uint, metavar="N", help="default: the account's sequence on chain"
    )
    p.add_argument(
        "--timeout-height", type=_uint, metavar="H", default=0, help="0 (default): no timeout"
    )
    p.add_argument("--memo", default="")
    p.add_argument("--broadcast-mode", choices=chainmod.BROADCAST_MODES, default="commit")
    p.add_argument("--yes", "-y", action="store_true", help="sign without asking")


def _add_height(p: argparse.ArgumentParser) -> None:
    p.add_argument("--height", type=_uint, default=0, help="query at this height (0: latest)")


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
        path = self.args.passphrase_file
        if path:
            return lambda: _read_passphrase_file(path)
        if not self.env.interactive:

            def missing() -> str:
                raise PassphraseError(
                    "the 'file' keyring needs a passphrase: pass --passphrase-file FILE, "
                    "or run in a terminal to be asked"
                )

            return missing

        def ask() -> str:
            first = self.env.getpass("Enter keyring passphrase: ")
            if new_key and self.env.getpass("Re-enter keyring passphrase: ") != first:
                raise PassphraseError("the two passphrases differ; nothing was written")
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


# -- commands ---------------------------------------------------------------------------------


def _key_json(info: KeyInfo) -> dict[str, str]:
    return {"name": info.name, "address": info.address, "pub_key": info.pub_key.hex()}


def _key_text(info: KeyInfo) -> str:
    return f"name: {info.name}\naddress: {info.address}\npub_key: {info.pub_key.hex()}"


def cmd_keys_add(s: Session) -> int:
    s.warn_if_test_backend()
    keyring = s.keyring(new_key=True)
    info = keyring.add(s.args.name)
    s.emit(_key_json(info), _key_text(info))
    print(
        f"note: this key exists only in {keyring.directory}/{info.name}.key; back up that file "
        f"{'and its passphrase ' if s.args.keyring_backend == 'file' else ''}"
        "to keep the account",
        file=s.env.stderr,
    )
    return ExitCode.OK


def cmd_keys_show(s: Session) -> int:
    info = s.keyring().get(s.args.name)
    s.emit(_key_json(info), info.address if s.args.address else _key_text(info))
    return ExitCode.OK


def cmd_keys_list(s: Session) -> int:
    keyring = s.keyring()
    infos = keyring.list()
    if infos:
        width = max(len(i.name) for i in infos)
        text = "\n".join(f"{i.name:<{width}}  {i.address}" for i in infos)
    else:
        text = f"no keys in {keyring.directory} (create one with: mgrid keys add NAME)"
    s.emit([_key_json(i) for i in infos], text)
    return ExitCode.OK


def cmd_keys_delete(s: Session) -> int:
    keyring = s.keyring()
    info = keyring.get(s.args.name)
    if not s.args.yes:
        if not s.env.interactive:
            raise UsageError(f"refusing to delete key {info.name!r} without --yes")
        prompt = f"delete key {info.name!r} ({info.address}) from {keyring.directory} for good?"
        if not s.env.confirm(prompt):
            raise Declined("key not deleted")
    keyring.delete(info.name)
    s.emit({**_key_json(info), "deleted": True}, f"deleted key {info.name!r} ({info.address})")
    return ExitCode.OK


def _parse_address(text: str, what: str) -> str:
    try:
        decode_address(text)
    except AddressError as exc:
        raise UsageError(f"{what}: {exc}") from None
    return text


def _parse_amount(text: str) -> list[Coin]:
    try:
        amount = parse_coins(text)
    except CoinError as exc:
        raise UsageError(f"amount: {exc}") from None
    if not amount:
        raise UsageError("amount: no coins given, e.g. 1000ugrid")
    return amount


def cmd_tx_bank_send(s: Session) -> int:
    a = s.args
    to_address = _parse_address(a.to_address, "TO_ADDR")
    amount = _parse_amount(a.amount)
    msg = txmod.msg_send(to_address, amount)
    return _sign_and_broadcast(s, a.from_key, [msg])


def _sign_and_broadcast(s: Session, key_name: str, messages: Sequence[Any]) -> int:
    """The common tail of every ``tx`` command."""
    a = s.args
    try:
        fee: Coin | None = parse_coin(a.fees) if a.fees else None
    except CoinError as exc:
        raise UsageError(f"--fees: {exc}") from None
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
    if not a.yes and s.env.interactive:
        print(json.dumps(txmod.body_to_json(body), indent=2), file=s.env.stderr)
        if not s.env.confirm("sign and broadcast this transaction?"):
            raise Declined("transaction not signed")
    signed = txmod.sign(body, keyring.private_key(key_name))
    try:
        if a.broadcast_mode == "sync":
            raw_result = s.rpc.broadcast_tx_sync(signed.raw)
        else:
            raw_result = s.rpc.broadcast_tx_commit(signed.raw)
    except NodeUnreachable as exc:
        exc.add_note(f"transaction {signed.hash_hex} may or may not have reached it")
        raise
    except RPCError as exc:
        raise ChainError(
            f"broadcast of transaction {signed.hash_hex} failed: {exc} "
            "(it may still be included in a later block)"
        ) from None
    result = chainmod.parse_broadcast(a.broadcast_mode, raw_result, signed.hash_hex)
    return _report_tx(s, result)


def _report_tx(s: Session, r: TxResult) -> int:
    lines = [f"txhash: {r.txhash}"]
    if r.height:
        lines.append(f"height: {r.height}")
    lines.append(f"code: {r.code}")
    if not r.ok:
        lines += [f"codespace: {r.codespace}", f"log: {r.log}"]
    elif r.phase == "check":
        lines.append("accepted into the mempool, not yet in a block")
    s.emit(r.to_json(), "\n".join(lines))
    if r.ok:
        return ExitCode.OK
    if not s.json:
        where = "by CheckTx (nothing was executed)" if r.phase == "check" else "in the block"
        print(
            f"Error: transaction rejected {where}: codespace={r.codespace} code={r.code}: {r.log}",
            file=s.env.stderr,
        )
    return ExitCode.CHAIN


def _coin_json(c: Coin) -> dict[str, str]:
    return {"denom": c.denom, "amount": str(c.amount)}


def _coins_text(coins: Sequence[Coin]) -> str:
    return "\n".join(f"  - {c}" for c in coins) if coins else "  (none)"


def cmd_query_balance(s: Session) -> int:
    address = _parse_address(s.args.address, "ADDR")
    height = s.args.height
    denom = s.args.denom or s.chain.bank_params(height).denom
    coin = s.chain.balance(address, denom, height)
    s.emit(_coin_json(coin), str(coin))
    return ExitCode.OK


def cmd_query_balances(s: Session) -> int:
    address = _parse_address(s.args.address, "ADDR")
    balances = s.chain.all_balances(address, s.args.height)
    s.emit(
        {"address": address, "balances": [_coin_json(c) for c in balances]},
        f"address: {address}\nbalances:\n{_coins_text(balances)}",
    )
    return ExitCode.OK


def cmd_query_total_supply(s: Session) -> int:
    supply = s.chain.total_supply(s.args.height)
    s.emit({"supply": [_coin_json(c) for c in supply]}, f"supply:\n{_coins_text(supply)}")
    return ExitCode.OK


def cmd_query_bank_params(s: Session) -> int:
    p = s.chain.bank_params(s.args.height)
    s.emit(
        {"denom": p.denom, "min_fee": _coin_json(p.min_fee), "fee_collector": p.fee_collector},
        f"denom: {p.denom}\nmin_fee: {p.min_fee}\nfee_collector: {p.fee_collector}",
    )
    return ExitCode.OK


def cmd_query_account(s: Session) -> int:
    address = _parse_address(s.args.address, "ADDR")
    acc = s.chain.account(address, s.args.height)
    balances = s.chain.all_balances(address, s.args.height)
    pub_key_text = acc.pub_key.hex() or "(none: the account has not signed a transaction yet)"
    s.emit(
        {
            "address": address,
            "pub_key": acc.pub_key.hex(),
            "sequence": acc.sequence,
            "balances": [_coin_json(c) for c in balances],
        },
        f"address: {address}\npub_key: {pub_key_text}\nsequence: {acc.sequence}\n"
        f"balances:\n{_coins_text(balances)}",
    )
    return ExitCode.OK


def cmd_status(s: Session) -> int:
    st = s.rpc.status()
    node_info, sync = st.get("node_info", {}), st.get("sync_info", {})
    data = {
        "node": s.args.node,
        "chain_id": node_info.get("network", ""),
        "moniker": node_info.get("moniker", ""),
        "latest_height": int(sync.get("latest_block_height") or 0),
        "latest_block_time": sync.get("latest_block_time", ""),
        "catching_up": bool(sync.get("catching_up")),
    }
    s.emit(data, "\n".join(f"{k}: {v}" for k, v in data.items()))
    return ExitCode.OK


def _read_json_file(path: str | None, flag: str) -> Any:
    if path is None:
        return None
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        return json.loads(text)
    except OSError as exc:
        raise UsageError(f"{flag}: cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{flag}: {path} is not JSON: {exc}") from None


def cmd_market_clear(s: Session) -> int:
    from app.modules.market.cli import clear_from_json

    a = s.args
    try:
        result = clear_from_json(
            _read_json_file(a.orders, "--orders"),
            a.mechanism,
            a.k,
            _read_json_file(a.network, "--network"),
            _read_json_file(a.params, "--params"),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    trades = "\n".join(
        f"  {t['buy_id']} <- {t['sell_id']}: {t['quantity']} Wh at {t['price']}/kWh = {t['amount']}"
        for t in result["trades"]
    )
    s.emit(
        result,
        f"mechanism: {result['mechanism']}\nclearing price: {result['clearing_price']}\n"
        f"matched: {result['matched_quantity']} Wh\ntrades:\n{trades or '  (none)'}",
    )
    return ExitCode.OK


def _hex_arg(text: str, name: str) -> bytes:
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise UsageError(f"{name} is not hex: {text[:40]!r}") from None


def cmd_debug_verify_proof(s: Session) -> int:
    a = s.args
    root, key = _hex_arg(a.root, "--root"), _hex_arg(a.key, "--key")
    raw_proof = _hex_arg(a.proof, "--proof")
    spec = ics23.SPECS[a.spec]
    try:
        proof = proofs_pb2.CommitmentProof.FromString(raw_proof)
    except Exception as exc:  # protobuf raises several types on garbage
        raise UsageError(f"--proof does not decode as a CommitmentProof: {exc}") from None
    if a.value is None:
        what = "non-membership"
        ok = ics23.verify_non_membership(spec, root, proof, key)
    else:
        what = "membership"
        ok = ics23.verify_membership(spec, root, proof, key, _hex_arg(a.value, "--value"))
    verdict = "holds" if ok else "does NOT hold"
    s.emit(
        {"valid": ok, "kind": what, "spec": a.spec},
        f"{what} proof {verdict} ({a.spec} spec, root {root.hex().upper()})",
    )
    return ExitCode.OK if ok else ExitCode.CHAIN


# -- entry point ------------------------------------------------------------------------------


def run(argv: Sequence[str] | None, env: Env) -> int:
    """Parse ``argv``, run the command and map every failure to an exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else ExitCode.USAGE
    s = Session(args, env)

    def fail(exit_code: ExitCode, message: str, **extra: Any) -> int:
        if s.json:
            doc = {"error": message, "exit_code": int(exit_code), **extra}
            print(json.dumps(doc), file=env.stderr)
        else:
            print(f"Error: {message}", file=env.stderr)
        return exit_code

    try:
        return int(args.func(s))
    except (UsageError, InvalidKeyName) as exc:
        return fail(ExitCode.USAGE, str(exc))
    except KeyringError as exc:
        return fail(ExitCode.KEYRING, _keyring_hint(exc, args))
    except NodeUnreachable as exc:
        message = f"no node at {args.node}: is the localnet running? try make localnet"
        notes = "; ".join(getattr(exc, "__notes__", []))
        return fail(ExitCode.NODE_UNREACHABLE, f"{message} ({notes})" if notes else message)
    except QueryError as exc:
        return fail(ExitCode.CHAIN, str(exc), codespace=exc.codespace, code=exc.code, log=exc.log)
    except (ChainError, RPCError) as exc:
        return fail(ExitCode.CHAIN, str(exc))
    except Declined as exc:
        return fail(ExitCode.CHAIN, f"declined: {exc}")
    except KeyboardInterrupt:
        print("interrupted", file=env.stderr)
        return 130


def _keyring_hint(exc: KeyringError, args: argparse.Namespace) -> str:
    if isinstance(exc, KeyNotFound):
        return (
            f"{exc} (backend {args.keyring_backend}); `mgrid keys list` shows the keys there, "
            "--keyring-dir and --keyring-backend choose the keyring"
        )
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point (``mgrid``)."""
    return run(argv, Env())


if __name__ == "__main__":
    sys.exit(main())
