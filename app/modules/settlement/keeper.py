"""Settlement keeper: meter readings, and each interval settled against them.

DESIGN.md section 2, steps 5 to 7. After interval n ends, each registered
meter may submit one signed reading for it during the settlement window
``[end(n), end(n) + window_seconds)``. The first block at or after the
window's end settles n in FinalizeBlock (after the market's gate closures),
participant by participant in address order.

What clearing left in escrow. The market pays fees, taxes, the mcafee
surplus and grid-fill imports at gate closure and refunds what buyers'
escrow did not need; a seller's money (its trades, its grid fill) and the
part of its collateral for what it sold stay in escrow as ``Order.held``
until settlement releases them.

Settlement of participant p in interval n (energy in Wh):
    S  = contracted sales   (local trades + grid fill)    S_local = local trades only
    B  = contracted purchases (local trades + grid fill)
    X, M = metered export and import, summed over p's meters and referred to
           the coupling point: X * f rounded down, M / f rounded up, where f is
           the product of (1 - loss_ppm / 10^6) over the lines from p's bus to
           the root
    D  = (X - M) - (S - B)                                the deviation
A meter without a reading counts as zero delivery: it exports nothing, and
if p has no reading at all it is taken to have imported what it bought.
Then, with p's contracts paid exactly as cleared:
    D > 0: the main grid buys D at the feed-in tariff   (over-delivery, under-consumption)
    D < 0: p buys |D| from the main grid at retail      (shortfall, over-consumption)
           and pays shortfall_penalty per kWh of min(|D|, S_local) into the penalty
           pool: a seller that failed its local buyers pays retail less its trade price
           for their missing energy, plus the penalty
    each meter without a reading (when p had contracts): missing_reading_penalty.
Money: p's held money (from escrow) and any feed-in revenue are netted with
its charges; what they do not cover is taken from p's balance; what that
cannot cover is ``unrecovered`` (the main grid bears it, the pool goes
without). Amounts are floor(Wh * price / 1000), as at clearing.

Storage (storage.keeper). Before the money, storage.keeper.settle settles
n's deposits into and redemptions from community storage on what ``measure``
found of each participant (X, M as above, metered, never imputed; S, B from
its orders): a deposit delivers at most the depositor's surplus (X - M) -
(S - B) and the storage's import beyond its own purchases, a redemption at
most the storage's export beyond its own sales. Each delivery (depositor ->
storage, storage -> holder) is then added to the seller's S and the buyer's
B as a contract at no price: not S_local (no shortfall penalty), no money,
so the energy is not an imbalance. A party seen only through a delivery gets
a position (and a settlement row) like any other.

Reputation then moves for each p that had contracts (see reputation.keeper),
by the accuracy of D against S + B; a missing reading scores accuracy 0.
KPIs count metered energy only (not the import imputed to a missing reading).

External orders (inter-microgrid offers, market.keeper) are not participants:
their owners are module accounts with no meters, readings, penalties or
reputation. What they filled is the connection point's scheduled exchange
with the neighbouring microgrid: an external sell filled is ``inter_import_wh``
(energy that came in), an external buy filled is ``inter_export_wh``. The
KPIs' main-grid flow at the coupling point is what the participants' metered
imbalance leaves after that exchange: pcc_import = max(0, consumption -
generation - inter_import + inter_export), pcc_export the opposite;
self-sufficiency and self-consumption stay about local generation.

Keys (prefix 0x05):
    0x05 0x00                          -> Params
    0x05 0x01                          -> Totals (cumulative KPIs)
    0x05 0x10 | interval(8) | meter(32) -> Reading
    0x05 0x11 | meter(32)              -> the meter's last sequence, decimal
    0x05 0x12 | interval(8)            -> 0x01  intervals to settle (contracts, readings,
                                          storage deposits or redemptions: note_due)
    0x05 0x20 | interval(8)            -> IntervalSettlement
    0x05 0x21 | interval(8) | addr(20) -> ParticipantSettlement
    0x05 0x22 | addr(20) | ~interval(8) -> 0x01  a participant's settlements, newest first
    0x05 0x30 | addr(20) | interval(8) -> "source/id"  the commitment holding p's flexibility
                                          (delivery.claim: demand response, flexibility)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from fractions import Fraction

from app import crypto
from app.coins import Coin
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_SETTLEMENT
from app.modules.bank import keeper as bank
from app.modules.common import ParamsRecord, encode
from app.modules.market import keeper as market
from app.modules.registry import keeper as registry
from app.modules.reputation import keeper as reputation
from app.modules.settlement.reading import verify_reading
from app.modules.storage import keeper as storage
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2

ErrInvalidParams = register("settlement", 2, "invalid settlement params")
ErrInvalidReading = register("settlement", 3, "invalid meter reading")
ErrBadMeterSignature = register("settlement", 4, "bad meter signature")
ErrUnknownMeter = register("settlement", 5, "unknown meter")
ErrMeterRevoked = register("settlement", 6, "meter revoked")
ErrWrongParticipant = register("settlement", 7, "meter measures another participant")
ErrOutsideWindow = register("settlement", 8, "outside the settlement window")
ErrDuplicateReading = register("settlement", 9, "reading already submitted")
ErrMeterSequence = register("settlement", 10, "meter sequence not increasing")
ErrImplausibleReading = register("settlement", 11, "reading above what the network allows")
ErrWrongChain = register("settlement", 12, "reading signed for another chain")

PENALTY_POOL = bank.module_address("penalty_pool")
WH_PER_KWH = 1000
PPM = 1_000_000
U64_MAX = 2**64 - 1
MAX_READING_WH = 10**15
MAX_BASELINE_INTERVALS = 96

_PARAMS = PREFIX_SETTLEMENT + b"\x00"
_TOTALS = PREFIX_SETTLEMENT + b"\x01"
READING = PREFIX_SETTLEMENT + b"\x10"
_METER_SEQ = PREFIX_SETTLEMENT + b"\x11"
_TO_SETTLE = PREFIX_SETTLEMENT + b"\x12"
_INTERVAL = PREFIX_SETTLEMENT + b"\x20"
SETTLEMENT = PREFIX_SETTLEMENT + b"\x21"
BY_PARTICIPANT = PREFIX_SETTLEMENT + b"\x22"

u64 = market.u64


# ---------------------------------------------------------------------------
# Params


@dataclass(frozen=True, slots=True)
class SettlementParams:
    window_seconds: int
    shortfall_penalty: int
    missing_reading_penalty: int
    penalty_account: bytes
    max_reading_wh: int
    baseline_intervals: int
    baseline_stride: int


def parse_params(proto: settlement_pb2.Params) -> SettlementParams:
    if proto.window_seconds < 1:
        raise ErrInvalidParams("window_seconds: must be at least 1")
    if not 1 <= proto.max_reading_wh <= MAX_READING_WH:
        raise ErrInvalidParams(f"max_reading_wh: must be in 1..{MAX_READING_WH}")
    if not 1 <= proto.baseline_intervals <= MAX_BASELINE_INTERVALS:
        raise ErrInvalidParams(f"baseline_intervals: must be in 1..{MAX_BASELINE_INTERVALS}")
    if proto.baseline_stride < 1:
        raise ErrInvalidParams("baseline_stride: must be at least 1")
    try:
        account = crypto.decode_address(proto.penalty_account)
    except crypto.AddressError as exc:
        raise ErrInvalidParams(f"penalty_account: {exc}") from None
    return SettlementParams(
        window_seconds=proto.window_seconds,
        shortfall_penalty=proto.shortfall_penalty,
        missing_reading_penalty=proto.missing_reading_penalty,
        penalty_account=account,
        max_reading_wh=proto.max_reading_wh,
        baseline_intervals=proto.baseline_intervals,
        baseline_stride=proto.baseline_stride,
    )


PARAMS = ParamsRecord(_PARAMS, settlement_pb2.Params, parse_params)
get_params = PARAMS.get


def is_configured(kv: KV) -> bool:
    return PARAMS.is_set(kv)


# ---------------------------------------------------------------------------
# Times


def interval_end(kv: KV, n: int) -> int:
    """End of interval n in block time: from its market record if it has one."""
    record = market.get_interval(kv, n)
    return record.end_time


def window_end(kv: KV, n: int) -> int:
    return interval_end(kv, n) + get_params(kv).window_seconds


# ---------------------------------------------------------------------------
# Readings


def get_reading(kv: KV, n: int, meter: bytes) -> settlement_pb2.Reading | None:
    raw = kv.get(READING + u64(n) + meter)
    return settlement_pb2.Reading.FromString(raw) if raw is not None else None


def readings_of_interval(kv: KV, n: int) -> Iterable[settlement_pb2.Reading]:
    for _, raw in kv.iterate(READING + u64(n)):
        yield settlement_pb2.Reading.FromString(raw)


def _line_capacity(kv: KV, bus_id: str) -> int | None:
    for bus in registry.get_network_proto(kv).buses:
        if bus.id == bus_id:
            return bus.capacity_wh if bus.HasField("capacity_wh") else None
    return None


def submit_reading(
    ctx: Context, submitter: bytes, msg: settlement_pb2.MsgMeterReading
) -> settlement_pb2.Reading:
    reading = settlement_pb2.MeterReading.FromString(msg.reading)  # checked in validate_basic
    if reading.chain_id != ctx.chain_id:
        raise ErrWrongChain(f"reading is for chain {reading.chain_id!r}, this is {ctx.chain_id!r}")
    meter = registry.get_meter(ctx.kv, reading.meter)
    if meter is None:
        raise ErrUnknownMeter(f"no meter {reading.meter.hex()} is registered")
    if not verify_reading(msg, reading.meter):
        raise ErrBadMeterSignature(f"the signature is not meter {reading.meter.hex()}'s")
    if meter.revoked:
        raise ErrMeterRevoked(
            f"meter {reading.meter.hex()} was revoked at height {meter.revoked_height}"
        )
    if meter.participant != reading.participant:
        raise ErrWrongParticipant(
            f"meter {reading.meter.hex()} measures {meter.participant}, not {reading.participant}"
        )
    n = reading.interval
    t = ctx.time_ns // market.NS_PER_S
    end = interval_end(ctx.kv, n)
    params = get_params(ctx.kv)
    if t < end:
        raise ErrOutsideWindow(f"interval {n} ends at {end}; block time is {t}")
    if t >= end + params.window_seconds:
        raise ErrOutsideWindow(
            f"readings for interval {n} closed at {end + params.window_seconds}; block time is {t}"
        )
    if get_reading(ctx.kv, n, reading.meter) is not None:
        raise ErrDuplicateReading(f"meter {reading.meter.hex()} already reported interval {n}")
    raw_seq = ctx.kv.get(_METER_SEQ + reading.meter)
    last = int(raw_seq) if raw_seq is not None else 0
    if reading.sequence <= last:
        raise ErrMeterSequence(
            f"meter {reading.meter.hex()} sequence {reading.sequence} is not above {last}"
        )
    participant = registry.get_participant(ctx.kv, crypto.decode_address(reading.participant))
    limit = params.max_reading_wh
    capacity = _line_capacity(ctx.kv, participant.bus) if participant is not None else None
    if capacity is not None:
        limit = min(limit, capacity)
    for name in ("exported_wh", "imported_wh"):
        value = getattr(reading, name)
        if value > limit:
            raise ErrImplausibleReading(
                f"{name} {value} Wh exceeds {limit} Wh, the most the meter's line can carry "
                "in an interval"
            )
    stored = settlement_pb2.Reading(
        meter=reading.meter,
        participant=reading.participant,
        interval=n,
        exported_wh=reading.exported_wh,
        imported_wh=reading.imported_wh,
        sequence=reading.sequence,
        height=ctx.height,
        submitter=crypto.encode_address(submitter),
    )
    ctx.kv.set(READING + u64(n) + reading.meter, encode(stored))
    ctx.kv.set(_METER_SEQ + reading.meter, str(reading.sequence).encode())
    ctx.kv.set(_TO_SETTLE + u64(n), b"\x01")
    ctx.emit(
        "settlement_reading",
        meter=reading.meter.hex(),
        participant=reading.participant,
        interval=n,
        exported_wh=reading.exported_wh,
        imported_wh=reading.imported_wh,
        sequence=reading.sequence,
    )
    return stored


# ---------------------------------------------------------------------------
# Settlement at the end of the window


def note_cleared(kv: CacheKV, intervals: Iterable[int]) -> None:
    """The market cleared these intervals with orders: they will need settling."""
    for n in intervals:
        note_due(kv, n)


def note_due(kv: CacheKV, n: int) -> None:
    """Interval n has something to settle (orders cleared, a reading, a storage
    deposit or redemption): its settlement window's end settles it."""
    kv.set(_TO_SETTLE + u64(n), b"\x01")


