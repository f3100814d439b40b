"""The chaos soak's bookkeeping, with no network in it (issue 8, item 5).

Three pure parts of ``python -m localnet chaos`` (:mod:`localnet.chaos`),
kept apart so they can be tested without a chain:

- :func:`fault_schedule`: the faults to inject, in order, from a seed. The
  kinds come in rounds, each a seeded permutation of every enabled kind, so
  a short run with a fixed seed still injects each kind once.
- :class:`Ledger`: the load generator's model of the chain. It knows every
  transaction the generator signed and what became of it (committed in a
  block with a result code, refused by CheckTx everywhere, never delivered,
  or expired), and for each load account the balance and sequence the chain
  must show once every committed transaction has run and every order has
  ended. Transactions carry a timeout height, so one that is not in a block
  up to that height never will be: that is how an unknown fate (sent to a
  node that died) is resolved without guessing.
- :func:`verdict` and :func:`stall_summary`: PASS or FAIL from the report,
  and the longest stretch without a new block.

Money follows the chain's rules (app/chain.py): a transaction whose ante
step passes (its block result carries the ``tx`` event) pays its fee and
uses its sequence even if its message fails; one whose ante step fails in
the block changes nothing. The generator's orders never cross (buys at the
market's lowest price, sells at its highest, no grid fill), so each ends
unmatched or cancelled with all its escrow and collateral returned: the
final balance of an account is its start balance less fees, plus what it
received and less what it sent.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# -- faults ------------------------------------------------------------------------------------

KILL_APP = "kill_app"
KILL_COMETBFT = "kill_cometbft"
RESTART_NODE = "restart_node"
PARTITION_NODE = "partition_node"
SPLIT = "split"
RESTART_NETWORK = "restart_network"
FAULT_KINDS = (KILL_APP, KILL_COMETBFT, RESTART_NODE, PARTITION_NODE, SPLIT, RESTART_NETWORK)
PARTITION_KINDS = (PARTITION_NODE, SPLIT)
# Faults that take the whole network out of commission (no commits while they hold).
NETWORK_KINDS = (SPLIT, RESTART_NETWORK)
MIN_VALIDATORS = 4  # one node away must leave more than 2/3 of the power behind


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject.

    ``nodes`` are the nodes it takes down or cuts off (every node for a
    network restart; the first group for a split). ``groups`` are the sides
    of a partition. ``gap_s`` is the quiet time before it (after the previous
    fault recovered), ``hold_s`` how long it lasts.
    """

    kind: str
    nodes: tuple[int, ...]
    gap_s: float
    hold_s: float
    groups: tuple[tuple[int, ...], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "nodes": list(self.nodes),
            "groups": [list(g) for g in self.groups],
            "gap_s": round(self.gap_s, 3),
            "hold_s": round(self.hold_s, 3),
        }


def check_range(name: str, bounds: tuple[float, float]) -> None:
    low, high = bounds
    if not 0 <= low <= high:
        raise ValueError(f"{name} must be MIN:MAX seconds with 0 <= MIN <= MAX, got {low}:{high}")


def fault_schedule(
    seed: int,
    validators: int,
    kinds: Sequence[str] = FAULT_KINDS,
    gap_s: tuple[float, float] = (10.0, 30.0),
    hold_s: tuple[float, float] = (3.0, 10.0),
) -> Iterator[FaultSpec]:
    """The faults to inject, endlessly, the same for the same arguments.

    Every round is a random permutation of ``kinds``; targets, gaps and hold
    times are drawn from the same seeded generator.

    Raises:
        ValueError: fewer than MIN_VALIDATORS validators, an unknown or
            repeated kind, or a bad range.
    """
    if validators < MIN_VALIDATORS:
        raise ValueError(
            f"chaos needs at least {MIN_VALIDATORS} validators (one node away must leave "
            f"more than 2/3 of the voting power), got {validators}"
        )
    unknown = [k for k in kinds if k not in FAULT_KINDS]
    if unknown or not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(f"fault kinds must be distinct ones of {', '.join(FAULT_KINDS)}: {kinds}")
    check_range("the fault gap", gap_s)
    check_range("the fault hold", hold_s)
    # A string seed is hashed (SHA-512) by random.Random: stable across runs and versions.
    rng = random.Random(f"mgrid-chaos/faults/{seed}")
    everyone = tuple(range(validators))
    while True:
        for kind in rng.sample(list(kinds), len(kinds)):
            gap = rng.uniform(*gap_s)
            hold = rng.uniform(*hold_s)
            if kind == SPLIT:
                order = rng.sample(everyone, validators)
                half = validators // 2
                left, right = tuple(sorted(order[:half])), tuple(sorted(order[half:]))
                yield FaultSpec(kind, left, gap, hold, (left, right))
            elif kind == RESTART_NETWORK:
                yield FaultSpec(kind, everyone, gap, hold)
            else:
                node = rng.randrange(validators)
                groups = ((node,), tuple(i for i in everyone if i != node))
                yield FaultSpec(kind, (node,), gap, hold, groups if kind == PARTITION_NODE else ())


