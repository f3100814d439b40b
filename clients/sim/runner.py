"""One simulation run: set the households up on the chain, then follow the
chain's delivery intervals phase by phase until the requested number of them
is settled (DESIGN.md section 2, seen from the energy cells' side).

Setup (idempotent, so a rerun with the same seed against the same chain
reuses what it finds): the faucet funds every household in one transaction
of MsgSends; each household applies (role, bus); the utility cell approves
and registers each meter key, many households per transaction.

Then every decision is taken on the chain's block time (``Schedule``), never
on the wall clock, which only paces the polls. For each interval ``n`` of
the run, in a pipeline (while ``n`` delivers, ``n + 1`` takes orders and
``n - 1`` is read and settled):

1. ordering: once ``n`` is the earliest interval still taking orders, the
   utility publishes its forecast and each household places its order, until
   ``order_margin`` seconds before gate closure;
2. gate closure and clearing happen on the chain; delivery is simulated;
3. reading: once block time reaches the end of ``n``, each meter signs its
   reading (sequence = the interval number) and its household submits it,
   until ``reading_margin`` seconds before the settlement window closes;
4. settlement: the first block after the window settles ``n``; the run reads
   the market's clearing, the settlement's KPIs and each household's row.

An interval whose gate or window was missed (a slow setup, a stalled chain)
is reported and replaced by a later one, up to ``extra_intervals`` times.

With ``offer_channel`` (and a node of the neighbouring chain), the utility
also offers the neighbour the households' forecast residual supply over that
IBC energy channel when the households order (offers.py states the rule);
each settled interval shows what was offered and filled, and the summary
the totals, read from the energy Trades query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format

from app.coins import Coin
from app.crypto import PrivateKey
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from clients.mgrid import tx as txmod
from clients.mgrid.chain import NS_PER_S, ChainClient, ChainError, QueryError, RPCLike, pages
from clients.mgrid.cmd_ibc import ENERGY_PORT, counterparty_interval
from clients.mgrid.session import UsageError
from clients.rpc import RPCError
from clients.sim import offers, profiles
from clients.sim.household import Account, Broadcaster, Clock, Sent, TxRPC, WallClock
from clients.sim.offers import Offer, OfferTerms
from clients.sim.profiles import Household, MarketTerms, ProfileConfig

MAX_MSGS_PER_TX = 64
REPUTATION_CODESPACE = "reputation"
CODE_SUSPENDED = 3
NODE_RETRY_S = 30.0  # how long a run rides out an unreachable node


class SimError(Exception):
    """The run cannot go on (the message says why)."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    households: int = 8
    intervals: int = 5
    seed: int = 1
    misbehave: int = 1
    prosumer_share: float = 0.5
    grid_fill_share: float = 1.0
    forecast_error: float = 0.1
    overpromise: float = 4.0
    missing_reading_rate: float = 0.0
    start_hour: float = 8.0
    slot_minutes: int = 120
    funding: int = 10**10  # per household, in the denom's smallest unit
    publish_forecast: bool = True
    poll_seconds: float = 0.5
    order_margin: int = 4  # block-time seconds before gate closure
    reading_margin: int = 3  # block-time seconds before the settlement window closes
    extra_intervals: int = 3
    offer_channel: str = ""  # IBC energy channel to offer the residual supply over
    offer_share: float = 1.0  # of the forecast residual supply
    offer_lead_seconds: int = offers.DEFAULT_LEAD_SECONDS
    offer_wait_seconds: float = 30.0  # after the last interval, for pending acks

    def profile(self) -> ProfileConfig:
        return ProfileConfig(
            seed=self.seed,
            start_hour=self.start_hour,
            slot_minutes=self.slot_minutes,
            forecast_error=self.forecast_error,
            overpromise=self.overpromise,
            missing_reading_rate=self.missing_reading_rate,
        )


# -- results ----------------------------------------------------------------------------------


@dataclass
class Mover:
    household: str
    before: int
    after: int
    suspended_until: int = 0  # set when this interval's update suspended it

    @property
    def delta(self) -> int:
        return self.after - self.before


