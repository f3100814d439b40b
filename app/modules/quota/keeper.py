"""Quota keeper: EV-charging quotas under a transformer's capacity margin (issue 10, item 3).

The utility cell announces, for a bus and a delivery interval n, the
charging power the transformer can still carry (the margin, W). Stations
(approved participants on that bus or below it) ask for power, get an
initial quota, trade quota among themselves, and are penalised for metered
load above their final quota. Power in W, energy in Wh, prices per kW of
quota (for the interval) and penalty rates per kWh in the denom's smallest
unit, money as decimal strings, times in block-time seconds.

Phases of a margin (each step at the first block at or after its time, in
FinalizeBlock, after the market and settlement):
    COLLECTING  MsgAnnounceMargin .. allocation_time = gate_closure(n) - trading_seconds
                stations submit their demand (MsgSubmitDemand), one per station
    TRADING     allocation_time .. trading_close_time = gate_closure(n)
                quotas allocated; stations place quota orders (MsgPlaceQuotaOrder)
    CLEARED     trading_close_time .. settlement.window_end(n)
                quota orders cleared; waiting for n's meter readings
    SETTLED     load above each final quota penalised

Announcing (utility cell only): the bus exists; n's gate is still open
(market.check_interval_open); 1 <= margin_w <= MAX_POWER_W; trading_seconds
>= 1 with allocation_time still in the future (block time < allocation_time);
penalty_per_kwh <= MAX_PRICE; one margin per (bus, interval); the penalty
account defaults to the settlement params' penalty_account.

Demand: while COLLECTING and block time < allocation_time; the signer is an
approved participant, not suspended by reputation, whose bus is the margin's
bus or one below it (walking up the parents); 1 <= demand_w <= MAX_POWER_W.

Allocation (allocation.allocate, over the stations in address order):
beta = 1 and quota = demand when the total demand fits in the margin (or
is 0), else beta = margin_w / total (exact) and initial_quota_w =
floor(demand_w * margin_w / total), so the quotas never exceed the margin.
final_quota_w starts equal to the initial quota.

Quota orders: while TRADING and block time < trading_close_time, from a
station of the margin; side buy or sell; 1 <= quantity_w <= MAX_POWER_W;
price_per_kw <= MAX_PRICE. A sell locks quota: quantity_w <= initial_quota_w
- offered_w, then offered_w += quantity_w. A buy locks escrow =
floor(quantity_w * price_per_kw / 1000) from the station into ESCROW.

Clearing at trading_close_time: the market's own clearing.clear on the
quota orders in submission order, discriminatory with k = 1/2 (each pair at
floor((ask + bid) / 2) per kW; a station's buy never meets its own sell),
amount = floor(quantity_w * price / 1000), the same for buyer and seller, so
money is conserved trade by trade. The amount goes from ESCROW to the
seller; a buy's unused escrow returns to it (escrow >= what it pays: each
trade's price <= its bid and a sum of floors <= the floor of the sum).
Payouts are summed per account and paid in address order. final_quota_w =
initial + bought - sold, so the final quotas sum to the initial ones: never
above the margin (asserted). offered_w returns to 0 (no order is open).

Settlement once n's settlement window has ended (settlement.keeper.window_end
<= block time), per station in address order, with L = n's length in seconds:
    metered_wh  = sum of imported_wh of the readings for n of the station's meters
    load        = metered_wh, or floor(demand_w * L / 3600) when none of its
                  meters reported (missing_reading; metered_wh stays 0):
                  not reporting must never pay
    allowed_wh  = floor(final_quota_w * L / 3600)
    over        = max(0, load - allowed_wh)
    penalty     = floor(over * penalty_per_kwh / 1000)
The penalty is taken from the station's balance, as much as it holds, into
the margin's penalty account; what it cannot pay is recorded as unrecovered.
A margin's ``penalties`` is the sum charged, ``unrecovered`` the part not paid.

Invariant (check_invariants): ESCROW holds exactly the escrow of the buy
orders of margins not yet CLEARED.

Keys (prefix 0x0b):
    0x0b 0x00                              -> next margin id, decimal
    0x0b 0x01                              -> next quota order id, decimal
    0x0b 0x10 | margin(8)                  -> Margin
    0x0b 0x11 | interval(8) | margin(8)    -> 0x01  margins of an interval
    0x0b 0x12 | interval(8) | busref       -> margin id(8)  one margin per (bus, interval)
    0x0b 0x20 | margin(8) | station(20)    -> Station  (address order)
    0x0b 0x30 | order(8)                   -> QuotaOrder
    0x0b 0x31 | margin(8) | order(8)       -> 0x01  orders of a margin, in submission order
    0x0b 0x40 | margin(8) | index(4)       -> QuotaTrade  (matching order)
    0x0b 0x50 | allocation_time(8) | margin(8)    -> 0x01  to allocate
    0x0b 0x51 | trading_close_time(8) | margin(8) -> 0x01  to clear
    0x0b 0x52 | interval(8) | margin(8)           -> 0x01  to settle
where busref = len(bus id)(1) | bus id (UTF-8). Integers are big-endian, so
key order is numeric order; end_block reads the three to-do indexes from
their start and stops at the first entry not yet due.

Events: quota_margin, quota_demand, quota_allocate, quota_order, quota_trade,
quota_clear, quota_penalty (per station over its quota), quota_settle.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from app import crypto
from app.coins import Coin
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_QUOTA
from app.modules.bank import keeper as bank
from app.modules.common import due_entries, encode, take_counter
from app.modules.market import clearing
from app.modules.market import keeper as market
from app.modules.quota.allocation import allocate, format_beta
from app.modules.registry import keeper as registry
from app.modules.reputation import keeper as reputation
from app.modules.settlement import delivery
from app.modules.settlement import keeper as settlement
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.quota.v1 import quota_pb2
from app.pb.mgrid.registry.v1 import registry_pb2

log = logging.getLogger("mgrid.quota")

ErrMarginNotFound = register("quota", 2, "margin not found")
ErrInvalidMargin = register("quota", 3, "invalid margin")
ErrUnknownBus = register("quota", 4, "unknown bus")
ErrMarginExists = register("quota", 5, "margin already announced")
ErrAllocationPassed = register("quota", 6, "allocation time passed")
ErrWrongPhase = register("quota", 7, "margin not in the required phase")
ErrNotParticipant = register("quota", 8, "not a registered participant")
ErrNotApproved = register("quota", 9, "participant not approved")
ErrNotUnderBus = register("quota", 10, "station not under the margin's bus")
ErrDuplicateDemand = register("quota", 11, "demand already submitted")
ErrInvalidDemand = register("quota", 12, "invalid demand")
ErrNotStation = register("quota", 13, "not a station of this margin")
ErrInvalidSide = register("quota", 14, "invalid side")
ErrInvalidQuantity = register("quota", 15, "invalid quantity")
ErrPriceOutOfBounds = register("quota", 16, "price out of bounds")
ErrInsufficientQuota = register("quota", 17, "not enough free quota to sell")
ErrInsufficientEscrow = register("quota", 18, "insufficient funds for escrow")
ErrTradingClosed = register("quota", 19, "quota trading closed")

ESCROW = bank.module_address("quota")
MAX_POWER_W = 10**12  # margins, demands and order quantities: 1 TW is a typo, not a charger
MAX_PRICE = 10**9  # per kW of quota, or per kWh of penalty
MECHANISM = clearing.Mechanism("discriminatory", clearing.DEFAULT_K)  # k = 1/2
WH_PER_KWH = 1000
W_PER_KW = 1000
SECONDS_PER_HOUR = 3600

COLLECTING = quota_pb2.MARGIN_STATUS_COLLECTING
TRADING = quota_pb2.MARGIN_STATUS_TRADING
CLEARED = quota_pb2.MARGIN_STATUS_CLEARED
SETTLED = quota_pb2.MARGIN_STATUS_SETTLED
BUY, SELL = market_pb2.SIDE_BUY, market_pb2.SIDE_SELL
SIDE_NAMES = {BUY: clearing.BUY, SELL: clearing.SELL}

_NEXT_MARGIN = PREFIX_QUOTA + b"\x00"
_NEXT_ORDER = PREFIX_QUOTA + b"\x01"
MARGIN = PREFIX_QUOTA + b"\x10"
BY_INTERVAL = PREFIX_QUOTA + b"\x11"
_BY_BUS = PREFIX_QUOTA + b"\x12"
STATION = PREFIX_QUOTA + b"\x20"
ORDER = PREFIX_QUOTA + b"\x30"
_ORDERS_OF = PREFIX_QUOTA + b"\x31"
TRADE = PREFIX_QUOTA + b"\x40"
_TO_ALLOCATE = PREFIX_QUOTA + b"\x50"
_TO_CLEAR = PREFIX_QUOTA + b"\x51"
_TO_SETTLE = PREFIX_QUOTA + b"\x52"

u64 = market.u64


def _now(ctx: Context) -> int:
    return ctx.time_ns // market.NS_PER_S


def _busref(bus: str) -> bytes:
    raw = bus.encode()
    return bytes([len(raw)]) + raw


def status_name(status: int) -> str:
    return quota_pb2.MarginStatus.Name(status).removeprefix("MARGIN_STATUS_").lower()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Records


def get_margin(kv: KV, margin_id: int) -> quota_pb2.Margin | None:
    raw = kv.get(MARGIN + u64(margin_id))
    return quota_pb2.Margin.FromString(raw) if raw is not None else None


def _margin(kv: KV, margin_id: int) -> quota_pb2.Margin:
    margin = get_margin(kv, margin_id)
    if margin is None:
        raise ErrMarginNotFound(f"no margin {margin_id}")
    return margin


def _set_margin(kv: CacheKV, margin: quota_pb2.Margin) -> None:
    kv.set(MARGIN + u64(margin.id), encode(margin))


def get_station(kv: KV, margin_id: int, address: bytes) -> quota_pb2.Station | None:
    raw = kv.get(STATION + u64(margin_id) + address)
    return quota_pb2.Station.FromString(raw) if raw is not None else None


def _set_station(kv: CacheKV, station: quota_pb2.Station) -> None:
    address = crypto.decode_address(station.station)
    kv.set(STATION + u64(station.margin_id) + address, encode(station))


def stations_of(kv: KV, margin_id: int) -> list[quota_pb2.Station]:
    """A margin's stations in address order."""
    return [quota_pb2.Station.FromString(v) for _, v in kv.iterate(STATION + u64(margin_id))]


