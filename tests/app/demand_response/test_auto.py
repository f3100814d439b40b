"""Automatic events: raised when the energy bought from the main grid beyond
contracts in the interval just settled exceeds the threshold, funded by the
module's fund account, skipped (with the reason) when they cannot be."""

from __future__ import annotations

from typing import Any

import pytest

from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from tests.app.demand_response.conftest import DR, FUND, dr_state
from tests.app.market.conftest import BOB, CAROL, EVE, POOL, START

N0 = START // 60
M = N0 + 1  # the interval whose imbalance triggers
# Settled at end(M) + 30 = START + 150, when the first open interval is N0 + 3.
AUTO = {
    "auto_threshold_wh": 1000,
    "auto_reward_per_kwh": 100,
    "auto_penalty_per_kwh": 50,
    "auto_max_request_wh": 1200,
    "auto_lead_intervals": 1,
}


@pytest.mark.parametrize(
    ("imports", "requested"),
    [
        ({BOB: 1500}, 1200),  # above the threshold, capped at auto_max_request_wh
        ({BOB: 700, CAROL: 400}, 1100),  # the sum of the participants' imbalances counts
        ({BOB: 1001}, 1001),
    ],
    ids=["capped", "summed", "just-above"],
)
def test_raised_above_the_threshold(make_dr: Any, imports: dict[Any, int], requested: int) -> None:
    dr: DR = make_dr(dr_state(AUTO, fund=10_000))
    supply = dr.m.supply()
    dr.report(M, {who: (0, wh) for who, wh in imports.items()})
    dr.finish(M)
    (raised,) = dr.events().events
    reserve = requested * 100 // 1000
    assert raised == dr_pb2.Event(
        id=1,
        interval=N0 + 4,  # first open (N0 + 3) + auto_lead_intervals
        bus="",
        requested_wh=requested,
        reward_per_kwh=100,
        penalty_per_kwh=50,
        funder=FUND,
        penalty_account=POOL.address,  # the settlement params' penalty account
        automatic=True,
        trigger_interval=M,
        trigger_imbalance_wh=sum(imports.values()),
        created_height=raised.created_height,
        status=dr_pb2.EVENT_STATUS_OPEN,
        reserve=str(reserve),
        rewards="0",
        penalties="0",
    )
    assert dr.m.balance(FUND) == 10_000 - reserve and dr.escrow() == reserve
    (announced,) = dr.block_events("demand_response_event")
    assert (announced["automatic"], announced["funder"], announced["requested_wh"]) == (
        "true",
        FUND,
        str(requested),
    )
    assert dr.block_events("demand_response_auto_skipped") == []
    assert dr.m.supply() == supply


def test_not_raised_at_the_threshold_or_when_off(make_dr: Any) -> None:
    at = make_dr(dr_state(AUTO, fund=10_000))
    at.report(M, {BOB: (0, 1000)})
    at.finish(M)
    off = make_dr(dr_state({**AUTO, "auto_threshold_wh": 0}, fund=10_000))
    off.report(M, {BOB: (0, 5000)})
    off.finish(M)
    for dr in (at, off):
        assert list(dr.events().events) == []
        assert dr.block_events("demand_response_auto_skipped") == []
        assert dr.m.balance(FUND) == 10_000


def test_skipped_when_the_funder_cannot_lock_the_reserve(make_dr: Any) -> None:
    dr: DR = make_dr(dr_state(AUTO, fund=119))  # the reserve is 120
    supply = dr.m.supply()
    dr.report(M, {BOB: (0, 1500)})
    dr.finish(M)
    assert list(dr.events().events) == []
    (skipped,) = dr.block_events("demand_response_auto_skipped")
    assert skipped == {
        "trigger_interval": str(M),
        "imbalance_wh": "1500",
        "interval": str(N0 + 4),
        "requested_wh": "1200",
        "funder": FUND,
        "reason": f"insufficient funds to lock: reserve of 120ugrid needed; {FUND} has 119ugrid",
    }
    assert dr.m.balance(FUND) == 119 and dr.escrow() == 0 and dr.m.supply() == supply


def test_skipped_when_the_interval_is_too_far_ahead(make_dr: Any) -> None:
    dr: DR = make_dr(dr_state({**AUTO, "auto_lead_intervals": 20}, fund=10_000))
    dr.report(M, {BOB: (0, 1500)})
    dr.finish(M)
    (skipped,) = dr.block_events("demand_response_auto_skipped")
    assert "interval too far ahead" in skipped["reason"]
    assert list(dr.events().events) == [] and dr.m.balance(FUND) == 10_000


def test_an_automatic_event_runs_to_settlement(make_dr: Any) -> None:
    dr: DR = make_dr(dr_state({**AUTO, "auto_lead_intervals": 0}, fund=10_000))
    supply = dr.m.supply()
    dr.report(M, {BOB: (0, 1500), EVE: (0, 2000)})
    dr.finish(M)
    (raised,) = dr.events().events
    n = raised.interval
    assert n == N0 + 3 and raised.requested_wh == 1200
    dr.joined(EVE, raised.id, 1000)  # collateral 50
    dr.report(n, {EVE: (0, 1400)})  # baseline 2000 (interval M): 600 delivered
    dr.finish(n)
    resp = dr.event(raised.id)
    assert resp.event.status == dr_pb2.EVENT_STATUS_SETTLED
    (row,) = resp.opt_ins
    assert (row.delivery.baseline_wh, row.delivery.credited_wh) == (2000, 600)
    assert (row.delivery.reward, row.delivery.penalty) == ("60", "20")
    # The interval it was raised for had an imbalance too (EVE's 1400): another event,
    # raised in the block that settled the first.
    _, second = dr.events().events
    assert (second.automatic, second.trigger_interval, second.requested_wh) == (True, n, 1200)
    # The fund paid the reward, got the rest of its reserve (120 - 60) back, and locked
    # the second event's reserve.
    assert dr.m.balance(FUND) == 10_000 - 60 - 120
    assert dr.escrow() == 120 and dr.m.supply() == supply
