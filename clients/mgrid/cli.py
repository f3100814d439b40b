"""``mgrid``: the wallet command line (DESIGN.md section 6).

    mgrid [global options] keys add NAME [--recover] | list | show NAME [--address|--pubkey]
          | delete NAME [--yes] | rename OLD NEW | export NAME | import NAME FILE
                                                              (cmd_keys.py)
    mgrid [global options] tx bank send FROM_KEY TO_ADDR AMOUNT [--fees 10ugrid]
          [--sequence N] [--timeout-height H] [--memo TEXT] [--broadcast-mode sync|commit]
          [--yes] [--generate-only]
          (or: tx bank send --from FROM_KEY TO_ADDR AMOUNT ...)
    mgrid [global options] tx registry apply | approve | reject | suspend | reinstate
          | register-meter | revoke-meter | set-renewable ... --from KEY (cmd_registry.py)
    mgrid [global options] tx market place-order | cancel-order | update-params
          | publish-forecast ... --from KEY                   (cmd_market.py)
    mgrid [global options] tx settlement reading --meter NAME --interval N|last
          --exported WH --imported WH ... --from KEY          (cmd_settlement.py)
    mgrid [global options] tx ibc transfer CHANNEL RECEIVER AMOUNT --from KEY ...
          | energy offer CHANNEL --side sell|buy ... --from KEY (cmd_ibc.py)
    mgrid [global options] tx sign FILE --from KEY [--chain-id C --sequence N] [--base64]
          | broadcast FILE | wait HASH [--timeout S]         (cmd_txfile.py)
    mgrid [global options] tx dr create-event | opt-in ... --from KEY  (cmd_dr.py)
    mgrid [global options] tx flex post-need | offer ... --from KEY   (cmd_flex.py)
    mgrid [global options] tx quota announce | demand | order ... --from KEY
                                                              (cmd_quota.py)
    mgrid [global options] tx certificates transfer | retire ... --from KEY
                                                              (cmd_certificates.py)
    mgrid [global options] tx storage deposit | redeem | transfer | sell ... --from KEY
                                                              (cmd_storage.py)
    mgrid [global options] query bank balance ADDR [--denom D] | balances ADDR
          | total-supply | params
    mgrid [global options] query account ADDR
    mgrid [global options] query registry participant | participants | meter | meters
          | network | authorities ...                          (cmd_registry.py)
    mgrid [global options] query market params | schedule | order | orders | interval
          | trades | grid-position | forecast ...             (cmd_market.py)
    mgrid [global options] query settlement params | reading | readings | interval N
          | settlements | kpis ...                            (cmd_settlement.py)
    mgrid [global options] query reputation params | score | history | ranking ...
                                                              (cmd_settlement.py)
    mgrid [global options] query dr | flex | quota ...     (cmd_dr.py, cmd_flex.py, cmd_quota.py)
    mgrid [global options] query certificates holdings | generator | issuances
          | retirements | origin | params ...                (cmd_certificates.py)
    mgrid [global options] query storage state | list | holders | credits | deposits
          | redemptions ...                                   (cmd_storage.py)
    mgrid [global options] query ibc clients | client | consensus-state | connections
          | connection | channels | channel | packets ...    (cmd_ibc.py)
    mgrid [global options] query transfer denom-traces | denom-trace | escrow-address
    mgrid [global options] query energy trades | trade ...    (cmd_ibc.py)
    mgrid [global options] status
    mgrid completion bash|zsh
    mgrid [global options] market clear ... | audit --interval N [--height H]
    mgrid quota allocate --capacity-margin W --demands FILE   (offline; cmd_quota.py)
    mgrid [global options] debug verify-proof ...

Every tx command takes the tx flags shown for bank send, and every query
``--height H``. The keys, offline-signing, registry, market, settlement and
reputation commands are documented in their modules; session.py holds what
all commands share.

``status`` shows the node's URL, chain id and moniker, the latest height
and block time, whether the node is still syncing (catching up) and the
size of its validator set. ``completion bash|zsh`` prints a completion
script made from this parser by shtab (``source <(mgrid completion bash)``,
or for zsh save it as ``_mgrid`` on ``$fpath``): it cannot drift from the
commands, because it is generated from the same argparse tree.

Global options (accepted before the command, and after it as Cosmos users
type them): ``--node URL`` (default http://127.0.0.1:26657), ``--chain-id``
(default: asked from the node's /status), ``--keyring-dir DIR`` (default
~/.mgrid/keyring), ``--keyring-backend file|test`` (default file: encrypted;
test: unencrypted, for localnets only), ``--output text|json``,
``--passphrase-file FILE`` (its first line is the keyring passphrase; without
it the passphrase is asked on the terminal).

The IBC commands (``tx ibc``, ``tx energy``, ``query ibc``, ``query
transfer``, ``query energy``) are documented in cmd_ibc.py and docs/ibc.md.

``tx`` asks the chain for what it is not told: the chain id (/status), the
sequence (auth Account query) and the fee (bank Params ``min_fee``, in the
chain's denom). With ``--chain-id``, ``--sequence`` and ``--fees`` the
transaction is built and signed without contacting the node until broadcast.
On a terminal and without ``--yes`` it shows the transaction and asks before
signing; elsewhere it signs without asking.

With ``--output json`` every command prints one JSON document on stdout:
amounts are decimal strings (they can exceed 2**64), heights, sequences and
codes are numbers, keys' ``pub_key`` is hex. A transaction prints
``{txhash, height, code, codespace, log, phase, events}`` (``events``: those
of the execution in the block, ``[{type, attributes: [{key, value}]}]``;
place-order adds ``order_id``, settlement reading adds ``reading``; a
refused one adds ``error``, errors.py's explanation of its code). Registry,
market, settlement and reputation queries print the chain's response message
in protobuf's JSON mapping (render.py: proto field names, enum names, 64-bit
integers as numbers up to 2^53, bytes as hex).
Errors go to stderr, as ``{"error": ..., "exit_code": ...}`` in JSON mode.

Exit codes:
    0  success
    1  the chain rejected the transaction (codespace, code and log shown, and
       what to do about it when errors.py knows the code), a query failed,
       the node returned an error, the person declined at the confirmation
       prompt, or ``market audit`` found a difference (or the interval is not
       cleared yet)
    2  usage error: bad arguments, amount, address, key name or file, a
       message the chain would refuse for its shape (its validate_basic runs
       before signing), or a transaction file that is malformed or was
       edited after signing
    3  node unreachable at --node
    4  keyring error: unknown key, existing key, wrong or missing passphrase
       (keyring or export), invalid mnemonic, corrupt key file or armor
    5  ``tx wait``: the transaction was not in a block before --timeout
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from app.coins import Coin, CoinError, parse_coins
from app.modules.market import MECHANISMS
from app.pb.cosmos.ics23.v1 import proofs_pb2
from clients.mgrid import chain as chainmod
from clients.mgrid import (
    cmd_certificates,
    cmd_dr,
    cmd_flex,
    cmd_ibc,
    cmd_keys,
    cmd_market,
    cmd_quota,
    cmd_registry,
    cmd_settlement,
    cmd_storage,
    cmd_txfile,
    errors,
)
from clients.mgrid import tx as txmod
from clients.mgrid.chain import ChainError, QueryError
from clients.mgrid.cmd_keys import (  # noqa: F401 (their home was this module)
    cmd_keys_add,
    cmd_keys_delete,
    cmd_keys_list,
    cmd_keys_show,
)
from clients.mgrid.keyring import InvalidKeyName, KeyNotFound, KeyringError
from clients.mgrid.session import (
    Declined,
    Env,
    ExitCode,
    Session,
    UsageError,
    add_global_options,
    add_height,
    add_tx_flags,
    group,
    leaf,
    parse_address,
    parse_hex,
    read_json_file,
    sign_and_broadcast,
)
from clients.rpc import NodeUnreachable, RPCError
from ibc.commitment import ics23

__all__ = ["Env", "ExitCode", "build_parser", "main", "run"]

COMPLETION_SHELLS = ("bash", "zsh")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgrid",
        allow_abbrev=False,
        description="Wallet of the microgrid chain: keys, transactions, queries.",
        epilog="Exit codes: 0 ok, 1 chain rejected / query error, 2 usage, "
        "3 node unreachable, 4 keyring error, 5 tx wait timed out.",
    )
    add_global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    # keys
    cmd_keys.add_commands(group(commands, "keys", "manage the keyring", "keys_command"))

    # tx
    tx = group(commands, "tx", "build, sign and broadcast transactions", "tx_module")
    bank_tx = group(tx, "bank", "bank transactions", "tx_command")
    p = leaf(bank_tx, "send", cmd_tx_bank_send, "send coins from a key to an address")
    p.add_argument(
        "from_key", metavar="FROM_KEY", help="name of the sending key (or give it as --from NAME)"
    )
    p.add_argument("to_address", metavar="TO_ADDR")
    p.add_argument("amount", metavar="AMOUNT", help="e.g. 1000ugrid (comma-separate denoms)")
    add_tx_flags(p, from_flag=False)
    cmd_registry.add_tx_commands(group(tx, "registry", "registry transactions", "tx_command"))
    cmd_market.add_tx_commands(group(tx, "market", "market transactions", "tx_command"))
    cmd_settlement.add_tx_commands(
        group(tx, "settlement", "meter readings for settlement", "tx_command")
    )
    cmd_ibc.add_ibc_tx_commands(group(tx, "ibc", "IBC token transfers (ICS-20)", "tx_command"))
    cmd_ibc.add_energy_tx_commands(
        group(tx, "energy", "energy offers to a neighbouring microgrid", "tx_command")
    )
    cmd_dr.add_tx_commands(group(tx, "dr", "demand-response events and opt-ins", "tx_command"))
    cmd_flex.add_tx_commands(group(tx, "flex", "the DSO's flexibility auction", "tx_command"))
    cmd_quota.add_tx_commands(group(tx, "quota", "EV-charging quotas", "tx_command"))
    cmd_certificates.add_tx_commands(
        group(tx, "certificates", "renewable energy certificates", "tx_command")
    )
    cmd_storage.add_tx_commands(group(tx, "storage", "storage-backed energy credits", "tx_command"))
    cmd_txfile.add_commands(tx)

    # query
    query = group(commands, "query", "query the chain", "query_module", aliases=["q"])
    bank_q = group(query, "bank", "balances, supply and params", "query_command")
    p = leaf(bank_q, "balance", cmd_query_balance, "balance of one denom")
    p.add_argument("address", metavar="ADDR")
    p.add_argument("--denom", help="default: the chain's denom (bank params)")
    add_height(p)
    p = leaf(bank_q, "balances", cmd_query_balances, "all balances of an address")
    p.add_argument("address", metavar="ADDR")
    add_height(p)
    add_height(leaf(bank_q, "total-supply", cmd_query_total_supply, "total supply per denom"))
    add_height(leaf(bank_q, "params", cmd_query_bank_params, "denom, min fee, fee collector"))
    p = leaf(query, "account", cmd_query_account, "sequence, public key and balances")
    p.add_argument("address", metavar="ADDR")
    add_height(p)
    cmd_registry.add_query_commands(
        group(query, "registry", "participants, meters, network, authorities", "query_command")
    )
    cmd_market.add_query_commands(
        group(query, "market", "params, schedule, orders, intervals, trades", "query_command")
    )
    cmd_settlement.add_query_commands(
        group(query, "settlement", "readings, settled intervals, KPIs", "query_command")
    )
    cmd_settlement.add_reputation_query_commands(
        group(query, "reputation", "scores, history, ranking", "query_command")
    )
    cmd_dr.add_query_commands(group(query, "dr", "demand-response events", "query_command"))
    cmd_flex.add_query_commands(
        group(query, "flex", "flexibility needs and offers", "query_command")
    )
    cmd_quota.add_query_commands(
        group(query, "quota", "capacity margins, stations' quotas", "query_command")
    )
    cmd_certificates.add_query_commands(
        group(query, "certificates", "holdings, issuances, retirements", "query_command")
    )
    cmd_storage.add_query_commands(
        group(query, "storage", "stored energy, credit holders, deposits", "query_command")
    )

    cmd_ibc.add_ibc_query_commands(
        group(query, "ibc", "clients, connections, channels, packets", "query_command")
    )
    cmd_ibc.add_transfer_query_commands(
        group(query, "transfer", "voucher denom traces, escrow accounts", "query_command")
    )
    cmd_ibc.add_energy_query_commands(
        group(query, "energy", "inter-microgrid energy trades", "query_command")
    )

    leaf(commands, "status", cmd_status, "node, chain id, latest height, syncing, validators")
    p = leaf(commands, "completion", cmd_completion, "print a shell completion script")
    p.add_argument("shell", choices=COMPLETION_SHELLS)

    # quota tools
    cmd_quota.add_tool_commands(
        group(commands, "quota", "EV-charging quota tools", "quota_command")
    )

    # market tools
    market = group(commands, "market", "market tools", "market_command")
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
    cmd_market.add_audit_command(market)

    # debug
    debug = group(commands, "debug", "offline tools for operators", "debug_command")
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


def hoist_from(argv: Sequence[str]) -> list[str]:
    """``tx bank send --from NAME TO AMOUNT`` as ``tx bank send NAME TO AMOUNT``.

    bank send names its key positionally (as it always did); every other tx
    command takes ``--from``. Moving ``--from NAME`` into the FROM_KEY place
    lets bank send accept both spellings without making its positionals
    ambiguous for argparse.
    """
    argv = list(argv)
    for i in range(len(argv) - 2):
        if argv[i : i + 3] == ["tx", "bank", "send"]:
            start = i + 3
            break
    else:
        return argv
    for j in range(start, len(argv)):
        token = argv[j]
        if token == "--":
            break
        if token == "--from" and j + 1 < len(argv):
            name = argv[j + 1]
            del argv[j : j + 2]
            argv.insert(start, name)
            break
        if token.startswith("--from="):
            del argv[j]
            argv.insert(start, token.removeprefix("--from="))
            break
    return argv


# -- commands ---------------------------------------------------------------------------------


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
    to_address = parse_address(a.to_address, "TO_ADDR")
    amount = _parse_amount(a.amount)
    msg = txmod.msg_send(to_address, amount)
    return sign_and_broadcast(s, a.from_key, [msg])


def _coin_json(c: Coin) -> dict[str, str]:
    return {"denom": c.denom, "amount": str(c.amount)}


def _coins_text(coins: Sequence[Coin]) -> str:
    return "\n".join(f"  - {c}" for c in coins) if coins else "  (none)"


def cmd_query_balance(s: Session) -> int:
    address = parse_address(s.args.address, "ADDR")
    height = s.args.height
    denom = s.args.denom or s.chain.bank_params(height).denom
    coin = s.chain.balance(address, denom, height)
    s.emit(_coin_json(coin), str(coin))
    return ExitCode.OK


def cmd_query_balances(s: Session) -> int:
    address = parse_address(s.args.address, "ADDR")
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
    address = parse_address(s.args.address, "ADDR")
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
    catching_up = bool(sync.get("catching_up"))
    data = {
        "node": s.args.node,
        "chain_id": node_info.get("network", ""),
        "moniker": node_info.get("moniker", ""),
        "latest_height": int(sync.get("latest_block_height") or 0),
        "latest_block_time": sync.get("latest_block_time", ""),
        "catching_up": catching_up,
        "syncing": catching_up,
        "validators": chainmod.validator_count(s.rpc),
    }
    text = "\n".join(
        f"{k}: {'yes' if v is True else 'no' if v is False else '-' if v is None else v}"
        for k, v in data.items()
        if k != "catching_up"
    )
    s.emit(data, text)
    return ExitCode.OK


def cmd_completion(s: Session) -> int:
    """A completion script generated from this parser by shtab (see the module docstring)."""
    import shtab

    script = shtab.complete(build_parser(), shell=s.args.shell)
    print(script, file=s.env.stdout, end="" if script.endswith("\n") else "\n")
    return ExitCode.OK


def cmd_market_clear(s: Session) -> int:
    from app.modules.market.cli import clear_from_json

    a = s.args
    try:
        result = clear_from_json(
            read_json_file(a.orders, "--orders"),
            a.mechanism,
            a.k,
            read_json_file(a.network, "--network"),
            read_json_file(a.params, "--params"),
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


def cmd_debug_verify_proof(s: Session) -> int:
    a = s.args
    root, key = parse_hex(a.root, "--root"), parse_hex(a.key, "--key")
    raw_proof = parse_hex(a.proof, "--proof")
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
        ok = ics23.verify_membership(spec, root, proof, key, parse_hex(a.value, "--value"))
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
        args = parser.parse_args(hoist_from(sys.argv[1:] if argv is None else argv))
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
        explanation = errors.explain(exc.codespace, exc.code, exc.log)
        message = f"{explanation} ({exc})" if explanation else str(exc)
        return fail(ExitCode.CHAIN, message, codespace=exc.codespace, code=exc.code, log=exc.log)
    except cmd_txfile.WaitTimeout as exc:
        return fail(ExitCode.TIMEOUT, str(exc))
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