def get_order(kv: KV, order_id: int) -> quota_pb2.QuotaOrder | None:
    raw = kv.get(ORDER + u64(order_id))
    return quota_pb2.QuotaOrder.FromString(raw) if raw is not None else None


def _set_order(kv: CacheKV, order: quota_pb2.QuotaOrder) -> None:
    kv.set(ORDER + u64(order.id), encode(order))


def orders_of(kv: KV, margin_id: int) -> list[quota_pb2.QuotaOrder]:
    """A margin's quota orders in submission order."""
    prefix = _ORDERS_OF + u64(margin_id)
    out = []
    for key, _ in kv.iterate(prefix):
        order = get_order(kv, int.from_bytes(key[len(prefix) :], "big"))
        assert order is not None, "quota order index points at a missing order"
        out.append(order)
    return out


def trades_of(kv: KV, margin_id: int) -> list[quota_pb2.QuotaTrade]:
    """A margin's quota trades in matching order."""
    return [quota_pb2.QuotaTrade.FromString(v) for _, v in kv.iterate(TRADE + u64(margin_id))]


# ---------------------------------------------------------------------------
# Messages


def announce_margin(
    ctx: Context, signer: bytes, msg: quota_pb2.MsgAnnounceMargin
) -> quota_pb2.Margin:
    kv = ctx.kv
    registry.require_utility(kv, signer)
    params, _ = market.get_params(kv)
    state = market.get_state(kv)
    t = _now(ctx)
    if not registry.has_bus(kv, msg.bus):
        raise ErrUnknownBus(f"the network has no bus {msg.bus!r}")
    n = msg.interval
    market.check_interval_open(kv, n, t)
    gate = market.gate_closure(state, params, n)
    allocation_time = gate - msg.trading_seconds
    if allocation_time <= t:
        raise ErrAllocationPassed(
            f"allocation time {allocation_time} (interval {n}'s gate closure {gate} minus "
            f"{msg.trading_seconds} s of trading) is not after block time {t}"
        )
    taken = kv.get(_BY_BUS + u64(n) + _busref(msg.bus))
    if taken is not None:
        raise ErrMarginExists(
            f"bus {msg.bus} already has margin {int.from_bytes(taken, 'big')} for interval {n}"
        )
    account = (
        crypto.decode_address(msg.penalty_account)  # checked by validate_announce_margin
        if msg.penalty_account
        else settlement.get_params(kv).penalty_account
    )
    margin = quota_pb2.Margin(
        id=take_counter(kv, _NEXT_MARGIN),
        bus=msg.bus,
        interval=n,
        margin_w=msg.margin_w,
        penalty_per_kwh=msg.penalty_per_kwh,
        penalty_account=crypto.encode_address(account),
        announcer=crypto.encode_address(signer),
        created_height=ctx.height,
        allocation_time=allocation_time,
        trading_close_time=gate,
        status=COLLECTING,
        traded_amount="0",
        penalties="0",
        unrecovered="0",
    )
    _set_margin(kv, margin)
    kv.set(BY_INTERVAL + u64(n) + u64(margin.id), b"\x01")
    kv.set(_BY_BUS + u64(n) + _busref(msg.bus), u64(margin.id))
    kv.set(_TO_ALLOCATE + u64(allocation_time) + u64(margin.id), b"\x01")
    ctx.emit(
        "quota_margin",
        margin_id=margin.id,
        bus=margin.bus,
        interval=n,
        margin_w=margin.margin_w,
        allocation_time=allocation_time,
        trading_close_time=gate,
    )
    return margin