def end_block(ctx: Context) -> list[settlement_pb2.IntervalSettlement]:
    """Settle every interval whose settlement window has ended, oldest first;
    returns what was settled."""
    if not is_configured(ctx.kv):
        return []
    t = ctx.time_ns // market.NS_PER_S
    due = [int.from_bytes(k[len(_TO_SETTLE) :], "big") for k, _ in ctx.kv.iterate(_TO_SETTLE)]
    settled = []
    for n in due:
        if window_end(ctx.kv, n) > t:
            break
        ctx.kv.delete(_TO_SETTLE + u64(n))
        settled.append(settle_interval(ctx, n))
    return settled


@dataclass
class _Position:
    """One participant's contracts and meters in one interval."""

    address: bytes
    orders: list[market_pb2.Order] = field(default_factory=list)
    readings: list[settlement_pb2.Reading] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One participant's contracted and metered energy in one interval (Wh), and
    the money its orders hold; storage deliveries are added to S and B."""

    sold_wh: int  # S: local trades + grid fill (+ deliveries into or out of storage)
    local_sold_wh: int  # S_local: local trades only
    bought_wh: int  # B
    exported_wh: int  # X, referred to the coupling point
    imported_wh: int  # M, referred to the coupling point, metered (never imputed)
    received: int
    paid: int
    held: int
    readings: int


def loss_factors(network: registry_pb2.Network) -> dict[str, Fraction]:
    """Per bus, the share of energy injected there that reaches the root bus.

    The network is a validated tree (registry.set_network), so walking up
    from any bus ends at the root.
    """
    by_id = {bus.id: bus for bus in network.buses}
    factors: dict[str, Fraction] = {}
    for bus_id in by_id:
        factor, bus = Fraction(1), by_id[bus_id]
        while bus.parent:
            factor *= Fraction(PPM - bus.loss_ppm, PPM)
            bus = by_id[bus.parent]
        factors[bus_id] = factor
    return factors


def _amount(wh: int, price: int) -> int:
    return wh * price // WH_PER_KWH


def measure(pos: _Position, f: Fraction) -> Measurement:
    """What p contracted and what its meters show in interval n, before any imbalance.

    Pure: from p's cleared orders and readings and its bus's loss factor f
    (metered energy referred to the coupling point: X * f rounded down,
    M / f rounded up). M is the metered import, never the imputed one.
    """
    sells = [o for o in pos.orders if o.side == market.SELL]
    buys = [o for o in pos.orders if o.side == market.BUY]
    x_raw = sum(r.exported_wh for r in pos.readings)
    m_raw = sum(r.imported_wh for r in pos.readings)
    return Measurement(
        sold_wh=sum(o.matched_wh + o.grid_wh for o in sells),
        local_sold_wh=sum(o.matched_wh for o in sells),
        bought_wh=sum(o.matched_wh + o.grid_wh for o in buys),
        exported_wh=x_raw * f.numerator // f.denominator,
        imported_wh=-(-m_raw * f.denominator // f.numerator),
        received=sum(int(o.received or "0") for o in sells),
        paid=sum(int(o.paid or "0") for o in buys),
        held=sum(int(o.held or "0") for o in pos.orders),
        readings=len(pos.readings),
    )


def _loss_factor(kv: KV, address: bytes, losses: dict[str, Fraction]) -> Fraction:
    participant = registry.get_participant(kv, address)
    return losses.get(participant.bus, Fraction(1)) if participant is not None else Fraction(1)


def _add_storage_deliveries(
    ctx: Context,
    n: int,
    positions: dict[bytes, _Position],
    measured: dict[bytes, Measurement],
    losses: dict[str, Fraction],
) -> None:
    """Settle n's storage deposits and redemptions (storage.keeper.settle) on what was
    measured, and add each delivery to the seller's S and the buyer's B: contracts
    at no price, so neither an imbalance nor money (S_local is untouched: no
    shortfall penalty). A party seen only through a delivery gets a position."""
    views = {
        a: storage.Measured(m.exported_wh, m.imported_wh, m.sold_wh, m.bought_wh, m.readings > 0)
        for a, m in measured.items()
    }
    for d in storage.settle(ctx, n, views):
        for who in (d.seller, d.buyer):
            if who not in positions:
                positions[who] = _Position(who)
                measured[who] = measure(positions[who], _loss_factor(ctx.kv, who, losses))
        seller, buyer = measured[d.seller], measured[d.buyer]
        measured[d.seller] = replace(seller, sold_wh=seller.sold_wh + d.wh)
        measured[d.buyer] = replace(buyer, bought_wh=buyer.bought_wh + d.wh)


def settle_interval(ctx: Context, n: int) -> settlement_pb2.IntervalSettlement:
    kv = ctx.kv
    params = get_params(kv)
    record = market.get_interval(kv, n)
    retail, fit = record.retail_tariff, record.feed_in_tariff
    denom = bank.get_params(kv).denom
    losses = loss_factors(registry.get_network_proto(kv))
    positions: dict[bytes, _Position] = {}
    inter_import = inter_export = 0
    for o in market.orders_of_interval(kv, n):
        if o.external:  # the connection point's scheduled exchange, not a participant
            if o.side == market.SELL:
                inter_import += o.matched_wh
            else:
                inter_export += o.matched_wh
            continue
        if o.matched_wh or o.grid_wh or int(o.held or "0"):
            owner = crypto.decode_address(o.owner)
            positions.setdefault(owner, _Position(owner)).orders.append(o)
    for r in readings_of_interval(kv, n):
        owner = crypto.decode_address(r.participant)
        positions.setdefault(owner, _Position(owner)).readings.append(r)
    measured = {a: measure(p, _loss_factor(kv, a, losses)) for a, p in positions.items()}
    _add_storage_deliveries(ctx, n, positions, measured, losses)
    t = ctx.time_ns // market.NS_PER_S
    state = market.get_state(kv)
    mparams, _ = market.get_params(kv)
    now_interval = market.current_interval(state, mparams, t)
    out = settlement_pb2.IntervalSettlement(
        interval=n,
        settled_height=ctx.height,
        settled_time=t,
        participants=len(positions),
        inter_import_wh=inter_import,
        inter_export_wh=inter_export,
    )
    totals = {"cost": 0, "revenue": 0, "penalties": 0, "unrecovered": 0, "savings": 0}
    generation = consumption = 0
    for address in sorted(positions):
        row, metered_import = _settle_participant(
            ctx, params, positions[address], measured[address], n, retail, fit, denom, now_interval
        )
        out.readings += len(positions[address].readings)
        out.missing_readings += row.missing_readings
        out.imbalance_bought_wh += row.imbalance_bought_wh
        out.imbalance_sold_wh += row.imbalance_sold_wh
        totals["cost"] += int(row.imbalance_cost)
        totals["revenue"] += int(row.imbalance_revenue)
        totals["penalties"] += int(row.penalty)
        totals["unrecovered"] += int(row.unrecovered)
        totals["savings"] += int(row.savings)
        generation += row.exported_wh
        consumption += metered_import
    for o in market.orders_of_interval(kv, n):
        if int(o.held or "0"):
            o.held = "0"
            market.set_order(kv, o)
    out.imbalance_cost = str(totals["cost"])
    out.imbalance_revenue = str(totals["revenue"])
    out.penalties = str(totals["penalties"])
    out.unrecovered = str(totals["unrecovered"])
    out.rebates = str(_pay_rebates(ctx, params, denom, now_interval))
    out.kpis.CopyFrom(
        _kpis(
            generation,
            consumption,
            record,
            retail,
            fit,
            totals["savings"],
            inter_import - inter_export,
        )
    )
    kv.set(_INTERVAL + u64(n), encode(out))
    _add_totals(kv, n, out, totals["penalties"])
    k = out.kpis
    ctx.emit(
        "settlement_interval",
        interval=n,
        participants=out.participants,
        readings=out.readings,
        missing_readings=out.missing_readings,
        imbalance_cost=out.imbalance_cost,
        imbalance_revenue=out.imbalance_revenue,
        penalties=out.penalties,
        unrecovered=out.unrecovered,
        rebates=out.rebates,
        self_sufficiency=k.self_sufficiency,
        self_consumption=k.self_consumption,
        local_traded_wh=k.local_traded_wh,
        pcc_import_wh=k.pcc_import_wh,
        pcc_export_wh=k.pcc_export_wh,
        inter_import_wh=inter_import,
        inter_export_wh=inter_export,
        imbalance_bought_wh=out.imbalance_bought_wh,
        imbalance_sold_wh=out.imbalance_sold_wh,
        savings=k.savings,
    )
    return out


def _settle_participant(
    ctx: Context,
    params: SettlementParams,
    pos: _Position,
    meas: Measurement,
    n: int,
    retail: int,
    fit: int,
    denom: str,
    now_interval: int,
) -> tuple[settlement_pb2.ParticipantSettlement, int]:
    """Settle one participant; returns its record and its metered (not imputed) import."""
    kv = ctx.kv
    owner = crypto.encode_address(pos.address)
    S, S_local, B = meas.sold_wh, meas.local_sold_wh, meas.bought_wh
    received, paid, held = meas.received, meas.paid, meas.held
    contracted = S + B
    # Meters: every meter that reported, and every live meter of the participant.
    reported = {r.meter for r in pos.readings}
    live = {m.pub_key for m in registry.meters_of(kv, pos.address) if not m.revoked}
    meters = len(reported | live)
    missing = len(live - reported) if contracted else 0
    X, M = meas.exported_wh, meas.imported_wh
    metered_import = M
    if not pos.readings and contracted:
        M = B  # no reading at all: zero delivery, consumption as bought
    D = (X - M) - (S - B)
    bought = sold = shortfall = 0
    if D > 0:
        sold = D
    else:
        bought = -D
        shortfall = min(bought, S_local)
    cost = _amount(bought, retail)
    revenue = _amount(sold, fit)
    penalty = (
        _amount(shortfall, params.shortfall_penalty) + missing * params.missing_reading_penalty
    )
    # Money: held money and feed-in revenue first, then the balance, then unrecovered.
    if revenue:
        bank.send(ctx, market.MAIN_GRID, market.ESCROW, [Coin(denom, revenue)])
    credit = held + revenue
    charges = cost + penalty
    from_credit = min(credit, charges)
    from_balance = min(max(0, bank.get_balance(kv, pos.address, denom)), charges - from_credit)
    if from_balance:
        bank.send(ctx, pos.address, market.ESCROW, [Coin(denom, from_balance)])
    collected = from_credit + from_balance
    cost_paid = min(cost, collected)
    penalty_paid = collected - cost_paid
    for to, amount in (
        (pos.address, credit - from_credit),
        (market.MAIN_GRID, cost_paid),
        (params.penalty_account, penalty_paid),
    ):
        if amount:
            bank.send(ctx, market.ESCROW, to, [Coin(denom, amount)])
    collateral = held - received
    net = received - paid + revenue - collected
    baseline = _amount(X, fit) - _amount(M, retail)
    row = settlement_pb2.ParticipantSettlement(
        interval=n,
        participant=owner,
        contracted_sell_wh=S,
        contracted_buy_wh=B,
        local_sell_wh=S_local,
        exported_wh=X,
        imported_wh=M,
        meters=meters,
        missing_readings=missing,
        deviation_wh=D,
        contract_paid=str(paid),
        contract_received=str(received),
        imbalance_bought_wh=bought,
        imbalance_cost=str(cost),
        imbalance_sold_wh=sold,
        imbalance_revenue=str(revenue),
        shortfall_wh=shortfall,
        penalty=str(penalty),
        collateral_released=str(collateral),
        unrecovered=str(charges - collected),
        net=str(net),
        savings=str(net - baseline),
    )
    score = reputation.get_score(kv, pos.address).score if reputation.is_configured(kv) else 0
    row.score_before = row.score_after = score
    if contracted and reputation.is_configured(kv):
        # A missing reading earns no accuracy: not reporting must never pay.
        judged = contracted if missing else D
        row.accuracy, row.score_before, row.score_after = reputation.record(
            ctx, pos.address, n, contracted, judged, now_interval
        )
    kv.set(SETTLEMENT + u64(n) + pos.address, encode(row))
    kv.set(BY_PARTICIPANT + pos.address + (U64_MAX - n).to_bytes(8, "big"), b"\x01")
    ctx.emit(
        "settlement_participant",
        interval=n,
        participant=owner,
        contracted_sell_wh=S,
        contracted_buy_wh=B,
        exported_wh=X,
        imported_wh=M,
        deviation_wh=D,
        imbalance_cost=cost,
        imbalance_revenue=revenue,
        penalty=penalty,
        unrecovered=row.unrecovered,
        net=net,
        score=row.score_after,
    )
    return row, metered_import


def _pay_rebates(ctx: Context, params: SettlementParams, denom: str, now_interval: int) -> int:
    """Pay rebate_rate of the penalty pool to the best-ranked participants not
    suspended, in equal shares."""
    if not reputation.is_configured(ctx.kv):
        return 0
    rp = reputation.get_params(ctx.kv)
    if not rp.rebate_rate:
        return 0
    pool = max(0, bank.get_balance(ctx.kv, params.penalty_account, denom))
    top = reputation.rebate_recipients(ctx.kv, rp.rebate_top, now_interval)
    amount = pool * rp.rebate_rate.numerator // rp.rebate_rate.denominator
    if not top or amount < len(top):
        return 0
    share = amount // len(top)
    for address in top:
        bank.send(ctx, params.penalty_account, address, [Coin(denom, share)])
        reputation.add_rebate(ctx.kv, address, share)
        ctx.emit("reputation_rebate", participant=crypto.encode_address(address), amount=share)
    return share * len(top)


def _ratio(part: int, whole: int) -> int:
    return part * PPM // whole if whole else 0


def _kpis(
    generation: int,
    consumption: int,
    record: market_pb2.IntervalState,
    retail: int,
    fit: int,
    savings: int,
    inter_net_import: int = 0,
) -> settlement_pb2.Kpis:
    """The interval's KPIs. ``inter_net_import`` is what neighbouring microgrids
    delivered at the connection point net of what they took (signed): it covers
    part of the local deficit, or absorbs part of the local surplus, so the main
    grid's flow at the coupling point is the residual imbalance after it."""
    used = min(generation, consumption)
    residual = consumption - generation - inter_net_import  # > 0: from the main grid
    traded = record.matched_wh
    local_amount = int(record.buyers_pay or "0")
    return settlement_pb2.Kpis(
        generation_wh=generation,
        consumption_wh=consumption,
        locally_used_wh=used,
        self_sufficiency=_ratio(used, consumption),
        self_consumption=_ratio(used, generation),
        local_traded_wh=traded,
        local_amount=str(local_amount),
        average_local_price=local_amount * WH_PER_KWH // traded if traded else 0,
        retail_tariff=retail,
        feed_in_tariff=fit,
        savings=str(savings),
        pcc_import_wh=max(0, residual),
        pcc_export_wh=max(0, -residual),
    )


