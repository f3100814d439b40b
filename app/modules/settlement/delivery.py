"""Delivered flexibility: baselines, and settling a commitment to consume less.

Shared by the grid-service modules (demand_response, flexibility): a
participant commits to reduce its consumption in interval n, and after n's
settlement window its meters say how much it did. Energy in Wh, rates per
kWh in the denom's smallest unit, as in the market.

Net consumption of participant p in interval m = the sum over p's meters of
(imported_wh - exported_wh) as reported (raw: a baseline and the interval it
is compared with are measured the same way, so network losses cancel out).
It is unknown when none of p's meters reported m.

Baseline of p for n (settlement params ``baseline_intervals`` N and
``baseline_stride`` s): the comparable intervals are n - s, n - 2s, ...,
n - N*s (those >= 0); the baseline is the average net consumption over
those with a reading, rounded down (towards minus infinity: a prosumer's net
consumption may be negative); 0 when none has one. A stride of 1 compares
with the intervals just before; a stride of one day's intervals with the
same time on earlier days, as utilities' "X of Y" baselines do.

Settling a commitment of C Wh at reward rate r and penalty rate q:
    delivered = baseline - metered          (0 when n has no reading: not
                                             reporting must never pay)
    credited  = min(max(delivered, 0), C)
    shortfall = C - credited
    reward    = floor(credited * r / 1000)  paid from the escrow (the funder's reserve)
    penalty   = floor(shortfall * q / 1000) taken from the participant's collateral
The collateral, floor(C * q / 1000), was locked at commitment, so it always
covers the penalty; what the penalty leaves returns to the participant.
Reputation moves as for a market contract of C Wh with deviation shortfall
(accuracy = credited / C), recorded under the commitment's source.

One commitment per participant and interval, across modules: every
commitment of p for n is measured against the same baseline, so a second one
(another demand-response event, a flexibility offer) would be paid again for
the same reduction. ``claim`` records which commitment holds p's interval n
(key 0x05 0x30 | address(20) | interval(8) -> "source/id") and refuses
another; ``release`` frees it (an offer not selected, a commitment settled).
"""

from __future__ import annotations

from dataclasses import dataclass

from app import crypto
from app.coins import Coin
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_SETTLEMENT
from app.modules.bank import keeper as bank
from app.modules.market import keeper as market
from app.modules.registry import keeper as registry
from app.modules.reputation import keeper as reputation
from app.modules.settlement import keeper
from app.pb.mgrid.settlement.v1 import settlement_pb2

ErrAlreadyCommitted = register("settlement", 13, "flexibility already committed for the interval")

WH_PER_KWH = 1000
_CLAIM = PREFIX_SETTLEMENT + b"\x30"


def amount(wh: int, rate_per_kwh: int) -> int:
    """Money for ``wh`` at ``rate_per_kwh``: floor(wh * rate / 1000), the market's rounding."""
    return wh * rate_per_kwh // WH_PER_KWH


def metered(kv: KV, address: bytes, n: int) -> tuple[int, int] | None:
    """(imported_wh, exported_wh) over p's meters in interval n, as reported;
    None when none of them reported n."""
    imported = exported = 0
    seen = False
    for meter in registry.meters_of(kv, address):
        reading = keeper.get_reading(kv, n, meter.pub_key)
        if reading is not None:
            imported += reading.imported_wh
            exported += reading.exported_wh
            seen = True
    return (imported, exported) if seen else None


def net_consumption(kv: KV, address: bytes, n: int) -> int | None:
    """p's metered imported - exported in interval n; None without any reading."""
    found = metered(kv, address, n)
    return found[0] - found[1] if found is not None else None


def comparable_intervals(kv: KV, n: int) -> list[int]:
    """n - s, n - 2s, ... (newest first), at most ``baseline_intervals`` of them, all >= 0."""
    params = keeper.get_params(kv)
    s = params.baseline_stride
    return [n - k * s for k in range(1, params.baseline_intervals + 1) if n - k * s >= 0]


@dataclass(frozen=True, slots=True)
class Baseline:
    wh: int
    samples: int
    intervals: tuple[int, ...]


