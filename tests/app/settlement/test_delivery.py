"""app/modules/settlement/delivery.py, table by table: baselines over comparable
intervals (stride 1 and more, intervals without readings skipped, rounding
down below zero, no history, several meters summed) and ``settle``'s amounts,
on the genesis state of the market tests' microgrid (readings written straight
into a branch of the block state, so any interval can be given one)."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.coins import Coin
from app.context import Context, Mode
from app.crypto import PrivateKey
from app.modules.bank import keeper as bank
from app.modules.common import encode
from app.modules.registry import keeper as registry
from app.modules.reputation import keeper as reputation
from app.modules.settlement import delivery
from app.modules.settlement import keeper as settlement
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.market.conftest import ALICE, BOB, METERS, Market
from tests.support.txs import key

SECOND_METER = key(80)
ESCROW = bank.module_address("delivery_test_escrow")
N = 1000  # the interval a commitment is for


def ctx_of(market: Market) -> Context:
    """A context on a branch of the committed state, at the last block's time."""
    node = market.node
    kv = node.chain.block_kv.branch()
    return Context(kv, node.height + 1, node.time_ns, node.chain_id, Mode.DELIVER)


def set_baseline_params(ctx: Context, intervals: int, stride: int) -> None:
    params = settlement.PARAMS.proto(ctx.kv)
    params.baseline_intervals, params.baseline_stride = intervals, stride
    settlement.PARAMS.set(ctx.kv, params)


def write_reading(
    ctx: Context,
    who: PrivateKey,
    n: int,
    exported: int,
    imported: int,
    meter: PrivateKey | None = None,
) -> None:
    meter = meter or METERS[who.address]
    reading = settlement_pb2.Reading(
        meter=meter.public_key,
        participant=who.address,
        interval=n,
        exported_wh=exported,
        imported_wh=imported,
        sequence=n,
    )
    ctx.kv.set(settlement.READING + settlement.u64(n) + meter.public_key, encode(reading))


# intervals N, stride s, readings {interval: (exported, imported)} of ALICE's meter,
# the interval n, and (baseline Wh, samples, comparable intervals newest first)
BASELINES = [
    ("stride 1", 4, 1, {999: (0, 400), 998: (0, 300), 997: (0, 200), 996: (0, 100)}, N,
     (250, 4, (999, 998, 997, 996))),
    ("older intervals not compared", 2, 1, {999: (0, 400), 998: (0, 300), 997: (0, 9000)}, N,
     (350, 2, (999, 998))),
    ("intervals without readings skipped", 4, 1, {999: (0, 100), 997: (0, 300)}, N,
     (200, 2, (999, 998, 997, 996))),
    # the same time on earlier "days" of 4 intervals: 996, 992, 988; 999 is not comparable
    ("stride 4", 3, 4, {999: (0, 5000), 996: (0, 90), 992: (0, 100), 988: (0, 111)}, N,
     (100, 3, (996, 992, 988))),  # 301 / 3 = 100.33
    ("stride 4 with a gap", 3, 4, {996: (0, 90), 988: (0, 111)}, N, (100, 2, (996, 992, 988))),
    ("rounded down", 3, 1, {999: (0, 100), 998: (0, 100), 997: (0, 101)}, N,
     (100, 3, (999, 998, 997))),
    ("negative: rounded towards minus infinity", 2, 1, {999: (1000, 0), 998: (1001, 0)}, N,
     (-1001, 2, (999, 998))),  # -1000.5
    ("exports net of imports", 2, 1, {999: (300, 1000), 998: (500, 100)}, N,
     (150, 2, (999, 998))),  # (700 - 400) / 2
    ("no history", 4, 1, {}, N, (0, 0, (999, 998, 997, 996))),
    ("only readings after n", 4, 1, {N + 1: (0, 500), N: (0, 500)}, N,
     (0, 0, (999, 998, 997, 996))),
    ("none before interval 0", 4, 1, {1: (0, 10), 0: (0, 20)}, 2, (15, 2, (1, 0))),
    ("stride beyond the first interval", 4, 5, {}, 3, (0, 0, ())),
]  # fmt: skip


@pytest.mark.parametrize(
    ("intervals", "stride", "readings", "n", "expected"),
    [c[1:] for c in BASELINES],
    ids=[c[0] for c in BASELINES],
)
def test_baseline(
    market: Market,
    intervals: int,
    stride: int,
    readings: dict[int, tuple[int, int]],
    n: int,
    expected: tuple[int, int, tuple[int, ...]],
) -> None:
    ctx = ctx_of(market)
    set_baseline_params(ctx, intervals, stride)
    for m, (exported, imported) in readings.items():
        write_reading(ctx, ALICE, m, exported, imported)
    found = delivery.baseline(ctx.kv, crypto.decode_address(ALICE.address), n)
    assert (found.wh, found.samples, found.intervals) == expected
    assert delivery.baseline(ctx.kv, crypto.decode_address(BOB.address), n).samples == 0