# -- the ledger --------------------------------------------------------------------------------

TRANSFER = "transfer"
ORDER = "order"
CANCEL = "cancel"
TX_KINDS = (TRANSFER, ORDER, CANCEL)

PENDING = "pending"  # sent; not yet in a block, and its timeout height not yet passed
COMMITTED = "committed"  # in a block (with whatever result code)
REJECTED = "rejected"  # every node it reached refused it in CheckTx
UNDELIVERED = "undelivered"  # no node could be reached at all
EXPIRED = "expired"  # not in any block up to its timeout height: never will be

ANTE_EVENT = "tx"  # emitted by the ante step: fee paid, sequence used
PLACE_EVENT = "market_place_order"
CANCEL_EVENT = "market_cancel_order"


@dataclass
class SentTx:
    """A transaction the generator signed, and what became of it."""

    txhash: str
    kind: str
    signer: str
    sequence: int
    fee: int
    timeout_height: int
    amount: int = 0  # transfer
    recipient: str = ""  # transfer
    side: str = ""  # order: "buy" | "sell"
    interval: int = 0  # order
    quantity_wh: int = 0  # order
    price: int = 0  # order
    order_id: int = 0  # cancel: the order to cancel; order: the id it got
    state: str = PENDING
    accepted: bool = False  # some node's CheckTx took it into its mempool
    ambiguous: bool = False  # a broadcast whose answer was lost: it may be in a mempool
    rejections: list[str] = field(default_factory=list)
    broadcasts: int = 0
    height: int = 0
    code: int = 0
    codespace: str = ""
    log: str = ""
    ante_passed: bool = False


@dataclass
class AccountState:
    """A load account as the model expects the chain to show it."""

    address: str
    balance: int  # once every committed tx ran and every order ended
    sequence: int
    locked: int = 0  # escrow and collateral of its orders still open (spendable estimate)
    pending: str | None = None  # hash of its transaction in flight


@dataclass
class OrderRecord:
    """An order a committed transaction placed."""

    order_id: int
    owner: str
    side: str
    interval: int
    quantity_wh: int
    price: int
    txhash: str
    locked: int
    cancelled: bool = False
    ended: bool = False  # cancelled, or its interval cleared: nothing locked any more

    @property
    def expected_status(self) -> str:
        return "CANCELLED" if self.cancelled else "UNMATCHED"


@dataclass(frozen=True)
class BlockTx:
    """One transaction of a block with its result: hash, code and events
    (``(type, ((key, value), ...))``)."""

    txhash: str
    code: int
    codespace: str = ""
    log: str = ""
    events: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    def attribute(self, event_type: str, key: str) -> str | None:
        for etype, attrs in self.events:
            if etype == event_type:
                for k, v in attrs:
                    if k == key:
                        return v
        return None

    def has_event(self, event_type: str) -> bool:
        return any(etype == event_type for etype, _ in self.events)


class LedgerError(AssertionError):
    """The ledger was driven out of order (a bug in the generator, not in the chain)."""


