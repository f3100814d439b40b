"""Accounts of a simulation and the transactions they sign and broadcast.

Every household wallet, the faucet and the utility cell sign their own
transactions, built and checked by clients/mgrid/tx.py exactly as the
``mgrid`` wallet does. With blocks about a second apart, waiting for each
transaction to be committed before the next one would not fit in an
interval, so transactions go out with ``broadcast_tx_sync`` (CheckTx only)
and each account's sequence is counted here:

- CheckTx accepts: the sequence moves on; the transaction is *pending* until
  it shows up in a block, where its result (an order refused in the block
  because its gate closed meanwhile, say) is recorded. Blocks are followed
  with ``/block`` and ``/block_results`` (transaction hash = SHA-256 of its
  bytes), not ``/tx``, so nothing depends on the node's transaction indexer
  (which an operator may turn off).
- CheckTx refuses for the sequence (codespace ``tx``, code 3): the sequence
  is read again from the chain and the transaction re-signed once.
- CheckTx refuses for anything else (a suspended participant's order): the
  sequence stays, the refusal is returned to the caller.
- A pending transaction not in a block after ``inclusion_timeout`` seconds is
  given up as lost (a recheck may have dropped it from the mempool) and its
  account's sequence is read again from the chain before its next use.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.coins import Coin
from app.crypto import PrivateKey
from clients.mgrid import chain as chainmod
from clients.mgrid import tx as txmod
from clients.mgrid.chain import ChainClient, RPCLike
from clients.rpc import RPCError

TX_CODESPACE = "tx"
CODE_INVALID_SEQUENCE = 3
INCLUSION_TIMEOUT_S = 30.0


class Clock(Protocol):
    """Wall-clock time for timeouts and pauses between polls (tests substitute one
    that moves an in-process chain instead)."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class TxRPC(RPCLike, Protocol):
    """The RPC calls the simulator uses: the wallet's, and blocks to follow inclusion."""

    def block(self, height: int | None = None) -> dict[str, Any]: ...

    def block_results(self, height: int) -> dict[str, Any]: ...


@dataclass
class Account:
    """A signing key and the next sequence to sign with (None: ask the chain)."""

    name: str
    key: PrivateKey
    sequence: int | None = None

    @property
    def address(self) -> str:
        return self.key.address


@dataclass
class Sent:
    """A transaction and what became of it.

    ``status`` is ``refused`` (CheckTx said no; nothing was executed),
    ``pending`` (in the mempool), ``ok`` or ``failed`` (its result in block
    ``height``) or ``lost`` (not in a block within the timeout).
    """

    txhash: str
    account: str
    what: str
    household: str | None = None
    interval: int | None = None
    status: str = "pending"
    code: int = 0
    codespace: str = ""
    log: str = ""
    height: int = 0
    sent_at: float = 0.0

    @property
    def done(self) -> bool:
        return self.status != "pending"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        who = self.household or self.account
        where = f" for interval {self.interval}" if self.interval is not None else ""
        if self.status in ("refused", "failed"):
            phase = "refused by CheckTx" if self.status == "refused" else "failed in the block"
            return f"{who}: {self.what}{where} {phase}: {self.codespace}/{self.code}: {self.log}"
        if self.status == "lost":
            return f"{who}: {self.what}{where} not in a block in time (given up)"
        return f"{who}: {self.what}{where} {self.status}"


class Broadcaster:
    """Signs, broadcasts and follows transactions of many accounts."""

    def __init__(
        self,
        rpc: TxRPC,
        chain_id: str,
        fee: Coin,
        clock: Clock,
        inclusion_timeout: float = INCLUSION_TIMEOUT_S,
    ):
        self.rpc = rpc
        self.chain = ChainClient(rpc)
        self.chain_id = chain_id
        self.fee = fee
        self.clock = clock
        self.inclusion_timeout = inclusion_timeout
        self.pending: dict[str, Sent] = {}
        self._accounts: dict[str, Account] = {}
        self._scanned: int | None = None  # last height read while transactions were pending

    def send(
        self,
        account: Account,
        messages: Sequence[Any],
        *,
        what: str,
        household: str | None = None,
        interval: int | None = None,
    ) -> Sent:
        """Sign ``messages`` with ``account`` and broadcast them; raises TxBuildError for a
        transaction the chain would refuse for its shape (a bug of the simulator)."""
        if self._scanned is None:  # it cannot be in this block or an earlier one
            self._scanned = int(self.rpc.status()["sync_info"]["latest_block_height"])
        for attempt in (1, 2):
            if account.sequence is None:
                account.sequence = self.chain.account(account.address).sequence
            params = txmod.TxParams(self.chain_id, account.sequence, self.fee)
            body = txmod.build_body(account.address, messages, params)
            signed = txmod.sign(body, account.key)
            raw = self.rpc.broadcast_tx_sync(signed.raw)
            result = chainmod.parse_broadcast("sync", raw, signed.hash_hex)
            sent = Sent(
                signed.hash_hex,
                account.name,
                what,
                household,
                interval,
                code=result.code,
                codespace=result.codespace,
                log=result.log,
                sent_at=self.clock.monotonic(),
            )
            if result.ok:
                account.sequence += 1
                self.pending[sent.txhash] = sent
                self._accounts[sent.txhash] = account
                return sent
            if (
                result.codespace == TX_CODESPACE
                and result.code == CODE_INVALID_SEQUENCE
                and attempt == 1
            ):
                account.sequence = None
                continue
            sent.status = "refused"
            return sent
        raise AssertionError("unreachable")

    def poll(self) -> list[Sent]:
        """Read the blocks committed since the last poll; returns the pending transactions
        that finished (found in a block, or lost)."""
        if not self.pending:
            self._scanned = None
            return []
        finished = []
        latest = int(self.rpc.status()["sync_info"]["latest_block_height"])
        if self._scanned is None:
            self._scanned = latest - 1  # (set by send(); here only after a lost node)
        while self._scanned < latest:
            height = self._scanned + 1
            try:
                finished += self._scan(height)
            except RPCError:  # /status can run ahead of /block_results: next poll
                break
            self._scanned = height
        now = self.clock.monotonic()
        for txhash, sent in list(self.pending.items()):
            if now - sent.sent_at > self.inclusion_timeout:
                sent.status = "lost"
                self._accounts.pop(txhash).sequence = None
                del self.pending[txhash]
                finished.append(sent)
        return finished

    def _scan(self, height: int) -> list[Sent]:
        raw_txs = self.rpc.block(height)["block"]["data"].get("txs") or []
        hashes = [hashlib.sha256(base64.b64decode(t)).hexdigest().upper() for t in raw_txs]
        ours = [(i, h) for i, h in enumerate(hashes) if h in self.pending]
        if not ours:
            return []
        results = self.rpc.block_results(height).get("txs_results") or []
        finished = []
        for i, txhash in ours:
            sent = self.pending.pop(txhash)
            del self._accounts[txhash]
            executed = results[i] if i < len(results) else {}
            sent.height = height
            sent.code = int(executed.get("code") or 0)
            sent.codespace = str(executed.get("codespace") or "")
            sent.log = str(executed.get("log") or "")
            sent.status = "ok" if sent.code == 0 else "failed"
            finished.append(sent)
        return finished

    def wait(self, sent: Sequence[Sent], poll_seconds: float) -> list[Sent]:
        """Poll until every one of ``sent`` is done; returns all that finished meanwhile."""
        finished: list[Sent] = []
        while not all(s.done for s in sent):
            self.clock.sleep(poll_seconds)
            finished += self.poll()
        return finished
