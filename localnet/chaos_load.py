"""The chaos soak's load and watchers: what runs while faults are injected.

- :class:`HeightMonitor` polls every node's ``/status`` from one thread per
  node, so a node that hangs does not blind the others. It knows each node's
  height, which nodes answer, and when the network first reached each
  height (the stall measure of the report).
- :func:`prepare_accounts` funds the load accounts from the localnet
  faucet, registers them as market participants (applied, then approved by
  the utility cell) and reads their starting balance and sequence: the
  :class:`~localnet.chaos_model.Ledger`'s first state.
- :class:`LoadGenerator` is a thread that sends a steady stream of signed
  transfers, orders and cancellations, one in flight per account, each to a
  random caught-up node with ``broadcast_tx_sync`` (another node when one
  does not answer), and follows the chain block by block, handing every
  block's results to the ledger. A transaction not in a block a few seconds
  after a node took it is sent again, byte for byte (the same hash, so it
  can commit at most once); its timeout height settles its fate if no block
  ever holds it.

Keys of the load accounts derive from the chain id and the seed, so a run
is reproducible; the random choices come from generators seeded the same
way (only real timing differs between two runs).
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from app.coins import Coin
from app.crypto import PrivateKey
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from clients.mgrid import tx as txlib
from clients.mgrid.chain import ChainClient, ChainError, QueryError, TxWatcher, pages
from clients.mgrid.keyring import Keyring, KeyringError
from clients.rpc import RPC, NodeUnreachable, RPCError
from localnet.chaos_model import (
    CANCEL,
    ORDER,
    TRANSFER,
    BlockTx,
    Ledger,
    OrderRecord,
    SentTx,
)
from localnet.errors import LocalnetError
from localnet.layout import KEYRING_BACKEND, Network

STATUS_TIMEOUT = 2.0
BROADCAST_TIMEOUT = 5.0
READ_TIMEOUT = 5.0
POLL_INTERVAL = 0.25
LIVE_AGE = 2.0  # a node that answered within this many seconds counts as live
SETUP_TIMEOUT = 90.0

FUND_AMOUNT = 10**11  # per load account; the faucet holds 10^15
MAX_TRANSFER = 1_000_000
MAX_FEE = 20
MAX_OPEN_ORDERS = 6  # per account, well under the market's limit
MAX_ORDER_WH = 5_000
# An order of a load account must still be open when its transaction lands:
# it targets an interval one or two after the earliest one still open.
ORDER_LEAD_INTERVALS = (1, 2)
MIX = ((TRANSFER, 6), (ORDER, 3), (CANCEL, 1))  # relative weights of the kinds sent


# -- reading blocks ----------------------------------------------------------------------------


def read_block_txs(rpc: RPC, height: int) -> list[BlockTx]:
    """The transactions of block ``height`` with their results, in block order.

    Raises:
        RPCError: the node does not answer or does not have the block.
        ChainError: the block or its results are malformed.
    """
    block = rpc.block(height)
    try:
        encoded = block["block"]["data"]["txs"] or []
    except (KeyError, TypeError):
        raise ChainError(f"{rpc.node}: block {height} is malformed") from None
    if not encoded:
        return []
    results = rpc.block_results(height).get("txs_results") or []
    if len(results) != len(encoded):
        raise ChainError(
            f"{rpc.node}: block {height} has {len(encoded)} transactions but {len(results)} results"
        )
    out = []
    for raw_b64, result in zip(encoded, results, strict=True):
        raw = base64.b64decode(raw_b64)
        events = tuple(
            (
                str(e.get("type") or ""),
                tuple(
                    (str(a.get("key") or ""), str(a.get("value") or ""))
                    for a in e.get("attributes") or []
                ),
            )
            for e in result.get("events") or []
        )
        out.append(
            BlockTx(
                hashlib.sha256(raw).hexdigest().upper(),
                int(result.get("code") or 0),
                str(result.get("codespace") or ""),
                str(result.get("log") or ""),
                events,
            )
        )
    return out


# -- heights -----------------------------------------------------------------------------------


class HeightMonitor:
    """Heights of every node, polled in the background (see the module docstring)."""

    def __init__(self, urls: list[str], poll: float = POLL_INTERVAL):
        self.urls = list(urls)
        self.poll = poll
        self._lock = threading.Lock()
        self._heights: list[int | None] = [None] * len(urls)
        self._last_ok: list[float] = [0.0] * len(urls)
        self._max = 0
        self._first_seen: list[tuple[int, float]] = []
        self._halt = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(i,), name=f"chaos-height-{i}", daemon=True)
            for i in range(len(urls))
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._halt.set()
        for thread in self._threads:
            thread.join(timeout=STATUS_TIMEOUT + 1)

    def _watch(self, index: int) -> None:
        rpc = RPC(self.urls[index], timeout=STATUS_TIMEOUT)
        while not self._halt.is_set():
            try:
                height: int | None = rpc.latest_height()
            except (RPCError, KeyError, ValueError, TypeError):
                height = None
            now = time.monotonic()
            with self._lock:
                self._heights[index] = height
                if height is not None:
                    self._last_ok[index] = now
                    if height > self._max:
                        # Heights a node skips over while catching up were
                        # reached by the others earlier: one record per new max.
                        self._max = height
                        self._first_seen.append((height, now))
            self._halt.wait(self.poll)

    def heights(self) -> list[int | None]:
        with self._lock:
            return list(self._heights)

    def height(self, index: int) -> int | None:
        with self._lock:
            return self._heights[index]

    @property
    def max_height(self) -> int:
        with self._lock:
            return self._max

    def first_seen(self) -> list[tuple[int, float]]:
        with self._lock:
            return list(self._first_seen)

    def live(self, index: int) -> bool:
        with self._lock:
            return (
                self._heights[index] is not None
                and time.monotonic() - self._last_ok[index] < LIVE_AGE
            )

    def caught_up(self) -> list[int]:
        """Live nodes at the highest height any node reported."""
        with self._lock:
            now = time.monotonic()
            return [
                i
                for i, h in enumerate(self._heights)
                if h is not None and h >= self._max and now - self._last_ok[i] < LIVE_AGE
            ]

    def wait_until(self, predicate: Callable[[list[int | None]], bool], timeout: float) -> bool:
        """Wait until ``predicate(heights)`` holds; False if ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while not predicate(self.heights()):
            if time.monotonic() > deadline:
                return False
            time.sleep(self.poll / 2)
        return True


