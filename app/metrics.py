"""The app's Prometheus metrics (issue 8, observability), served next to CometBFT's.

CometBFT exports consensus, mempool and p2p metrics on its own endpoint;
this module exports what only the application knows: transactions by
message type and result, block execution, market clearing and store commit
times, open orders, settled energy and money, and IBC packets. ``mgridd
start --metrics HOST:PORT`` serves them at ``http://HOST:PORT/metrics``
(docs/observability.md lists every metric).

Every :class:`AppMetrics` has its own ``CollectorRegistry`` (no global
state: tests run several apps in one process). The adapter calls the
``observe_*`` methods after it has computed its answer: metrics read what
happened (results, events, wall-clock durations) and never feed anything
back, so they cannot influence consensus. Per transaction the work is a
dictionary count; the Prometheus children are touched once per distinct
label set per block.

Open orders are counted once from state (the market keeper's per-account
counts) when the process starts or the chain jumps (InitChain, a restored
snapshot), and then moved by each block's events: +1 per
``market_place_order``, -1 per ``market_cancel_order``, and minus the
``order_count`` of every interval a ``market_clear`` event reports, read
from the committed state (clearing closes every open order of the interval).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

from app.chain import BlockResult, Chain
from app.context import Event
from app.kv import StoreView
from app.modules.market import keeper as market_keeper

log = logging.getLogger("mgrid.metrics")

UNDECODABLE = "undecodable"
UNKNOWN = "unknown"  # a message whose type this version does not know (an unset oneof)

# Seconds: FinalizeBlock of an empty block takes ~100 us, 10,000 transfers seconds.
_TIME_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_TX_BUCKETS = (0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)

# settlement_interval attributes counted, by the ``kind`` label they get.
SETTLED_ENERGY = {
    "local_traded": "local_traded_wh",
    "imbalance_bought": "imbalance_bought_wh",
    "imbalance_sold": "imbalance_sold_wh",
    "inter_import": "inter_import_wh",
    "inter_export": "inter_export_wh",
}
SETTLED_MONEY = {
    "imbalance_cost": "imbalance_cost",
    "imbalance_revenue": "imbalance_revenue",
    "penalties": "penalties",
    "unrecovered": "unrecovered",
    "rebates": "rebates",
}
# IBC packet events and the attribute naming this chain's end of the channel.
IBC_PACKET_PORT = {
    "send_packet": "packet_src_port",
    "recv_packet": "packet_dst_port",
    "acknowledge_packet": "packet_src_port",
    "timeout_packet": "packet_src_port",
}
_WATCHED = frozenset(
    {"market_place_order", "market_cancel_order", "market_clear", "settlement_interval"}
    | IBC_PACKET_PORT.keys()
)


class MetricsAddressError(ValueError):
    """The metrics address is not HOST:PORT, or nothing can listen on it."""


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port).

    Raises:
        MetricsAddressError: not of that form, or the port is not 0-65535 (0: any free port).
    """
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise MetricsAddressError(
            f"metrics address {address!r} is not HOST:PORT (for example 127.0.0.1:26661)"
        )
    return host, int(port)


@dataclass
class _PendingBlock:
    """What FinalizeBlock saw, applied to the gauges at Commit."""

    height: int
    time_ns: int
    orders_delta: int = 0
    cleared: list[int] = field(default_factory=list)


def _attr(event: Event, key: str) -> str:
    for k, v in event.attributes:
        if k == key:
            return v
    return ""


def _int_attr(event: Event, key: str) -> int:
    value = _attr(event, key)
    try:
        return int(value)
    except ValueError:
        return 0