def submit_demand(ctx: Context, signer: bytes, msg: quota_pb2.MsgSubmitDemand) -> quota_pb2.Station:
    kv = ctx.kv
    margin = _margin(kv, msg.margin_id)
    t = _now(ctx)
    if margin.status != COLLECTING:
        raise ErrWrongPhase(
            f"margin {margin.id} is {status_name(margin.status)}: demands were taken until "
            f"its allocation time {margin.allocation_time}"
        )
    if t >= margin.allocation_time:
        raise ErrAllocationPassed(
            f"margin {margin.id} allocates at {margin.allocation_time}; block time is {t}"
        )
    address = crypto.encode_address(signer)
    participant = registry.get_participant(kv, signer)
    if participant is None:
        raise ErrNotParticipant(f"{address} has not applied to the registry")
    if participant.status != registry_pb2.STATUS_APPROVED:
        raise ErrNotApproved(
            f"{address} is {registry.status_name(participant.status)}; "
            "only approved participants ask for quota"
        )
    params, _ = market.get_params(kv)
    state = market.get_state(kv)
    reputation.require_not_suspended(kv, signer, market.current_interval(state, params, t))
    if not registry.bus_within(kv, participant.bus, margin.bus):
        raise ErrNotUnderBus(
            f"{address} is on bus {participant.bus}, not on {margin.bus} or a bus below it"
        )
    if get_station(kv, margin.id, signer) is not None:
        raise ErrDuplicateDemand(f"{address} already asked margin {margin.id} for quota")
    station = quota_pb2.Station(
        margin_id=margin.id,
        station=address,
        demand_w=msg.demand_w,
        paid="0",
        received="0",
        penalty="0",
        unrecovered="0",
    )
    margin.stations += 1
    _set_station(kv, station)
    _set_margin(kv, margin)
    ctx.emit("quota_demand", margin_id=margin.id, station=address, demand_w=msg.demand_w)
    return station


