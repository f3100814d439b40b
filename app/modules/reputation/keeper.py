"""Reputation keeper: a score per participant, moved by how well it kept its word.

DESIGN.md section 2, step 7. Settlement calls ``record`` once per
participant and settled interval in which it had contracts; nothing else
changes a score. Scores are integers in parts per million:

    accuracy = max(0, (contracted - |deviation|) * 10^6 // contracted)
    score'   = (score * (den - num) + accuracy * num) // den     weight = num/den

so a score is a convex combination of accuracies (bounded in [0, 10^6]) and
rises with accuracy. Effects, all parameters:
- a seller's collateral rate is scaled by ``1 - collateral_discount * score``;
- a score below ``suspension_threshold`` after an update suspends the
  participant from placing orders until ``suspension_intervals`` intervals
  after the current one;
- ``rebate_rate`` of the penalty pool is paid, after each settled interval,
  in equal shares to the ``rebate_top`` best-ranked participants that are
  not suspended.

Keys (prefix 0x06):
    0x06 0x00                            -> Params
    0x06 0x01 | addr(20)                 -> Score
    0x06 0x02 | (10^6 - score)(4) | addr -> 0x01  the ranking: best first, then by address
    0x06 0x03 | addr(20) | ~interval(8)  -> HistoryEntry  (newest first: the interval inverted)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

from app import crypto
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_REPUTATION, common
from app.modules.common import ParamsRecord, encode, format_fraction
from app.pb.mgrid.reputation.v1 import reputation_pb2

ErrInvalidParams = register("reputation", 2, "invalid reputation params")
ErrSuspended = register("reputation", 3, "suspended for poor reputation")

PPM = 1_000_000
_U64 = 2**64 - 1

_PARAMS = PREFIX_REPUTATION + b"\x00"
_SCORE = PREFIX_REPUTATION + b"\x01"
RANKING = PREFIX_REPUTATION + b"\x02"
HISTORY = PREFIX_REPUTATION + b"\x03"


@dataclass(frozen=True, slots=True)
class ReputationParams:
    initial_score: int
    weight: Fraction
    collateral_discount: Fraction
    suspension_threshold: int
    suspension_intervals: int
    rebate_rate: Fraction
    rebate_top: int


def _fraction(text: str, field: str) -> Fraction:
    try:
        return common.parse_fraction(text)
    except ValueError as exc:
        raise ErrInvalidParams(f"{field}: {exc}") from None


def parse_params(proto: reputation_pb2.Params) -> ReputationParams:
    if proto.initial_score > PPM:
        raise ErrInvalidParams(f"initial_score: at most {PPM} (ppm), got {proto.initial_score}")
    if proto.suspension_threshold > PPM:
        raise ErrInvalidParams(
            f"suspension_threshold: at most {PPM} (ppm), got {proto.suspension_threshold}"
        )
    weight = _fraction(proto.weight, "weight")
    if not 0 < weight <= 1:
        raise ErrInvalidParams(f"weight: must be in (0, 1], got {proto.weight}")
    discount = _fraction(proto.collateral_discount, "collateral_discount")
    rebate = _fraction(proto.rebate_rate, "rebate_rate")
    for name, value in (("collateral_discount", discount), ("rebate_rate", rebate)):
        if value > 1:
            raise ErrInvalidParams(f"{name}: must be in [0, 1], got {format_fraction(value)}")
    if proto.suspension_threshold and not proto.suspension_intervals:
        raise ErrInvalidParams("suspension_intervals: must be positive when a threshold is set")
    if rebate and not proto.rebate_top:
        raise ErrInvalidParams("rebate_top: must be positive when rebate_rate is set")
    return ReputationParams(
        initial_score=proto.initial_score,
        weight=weight,
        collateral_discount=discount,
        suspension_threshold=proto.suspension_threshold,
        suspension_intervals=proto.suspension_intervals,
        rebate_rate=rebate,
        rebate_top=proto.rebate_top,
    )


def params_to_proto(p: ReputationParams) -> reputation_pb2.Params:
    return reputation_pb2.Params(
        initial_score=p.initial_score,
        weight=format_fraction(p.weight),
        collateral_discount=format_fraction(p.collateral_discount),
        suspension_threshold=p.suspension_threshold,
        suspension_intervals=p.suspension_intervals,
        rebate_rate=format_fraction(p.rebate_rate),
        rebate_top=p.rebate_top,
    )


PARAMS = ParamsRecord(_PARAMS, reputation_pb2.Params, parse_params)
get_params = PARAMS.get


def is_configured(kv: KV) -> bool:
    return PARAMS.is_set(kv)


def init(kv: CacheKV, proto: reputation_pb2.Params) -> None:
    """Store the params in canonical form (fractions reduced: "0.5" -> "1/2")."""
    PARAMS.set(kv, params_to_proto(parse_params(proto)))


# ---------------------------------------------------------------------------
# Scores


def stored_score(kv: KV, address: bytes) -> reputation_pb2.Score | None:
    raw = kv.get(_SCORE + address)
    return reputation_pb2.Score.FromString(raw) if raw is not None else None


def get_score(kv: KV, address: bytes) -> reputation_pb2.Score:
    """The participant's score; the initial one (unranked) if it was never settled."""
    found = stored_score(kv, address)
    if found is not None:
        return found
    initial = get_params(kv).initial_score if is_configured(kv) else PPM
    return reputation_pb2.Score(
        participant=crypto.encode_address(address), score=initial, rebates="0"
    )


