"""The dashboard at 10,000 participants and a day of 15-minute intervals, next to a
small microgrid measured in the same run.

    .venv/bin/python bench/dashboard.py [--participants 10000] [--intervals 96]
        [--orders-per-interval N] [--small 100x8] [--browser/--no-browser]

Prints one JSON document on stdout, progress on stderr. For each size it:

1. builds the state in one process (tests/support/inproc.py: the app's real
   Chain with a minimal block producer): a genesis with ``participants``
   approved participants on a radial network of four feeders, each with a
   meter, and 15-minute delivery intervals; then ``intervals`` intervals,
   each with ``orders-per-interval`` signed orders (MsgPlaceOrder, five to a
   transaction: a trader's stepped bid) from the next few hundred participants
   round the list, cleared at gate closure, and meter readings
   (MsgMeterReading, 64 per tx from a head-end account) for most of the
   participants that had contracts, so that settlement, penalties, reputation
   and suspensions move. The next interval's book is left open with orders.
   Transactions go straight into blocks (no CheckTx: FinalizeBlock verifies
   every signature anyway), and the node's per-block invariant checks are off
   while building (the last block checks them);
2. serves the dashboard (clients.dashboard) over that node, blocks handed to
   its follower as soon as they are committed, and times every API endpoint
   over HTTP, each request on a new connection: the first call to a fresh
   server (cold), the same height again (warm: the server's cache), the first
   call after a new block (what each block costs an open view), the same with
   the roster of participants due for its rebuild, and the response size; and
   a cached answer on a kept-alive connection against new ones;
3. with ``--browser`` (the default when Debian's Chromium is installed), loads
   each route in headless Chromium and times navigation to
   ``main#view[data-ready=true]``, the re-render after a new block (block
   event -> ``#height`` updated -> the view re-rendered at that height),
   the DOM size and the JS heap.

The figures to quote are the ratios big / small, taken in one run on one
machine (``ratios`` in the output). State building time is reported too.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.crypto import PrivateKey
from app.genesis import default_app_state
from app.modules.market import keeper as market_keeper
from app.modules.settlement.reading import sign_reading
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.tx import codec
from clients.dashboard import views
from clients.dashboard.follower import Follower, block_event
from clients.dashboard.server import Dashboard, start_server
from clients.dashboard.views import Views
from tests.support import browser
from tests.support.inproc import InProcessNode

CHAIN_ID = "mg-dash-bench"
DENOM = "ugrid"
INTERVAL_S = 900
GATE_S = 300
WINDOW_S = 300
FUNDS = 10**12  # ugrid per participant: escrow for a day of orders, never the limit
MAX_MSGS = codec.MAX_MSGS_PER_TX
BLOCK_TXS = 500  # transactions per block while building
SEED = 20_261_121
Progress = Callable[[str], None]

# The radial network: the point of common coupling and four feeders. f4 is a
# weak line (its flows are curtailed most intervals); losses differ per line.
NETWORK: dict[str, Any] = {
    "buses": [
        {"id": "pcc", "capacity_wh": 50_000_000},
        {"id": "f1", "parent": "pcc", "capacity_wh": 20_000_000, "loss_ppm": 10_000},
        {"id": "f2", "parent": "pcc", "capacity_wh": 20_000_000, "loss_ppm": 20_000},
        {"id": "f3", "parent": "pcc", "capacity_wh": 20_000_000},
        {"id": "f4", "parent": "pcc", "capacity_wh": 150_000, "loss_ppm": 30_000},
    ]
}
FEEDERS = ("f1", "f2", "f3", "f4")
# (role, technology, share): sides follow the role, prosumers do both.
ROLES = (("prosumer", "solar", 70), ("consumer", None, 15), ("producer", "wind", 15))
UNRELIABLE = 50  # one participant in 50 never sends a reading (and ends up suspended)
MISSING_PERCENT = 5  # the others miss a reading now and then
UNPRICED_PERCENT = 5  # orders without a limit price (priced automatically at clearing)
GRID_FILL_PERCENT = 5  # orders the main grid fills when the local market does not
# Orders per participant and interval, in one transaction: settlement's cost grows with
# the participants it settles, so a few thousand orders come from a few hundred traders.
ORDERS_PER_TRADER = 5


# --- sizes and arithmetic ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Size:
    """One microgrid to build: participants, cleared intervals, and each interval's
    orders, placed ``per_trader`` to a transaction (a participant's stepped bid)."""

    participants: int
    intervals: int
    orders_per_interval: int
    per_trader: int = ORDERS_PER_TRADER

    @classmethod
    def of(cls, participants: int, intervals: int, orders: int | None = None) -> Size:
        """``orders`` defaults to a fifth of the participants (at least 40), at most
        ``ORDERS_PER_TRADER`` per participant."""
        if participants < 2 or intervals < 1:
            raise ValueError(
                f"need >= 2 participants and >= 1 interval, got {participants}x{intervals}"
            )
        n = orders if orders is not None else max(40, participants // 5)
        return cls(participants, intervals, max(2, min(n, participants * ORDERS_PER_TRADER)))

    @property
    def traders(self) -> int:
        """Participants placing orders in one interval."""
        return min(self.participants, -(-self.orders_per_interval // self.per_trader))

    @property
    def label(self) -> str:
        return (
            f"{self.participants:,} participants x {self.intervals} intervals, "
            f"{self.orders_per_interval:,} orders per interval from {self.traders:,} of them"
        )


def parse_size(text: str) -> tuple[int, int]:
    """``"100x8"`` -> (100, 8)."""
    try:
        p, i = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PARTICIPANTSxINTERVALS, got {text!r}") from None
    return p, i


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds, 3 decimals (None stays None)."""
    return None if seconds is None else round(seconds * 1000, 3)


# Figures whose ratio means nothing (the ids of the intervals built).
NOT_RATIOS = frozenset({"first_interval", "last_cleared", "next_interval"})


def ratio(big: Any, small: Any) -> float | None:
    """big / small, 2 decimals; None unless both are positive numbers."""
    ok = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (big, small))
    if not ok or small <= 0 or big < 0 or not math.isfinite(big / small):
        return None
    return round(big / small, 2)


def ratios(small: dict[str, Any], big: dict[str, Any]) -> dict[str, Any]:
    """big / small for every number present in both documents, same nesting: dicts by
    key, lists of dicts by their ``name``. Counts and sizes included (they say how much
    more the big microgrid holds); booleans, strings and interval ids left out."""
    out: dict[str, Any] = {}
    for key, b in big.items():
        s = small.get(key)
        if key in NOT_RATIOS:
            continue
        if isinstance(b, dict) and isinstance(s, dict):
            sub = ratios(s, b)
            if sub:
                out[key] = sub
        elif isinstance(b, list) and isinstance(s, list):
            named = {x.get("name"): x for x in s if isinstance(x, dict) and "name" in x}
            rows = {}
            for x in b:
                if isinstance(x, dict) and x.get("name") in named:
                    sub = ratios(named[x["name"]], x)
                    if sub:
                        rows[str(x["name"])] = sub
            if rows:
                out[key] = rows
        else:
            r = ratio(b, s)
            if r is not None:
                out[key] = r
    return out


def sell_share(k: int, intervals_per_day: int = 96) -> float:
    """The share of sell orders in the k-th interval of the day: a solar bump around
    noon (0.25 at night, 0.75 at noon), so clearing prices move over the day."""
    phase = (k % intervals_per_day) / intervals_per_day  # 0 = midnight
    daylight = max(0.0, math.sin(math.pi * (phase - 0.25) / 0.5)) if 0.25 < phase < 0.75 else 0.0
    return 0.25 + 0.5 * daylight


# --- the state ------------------------------------------------------------------------


def participant_key(i: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"mgrid dashboard bench participant %d" % i).digest())


def meter_key(i: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"mgrid dashboard bench meter %d" % i).digest())


HEADEND = PrivateKey(hashlib.sha256(b"mgrid dashboard bench head-end").digest())
UTILITY = PrivateKey(hashlib.sha256(b"mgrid dashboard bench utility").digest())
REGULATOR = PrivateKey(hashlib.sha256(b"mgrid dashboard bench regulator").digest())


@dataclass(slots=True)
class Member:
    index: int
    key: PrivateKey
    meter: PrivateKey
    address: str
    role: str
    bus: str
    sequence: int = 0


def role_of(i: int) -> tuple[str, str | None]:
    slot = i % 100
    for role, technology, share in ROLES:
        if slot < share:
            return role, technology
        slot -= share
    raise AssertionError("ROLES shares must add up to 100")


def make_members(n: int) -> list[Member]:
    out = []
    for i in range(n):
        key = participant_key(i)
        role, _ = role_of(i)
        out.append(Member(i, key, meter_key(i), key.address, role, FEEDERS[i % len(FEEDERS)]))
    return out


def genesis(members: list[Member]) -> dict[str, Any]:
    """Every member approved on its feeder with one meter, funded; 15-minute intervals."""
    balances = {m.address: FUNDS for m in members}
    balances[HEADEND.address] = FUNDS
    state = default_app_state(
        balances=balances,
        utility=UTILITY.address,
        regulator=REGULATOR.address,
        network=NETWORK,
        market_params={
            "interval_seconds": INTERVAL_S,
            "gate_closure_seconds": GATE_S,
            "max_intervals_ahead": 96,
            "max_open_orders": 1000,
        },
        settlement_params={"window_seconds": WINDOW_S},
        # Half the weight on the newest interval: a missed reading (accuracy 0) takes
        # a fresh score below the threshold, so the unreliable few end up suspended.
        reputation_params={
            "weight": "1/2",
            "suspension_threshold": 300_000,
            "suspension_intervals": 8,
            "rebate_rate": "1/10",
            "rebate_top": 3,
        },
    )
    participants = []
    for m in members:
        entry: dict[str, Any] = {"address": m.address, "role": m.role, "bus": m.bus}
        technology = role_of(m.index)[1]
        if technology:
            entry["technology"] = technology
        participants.append(entry)
    state["registry"]["participants"] = participants
    state["registry"]["meters"] = [
        {"pub_key": m.meter.public_key.hex(), "participant": m.address} for m in members
    ]
    return state


def signed(signer: PrivateKey, sequence: int, msgs: list[tuple[str, Any]]) -> bytes:
    body = tx_pb2.TxBody(chain_id=CHAIN_ID, signer=signer.address, sequence=sequence)
    for name, msg in msgs:
        getattr(body.messages.add(), name).CopyFrom(msg)
    return codec.sign_tx(body, signer)


@dataclass(slots=True)
class BuildStats:
    seconds: float = 0.0
    genesis_s: float = 0.0
    invariants_s: float = 0.0  # the last block, invariants checked
    blocks: int = 0
    txs: int = 0
    orders: int = 0
    readings: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    clear_block_s: list[float] = field(default_factory=list)
    settle_block_s: list[float] = field(default_factory=list)

    def as_json(self, node: InProcessNode, built: Built) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 2),
            "genesis_s": round(self.genesis_s, 2),
            "invariants_s": round(self.invariants_s, 2),
            "height": node.height,
            "blocks": self.blocks,
            "txs": self.txs,
            "orders": self.orders,
            "readings": self.readings,
            "rejected": dict(sorted(self.rejected.items())),
            "clear_block_ms": {
                "median": ms(median(self.clear_block_s)),
                "max": ms(max(self.clear_block_s, default=None)),
            },
            "settle_block_ms": {
                "median": ms(median(self.settle_block_s)),
                "max": ms(max(self.settle_block_s, default=None)),
            },
            "first_interval": built.first,
            "last_cleared": built.last_cleared,
            "next_interval": built.next_open,
            "db_bytes": sum(f.stat().st_size for f in built.home.rglob("*") if f.is_file()),
        }


@dataclass(slots=True)
class Built:
    size: Size
    node: InProcessNode
    members: list[Member]
    home: Path
    first: int
    last_cleared: int
    next_open: int
    stats: BuildStats


class DayBuilder:
    """Runs the market for ``size.intervals`` intervals on an in-process node."""

    def __init__(self, home: Path, size: Size, progress: Progress, seed: int = SEED):
        self.size = size
        self.progress = progress
        self.rng = random.Random(seed)
        self.stats = BuildStats()
        self.headend_sequence = 0
        started = time.perf_counter()
        self.members = make_members(size.participants)
        # Genesis at the start of interval N0 - 1 (a multiple of 900 s): N0 is the
        # first interval with orders.
        self.first = 1_800_000_000 // INTERVAL_S + 1
        self.node = InProcessNode(
            home,
            genesis(self.members),
            chain_id=CHAIN_ID,
            start_time=(self.first - 1) * INTERVAL_S + 5,
        )
        self.node.chain.check_invariants = False
        self.stats.genesis_s = time.perf_counter() - started
        self.home = home
        self.started = started

    # --- transactions --------------------------------------------------------

    def orders_for(self, n: int, k: int) -> list[bytes]:
        """Signed orders for interval n (the k-th of the run): ``size.traders`` of the
        participants, the next ones round the list each interval, each placing up to
        ``per_trader`` orders on one side in one transaction."""
        size, rng = self.size, self.rng
        share = sell_share(k)
        left = size.orders_per_interval
        txs = []
        for j in range(size.traders):
            m = self.members[(k * size.traders + j) % size.participants]
            if m.role == "consumer":
                side = market_pb2.SIDE_BUY
            elif m.role == "producer":
                side = market_pb2.SIDE_SELL
            else:
                side = market_pb2.SIDE_SELL if rng.random() < share else market_pb2.SIDE_BUY
            # Prices between the feed-in tariff and retail (per kWh), sellers cheaper.
            lo, hi = (80_000, 230_000) if side == market_pb2.SIDE_SELL else (100_000, 250_000)
            msgs = []
            for _ in range(min(size.per_trader, left)):
                msg = market_pb2.MsgPlaceOrder(
                    side=side,
                    interval=n,
                    quantity_wh=rng.randrange(100, 2_001, 10),
                    grid_fill=rng.randrange(100) < GRID_FILL_PERCENT,
                )
                if rng.randrange(100) >= UNPRICED_PERCENT:
                    msg.price = rng.randrange(lo, hi + 1, 500)
                msgs.append(("place_order", msg))
            left -= len(msgs)
            txs.append(signed(m.key, m.sequence, msgs))
            m.sequence += 1
        self.stats.orders += size.orders_per_interval - left
        return txs

    def readings_for(self, n: int) -> list[bytes]:
        """Readings for interval n's contracted participants, 64 per head-end tx: an
        unreliable few never read, the others miss now and then and deviate a little."""
        rng = self.rng
        contracted: dict[str, tuple[int, int]] = {}
        for order in market_keeper.orders_of_interval(self.node.chain.check_kv, n):
            done = order.matched_wh + order.grid_wh
            if not done:
                continue
            sold, bought = contracted.get(order.owner, (0, 0))
            if order.side == market_pb2.SIDE_SELL:
                sold += done
            else:
                bought += done
            contracted[order.owner] = (sold, bought)
        by_address = {m.address: m for m in self.members if m.address in contracted}
        msgs = []
        for address, (sold, bought) in sorted(contracted.items()):
            m = by_address.get(address)
            if m is None:  # not one of ours (an external order): no meter
                continue
            if m.index % UNRELIABLE == UNRELIABLE - 1 or rng.randrange(100) < MISSING_PERCENT:
                continue
            exported = round(sold * rng.uniform(0.8, 1.05))
            imported = round(bought * rng.uniform(0.95, 1.2))
            reading = settlement_pb2.MeterReading(
                chain_id=CHAIN_ID,
                meter=m.meter.public_key,
                participant=address,
                interval=n,
                exported_wh=exported,
                imported_wh=imported,
                sequence=n,
            )
            msgs.append(("meter_reading", sign_reading(m.meter, reading)))
        txs = []
        for i in range(0, len(msgs), MAX_MSGS):
            txs.append(signed(HEADEND, self.headend_sequence, msgs[i : i + MAX_MSGS]))
            self.headend_sequence += 1
        self.stats.readings += len(msgs)
        return txs

    # --- blocks --------------------------------------------------------------

    def deliver(self, txs: list[bytes]) -> None:
        """``txs`` in blocks of BLOCK_TXS, one second apart; rejections counted by
        reason, and only a suspension is expected."""
        for i in range(0, len(txs), BLOCK_TXS):
            block = self.node.commit_block(txs[i : i + BLOCK_TXS], seconds=1)
            self.forget()
            for r in block.tx_results:
                if r.code:
                    reason = f"{r.codespace}/{r.code}"
                    self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        self.stats.txs += len(txs)

    def block_at(self, t: int) -> float:
        """One empty block at block time t; returns its wall seconds (FinalizeBlock and
        Commit: what the gate closure or settlement due in it costs)."""
        started = time.perf_counter()
        self.node.commit_block([], seconds=t - self.node.block_time)
        seconds = time.perf_counter() - started
        self.forget()
        return seconds

    def forget(self) -> None:
        """Count the block just committed and drop the node's record of its results:
        nobody reads them here, and a day of them (every tx's events) held in memory
        slows every later block down (the garbage collector walks them all)."""
        self.stats.blocks += 1
        self.node.blocks.clear()
        self.node.txs.clear()

    def run(self) -> Built:
        size = self.size
        for k in range(size.intervals + 1):
            n = self.first + k
            # Block time: 10 s into interval n - 1. Orders for n (its gate closes at
            # start(n) - 300), readings for n - 2 (window [end(n - 2), + 300)).
            orders = self.orders_for(n, k)
            readings = self.readings_for(n - 2) if k >= 2 else []
            self.deliver(orders + readings)
            if k == size.intervals:
                break  # n stays open: the market view's next book
            # n - 2's window closes (it settles), n's gate closes (it clears), then
            # 10 s into n, where the next round starts.
            settle_s = self.block_at((n - 1) * INTERVAL_S + WINDOW_S)
            if k >= 2:
                self.stats.settle_block_s.append(settle_s)
            self.stats.clear_block_s.append(self.block_at(n * INTERVAL_S - GATE_S))
            self.block_at(n * INTERVAL_S + 10)
            if (k + 1) % max(1, size.intervals // 8) == 0:
                self.progress(
                    f"  {k + 1}/{size.intervals} intervals, {self.stats.txs:,} txs, "
                    f"{time.perf_counter() - self.started:.0f} s"
                )
        # One last block with every module's invariants checked (the state is sound).
        self.node.chain.check_invariants = True
        self.stats.invariants_s = self.block_at(self.node.block_time + 1)
        self.node.chain.check_invariants = False
        self.stats.seconds = time.perf_counter() - self.started
        return Built(
            size=size,
            node=self.node,
            members=self.members,
            home=self.home,
            first=self.first,
            last_cleared=self.first + size.intervals - 1,
            next_open=self.first + size.intervals,
            stats=self.stats,
        )


def build(home: Path, size: Size, progress: Progress) -> Built:
    progress(f"building {size.label}")
    built = DayBuilder(home, size, progress).run()
    s = built.stats
    progress(
        f"  built in {s.seconds:.1f} s: height {built.node.height}, {s.txs:,} txs, "
        f"{s.orders:,} orders, {s.readings:,} readings, rejected {s.rejected}"
    )
    return built


# --- serving and timing the API ------------------------------------------------------


class ManualClock:
    """The Views' clock, moved by the bench: the roster of participants is rebuilt only
    when the bench says that ROSTER_SECONDS have passed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class LiveChain:
    """The built node behind the dashboard: new blocks on demand, each published to the
    dashboard's follower at once (as CometBFT's NewBlock event would be), never past the
    next settlement (which would make one measurement pay for it)."""

    def __init__(self, built: Built):
        node = built.node
        self.built = built
        self.node = node
        # Readings for interval next_open - 2 close then: that block settles it.
        self.deadline = (built.next_open - 1) * INTERVAL_S + WINDOW_S - 2
        self.clock = ManualClock()
        self.blocks = 0

        class PushFollower(Follower):
            """A follower without websocket or polling: the bench hands it each block."""

            def start(self) -> None:
                self.publish(self.current())

            def stop(self) -> None:
                pass

            def current(self) -> dict[str, Any]:
                header = {
                    "height": node.height,
                    "time": str(node.block_time),
                    "app_hash": node.chain.app_hash().hex().upper(),
                }
                return block_event(header, 0)

        self.follower = PushFollower(cast(Any, node))  # the RPC subset it uses: status

    def new_block(self, *, stale: bool = False) -> float:
        """Commit an empty block and publish it; returns time.time() at publishing.
        ``stale``: move the Views' clock past ROSTER_SECONDS first."""
        if self.node.block_time + 1 > self.deadline:
            raise RuntimeError(
                f"the bench used {self.blocks} blocks, all there are before interval "
                f"{self.built.next_open - 2} settles; lower --repeat"
            )
        if stale:
            self.clock.now += views.ROSTER_SECONDS + 1
        self.node.commit_block([], seconds=1)
        self.blocks += 1
        published = time.time()
        self.follower.publish(self.follower.current())
        return published

    @contextmanager
    def serve(self) -> Iterator[str]:
        """A dashboard server with empty caches over the node; yields its URL."""
        server = start_server(
            Dashboard(Views(self.node, clock=self.clock), self.follower), "127.0.0.1", 0
        )
        try:
            yield server.url
        finally:
            server.shutdown()


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str


def endpoints(built: Built) -> list[Endpoint]:
    """What the page asks for: every view's JSON, the participants view searched, deep
    in the ranking and sorted by address, and the page itself."""
    members = built.members
    total = len(members)
    # A trader of the last settled interval: orders, trades, settlements and history.
    k = max(0, built.last_cleared - 2 - built.first)
    someone = members[(k * built.size.traders) % total]
    q = members[total // 2].address[10:13]
    return [
        Endpoint("page", "/"),
        Endpoint("status", "/api/status"),
        Endpoint("market", "/api/market"),
        Endpoint("intervals", "/api/intervals?limit=96"),
        Endpoint("interval", f"/api/interval/{built.last_cleared - 2}"),
        Endpoint("network", "/api/network"),
        Endpoint("participants", "/api/participants?offset=0&limit=50"),
        Endpoint("participants_search", f"/api/participants?q={q}&limit=50"),
        Endpoint("participants_deep", f"/api/participants?offset={max(0, total - 50)}&limit=50"),
        Endpoint("participants_by_address", f"/api/participants?sort=address&offset={total // 2}"),
        Endpoint("participant", f"/api/participant/{someone.address}"),
        Endpoint("chain", "/api/chain"),
        Endpoint("ibc", "/api/ibc"),
        Endpoint("grid", "/api/grid"),
    ]


def fetch(url: str, path: str, conn: http.client.HTTPConnection | None = None):
    """(seconds, HTTP status, body bytes) of one GET: on a new connection (the
    server's work), or on ``conn`` kept alive between requests (as a browser does)."""
    started = time.perf_counter()
    own = conn is None
    if conn is None:
        conn = connect(url)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        if own:
            conn.close()
    return time.perf_counter() - started, resp.status, len(body)


def connect(url: str) -> http.client.HTTPConnection:
    host, port = urllib.parse.urlsplit(url).netloc.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=300)


def measure_api(
    chain: LiveChain, eps: list[Endpoint], repeat: int, progress: Progress
) -> dict[str, Any]:
    """Per endpoint, each request on a new connection: cold (a fresh server, the first
    call), warm (the same height again: the server's cache), block (the first call
    after a new block, the roster of participants kept) and block_stale (the same with
    the roster due for a rebuild). And /api/status at one height on one kept-alive
    connection against new connections (a TCP stall shows there)."""
    rows = []
    for ep in eps:
        with chain.serve() as url:
            cold, status, size = fetch(url, ep.path)
            if status != 200:
                raise RuntimeError(f"GET {ep.path}: HTTP {status}")
            warm = [fetch(url, ep.path)[0] for _ in range(repeat)]
            block, stale = [], []
            for _ in range(repeat):
                chain.new_block()
                block.append(fetch(url, ep.path)[0])
            for _ in range(repeat):
                chain.new_block(stale=True)
                stale.append(fetch(url, ep.path)[0])
        row = {
            "name": ep.name,
            "path": ep.path,
            "bytes": size,
            "cold_ms": ms(cold),
            "warm_ms": ms(median(warm)),
            "block_ms": ms(median(block)),
            "block_stale_ms": ms(median(stale)),
        }
        progress(
            f"  {ep.name:24} {size:>9,} B  cold {row['cold_ms']:9.1f} ms  "
            f"after a block {row['block_ms']:9.1f} ms (roster rebuilt {row['block_stale_ms']:.1f})"
        )
        rows.append(row)
    with chain.serve() as url:
        fresh = [fetch(url, "/api/status")[0] for _ in range(repeat + 1)][1:]
        conn = connect(url)
        try:
            kept = [fetch(url, "/api/status", conn)[0] for _ in range(repeat + 1)][1:]
        finally:
            conn.close()
    keepalive = {"new_connection_ms": ms(median(fresh)), "kept_alive_ms": ms(median(kept))}
    progress(f"  /api/status, cached: {keepalive}")
    return {"endpoints": rows, "status_connection": keepalive}


# --- the page in Chromium ------------------------------------------------------------

# Resolves once the view shows ``route`` rendered from JSON (data-height set; a
# failed render sets data-ready but not data-height) with the in-page clock (ms
# since navigation began), the DOM size and the view's height.
WAIT_READY = """
const route = arguments[0], done = arguments[arguments.length - 1];
(function check() {
  const m = document.getElementById("view");
  if (m && m.dataset.route === route && m.dataset.ready === "true" && m.dataset.height) {
    done({at: performance.now(), height: Number(m.dataset.height),
          nodes: document.getElementsByTagName("*").length,
          error: document.getElementById("error").hidden ? "" : document.getElementById("error").textContent});
  } else {
    setTimeout(check, 2);
  }
})();
"""
# Records (Date.now()) when #height first shows height H and when the view is
# re-rendered at H or later.
WATCH_BLOCK = """
const H = arguments[0];
const seen = window.__benchBlock = {height: null, view: null};
const m = document.getElementById("view"), h = document.getElementById("height");
const check = () => {
  const now = Date.now();
  if (seen.height === null && Number(h.dataset.value) >= H) seen.height = now;
  if (seen.view === null && m.dataset.ready === "true" && Number(m.dataset.height) >= H) seen.view = now;
  if (seen.height !== null && seen.view !== null) observer.disconnect();
};
const observer = new MutationObserver(check);
observer.observe(h, {attributes: true});
observer.observe(m, {attributes: true});
"""
PAGE_STATE = """
const m = document.getElementById("view");
return {route: m.dataset.route, ready: m.dataset.ready, height: m.dataset.height,
        header: document.getElementById("height").dataset.value,
        error: document.getElementById("error").textContent, url: location.href};
"""
# Times ``n`` fetches of a cached /api/status answer from the page (kept alive).
FETCH_STATUS = """
const n = arguments[0], done = arguments[arguments.length - 1];
(async () => {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await (await fetch("/api/status")).text();
    out.push(performance.now() - t);
  }
  done(out);
})();
"""
HEAP = "if (window.gc) window.gc(); return performance.memory.usedJSHeapSize;"


def start_browser() -> Any:
    """Headless Debian Chromium as the browser tests start it, plus a collectable heap
    (--expose-gc) measured precisely."""
    driver = browser.chromium("--enable-precise-memory-info", "--js-flags=--expose-gc")
    driver.set_script_timeout(120)
    driver.set_page_load_timeout(120)
    return driver


def routes(built: Built, eps: list[Endpoint]) -> list[tuple[str, str]]:
    """(route name, hash) of every view."""
    participant = next(e.path for e in eps if e.name == "participant").rsplit("/", 1)[1]
    return [
        ("overview", "#/"),
        ("market", "#/market"),
        ("intervals", "#/intervals"),
        ("interval", f"#/interval/{built.last_cleared - 2}"),
        ("network", "#/network"),
        ("participants", "#/participants"),
        ("participant", f"#/participant/{participant}"),
        ("chain", "#/chain"),
        ("ibc", "#/ibc"),
        ("grid", "#/grid"),
    ]


def measure_browser(
    chain: LiveChain, pages: list[tuple[str, str]], repeat: int, progress: Progress
) -> dict[str, Any]:
    """Per route: navigation to a rendered view (a full page load, in-page clock),
    its DOM size, then ``repeat`` blocks: block event -> #height updated and block
    event -> view re-rendered at that height (the page waits 300 ms before it
    refetches, on purpose). Each block finds the roster of participants due for a
    rebuild (the worst case; the participants view answers at the roster's height,
    so with a kept roster it would not move to the new block at all)."""
    driver = start_browser()
    rows = []
    errors: list[str] = []
    fetched: list[float] = []
    try:
        with chain.serve() as url:
            for name, fragment in pages:
                driver.get("about:blank")
                driver.get(f"{url}/{fragment}")
                ready = driver.execute_async_script(WAIT_READY, name)
                if ready.get("error"):
                    errors.append(f"{name}: {ready['error']}")
                heights, renders = [], []
                for _ in range(repeat):
                    target = chain.node.height + 1
                    driver.execute_script(WATCH_BLOCK, target)
                    published = chain.new_block(stale=True) * 1000
                    seen = wait_js(driver, "return window.__benchBlock", 30)
                    heights.append(seen["height"] - published)
                    renders.append(seen["view"] - published)
                row = {
                    "name": name,
                    "hash": fragment,
                    "load_ms": round(ready["at"], 1),
                    "dom_nodes": ready["nodes"],
                    "block_to_height_ms": round(median(heights) or 0, 1),
                    "block_to_view_ms": round(median(renders) or 0, 1),
                    "heap_bytes": driver.execute_script(HEAP),
                }
                progress(
                    f"  #{name:13} load {row['load_ms']:8.1f} ms  {row['dom_nodes']:6,} DOM nodes  "
                    f"block -> view {row['block_to_view_ms']:7.1f} ms  "
                    f"heap {row['heap_bytes'] / 2**20:.1f} MiB"
                )
                rows.append(row)
            # The connection the page keeps alive, at one height (a TCP stall shows here).
            driver.get("about:blank")
            driver.get(f"{url}/#/ibc")
            driver.execute_async_script(WAIT_READY, "ibc")
            fetched = driver.execute_async_script(FETCH_STATUS, 9)[1:]
            progress(f"  a cached /api/status from the page: {median(fetched):.1f} ms")
            errors += [
                str(e.get("message", ""))
                for e in driver.get_log("browser")
                if e.get("level") == "SEVERE"
            ]
    finally:
        driver.quit()
    return {
        "routes": rows,
        "heap_bytes_max": max((r["heap_bytes"] for r in rows), default=None),
        "cached_fetch_ms": round(median(fetched) or 0, 1),
        "errors": errors,
    }


def wait_js(driver: Any, script: str, timeout: float) -> Any:
    """Poll ``script`` until every value of the object it returns is set."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value and all(v is not None for v in value.values()):
            return value
        if time.monotonic() > deadline:
            state = driver.execute_script(PAGE_STATE)
            raise RuntimeError(f"timed out after {timeout:g} s: {script} -> {value}; page: {state}")
        time.sleep(0.005)


# --- entry point ------------------------------------------------------------------------


def measure_size(size: Size, args: argparse.Namespace, progress: Progress) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mgrid-dash-bench-") as tmp:
        built = build(Path(tmp), size, progress)
        try:
            out: dict[str, Any] = {
                "participants": size.participants,
                "intervals": size.intervals,
                "orders_per_interval": size.orders_per_interval,
                "traders_per_interval": size.traders,
                "build": built.stats.as_json(built.node, built),
            }
            if args.build_only:
                return out
            chain = LiveChain(built)
            eps = endpoints(built)
            progress(f"API over HTTP ({size.label})")
            out["api"] = measure_api(chain, eps, args.repeat, progress)
            if args.browser:
                progress(f"the page in headless Chromium ({size.label})")
                out["browser"] = measure_browser(
                    chain, routes(built, eps), args.browser_repeat, progress
                )
            out["bench_blocks"] = chain.blocks
        finally:
            built.node.close()
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--participants", type=int, default=10_000)
    p.add_argument("--intervals", type=int, default=96, help="cleared 15-minute intervals")
    p.add_argument("--orders-per-interval", type=int, help="default: a fifth of the participants")
    p.add_argument(
        "--small",
        type=parse_size,
        default=(100, 8),
        help="the small microgrid measured in the same run (PARTICIPANTSxINTERVALS)",
    )
    p.add_argument("--no-small", action="store_true", help="measure the big microgrid only")
    p.add_argument(
        "--browser",
        action=argparse.BooleanOptionalAction,
        default=not browser.missing_browser(),
        help="time the page in headless Chromium (default: when /usr/bin/chromium exists)",
    )
    p.add_argument("--repeat", type=int, default=5, help="calls per endpoint and kind")
    p.add_argument("--browser-repeat", type=int, default=3, help="blocks per route")
    p.add_argument("--build-only", action="store_true", help="build and time the state only")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {msg}", file=sys.stderr, flush=True)

    big = Size.of(args.participants, args.intervals, args.orders_per_interval)
    sizes = {"big": big}
    if not args.no_small:
        p, i = args.small
        orders = None
        if args.orders_per_interval is not None:  # keep the big one's orders per participant
            orders = max(2, args.orders_per_interval * p // args.participants)
        sizes = {"small": Size.of(p, i, orders), "big": big}
    result: dict[str, Any] = {"sizes": {}}
    for name, size in sizes.items():
        result["sizes"][name] = measure_size(size, args, progress)
    if "small" in result["sizes"]:
        result["ratios"] = ratios(result["sizes"]["small"], result["sizes"]["big"])
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
