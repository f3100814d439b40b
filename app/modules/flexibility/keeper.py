"""Flexibility keeper: the DSO's flexibility auction (issue 10, item 2).

The utility cell posts a *need*: less consumption on a bus (and the buses
below it) or on the whole microgrid, in one delivery interval, up to a
maximum price. Participants offer flexibility with a quantity and a price.
At the interval's gate closure the offers are selected (selection.py) and
after its settlement window each selected offer is measured against its
baseline and paid its own price (app/modules/settlement/delivery.py).
Energy in Wh, prices and penalties per kWh in the denom's smallest unit;
every amount is floor(Wh * rate / 1000), the market's rounding.

Posting a need (MsgPostNeed, the utility cell only). The interval's gate
must still be open (market.check_interval_open); ``bus`` is empty (the whole
microgrid) or a bus of the network; 1 <= quantity_wh <= MAX_QUANTITY_WH,
1 <= max_price_per_kwh <= MAX_RATE, penalty_per_kwh <= MAX_RATE.
``penalty_account`` defaults to the settlement params' penalty account, read
when the need is posted and kept in the need. The buyer (the signer) locks
    reserve = floor(quantity_wh * max_price_per_kwh / 1000)
in ESCROW. Needs are numbered by a counter from 1. Status OPEN.

Offering (MsgOfferFlexibility). The need is OPEN and its interval's gate
still open; the signer is an approved participant, not suspended by
reputation, not the need's buyer, on the need's bus or a bus below it
(walking up the network's parents; an empty bus admits everyone); it has no
other commitment in the same interval, an offer or a demand-response
opt-in (settlement.delivery.claim: a reduction is measured once per interval,
so it can be paid once; this also means one offer per provider and need); 1 <= quantity_wh <= MAX_QUANTITY_WH; price_per_kwh <= the need's
max_price_per_kwh (the selection never takes a dearer offer either, so the
rule holds twice). The provider locks
    collateral = floor(quantity_wh * penalty_per_kwh / 1000)
in ESCROW. Offers are numbered by a counter from 1: submission order.
Aggregators: a participant with several meters registered to it offers the
flexibility of all of them, since delivery sums net consumption over every
meter of the participant (baseline and interval alike).

Award (end_block, the first block at or after the interval's gate closure,
needs in (interval, id) order). ``selection.select`` picks the offers:
cheapest first, equal prices by offer id, offers above the maximum price
never, the last one partly. A selected offer gets awarded_wh and keeps
collateral floor(awarded_wh * penalty_per_kwh / 1000), the rest returns to
it; an unselected offer gets its whole collateral back (its collateral
becomes 0). award_cost = sum over selected of floor(awarded_i * price_i /
1000) <= reserve (prices <= max, awarded total <= quantity, a sum of floors
<= the floor of the sum); the buyer gets reserve - award_cost back at once.
Status AWARDED (also when nothing was selected: the need then settles to
nothing after the window, so every need goes through the same steps).

Settlement (end_block, the first block at or after the interval's
settlement window end, settlement.keeper.window_end, after the settlement
module has settled the interval). Each selected offer, in offer id order,
goes through delivery.settle as a commitment of awarded_wh at reward rate
= its own price and penalty rate = the need's penalty, backed by its
collateral, penalties to the need's penalty account, reputation recorded
under source "flexibility". Payments = sum of rewards <= award_cost
(credited <= awarded); the buyer gets award_cost - payments back. Status
SETTLED, with the totals (credited, shortfall, payments, penalties).

Invariant: ESCROW holds the reserve of every OPEN need, the award_cost of
every AWARDED need, and the collateral of every offer of a need not yet
SETTLED.

Events: flexibility_need, flexibility_offer, flexibility_award (one per
selected offer, in selection order), flexibility_close, flexibility_settle;
delivery.settle adds a settlement_delivery per selected offer.

Keys (prefix 0x0a):
    0x0a 0x00                            -> next need id, decimal
    0x0a 0x01                            -> next offer id, decimal
    0x0a 0x10 | need(8)                  -> Need
    0x0a 0x11 | interval(8) | need(8)    -> 0x01  needs of an interval
    0x0a 0x12 | interval(8) | need(8)    -> 0x01  OPEN needs, awarded at the gate closure
    0x0a 0x13 | interval(8) | need(8)    -> 0x01  AWARDED needs, settled after the window
    0x0a 0x20 | offer(8)                 -> Offer
    0x0a 0x21 | need(8) | offer(8)       -> 0x01  offers of a need, in submission order
    0x0a 0x22 | provider(20) | ~offer(8) -> 0x01  offers of a provider, newest first
Integers in keys are big-endian, so key order is numeric order.
"""

