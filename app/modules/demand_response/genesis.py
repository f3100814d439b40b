"""Demand-response genesis: its params (JSON, Params field names).

    "demand_response": {"params": {"auto_threshold_wh": 0, "auto_reward_per_kwh": 100000,
                                   "auto_penalty_per_kwh": 50000, "auto_max_request_wh": 10000,
                                   "auto_lead_intervals": 1, "auto_funder": "mg1...",
                                   "max_opt_ins": 1000}}

Demand response is on whenever the market is; params not given take
``DEFAULT_PARAMS`` (automatic events off), and the automatic events' funder
defaults to the module account ``demand_response_fund``.
"""

from __future__ import annotations

from typing import Any

from app import crypto
from app.context import Context
from app.errors import ABCIError
from app.modules.demand_response import keeper
from app.modules.genesis_util import GenesisError, parse_section
from app.modules.market import keeper as market
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2

# Rates in the denom's smallest unit per kWh (ugrid: 10^6 per grid), next to
# the market's default retail tariff of 250000.
DEFAULT_PARAMS: dict[str, Any] = {
    "auto_threshold_wh": 0,
    "auto_reward_per_kwh": 100_000,
    "auto_penalty_per_kwh": 50_000,
    "auto_max_request_wh": 10_000,
    "auto_lead_intervals": 1,
    "max_opt_ins": 1000,
}


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if not market.is_configured(ctx.kv):
        if section:
            raise GenesisError("demand_response: needs a market section")
        return
    params = parse_section(section, "demand_response", DEFAULT_PARAMS, dr_pb2.Params())
    if not params.auto_funder:
        params.auto_funder = crypto.encode_address(keeper.DEFAULT_FUNDER)
    try:
        keeper.PARAMS.set(ctx.kv, params)
    except ABCIError as err:
        raise GenesisError(f"demand_response: {err.log}") from None