class Ledger:
    """The generator's model of the load accounts and of every transaction it sent.

    Blocks are applied in height order, each exactly once, starting right
    after ``start_height``; the model is then what the chain must show at
    the last applied height, once the orders still open have ended.
    """

    def __init__(
        self,
        accounts: Mapping[str, tuple[int, int]],
        start_height: int,
        prior_orders: Mapping[str, int] | None = None,
    ):
        """``accounts``: address -> (balance, sequence) as queried at ``start_height``;
        ``prior_orders``: how many (ended) orders each already had then."""
        self.accounts = {
            addr: AccountState(addr, balance, seq) for addr, (balance, seq) in accounts.items()
        }
        self.prior_orders = dict(prior_orders or {})
        self.start_height = start_height
        self.height = start_height  # last block applied
        self.txs: dict[str, SentTx] = {}
        self.orders: dict[int, OrderRecord] = {}
        self.duplicates: list[dict[str, Any]] = []  # our hash seen in a second block
        self.resurrected: list[dict[str, Any]] = []  # resolved as not committed, then committed
        self.anomalies: list[str] = []  # results the model cannot explain

    # -- sending ---------------------------------------------------------------------------

    def idle(self) -> list[str]:
        """Accounts with no transaction in flight, in address order."""
        return sorted(a.address for a in self.accounts.values() if a.pending is None)

    def spendable(self, address: str) -> int:
        account = self.accounts[address]
        return account.balance - account.locked

    def open_orders(self, address: str) -> list[OrderRecord]:
        """Orders of ``address`` that have not ended, by id."""
        return [o for _, o in sorted(self.orders.items()) if o.owner == address and not o.ended]

    def record_sent(self, tx: SentTx) -> None:
        account = self.accounts.get(tx.signer)
        if account is None:
            raise LedgerError(f"{tx.signer} is not a load account")
        if account.pending is not None:
            raise LedgerError(f"{tx.signer} already has {account.pending} in flight")
        if tx.sequence != account.sequence:
            raise LedgerError(
                f"{tx.signer}: tx sequence {tx.sequence} != model sequence {account.sequence}"
            )
        if tx.txhash in self.txs:
            raise LedgerError(f"transaction {tx.txhash} was already sent")
        if tx.kind not in TX_KINDS:
            raise LedgerError(f"unknown transaction kind {tx.kind!r}")
        self.txs[tx.txhash] = tx
        account.pending = tx.txhash

    def record_accepted(self, txhash: str) -> None:
        tx = self.txs[txhash]
        tx.accepted = True
        tx.broadcasts += 1

    def record_rejected(self, txhash: str, node: str, code: int, codespace: str, log: str) -> None:
        tx = self.txs[txhash]
        tx.broadcasts += 1
        tx.rejections.append(f"{node}: {codespace}/{code}: {log}")

    def record_ambiguous(self, txhash: str) -> None:
        """A broadcast whose outcome is unknown (a timeout, an error after sending)."""
        tx = self.txs[txhash]
        tx.ambiguous = True
        tx.broadcasts += 1

    def settle_first_broadcast(self, txhash: str) -> str:
        """After a transaction's first round of broadcasts: a transaction no mempool
        can hold (every node refused it, or none could be reached) is resolved now;
        any other stays pending until a block has it or its timeout height passes.
        Returns the transaction's state."""
        tx = self.txs[txhash]
        if tx.state == PENDING and not tx.accepted and not tx.ambiguous:
            self._resolve(tx, REJECTED if tx.rejections else UNDELIVERED)
        return tx.state

    def _resolve(self, tx: SentTx, state: str) -> None:
        tx.state = state
        account = self.accounts[tx.signer]
        if account.pending == tx.txhash:
            account.pending = None

    # -- following the chain ---------------------------------------------------------------

    def apply_block(self, height: int, txs: Iterable[BlockTx]) -> None:
        """Apply block ``height``'s transactions (ours; others are ignored)."""
        if height != self.height + 1:
            raise LedgerError(f"block {height} applied after block {self.height}")
        self.height = height
        for index, btx in enumerate(txs):
            tx = self.txs.get(btx.txhash)
            if tx is None:
                continue
            if tx.state == COMMITTED:
                self.duplicates.append(
                    {"txhash": tx.txhash, "first": tx.height, "again": height, "index": index}
                )
                continue
            if tx.state != PENDING:
                # Resolved as never committed, yet here it is: the model's
                # rule was wrong. Follow the chain so later checks stay meaningful.
                self.resurrected.append({"txhash": tx.txhash, "was": tx.state, "height": height})
            self._commit(tx, height, btx)

    def _commit(self, tx: SentTx, height: int, btx: BlockTx) -> None:
        account = self.accounts[tx.signer]
        tx.height, tx.code, tx.codespace, tx.log = height, btx.code, btx.codespace, btx.log
        tx.ante_passed = btx.has_event(ANTE_EVENT)
        self._resolve(tx, COMMITTED)
        if not tx.ante_passed:
            if btx.code == 0:
                self.anomalies.append(f"{tx.txhash}: code 0 without the ante step's event")
            return  # refused before the fee: nothing happened
        account.balance -= tx.fee
        account.sequence += 1
        if btx.code != 0:
            return  # the message failed: fee and sequence only
        if tx.kind == TRANSFER:
            account.balance -= tx.amount
            recipient = self.accounts.get(tx.recipient)
            if recipient is not None:
                recipient.balance += tx.amount
        elif tx.kind == ORDER:
            self._placed(tx, btx)
        elif tx.kind == CANCEL:
            self._cancelled(tx, btx)

    def _placed(self, tx: SentTx, btx: BlockTx) -> None:
        raw_id = btx.attribute(PLACE_EVENT, "order_id")
        if raw_id is None or not raw_id.isdigit():
            self.anomalies.append(f"{tx.txhash}: order placed without an order id event")
            return
        locked = 0
        for key in ("escrow", "collateral"):
            value = btx.attribute(PLACE_EVENT, key) or "0"
            locked += int(value) if value.isdigit() else 0
        tx.order_id = int(raw_id)
        if tx.order_id in self.orders:
            self.anomalies.append(f"{tx.txhash}: order id {tx.order_id} given twice")
            return
        self.orders[tx.order_id] = OrderRecord(
            tx.order_id,
            tx.signer,
            tx.side,
            tx.interval,
            tx.quantity_wh,
            tx.price,
            tx.txhash,
            locked,
        )
        self.accounts[tx.signer].locked += locked

    def _cancelled(self, tx: SentTx, btx: BlockTx) -> None:
        order = self.orders.get(tx.order_id)
        if order is None or order.owner != tx.signer:
            self.anomalies.append(f"{tx.txhash}: cancelled order {tx.order_id} is not its own")
            return
        order.cancelled = True
        self._end(order)

    def _end(self, order: OrderRecord) -> None:
        if not order.ended:
            order.ended = True
            self.accounts[order.owner].locked -= order.locked

    def expire(self, scanned_height: int) -> list[SentTx]:
        """Resolve pending transactions whose timeout height ``scanned_height`` reached:
        every block up to it was applied without them. Returns them."""
        expired = [
            tx
            for tx in self.txs.values()
            if tx.state == PENDING and tx.timeout_height <= scanned_height
        ]
        for tx in expired:
            self._resolve(tx, EXPIRED)
        return expired

    def intervals_cleared(self, next_to_clear: int) -> None:
        """Orders of intervals before ``next_to_clear`` have been cleared (and, ours
        never crossing, ended unmatched): their escrow is spendable again."""
        for order in self.orders.values():
            if order.interval < next_to_clear:
                self._end(order)

    # -- views -----------------------------------------------------------------------------

    def pending(self) -> list[SentTx]:
        return [tx for tx in self.txs.values() if tx.state == PENDING]

    def committed(self) -> list[SentTx]:
        return [tx for tx in self.txs.values() if tx.state == COMMITTED]

    def last_order_interval(self) -> int:
        return max((o.interval for o in self.orders.values()), default=0)

    def summary(self) -> dict[str, Any]:
        """Counts for the report: sent, committed (ok/failed), rejected, undelivered, expired."""
        by_state = {s: 0 for s in (PENDING, COMMITTED, REJECTED, UNDELIVERED, EXPIRED)}
        by_kind: dict[str, dict[str, int]] = {k: {"sent": 0, "committed": 0} for k in TX_KINDS}
        failures: dict[str, int] = {}
        for tx in self.txs.values():
            by_state[tx.state] += 1
            by_kind[tx.kind]["sent"] += 1
            if tx.state == COMMITTED:
                by_kind[tx.kind]["committed"] += 1
                if tx.code:
                    name = f"{tx.kind} {tx.codespace}/{tx.code}"
                    failures[name] = failures.get(name, 0) + 1
        committed = by_state[COMMITTED]
        failed = sum(failures.values())
        return {
            "sent": len(self.txs),
            "committed": committed,
            "committed_ok": committed - failed,
            "committed_failed": failed,
            "failed_by_code": dict(sorted(failures.items())),
            "rejected_checktx": by_state[REJECTED],
            "undelivered": by_state[UNDELIVERED],
            "expired": by_state[EXPIRED],
            "pending": by_state[PENDING],
            "rebroadcasts": sum(max(0, tx.broadcasts - 1) for tx in self.txs.values()),
            "by_kind": by_kind,
            "orders_placed": len(self.orders),
            "orders_cancelled": sum(1 for o in self.orders.values() if o.cancelled),
            "duplicates_seen": len(self.duplicates),
            "resurrected": len(self.resurrected),
            "anomalies": len(self.anomalies),
        }