@dataclass
class HouseholdRow:
    """One household in one settled interval (the order it placed, what settlement did)."""

    interval: int
    household: str
    role: str
    bus: str
    misbehaving: bool
    order: str  # "sell 3000 @ 120000 +grid", "none", "refused: suspended ..."
    forecast_pv_wh: int = 0
    forecast_load_wh: int = 0
    actual_pv_wh: int = 0
    actual_load_wh: int = 0
    reading: str = "none"  # "ok", "skipped", "failed", "none"
    contracted_sell_wh: int = 0
    contracted_buy_wh: int = 0
    exported_wh: int = 0
    imported_wh: int = 0
    deviation_wh: int = 0
    imbalance_cost: int = 0
    imbalance_revenue: int = 0
    penalty: int = 0
    net: int = 0
    savings: int = 0
    accuracy: int = 0
    score_before: int = 0
    score_after: int = 0
    suspended_until: int = 0


@dataclass
class IntervalRow:
    """One settled interval: the market's clearing and the settlement's KPIs."""

    interval: int
    slot: int
    clock: str  # simulated time of day, "10:00"
    clearing_price: int | None
    orders: int
    trades: int
    matched_wh: int
    grid_fill_import_wh: int  # sold to buyers by the main grid at clearing
    grid_fill_export_wh: int  # bought from sellers by the main grid at clearing
    generation_wh: int
    consumption_wh: int
    pcc_import_wh: int  # metered net flow at the coupling point
    pcc_export_wh: int
    self_sufficiency: int  # ppm
    self_consumption: int  # ppm
    savings: int
    penalties: int
    imbalance_cost: int
    imbalance_revenue: int
    readings: int
    missing_readings: int
    refused: list[str] = field(default_factory=list)  # households whose order was refused
    movers: list[Mover] = field(default_factory=list)
    households: list[HouseholdRow] = field(default_factory=list)
    offer: Offer | None = None  # the utility's offer to the neighbour, made with the orders


@dataclass
class RunResult:
    chain_id: str
    denom: str
    config: SimConfig
    households: list[Household]
    rows: list[IntervalRow] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    totals: dict[str, Any] = field(default_factory=dict)
    ranking: list[dict[str, Any]] = field(default_factory=list)
    histories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    complete: bool = False
    interrupted: bool = False
    offers: list[Offer] = field(default_factory=list)
    neighbour: str = ""  # the chain id offered to
    neighbour_denom: str = ""

    @property
    def settled(self) -> int:
        return len(self.rows)


class Reporter:
    """What the runner tells its display (display.py implements it; tests may record)."""

    def event(self, text: str) -> None: ...

    def progress(self, key: str, text: str) -> None: ...

    def interval(self, row: IntervalRow) -> None: ...


# -- the run ----------------------------------------------------------------------------------


@dataclass
class _Slot:
    """An interval of the run and how far the run got with it."""

    interval: int
    slot: int
    start: int
    end: int
    gate: int
    window_end: int
    ordered: bool = False
    read: bool = False
    done: bool = False  # settled or given up
    orders: dict[str, Sent] = field(default_factory=dict)
    order_text: dict[str, str] = field(default_factory=dict)
    reading_state: dict[str, str] = field(default_factory=dict)
    waited_since: int | None = None  # block time the settlement was first expected
    offer: Offer | None = None

    def phase(self, t: int) -> tuple[str, int]:
        """The phase at block time ``t`` and the seconds until it ends."""
        if t < self.gate:
            return ("ordering" if not self.ordered else "waiting for gate"), self.gate - t
        if t < self.start:
            return "cleared, delivery soon", self.start - t
        if t < self.end:
            return "delivering", self.end - t
        if t < self.window_end:
            return "reading", self.window_end - t
        return "waiting for settlement", 0