# -- setting the accounts up -------------------------------------------------------------------


@dataclass(frozen=True)
class MarketTerms:
    """What the generator's orders need to know of the market's params."""

    min_price: int
    max_price: int
    min_order_wh: int
    max_order_wh: int
    max_open_orders: int


def load_keys(chain_id: str, seed: int, count: int) -> list[PrivateKey]:
    """The load accounts' keys: the same for the same chain id, seed and index."""
    return [
        PrivateKey(hashlib.sha256(f"mgrid-chaos/{chain_id}/{seed}/{i}".encode()).digest())
        for i in range(count)
    ]


def _submit(rpc: RPC, raw: bytes, what: str, timeout: float = SETUP_TIMEOUT) -> int:
    """Broadcast a setup transaction and wait for its block; return the height.

    Raises:
        LocalnetError: refused, failed in its block, or not committed in time.
    """
    txhash = hashlib.sha256(raw).hexdigest().upper()
    try:
        check = rpc.broadcast_tx_sync(raw)
    except RPCError as exc:
        raise LocalnetError(f"{what}: {rpc.node} did not take the transaction: {exc}") from None
    if int(check.get("code") or 0):
        raise LocalnetError(
            f"{what}: refused by CheckTx on {rpc.node}: "
            f"{check.get('codespace')}/{check.get('code')}: {check.get('log')}"
        )
    watcher = TxWatcher(rpc, txhash)
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = watcher.poll()
        except RPCError:
            found = None
        if found is not None:
            if found.code:
                raise LocalnetError(
                    f"{what}: failed in block {found.height}: "
                    f"{found.codespace}/{found.code}: {found.log}"
                )
            return found.height
        if time.monotonic() > deadline:
            raise LocalnetError(
                f"{what}: transaction {txhash} not committed within {timeout:.0f} s"
            )
        time.sleep(POLL_INTERVAL)


def _sign(
    key: PrivateKey, chain_id: str, sequence: int, denom: str, msgs: list[Any], fee: int = 0,
    timeout_height: int = 0,
) -> Any:  # fmt: skip
    params = txlib.TxParams(chain_id, sequence, Coin(denom, fee), timeout_height)
    return txlib.sign(txlib.build_body(key.address, msgs, params), key)


