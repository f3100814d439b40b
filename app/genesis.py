"""The application's genesis state: the ``app_state`` object of CometBFT's
genesis.json, one section per module (DESIGN.md section 5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_DENOM = "ugrid"

# A small radial network for localnets and demos: the point of common
# coupling and two feeders (capacities in Wh per delivery interval).
DEMO_NETWORK: dict[str, Any] = {
    "buses": [
        {"id": "pcc", "capacity_wh": 500_000},
        {"id": "f1", "parent": "pcc", "capacity_wh": 100_000},
        {"id": "f2", "parent": "pcc", "capacity_wh": 100_000},
    ]
}
# Short intervals make a localnet lively: 20 s delivery intervals whose gate
# closes 5 s before they start, orders taken up to an hour ahead.
DEMO_MARKET_PARAMS: dict[str, Any] = {
    "interval_seconds": 20,
    "gate_closure_seconds": 5,
    "max_intervals_ahead": 180,
}
# Readings for an interval are taken for 10 s after it ends, so an interval
# is settled about half a minute after its gate closed.
DEMO_SETTLEMENT_PARAMS: dict[str, Any] = {"window_seconds": 10}
# Reputation that moves visibly within a few intervals: half the weight on
# the newest one, suspension below 0.35 for three intervals, and a tenth of
# the penalty pool paid back to the three best-ranked after each interval.
DEMO_REPUTATION_PARAMS: dict[str, Any] = {
    "weight": "1/2",
    "suspension_threshold": 350_000,
    "suspension_intervals": 3,
    "rebate_rate": "1/10",
    "rebate_top": 3,
}


def default_app_state(
    *,
    balances: Mapping[str, int],
    denom: str = DEFAULT_DENOM,
    min_fee: int = 0,
    utility: str | None = None,
    regulator: str | None = None,
    network: Mapping[str, Any] | None = None,
    market_params: Mapping[str, Any] | None = None,
    settlement_params: Mapping[str, Any] | None = None,
    reputation_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid app_state funding ``balances`` (bech32 address -> amount of ``denom``).

    With ``utility`` (and optionally ``regulator``) it also names the
    authorities, the network (default: ``DEMO_NETWORK``) and turns the market
    on with ``market_params`` over the module defaults, and with it settlement
    and reputation (``settlement_params``, ``reputation_params``).
    """
    state: dict[str, Any] = {
        "bank": {
            "params": {"denom": denom, "min_fee": str(min_fee)},
            "balances": [
                {"address": addr, "coins": [{"denom": denom, "amount": str(amount)}]}
                for addr, amount in sorted(balances.items())
            ],
        },
    }
    if utility is not None:
        authorities = {"utility": utility}
        if regulator is not None:
            authorities["regulator"] = regulator
        state["registry"] = {
            "authorities": authorities,
            "network": dict(network or DEMO_NETWORK),
        }
        state["market"] = {"params": dict(market_params or {})}
        state["settlement"] = {"params": dict(settlement_params or {})}
        state["reputation"] = {"params": dict(reputation_params or {})}
    return state