class Simulator:
    """Drives ``config.households`` simulated households against the node behind ``rpc``."""

    def __init__(
        self,
        rpc: TxRPC,
        faucet: PrivateKey,
        utility: PrivateKey,
        config: SimConfig,
        *,
        reporter: Reporter | None = None,
        clock: Clock | None = None,
        counterparty: RPCLike | None = None,
    ):
        self.rpc = rpc
        self.chain = ChainClient(rpc)
        self.config = config
        self.profile = config.profile()
        self.reporter = reporter or Reporter()
        self.clock = clock or WallClock()
        self.faucet = Account("faucet", faucet)
        self.utility = Account("utility", utility)
        self.households: list[Household] = []
        self.wallets: dict[str, Account] = {}
        self.by_address: dict[str, Household] = {}
        self.slots: list[_Slot] = []
        self.first_interval: int | None = None
        self.result: RunResult | None = None
        self._tx: Broadcaster | None = None
        self._terms: MarketTerms | None = None
        self._window = 0
        self._suspensions: dict[str, int] = {}
        self.counterparty = ChainClient(counterparty) if counterparty is not None else None
        self._counterparty_rpc = counterparty
        self._offer_terms: OfferTerms | None = None
        self._offered_targets: set[int] = set()

    # -- helpers -----------------------------------------------------------------------------

    @property
    def tx(self) -> Broadcaster:
        assert self._tx is not None, "setup() first"
        return self._tx

    def _event(self, text: str) -> None:
        if self.result is not None:
            self.result.events.append(text)
        self.reporter.event(text)

    def _retrying(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, riding out a node that stops answering for up to NODE_RETRY_S."""
        deadline = self.clock.monotonic() + NODE_RETRY_S
        while True:
            try:
                return fn()
            except RPCError as exc:
                if self.clock.monotonic() > deadline:
                    exc.add_note(f"{what}: the node did not answer for {NODE_RETRY_S:g} s")
                    raise
                self.reporter.progress("node", f"{what}: node not answering ({exc}); retrying")
                self.clock.sleep(max(self.config.poll_seconds, 0.5))

    def _settle_txs(self, sent: list[Sent]) -> None:
        """Wait for ``sent`` and report every failure among them."""
        for s in self.tx.wait(sent, self.config.poll_seconds):
            if not s.ok:
                self._event(s.describe())
        for s in sent:
            if s.status == "refused":
                self._event(s.describe())

    def _batches(self, msgs: list[Any]) -> Iterator[list[Any]]:
        for i in range(0, len(msgs), MAX_MSGS_PER_TX):
            yield msgs[i : i + MAX_MSGS_PER_TX]

    # -- setup -------------------------------------------------------------------------------

    def setup(self) -> RunResult:
        """Read the chain's params, derive the households and register them."""
        cfg = self.config
        status = self.rpc.status()  # a node that does not answer now is a usage error
        chain_id = str(status["node_info"]["network"])
        bank = self.chain.bank_params()
        self._tx = Broadcaster(self.rpc, chain_id, bank.min_fee, self.clock)
        market = self.chain.market_params().params
        if not market.interval_seconds:
            raise SimError("the chain's market is off (no market section in its genesis)")
        self._terms = MarketTerms(
            feed_in_tariff=market.feed_in_tariff,
            retail_tariff=market.retail_tariff,
            min_price=market.min_price if market.HasField("min_price") else market.feed_in_tariff,
            max_price=market.max_price if market.HasField("max_price") else market.retail_tariff,
            min_order_wh=market.min_order_wh,
            max_order_wh=market.max_order_wh,
        )
        self._window = self.chain.settlement_params().window_seconds
        network = self.chain.network()
        buses = tuple(b.id for b in network.buses if b.parent) or tuple(b.id for b in network.buses)
        self.households = profiles.make_households(
            cfg.seed,
            cfg.households,
            misbehave=cfg.misbehave,
            prosumer_share=cfg.prosumer_share,
            grid_fill_share=cfg.grid_fill_share,
            buses=buses,
        )
        self.wallets = {h.name: Account(h.name, h.wallet_key) for h in self.households}
        self.by_address = {h.address: h for h in self.households}
        self.result = RunResult(chain_id, bank.denom, cfg, self.households)
        if cfg.offer_channel:
            self._setup_offers(market.feed_in_tariff, bank.denom)
        self._register(bank.denom)
        return self.result

    def _setup_offers(self, feed_in_tariff: int, denom: str) -> None:
        """Check the energy channel and read the neighbour's terms (offers.py)."""
        cfg = self.config
        assert self.result is not None
        if self.counterparty is None or self._counterparty_rpc is None:
            raise SimError("offers need the neighbouring chain's node (--counterparty-node)")
        try:
            end = self.chain.ibc_channel(ENERGY_PORT, cfg.offer_channel)
        except QueryError as exc:
            raise SimError(
                f"no energy channel {cfg.offer_channel} on this chain ({exc.log}); "
                "`mgrid query ibc channels` lists them (mgrid-relayer link opens one)"
            ) from None
        if end.state != ibc_pb2.CHANNEL_STATE_OPEN:
            raise SimError(f"energy channel {cfg.offer_channel} is not open")
        neighbour = str(self._counterparty_rpc.status()["node_info"]["network"])
        their_denom = self.counterparty.bank_params().denom
        theirs = self.counterparty.market_params().params
        if not theirs.interval_seconds:
            raise SimError(f"the neighbouring chain {neighbour} runs no market")
        low = theirs.min_price if theirs.HasField("min_price") else theirs.feed_in_tariff
        high = theirs.max_price if theirs.HasField("max_price") else theirs.retail_tariff
        price = offers.offer_price(feed_in_tariff, low, high)
        if price is None:
            raise SimError(
                f"this chain's feed-in tariff {feed_in_tariff} is above {neighbour}'s price "
                f"bounds [{low}, {high}]: an offer there would not beat the main grid"
            )
        self._offer_terms = OfferTerms(
            cfg.offer_channel, their_denom, price, theirs.min_order_wh, theirs.max_order_wh
        )
        self.result.neighbour = neighbour
        self.result.neighbour_denom = their_denom
        self._event(
            f"the utility offers {neighbour} the forecast residual supply over "
            f"{ENERGY_PORT}/{cfg.offer_channel} at {price}{their_denom}/kWh"
            + (f" ({cfg.offer_share:g} of it)" if cfg.offer_share != 1 else "")
        )

    def _register(self, denom: str) -> None:
        hs = self.households
        need_funds = [
            h for h in hs if self.chain.balance(h.address, denom).amount < self.config.funding // 2
        ]
        status = {}
        for h in hs:
            try:
                status[h.name] = self.chain.participant(h.address).status
            except QueryError:
                status[h.name] = registry_pb2.STATUS_UNSPECIFIED
        sent: list[Sent] = []
        if need_funds:
            msgs = [
                txmod.msg_send(h.address, [Coin(denom, self.config.funding)]) for h in need_funds
            ]
            for batch in self._batches(msgs):
                sent.append(self.tx.send(self.faucet, batch, what="funding"))
            self._event(
                f"faucet funds {len(need_funds)} households with {self.config.funding}{denom} each"
            )
        roles = {
            profiles.PROSUMER: registry_pb2.ROLE_PROSUMER,
            profiles.CONSUMER: registry_pb2.ROLE_CONSUMER,
        }
        applying = [
            h
            for h in hs
            if status[h.name] in (registry_pb2.STATUS_UNSPECIFIED, registry_pb2.STATUS_REJECTED)
        ]
        for h in applying:
            sent.append(
                self.tx.send(
                    self.wallets[h.name],
                    [txmod.msg_apply(roles[h.role], h.bus)],
                    what="apply",
                    household=h.name,
                )
            )
        if applying:
            self._event(f"{len(applying)} households apply to the registry")
        self._settle_txs(sent)
        if any(not s.ok for s in sent):
            raise SimError("setup failed: funding or applications were refused (see above)")

        msgs = []
        for h in hs:
            if (
                status[h.name] != registry_pb2.STATUS_APPROVED
                and status[h.name] != registry_pb2.STATUS_SUSPENDED
            ):
                msgs.append(txmod.msg_approve(h.address))
            try:
                self.chain.meter(h.meter_key.public_key)
            except QueryError:
                msgs.append(txmod.msg_register_meter(h.address, h.meter_key.public_key))
        sent = [self.tx.send(self.utility, batch, what="approval") for batch in self._batches(msgs)]
        if msgs:
            self._event(
                f"utility approves the households and registers their meters ({len(msgs)} messages)"
            )
        self._settle_txs(sent)
        if any(not s.ok for s in sent):
            raise SimError("setup failed: the utility's approvals were refused (see above)")
        for h in hs:
            p = self.chain.participant(h.address)
            if p.status != registry_pb2.STATUS_APPROVED:
                self._event(
                    f"{h.name}: registry status {registry_pb2.Status.Name(p.status)}; it cannot order"
                )
        self._event(
            "households: "
            + ", ".join(f"{h.label} {h.role} {h.bus}" for h in hs)
            + (" (! = over-promises)" if any(h.misbehaving for h in hs) else "")
        )

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> RunResult:
        """Set up if needed, then run until ``intervals`` are settled; Ctrl-C stops early."""
        if self.result is None:
            self.setup()
        result = self.result
        assert result is not None
        try:
            while not result.complete:
                if not self._step():
                    break
                self.clock.sleep(self.config.poll_seconds)
        except KeyboardInterrupt:
            result.interrupted = True
            self._event("interrupted: cancelling the households' open orders, then stopping")
            self._cancel_open_orders()
        if not result.interrupted:
            self._wait_for_offers()
        self._finish()
        return result

    def _wait_for_offers(self) -> None:
        """Give offers still waiting for their acknowledgement ``offer_wait_seconds``."""
        assert self.result is not None
        if self._offer_terms is None:
            return
        deadline = self.clock.monotonic() + self.config.offer_wait_seconds
        try:
            while True:
                self._refresh_offers()
                waiting = [o for o in self.result.offers if not o.settled]
                if not waiting or self.clock.monotonic() >= deadline:
                    break
                self.reporter.progress(
                    "offers", f"waiting for {len(waiting)} offers to be acknowledged"
                )
                self.clock.sleep(self.config.poll_seconds)
                self.tx.poll()
        except KeyboardInterrupt:
            self.result.interrupted = True

    def _cancel_open_orders(self) -> None:
        """Withdraw every order whose gate has not closed, so that no household is left
        with contracts it will not deliver. Orders of intervals already cleared stand:
        their settlement will count the readings that were not sent as missing."""
        cancelled = 0
        try:
            for h in self.households:
                for o in self.chain.orders(owner=h.address, open_only=True, limit=1000).orders:
                    msg = txmod.msg_cancel_order(o.id)
                    sent = self.tx.send(
                        self.wallets[h.name], [msg], what="cancel", household=h.name
                    )
                    if sent.status == "refused":  # its gate closed meanwhile
                        self._event(sent.describe())
                    else:
                        cancelled += 1
        except (ChainError, RPCError) as exc:
            self._event(f"could not cancel the open orders: {exc}")
        if cancelled:
            self._event(f"{cancelled} open orders cancelled")
        cleared_below = self._cleared_below()
        unread = [
            s.interval
            for s in self.slots
            if s.ordered and not s.read and not s.done and s.interval < cleared_below
        ]
        if unread:
            self._event(
                "cleared but not read, so settled as missing readings: "
                + ", ".join(str(n) for n in unread)
            )

    def _cleared_below(self) -> int:
        """The first interval not cleared yet."""
        try:
            return int(self.chain.schedule().next_to_clear)
        except (ChainError, RPCError):
            return 0

    def _step(self) -> bool:
        """One poll: act on every interval of the run; False when there is nothing left to try."""
        cfg = self.config
        result = self.result
        assert result is not None
        sched = self._retrying("schedule", self.chain.schedule)
        t = int(sched.block_time)
        for s in self._retrying("tx lookup", self.tx.poll):
            if not s.ok:
                self._event(s.describe())
            if s.what == "order" and s.household is not None:
                slot = self._slot(s.interval)
                if slot is not None and not s.ok:
                    slot.order_text[s.household] = f"failed: {s.codespace}/{s.code}"
        if self._offer_terms is not None:
            self._refresh_offers()
        self._open_slots(sched, t)
        for slot in self.slots:
            if slot.done:
                continue
            if not slot.ordered:
                if t < slot.gate - cfg.order_margin:
                    self._place_orders(slot)
                else:
                    slot.done = True
                    self._event(
                        f"interval {slot.interval}: its gate closed before the orders went out; skipped"
                    )
                    continue
            if slot.ordered and not slot.read and t >= slot.end:
                if t < slot.window_end - cfg.reading_margin:
                    self._submit_readings(slot)
                else:
                    slot.read = True
                    self._event(
                        f"interval {slot.interval}: the settlement window closed before the readings went out"
                    )
            if slot.read and t >= slot.window_end:
                self._check_settled(slot, t)
        if result.settled >= cfg.intervals:
            result.complete = True
            return False
        live = [s for s in self.slots if not s.done]
        if not live and len(self.slots) >= cfg.intervals + cfg.extra_intervals:
            self._event(
                f"gave up: {result.settled} of {cfg.intervals} intervals settled in {len(self.slots)} tried"
            )
            return False
        self._progress(t)
        return True

    def _slot(self, interval: int | None) -> _Slot | None:
        return next((s for s in self.slots if s.interval == interval), None)

    def _open_slots(self, sched: Any, t: int) -> None:
        """Start ordering for the next interval of the run once its turn has come."""
        cfg = self.config
        in_play = sum(1 for s in self.slots if not s.done) + (
            self.result.settled if self.result else 0
        )
        if in_play >= cfg.intervals or len(self.slots) >= cfg.intervals + cfg.extra_intervals:
            return
        first_open = int(sched.first_open)
        if self.slots:
            n = self.slots[-1].interval + 1
            if n > first_open:  # its turn comes when it is the earliest open interval
                return
            n = max(n, first_open)
        else:
            n = first_open
        state = self.chain.interval(n)
        if state.gate_closure_time - t < cfg.order_margin:
            n += 1
            state = self.chain.interval(n)
        if self.first_interval is None:
            self.first_interval = n
        self.slots.append(
            _Slot(
                interval=n,
                slot=n - self.first_interval,
                start=int(state.start_time),
                end=int(state.end_time),
                gate=int(state.gate_closure_time),
                window_end=int(state.end_time) + self._window,
            )
        )

    def _place_orders(self, slot: _Slot) -> None:
        assert self._terms is not None
        n, k = slot.interval, slot.slot
        fs = [profiles.forecast(h, k, self.profile) for h in self.households]
        if self._offer_terms is not None:
            self._offer(slot, fs)
        if self.config.publish_forecast:
            msg = txmod.msg_publish_forecast(
                n, sum(f.pv_wh for f in fs), sum(f.load_wh for f in fs)
            )
            sent = self.tx.send(self.utility, [msg], what="forecast", interval=n)
            if sent.status == "refused":
                self._event(sent.describe())
        refused = []
        for h in self.households:
            plan = profiles.plan_order(h, k, self.profile, self._terms)
            if plan is None:
                slot.order_text[h.name] = "none"
                continue
            side = market_pb2.SIDE_SELL if plan.side == profiles.SELL else market_pb2.SIDE_BUY
            msg = txmod.msg_place_order(side, n, plan.quantity_wh, plan.price, plan.grid_fill)
            sent = self.tx.send(
                self.wallets[h.name], [msg], what="order", household=h.name, interval=n
            )
            slot.orders[h.name] = sent
            text = f"{plan.side} {plan.quantity_wh} @ {plan.price}" + (
                " +grid" if plan.grid_fill else ""
            )
            if sent.status == "refused":
                if sent.codespace == REPUTATION_CODESPACE and sent.code == CODE_SUSPENDED:
                    text = "refused: suspended"
                    refused.append(h.label)
                else:
                    text = f"refused: {sent.codespace}/{sent.code}"
                    self._event(sent.describe())
            slot.order_text[h.name] = text
        if refused:
            self._event(
                f"interval {n}: orders refused, suspended for poor reputation: {', '.join(refused)}"
            )
        slot.ordered = True

    def _offer(self, slot: _Slot, forecasts: list[profiles.Energy]) -> None:
        """The utility's offer of the residual supply to the neighbour (offers.py)."""
        terms, cp, result = self._offer_terms, self.counterparty, self.result
        assert terms is not None and cp is not None and result is not None
        quantity = offers.offer_quantity(forecasts, self.config.offer_share, terms)
        if quantity is None:
            return
        try:
            state = counterparty_interval(cp, "next", self.config.offer_lead_seconds)
        except (ChainError, RPCError, UsageError) as exc:
            self._event(f"interval {slot.interval}: no offer to {result.neighbour}: {exc}")
            return
        target = int(state.id)
        if target in self._offered_targets:  # one offer per neighbour interval
            return
        offer = Offer(slot.interval, target, int(state.start_time), quantity, terms.price)
        msg = txmod.msg_offer_energy(
            terms.channel,
            market_pb2.SIDE_SELL,
            delivery_start=offer.delivery_start,
            quantity_wh=quantity,
            limit_price=terms.price,
            timeout_timestamp=int(state.gate_closure_time) * NS_PER_S,
            denom=terms.denom,
        )
        offer.sent = self.tx.send(self.utility, [msg], what="offer", interval=slot.interval)
        if offer.sent.status == "refused":
            offer.status, offer.error = "failed", offer.sent.log
            self._event(offer.sent.describe())
        self._offered_targets.add(target)
        slot.offer = offer
        result.offers.append(offer)

    def _refresh_offers(self) -> None:
        """Read what became of the offers still open; report each one that settles."""
        assert self.result is not None
        open_offers = [o for o in self.result.offers if not o.settled and o.sent is not None]
        if not open_offers:
            return
        trades = None
        for o in open_offers:
            assert o.sent is not None
            if o.sent.status in ("failed", "lost", "refused"):
                o.status, o.error = "failed", o.sent.log or o.sent.status
                continue
            if o.sent.status != "ok":
                continue
            if trades is None:
                try:
                    trades = self.chain.energy_trades(self.config.offer_channel)
                except (ChainError, RPCError) as exc:
                    self.reporter.progress("offers", f"offers: cannot read the trades ({exc})")
                    return
            found = [
                t
                for t in trades
                if t.outgoing
                and t.offer.offerer == self.utility.address
                and t.offer.delivery_start == o.delivery_start
            ]
            if not found:
                continue
            offers.update_from_trade(o, found[-1])
            if o.settled:
                self._event(self._offer_text(o))

    def _offer_text(self, o: Offer) -> str:
        assert self.result is not None
        head = (
            f"offer to {self.result.neighbour} interval {o.target_interval} "
            f"({o.quantity_wh} Wh at {o.price}): {o.status}"
        )
        if o.status == "filled":
            return (
                f"{head} {o.filled_wh} Wh at {o.fill_price}/kWh for "
                f"{o.amount}{self.result.neighbour_denom}"
            )
        return f"{head}: {o.error}" if o.error else head

    def _submit_readings(self, slot: _Slot) -> None:
        n, k = slot.interval, slot.slot
        assert self.result is not None
        for h in self.households:
            energy = profiles.meter_reading(h, k, self.profile)
            if energy is None:
                slot.reading_state[h.name] = "skipped"
                continue
            msg = txmod.msg_meter_reading(
                h.meter_key,
                chain_id=self.result.chain_id,
                participant=h.address,
                interval=n,
                exported_wh=energy.exported_wh,
                imported_wh=energy.imported_wh,
                sequence=n,
            )
            sent = self.tx.send(
                self.wallets[h.name], [msg], what="reading", household=h.name, interval=n
            )
            slot.reading_state[h.name] = "ok" if sent.status != "refused" else "failed"
            if sent.status == "refused":
                self._event(sent.describe())
        skipped = [name for name, state in slot.reading_state.items() if state == "skipped"]
        if skipped:
            self._event(f"interval {n}: meters of {', '.join(skipped)} miss the window")
        slot.read = True

    def _check_settled(self, slot: _Slot, t: int) -> None:
        answer = self.chain.settlement(slot.interval)
        if answer.settled and answer.settlement.settled_height:
            row = self._collect(slot, answer.settlement)
            slot.done = True
            assert self.result is not None
            self.result.rows.append(row)
            self.reporter.interval(row)
            return
        # The first block at or after the window's end settles every interval that has
        # contracts or readings; the chain shows one that had neither as settled with an
        # empty record (no settlement height). Older chains showed it as not settled.
        if slot.waited_since is None:
            slot.waited_since = t
        if answer.settled or t - slot.waited_since >= 3:
            slot.done = True
            self._event(f"interval {slot.interval}: nothing to settle (no contracts, no readings)")

    # -- reading the results -----------------------------------------------------------------

    def _collect(self, slot: _Slot, settlement: Any) -> IntervalRow:
        n, k = slot.interval, slot.slot
        market = self.chain.interval(n)
        kp = settlement.kpis
        hour = self.profile.start_hour + k * self.profile.slot_hours
        row = IntervalRow(
            interval=n,
            slot=k,
            clock=f"{int(hour) % 24:02d}:{round(hour % 1 * 60) % 60:02d}",
            clearing_price=market.clearing_price if market.HasField("clearing_price") else None,
            orders=market.order_count,
            trades=market.trade_count,
            matched_wh=market.matched_wh,
            grid_fill_import_wh=market.grid_import_wh,
            grid_fill_export_wh=market.grid_export_wh,
            generation_wh=kp.generation_wh,
            consumption_wh=kp.consumption_wh,
            pcc_import_wh=kp.pcc_import_wh,
            pcc_export_wh=kp.pcc_export_wh,
            self_sufficiency=kp.self_sufficiency,
            self_consumption=kp.self_consumption,
            savings=int(kp.savings or "0"),
            penalties=int(settlement.penalties or "0"),
            imbalance_cost=int(settlement.imbalance_cost or "0"),
            imbalance_revenue=int(settlement.imbalance_revenue or "0"),
            readings=settlement.readings,
            missing_readings=settlement.missing_readings,
            refused=[
                self._label(name)
                for name, text in slot.order_text.items()
                if text.startswith("refused")
            ],
        )
        if slot.offer is not None:
            self._refresh_offers()
            row.offer = slot.offer
        settled = {
            p.participant: p
            for p in pages(
                lambda key: self.chain.settlements(interval=n, page_key=key), "settlements"
            )
        }
        for h in self.households:
            f = profiles.forecast(h, k, self.profile)
            a = profiles.actual(h, k, self.profile)
            hr = HouseholdRow(
                interval=n,
                household=h.name,
                role=h.role,
                bus=h.bus,
                misbehaving=h.misbehaving,
                order=slot.order_text.get(h.name, "none"),
                forecast_pv_wh=f.pv_wh,
                forecast_load_wh=f.load_wh,
                actual_pv_wh=a.pv_wh,
                actual_load_wh=a.load_wh,
                reading=slot.reading_state.get(h.name, "none"),
            )
            p = settled.get(h.address)
            if p is not None:
                hr.contracted_sell_wh = p.contracted_sell_wh
                hr.contracted_buy_wh = p.contracted_buy_wh
                hr.exported_wh = p.exported_wh
                hr.imported_wh = p.imported_wh
                hr.deviation_wh = p.deviation_wh
                hr.imbalance_cost = int(p.imbalance_cost or "0")
                hr.imbalance_revenue = int(p.imbalance_revenue or "0")
                hr.penalty = int(p.penalty or "0")
                hr.net = int(p.net or "0")
                hr.savings = int(p.savings or "0")
                hr.accuracy = p.accuracy
                hr.score_before = p.score_before
                hr.score_after = p.score_after
            score = self.chain.score(h.address).score
            if score.suspensions > self._suspensions.get(h.name, 0):
                hr.suspended_until = score.suspended_until
            self._suspensions[h.name] = score.suspensions
            row.households.append(hr)
            if hr.score_after != hr.score_before or hr.suspended_until:
                row.movers.append(
                    Mover(h.label, hr.score_before, hr.score_after, hr.suspended_until)
                )
        row.movers.sort(key=lambda m: (-abs(m.delta), m.household))
        for m in row.movers:
            if m.suspended_until:
                self._event(
                    f"interval {n}: {m.household} falls to {m.after} ppm and is suspended "
                    f"until interval {m.suspended_until}"
                )
        return row

    def _label(self, name: str) -> str:
        return next((h.label for h in self.households if h.name == name), name)

    def _finish(self) -> None:
        """Totals since genesis, the ranking and the misbehaving households' histories."""
        result = self.result
        assert result is not None
        try:
            totals = self.chain.kpis()
            result.totals = json_format.MessageToDict(
                totals, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
            )
            ranking = []
            for rank, score in enumerate(
                pages(lambda key: self.chain.ranking(page_key=key), "scores"), start=1
            ):
                h = self.by_address.get(score.participant)
                if h is not None:
                    ranking.append(
                        {
                            "rank": rank,
                            "household": h.name,
                            "label": h.label,
                            "role": h.role,
                            "bus": h.bus,
                            "address": h.address,
                            "score": score.score,
                            "intervals": score.intervals,
                            "suspended_until": score.suspended_until,
                            "suspensions": score.suspensions,
                            "rebates": int(score.rebates or "0"),
                        }
                    )
            result.ranking = ranking
            for h in self.households:
                if not h.misbehaving:
                    continue
                entries = self._history(h.address)
                result.histories[h.name] = [
                    json_format.MessageToDict(
                        e,
                        preserving_proto_field_name=True,
                        always_print_fields_with_no_presence=True,
                    )
                    for e in reversed(entries)  # oldest first
                ]
        except (ChainError, RPCError) as exc:
            self._event(f"could not read the totals: {exc}")

    def _history(self, address: str) -> list[Any]:
        """A participant's reputation history, newest first."""

        def fetch(key: bytes) -> Any:
            return self.chain.reputation_history(address, page_key=key)

        return list(pages(fetch, "entries"))

    def _progress(self, t: int) -> None:
        assert self.result is not None
        parts = []
        key = []
        for s in self.slots:
            if s.done:
                continue
            phase, left = s.phase(t)
            key.append(f"{s.interval}:{phase}")
            parts.append(f"#{s.interval} {phase}" + (f" {left}s" if left else ""))
        pending = len(self.tx.pending)
        head = f"[{self.result.settled}/{self.config.intervals} settled]"
        text = " ".join([head, " | ".join(parts) or "waiting for the next interval"])
        if pending:
            text += f" ({pending} tx pending)"
        self.reporter.progress(",".join(key), text)
