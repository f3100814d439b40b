"""Demand-response keeper: the DSO's events, participants' opt-ins, and their settlement.

Issue 10, item 1. The utility cell (acting as DSO) asks for a reduction of
consumption in a future delivery interval n, on the whole microgrid or on a
bus and the buses below it; approved participants there opt in with the
reduction they commit; after n's settlement window each is measured against
its baseline and paid or penalised by ``settlement.delivery.settle``. Energy
in Wh, rates per kWh in the denom's smallest unit, money as in the market.

Lifecycle of an event (status):
    OPEN     MsgCreateEvent (utility cell only), while n's gate is open
             (market.check_interval_open); bus empty or one of the network;
             1 <= requested_wh <= MAX_REQUEST_WH, rates <= MAX_RATE_PER_KWH.
             The funder (the signer) locks reserve = floor(requested_wh *
             reward_per_kwh / 1000) in ESCROW: the most the rewards can come to.
             MsgOptIn while OPEN and n's gate is open: the signer is an
             approved participant, not suspended, on the event's bus or below
             it (walking bus parents; an empty bus takes anyone); one opt-in
             per event, and one commitment per participant and interval across
             demand response and flexibility (settlement.delivery.claim: each
             is measured against the same baseline); 1 <= committed_wh <= requested_wh -
             committed so far; at most params.max_opt_ins per event. The
             participant locks collateral = floor(committed_wh *
             penalty_per_kwh / 1000) in ESCROW: its largest possible penalty.
    CLOSED   end_block, in the first block after n's gate closed (n is below
             the market's first open interval).
    SETTLED  end_block, in the first block at or after settlement.window_end(n)
             (the block settling n's market contracts): each opt-in, in
             participant address order, through delivery.settle (reward =
             floor(credited * reward_per_kwh / 1000) from the reserve, penalty
             = floor(shortfall * penalty_per_kwh / 1000) from its collateral to
             the event's penalty account, the rest of the collateral back;
             reputation moves under source "demand_response"). Then the funder
             gets back reserve - sum(rewards) (>= 0: a sum of floors is at most
             the floor of the sum, and the credited energy at most the
             request). Events of one block settle by (interval, id).

Automatic events (params.auto_threshold_wh > 0): for each interval s that
settlement just settled, in order, when s.imbalance_bought_wh (the energy
participants had to buy from the main grid beyond their contracts) exceeds
the threshold, an event is created as the utility cell would, for interval
first_open + auto_lead_intervals, the whole microgrid, requested_wh =
min(imbalance_bought_wh, auto_max_request_wh), the auto rates, penalties to
the settlement params' penalty account, funded by params.auto_funder. When
the interval is not open to it or the funder cannot lock the reserve,
nothing is created and ``demand_response_auto_skipped`` says why.

Invariant: ESCROW holds exactly the reserves of unsettled events plus the
collateral of their opt-ins.

Events: demand_response_event, demand_response_opt_in,
demand_response_close, demand_response_settle (and settlement_delivery per
opt-in, from delivery.settle), demand_response_auto_skipped.

Keys (prefix 0x09):
    0x09 0x00                           -> Params
    0x09 0x01                           -> next event id, decimal
    0x09 0x10 | id(8)                   -> Event
    0x09 0x11 | interval(8) | id(8)     -> 0x01  events of an interval
    0x09 0x12 | interval(8) | id(8)     -> 0x01  OPEN events, waiting for the gate closure
    0x09 0x13 | interval(8) | id(8)     -> 0x01  CLOSED events, waiting for the window's end
    0x09 0x20 | id(8) | addr(20)        -> OptIn  (an event's opt-ins, in address order)
    0x09 0x21 | addr(20) | ~id(8)       -> 0x01  a participant's opt-ins, newest event first
Integers in keys are big-endian (~id = 2^64 - 1 - id), so key order is numeric order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from app import crypto
from app.coins import Coin
from app.context import Context
from app.errors import ABCIError, register
from app.kv import KV, CacheKV
from app.modules import PREFIX_DEMAND_RESPONSE
from app.modules.bank import keeper as bank
from app.modules.common import ParamsRecord, due_entries, encode, take_counter
from app.modules.market import keeper as market
from app.modules.registry import keeper as registry
from app.modules.reputation import keeper as reputation
from app.modules.settlement import delivery
from app.modules.settlement import keeper as settlement
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2

ErrInvalidParams = register("demand_response", 2, "invalid demand-response params")
ErrNotConfigured = register("demand_response", 3, "demand response not configured")
ErrInvalidEvent = register("demand_response", 4, "invalid event")
ErrUnknownBus = register("demand_response", 5, "unknown bus")
ErrInsufficientFunds = register("demand_response", 6, "insufficient funds to lock")
ErrEventNotFound = register("demand_response", 7, "event not found")
ErrEventClosed = register("demand_response", 8, "event closed to opt-ins")
ErrNotParticipant = register("demand_response", 9, "not a registered participant")
ErrNotApproved = register("demand_response", 10, "participant not approved")
ErrOutsideBus = register("demand_response", 11, "participant outside the event's bus")
ErrAlreadyOptedIn = register("demand_response", 12, "already opted in")
ErrInvalidCommitment = register("demand_response", 13, "invalid commitment")
ErrExceedsRequest = register("demand_response", 14, "commitment exceeds the remaining request")
ErrTooManyOptIns = register("demand_response", 15, "too many opt-ins")

ESCROW = bank.module_address("demand_response")
DEFAULT_FUNDER = bank.module_address("demand_response_fund")
SOURCE = "demand_response"  # reputation history and settlement_delivery events
MAX_REQUEST_WH = 10**12  # 1 TWh: reserves stay below 10^18 at the largest rate
MAX_RATE_PER_KWH = 10**9
MAX_OPT_INS = 100_000
U64_MAX = 2**64 - 1

_PARAMS = PREFIX_DEMAND_RESPONSE + b"\x00"
_NEXT_ID = PREFIX_DEMAND_RESPONSE + b"\x01"
EVENT = PREFIX_DEMAND_RESPONSE + b"\x10"
BY_INTERVAL = PREFIX_DEMAND_RESPONSE + b"\x11"
_OPEN = PREFIX_DEMAND_RESPONSE + b"\x12"
_CLOSED = PREFIX_DEMAND_RESPONSE + b"\x13"
OPT_IN = PREFIX_DEMAND_RESPONSE + b"\x20"
BY_PARTICIPANT = PREFIX_DEMAND_RESPONSE + b"\x21"

OPEN = dr_pb2.EVENT_STATUS_OPEN
CLOSED = dr_pb2.EVENT_STATUS_CLOSED
SETTLED = dr_pb2.EVENT_STATUS_SETTLED

u64 = market.u64


# ---------------------------------------------------------------------------
# Params


@dataclass(frozen=True, slots=True)
class DemandResponseParams:
    auto_threshold_wh: int
    auto_reward_per_kwh: int
    auto_penalty_per_kwh: int
    auto_max_request_wh: int
    auto_lead_intervals: int
    auto_funder: bytes
    max_opt_ins: int


def parse_params(proto: dr_pb2.Params) -> DemandResponseParams:
    for name in ("auto_reward_per_kwh", "auto_penalty_per_kwh"):
        if getattr(proto, name) > MAX_RATE_PER_KWH:
            raise ErrInvalidParams(
                f"{name}: at most {MAX_RATE_PER_KWH}, got {getattr(proto, name)}"
            )
    if proto.auto_max_request_wh > MAX_REQUEST_WH:
        raise ErrInvalidParams(
            f"auto_max_request_wh: at most {MAX_REQUEST_WH}, got {proto.auto_max_request_wh}"
        )
    if proto.auto_threshold_wh and not proto.auto_max_request_wh:
        raise ErrInvalidParams(
            "auto_max_request_wh: must be at least 1 when auto_threshold_wh is set"
        )
    if not 1 <= proto.max_opt_ins <= MAX_OPT_INS:
        raise ErrInvalidParams(f"max_opt_ins: must be in 1..{MAX_OPT_INS}, got {proto.max_opt_ins}")
    try:
        funder = crypto.decode_address(proto.auto_funder)
    except crypto.AddressError as exc:
        raise ErrInvalidParams(f"auto_funder: {exc}") from None
    if funder == ESCROW:
        raise ErrInvalidParams("auto_funder: may not be the module's escrow account")
    return DemandResponseParams(
        auto_threshold_wh=proto.auto_threshold_wh,
        auto_reward_per_kwh=proto.auto_reward_per_kwh,
        auto_penalty_per_kwh=proto.auto_penalty_per_kwh,
        auto_max_request_wh=proto.auto_max_request_wh,
        auto_lead_intervals=proto.auto_lead_intervals,
        auto_funder=funder,
        max_opt_ins=proto.max_opt_ins,
    )


PARAMS = ParamsRecord(_PARAMS, dr_pb2.Params, parse_params)


def is_configured(kv: KV) -> bool:
    return PARAMS.is_set(kv)


def get_params(kv: KV) -> DemandResponseParams:
    if not PARAMS.is_set(kv):
        raise ErrNotConfigured("genesis has no market, so no demand response either")
    return PARAMS.get(kv)


# ---------------------------------------------------------------------------
# Records


def get_event(kv: KV, event_id: int) -> dr_pb2.Event | None:
    raw = kv.get(EVENT + u64(event_id))
    return dr_pb2.Event.FromString(raw) if raw is not None else None


def _set_event(kv: CacheKV, event: dr_pb2.Event) -> None:
    kv.set(EVENT + u64(event.id), encode(event))


def get_opt_in(kv: KV, event_id: int, address: bytes) -> dr_pb2.OptIn | None:
    raw = kv.get(OPT_IN + u64(event_id) + address)
    return dr_pb2.OptIn.FromString(raw) if raw is not None else None


def opt_ins_of_event(kv: KV, event_id: int) -> Iterator[dr_pb2.OptIn]:
    """An event's opt-ins in participant address order."""
    for _, raw in kv.iterate(OPT_IN + u64(event_id)):
        yield dr_pb2.OptIn.FromString(raw)