def test_several_meters_summed(market: Market) -> None:
    ctx = ctx_of(market)
    set_baseline_params(ctx, 2, 1)
    registry.set_meter(
        ctx.kv,
        registry_pb2.Meter(pub_key=SECOND_METER.public_key, participant=ALICE.address),
    )
    alice = crypto.decode_address(ALICE.address)
    write_reading(ctx, ALICE, 999, 0, 500)
    write_reading(ctx, ALICE, 999, 200, 100, meter=SECOND_METER)  # 999: 500 + (100 - 200)
    write_reading(ctx, ALICE, 998, 0, 300, meter=SECOND_METER)  # 998: one meter reported
    assert delivery.net_consumption(ctx.kv, alice, 999) == 400
    assert delivery.net_consumption(ctx.kv, alice, 998) == 300
    assert delivery.net_consumption(ctx.kv, alice, 997) is None
    assert delivery.baseline(ctx.kv, alice, N).wh == 350
    # A revoked meter's readings still count: they were taken while it measured.
    registry.set_meter(
        ctx.kv,
        registry_pb2.Meter(
            pub_key=SECOND_METER.public_key, participant=ALICE.address, revoked=True
        ),
    )
    assert delivery.net_consumption(ctx.kv, alice, 999) == 400


def test_amount_rounds_down() -> None:
    assert delivery.amount(1500, 333) == 499  # 499.5
    assert delivery.amount(999, 1) == 0
    assert delivery.amount(0, 10**9) == 0
    assert delivery.amount(10**12, 10**9) == 10**18


# history (4 comparable intervals, all 3000 Wh imported), reading in N, commitment C
# at reward 333 and penalty 77 per kWh; collateral floor(C * 77 / 1000), reserve
# floor(C * 333 / 1000) in escrow.
# reading, C, (metered, missing, delivered, credited, shortfall, reward, penalty)
SETTLES = [
    ("delivered more than committed", (0, 1000), 1500, (1000, False, 2000, 1500, 0, 499, 0)),
    ("delivered exactly", (0, 1500), 1500, (1500, False, 1500, 1500, 0, 499, 0)),
    ("partial", (0, 2001), 1500, (2001, False, 999, 999, 501, 332, 38)),
    ("consumed above the baseline", (0, 3500), 1500, (3500, False, -500, 0, 1500, 0, 115)),
    ("exports count as reduction", (400, 0), 1500, (-400, False, 3400, 1500, 0, 499, 0)),
    ("missing reading", None, 1500, (0, True, 0, 0, 1500, 0, 115)),
    ("one Wh", (0, 2999), 1, (2999, False, 1, 1, 0, 0, 0)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reading", "committed", "expected"),
    [c[1:] for c in SETTLES],
    ids=[c[0] for c in SETTLES],
)
def test_settle_amounts(
    market: Market,
    reading: tuple[int, int] | None,
    committed: int,
    expected: tuple[Any, ...],
) -> None:
    ctx = ctx_of(market)
    kv = ctx.kv
    denom = bank.get_params(kv).denom
    alice = crypto.decode_address(ALICE.address)
    penalties = crypto.decode_address(key(81).address)
    for m in (N - 1, N - 2, N - 3, N - 4):
        write_reading(ctx, ALICE, m, 0, 3000)
    if reading is not None:
        write_reading(ctx, ALICE, N, *reading)
    collateral = delivery.amount(committed, 77)
    reserve = delivery.amount(committed, 333)
    funder = crypto.decode_address(BOB.address)
    for owner, locked in ((alice, collateral), (funder, reserve)):
        if locked:
            bank.send(ctx, owner, ESCROW, [Coin(denom, locked)])
    balance = bank.get_balance(kv, alice, denom)
    score = reputation.get_score(kv, alice).score
    supply = bank.get_supply(kv, denom)

    row = delivery.settle(
        ctx,
        delivery.Commitment(
            participant=alice,
            interval=N,
            committed_wh=committed,
            reward_per_kwh=333,
            penalty_per_kwh=77,
            collateral=collateral,
            escrow=ESCROW,
            penalty_account=penalties,
            source="demand_response",
        ),
    )
    metered, missing, delivered, credited, shortfall, reward, penalty = expected
    assert row == settlement_pb2.Delivery(
        interval=N,
        baseline_wh=3000,
        baseline_samples=4,
        metered_wh=metered,
        missing_reading=missing,
        delivered_wh=delivered,
        committed_wh=committed,
        credited_wh=credited,
        shortfall_wh=shortfall,
        reward=str(reward),
        penalty=str(penalty),
        score_before=score,
        score_after=row.score_after,
    )
    # The participant: reward and what the penalty left of its collateral.
    assert bank.get_balance(kv, alice, denom) - balance == reward + collateral - penalty
    assert bank.get_balance(kv, penalties, denom) == penalty
    # What the rewards left of the reserve stays for the caller to return.
    assert bank.get_balance(kv, ESCROW, denom) == reserve - reward
    assert bank.get_supply(kv, denom) == supply
    # Reputation: a contract of C Wh with deviation shortfall (weight 1/4).
    accuracy = reputation.accuracy_ppm(committed, shortfall)
    assert row.score_after == (score * 3 + accuracy) // 4
    assert reputation.get_score(kv, alice).score == row.score_after
    (event,) = [e for e in ctx.events if e.type == "settlement_delivery"]
    assert dict(event.attributes) == {
        "source": "demand_response",
        "participant": ALICE.address,
        "interval": str(N),
        "baseline_wh": "3000",
        "metered_wh": str(metered),
        "missing_reading": str(missing).lower(),
        "committed_wh": str(committed),
        "credited_wh": str(credited),
        "shortfall_wh": str(shortfall),
        "reward": str(reward),
        "penalty": str(penalty),
    }
