"""Reputation: the update rule's properties, and its effects on a real chain
(collateral, suspension and release, rebates from the penalty pool)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from app.modules.reputation.keeper import PPM, accuracy_ppm, updated_score
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.reputation.v1 import reputation_pb2
from tests.app.market.conftest import ALICE, BOB, POOL, Market, app_state
from tests.app.settlement.test_settlement import trade

weights = st.fractions(min_value=0, max_value=1).filter(lambda w: w > 0)
scores = st.integers(0, PPM)


@given(scores, scores, scores, weights)
def test_update_is_monotonic_in_accuracy_and_bounded(
    score: int, a: int, b: int, weight: Any
) -> None:
    lo, hi = sorted((a, b))
    low, high = updated_score(score, lo, weight), updated_score(score, hi, weight)
    assert low <= high
    assert 0 <= low <= PPM and 0 <= high <= PPM
    assert min(score, lo) <= low <= max(score, lo)


@given(st.integers(1, 10**12), st.integers(-(10**13), 10**13))
def test_accuracy_is_bounded_and_falls_with_deviation(contracted: int, deviation: int) -> None:
    acc = accuracy_ppm(contracted, deviation)
    assert 0 <= acc <= PPM
    assert acc == accuracy_ppm(contracted, -deviation)
    assert accuracy_ppm(contracted, abs(deviation) + 1) <= acc
    assert accuracy_ppm(contracted, 0) == PPM


def score_of(m: Market, who: Any) -> reputation_pb2.QueryScoreResponse:
    req = reputation_pb2.QueryScoreRequest(participant=who.address)
    return m.q("Score", req, reputation_pb2)


def test_collateral_falls_with_the_score(make_market: Any) -> None:
    m = make_market(app_state(reputation={"collateral_discount": "1/2"}))
    n = m.schedule().first_open
    # Initial score 1/2: collateral 1000 Wh x 300 x 1/10 x (1 - 1/2 x 1/2) = 22.
    assert m.place(ALICE, "sell", 1000, 150, interval=n).code == 0
    assert m.order(1).collateral == "22"
    assert m.place(BOB, "buy", 1000, 250, interval=n).code == 0
    m.clear(n)
    m.settle(n)  # exact: accuracy 1, score 500000 -> 625000
    assert score_of(m, ALICE).score.score == 625_000
    n = m.schedule().first_open
    assert m.place(ALICE, "sell", 1000, 150, interval=n).code == 0
    order = m.q("Orders", market_pb2.QueryOrdersRequest(owner=ALICE.address)).orders[-1]
    # 1000 x 300 x 1/10 x (1 - 1/2 x 0.625) = 20.625
    assert order.collateral == "20"


def test_suspension_below_the_threshold_and_release(make_market: Any) -> None:
    rep = {"weight": "1/2", "suspension_threshold": 400_000, "suspension_intervals": 2}
    m = make_market(app_state(reputation=rep))
    n = trade(m)
    m.settle(n, {ALICE.address: None})  # nothing delivered: accuracy 0, score 250000
    score = score_of(m, ALICE).score
    assert score.score == 250_000
    now = m.schedule().current_interval
    assert score.suspended_until == now + 3
    refused = m.place(ALICE, "sell", 1000, 150)
    assert (refused.codespace, refused.code) == ("reputation", 3)
    assert m.place(BOB, "buy", 1000, 250).code == 0  # others trade on
    m.node.advance_to(m.interval(now + 2).start_time)
    assert m.schedule().current_interval == now + 2
    refused = m.place(ALICE, "sell", 1000, 150)
    assert (refused.codespace, refused.code) == ("reputation", 3)
    m.node.advance_to(m.interval(now + 3).start_time)
    assert m.place(ALICE, "sell", 1000, 150).code == 0  # released
    assert score_of(m, ALICE).score.suspensions == 1


def test_rebates_go_to_the_best_ranked(make_market: Any) -> None:
    m = make_market(app_state(reputation={"rebate_rate": "1/2", "rebate_top": 1}))
    n = trade(m)
    out = m.settle(n, {ALICE.address: (600, 0)})  # ALICE pays a penalty of 20 into the pool
    assert out.penalties == "20"
    assert out.rebates == "10"  # half of the pool to BOB, ranked first
    assert m.balance(POOL.address) == 10
    bob = score_of(m, BOB)
    assert (bob.rank, bob.score.rebates) == (1, "10")
    ranking = m.q("Ranking", reputation_pb2.QueryRankingRequest(), reputation_pb2).scores
    assert [s.participant for s in ranking] == [BOB.address, ALICE.address]


def test_suspended_participants_get_no_rebate(make_market: Any) -> None:
    rep = {
        "weight": "1/2",
        "suspension_threshold": 400_000,
        "suspension_intervals": 2,
        "rebate_rate": "1/2",
        "rebate_top": 3,
    }
    m = make_market(app_state(reputation=rep))
    n = trade(m)
    out = m.settle(n, {ALICE.address: None})  # ALICE: penalty 57, suspended
    assert score_of(m, ALICE).score.suspended_until > m.schedule().current_interval
    assert out.rebates == "28"  # half of 57, all of it to BOB: ALICE ranks but is suspended
    assert (score_of(m, BOB).score.rebates, score_of(m, ALICE).score.rebates) == ("28", "0")