def place_quota_order(
    ctx: Context, signer: bytes, msg: quota_pb2.MsgPlaceQuotaOrder
) -> quota_pb2.QuotaOrder:
    kv = ctx.kv
    margin = _margin(kv, msg.margin_id)
    t = _now(ctx)
    if margin.status == COLLECTING:
        raise ErrWrongPhase(
            f"margin {margin.id} allocates quotas at {margin.allocation_time}; quota orders "
            f"are taken from then until {margin.trading_close_time} (block time {t})"
        )
    if margin.status != TRADING or t >= margin.trading_close_time:
        raise ErrTradingClosed(
            f"quota trading of margin {margin.id} closed at {margin.trading_close_time}; "
            f"block time is {t}"
        )
    address = crypto.encode_address(signer)
    station = get_station(kv, margin.id, signer)
    if station is None:
        raise ErrNotStation(f"{address} submitted no demand to margin {margin.id}")
    q, price = msg.quantity_w, msg.price_per_kw
    escrow = 0
    if msg.side == SELL:
        free = station.initial_quota_w - station.offered_w
        if q > free:
            raise ErrInsufficientQuota(
                f"{address} offers {q} W but has {free} W of quota free "
                f"(initial {station.initial_quota_w} W, {station.offered_w} W already offered)"
            )
        station.offered_w += q
    else:
        escrow = q * price // W_PER_KW
        if escrow:
            denom = bank.get_params(kv).denom
            try:
                bank.send(ctx, signer, ESCROW, [Coin(denom, escrow)])
            except bank.ErrInsufficientFunds as err:
                raise ErrInsufficientEscrow(
                    f"a buy of {q} W at {price} per kW locks {escrow}{denom}: {err.detail}"
                ) from None
    order = quota_pb2.QuotaOrder(
        id=take_counter(kv, _NEXT_ORDER),
        margin_id=margin.id,
        station=address,
        side=msg.side,
        quantity_w=q,
        price_per_kw=price,
        escrow=str(escrow),
        height=ctx.height,
        amount="0",
    )
    _set_order(kv, order)
    kv.set(_ORDERS_OF + u64(margin.id) + u64(order.id), b"\x01")
    if msg.side == SELL:
        _set_station(kv, station)
    ctx.emit(
        "quota_order",
        order_id=order.id,
        margin_id=margin.id,
        station=address,
        side=SIDE_NAMES[msg.side],
        quantity_w=q,
        price_per_kw=price,
        escrow=escrow,
    )
    return order


