"""Market keeper: orders and escrow, the interval schedule, and clearing at gate closure.

DESIGN.md section 2, steps 2, 3 and the main-grid level. The matching
itself is ``clearing.clear`` (pure); this module takes the order snapshot
out of state, runs it, checks what comes back, and moves the money.

Keys (prefix 0x04):
    0x04 0x00                      -> Params (current)
    0x04 0x01                      -> Bounds (the regulator's)
    0x04 0x02                      -> Params waiting for ModuleState.pending_from_interval
    0x04 0x03                      -> ModuleState
    0x04 0x10 | id(8)              -> Order
    0x04 0x11 | interval(8) | id(8) -> 0x01  orders of an interval, in submission order
    0x04 0x12 | owner(20) | id(8)  -> 0x01  orders of an account
    0x04 0x13 | owner(20)          -> open orders of the account, decimal
    0x04 0x14 | interval(8)        -> 0x01  intervals holding orders, not yet cleared
    0x04 0x20 | interval(8)        -> IntervalState (intervals that held orders)
    0x04 0x21 | interval(8) | i(4) -> Trade
    0x04 0x22 | addr(20) | interval(8) | i(4) -> 0x01  trades of an account (buyer or seller)
    0x04 0x30 | interval(8)        -> Forecast
Integers in keys are big-endian, so key order is numeric order.

Schedule. Interval n of length L starts at ``start(n)``; its gate closes
``gate_closure_seconds`` before that. An order for n is accepted while the
block time is before the gate closure. The first block at or after the gate
closure clears n in FinalizeBlock, after the block's transactions (so a
transaction and the gate closure in the same block see the same time).

Escrow. Everything an open order may cost is locked in the escrow module
account when it is placed, and what it did not cost returns when it ends
(cancelled or cleared):
- a buyer locks ``floor(q * u / 1000) + floor(q * fee_max / 1000) +
  floor(floor(q * u / 1000) * tax_max)``, where u is its limit price, or
  the regulator's retail ceiling for an order priced automatically or open
  to grid fill, and fee_max, tax_max are the regulator's ceilings. Every
  actual charge is at most the matching term (prices <= u, a sum of floors
  <= the floor of the sum), so no params change within the bounds can leave
  an order under-covered;
- a seller locks ``floor(q * retail_tariff * seller_collateral_rate * r / 1000)``
  as collateral, where r = 1 - collateral_discount * score scales the rate by
  the seller's reputation (reputation.keeper).
Invariant: the escrow account holds exactly the sum of open orders' escrow
and collateral.

Money at clearing, per local trade of q Wh (buyer pays, the rest receive):
    amount (clearing.trade_amount at the buyer's price)  -> from escrow
    seller_amount                                        -> held for the seller
    amount - seller_amount (mcafee)                      -> surplus_account
    seller_amount - amount (vcg)                         <- subsidy_account
    fee = floor(q * grid_fee_per_kwh / 1000)             -> fee_account
    tax = floor(amount * tax_rate)                       -> tax_account
Grid fill (no fee or tax: the tariffs are all-in):
    buyer  pays floor(q * retail_tariff / 1000)  -> main grid account
    seller gets floor(q * feed_in_tariff / 1000) <- main grid account (may go negative),
                                                    held for the seller
What buyers' escrow did not need returns at clearing, and so does the part
of a seller's collateral for what it did not sell. A seller's money and the
rest of its collateral stay in escrow (``Order.held``) until settlement
compares its delivery with its contracts (settlement.keeper). Invariant:
escrow holds the open orders' escrow and collateral plus every ``held``.

External orders (``Order.external``, ``place_external_order``): offers of a
neighbouring microgrid received over IBC (ibc/apps/energy), owned by the
receiving channel's energy escrow account and entered at the connection
point's bus. They clear like any other priced order without grid fill, but
post no collateral, are not scaled by reputation nor counted against the
per-account order limit, and an external seller's proceeds are paid to its
owner at clearing (its ``held`` stays "0"): the exchange at the connection
point is scheduled, not metered, so settlement has nothing to wait for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from app import crypto
from app.coins import Coin
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_MARKET
from app.modules.bank import keeper as bank
from app.modules.common import encode
from app.modules.market import clearing
from app.modules.market.params import (
    MarketBounds,
    MarketParams,
    format_fraction,
    params_to_proto,
    parse_bounds,
    parse_params,
)
from app.modules.registry import keeper as registry
from app.modules.reputation import keeper as reputation
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2

log = logging.getLogger("mgrid.market")

ErrMarketNotConfigured = register("market", 2, "market not configured")
ErrNotParticipant = register("market", 3, "not a registered participant")
ErrNotApproved = register("market", 4, "participant not approved")
ErrIntervalClosed = register("market", 5, "interval closed")
ErrTooFarAhead = register("market", 6, "interval too far ahead")
ErrInvalidQuantity = register("market", 7, "invalid quantity")
ErrPriceOutOfBounds = register("market", 8, "price out of bounds")
ErrInvalidSide = register("market", 9, "invalid side")
ErrTooManyOrders = register("market", 10, "too many open orders")
ErrOrderNotFound = register("market", 11, "order not found")
ErrNotOrderOwner = register("market", 12, "not the order's owner")
ErrOrderNotOpen = register("market", 13, "order not open")
ErrInsufficientEscrow = register("market", 16, "insufficient funds for escrow")
ErrInvalidForecast = register("market", 17, "invalid forecast")

ESCROW = bank.module_address("market_escrow")
MAIN_GRID = bank.MAIN_GRID
WH_PER_KWH = 1000
NS_PER_S = 1_000_000_000

_PARAMS = PREFIX_MARKET + b"\x00"
_BOUNDS = PREFIX_MARKET + b"\x01"
_PENDING = PREFIX_MARKET + b"\x02"
_STATE = PREFIX_MARKET + b"\x03"
_ORDER = PREFIX_MARKET + b"\x10"
BY_INTERVAL = PREFIX_MARKET + b"\x11"
BY_OWNER = PREFIX_MARKET + b"\x12"
_OPEN_COUNT = PREFIX_MARKET + b"\x13"
_TO_CLEAR = PREFIX_MARKET + b"\x14"
_INTERVAL = PREFIX_MARKET + b"\x20"
TRADE = PREFIX_MARKET + b"\x21"
TRADE_BY_ACCOUNT = PREFIX_MARKET + b"\x22"
_FORECAST = PREFIX_MARKET + b"\x30"

BUY, SELL = market_pb2.SIDE_BUY, market_pb2.SIDE_SELL
SIDE_NAMES = {BUY: clearing.BUY, SELL: clearing.SELL}
OPEN = market_pb2.ORDER_STATUS_OPEN


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


# ---------------------------------------------------------------------------
# Params, bounds and module state


def is_configured(kv: KV) -> bool:
    return kv.get(_STATE) is not None


def get_state(kv: KV) -> market_pb2.ModuleState:
    raw = kv.get(_STATE)
    if raw is None:
        raise ErrMarketNotConfigured("genesis has no market section")
    return market_pb2.ModuleState.FromString(raw)


def set_state(kv: CacheKV, state: market_pb2.ModuleState) -> None:
    kv.set(_STATE, encode(state))


def get_bounds_proto(kv: KV) -> market_pb2.Bounds:
    return market_pb2.Bounds.FromString(kv.get(_BOUNDS) or b"")


def get_params_proto(kv: KV) -> market_pb2.Params:
    return market_pb2.Params.FromString(kv.get(_PARAMS) or b"")


def get_pending_proto(kv: KV) -> market_pb2.Params | None:
    raw = kv.get(_PENDING)
    return market_pb2.Params.FromString(raw) if raw is not None else None


_parsed: dict[tuple[bytes, bytes], tuple[MarketParams, MarketBounds]] = {}


def get_params(kv: KV) -> tuple[MarketParams, MarketBounds]:
    """Current params and bounds, parsed (cached by their bytes: they rarely change)."""
    raw_p, raw_b = kv.get(_PARAMS), kv.get(_BOUNDS)
    if raw_p is None or raw_b is None:
        raise ErrMarketNotConfigured("genesis has no market section")
    hit = _parsed.get((raw_p, raw_b))
    if hit is None:
        bounds = parse_bounds(market_pb2.Bounds.FromString(raw_b))
        hit = (parse_params(market_pb2.Params.FromString(raw_p), bounds), bounds)
        if len(_parsed) > 16:
            _parsed.clear()
        _parsed[(raw_p, raw_b)] = hit
    return hit


def init(ctx: Context, params: market_pb2.Params, bounds: market_pb2.Bounds) -> None:
    """Genesis: validate and store params and bounds, anchor the schedule at block time."""
    parsed = parse_params(params, parse_bounds(bounds))
    ctx.kv.set(_BOUNDS, encode(bounds))
    ctx.kv.set(_PARAMS, encode(params_to_proto(parsed)))
    t = ctx.time_ns // NS_PER_S
    length = parsed.interval_seconds
    first = t // length
    set_state(
        ctx.kv,
        market_pb2.ModuleState(
            next_order_id=1,
            next_to_clear=first,
            anchor_interval=first,
            anchor_time=first * length,
            block_time=t,
        ),
    )


def update_params(ctx: Context, signer: bytes, proto: market_pb2.Params) -> None:
    registry.require_utility(ctx.kv, signer)
    params, bounds = get_params(ctx.kv)
    parsed = parse_params(proto, bounds)
    state = get_state(ctx.kv)
    state.pending_from_interval = current_interval(state, params, _now(ctx)) + 1
    ctx.kv.set(_PENDING, encode(params_to_proto(parsed)))
    set_state(ctx.kv, state)
    ctx.emit(
        "market_update_params",
        effective_interval=state.pending_from_interval,
        mechanism=parsed.mechanism,
        retail_tariff=parsed.retail_tariff,
        feed_in_tariff=parsed.feed_in_tariff,
    )


def _apply_pending(
    ctx: Context, state: market_pb2.ModuleState, params: MarketParams
) -> MarketParams:
    """Make waiting params current once their interval has started; re-anchor on a new length."""
    if not state.pending_from_interval:
        return params
    t = _now(ctx)
    start = interval_start(state, params, state.pending_from_interval)
    if t < start:
        return params
    pending = get_pending_proto(ctx.kv)
    assert pending is not None
    ctx.kv.set(_PARAMS, encode(pending))
    ctx.kv.delete(_PENDING)
    new, _ = get_params(ctx.kv)
    if new.interval_seconds != params.interval_seconds:
        state.anchor_interval = state.pending_from_interval
        state.anchor_time = start
    ctx.emit("market_params_effective", interval=state.pending_from_interval)
    state.pending_from_interval = 0
    return new


# ---------------------------------------------------------------------------
# Schedule


def _now(ctx: Context) -> int:
    return ctx.time_ns // NS_PER_S


def interval_start(state: market_pb2.ModuleState, params: MarketParams, n: int) -> int:
    return state.anchor_time + (n - state.anchor_interval) * params.interval_seconds


def gate_closure(state: market_pb2.ModuleState, params: MarketParams, n: int) -> int:
    return interval_start(state, params, n) - params.gate_closure_seconds


def current_interval(state: market_pb2.ModuleState, params: MarketParams, t: int) -> int:
    return max(0, state.anchor_interval + (t - state.anchor_time) // params.interval_seconds)


def first_open(state: market_pb2.ModuleState, params: MarketParams, t: int) -> int:
    """The earliest interval whose gate is still open at time t."""
    # gate(n) > t  <=>  start(n) > t + G  <=>  n > current(t + G)
    return max(
        state.next_to_clear, current_interval(state, params, t + params.gate_closure_seconds) + 1
    )


def interval_times(
    state: market_pb2.ModuleState, params: MarketParams, n: int
) -> tuple[int, int, int]:
    start = interval_start(state, params, n)
    return start, start + params.interval_seconds, start - params.gate_closure_seconds


# ---------------------------------------------------------------------------
# Orders


def get_order(kv: KV, order_id: int) -> market_pb2.Order | None:
    raw = kv.get(_ORDER + u64(order_id))
    return market_pb2.Order.FromString(raw) if raw is not None else None


def set_order(kv: CacheKV, order: market_pb2.Order) -> None:
    kv.set(_ORDER + u64(order.id), encode(order))


def open_orders_of(kv: KV, owner: bytes) -> int:
    raw = kv.get(_OPEN_COUNT + owner)
    return int(raw) if raw is not None else 0


def open_orders_total(kv: KV) -> int:
    """Open orders of every account, from the per-account counts (one key per
    account with open orders, not one per order)."""
    return sum(int(raw) for _, raw in kv.iterate(_OPEN_COUNT))


def _add_open(kv: CacheKV, owner: bytes, delta: int) -> None:
    n = open_orders_of(kv, owner) + delta
    if n:
        kv.set(_OPEN_COUNT + owner, str(n).encode())
    else:
        kv.delete(_OPEN_COUNT + owner)


def buyer_escrow(quantity_wh: int, unit: int, bounds: MarketBounds) -> int:
    energy = quantity_wh * unit // WH_PER_KWH
    fee = quantity_wh * bounds.grid_fee_max // WH_PER_KWH
    tax = energy * bounds.tax_rate_max.numerator // bounds.tax_rate_max.denominator
    return energy + fee + tax


def seller_collateral(
    quantity_wh: int, params: MarketParams, factor: Fraction = Fraction(1)
) -> int:
    rate = params.seller_collateral_rate * factor
    return quantity_wh * params.retail_tariff * rate.numerator // (rate.denominator * WH_PER_KWH)


def place_order(ctx: Context, signer: bytes, msg: market_pb2.MsgPlaceOrder) -> market_pb2.Order:
    params, bounds = get_params(ctx.kv)
    state = get_state(ctx.kv)
    owner = crypto.encode_address(signer)
    participant = registry.get_participant(ctx.kv, signer)
    if participant is None:
        raise ErrNotParticipant(f"{owner} has not applied to the registry")
    if participant.status != registry_pb2.STATUS_APPROVED:
        status = registry.status_name(participant.status)
        raise ErrNotApproved(f"{owner} is {status}; only approved participants place orders")
    t = _now(ctx)
    reputation.require_not_suspended(ctx.kv, signer, current_interval(state, params, t))
    n = msg.interval
    check_interval_open(ctx.kv, n, t)
    q = msg.quantity_wh
    if not params.min_order_wh <= q <= params.max_order_wh:
        raise ErrInvalidQuantity(
            f"{q} Wh is outside the allowed order size {params.min_order_wh}..{params.max_order_wh} Wh"
        )
    priced = msg.HasField("price")
    if priced and not params.min_price <= msg.price <= params.max_price:
        raise ErrPriceOutOfBounds(
            f"price {msg.price} is outside [{params.min_price}, {params.max_price}] per kWh"
        )
    if open_orders_of(ctx.kv, signer) >= params.max_open_orders:
        raise ErrTooManyOrders(
            f"{owner} already has {params.max_open_orders} open orders, the limit"
        )
    escrow = collateral = 0
    if msg.side == BUY:
        # max_price <= the retail ceiling (params.py), so this covers any limit.
        unit = msg.price if priced and not msg.grid_fill else bounds.retail_tariff[1]
        escrow = buyer_escrow(q, unit, bounds)
    else:
        collateral = seller_collateral(q, params, reputation.collateral_factor(ctx.kv, signer))
    locked = escrow + collateral
    if locked:
        denom = bank.get_params(ctx.kv).denom
        try:
            bank.send(ctx, signer, ESCROW, [Coin(denom, locked)])
        except bank.ErrInsufficientFunds as err:
            what = "escrow" if escrow else "collateral"
            raise ErrInsufficientEscrow(f"{what} of {locked}{denom} needed: {err.detail}") from None
    order = market_pb2.Order(
        id=state.next_order_id,
        owner=owner,
        side=msg.side,
        interval=n,
        quantity_wh=q,
        grid_fill=msg.grid_fill,
        bus=participant.bus,
        status=OPEN,
        height=ctx.height,
        escrow=str(escrow),
        collateral=str(collateral),
        paid="0",
        received="0",
        held="0",
    )
    if priced:
        order.price = msg.price
    state.next_order_id += 1
    set_state(ctx.kv, state)
    set_order(ctx.kv, order)
    ctx.kv.set(BY_INTERVAL + u64(n) + u64(order.id), b"\x01")
    ctx.kv.set(BY_OWNER + signer + u64(order.id), b"\x01")
    ctx.kv.set(_TO_CLEAR + u64(n), b"\x01")
    _add_open(ctx.kv, signer, 1)
    ctx.emit(
        "market_place_order",
        order_id=order.id,
        owner=owner,
        side=SIDE_NAMES[order.side],
        interval=n,
        quantity_wh=q,
        price=msg.price if priced else "auto",
        grid_fill=str(msg.grid_fill).lower(),
        escrow=escrow,
        collateral=collateral,
    )
    return order


@dataclass(frozen=True, slots=True)
class ExternalOffer:
    """An order from outside the microgrid (an inter-microgrid offer received over IBC).

    ``owner`` is a module account (the receiving channel's energy escrow): it
    funds a buy's escrow and is paid a sell's proceeds. ``budget`` is the most
    a buy may lock (the offer's max payment); 0 for a sell.
    """

    owner: bytes
    side: market_pb2.Side
    interval: int
    quantity_wh: int
    price: int
    bus: str
    ref: str
    budget: int = 0


def check_interval_open(kv: KV, n: int, t: int) -> None:
    """Raise unless interval n still takes orders at block time t (unix seconds)."""
    params, _ = get_params(kv)
    state = get_state(kv)
    if n < state.next_to_clear or gate_closure(state, params, n) <= t:
        raise ErrIntervalClosed(
            f"the gate of interval {n} closed at {gate_closure(state, params, n)} (block time {t}); "
            f"the earliest open interval is {first_open(state, params, t)}"
        )
    latest = current_interval(state, params, t) + params.max_intervals_ahead
    if n > latest:
        raise ErrTooFarAhead(f"interval {n} is beyond the latest open one, {latest}")


def interval_starting_at(kv: KV, start: int) -> int | None:
    """The interval that starts exactly at unix second ``start``, or None."""
    params, _ = get_params(kv)
    state = get_state(kv)
    if start < state.anchor_time:
        return None
    n = current_interval(state, params, start)
    return n if interval_start(state, params, n) == start else None


def place_external_order(ctx: Context, offer: ExternalOffer) -> market_pb2.Order:
    """Enter an external order into an open interval (see ``ExternalOffer``).

    Checked as a participant's order is (interval open, size, price bounds),
    except for the per-account order limit, the registry and reputation. It is
    always priced and never grid-filled. A buy locks the usual buyer escrow
    (``buyer_escrow`` at its limit price) from ``offer.owner``, which must be
    within ``offer.budget``; a sell locks no collateral. Raises the market's
    errors; the caller runs it on a branch.
    """
    params, bounds = get_params(ctx.kv)
    state = get_state(ctx.kv)
    n, q = offer.interval, offer.quantity_wh
    if offer.side not in (BUY, SELL):
        raise ErrInvalidSide(f"side must be buy or sell, got {offer.side}")
    check_interval_open(ctx.kv, n, _now(ctx))
    if not params.min_order_wh <= q <= params.max_order_wh:
        raise ErrInvalidQuantity(
            f"{q} Wh is outside the allowed order size {params.min_order_wh}..{params.max_order_wh} Wh"
        )
    if not params.min_price <= offer.price <= params.max_price:
        raise ErrPriceOutOfBounds(
            f"price {offer.price} is outside [{params.min_price}, {params.max_price}] per kWh"
        )
    escrow = 0
    if offer.side == BUY:
        escrow = buyer_escrow(q, offer.price, bounds)
        if escrow > offer.budget:
            raise ErrInsufficientEscrow(
                f"a buy of {q} Wh at {offer.price} per kWh locks {escrow} (energy, grid fee "
                f"and tax at their ceilings); the offer allows at most {offer.budget}"
            )
        denom = bank.get_params(ctx.kv).denom
        try:
            bank.send(ctx, offer.owner, ESCROW, [Coin(denom, escrow)])
        except bank.ErrInsufficientFunds as err:
            raise ErrInsufficientEscrow(f"escrow of {escrow}{denom} needed: {err.detail}") from None
    owner = crypto.encode_address(offer.owner)
    order = market_pb2.Order(
        id=state.next_order_id,
        owner=owner,
        side=offer.side,
        interval=n,
        quantity_wh=q,
        price=offer.price,
        grid_fill=False,
        bus=offer.bus,
        status=OPEN,
        height=ctx.height,
        escrow=str(escrow),
        collateral="0",
        paid="0",
        received="0",
        held="0",
        external=True,
        external_ref=offer.ref,
    )
    state.next_order_id += 1
    set_state(ctx.kv, state)
    set_order(ctx.kv, order)
    ctx.kv.set(BY_INTERVAL + u64(n) + u64(order.id), b"\x01")
    ctx.kv.set(BY_OWNER + offer.owner + u64(order.id), b"\x01")
    ctx.kv.set(_TO_CLEAR + u64(n), b"\x01")
    _add_open(ctx.kv, offer.owner, 1)
    ctx.emit(
        "market_place_order",
        order_id=order.id,
        owner=owner,
        side=SIDE_NAMES[order.side],
        interval=n,
        quantity_wh=q,
        price=offer.price,
        grid_fill="false",
        escrow=escrow,
        collateral=0,
        external=offer.ref,
    )
    return order


def cancel_order(ctx: Context, signer: bytes, order_id: int) -> None:
    order = get_order(ctx.kv, order_id)
    if order is None:
        raise ErrOrderNotFound(f"no order {order_id}")
    if order.owner != crypto.encode_address(signer):
        raise ErrNotOrderOwner(f"order {order_id} belongs to {order.owner}")
    if order.status != OPEN:
        status = market_pb2.OrderStatus.Name(order.status).removeprefix("ORDER_STATUS_").lower()
        raise ErrOrderNotOpen(f"order {order_id} is {status}")
    params, _ = get_params(ctx.kv)
    state = get_state(ctx.kv)
    gate = gate_closure(state, params, order.interval)
    if gate <= _now(ctx):
        raise ErrIntervalClosed(f"the gate of interval {order.interval} closed at {gate}")
    refund = int(order.escrow) + int(order.collateral)
    if refund:
        bank.send(ctx, ESCROW, signer, [Coin(bank.get_params(ctx.kv).denom, refund)])
    order.status = market_pb2.ORDER_STATUS_CANCELLED
    set_order(ctx.kv, order)
    _add_open(ctx.kv, signer, -1)
    ctx.emit("market_cancel_order", order_id=order_id, owner=order.owner, refund=refund)


def publish_forecast(ctx: Context, signer: bytes, msg: market_pb2.MsgPublishForecast) -> None:
    registry.require_utility(ctx.kv, signer)
    params, _ = get_params(ctx.kv)
    state = get_state(ctx.kv)
    gate = gate_closure(state, params, msg.interval)
    if msg.interval < state.next_to_clear or gate <= _now(ctx):
        raise ErrIntervalClosed(f"the gate of interval {msg.interval} closed at {gate}")
    forecast = market_pb2.Forecast(
        interval=msg.interval,
        generation_wh=msg.generation_wh,
        demand_wh=msg.demand_wh,
        height=ctx.height,
    )
    ctx.kv.set(_FORECAST + u64(msg.interval), encode(forecast))
    ctx.emit(
        "market_forecast",
        interval=msg.interval,
        generation_wh=msg.generation_wh,
        demand_wh=msg.demand_wh,
    )


def get_forecast(kv: KV, n: int) -> market_pb2.Forecast | None:
    raw = kv.get(_FORECAST + u64(n))
    return market_pb2.Forecast.FromString(raw) if raw is not None else None


def orders_of_interval(kv: KV, n: int) -> Iterator[market_pb2.Order]:
    prefix = BY_INTERVAL + u64(n)
    for key, _ in kv.iterate(prefix):
        order = get_order(kv, int.from_bytes(key[len(prefix) :], "big"))
        assert order is not None
        yield order


# ---------------------------------------------------------------------------
# Clearing at gate closure


def end_block(ctx: Context) -> list[int]:
    """Apply waiting params, then clear every interval whose gate has closed.

    Returns the intervals cleared that held orders (settlement's to-do list).
    """
    if not is_configured(ctx.kv):
        return []
    state = get_state(ctx.kv)
    params, _ = get_params(ctx.kv)
    params = _apply_pending(ctx, state, params)
    t = _now(ctx)
    state.block_time = t
    if gate_closure(state, params, state.next_to_clear) > t:
        set_state(ctx.kv, state)
        return []
    last = current_interval(state, params, t + params.gate_closure_seconds)  # gate(last) <= t
    due = [int.from_bytes(key[len(_TO_CLEAR) :], "big") for key, _ in ctx.kv.iterate(_TO_CLEAR)]
    cleared = [n for n in due if n <= last]
    for n in cleared:
        ctx.kv.delete(_TO_CLEAR + u64(n))
        clear_interval(ctx, state, params, n)
    state.next_to_clear = last + 1
    set_state(ctx.kv, state)
    return cleared


def auto_prices(params: MarketParams, supply_wh: int, demand_wh: int) -> tuple[int, int]:
    """(buy, sell) prices for orders without one, from the supply-demand ratio.

    The sell price is the internal selling price P_s of Liu et al. (2017)
    (see ``clearing.sdr_price``); the buy price is the paper's internal
    buying price P_b = P_s * SDR + retail * (1 - SDR) for SDR < 1, and
    feed-in when supply covers demand. Both are rounded down and kept in
    the price bounds. No demand at all prices both at the feed-in tariff.
    """
    fit, retail = params.feed_in_tariff, params.retail_tariff
    p_s = clearing.sdr_price(supply_wh, demand_wh, fit, retail)
    if p_s is None:
        sell = buy = Fraction(fit)
    else:
        sell = p_s
        sdr = Fraction(supply_wh, demand_wh)
        buy = Fraction(fit) if sdr >= 1 else p_s * sdr + retail * (1 - sdr)

    def bounded(p: Fraction) -> int:
        return min(max(p.numerator // p.denominator, params.min_price), params.max_price)

    return bounded(buy), bounded(sell)


class _BadResult(Exception):
    """The clearing function returned something the keeper will not apply."""


@dataclass
class _Ledger:
    """Money to move out of escrow at one clearing, aggregated per recipient."""

    pay: dict[bytes, int] = field(default_factory=dict)

    def credit(self, address: bytes, amount: int) -> None:
        if amount:
            self.pay[address] = self.pay.get(address, 0) + amount


def clear_interval(
    ctx: Context, state: market_pb2.ModuleState, params: MarketParams, n: int
) -> None:
    orders = [o for o in orders_of_interval(ctx.kv, n) if o.status == OPEN]
    record = _new_record(state, params, n, market_pb2.INTERVAL_STATUS_CLEARED)
    record.cleared_height = ctx.height
    record.order_count = len(orders)
    if not orders:
        ctx.kv.set(_INTERVAL + u64(n), encode(record))
        return
    _price_automatic(ctx, params, n, orders, record)
    snapshot = [clearing_order(o) for o in orders]
    network = registry.get_network(ctx.kv)
    cparams = clearing_params(record)
    denom = bank.get_params(ctx.kv).denom
    try:
        result = clearing.clear(
            snapshot, clearing.Mechanism(params.mechanism, params.k), network, cparams
        )
        if result.deficit > max(0, bank.get_balance(ctx.kv, params.subsidy_account, denom)):
            record.fallback = (
                f"{params.mechanism} needs a subsidy of {result.deficit}{denom}, more than the "
                f"subsidy account holds; cleared with uniform"
            )
            record.mechanism = "uniform"
            result = clearing.clear(
                snapshot, clearing.Mechanism("uniform", params.k), network, cparams
            )
        ledger = _settle(ctx, params, orders, result, record, network)
    except (clearing.ClearingInputError, _BadResult) as exc:
        # Never expected: orders and params were validated on the way in. Clearing
        # nothing and returning every escrow is the one outcome that is always safe.
        log.error("interval %d not cleared: %s", n, exc)
        record.fallback = f"not cleared: {exc}"
        record.mechanism = ""
        ledger = _Ledger()
        for o in orders:
            ledger.credit(crypto.decode_address(o.owner), int(o.escrow) + int(o.collateral))
            o.status = market_pb2.ORDER_STATUS_UNMATCHED
            o.matched_wh = o.grid_wh = 0  # _settle may have filled some in before refusing
            o.paid = o.received = o.held = "0"
    _pay_out(ctx, denom, params.subsidy_account, ledger, record)
    for o in orders:
        set_order(ctx.kv, o)
        _add_open(ctx.kv, crypto.decode_address(o.owner), -1)
    state.grid_import_wh += record.grid_import_wh
    state.grid_export_wh += record.grid_export_wh
    ctx.kv.set(_INTERVAL + u64(n), encode(record))
    for c in record.curtailments:
        ctx.emit(
            "market_curtailment",
            interval=n,
            round=c.round,
            line=c.line,
            buy_order=c.buy_order,
            sell_order=c.sell_order,
            quantity_wh=c.quantity_wh,
            order=c.order,
        )
    ctx.emit(
        "market_clear",
        interval=n,
        mechanism=record.mechanism,
        clearing_price=record.clearing_price if record.HasField("clearing_price") else "",
        matched_wh=record.matched_wh,
        trades=record.trade_count,
        grid_import_wh=record.grid_import_wh,
        grid_export_wh=record.grid_export_wh,
        curtailments=len(record.curtailments),
        fallback=record.fallback,
    )


def clearing_order(o: market_pb2.Order) -> clearing.Order:
    """An order as the clearing function sees it (auto-priced ones at their auto price).

    The chain's snapshot and ``mgrid market audit`` both build it here.
    """
    return clearing.Order(
        id=str(o.id),
        side=SIDE_NAMES[o.side],
        quantity_wh=o.quantity_wh,
        price=_limit(o),
        bus=o.bus or None,
        owner=o.owner,
    )


def clearing_params(record: market_pb2.IntervalState) -> clearing.Params:
    """The tariffs and price bounds an interval clears under, as its record holds them."""
    return clearing.Params(
        feed_in_tariff=record.feed_in_tariff,
        retail_tariff=record.retail_tariff,
        min_price=record.min_price,
        max_price=record.max_price,
    )


def _price_automatic(
    ctx: Context,
    params: MarketParams,
    n: int,
    orders: list[market_pb2.Order],
    record: market_pb2.IntervalState,
) -> None:
    if all(o.HasField("price") for o in orders):
        return
    forecast = get_forecast(ctx.kv, n)
    if forecast is not None:
        supply, demand = forecast.generation_wh, forecast.demand_wh
    else:  # no forecast: the book's own offered quantities
        supply = sum(o.quantity_wh for o in orders if o.side == SELL)
        demand = sum(o.quantity_wh for o in orders if o.side == BUY)
    buy, sell = auto_prices(params, supply, demand)
    record.auto_buy_price, record.auto_sell_price = buy, sell
    for o in orders:
        if not o.HasField("price"):
            o.auto_price = buy if o.side == BUY else sell


def _limit(o: market_pb2.Order) -> int:
    return o.price if o.HasField("price") else o.auto_price


def _settle(
    ctx: Context,
    params: MarketParams,
    orders: list[market_pb2.Order],
    result: clearing.ClearingResult,
    record: market_pb2.IntervalState,
    network: clearing.Network,
) -> _Ledger:
    """Check the clearing result against the snapshot, then work out every payment.

    Updates ``orders`` and ``record`` in place and writes trades; returns what
    escrow pays to whom. Raises _BadResult, before writing anything to state
    (the caller then resets ``orders``), if the result breaks a rule the
    mechanisms promise.
    """
    n = record.id
    by_id = {str(o.id): o for o in orders}
    matched: dict[str, int] = {}
    paid: dict[str, int] = {}
    received: dict[str, int] = {}
    fees = taxes = 0
    tax = params.tax_rate
    rows: list[market_pb2.Trade] = []
    for i, t in enumerate(result.trades):
        b, s = by_id.get(t.buy_id), by_id.get(t.sell_id)
        if b is None or s is None or b.side != BUY or s.side != SELL or b.owner == s.owner:
            raise _BadResult(f"trade {i} pairs {t.buy_id} and {t.sell_id}")
        if t.quantity_wh <= 0 or t.amount > t.quantity_wh * _limit(b) // WH_PER_KWH:
            raise _BadResult(f"trade {i}: buyer {t.buy_id} would pay above its limit")
        if t.seller_amount < t.quantity_wh * _limit(s) // WH_PER_KWH:
            raise _BadResult(f"trade {i}: seller {t.sell_id} would receive below its ask")
        fee = t.quantity_wh * params.grid_fee_per_kwh // WH_PER_KWH
        tax_amount = t.amount * tax.numerator // tax.denominator
        fees += fee
        taxes += tax_amount
        for oid in (t.buy_id, t.sell_id):
            matched[oid] = matched.get(oid, 0) + t.quantity_wh
        paid[t.buy_id] = paid.get(t.buy_id, 0) + t.amount + fee + tax_amount
        received[t.sell_id] = received.get(t.sell_id, 0) + t.seller_amount
        rows.append(
            market_pb2.Trade(
                interval=n,
                index=i,
                buy_order=b.id,
                sell_order=s.id,
                buyer=b.owner,
                seller=s.owner,
                quantity_wh=t.quantity_wh,
                price=t.price,
                amount=str(t.amount),
                seller_price=t.seller_price,
                seller_amount=str(t.seller_amount),
                fee=str(fee),
                tax=str(tax_amount),
            )
        )
    for oid, q in matched.items():
        if q > by_id[oid].quantity_wh:
            raise _BadResult(f"order {oid} matched {q} Wh of {by_id[oid].quantity_wh}")
    if result.buyers_pay + result.deficit != result.sellers_receive + result.market_surplus:
        raise _BadResult("money is not conserved")
    grid = _grid_fill(params, orders, matched, network)
    ledger = _Ledger()
    import_wh = export_wh = import_amount = export_amount = 0
    for o in orders:
        oid = str(o.id)
        g = grid.get(oid, 0)
        o.matched_wh = matched.get(oid, 0)
        o.grid_wh = g
        owner = crypto.decode_address(o.owner)
        if o.side == BUY:
            cost = g * params.retail_tariff // WH_PER_KWH
            import_wh += g
            import_amount += cost
            spent = paid.get(oid, 0) + cost
            if spent > int(o.escrow):
                raise _BadResult(
                    f"order {oid} would spend {spent}, more than its escrow {o.escrow}"
                )
            ledger.credit(owner, int(o.escrow) - spent)
            o.paid, o.received, o.held = str(spent), "0", "0"
        else:
            gain = g * params.feed_in_tariff // WH_PER_KWH
            export_wh += g
            export_amount += gain
            got = received.get(oid, 0) + gain
            if o.external:
                # Settled at the connection point by what was filled: paid out now.
                ledger.credit(owner, got)
                o.paid, o.received, o.held = "0", str(got), "0"
            else:
                # Collateral for what was sold stays, with the money, until settlement.
                kept = int(o.collateral) * (o.matched_wh + g) // o.quantity_wh
                ledger.credit(owner, int(o.collateral) - kept)
                o.paid, o.received, o.held = "0", str(got), str(got + kept)
        done = o.matched_wh + o.grid_wh
        o.status = (
            market_pb2.ORDER_STATUS_FILLED
            if done == o.quantity_wh
            else market_pb2.ORDER_STATUS_PARTIAL
            if done
            else market_pb2.ORDER_STATUS_UNMATCHED
        )
    ledger.credit(params.fee_account, fees)
    ledger.credit(params.tax_account, taxes)
    ledger.credit(params.surplus_account, result.market_surplus)
    ledger.credit(MAIN_GRID, import_amount)
    # Only now, with every check passed, write the trades.
    for row in rows:
        ctx.kv.set(TRADE + u64(n) + row.index.to_bytes(4, "big"), encode(row))
        for party in (row.buyer, row.seller):
            key = (
                TRADE_BY_ACCOUNT
                + crypto.decode_address(party)
                + u64(n)
                + row.index.to_bytes(4, "big")
            )
            ctx.kv.set(key, b"\x01")
    if result.clearing_price is not None:
        record.clearing_price = result.clearing_price
    record.matched_wh = result.matched_quantity
    record.buyers_pay = str(result.buyers_pay)
    record.sellers_receive = str(result.sellers_receive)
    record.market_surplus = str(result.market_surplus)
    record.deficit = str(result.deficit)
    record.fees = str(fees)
    record.taxes = str(taxes)
    record.rounds = result.rounds
    record.trade_count = len(rows)
    record.grid_import_wh = import_wh
    record.grid_export_wh = export_wh
    record.grid_import_amount = str(import_amount)
    record.grid_export_amount = str(export_amount)
    flagged = sum(o.quantity_wh - matched.get(str(o.id), 0) for o in orders if o.grid_fill)
    record.grid_curtailed_wh = flagged - import_wh - export_wh
    record.curtailments.extend(
        market_pb2.Curtailment(
            round=c.round,
            line=c.line,
            buy_order=int(c.buy_id),
            sell_order=int(c.sell_id),
            quantity_wh=c.quantity_wh,
            order=int(c.order_id),
        )
        for c in result.curtailments
    )
    return ledger


def _grid_fill(
    params: MarketParams,
    orders: list[market_pb2.Order],
    matched: dict[str, int],
    network: clearing.Network,
) -> dict[str, int]:
    """Quantity the main grid fills per order id, within the coupling capacity.

    What crosses the point of common coupling is the net of imports and
    exports, so both sides are filled in full while the net fits; otherwise
    the smaller side is filled in full and the larger one up to the smaller
    plus the capacity, in book order (buys by price descending, sells by
    price ascending, then submission order). Lines inside the microgrid are
    not checked for grid fill.
    """
    buys = [o for o in orders if o.side == BUY and o.grid_fill]
    sells = [o for o in orders if o.side == SELL and o.grid_fill]
    buys.sort(key=lambda o: -_limit(o))  # stable: submission order within a price
    sells.sort(key=_limit)
    want_in = [(o, o.quantity_wh - matched.get(str(o.id), 0)) for o in buys]
    want_out = [(o, o.quantity_wh - matched.get(str(o.id), 0)) for o in sells]
    total_in = sum(q for _, q in want_in)
    total_out = sum(q for _, q in want_out)
    cap = network.buses[network.root_index].capacity_wh
    if cap is None:
        cap_in = total_in
        cap_out = total_out
    else:
        cap_in = min(total_in, total_out + cap)
        cap_out = min(total_out, total_in + cap)
    fill: dict[str, int] = {}
    for wants, room in ((want_in, cap_in), (want_out, cap_out)):
        for o, q in wants:
            take = min(q, room)
            if take > 0:
                fill[str(o.id)] = take
                room -= take
    return fill


def _pay_out(
    ctx: Context, denom: str, subsidy: bytes, ledger: _Ledger, record: market_pb2.IntervalState
) -> None:
    """Fund escrow with the subsidy and the main grid's purchases, then pay everyone out."""
    deficit = int(record.deficit or "0")
    if deficit:
        bank.send(ctx, subsidy, ESCROW, [Coin(denom, deficit)])
    exported = int(record.grid_export_amount or "0")
    if exported:
        bank.send(ctx, MAIN_GRID, ESCROW, [Coin(denom, exported)])
    for address in sorted(ledger.pay):
        bank.send(ctx, ESCROW, address, [Coin(denom, ledger.pay[address])])


# ---------------------------------------------------------------------------
# Queries' helpers and invariants


_MONEY_FIELDS = (
    "buyers_pay",
    "sellers_receive",
    "market_surplus",
    "deficit",
    "fees",
    "taxes",
    "grid_import_amount",
    "grid_export_amount",
)


def _new_record(
    state: market_pb2.ModuleState,
    params: MarketParams,
    n: int,
    status: market_pb2.IntervalStatus,
) -> market_pb2.IntervalState:
    """An interval's record before clearing: its times, the params in force, zero money."""
    start, end, gate = interval_times(state, params, n)
    record = market_pb2.IntervalState(
        id=n,
        status=status,
        start_time=start,
        end_time=end,
        gate_closure_time=gate,
        mechanism=params.mechanism,
        k=format_fraction(params.k),
        retail_tariff=params.retail_tariff,
        feed_in_tariff=params.feed_in_tariff,
        min_price=params.min_price,
        max_price=params.max_price,
    )
    for name in _MONEY_FIELDS:
        setattr(record, name, "0")
    return record


def get_interval(kv: KV, n: int) -> market_pb2.IntervalState:
    """The stored record of a cleared interval, or the schedule's view of one that held no orders."""
    raw = kv.get(_INTERVAL + u64(n))
    if raw is not None:
        return market_pb2.IntervalState.FromString(raw)
    state = get_state(kv)
    params, _ = get_params(kv)
    cleared = n < state.next_to_clear  # (an interval that held orders has its record)
    status = market_pb2.INTERVAL_STATUS_CLEARED if cleared else market_pb2.INTERVAL_STATUS_OPEN
    record = _new_record(state, params, n, status)
    if not cleared:
        record.order_count = sum(1 for o in orders_of_interval(kv, n) if o.status == OPEN)
    return record


def get_trade(kv: KV, interval_and_index: bytes) -> market_pb2.Trade:
    raw = kv.get(TRADE + interval_and_index)
    assert raw is not None, "trade index points at a missing trade"
    return market_pb2.Trade.FromString(raw)


def last_block_time(kv: KV) -> int:
    return get_state(kv).block_time


def trades_of_interval(kv: KV, n: int) -> Iterator[market_pb2.Trade]:
    for _, value in kv.iterate(TRADE + u64(n)):
        yield market_pb2.Trade.FromString(value)


def check_invariants(kv: KV) -> None:
    """Escrow holds exactly the open orders' escrow and collateral and the money held
    for settlement; open counts agree.

    Walks every order: for tests and audits. Raises AssertionError.
    """
    if not is_configured(kv):
        return
    denom = bank.get_params(kv).denom
    locked = 0
    open_by_owner: dict[str, int] = {}
    for _, raw in kv.iterate(_ORDER):
        o = market_pb2.Order.FromString(raw)
        if o.status == OPEN:
            locked += int(o.escrow) + int(o.collateral)
            open_by_owner[o.owner] = open_by_owner.get(o.owner, 0) + 1
        locked += int(o.held or "0")
    held = bank.get_balance(kv, ESCROW, denom)
    if held != locked:
        raise AssertionError(f"escrow holds {held}{denom}, orders lock {locked}{denom}")
    counted = {
        crypto.encode_address(k[len(_OPEN_COUNT) :]): int(v) for k, v in kv.iterate(_OPEN_COUNT)
    }
    if counted != open_by_owner:
        raise AssertionError(f"open order counts {counted} != open orders {open_by_owner}")


def pending_params(kv: KV) -> tuple[market_pb2.Params | None, int]:
    state = get_state(kv)
    return get_pending_proto(kv), state.pending_from_interval