class AppMetrics:
    """The collectors of one app, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.info = Gauge(
            "mgrid_app_info",
            "Constant 1, labelled with the app's software version and its ABCI app_version",
            ["version", "app_version"],
            registry=r,
        )
        self.txs = Counter(
            "mgrid_txs",
            "Transactions executed in FinalizeBlock, by message type(s) and result",
            ["type", "code", "codespace"],
            registry=r,
        )
        self.check_txs = Counter(
            "mgrid_check_txs",
            "CheckTx answers, by kind (new or recheck) and result",
            ["kind", "code", "codespace"],
            registry=r,
        )
        self.block_seconds = Histogram(
            "mgrid_block_execution_seconds",
            "Wall seconds of FinalizeBlock (transactions, end-block logic, app hash)",
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.block_txs = Histogram(
            "mgrid_block_txs", "Transactions per block", buckets=_TX_BUCKETS, registry=r
        )
        self.height = Gauge("mgrid_height", "Height of the last committed block", registry=r)
        self.block_time = Gauge(
            "mgrid_last_block_time_seconds",
            "Header time of the last committed block, unix seconds",
            registry=r,
        )
        self.clearing_seconds = Histogram(
            "mgrid_clearing_seconds",
            "Wall seconds of the market's end-block step in blocks that cleared an interval",
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.intervals_cleared = Counter(
            "mgrid_intervals_cleared", "Market intervals cleared with orders", registry=r
        )
        self.matched_wh = Counter(
            "mgrid_market_matched_wh", "Energy matched between local orders at clearing, Wh",
            registry=r,
        )  # fmt: skip
        self.trades = Counter("mgrid_market_trades", "Trades made at clearing", registry=r)
        self.orders_open = Gauge(
            "mgrid_orders_open", "Orders open (placed, not yet cleared or cancelled)", registry=r
        )
        self.intervals_settled = Counter(
            "mgrid_settlement_intervals", "Intervals settled against meter readings", registry=r
        )
        self.settled_energy = Counter(
            "mgrid_settled_energy_wh",
            "Energy settled, Wh, by kind (local_traded, imbalance_bought, imbalance_sold, "
            "inter_import, inter_export)",
            ["kind"],
            registry=r,
        )
        self.settled_money = Counter(
            "mgrid_settled_money",
            "Money moved by settlement in the smallest unit of the chain's denom, by kind "
            "(imbalance_cost, imbalance_revenue, penalties, unrecovered, rebates)",
            ["kind"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "mgrid_store_commit_seconds",
            "Wall seconds of Commit (the store's atomic batch)",
            buckets=_TIME_BUCKETS,
            registry=r,
        )
        self.ibc_packets = Counter(
            "mgrid_ibc_packets",
            "IBC packet events in blocks, by event and this chain's port",
            ["event", "port"],
            registry=r,
        )
        # Label children by label values: labels() takes a lock and builds a
        # key each call, a dict hit does not.
        self._tx_children: dict[tuple[str, int, str], Any] = {}
        self._check_children: dict[tuple[bool, int, str], Any] = {}
        self._type_labels: dict[tuple[str, ...], str] = {}
        self._pending: _PendingBlock | None = None
        self._open: int | None = None  # open orders at self._open_height
        self._open_height = -1
        self._server: Any = None

    # --- set-up ------------------------------------------------------------

    def set_app_info(self, version: str, app_version: int) -> None:
        self.info.clear()
        self.info.labels(version=version, app_version=str(app_version)).set(1)

    def load(self, chain: Chain) -> None:
        """Start the gauges from committed state (at process start)."""
        self._recount(chain, chain.height)
        self.height.set(chain.height)
        self.block_time.set(chain.last_block_time_ns / 1e9)

    def serve(self, address: str) -> tuple[str, int]:
        """Serve ``/metrics`` on ``address`` (HOST:PORT) in a daemon thread; returns
        the bound (host, port) (port 0 picks a free one).

        Raises:
            MetricsAddressError: a malformed address, or the port cannot be bound.
        """
        host, port = parse_address(address)
        try:
            server, _ = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise MetricsAddressError(
                f"cannot serve metrics on {address}: {exc.strerror or exc}; "
                "choose a free port (--metrics HOST:PORT) or '' to turn metrics off"
            ) from None
        self._server = server
        bound = server.server_address
        log.info("metrics on http://%s:%d/metrics", host, bound[1])
        return host, int(bound[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- observations --------------------------------------------------------

    def observe_check_tx(self, recheck: bool, code: int, codespace: str) -> None:
        key = (recheck, code, codespace)
        child = self._check_children.get(key)
        if child is None:
            kind = "recheck" if recheck else "new"
            child = self._check_children[key] = self.check_txs.labels(
                kind=kind, code=str(code), codespace=codespace
            )
        child.inc()

    def observe_block(
        self,
        chain: Chain,
        height: int,
        time_ns: int,
        txs: Iterable[bytes],
        result: BlockResult,
        seconds: float,
    ) -> None:
        """Count a finalized block's transactions and events; the gauges that
        describe committed state move at :meth:`observe_commit`."""
        pending = _PendingBlock(height, time_ns)
        counts: dict[tuple[str, int, str], int] = {}
        n = 0
        for raw, r in zip(txs, result.tx_results, strict=True):
            n += 1
            key = (self._tx_type(chain, raw), r.code, r.codespace)
            counts[key] = counts.get(key, 0) + 1
            if not r.code:  # a failed tx keeps only its ante events
                for e in r.events:
                    if e.type in _WATCHED:
                        self._event(e, pending)
        for e in result.events:
            if e.type in _WATCHED:
                self._event(e, pending)
        for key, count in counts.items():
            child = self._tx_children.get(key)
            if child is None:
                child = self._tx_children[key] = self.txs.labels(
                    type=key[0], code=str(key[1]), codespace=key[2]
                )
            child.inc(count)
        self.block_seconds.observe(seconds)
        self.block_txs.observe(n)
        if pending.cleared:
            self.clearing_seconds.observe(chain.timings.get("clearing", 0.0))
        self._pending = pending

    def observe_commit(self, chain: Chain, height: int, seconds: float) -> None:
        """Commit took ``seconds``; move the gauges to the committed block ``height``."""
        self.commit_seconds.observe(seconds)
        pending, self._pending = self._pending, None
        self.height.set(height)
        if pending is not None and pending.height == height:
            self.block_time.set(pending.time_ns / 1e9)
        if pending is None or pending.height != height or self._open_height != height - 1:
            self._recount(chain, height)  # InitChain, a restored snapshot, or a gap
            return
        assert self._open is not None
        view = StoreView(chain.store, height)
        closed = sum(market_keeper.get_interval(view, n).order_count for n in pending.cleared)
        self._set_open(self._open + pending.orders_delta - closed, height)

    # --- helpers -------------------------------------------------------------

    def _tx_type(self, chain: Chain, raw: bytes) -> str:
        tx = chain.decoded(raw)
        if tx is None:
            return UNDECODABLE
        messages = tx.body.messages
        if len(messages) == 1:  # the common case, without building a tuple (~1 us saved)
            return messages[0].WhichOneof("sum") or UNKNOWN
        names = tuple([m.WhichOneof("sum") or UNKNOWN for m in messages])
        label = self._type_labels.get(names)
        if label is None:
            # Sorted and without repeats: a tx's label does not depend on the
            # order of its messages, and the label set stays small.
            label = ",".join(sorted(set(names))) or "none"
            if len(self._type_labels) < 1024:
                self._type_labels[names] = label
        return label

    def _event(self, e: Event, pending: _PendingBlock) -> None:
        kind = e.type
        if kind == "market_place_order":
            pending.orders_delta += 1
        elif kind == "market_cancel_order":
            pending.orders_delta -= 1
        elif kind == "market_clear":
            pending.cleared.append(_int_attr(e, "interval"))
            self.intervals_cleared.inc()
            self.matched_wh.inc(_int_attr(e, "matched_wh"))
            self.trades.inc(_int_attr(e, "trades"))
        elif kind == "settlement_interval":
            self.intervals_settled.inc()
            for label, attr in SETTLED_ENERGY.items():
                self.settled_energy.labels(kind=label).inc(max(0, _int_attr(e, attr)))
            for label, attr in SETTLED_MONEY.items():
                self.settled_money.labels(kind=label).inc(max(0, _int_attr(e, attr)))
        else:
            port = _attr(e, IBC_PACKET_PORT[kind])
            self.ibc_packets.labels(event=kind, port=port).inc()

    def _recount(self, chain: Chain, height: int) -> None:
        count = 0
        if height:
            view = StoreView(chain.store, height)
            if market_keeper.is_configured(view):
                count = market_keeper.open_orders_total(view)
        self._set_open(count, height)

    def _set_open(self, count: int, height: int) -> None:
        # Before block 1 the count is of an empty store, not of the genesis
        # about to be applied: block 1 counts again.
        self._open, self._open_height = count, (height if height else -1)
        self.orders_open.set(count)
