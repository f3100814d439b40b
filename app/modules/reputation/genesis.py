"""Reputation genesis: its params (JSON, Params field names).

    "reputation": {"params": {"initial_score": 500000, "weight": "1/4",
                              "collateral_discount": "1/2", "suspension_threshold": 200000,
                              "suspension_intervals": 4, "rebate_rate": "0", "rebate_top": 3}}

Reputation is on whenever the market is; params not given take
``DEFAULT_PARAMS``.
"""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ABCIError
from app.modules.genesis_util import GenesisError, parse_section
from app.modules.market import keeper as market
from app.modules.reputation import keeper
from app.pb.mgrid.reputation.v1 import reputation_pb2

DEFAULT_PARAMS: dict[str, Any] = {
    "initial_score": 500_000,
    "weight": "1/4",
    "collateral_discount": "1/2",
    "suspension_threshold": 200_000,
    "suspension_intervals": 4,
    "rebate_rate": "0",
    "rebate_top": 3,
}


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if not market.is_configured(ctx.kv):
        if section:
            raise GenesisError("reputation: needs a market section")
        return
    params = parse_section(section, "reputation", DEFAULT_PARAMS, reputation_pb2.Params())
    try:
        keeper.init(ctx.kv, params)
    except ABCIError as err:
        raise GenesisError(f"reputation: {err.log}") from None