def get_totals(kv: KV) -> settlement_pb2.Totals:
    raw = kv.get(_TOTALS)
    if raw is not None:
        return settlement_pb2.Totals.FromString(raw)
    return settlement_pb2.Totals(local_amount="0", savings="0", penalties="0")


def _add_totals(
    kv: CacheKV, n: int, out: settlement_pb2.IntervalSettlement, penalties: int
) -> None:
    k = out.kpis
    t = get_totals(kv)
    t.inter_import_wh += out.inter_import_wh
    t.inter_export_wh += out.inter_export_wh
    t.intervals += 1
    t.generation_wh += k.generation_wh
    t.consumption_wh += k.consumption_wh
    t.locally_used_wh += k.locally_used_wh
    t.local_traded_wh += k.local_traded_wh
    t.local_amount = str(int(t.local_amount) + int(k.local_amount))
    t.savings = str(int(t.savings) + int(k.savings))
    t.penalties = str(int(t.penalties) + penalties)
    t.pcc_import_wh += k.pcc_import_wh
    t.pcc_export_wh += k.pcc_export_wh
    if k.pcc_import_wh > t.peak_import_wh:
        t.peak_import_wh, t.peak_import_interval = k.pcc_import_wh, n
    if k.pcc_export_wh > t.peak_export_wh:
        t.peak_export_wh, t.peak_export_interval = k.pcc_export_wh, n
    t.self_sufficiency = _ratio(t.locally_used_wh, t.consumption_wh)
    t.self_consumption = _ratio(t.locally_used_wh, t.generation_wh)
    traded = t.local_traded_wh
    t.average_local_price = int(t.local_amount) * WH_PER_KWH // traded if traded else 0
    kv.set(_TOTALS, encode(t))


def get_interval_settlement(kv: KV, n: int) -> settlement_pb2.IntervalSettlement | None:
    raw = kv.get(_INTERVAL + u64(n))
    return settlement_pb2.IntervalSettlement.FromString(raw) if raw is not None else None


def get_settlement(kv: KV, n: int, address: bytes) -> settlement_pb2.ParticipantSettlement | None:
    raw = kv.get(SETTLEMENT + u64(n) + address)
    return settlement_pb2.ParticipantSettlement.FromString(raw) if raw is not None else None