# ---------------------------------------------------------------------------
# Creating events and opting in


def _now(ctx: Context) -> int:
    return ctx.time_ns // market.NS_PER_S


def _lock(ctx: Context, owner: bytes, amount: int, what: str) -> None:
    """Move ``amount`` from ``owner`` into ESCROW, or raise ErrInsufficientFunds saying both."""
    if not amount:
        return
    denom = bank.get_params(ctx.kv).denom
    have = bank.get_balance(ctx.kv, owner, denom)
    if have < amount:
        raise ErrInsufficientFunds(
            f"{what} of {amount}{denom} needed; {crypto.encode_address(owner)} has {have}{denom}"
        )
    bank.send(ctx, owner, ESCROW, [Coin(denom, amount)])


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What an event asks for and who stands behind it (checked by the caller)."""

    interval: int
    bus: str
    requested_wh: int
    reward_per_kwh: int
    penalty_per_kwh: int
    funder: bytes
    penalty_account: bytes
    automatic: bool = False
    trigger_interval: int = 0
    trigger_imbalance_wh: int = 0


def _store_event(ctx: Context, spec: EventSpec) -> dr_pb2.Event:
    """Lock the reserve from the funder, then store and announce the event."""
    reserve = delivery.amount(spec.requested_wh, spec.reward_per_kwh)
    _lock(ctx, spec.funder, reserve, "reserve")
    kv = ctx.kv
    event = dr_pb2.Event(
        id=take_counter(kv, _NEXT_ID),
        interval=spec.interval,
        bus=spec.bus,
        requested_wh=spec.requested_wh,
        reward_per_kwh=spec.reward_per_kwh,
        penalty_per_kwh=spec.penalty_per_kwh,
        funder=crypto.encode_address(spec.funder),
        penalty_account=crypto.encode_address(spec.penalty_account),
        automatic=spec.automatic,
        trigger_interval=spec.trigger_interval,
        trigger_imbalance_wh=spec.trigger_imbalance_wh,
        created_height=ctx.height,
        status=OPEN,
        reserve=str(reserve),
        rewards="0",
        penalties="0",
    )
    _set_event(kv, event)
    index = u64(event.interval) + u64(event.id)
    kv.set(BY_INTERVAL + index, b"\x01")
    kv.set(_OPEN + index, b"\x01")
    ctx.emit(
        "demand_response_event",
        id=event.id,
        interval=event.interval,
        bus=event.bus,
        requested_wh=event.requested_wh,
        reward_per_kwh=event.reward_per_kwh,
        penalty_per_kwh=event.penalty_per_kwh,
        funder=event.funder,
        penalty_account=event.penalty_account,
        reserve=reserve,
        automatic=str(event.automatic).lower(),
    )
    return event


def create_event(ctx: Context, signer: bytes, msg: dr_pb2.MsgCreateEvent) -> dr_pb2.Event:
    """MsgCreateEvent (module docstring); the stateless checks ran in msgs.validate."""
    kv = ctx.kv
    get_params(kv)
    registry.require_utility(kv, signer)
    market.check_interval_open(kv, msg.interval, _now(ctx))
    if msg.bus and not registry.has_bus(kv, msg.bus):
        raise ErrUnknownBus(f"bus {msg.bus!r} is not in the network")
    penalty_account = (
        crypto.decode_address(msg.penalty_account)
        if msg.penalty_account
        else settlement.get_params(kv).penalty_account
    )
    spec = EventSpec(
        interval=msg.interval,
        bus=msg.bus,
        requested_wh=msg.requested_wh,
        reward_per_kwh=msg.reward_per_kwh,
        penalty_per_kwh=msg.penalty_per_kwh,
        funder=signer,
        penalty_account=penalty_account,
    )
    return _store_event(ctx, spec)


def opt_in(ctx: Context, signer: bytes, msg: dr_pb2.MsgOptIn) -> dr_pb2.OptIn:
    """MsgOptIn (module docstring); the stateless checks ran in msgs.validate."""
    kv = ctx.kv
    params = get_params(kv)
    event = get_event(kv, msg.event_id)
    if event is None:
        raise ErrEventNotFound(f"no event {msg.event_id}")
    t = _now(ctx)
    state = market.get_state(kv)
    mparams, _ = market.get_params(kv)
    first = market.first_open(state, mparams, t)
    if event.status != OPEN or event.interval < first:
        gate = market.gate_closure(state, mparams, event.interval)
        raise ErrEventClosed(
            f"event {event.id} is for interval {event.interval}, whose gate closed at {gate} "
            f"(block time {t})"
        )
    owner = crypto.encode_address(signer)
    participant = registry.get_participant(kv, signer)
    if participant is None:
        raise ErrNotParticipant(f"{owner} has not applied to the registry")
    if participant.status != registry_pb2.STATUS_APPROVED:
        status = registry.status_name(participant.status)
        raise ErrNotApproved(f"{owner} is {status}; only approved participants opt in")
    reputation.require_not_suspended(kv, signer, market.current_interval(state, mparams, t))
    if not registry.bus_within(kv, participant.bus, event.bus):
        raise ErrOutsideBus(
            f"{owner} is on bus {participant.bus!r}, not on {event.bus!r} nor below it"
        )
    if get_opt_in(kv, event.id, signer) is not None:
        raise ErrAlreadyOptedIn(f"{owner} already opted in to event {event.id}")
    remaining = event.requested_wh - event.committed_wh
    if msg.committed_wh > remaining:
        raise ErrExceedsRequest(
            f"commits {msg.committed_wh} Wh, but only {remaining} Wh of the "
            f"{event.requested_wh} Wh requested remain"
        )
    if event.opt_ins >= params.max_opt_ins:
        raise ErrTooManyOptIns(
            f"event {event.id} already has {event.opt_ins} opt-ins, the limit {params.max_opt_ins}"
        )
    collateral = delivery.amount(msg.committed_wh, event.penalty_per_kwh)
    _lock(ctx, signer, collateral, "collateral")
    record = dr_pb2.OptIn(
        event_id=event.id,
        participant=owner,
        committed_wh=msg.committed_wh,
        collateral=str(collateral),
        height=ctx.height,
    )
    kv.set(OPT_IN + u64(event.id) + signer, encode(record))
    kv.set(BY_PARTICIPANT + signer + u64(U64_MAX - event.id), b"\x01")
    delivery.claim(kv, signer, event.interval, SOURCE, event.id)
    event.committed_wh += msg.committed_wh
    event.opt_ins += 1
    _set_event(kv, event)
    ctx.emit(
        "demand_response_opt_in",
        event_id=event.id,
        participant=owner,
        committed_wh=msg.committed_wh,
        collateral=collateral,
    )
    return record


# ---------------------------------------------------------------------------
# End of block: close, settle, raise automatic events


def end_block(ctx: Context, settled: list[settlement_pb2.IntervalSettlement] | None = None) -> None:
    """Close events whose gate closed, settle those whose window ended, then raise
    automatic events for the intervals just settled. Costs two index lookups when
    nothing is due."""
    if not is_configured(ctx.kv):
        return
    _close_due(ctx)
    _settle_due(ctx)
    if settled:
        _raise_automatic(ctx, settled)


def _close_due(ctx: Context) -> None:
    kv = ctx.kv

    def gate_closed(n: int) -> bool:  # asked only when an event is open
        mparams, _ = market.get_params(kv)
        return n < market.first_open(market.get_state(kv), mparams, _now(ctx))

    due = due_entries(kv, _OPEN, gate_closed)
    for n, event_id in due:
        event = get_event(kv, event_id)
        assert event is not None and event.status == OPEN, f"open index names event {event_id}"
        index = u64(n) + u64(event_id)
        kv.delete(_OPEN + index)
        kv.set(_CLOSED + index, b"\x01")
        event.status = CLOSED
        _set_event(kv, event)
        ctx.emit(
            "demand_response_close",
            event_id=event_id,
            interval=n,
            opt_ins=event.opt_ins,
            committed_wh=event.committed_wh,
        )


def _settle_due(ctx: Context) -> None:
    kv = ctx.kv
    t = _now(ctx)
    due = due_entries(kv, _CLOSED, lambda n: settlement.window_end(kv, n) <= t)
    for n, event_id in due:
        kv.delete(_CLOSED + u64(n) + u64(event_id))
        settle_event(ctx, event_id)


def settle_event(ctx: Context, event_id: int) -> dr_pb2.Event:
    """Settle every opt-in of a closed event, refund the funder what the rewards
    left of the reserve, and record the totals."""
    kv = ctx.kv
    event = get_event(kv, event_id)
    assert event is not None and event.status == CLOSED, f"settling event {event_id}"
    penalty_account = crypto.decode_address(event.penalty_account)
    rewards = penalties = credited = shortfall = 0
    for record in list(opt_ins_of_event(kv, event_id)):
        participant = crypto.decode_address(record.participant)
        row = delivery.settle(
            ctx,
            delivery.Commitment(
                participant=participant,
                interval=event.interval,
                committed_wh=record.committed_wh,
                reward_per_kwh=event.reward_per_kwh,
                penalty_per_kwh=event.penalty_per_kwh,
                collateral=int(record.collateral),
                escrow=ESCROW,
                penalty_account=penalty_account,
                source=SOURCE,
            ),
        )
        record.settled = True
        record.delivery.CopyFrom(row)
        kv.set(OPT_IN + u64(event_id) + participant, encode(record))
        delivery.release(kv, participant, event.interval)
        rewards += int(row.reward)
        penalties += int(row.penalty)
        credited += row.credited_wh
        shortfall += row.shortfall_wh
    refund = int(event.reserve) - rewards
    assert refund >= 0, f"event {event_id}: rewards {rewards} exceed the reserve {event.reserve}"
    if refund:
        denom = bank.get_params(kv).denom
        bank.send(ctx, ESCROW, crypto.decode_address(event.funder), [Coin(denom, refund)])
    event.status = SETTLED
    event.credited_wh = credited
    event.shortfall_wh = shortfall
    event.rewards = str(rewards)
    event.penalties = str(penalties)
    event.settled_height = ctx.height
    _set_event(kv, event)
    ctx.emit(
        "demand_response_settle",
        event_id=event_id,
        interval=event.interval,
        opt_ins=event.opt_ins,
        credited_wh=credited,
        shortfall_wh=shortfall,
        rewards=rewards,
        penalties=penalties,
        refund=refund,
    )
    return event


def _raise_automatic(ctx: Context, settled: list[settlement_pb2.IntervalSettlement]) -> None:
    kv = ctx.kv
    params = get_params(kv)
    if not params.auto_threshold_wh:
        return
    for s in settled:
        if s.imbalance_bought_wh <= params.auto_threshold_wh:
            continue
        t = _now(ctx)
        state = market.get_state(kv)
        mparams, _ = market.get_params(kv)
        spec = EventSpec(
            interval=market.first_open(state, mparams, t) + params.auto_lead_intervals,
            bus="",
            requested_wh=min(s.imbalance_bought_wh, params.auto_max_request_wh),
            reward_per_kwh=params.auto_reward_per_kwh,
            penalty_per_kwh=params.auto_penalty_per_kwh,
            funder=params.auto_funder,
            penalty_account=settlement.get_params(kv).penalty_account,
            automatic=True,
            trigger_interval=s.interval,
            trigger_imbalance_wh=s.imbalance_bought_wh,
        )
        # end_block runs on the block's state: try on a branch, keep it only if it worked.
        branch = ctx.branch()
        try:
            market.check_interval_open(kv, spec.interval, t)
            _store_event(branch, spec)
            branch.kv.write()
            ctx.events.extend(branch.events)
        except ABCIError as err:
            ctx.emit(
                "demand_response_auto_skipped",
                trigger_interval=s.interval,
                imbalance_wh=s.imbalance_bought_wh,
                interval=spec.interval,
                requested_wh=spec.requested_wh,
                funder=crypto.encode_address(spec.funder),
                reason=err.log,
            )


# ---------------------------------------------------------------------------
# Invariants


def check_invariants(kv: KV) -> None:
    """ESCROW holds exactly the reserves of unsettled events and their opt-ins'
    collateral; every unsettled event is in the index of its status, and its
    totals agree with its opt-ins. Walks every event: for tests and audits."""
    if not is_configured(kv):
        return
    locked = 0
    for _, raw in kv.iterate(EVENT):
        event = dr_pb2.Event.FromString(raw)
        if event.status == SETTLED:
            continue
        index = u64(event.interval) + u64(event.id)
        expected = _OPEN if event.status == OPEN else _CLOSED
        if kv.get(expected + index) is None:
            raise AssertionError(f"event {event.id} ({event.status}) missing from its index")
        locked += int(event.reserve)
        committed = count = 0
        for record in opt_ins_of_event(kv, event.id):
            locked += int(record.collateral)
            committed += record.committed_wh
            count += 1
        if (committed, count) != (event.committed_wh, event.opt_ins):
            raise AssertionError(
                f"event {event.id} counts {event.opt_ins} opt-ins of {event.committed_wh} Wh, "
                f"its records {count} of {committed} Wh"
            )
        if committed > event.requested_wh:
            raise AssertionError(
                f"event {event.id}: {committed} Wh committed of {event.requested_wh} requested"
            )
    denom = bank.get_params(kv).denom
    held = bank.get_balance(kv, ESCROW, denom)
    if held != locked:
        raise AssertionError(
            f"demand-response escrow holds {held}{denom}, events and opt-ins lock {locked}{denom}"
        )
