"""The demand_response genesis section: defaults, overrides, refusals, and a chain
without a market (no demand response: messages refused, end_block idle)."""

from __future__ import annotations

from typing import Any

import pytest

from app.chain import GenesisError
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from tests.app.demand_response.conftest import DR, ESCROW, FUND, dr_state
from tests.app.market.conftest import ALICE, app_state


def params(dr: DR) -> dr_pb2.Params:
    return dr.m.q("Params", dr_pb2.QueryParamsRequest(), dr_pb2).params  # type: ignore[no-any-return]


def test_defaults(dr: DR) -> None:
    assert params(dr) == dr_pb2.Params(
        auto_threshold_wh=0,
        auto_reward_per_kwh=100_000,
        auto_penalty_per_kwh=50_000,
        auto_max_request_wh=10_000,
        auto_lead_intervals=1,
        auto_funder=FUND,
        max_opt_ins=1000,
    )


def test_overrides(make_dr: Any) -> None:
    given = {"auto_threshold_wh": 500, "auto_funder": ALICE.address, "max_opt_ins": 3}
    dr = make_dr(dr_state(given))
    p = params(dr)
    assert (p.auto_threshold_wh, p.auto_funder, p.max_opt_ins) == (500, ALICE.address, 3)
    assert p.auto_reward_per_kwh == 100_000  # the rest from the defaults


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"params": {"max_opt_ins": 0}}, "max_opt_ins: must be in 1..100000, got 0"),
        ({"params": {"auto_funder": "mg1nope"}}, "auto_funder:"),
        ({"params": {"auto_reward_per_kwh": 10**9 + 1}}, "auto_reward_per_kwh: at most"),
        ({"params": {"auto_max_request_wh": 10**12 + 1}}, "auto_max_request_wh: at most"),
        (
            {"params": {"auto_threshold_wh": 1, "auto_max_request_wh": 0}},
            "auto_max_request_wh: must be at least 1 when auto_threshold_wh is set",
        ),
        ({"params": {"nope": 1}}, "demand_response.params"),
        ({"events": []}, "demand_response: unknown fields ['events']"),
    ],
)  # fmt: skip
def test_refused(make_dr: Any, section: dict[str, Any], message: str) -> None:
    state = dr_state()
    state["demand_response"] = section
    with pytest.raises(GenesisError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_dr(state)


def test_escrow_may_not_fund_automatic_events(make_dr: Any) -> None:
    with pytest.raises(GenesisError, match="may not be the module's escrow account"):
        make_dr(dr_state({"auto_funder": ESCROW}))


def test_without_a_market(make_dr: Any) -> None:
    state = app_state()
    for section in ("market", "settlement", "reputation"):
        del state[section]
    with pytest.raises(GenesisError, match="demand_response: needs a market section"):
        make_dr({**state, "demand_response": {"params": {}}})
    dr = make_dr({**state, "demand_response": {}})  # an empty section is fine
    result = dr.create(interval=5)
    assert (result.codespace, result.code) == ("demand_response", 3), result.log
    result = dr.opt_in(ALICE, 1, 10)
    assert (result.codespace, result.code) == ("demand_response", 3), result.log
    dr.node.advance(3)  # end_block has nothing to do