# ---------------------------------------------------------------------------
# The phases, in FinalizeBlock


def end_block(ctx: Context) -> None:
    """Allocate, clear and settle every margin whose time has come, in that order
    (a long gap between blocks may take one margin through all three)."""
    kv = ctx.kv
    if not market.is_configured(kv):
        return
    t = _now(ctx)
    for when, margin_id in due_entries(kv, _TO_ALLOCATE, lambda v: v <= t):
        kv.delete(_TO_ALLOCATE + u64(when) + u64(margin_id))
        _allocate(ctx, _margin(kv, margin_id))
    for when, margin_id in due_entries(kv, _TO_CLEAR, lambda v: v <= t):
        kv.delete(_TO_CLEAR + u64(when) + u64(margin_id))
        _clear(ctx, _margin(kv, margin_id))
    for n, margin_id in due_entries(kv, _TO_SETTLE, lambda v: settlement.window_end(kv, v) <= t):
        kv.delete(_TO_SETTLE + u64(n) + u64(margin_id))
        _settle(ctx, _margin(kv, margin_id))


def _allocate(ctx: Context, margin: quota_pb2.Margin) -> None:
    kv = ctx.kv
    stations = stations_of(kv, margin.id)
    beta, quotas = allocate(margin.margin_w, [(s.station, s.demand_w) for s in stations])
    for station, quota in zip(stations, quotas, strict=True):
        station.initial_quota_w = station.final_quota_w = quota
        _set_station(kv, station)
    margin.total_demand_w = sum(s.demand_w for s in stations)
    margin.beta = format_beta(beta)
    margin.allocated_w = sum(quotas)
    assert margin.allocated_w <= margin.margin_w, "quotas above the margin"
    margin.status = TRADING
    _set_margin(kv, margin)
    kv.set(_TO_CLEAR + u64(margin.trading_close_time) + u64(margin.id), b"\x01")
    ctx.emit(
        "quota_allocate",
        margin_id=margin.id,
        stations=len(stations),
        total_demand_w=margin.total_demand_w,
        beta=margin.beta,
        allocated_w=margin.allocated_w,
    )