from __future__ import annotations

from collections.abc import Iterator

from app import crypto
from app.coins import Coin
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_FLEXIBILITY
from app.modules.bank import keeper as bank
from app.modules.common import due_entries, encode, parse_address, take_counter
from app.modules.flexibility import selection
from app.modules.market import keeper as market
from app.modules.registry import keeper as registry
from app.modules.reputation import keeper as reputation
from app.modules.settlement import delivery
from app.modules.settlement import keeper as settlement
from app.pb.mgrid.flexibility.v1 import flexibility_pb2
from app.pb.mgrid.registry.v1 import registry_pb2

ErrInvalidQuantity = register("flexibility", 2, "invalid quantity")
ErrInvalidPrice = register("flexibility", 3, "invalid price")
ErrUnknownBus = register("flexibility", 4, "unknown bus")
ErrNeedNotFound = register("flexibility", 5, "need not found")
ErrNeedNotOpen = register("flexibility", 6, "need not open")
ErrPriceAboveMax = register("flexibility", 7, "price above the need's maximum")
ErrNotParticipant = register("flexibility", 8, "not a registered participant")
ErrNotApproved = register("flexibility", 9, "participant not approved")
ErrOutsideBus = register("flexibility", 10, "participant outside the need's bus")
# code 11 ("already offered in this interval") became settlement 13, shared with
# demand response: settlement.delivery.claim
ErrInsufficientFunds = register("flexibility", 12, "insufficient funds")
ErrOwnNeed = register("flexibility", 13, "offer on one's own need")

ESCROW = bank.module_address("flexibility")
SOURCE = "flexibility"  # reputation history and settlement_delivery events
MAX_QUANTITY_WH = 10**12  # as the market's MAX_ORDER_WH
MAX_RATE = 10**9  # per kWh: max price and penalty

OPEN = flexibility_pb2.NEED_STATUS_OPEN
AWARDED = flexibility_pb2.NEED_STATUS_AWARDED
SETTLED = flexibility_pb2.NEED_STATUS_SETTLED

_NEXT_NEED = PREFIX_FLEXIBILITY + b"\x00"
_NEXT_OFFER = PREFIX_FLEXIBILITY + b"\x01"
NEED = PREFIX_FLEXIBILITY + b"\x10"
NEEDS_BY_INTERVAL = PREFIX_FLEXIBILITY + b"\x11"
_TO_AWARD = PREFIX_FLEXIBILITY + b"\x12"
_TO_SETTLE = PREFIX_FLEXIBILITY + b"\x13"
_OFFER = PREFIX_FLEXIBILITY + b"\x20"
OFFERS_OF_NEED = PREFIX_FLEXIBILITY + b"\x21"
OFFERS_BY_PROVIDER = PREFIX_FLEXIBILITY + b"\x22"

u64 = market.u64
U64_MAX = 2**64 - 1


def _now(ctx: Context) -> int:
    return ctx.time_ns // market.NS_PER_S


def _id_of(key: bytes) -> int:
    return int.from_bytes(key[-8:], "big")


def _interval_of(key: bytes, prefix: bytes) -> int:
    return int.from_bytes(key[len(prefix) : len(prefix) + 8], "big")


def provider_offer_key(provider: bytes, offer_id: int) -> bytes:
    return OFFERS_BY_PROVIDER + provider + u64(U64_MAX - offer_id)


# ---------------------------------------------------------------------------
# Records


def get_need(kv: KV, need_id: int) -> flexibility_pb2.Need | None:
    raw = kv.get(NEED + u64(need_id))
    return flexibility_pb2.Need.FromString(raw) if raw is not None else None


def _set_need(kv: CacheKV, need: flexibility_pb2.Need) -> None:
    kv.set(NEED + u64(need.id), encode(need))