def _rank_key(score: int, address: bytes) -> bytes:
    return RANKING + (PPM - score).to_bytes(4, "big") + address


def _history_key(address: bytes, interval: int, source: str = "") -> bytes:
    return HISTORY + address + (_U64 - interval).to_bytes(8, "big") + source.encode()


def _store(
    kv: CacheKV, address: bytes, old: reputation_pb2.Score | None, new: reputation_pb2.Score
) -> None:
    if old is not None:
        kv.delete(_rank_key(old.score, address))
    kv.set(_rank_key(new.score, address), b"\x01")
    kv.set(_SCORE + address, encode(new))


def updated_score(score: int, accuracy: int, weight: Fraction) -> int:
    num, den = weight.numerator, weight.denominator
    return (score * (den - num) + accuracy * num) // den


def accuracy_ppm(contracted_wh: int, deviation_wh: int) -> int:
    """max(0, 1 - |deviation| / contracted) in ppm, rounded down; contracted > 0."""
    return max(0, (contracted_wh - abs(deviation_wh)) * PPM // contracted_wh)


def record(
    ctx: Context,
    address: bytes,
    interval: int,
    contracted_wh: int,
    deviation_wh: int,
    current_interval: int,
    source: str = "",
) -> tuple[int, int, int]:
    """Fold one settled interval into the participant's score.

    ``source`` names what was judged when it is not the interval's market
    settlement ("demand_response", "flexibility"): a participant may be
    judged on several commitments of one interval, each its own history entry.

    Returns (accuracy, score before, score after). Suspends the participant
    when the new score is below the threshold.
    """
    params = get_params(ctx.kv)
    old = stored_score(ctx.kv, address)
    score = get_score(ctx.kv, address)
    before = score.score
    accuracy = accuracy_ppm(contracted_wh, deviation_wh)
    after = updated_score(before, accuracy, params.weight)
    new = reputation_pb2.Score()
    new.CopyFrom(score)
    new.score = after
    new.intervals += 1
    new.last_interval = interval
    suspended = bool(params.suspension_threshold) and after < params.suspension_threshold
    if suspended:
        new.suspended_until = current_interval + 1 + params.suspension_intervals
        new.suspensions += 1
    _store(ctx.kv, address, old, new)
    ctx.kv.set(
        _history_key(address, interval, source),
        encode(
            reputation_pb2.HistoryEntry(
                interval=interval,
                accuracy=accuracy,
                score_before=before,
                score_after=after,
                contracted_wh=contracted_wh,
                deviation_wh=deviation_wh,
                suspended=suspended,
                source=source,
            )
        ),
    )
    owner = crypto.encode_address(address)
    ctx.emit(
        "reputation_update",
        participant=owner,
        interval=interval,
        accuracy=accuracy,
        score_before=before,
        score_after=after,
        source=source,
    )
    if suspended:
        ctx.emit(
            "reputation_suspend",
            participant=owner,
            score=after,
            threshold=params.suspension_threshold,
            until_interval=new.suspended_until,
        )
    return accuracy, before, after


def require_not_suspended(kv: KV, address: bytes, current_interval: int) -> None:
    """Refuse a new order from a participant whose suspension has not run out."""
    found = stored_score(kv, address)
    if found is not None and current_interval < found.suspended_until:
        raise ErrSuspended(
            f"{found.participant} has score {found.score} ppm and may place orders again "
            f"from interval {found.suspended_until} (now {current_interval})"
        )


def collateral_factor(kv: KV, address: bytes) -> Fraction:
    """What a seller's collateral rate is multiplied by: 1 - discount * score."""
    if not is_configured(kv):
        return _ONE
    params = get_params(kv)
    if not params.collateral_discount:
        return _ONE
    found = stored_score(kv, address)
    score = found.score if found is not None else params.initial_score
    return _factor(params.collateral_discount, score)


_ONE = Fraction(1)


@functools.lru_cache(maxsize=4096)
def _factor(discount: Fraction, score: int) -> Fraction:
    # Fraction arithmetic costs microseconds; every seller's order asks.
    return 1 - discount * Fraction(score, PPM)


def rebate_recipients(kv: KV, limit: int, current_interval: int) -> list[bytes]:
    """The ``limit`` best-ranked participants not suspended at ``current_interval``."""
    out: list[bytes] = []
    for key, _ in kv.iterate(RANKING):
        if len(out) == limit:
            break
        address = key[len(RANKING) + 4 :]
        score = stored_score(kv, address)
        assert score is not None, "ranking entry without a score"
        if current_interval >= score.suspended_until:
            out.append(address)
    return out


def rank_of(kv: KV, address: bytes) -> int:
    """1-based rank, 0 when unranked. Walks the ranking: for queries."""
    score = stored_score(kv, address)
    if score is None:
        return 0
    mine = _rank_key(score.score, address)
    for i, (key, _) in enumerate(kv.iterate(RANKING), 1):
        if key == mine:
            return i
    raise RuntimeError(f"score of {score.participant} is missing from the ranking")


def add_rebate(kv: CacheKV, address: bytes, amount: int) -> None:
    score = stored_score(kv, address)
    assert score is not None, "rebates go to ranked participants"
    score.rebates = str(int(score.rebates or "0") + amount)
    kv.set(_SCORE + address, encode(score))