# -- final comparisons -------------------------------------------------------------------------


def divergent_heights(histories: Mapping[str, Mapping[int, str]]) -> list[int]:
    """Heights at which the nodes' header app hashes are not all equal (or one is missing)."""
    heights = sorted({h for history in histories.values() for h in history})
    return [
        h
        for h in heights
        if len({history.get(h) for history in histories.values()}) != 1
        or any(h not in history for history in histories.values())
    ]


def chain_tx_problems(
    ledger: Ledger, scans: Mapping[str, Mapping[str, Sequence[tuple[int, int]]]]
) -> dict[str, list[dict[str, Any]]]:
    """Compare the committed transactions of the ledger with each node's chain.

    ``scans``: node -> txhash -> every (height, code) the node's blocks hold
    it at. Returns ``lost`` (a transaction seen committed and absent from a
    node, or there at another height or with another code), ``duplicates``
    (any transaction in more than one block) and ``unexpected`` (one of ours
    the model resolved as never committed).
    """
    lost: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    unexpected: list[dict[str, Any]] = []
    for node, found in sorted(scans.items()):
        for tx in sorted(ledger.committed(), key=lambda t: (t.height, t.txhash)):
            places = list(found.get(tx.txhash, ()))
            if (tx.height, tx.code) not in places:
                lost.append(
                    {
                        "node": node,
                        "txhash": tx.txhash,
                        "seen": [tx.height, tx.code],
                        "chain": [list(p) for p in places],
                    }
                )
        for txhash, where in sorted(found.items()):
            if len(where) > 1:
                duplicates.append(
                    {"node": node, "txhash": txhash, "places": [list(p) for p in where]}
                )
            ours = ledger.txs.get(txhash)
            if ours is not None and ours.state != COMMITTED:
                unexpected.append({"node": node, "txhash": txhash, "state": ours.state})
    return {"lost": lost, "duplicates": duplicates, "unexpected": unexpected}