def get_offer(kv: KV, offer_id: int) -> flexibility_pb2.Offer | None:
    raw = kv.get(_OFFER + u64(offer_id))
    return flexibility_pb2.Offer.FromString(raw) if raw is not None else None


def _set_offer(kv: CacheKV, offer: flexibility_pb2.Offer) -> None:
    kv.set(_OFFER + u64(offer.id), encode(offer))


def offers_of_need(kv: KV, need_id: int) -> Iterator[flexibility_pb2.Offer]:
    """A need's offers in submission order."""
    for key, _ in kv.iterate(OFFERS_OF_NEED + u64(need_id)):
        offer = get_offer(kv, _id_of(key))
        assert offer is not None, "offer index entry without an offer"
        yield offer


# ---------------------------------------------------------------------------
# Messages


def _lock(ctx: Context, owner: bytes, amount: int, what: str) -> None:
    if not amount:
        return
    denom = bank.get_params(ctx.kv).denom
    try:
        bank.send(ctx, owner, ESCROW, [Coin(denom, amount)])
    except bank.ErrInsufficientFunds as err:
        raise ErrInsufficientFunds(f"{what} of {amount}{denom} needed: {err.detail}") from None


def _pay(ctx: Context, to: bytes, amount: int) -> None:
    if amount:
        bank.send(ctx, ESCROW, to, [Coin(bank.get_params(ctx.kv).denom, amount)])


def post_need(
    ctx: Context, signer: bytes, msg: flexibility_pb2.MsgPostNeed
) -> flexibility_pb2.Need:
    """MsgPostNeed (module docstring); stateless checks are msgs.validate_post_flex_need's."""
    kv = ctx.kv
    registry.require_utility(kv, signer)
    n = msg.interval
    market.check_interval_open(kv, n, _now(ctx))
    if msg.bus and not registry.has_bus(kv, msg.bus):
        raise ErrUnknownBus(f"bus {msg.bus!r} is not in the network")
    if msg.penalty_account:
        penalty_account = parse_address(msg.penalty_account, "penalty_account")
    else:
        penalty_account = settlement.get_params(kv).penalty_account
    reserve = delivery.amount(msg.quantity_wh, msg.max_price_per_kwh)
    _lock(ctx, signer, reserve, "reserve")
    need = flexibility_pb2.Need(
        id=take_counter(kv, _NEXT_NEED),
        interval=n,
        bus=msg.bus,
        quantity_wh=msg.quantity_wh,
        max_price_per_kwh=msg.max_price_per_kwh,
        penalty_per_kwh=msg.penalty_per_kwh,
        buyer=crypto.encode_address(signer),
        penalty_account=crypto.encode_address(penalty_account),
        created_height=ctx.height,
        status=OPEN,
        reserve=str(reserve),
        award_cost="0",
        payments="0",
        penalties="0",
    )
    _set_need(kv, need)
    kv.set(NEEDS_BY_INTERVAL + u64(n) + u64(need.id), b"\x01")
    kv.set(_TO_AWARD + u64(n) + u64(need.id), b"\x01")
    ctx.emit(
        "flexibility_need",
        id=need.id,
        interval=n,
        bus=need.bus,
        quantity_wh=need.quantity_wh,
        max_price_per_kwh=need.max_price_per_kwh,
        penalty_per_kwh=need.penalty_per_kwh,
        buyer=need.buyer,
        penalty_account=need.penalty_account,
        reserve=reserve,
    )
    return need