def baseline(kv: KV, address: bytes, n: int) -> Baseline:
    intervals = comparable_intervals(kv, n)
    values = [v for m in intervals if (v := net_consumption(kv, address, m)) is not None]
    wh = sum(values) // len(values) if values else 0
    return Baseline(wh, len(values), tuple(intervals))


def claim(kv: CacheKV, participant: bytes, n: int, source: str, ref: int) -> None:
    """Record that ``source`` commitment ``ref`` holds p's flexibility in interval n.

    Raises ErrAlreadyCommitted naming the commitment that already does.
    """
    key = _CLAIM + participant + n.to_bytes(8, "big")
    held = kv.get(key)
    if held is not None:
        raise ErrAlreadyCommitted(
            f"{crypto.encode_address(participant)} already committed its flexibility in "
            f"interval {n} to {held.decode()}; one commitment per interval, since each is "
            "measured against the same baseline"
        )
    kv.set(key, f"{source}/{ref}".encode())


def release(kv: CacheKV, participant: bytes, n: int) -> None:
    kv.delete(_CLAIM + participant + n.to_bytes(8, "big"))


@dataclass(frozen=True, slots=True)
class Commitment:
    """What a participant promised, and the money that stands behind it."""

    participant: bytes
    interval: int
    committed_wh: int
    reward_per_kwh: int
    penalty_per_kwh: int
    collateral: int  # locked in ``escrow`` by the participant
    escrow: bytes  # the module account holding the collateral and the funder's reserve
    penalty_account: bytes
    source: str  # "demand_response" or "flexibility" (reputation history)


def settle(ctx: Context, c: Commitment) -> settlement_pb2.Delivery:
    """Measure and pay one commitment (module docstring); returns its record.

    Moves: escrow -> participant (reward), escrow -> penalty account
    (penalty), escrow -> participant (collateral the penalty did not take).
    The caller returns what is left of the funder's reserve.
    """
    kv = ctx.kv
    base = baseline(kv, c.participant, c.interval)
    metered = net_consumption(kv, c.participant, c.interval)
    delivered = base.wh - metered if metered is not None else 0
    credited = min(max(delivered, 0), c.committed_wh)
    shortfall = c.committed_wh - credited
    reward = amount(credited, c.reward_per_kwh)
    penalty = amount(shortfall, c.penalty_per_kwh)
    if penalty > c.collateral:
        raise AssertionError(f"penalty {penalty} exceeds the collateral {c.collateral}")
    denom = bank.get_params(kv).denom
    for to, money in (
        (c.participant, reward + c.collateral - penalty),
        (c.penalty_account, penalty),
    ):
        if money:
            bank.send(ctx, c.escrow, to, [Coin(denom, money)])
    row = settlement_pb2.Delivery(
        interval=c.interval,
        baseline_wh=base.wh,
        baseline_samples=base.samples,
        metered_wh=metered or 0,
        missing_reading=metered is None,
        delivered_wh=delivered,
        committed_wh=c.committed_wh,
        credited_wh=credited,
        shortfall_wh=shortfall,
        reward=str(reward),
        penalty=str(penalty),
    )
    if reputation.is_configured(kv):
        score = reputation.get_score(kv, c.participant).score
        row.score_before = row.score_after = score
        if c.committed_wh:
            state = market.get_state(kv)
            params, _ = market.get_params(kv)
            now = market.current_interval(state, params, ctx.time_ns // market.NS_PER_S)
            _, row.score_before, row.score_after = reputation.record(
                ctx, c.participant, c.interval, c.committed_wh, shortfall, now, c.source
            )
    ctx.emit(
        "settlement_delivery",
        source=c.source,
        participant=crypto.encode_address(c.participant),
        interval=c.interval,
        baseline_wh=base.wh,
        metered_wh=row.metered_wh,
        missing_reading=str(row.missing_reading).lower(),
        committed_wh=c.committed_wh,
        credited_wh=credited,
        shortfall_wh=shortfall,
        reward=reward,
        penalty=penalty,
    )
    return row