def account_problems(
    ledger: Ledger, states: Mapping[str, Mapping[str, tuple[int, int]]]
) -> list[dict[str, Any]]:
    """``states``: node -> address -> (balance, sequence) on that node. Every
    difference from the model, naming both values."""
    problems = []
    for node, by_address in sorted(states.items()):
        for address, account in sorted(ledger.accounts.items()):
            got = by_address.get(address)
            want = (account.balance, account.sequence)
            if got != want:
                problems.append(
                    {
                        "node": node,
                        "address": address,
                        "expected": {"balance": want[0], "sequence": want[1]},
                        "chain": None if got is None else {"balance": got[0], "sequence": got[1]},
                    }
                )
    return problems


def order_problems(
    ledger: Ledger,
    orders: Mapping[str, Mapping[int, Mapping[str, Any] | None]],
    counts: Mapping[str, Mapping[str, int]],
) -> list[dict[str, Any]]:
    """``orders``: node -> order id -> the chain's order as a dict with owner,
    side ("buy"/"sell"), interval, quantity_wh, price and status (None: no such
    order); ``counts``: node -> owner -> how many orders the chain lists for it."""
    problems: list[dict[str, Any]] = []
    for node, by_id in sorted(orders.items()):
        for order_id, record in sorted(ledger.orders.items()):
            want = {
                "owner": record.owner,
                "side": record.side,
                "interval": record.interval,
                "quantity_wh": record.quantity_wh,
                "price": record.price,
                "status": record.expected_status,
            }
            got = by_id.get(order_id)
            if got is None or any(got.get(k) != v for k, v in want.items()):
                problems.append(
                    {"node": node, "order_id": order_id, "expected": want, "chain": got}
                )
    for node, by_owner in sorted(counts.items()):
        for address in sorted(ledger.accounts):
            want_count = ledger.prior_orders.get(address, 0) + sum(
                1 for o in ledger.orders.values() if o.owner == address
            )
            if by_owner.get(address, 0) != want_count:
                problems.append(
                    {
                        "node": node,
                        "owner": address,
                        "expected_orders": want_count,
                        "chain_orders": by_owner.get(address, 0),
                    }
                )
    return problems