def offer_flexibility(
    ctx: Context, signer: bytes, msg: flexibility_pb2.MsgOfferFlexibility
) -> flexibility_pb2.Offer:
    """MsgOfferFlexibility (module docstring); stateless checks are msgs'."""
    kv = ctx.kv
    need = get_need(kv, msg.need_id)
    if need is None:
        raise ErrNeedNotFound(f"no need {msg.need_id}")
    if need.status != OPEN:
        status = flexibility_pb2.NeedStatus.Name(need.status).removeprefix("NEED_STATUS_").lower()
        raise ErrNeedNotOpen(f"need {need.id} is {status}")
    t = _now(ctx)
    n = need.interval
    market.check_interval_open(kv, n, t)
    if msg.price_per_kwh > need.max_price_per_kwh:
        raise ErrPriceAboveMax(
            f"price {msg.price_per_kwh} per kWh is above need {need.id}'s maximum "
            f"{need.max_price_per_kwh}"
        )
    provider = crypto.encode_address(signer)
    if provider == need.buyer:
        raise ErrOwnNeed(f"{provider} posted need {need.id}")
    participant = registry.get_participant(kv, signer)
    if participant is None:
        raise ErrNotParticipant(f"{provider} has not applied to the registry")
    if participant.status != registry_pb2.STATUS_APPROVED:
        status = registry.status_name(participant.status)
        raise ErrNotApproved(f"{provider} is {status}; only approved participants offer")
    state = market.get_state(kv)
    params, _ = market.get_params(kv)
    reputation.require_not_suspended(kv, signer, market.current_interval(state, params, t))
    if not registry.bus_within(kv, participant.bus, need.bus):
        raise ErrOutsideBus(
            f"{provider} is on bus {participant.bus!r}, neither {need.bus!r} nor below it"
        )
    collateral = delivery.amount(msg.quantity_wh, need.penalty_per_kwh)
    _lock(ctx, signer, collateral, "collateral")
    offer = flexibility_pb2.Offer(
        id=take_counter(kv, _NEXT_OFFER),
        need_id=need.id,
        provider=provider,
        quantity_wh=msg.quantity_wh,
        price_per_kwh=msg.price_per_kwh,
        height=ctx.height,
        collateral=str(collateral),
    )
    need.offers += 1
    _set_need(kv, need)
    _set_offer(kv, offer)
    kv.set(OFFERS_OF_NEED + u64(need.id) + u64(offer.id), b"\x01")
    kv.set(provider_offer_key(signer, offer.id), b"\x01")
    delivery.claim(kv, signer, n, SOURCE, offer.id)
    ctx.emit(
        "flexibility_offer",
        offer_id=offer.id,
        need_id=need.id,
        provider=provider,
        quantity_wh=offer.quantity_wh,
        price_per_kwh=offer.price_per_kwh,
        collateral=collateral,
    )
    return offer


# ---------------------------------------------------------------------------
# End of block: awards at gate closure, settlement after the window


def end_block(ctx: Context) -> None:
    """Award the needs whose gate has closed, then settle those whose window has ended."""
    kv = ctx.kv
    if not market.is_configured(kv):
        return
    t = _now(ctx)
    due = due_entries(kv, _TO_AWARD, lambda n: _gate_closure(kv, n) <= t)
    for n, need_id in due:
        kv.delete(_TO_AWARD + u64(n) + u64(need_id))
        _award(ctx, _need(kv, need_id))
    due = due_entries(kv, _TO_SETTLE, lambda n: settlement.window_end(kv, n) <= t)
    for n, need_id in due:
        kv.delete(_TO_SETTLE + u64(n) + u64(need_id))
        _settle(ctx, _need(kv, need_id))


def _gate_closure(kv: KV, n: int) -> int:
    state = market.get_state(kv)
    params, _ = market.get_params(kv)
    return market.gate_closure(state, params, n)


def _need(kv: KV, need_id: int) -> flexibility_pb2.Need:
    need = get_need(kv, need_id)
    assert need is not None, f"index entry for a missing need {need_id}"
    return need


