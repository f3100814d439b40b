"""The dashboard's JSON answers, built from the chain's own queries.

Every answer reads one height (the node's latest when asked) and carries it
as ``height``, so a view is a consistent snapshot of the chain, and a test
can compare what the page shows with a query at that height. Integers are
JSON numbers (energies in Wh, prices per kWh in the base denom, times in
Unix seconds, scores in ppm); money amounts too, signed where the chain
signs them, and only amounts beyond 2^53 (which JavaScript cannot hold
exactly) stay decimal strings.

What never changes once written is kept: an interval cleared and settled,
the reputation moves of a settled interval. What changes is read again at
each new height, except the roster of participants (registry and ranking
walked to the end), which is rebuilt at most every ``ROSTER_SECONDS``: with
10,000 participants that walk is twenty pages, and a page of the ranking
only needs the roster of a few seconds ago (its ``height`` says which).

The API is described in docs/dashboard.md.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from app import crypto
from app.pb.mgrid.certificates.v1 import certificates_pb2
from app.pb.mgrid.demand_response.v1 import demand_response_pb2
from app.pb.mgrid.flexibility.v1 import flexibility_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.quota.v1 import quota_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.storage.v1 import storage_pb2
from clients.mgrid.chain import (
    ChainClient,
    ChainError,
    QueryError,
    RPCLike,
    pages,
    parse_block_time_ns,
)
from clients.mgrid.render import enum_label, proto_json
from clients.rpc import RPCError

MAX_INTERVALS = 672  # a week of 15-minute intervals
DEFAULT_INTERVALS = 96  # a day of them
CURVE_POINTS = 200  # at most this many steps per supply or demand curve
MAX_PAGE = 500  # rows of the participants view per request
DETAIL_ROWS = 200  # trades and settlements of one interval shown
RECENT_ROWS = 50  # orders and trades of one participant shown
HISTORY_ROWS = 96  # reputation history and settlements of one participant shown
ROSTER_SECONDS = 5.0
SCAN_PAGE = 1000  # the chain's largest page
MAX_SCAN_PAGES = 20  # a participant's orders or trades: newest of at most 20,000
BLOCKS_SHOWN = 20
SCORE_BIN = 100_000  # ppm: histogram bins of 10 %
JS_SAFE = 2**53
GRID_ROWS = 50
# The grid-service and instrument records /api/grid lists, newest first:
# (name, module, Query method, request type, repeated field of the response).
GRID_LISTS: tuple[tuple[str, Any, str, str, str], ...] = (
    ("dr_events", demand_response_pb2, "Events", "QueryEventsRequest", "events"),
    ("flex_needs", flexibility_pb2, "Needs", "QueryNeedsRequest", "needs"),
    ("quota_margins", quota_pb2, "Margins", "QueryMarginsRequest", "margins"),
    ("certificate_issuances", certificates_pb2, "Issuances", "QueryIssuancesRequest", "issuances"),
    (
        "certificate_retirements",
        certificates_pb2,
        "Retirements",
        "QueryRetirementsRequest",
        "retirements",
    ),
    ("storages", storage_pb2, "Storages", "QueryStoragesRequest", "storages"),
)


class NotFound(Exception):
    """The thing asked for does not exist on the chain (HTTP 404)."""


class BadRequest(Exception):
    """The request itself is malformed (HTTP 400)."""


def number(value: int | str) -> int | str:
    """An integer (or a decimal string) as a JSON number, or as a string beyond 2^53."""
    n = int(value or 0)
    return n if -JS_SAFE < n < JS_SAFE else str(n)


def optional(message: Any, field: str) -> int | None:
    return int(getattr(message, field)) if message.HasField(field) else None


def label(enum_type: Any, value: int) -> str:
    """``ROLE_PROSUMER`` as ``prosumer`` (the enum's prefix dropped)."""
    return enum_label(getattr(enum_type, "DESCRIPTOR", enum_type), value).lower()


def _call(rpc: Any, method: str, **params: Any) -> Any:
    """A CometBFT RPC method beyond the RPCLike subset, or None when the client has none."""
    call = getattr(rpc, "call", None)
    return call(method, **params) if call is not None else None


def _b64_hex(text: str | None) -> str:
    return base64.b64decode(text or "").hex().upper()


# -- supply and demand --------------------------------------------------------------------


def levels(orders: Iterable[tuple[int, int]], descending: bool) -> list[tuple[int, int]]:
    """(price, quantity) orders merged by price, in merit order."""
    by_price: dict[int, int] = {}
    for price, qty in orders:
        by_price[price] = by_price.get(price, 0) + qty
    return sorted(by_price.items(), reverse=descending)


def curve(steps: Sequence[tuple[int, int]], points: int = CURVE_POINTS) -> list[list[int]]:
    """Price levels as a cumulative step curve ``[[price, cumulative Wh], ...]`` of at most
    ``points`` points: adjacent levels are merged (each merged point keeps the last
    level's price, so the curve still ends where the book ends)."""
    out: list[list[int]] = []
    total = 0
    for price, qty in steps:
        total += qty
        out.append([price, total])
    if len(out) <= points:
        return out
    stride = len(out) / points
    picked = [out[min(len(out) - 1, int((i + 1) * stride) - 1)] for i in range(points)]
    picked[-1] = out[-1]
    return picked


def crossing(
    demand: Sequence[tuple[int, int]], supply: Sequence[tuple[int, int]]
) -> dict[str, int] | None:
    """Where merit-ordered demand (price descending) meets supply (ascending): the
    quantity of every unit whose buyer bids at least its seller's ask, and the midpoint
    of the last such pair's prices (rounded down). None when no unit crosses."""
    i = j = 0
    left_d = demand[0][1] if demand else 0
    left_s = supply[0][1] if supply else 0
    matched = 0
    last: tuple[int, int] | None = None
    while i < len(demand) and j < len(supply) and demand[i][0] >= supply[j][0]:
        take = min(left_d, left_s)
        matched += take
        last = (demand[i][0], supply[j][0])
        left_d -= take
        left_s -= take
        if not left_d:
            i += 1
            left_d = demand[i][1] if i < len(demand) else 0
        if not left_s:
            j += 1
            left_s = supply[j][1] if j < len(supply) else 0
    if last is None or not matched:
        return None
    return {"price": (last[0] + last[1]) // 2, "quantity_wh": matched}


def book(orders: Iterable[Any], state: Any) -> dict[str, Any]:
    """An interval's order book as step curves. An order without a limit price is drawn
    at the price it was given at gate closure or, before that, at the market's bound
    (a buyer at the maximum, a seller at the minimum): the price it is sure to accept."""
    buys: list[tuple[int, int]] = []
    sells: list[tuple[int, int]] = []
    unpriced = {market_pb2.SIDE_BUY: 0, market_pb2.SIDE_SELL: 0}
    for o in orders:
        if o.status == market_pb2.ORDER_STATUS_CANCELLED:
            continue
        buy = o.side == market_pb2.SIDE_BUY
        if o.HasField("price"):
            price = o.price
        else:
            unpriced[o.side] += o.quantity_wh
            bound = state.max_price if buy else state.min_price
            price = o.auto_price if o.HasField("auto_price") else bound
        (buys if buy else sells).append((price, o.quantity_wh))
    demand, supply = levels(buys, descending=True), levels(sells, descending=False)
    return {
        "orders": len(buys) + len(sells),
        "buy_orders": len(buys),
        "sell_orders": len(sells),
        "buy_wh": sum(q for _, q in buys),
        "sell_wh": sum(q for _, q in sells),
        "demand": curve(demand),
        "supply": curve(supply),
        "unpriced_buy_wh": unpriced[market_pb2.SIDE_BUY],
        "unpriced_sell_wh": unpriced[market_pb2.SIDE_SELL],
        "crossing": crossing(demand, supply),
    }


def book_roles(current: int, next_to_clear: int) -> list[tuple[int, str]]:
    """The books the market view shows: the interval being delivered, those cleared
    and waiting for delivery, and the next one to clear (at most four)."""
    ids = sorted({current, next_to_clear, *range(current + 1, next_to_clear)})[:4]
    if next_to_clear not in ids:
        ids[-1] = next_to_clear
    roles = {current: "current", next_to_clear: "next"}
    return [(i, roles.get(i, "upcoming")) for i in ids]


def cleared(state: Any) -> bool:
    """Cleared by a block (intervals before genesis read as cleared at height 0)."""
    return state.status == market_pb2.INTERVAL_STATUS_CLEARED and state.cleared_height > 0


def curtailed_by_line(state: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in state.curtailments:
        out[c.line] = out.get(c.line, 0) + c.quantity_wh
    return out


# -- rows ---------------------------------------------------------------------------------


def interval_row(state: Any, settlement: Any | None) -> dict[str, Any]:
    """One cleared interval (and its settlement, once settled) as /api/intervals lists it."""
    row: dict[str, Any] = {
        "id": state.id,
        "start_time": state.start_time,
        "end_time": state.end_time,
        "mechanism": state.mechanism,
        "fallback": state.fallback,
        "clearing_price": optional(state, "clearing_price"),
        "matched_wh": state.matched_wh,
        "order_count": state.order_count,
        "trade_count": state.trade_count,
        "grid_import_wh": state.grid_import_wh,
        "grid_export_wh": state.grid_export_wh,
        "grid_curtailed_wh": state.grid_curtailed_wh,
        "retail_tariff": state.retail_tariff,
        "feed_in_tariff": state.feed_in_tariff,
        "buyers_pay": number(state.buyers_pay),
        "curtailments": curtailed_by_line(state),
        "settled": settlement is not None,
        "kpis": None,
        "penalties": 0,
        "rebates": 0,
        "missing_readings": 0,
        "inter_import_wh": 0,
        "inter_export_wh": 0,
    }
    if settlement is not None:
        k = settlement.kpis
        row["kpis"] = {
            "generation_wh": k.generation_wh,
            "consumption_wh": k.consumption_wh,
            "locally_used_wh": k.locally_used_wh,
            "self_sufficiency": k.self_sufficiency,
            "self_consumption": k.self_consumption,
            "local_traded_wh": k.local_traded_wh,
            "average_local_price": k.average_local_price,
            "savings": number(k.savings),
            "pcc_import_wh": k.pcc_import_wh,
            "pcc_export_wh": k.pcc_export_wh,
        }
        row["penalties"] = number(settlement.penalties)
        row["rebates"] = number(settlement.rebates)
        row["missing_readings"] = settlement.missing_readings
        row["inter_import_wh"] = settlement.inter_import_wh
        row["inter_export_wh"] = settlement.inter_export_wh
    return row


def trade_row(t: Any) -> dict[str, Any]:
    return {
        "interval": t.interval,
        "index": t.index,
        "buyer": t.buyer,
        "seller": t.seller,
        "buy_order": t.buy_order,
        "sell_order": t.sell_order,
        "quantity_wh": t.quantity_wh,
        "price": t.price,
        "amount": number(t.amount),
        "seller_price": t.seller_price,
        "seller_amount": number(t.seller_amount),
        "fee": number(t.fee),
        "tax": number(t.tax),
    }


def settlement_row(s: Any) -> dict[str, Any]:
    return {
        "interval": s.interval,
        "participant": s.participant,
        "contracted_sell_wh": s.contracted_sell_wh,
        "contracted_buy_wh": s.contracted_buy_wh,
        "local_sell_wh": s.local_sell_wh,
        "exported_wh": s.exported_wh,
        "imported_wh": s.imported_wh,
        "deviation_wh": s.deviation_wh,
        "shortfall_wh": s.shortfall_wh,
        "penalty": number(s.penalty),
        "imbalance_cost": number(s.imbalance_cost),
        "imbalance_revenue": number(s.imbalance_revenue),
        "net": number(s.net),
        "savings": number(s.savings),
        "score_before": s.score_before,
        "score_after": s.score_after,
        "accuracy": s.accuracy,
        "missing_readings": s.missing_readings,
    }


def order_row(o: Any) -> dict[str, Any]:
    return {
        "id": o.id,
        "side": label(market_pb2.Side, o.side),
        "interval": o.interval,
        "quantity_wh": o.quantity_wh,
        "price": optional(o, "price"),
        "auto_price": optional(o, "auto_price"),
        "status": label(market_pb2.OrderStatus, o.status),
        "matched_wh": o.matched_wh,
        "grid_wh": o.grid_wh,
        "bus": o.bus,
        "external": o.external,
    }


def participant_record(p: Any) -> dict[str, Any]:
    return {
        "role": label(registry_pb2.Role, p.role),
        "bus": p.bus,
        "status": label(registry_pb2.Status, p.status),
        "technology": p.technology,
        "applied_height": p.applied_height,
        "decided_height": p.decided_height,
        "reason": p.reason,
    }


def histogram(scores: Iterable[int]) -> list[list[int]]:
    bins = [0] * (1_000_000 // SCORE_BIN)
    for s in scores:
        bins[min(len(bins) - 1, s // SCORE_BIN)] += 1
    return [[i * SCORE_BIN, n] for i, n in enumerate(bins)]


def newest(fetch: Callable[[bytes], Any], items: str, keep: int) -> list[Any]:
    """The last ``keep`` items of a paged query in key order (oldest first), reading at
    most MAX_SCAN_PAGES pages from the start."""
    kept: list[Any] = []
    key = b""
    for _ in range(MAX_SCAN_PAGES):
        resp = fetch(key)
        kept = (kept + list(getattr(resp, items)))[-keep:]
        key = resp.next_key
        if not key:
            break
    return kept


def flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record as one table row: nested fields as ``a.b``, lists as their length when
    they hold records, else joined."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = prefix + key
        if isinstance(value, dict):
            out.update(flat(value, name + "."))
        elif isinstance(value, list):
            simple = all(not isinstance(v, dict | list) for v in value)
            out[name] = ", ".join(str(v) for v in value) if simple else len(value)
        else:
            out[name] = value
    return out


class Roster:
    """Every participant at one height: registry records joined with the ranking
    (ranked participants by rank, the others after them by address)."""

    def __init__(self, height: int, rows: list[dict[str, Any]], built_at: float):
        self.height = height
        self.rows = rows
        self.built_at = built_at
        self.by_bus: dict[str, int] = {}
        for r in rows:
            self.by_bus[r["bus"]] = self.by_bus.get(r["bus"], 0) + 1
        self.by_address = sorted(rows, key=lambda r: r["address"])


class Views:
    """The dashboard's answers for one chain, read through ``rpc`` (``nodes``: every
    node whose app hash the chain view compares; default just ``rpc``)."""

    def __init__(
        self,
        rpc: RPCLike,
        nodes: Sequence[RPCLike] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rpc = rpc
        self.client = ChainClient(rpc)
        self.nodes = list(nodes) or [rpc]
        self.clock = clock
        self._lock = threading.Lock()
        self._final: dict[int, dict[str, Any] | None] = {}  # settled rows; None: before genesis
        self._movers: dict[int, list[dict[str, Any]]] = {}  # by settled interval
        self._roster: Roster | None = None
        self._schedules: dict[int, Any] = {}  # by height: the app reads every open order

    # -- shared ---------------------------------------------------------------------------

    def latest(self) -> tuple[int, dict[str, Any]]:
        """The node's latest height and its /status."""
        status = self.rpc.status()
        height = int(status["sync_info"]["latest_block_height"])
        if height < 1:
            raise ChainError("the node has no block yet")
        return height, status

    def schedule(self, height: int) -> Any:
        """The market's schedule at ``height``, asked once per height: the app counts the
        open orders of the next interval to answer it (tens of ms with thousands)."""
        with self._lock:
            kept = self._schedules.get(height)
        if kept is None:
            kept = self.client.schedule(height)
            with self._lock:
                if len(self._schedules) >= 16:
                    self._schedules.pop(min(self._schedules))
                self._schedules[height] = kept
        return kept

    def height(self, height: int | None = None) -> int:
        return height if height else self.latest()[0]

    def status(self) -> dict[str, Any]:
        height, st = self.latest()
        sync = st["sync_info"]
        params = self.client.market_params(height).params
        sched = self.schedule(height)
        info = _call(self.rpc, "abci_info") or {}
        response = info.get("response") or {}
        return {
            "height": height,
            "chain_id": st["node_info"].get("network", ""),
            "node": getattr(self.rpc, "node", ""),
            "moniker": st["node_info"].get("moniker", ""),
            "block_time": parse_block_time_ns(str(sync["latest_block_time"])) // 10**9,
            "app_hash": str(sync.get("latest_app_hash") or ""),
            "catching_up": bool(sync.get("catching_up")),
            "app_version": response.get("version", ""),
            "cometbft_version": st["node_info"].get("version", ""),
            "denom": self.client.bank_params(height).denom,
            "interval_seconds": params.interval_seconds,
            "gate_closure_seconds": params.gate_closure_seconds,
            "mechanism": params.mechanism,
            "retail_tariff": params.retail_tariff,
            "feed_in_tariff": params.feed_in_tariff,
            "current_interval": sched.current_interval,
            "next_to_clear": sched.next_to_clear,
        }

    # -- market ---------------------------------------------------------------------------

    def market(self, height: int | None = None) -> dict[str, Any]:
        height = self.height(height)
        p = self.client.market_params(height).params
        sched = self.schedule(height)
        books: list[dict[str, Any]] = []
        for interval_id, role in book_roles(sched.current_interval, sched.next_to_clear):
            state = self.client.interval(interval_id, height)
            orders = self.interval_orders(interval_id, height)
            entry: dict[str, Any] = {
                "interval": interval_id,
                "role": role,
                "start_time": state.start_time,
                "end_time": state.end_time,
                "gate_closure_time": state.gate_closure_time,
                "status": "cleared" if cleared(state) else "open",
                "min_price": state.min_price,
                "max_price": state.max_price,
                **book(orders, state),
                "cleared": None,
            }
            if cleared(state):
                entry["cleared"] = {
                    "clearing_price": optional(state, "clearing_price"),
                    "matched_wh": state.matched_wh,
                    "mechanism": state.mechanism,
                    "grid_import_wh": state.grid_import_wh,
                    "grid_export_wh": state.grid_export_wh,
                    "trade_count": state.trade_count,
                    "fallback": state.fallback,
                    "curtailments": curtailed_by_line(state),
                }
            books.append(entry)
        return {
            "height": height,
            "block_time": sched.block_time,
            "params": {
                "mechanism": p.mechanism,
                "k": p.k,
                "retail_tariff": p.retail_tariff,
                "feed_in_tariff": p.feed_in_tariff,
                "min_price": optional(p, "min_price") or p.feed_in_tariff,
                "max_price": optional(p, "max_price") or p.retail_tariff,
                "interval_seconds": p.interval_seconds,
                "gate_closure_seconds": p.gate_closure_seconds,
            },
            "current_interval": sched.current_interval,
            "next_to_clear": sched.next_to_clear,
            "books": books,
        }

    def interval_orders(self, interval_id: int, height: int) -> Iterable[Any]:
        """Every order of an interval's book, page after page at ``height``."""

        def fetch(key: bytes) -> Any:
            return self.client.orders(
                interval=interval_id, page_key=key, limit=SCAN_PAGE, height=height
            )

        return pages(fetch, "orders")

    # -- intervals ------------------------------------------------------------------------

    def interval_row(self, interval_id: int, height: int) -> dict[str, Any] | None:
        """The row of a cleared interval at ``height`` (None if it has not cleared)."""
        with self._lock:
            if interval_id in self._final:
                return self._final[interval_id]
        try:
            state = self.client.interval(interval_id, height)
        except QueryError:
            return None
        if state.status == market_pb2.INTERVAL_STATUS_CLEARED and not state.cleared_height:
            with self._lock:  # before the chain's first interval: never anything there
                self._final[interval_id] = None
            return None
        if not cleared(state):
            return None
        answer = self.client.settlement(interval_id, height)
        settled = answer.settled and answer.settlement.settled_height > 0
        row = interval_row(state, answer.settlement if settled else None)
        if settled:
            with self._lock:
                self._final[interval_id] = row
        return row

    def interval_rows(self, height: int, limit: int) -> tuple[Any, list[dict[str, Any]]]:
        sched = self.schedule(height)
        first = max(1, sched.next_to_clear - limit)
        rows = []
        for interval_id in range(first, sched.next_to_clear):
            row = self.interval_row(interval_id, height)
            if row is not None:
                rows.append(row)
        return sched, rows

    def intervals(
        self, limit: int = DEFAULT_INTERVALS, height: int | None = None
    ) -> dict[str, Any]:
        if not 1 <= limit <= MAX_INTERVALS:
            raise BadRequest(f"limit must be 1..{MAX_INTERVALS}")
        height = self.height(height)
        _, rows = self.interval_rows(height, limit)
        t = self.client.kpis(height)
        totals = {
            f.name: (number(getattr(t, f.name)) if f.type == f.TYPE_STRING else getattr(t, f.name))
            for f in t.DESCRIPTOR.fields
        }
        return {
            "height": height,
            "denom": self.client.bank_params(height).denom,
            "intervals": rows,
            "totals": totals,
        }

    def interval(self, interval_id: int, height: int | None = None) -> dict[str, Any]:
        height = self.height(height)
        try:
            state = self.client.interval(interval_id, height)
        except QueryError as exc:
            raise NotFound(f"interval {interval_id}: {exc.log}") from None
        if not cleared(state) and state.status != market_pb2.INTERVAL_STATUS_OPEN:
            raise NotFound(f"interval {interval_id} was never cleared on this chain")
        settled = None
        if cleared(state):
            answer = self.client.settlement(interval_id, height)
            if answer.settled and answer.settlement.settled_height > 0:
                settled = answer.settlement
        row = interval_row(state, settled)
        row["status"] = "cleared" if cleared(state) else "open"
        trades = self.client.trades(interval=interval_id, limit=DETAIL_ROWS, height=height)
        settlements = self.client.settlements(
            interval=interval_id, limit=DETAIL_ROWS, height=height
        )
        return {
            "height": height,
            "interval": row,
            "curtailments": [proto_json(c) for c in state.curtailments],
            "trades": [trade_row(t) for t in trades.trades],
            "trades_more": bool(trades.next_key),
            "settlements": [settlement_row(s) for s in settlements.settlements],
            "settlements_more": bool(settlements.next_key),
        }

    # -- the network ----------------------------------------------------------------------

    def network(self, height: int | None = None) -> dict[str, Any]:
        height = self.height(height)
        net = self.client.network(height)
        roster = self.roster(height)
        _, rows = self.interval_rows(height, DEFAULT_INTERVALS)
        total: dict[str, int] = {}
        for row in rows:
            for line, wh in row["curtailments"].items():
                total[line] = total.get(line, 0) + wh
        last = rows[-1] if rows else None
        return {
            "height": height,
            "buses": [
                {
                    "id": b.id,
                    "parent": b.parent,
                    "capacity_wh": optional(b, "capacity_wh"),
                    "loss_ppm": b.loss_ppm,
                    "participants": roster.by_bus.get(b.id, 0),
                }
                for b in net.buses
            ],
            "window": [rows[0]["id"], rows[-1]["id"]] if rows else [],
            "curtailed_wh": total,
            "last_interval": last["id"] if last else None,
            "last_curtailed_wh": dict(last["curtailments"]) if last else {},
        }

    # -- participants ---------------------------------------------------------------------

    def roster(self, height: int) -> Roster:
        """The roster, rebuilt at ``height`` when the kept one is older than ROSTER_SECONDS."""
        with self._lock:
            kept = self._roster
        now = self.clock()
        if kept is not None and (kept.height >= height or now - kept.built_at < ROSTER_SECONDS):
            return kept
        registered = {
            p.address: p
            for p in pages(
                lambda key: self.client.participants(page_key=key, limit=SCAN_PAGE, height=height),
                "participants",
            )
        }
        ranked = pages(
            lambda key: self.client.ranking(page_key=key, limit=SCAN_PAGE, height=height),
            "scores",
        )
        rows: list[dict[str, Any]] = []
        for rank, s in enumerate(ranked, start=1):
            rows.append(
                self._roster_row(rank, s.participant, s, registered.pop(s.participant, None))
            )
        initial = self.client.reputation_params(height).initial_score
        for address in sorted(registered):
            rows.append(self._roster_row(0, address, None, registered[address], initial))
        built = Roster(height, rows, now)
        with self._lock:
            if self._roster is None or self._roster.height <= height:
                self._roster = built
        return built

    @staticmethod
    def _roster_row(
        rank: int, address: str, score: Any, p: Any, initial: int = 0
    ) -> dict[str, Any]:
        """A participant's row; one never settled (rank 0) shows the initial score, as the
        chain's Score query answers for it."""
        return {
            "rank": rank,
            "address": address,
            "score": score.score if score is not None else initial,
            "intervals": score.intervals if score is not None else 0,
            "suspensions": score.suspensions if score is not None else 0,
            "suspended_until": score.suspended_until if score is not None else 0,
            "rebates": number(score.rebates) if score is not None else 0,
            "role": label(registry_pb2.Role, p.role) if p is not None else "",
            "bus": p.bus if p is not None else "",
            "status": label(registry_pb2.Status, p.status) if p is not None else "",
        }

    def participants(
        self,
        offset: int = 0,
        limit: int = 50,
        q: str = "",
        sort: str = "rank",
        height: int | None = None,
    ) -> dict[str, Any]:
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequest(f"limit must be 1..{MAX_PAGE}")
        if offset < 0:
            raise BadRequest("offset must be 0 or more")
        if sort not in ("rank", "address"):
            raise BadRequest("sort must be rank or address")
        height = self.height(height)
        roster = self.roster(height)
        rows = roster.rows if sort == "rank" else roster.by_address
        needle = q.strip().lower()
        if needle:
            rows = [r for r in rows if needle in r["address"]]
        sched = self.schedule(roster.height)
        block_interval = sched.current_interval
        page = [
            {**r, "suspended": r["suspended_until"] > block_interval}
            for r in rows[offset : offset + limit]
        ]
        movers_interval, movers = self.movers(roster.height)
        return {
            "height": roster.height,
            "total": len(rows),
            "offset": offset,
            "limit": limit,
            "rows": page,
            "histogram": histogram(r["score"] for r in roster.rows if r["rank"]),
            "suspended": sum(1 for r in roster.rows if r["suspended_until"] > block_interval),
            "movers": movers,
            "movers_interval": movers_interval,
        }

    def movers(self, height: int) -> tuple[int | None, list[dict[str, Any]]]:
        """The ten biggest reputation moves of the last settled interval."""
        _, rows = self.interval_rows(height, 8)
        settled = [r["id"] for r in rows if r["settled"]]
        if not settled:
            return None, []
        interval_id = settled[-1]
        with self._lock:
            kept = self._movers.get(interval_id)
        if kept is None:
            moves = [
                {
                    "address": s.participant,
                    "score": s.score_after,
                    "change": s.score_after - s.score_before,
                }
                for s in pages(
                    lambda key: self.client.settlements(
                        interval=interval_id, page_key=key, limit=SCAN_PAGE, height=height
                    ),
                    "settlements",
                )
                if s.score_after != s.score_before
            ]
            moves.sort(key=lambda m: (-abs(m["change"]), m["address"]))
            kept = moves[:10]
            with self._lock:
                self._movers[interval_id] = kept
        return interval_id, kept

    def participant(self, address: str, height: int | None = None) -> dict[str, Any]:
        try:
            crypto.decode_address(address)
        except (ValueError, TypeError):
            raise BadRequest(f"{address!r:.80} is not an address") from None
        height = self.height(height)
        try:
            record = participant_record(self.client.participant(address, height))
        except QueryError:
            record = None
        balances = [
            {"denom": c.denom, "amount": number(c.amount)}
            for c in self.client.all_balances(address, height)
        ]
        if record is None and not balances:
            raise NotFound(f"{address} is neither registered nor holds anything")
        score = self.client.score(address, height)
        s = score.score
        history = self.client.reputation_history(address, limit=HISTORY_ROWS, height=height)
        settlements = self.client.settlements(
            participant=address, limit=HISTORY_ROWS, height=height
        )
        orders = newest(
            lambda key: self.client.orders(
                owner=address, page_key=key, limit=SCAN_PAGE, height=height
            ),
            "orders",
            RECENT_ROWS,
        )
        trades = newest(
            lambda key: self.client.trades(
                address=address, page_key=key, limit=SCAN_PAGE, height=height
            ),
            "trades",
            RECENT_ROWS,
        )
        meters = self.client.meters(address, height) if record is not None else []
        return {
            "height": height,
            "address": address,
            "participant": record,
            "balances": balances,
            "score": {
                "score": s.score,
                "rank": score.rank,
                "intervals": s.intervals,
                "last_interval": s.last_interval,
                "suspended_until": s.suspended_until,
                "suspensions": s.suspensions,
                "rebates": number(s.rebates),
            },
            "history": [
                {
                    "interval": e.interval,
                    "accuracy": e.accuracy,
                    "score_before": e.score_before,
                    "score_after": e.score_after,
                    "contracted_wh": e.contracted_wh,
                    "deviation_wh": e.deviation_wh,
                    "suspended": e.suspended,
                    "source": e.source,
                }
                for e in reversed(history.entries)
            ],
            "settlements": [settlement_row(x) for x in reversed(settlements.settlements)],
            "orders": [order_row(o) for o in reversed(orders)],
            "trades": [trade_row(t) for t in reversed(trades)],
            "meters": [
                {"pub_key": bytes(m.pub_key).hex(), "status": "revoked" if m.revoked else "active"}
                for m in meters
            ],
        }

    # -- validators, blocks, nodes --------------------------------------------------------

    def chain(self) -> dict[str, Any]:
        height, st = self.latest()
        probes = [(self._node(rpc), rpc) for rpc in self.nodes]
        nodes = [n for n, _ in probes]
        names = {n["validator"]: n["moniker"] for n in nodes if n.get("validator")}
        validators: list[dict[str, Any]] = []
        signed: set[str] = set()
        commit = _call(self.rpc, "commit", height=str(height))
        if commit:
            for sig in commit["signed_header"]["commit"]["signatures"]:
                if sig.get("block_id_flag") in (2, "BLOCK_ID_FLAG_COMMIT"):
                    signed.add(str(sig.get("validator_address") or ""))
        all_validators = getattr(self.rpc, "all_validators", None)
        for v in all_validators(height) if all_validators else []:
            validators.append(
                {
                    "address": v["address"],
                    "voting_power": int(v["voting_power"]),
                    "proposer_priority": int(v.get("proposer_priority") or 0),
                    "signed_last": v["address"] in signed,
                    "name": names.get(v["address"], ""),
                }
            )
        blocks = self._blocks(height)
        gaps = [b["interval_s"] for b in blocks if b["interval_s"] is not None]
        return {
            "height": height,
            "chain_id": st["node_info"].get("network", ""),
            "validators": validators,
            "blocks": blocks,
            "agreement": self._agreement(probes),
            "nodes": nodes,
            "avg_block_time_s": round(sum(gaps) / len(gaps), 3) if gaps else None,
        }

    def _blocks(self, height: int) -> list[dict[str, Any]]:
        first = max(1, height - BLOCKS_SHOWN)  # one more than shown: the first gap
        result = _call(self.rpc, "blockchain", minHeight=str(first), maxHeight=str(height))
        if not result:
            return []
        metas = sorted(result["block_metas"], key=lambda m: int(m["header"]["height"]))
        out: list[dict[str, Any]] = []
        previous: float | None = None
        for meta in metas:
            h = meta["header"]
            t = parse_block_time_ns(h["time"]) / 1e9
            out.append(
                {
                    "height": int(h["height"]),
                    "time": round(t, 3),
                    "time_iso": h["time"],
                    "txs": int(meta.get("num_txs") or 0),
                    "proposer": h["proposer_address"],
                    "app_hash": h["app_hash"],
                    "interval_s": round(t - previous, 3) if previous is not None else None,
                }
            )
            previous = t
        out.reverse()
        return out[:BLOCKS_SHOWN]

    def _node(self, rpc: RPCLike) -> dict[str, Any]:
        url = getattr(rpc, "node", "")
        try:
            st = rpc.status()
            info = (_call(rpc, "abci_info") or {}).get("response") or {}
        except (RPCError, ChainError, OSError) as exc:
            return {"url": url, "moniker": "", "ok": False, "height": None, "catching_up": None,
                    "app_height": None, "app_hash": "", "agrees": None, "error": str(exc)}  # fmt: skip
        sync = st["sync_info"]
        app_height = int(info.get("last_block_height") or sync["latest_block_height"])
        app_hash = (
            _b64_hex(info.get("last_block_app_hash"))
            if info
            else str(sync.get("latest_app_hash") or "")
        )
        return {
            "url": url,
            "moniker": st["node_info"].get("moniker", ""),
            "ok": True,
            "height": int(sync["latest_block_height"]),
            "catching_up": bool(sync.get("catching_up")),
            "app_height": app_height,
            "app_hash": app_hash,
            "agrees": None,
            "error": "",
            "validator": (st.get("validator_info") or {}).get("address", ""),
        }

    @staticmethod
    def _agreement(probes: list[tuple[dict[str, Any], RPCLike]]) -> dict[str, Any]:
        """Each reachable node's own app hash after one height: the highest every one of
        them has committed. A node further on is asked for the header of the next block,
        whose app hash it checked against its own app when it applied that block."""
        up = [(n, rpc) for n, rpc in probes if n["ok"]]
        if not up:
            return {"height": None, "app_hashes": {}, "agree": None}
        common = min(n["app_height"] for n, _ in up)
        hashes: dict[str, list[str]] = {}
        for n, rpc in up:
            value = n["app_hash"]
            if n["app_height"] != common:
                try:
                    commit = _call(rpc, "commit", height=str(common + 1))
                    value = commit["signed_header"]["header"]["app_hash"] if commit else ""
                except (RPCError, ChainError, OSError, KeyError, TypeError):
                    value = ""
            n["common_app_hash"] = value
            hashes.setdefault(value, []).append(n["moniker"] or n["url"])
        agree = len(hashes) == 1 and "" not in hashes
        for n, _ in up:
            majority = len(hashes[n["common_app_hash"]]) * 2 > len(up)
            n["agrees"] = agree or (n["common_app_hash"] != "" and majority)
        return {"height": common, "app_hashes": hashes, "agree": agree}

    # -- inter-microgrid ------------------------------------------------------------------

    def ibc(self, height: int | None = None) -> dict[str, Any]:
        height = self.height(height)
        clients = []
        client_chain: dict[str, str] = {}
        for c in self.client.ibc_clients(height):
            cs = c.client_state
            client_chain[c.client_id] = cs.chain_id
            clients.append(
                {
                    "client_id": c.client_id,
                    "chain_id": cs.chain_id,
                    "latest_height": cs.latest_height,
                    "frozen": bool(getattr(cs, "frozen_height", 0)),
                }
            )
        connection_client = {
            c.connection_id: c.connection.client_id for c in self.client.ibc_connections(height)
        }
        channels = []
        for ch in self.client.ibc_channels(height):
            c = ch.channel
            hop = c.connection_hops[0] if c.connection_hops else ""
            pending = self.client.packet_commitments(ch.port_id, ch.channel_id, height)
            channels.append(
                {
                    "port_id": ch.port_id,
                    "channel_id": ch.channel_id,
                    "state": label(type(c).DESCRIPTOR.fields_by_name["state"].enum_type, c.state),
                    "counterparty_port_id": c.counterparty.port_id,
                    "counterparty_channel_id": c.counterparty.channel_id,
                    "connection": hop,
                    "counterparty_chain_id": client_chain.get(connection_client.get(hop, ""), ""),
                    "pending_packets": len(pending),
                    "acknowledgements": len(
                        self.client.packet_acknowledgements(ch.port_id, ch.channel_id, height)
                    ),
                    "next_sequence_receive": self.client.next_sequence_receive(
                        ch.port_id, ch.channel_id, height
                    ),
                }
            )
        trades = sorted(
            self.client.energy_trades("", height),
            key=lambda t: (t.height, t.sequence),
            reverse=True,
        )[:DETAIL_ROWS]
        return {
            "height": height,
            "clients": clients,
            "channels": channels,
            "trades": [self._inter_trade(t) for t in trades],
        }

    @staticmethod
    def _inter_trade(t: Any) -> dict[str, Any]:
        offer = t.offer
        fields = {f.name for f in offer.DESCRIPTOR.fields}
        return {
            "channel_id": t.channel_id,
            "sequence": t.sequence,
            "outgoing": t.outgoing,
            "status": label(type(t).DESCRIPTOR.fields_by_name["status"].enum_type, t.status),
            "interval": getattr(offer, "interval", 0) if "interval" in fields else 0,
            "quantity_wh": getattr(offer, "quantity_wh", 0) if "quantity_wh" in fields else 0,
            "price": getattr(offer, "price", 0) if "price" in fields else 0,
            "error": t.error,
            "height": t.height,
        }

    # -- grid services and instruments ----------------------------------------------------

    def grid(self, height: int | None = None) -> dict[str, Any]:
        """The newest records of each grid service and instrument, as flat rows."""
        height = self.height(height)
        out: dict[str, Any] = {"height": height}
        for name, module, method, request_type, items in GRID_LISTS:
            request = getattr(module, request_type)

            def fetch(key: bytes, m: Any = module, q: str = method, r: Any = request) -> Any:
                return self.client.query(m.DESCRIPTOR, q, r(page_key=key, limit=SCAN_PAGE), height)

            rows = newest(fetch, items, GRID_ROWS)
            out[name] = [flat(proto_json(r)) for r in reversed(rows)]
        return out