# -- stalls and the verdict --------------------------------------------------------------------


def stall_summary(
    first_seen: Sequence[tuple[int, float]],
    start: float,
    end: float,
    network_windows: Sequence[tuple[float, float]] = (),
) -> dict[str, Any]:
    """The longest stretch of [start, end] without a new block.

    ``first_seen``: (height, time) of each new highest height, time-ordered.
    ``network_windows``: (from, to) spans of faults that stop the whole
    network (a split, a full restart); a stretch overlapping one does not
    count towards ``max_stall_outside_network_faults_s``.
    """
    times = [start, *sorted(t for _, t in first_seen if start < t < end), end]
    worst = (0.0, start)
    worst_outside = (0.0, start)
    for a, b in itertools.pairwise(times):
        gap = b - a
        if gap > worst[0]:
            worst = (gap, a)
        overlaps = any(a < w_end and w_start < b for w_start, w_end in network_windows)
        if not overlaps and gap > worst_outside[0]:
            worst_outside = (gap, a)
    return {
        "max_stall_s": round(worst[0], 3),
        "max_stall_at_s": round(worst[1] - start, 3),
        "max_stall_outside_network_faults_s": round(worst_outside[0], 3),
    }


def verdict(report: Mapping[str, Any]) -> list[str]:
    """Why the run fails (empty: PASS). Reads the report's sections."""
    failures = []
    txs = report["txs"]
    if txs["lost"]:
        failures.append(f"{txs['lost']} committed transaction(s) lost")
    if txs["duplicates"]:
        failures.append(f"{txs['duplicates']} transaction(s) committed twice")
    if txs["unexpected"]:
        failures.append(f"{txs['unexpected']} transaction(s) committed after being written off")
    if txs["pending"]:
        failures.append(f"{txs['pending']} transaction(s) still of unknown fate")
    if txs["anomalies"]:
        failures.append(f"{txs['anomalies']} block result(s) the model cannot explain")
    if report["app_hashes"]["divergent"]:
        failures.append(f"{report['app_hashes']['divergent']} height(s) with divergent app hashes")
    if report["accounts"]["mismatches"]:
        failures.append(f"{len(report['accounts']['mismatches'])} account state mismatch(es)")
    if report["orders"]["mismatches"]:
        failures.append(f"{len(report['orders']['mismatches'])} order mismatch(es)")
    supply = report["supply"]
    if not supply["conserved"]:
        failures.append(f"supply not conserved: genesis {supply['genesis']}, {supply['per_node']}")
    for node, audit in sorted(supply.get("state_audit", {}).items()):
        if not audit.get("ok"):
            failures.append(f"{node}: state audit failed: {audit.get('error')}")
    nodes = report["nodes"]
    if not nodes["all_advanced"]:
        failures.append(f"node(s) stuck: {nodes['stuck']}")
    if not nodes["within_one_block"]:
        failures.append(f"nodes more than one block apart: {nodes['final_heights']}")
    for fault in report["faults"]:
        if not fault["recovered"]:
            failures.append(f"fault {fault['index']} ({fault['kind']}) did not recover")
        if fault.get("error"):
            failures.append(f"fault {fault['index']} ({fault['kind']}): {fault['error']}")
        if fault.get("expectation_met") is False:
            failures.append(
                f"fault {fault['index']} ({fault['kind']}): {fault.get('expectation', '')}"
            )
    if report["commits"] <= 0:
        failures.append("the chain committed no block during the run")
    return failures