def _award(ctx: Context, need: flexibility_pb2.Need) -> None:
    kv = ctx.kv
    offers = list(offers_of_need(kv, need.id))
    chosen = selection.select(
        [selection.Offer(o.id, o.quantity_wh, o.price_per_kwh) for o in offers],
        need.quantity_wh,
        need.max_price_per_kwh,
    )
    awarded = dict(chosen)
    by_id = {o.id: o for o in offers}
    award_cost = 0
    for o in offers:  # offer id order
        a = awarded.get(o.id, 0)
        keep = delivery.amount(a, need.penalty_per_kwh)  # 0 when not selected
        refund = int(o.collateral) - keep
        assert refund >= 0, "collateral kept above the collateral locked"
        award_cost += delivery.amount(a, o.price_per_kwh)
        o.selected, o.awarded_wh, o.collateral = a > 0, a, str(keep)
        provider = crypto.decode_address(o.provider)
        _pay(ctx, provider, refund)
        if not a:  # free for another commitment (a later need cannot use it: the gate closed)
            delivery.release(kv, provider, need.interval)
        _set_offer(kv, o)
    reserve = int(need.reserve)
    if award_cost > reserve:
        raise AssertionError(f"need {need.id}: award cost {award_cost} above reserve {reserve}")
    refund = reserve - award_cost
    _pay(ctx, crypto.decode_address(need.buyer), refund)
    need.awarded_wh = sum(awarded.values())
    need.selected = len(chosen)
    need.award_cost = str(award_cost)
    need.status = AWARDED
    _set_need(kv, need)
    kv.set(_TO_SETTLE + u64(need.interval) + u64(need.id), b"\x01")
    for offer_id, a in chosen:  # selection order: cheapest first
        o = by_id[offer_id]
        ctx.emit(
            "flexibility_award",
            need_id=need.id,
            offer_id=offer_id,
            provider=o.provider,
            awarded_wh=a,
            price_per_kwh=o.price_per_kwh,
            collateral=o.collateral,
        )
    ctx.emit(
        "flexibility_close",
        need_id=need.id,
        interval=need.interval,
        awarded_wh=need.awarded_wh,
        selected=need.selected,
        award_cost=award_cost,
        refund=refund,
    )


def _settle(ctx: Context, need: flexibility_pb2.Need) -> None:
    kv = ctx.kv
    penalty_account = crypto.decode_address(need.penalty_account)
    credited = shortfall = payments = penalties = 0
    for o in offers_of_need(kv, need.id):  # offer id order
        if not o.selected:
            continue
        row = delivery.settle(
            ctx,
            delivery.Commitment(
                participant=crypto.decode_address(o.provider),
                interval=need.interval,
                committed_wh=o.awarded_wh,
                reward_per_kwh=o.price_per_kwh,
                penalty_per_kwh=need.penalty_per_kwh,
                collateral=int(o.collateral),
                escrow=ESCROW,
                penalty_account=penalty_account,
                source=SOURCE,
            ),
        )
        o.delivery.CopyFrom(row)
        o.settled = True
        delivery.release(kv, crypto.decode_address(o.provider), need.interval)
        _set_offer(kv, o)
        credited += row.credited_wh
        shortfall += row.shortfall_wh
        payments += int(row.reward)
        penalties += int(row.penalty)
    award_cost = int(need.award_cost)
    if payments > award_cost:
        raise AssertionError(f"need {need.id}: payments {payments} above award cost {award_cost}")
    refund = award_cost - payments
    _pay(ctx, crypto.decode_address(need.buyer), refund)
    need.credited_wh, need.shortfall_wh = credited, shortfall
    need.payments, need.penalties = str(payments), str(penalties)
    need.settled_height = ctx.height
    need.status = SETTLED
    _set_need(kv, need)
    ctx.emit(
        "flexibility_settle",
        need_id=need.id,
        interval=need.interval,
        credited_wh=credited,
        shortfall_wh=shortfall,
        payments=payments,
        penalties=penalties,
        refund=refund,
    )


# ---------------------------------------------------------------------------
# Invariants


def check_invariants(kv: KV) -> None:
    """ESCROW holds exactly what the module owes; the due-lists match the statuses.

    Walks every need: for tests and audits. Raises AssertionError.
    """
    locked = 0
    to_award, to_settle = set(), set()
    for _, raw in kv.iterate(NEED):
        need = flexibility_pb2.Need.FromString(raw)
        if need.status == SETTLED:
            continue
        if need.status == OPEN:
            locked += int(need.reserve)
            to_award.add((need.interval, need.id))
        else:
            locked += int(need.award_cost)
            to_settle.add((need.interval, need.id))
        locked += sum(int(o.collateral) for o in offers_of_need(kv, need.id))
    denom = bank.get_params(kv).denom
    held = bank.get_balance(kv, ESCROW, denom)
    if held != locked:
        raise AssertionError(
            f"flexibility escrow holds {held}{denom}, needs and offers lock {locked}{denom}"
        )
    for prefix, expected in ((_TO_AWARD, to_award), (_TO_SETTLE, to_settle)):
        listed = {(_interval_of(k, prefix), _id_of(k)) for k, _ in kv.iterate(prefix)}
        if listed != expected:
            raise AssertionError(
                f"due list {prefix.hex()} holds {sorted(listed)}, expected {sorted(expected)}"
            )