def _match(orders: list[quota_pb2.QuotaOrder]) -> tuple[clearing.Trade, ...]:
    """The market's clearing function on the quota book, in submission order."""
    snapshot = [
        clearing.Order(
            id=str(o.id),
            side=SIDE_NAMES[o.side],
            quantity_wh=o.quantity_w,
            price=o.price_per_kw,
            owner=o.station,
        )
        for o in orders
    ]
    try:
        return clearing.clear(snapshot, MECHANISM).trades
    except clearing.ClearingInputError as exc:
        # Never expected: orders were checked on the way in. Trading nothing (every
        # escrow and offer returned) is the outcome that is always safe.
        log.error("quota orders not cleared: %s", exc)
        return ()


def _clear(ctx: Context, margin: quota_pb2.Margin) -> None:
    kv = ctx.kv
    orders = orders_of(kv, margin.id)
    stations = {s.station: s for s in stations_of(kv, margin.id)}
    by_id = {str(o.id): o for o in orders}
    pay: dict[bytes, int] = {}
    traded_w = traded_amount = 0
    rows = []
    for i, t in enumerate(_match(orders)):
        b, s = by_id[t.buy_id], by_id[t.sell_id]
        assert b.side == BUY and s.side == SELL and b.station != s.station, f"trade {i}"
        assert t.amount == t.seller_amount, "discriminatory: both sides face one price"
        q, amount = t.quantity_wh, t.amount
        b.matched_w += q
        s.matched_w += q
        b.amount = str(int(b.amount) + amount)
        s.amount = str(int(s.amount) + amount)
        buyer, seller = stations[b.station], stations[s.station]
        buyer.bought_w += q
        buyer.paid = str(int(buyer.paid) + amount)
        seller.sold_w += q
        seller.received = str(int(seller.received) + amount)
        to = crypto.decode_address(s.station)
        pay[to] = pay.get(to, 0) + amount
        traded_w += q
        traded_amount += amount
        rows.append(
            quota_pb2.QuotaTrade(
                margin_id=margin.id,
                buy_order=b.id,
                sell_order=s.id,
                buyer=b.station,
                seller=s.station,
                quantity_w=q,
                price_per_kw=t.price,
                amount=str(amount),
            )
        )
    for o in orders:
        assert o.matched_w <= o.quantity_w, f"order {o.id} over-matched"
        if o.side == BUY:
            refund = int(o.escrow) - int(o.amount)
            assert refund >= 0, f"order {o.id} pays more than its escrow"
            if refund:
                owner = crypto.decode_address(o.station)
                pay[owner] = pay.get(owner, 0) + refund
        _set_order(kv, o)
    for st in stations.values():
        st.final_quota_w = st.initial_quota_w + st.bought_w - st.sold_w
        st.offered_w = 0  # no order is open any more
        _set_station(kv, st)
    final = sum(st.final_quota_w for st in stations.values())
    assert final <= margin.margin_w, f"final quotas {final} W above the margin {margin.margin_w} W"
    denom = bank.get_params(kv).denom
    for address in sorted(pay):
        bank.send(ctx, ESCROW, address, [Coin(denom, pay[address])])
    for i, row in enumerate(rows):
        kv.set(TRADE + u64(margin.id) + i.to_bytes(4, "big"), encode(row))
        ctx.emit(
            "quota_trade",
            margin_id=margin.id,
            buyer=row.buyer,
            seller=row.seller,
            quantity_w=row.quantity_w,
            price_per_kw=row.price_per_kw,
            amount=row.amount,
        )
    margin.status = CLEARED
    margin.quota_orders = len(orders)
    margin.traded_w = traded_w
    margin.traded_amount = str(traded_amount)
    _set_margin(kv, margin)
    kv.set(_TO_SETTLE + u64(margin.interval) + u64(margin.id), b"\x01")
    ctx.emit("quota_clear", margin_id=margin.id, traded_w=traded_w, traded_amount=traded_amount)