def prepare_accounts(
    network: Network, seed: int, count: int, log: Callable[[str], None]
) -> tuple[dict[str, PrivateKey], Ledger, MarketTerms, str]:
    """Fund, register and approve the load accounts; return their keys, the ledger
    started at the current height, the market's terms and the chain's denom.

    Raises:
        LocalnetError: the keyring lacks the faucet or utility key, a setup
            transaction failed, or an account still has open orders (from an
            earlier run with the same seed).
    """
    rpc = RPC(network.nodes[0].rpc_url, timeout=READ_TIMEOUT)
    client = ChainClient(rpc)
    chain_id = network.chain_id
    try:
        keyring = Keyring(network.keyring_dir, backend=KEYRING_BACKEND)
        faucet = keyring.private_key("faucet")
        utility = keyring.private_key("utility")
    except KeyringError as exc:
        raise LocalnetError(
            f"the chaos load needs the localnet's faucet and utility keys: {exc}"
        ) from None
    keys = {k.address: k for k in load_keys(chain_id, seed, count)}
    denom = client.bank_params().denom

    poor = [a for a in keys if client.balance(a, denom).amount < FUND_AMOUNT // 2]
    if poor:
        log(f"funding {len(poor)} load accounts from the faucet")
        msgs = [txlib.msg_send(a, [Coin(denom, FUND_AMOUNT)]) for a in poor]
        tx = _sign(faucet, chain_id, client.account(faucet.address).sequence, denom, msgs)
        _submit(rpc, tx.raw, "funding the load accounts")

    buses = sorted(b.id for b in client.network().buses if b.parent) or [""]
    to_approve = []
    for i, (address, key) in enumerate(sorted(keys.items())):
        status = _participant_status(client, address)
        if status in (None, registry_pb2.STATUS_REJECTED):
            msg = txlib.msg_apply(registry_pb2.ROLE_PROSUMER, buses[i % len(buses)])
            tx = _sign(key, chain_id, client.account(address).sequence, denom, [msg])
            _submit(rpc, tx.raw, f"registering load account {address}")
            status = registry_pb2.STATUS_PENDING
        if status == registry_pb2.STATUS_PENDING:
            to_approve.append(address)
        elif status != registry_pb2.STATUS_APPROVED:
            raise LocalnetError(
                f"load account {address} is {registry_pb2.Status.Name(status)} in the "
                "registry and cannot place orders; use another --seed"
            )
    if to_approve:
        log(f"registering {len(to_approve)} load accounts as market participants")
        msgs = [txlib.msg_approve(a) for a in to_approve]
        tx = _sign(utility, chain_id, client.account(utility.address).sequence, denom, msgs)
        _submit(rpc, tx.raw, "approving the load accounts")

    for address in sorted(keys):
        if client.orders(owner=address, open_only=True).orders:
            raise LocalnetError(
                f"load account {address} has open orders from an earlier run: the model "
                "could not predict their outcome; use another --seed or wait until they clear"
            )
    height = rpc.latest_height()
    start = {
        a: (client.balance(a, denom, height).amount, client.account(a, height).sequence)
        for a in sorted(keys)
    }
    prior = {a: count_orders(client, a, height) for a in sorted(keys)}
    return keys, Ledger(start, height, prior), market_terms(client), denom


def count_orders(client: ChainClient, owner: str, height: int) -> int:
    """How many orders (of any status) ``owner`` has at ``height``."""

    def fetch(page_key: bytes) -> Any:
        return client.orders(owner=owner, page_key=page_key, height=height)

    return sum(1 for _ in pages(fetch, "orders"))


def _participant_status(client: ChainClient, address: str) -> int | None:
    try:
        participant = client.participant(address)
    except QueryError:
        return None
    return int(participant.status) if participant.address else None


def market_terms(client: ChainClient) -> MarketTerms:
    """The market's price range and order limits, as its params query states them.

    Raises:
        LocalnetError: the market is off, or its price range leaves no room for
            orders that cannot cross.
    """
    params = client.market_params().params
    low = params.min_price if params.HasField("min_price") else params.feed_in_tariff
    high = params.max_price if params.HasField("max_price") else params.retail_tariff
    if not params.interval_seconds or low >= high:
        raise LocalnetError(
            f"the chaos load needs the market on with min price < max price "
            f"(interval_seconds {params.interval_seconds}, prices {low}..{high})"
        )
    return MarketTerms(low, high, params.min_order_wh, params.max_order_wh, params.max_open_orders)


# -- the load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadConfig:
    chain_id: str
    denom: str
    seed: int
    rate: float  # transactions per second
    market: MarketTerms
    timeout_blocks: int = 20  # a transaction's timeout height: this far above the chain's
    rebroadcast_s: float = 5.0  # send a taken, uncommitted transaction again after this long
    blocks_per_step: int = 20  # blocks read per loop step, so sending keeps its pace


class LoadGenerator(threading.Thread):
    """Sends the load and follows the chain (see the module docstring).

    The ledger belongs to this thread while it runs; others read it inside
    :meth:`locked`.
    """

    def __init__(
        self,
        monitor: HeightMonitor,
        keys: dict[str, PrivateKey],
        ledger: Ledger,
        config: LoadConfig,
    ):
        super().__init__(name="chaos-load", daemon=True)
        self.monitor = monitor
        self.keys = keys
        self.ledger = ledger
        self.config = config
        self.rng = random.Random(f"mgrid-chaos/load/{config.seed}")
        self.rpcs = [RPC(url, timeout=READ_TIMEOUT) for url in monitor.urls]
        self.broadcast_rpcs = [RPC(url, timeout=BROADCAST_TIMEOUT) for url in monitor.urls]
        self.raw: dict[str, bytes] = {}
        self.last_sent: dict[str, float] = {}
        self.next_to_clear = 0
        self.first_open = 0
        self.error: BaseException | None = None
        self.read_errors = 0
        self._lock = threading.Lock()
        self._sending = threading.Event()
        self._halt = threading.Event()
        self._schedule_at = 0.0

    # -- control ---------------------------------------------------------------------------

    def start_sending(self) -> None:
        self._sending.set()

    def stop_sending(self) -> None:
        self._sending.clear()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)

    @contextmanager
    def locked(self) -> Iterator[Ledger]:
        with self._lock:
            yield self.ledger

    def run(self) -> None:
        next_send = time.monotonic()
        try:
            while not self._halt.is_set():
                with self._lock:
                    self._follow()
                    self._refresh_schedule()
                    self._rebroadcast()
                    now = time.monotonic()
                    if self._sending.is_set() and now >= next_send:
                        self._send_one()
                        # No catching up on missed sends after a stall: a steady rate.
                        next_send = max(next_send + 1 / self.config.rate, now)
                self._halt.wait(0.05)
        except BaseException as exc:  # surfaced by the orchestrator as a FAIL
            self.error = exc

    # -- following the chain ---------------------------------------------------------------

    def _nodes_at(self, height: int) -> list[int]:
        heights = self.monitor.heights()
        nodes = [i for i, h in enumerate(heights) if h is not None and h >= height]
        self.rng.shuffle(nodes)
        return nodes

    def _follow(self) -> None:
        target = min(self.monitor.max_height, self.ledger.height + self.config.blocks_per_step)
        while self.ledger.height < target:
            height = self.ledger.height + 1
            txs = None
            for node in self._nodes_at(height):
                try:
                    txs = read_block_txs(self.rpcs[node], height)
                    break
                except (RPCError, ChainError):
                    self.read_errors += 1
            if txs is None:
                return  # nobody serves it right now: next step
            self.ledger.apply_block(height, txs)
            self.ledger.expire(height)

    def _refresh_schedule(self) -> None:
        if time.monotonic() < self._schedule_at:
            return
        self._schedule_at = time.monotonic() + 2.0
        for node in self.monitor.caught_up():
            try:
                schedule = ChainClient(self.rpcs[node]).schedule()
            except (RPCError, ChainError):
                self.read_errors += 1
                continue
            self.next_to_clear = max(self.next_to_clear, int(schedule.next_to_clear))
            self.first_open = max(self.first_open, int(schedule.first_open))
            self.ledger.intervals_cleared(self.next_to_clear)
            return

    # -- sending ---------------------------------------------------------------------------

    def _candidates(self) -> list[int]:
        """Caught-up nodes in random order, then the other live ones: a lagging node
        would refuse the next sequence of an account whose last tx it has not seen."""
        ahead = self.monitor.caught_up()
        self.rng.shuffle(ahead)
        others = [i for i in range(len(self.rpcs)) if i not in ahead and self.monitor.live(i)]
        self.rng.shuffle(others)
        return ahead + others

    def _broadcast(self, txhash: str, node: int) -> str:
        """One broadcast_tx_sync; returns accepted | rejected | ambiguous | refused."""
        rpc = self.broadcast_rpcs[node]
        self.last_sent[txhash] = time.monotonic()
        try:
            result = rpc.broadcast_tx_sync(self.raw[txhash])
        except NodeUnreachable as exc:
            text = str(exc).lower()
            if "refused" in text or "unreachable" in text or "no route" in text:
                return "refused"  # the request never reached a node
            self.ledger.record_ambiguous(txhash)
            return "ambiguous"
        except RPCError:
            # e.g. "tx already exists in cache": the node saw it before; or the
            # node failed after reading it. Either way it may sit in a mempool.
            self.ledger.record_ambiguous(txhash)
            return "ambiguous"
        code = int(result.get("code") or 0)
        if code == 0:
            self.ledger.record_accepted(txhash)
            return "accepted"
        self.ledger.record_rejected(
            txhash, rpc.node, code, str(result.get("codespace") or ""), str(result.get("log") or "")
        )
        return "rejected"

    def _rebroadcast(self) -> None:
        now = time.monotonic()
        for tx in self.ledger.pending():
            if now - self.last_sent.get(tx.txhash, now) < self.config.rebroadcast_s:
                continue
            nodes = self._candidates()
            if nodes:
                self._broadcast(tx.txhash, nodes[0])
            else:
                self.last_sent[tx.txhash] = now

    def _send_one(self) -> None:
        idle = self.ledger.idle()
        nodes = self._candidates()
        if not idle or not nodes:
            return
        signer = self.rng.choice(idle)
        tx, raw = self._build(signer)
        self.ledger.record_sent(tx)
        self.raw[tx.txhash] = raw
        # On to the next node when one cannot be reached; a second opinion when one
        # refused it (it may lag behind the account's last transaction), no third.
        rejections = 0
        for node in nodes:
            outcome = self._broadcast(tx.txhash, node)
            if outcome in ("accepted", "ambiguous"):
                break
            if outcome == "rejected":
                rejections += 1
                if rejections == 2:
                    break
        self.ledger.settle_first_broadcast(tx.txhash)

    def _build(self, signer: str) -> tuple[SentTx, bytes]:
        rng = self.rng
        kind = rng.choices([k for k, _ in MIX], weights=[w for _, w in MIX])[0]
        account = self.ledger.accounts[signer]
        fee = rng.randint(1, MAX_FEE)
        timeout = self.monitor.max_height + self.config.timeout_blocks
        market = self.config.market
        cancellable = [o for o in self.ledger.open_orders(signer) if o.interval > self.first_open]
        if kind == CANCEL and not cancellable:
            kind = ORDER
        if kind == ORDER and (
            not self.first_open
            or len(self.ledger.open_orders(signer)) >= min(MAX_OPEN_ORDERS, market.max_open_orders)
            or self.ledger.spendable(signer) < self._order_reserve()
        ):
            kind = TRANSFER
        if kind == CANCEL:
            order: OrderRecord = rng.choice(cancellable)
            sent = SentTx(
                "", CANCEL, signer, account.sequence, fee, timeout, order_id=order.order_id
            )
            msg = txlib.msg_cancel_order(order.order_id)
        elif kind == ORDER:
            side = rng.choice(("buy", "sell"))
            # Buys at the lowest price, sells at the highest: the book never
            # crosses, so every order ends unmatched and returns all it locked.
            price = market.min_price if side == "buy" else market.max_price
            high = max(market.min_order_wh, min(market.max_order_wh, MAX_ORDER_WH))
            quantity = rng.randint(market.min_order_wh, high)
            interval = self.first_open + rng.choice(ORDER_LEAD_INTERVALS)
            sent = SentTx(
                "", ORDER, signer, account.sequence, fee, timeout,
                side=side, interval=interval, quantity_wh=quantity, price=price,
            )  # fmt: skip
            pb_side = market_pb2.SIDE_BUY if side == "buy" else market_pb2.SIDE_SELL
            msg = txlib.msg_place_order(pb_side, interval, quantity, price)
        else:
            recipient = rng.choice([a for a in sorted(self.keys) if a != signer])
            amount = rng.randint(1, MAX_TRANSFER)
            if self.ledger.spendable(signer) < amount + fee:
                amount = 1
            sent = SentTx(
                "", TRANSFER, signer, account.sequence, fee, timeout,
                amount=amount, recipient=recipient,
            )  # fmt: skip
            msg = txlib.msg_send(recipient, [Coin(self.config.denom, amount)])
        signed = _sign(
            self.keys[signer], self.config.chain_id, sent.sequence, self.config.denom, [msg],
            fee=fee, timeout_height=timeout,
        )  # fmt: skip
        sent.txhash = signed.hash_hex
        return sent, signed.raw

    def _order_reserve(self) -> int:
        """Enough for the escrow or collateral of any order the generator places,
        with the market's ceilings doubled: never refused for funds."""
        market = self.config.market
        return 4 * MAX_ORDER_WH * market.max_price // 1000 + MAX_FEE
