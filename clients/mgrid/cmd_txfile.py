"""``mgrid tx sign | broadcast | wait``: offline signing and following a transaction.

    tx <any tx command> ... --from NAME|ADDR --generate-only > unsigned.json
    tx sign FILE --from NAME [--chain-id C] [--sequence N] [--fees COIN] [--yes] [--base64]
    tx broadcast FILE [--broadcast-mode sync|commit]
    tx wait HASH [--timeout S]

``--generate-only`` (on every tx command) prints the unsigned document of
tx.py and asks the node nothing: the chain id, sequence and fee it was not
given are listed as ``unset``. ``tx sign`` fills each of them from its flag
or, without one, from the node (chain id from /status, sequence from the
auth Account query, fee = bank params ``min_fee``); a flag also overrides a
value the document already has. With ``--chain-id`` and ``--sequence`` (and
a fee in the document or ``--fees``) it signs without any node: on a
machine that has the key and no network. It shows the transaction and asks
on a terminal unless ``--yes``, then prints the signed document (or, with
``--base64``, the raw transaction in base64 as the node's
``broadcast_tx_*`` take it).

``tx broadcast`` takes a signed document or a base64 transaction (FILE
``-``: stdin). It checks the document before sending it: the signature must
verify over ``body_bytes``, and ``body`` and ``txhash`` must describe those
bytes, so a document edited after signing is refused instead of being
rejected by the chain. Chain-side checks (sequence, chain id, fees, funds)
are the chain's: their errors come back translated (errors.py).

``tx wait`` polls until the transaction is in a block and reports it as
every tx command does (exit 0 when it succeeded, 1 when it failed in the
block); after ``--timeout`` seconds (default 60) it exits 5. It asks the
node's transaction index (/tx) and also reads the blocks committed from a
little before it started (chain.TxWatcher; ``--since-height H`` to look
further back), so it works on nodes that do not index transactions.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

from app import coins
from clients.mgrid import chain as chainmod
from clients.mgrid import tx as txmod
from clients.mgrid.session import (
    ExitCode,
    Session,
    UsageError,
    broadcast_signed,
    confirm_signing,
    leaf,
    parse_fee_flag,
    report_tx,
    uint_arg,
)

WAIT_TIMEOUT_S = 60.0
WAIT_POLL_S = 0.5
TXHASH_RE = re.compile(r"(?:0x)?[0-9a-fA-F]{64}")


class WaitTimeout(Exception):
    """``tx wait`` gave up before the transaction was in a block."""


def add_commands(tx: Any) -> None:
    """``tx sign``, ``tx broadcast`` and ``tx wait``, under the ``tx`` group ``tx``."""
    p = leaf(tx, "sign", cmd_sign, "sign an unsigned transaction file (offline with flags)")
    p.add_argument("file", metavar="FILE", help="from --generate-only ('-': stdin)")
    p.add_argument("--from", dest="from_key", metavar="NAME", required=True, help="the signing key")
    p.add_argument(
        "--sequence", type=uint_arg, metavar="N", help="default: the file's, else the chain's"
    )
    p.add_argument("--fees", metavar="COIN", help="default: the file's, else the chain's min fee")
    p.add_argument("--yes", "-y", action="store_true", help="sign without asking")
    p.add_argument(
        "--base64", action="store_true", help="print the signed transaction as one base64 line"
    )
    p = leaf(tx, "broadcast", cmd_broadcast, "broadcast a signed transaction file")
    p.add_argument("file", metavar="FILE", help="from mgrid tx sign ('-': stdin)")
    p.add_argument("--broadcast-mode", choices=chainmod.BROADCAST_MODES, default="commit")
    p = leaf(tx, "wait", cmd_wait, "wait until a transaction is in a block and show its result")
    p.add_argument("txhash", metavar="HASH", help="the transaction hash (hex)")
    p.add_argument(
        "--since-height",
        type=uint_arg,
        metavar="H",
        help=f"read blocks from H on (default: {chainmod.TX_LOOKBACK_BLOCKS} below the latest)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=WAIT_TIMEOUT_S,
        metavar="S",
        help=f"give up after S seconds, exit 5 (default {WAIT_TIMEOUT_S:g})",
    )


def cmd_sign(s: Session) -> int:
    a = s.args
    body, unset = _unsigned(read_document(s, a.file))
    s.warn_if_test_backend()
    keyring = s.keyring()
    info = keyring.get(a.from_key)
    if body.signer != info.address:
        raise UsageError(
            f"{a.file} is a transaction of {body.signer}; key {info.name!r} is {info.address}"
        )
    if a.chain_id:
        body.chain_id = a.chain_id
    elif "chain_id" in unset:
        body.chain_id = s.chain_id()
    if a.sequence is not None:
        body.sequence = a.sequence
    elif "sequence" in unset:
        body.sequence = s.chain.account(info.address).sequence
    fee = parse_fee_flag(a.fees)
    if fee is None and "fee" in unset:
        fee = s.chain.bank_params().min_fee
    if fee is not None:
        body.fee.CopyFrom(fee.to_proto())
    body = _checked(body)
    confirm_signing(s, body, "sign this transaction?", info.name)
    signed = txmod.sign(body, keyring.private_key(a.from_key))
    if a.base64:
        raw = base64.b64encode(signed.raw).decode()
        s.emit({"tx": raw, "txhash": signed.hash_hex}, raw)
    else:
        print(json.dumps(txmod.signed_document(signed), indent=2), file=s.env.stdout)
    return ExitCode.OK


def cmd_broadcast(s: Session) -> int:
    text = read_text(s, s.args.file).strip()
    try:
        if text.startswith("{"):
            signed = txmod.read_signed_document(_json(text, s.args.file))
        else:
            signed = txmod.decode_signed(_base64(text, s.args.file))
    except txmod.TxBuildError as exc:
        raise UsageError(f"{s.args.file}: {exc}") from None
    return broadcast_signed(s, signed, s.args.broadcast_mode)


def cmd_wait(s: Session) -> int:
    a = s.args
    if not TXHASH_RE.fullmatch(a.txhash):
        raise UsageError(f"HASH: expected 64 hex digits, got {a.txhash[:80]!r}")
    txhash = a.txhash.removeprefix("0x").upper()
    deadline = s.env.monotonic() + a.timeout
    watcher = chainmod.TxWatcher(s.rpc, txhash, a.since_height or None)
    while True:
        result = watcher.poll()
        if result is not None:
            return report_tx(s, result)
        if s.env.monotonic() >= deadline:
            raise WaitTimeout(
                f"transaction {txhash} is not in a block after {a.timeout:g} s: it may still be "
                "in the mempool (try again with a longer --timeout), or it was dropped "
                "(broadcast it again)"
            )
        s.env.sleep(min(WAIT_POLL_S, max(0.0, deadline - s.env.monotonic())))


# -- files ----------------------------------------------------------------------------------


def read_text(s: Session, path: str) -> str:
    """FILE's text ('-': stdin); UsageError when it cannot be read."""
    if path == "-":
        return s.env.stdin.read()
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"FILE: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"FILE: {path} is not text") from None


def read_document(s: Session, path: str) -> Any:
    return _json(read_text(s, path), path)


def _json(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"FILE: {path} is not JSON: {exc}") from None


def _base64(text: str, path: str) -> bytes:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (ValueError, binascii.Error):
        raise UsageError(
            f"FILE: {path} is neither a signed transaction document nor base64"
        ) from None


def _unsigned(doc: Any) -> tuple[Any, list[str]]:
    try:
        return txmod.read_unsigned_document(doc)
    except txmod.TxBuildError as exc:
        raise UsageError(f"FILE: {exc}") from None


def _checked(body: Any) -> Any:
    """The body rebuilt through tx.build_body, so a hand-edited file meets every check the
    wallet runs before signing (the chain's stateless ones included)."""
    try:
        fee = coins.from_proto(body.fee)
        params = txmod.TxParams(body.chain_id, body.sequence, fee, body.timeout_height, body.memo)
        return txmod.build_body(body.signer, list(body.messages), params)
    except (txmod.TxBuildError, coins.CoinError) as exc:
        raise UsageError(f"FILE: {exc}") from None