def interval_seconds(kv: KV, n: int) -> int:
    """Interval n's length in seconds (its market record, as settlement's window uses)."""
    record = market.get_interval(kv, n)
    return record.end_time - record.start_time


def _settle(ctx: Context, margin: quota_pb2.Margin) -> None:
    kv = ctx.kv
    n = margin.interval
    length = interval_seconds(kv, n)
    denom = bank.get_params(kv).denom
    account = crypto.decode_address(margin.penalty_account)
    over_total = penalties = unrecovered = 0
    for st in stations_of(kv, margin.id):
        address = crypto.decode_address(st.station)
        found = delivery.metered(kv, address, n)  # imported is the station's load
        metered = found[0] if found is not None else None
        st.missing_reading = metered is None
        st.metered_wh = metered or 0
        load = st.demand_w * length // SECONDS_PER_HOUR if metered is None else metered
        st.allowed_wh = st.final_quota_w * length // SECONDS_PER_HOUR
        st.over_quota_wh = max(0, load - st.allowed_wh)
        penalty = st.over_quota_wh * margin.penalty_per_kwh // WH_PER_KWH
        paid = min(penalty, max(0, bank.get_balance(kv, address, denom)))
        if paid:
            bank.send(ctx, address, account, [Coin(denom, paid)])
        st.penalty = str(penalty)
        st.unrecovered = str(penalty - paid)
        st.settled = True
        _set_station(kv, st)
        over_total += st.over_quota_wh
        penalties += penalty
        unrecovered += penalty - paid
        if st.over_quota_wh:
            ctx.emit(
                "quota_penalty",
                margin_id=margin.id,
                station=st.station,
                over_quota_wh=st.over_quota_wh,
                penalty=penalty,
                unrecovered=penalty - paid,
                missing_reading=str(st.missing_reading).lower(),
            )
    margin.status = SETTLED
    margin.over_quota_wh = over_total
    margin.penalties = str(penalties)
    margin.unrecovered = str(unrecovered)
    margin.settled_height = ctx.height
    _set_margin(kv, margin)
    ctx.emit(
        "quota_settle",
        margin_id=margin.id,
        over_quota_wh=over_total,
        penalties=penalties,
        unrecovered=unrecovered,
    )


# ---------------------------------------------------------------------------
# Invariants


def margins(kv: KV) -> Iterator[quota_pb2.Margin]:
    for _, raw in kv.iterate(MARGIN):
        yield quota_pb2.Margin.FromString(raw)


def check_invariants(kv: KV) -> None:
    """ESCROW holds exactly the escrow of buy orders of margins not yet cleared, and no
    margin's quotas exceed it. Walks every margin and order: for tests and audits.

    Raises AssertionError.
    """
    if not market.is_configured(kv):
        return
    status: dict[int, int] = {}
    for m in margins(kv):
        status[m.id] = m.status
        if m.status != COLLECTING:
            quotas = stations_of(kv, m.id)
            field = "initial_quota_w" if m.status == TRADING else "final_quota_w"
            total = sum(getattr(s, field) for s in quotas)
            if total > m.margin_w:
                raise AssertionError(f"margin {m.id}: {field}s sum to {total} > {m.margin_w} W")
    locked = 0
    for _, raw in kv.iterate(ORDER):
        o = quota_pb2.QuotaOrder.FromString(raw)
        if o.side == BUY and status[o.margin_id] in (COLLECTING, TRADING):
            locked += int(o.escrow)
    denom = bank.get_params(kv).denom
    held = bank.get_balance(kv, ESCROW, denom)
    if held != locked:
        raise AssertionError(f"quota escrow holds {held}{denom}, open buy orders lock {locked}")
