"""Settlement genesis: its params (JSON, Params field names).

    "settlement": {"params": {"window_seconds": 300, "shortfall_penalty": 50000,
                              "missing_reading_penalty": 100000,
                              "penalty_account": "mg1...", "max_reading_wh": 1000000000,
                              "baseline_intervals": 4, "baseline_stride": 1}}

Settlement is on whenever the market is; params not given take
``DEFAULT_PARAMS``, and the penalty pool defaults to the module account
``penalty_pool``.
"""

from __future__ import annotations

from typing import Any

from app import crypto
from app.context import Context
from app.errors import ABCIError
from app.modules.genesis_util import GenesisError, parse_section
from app.modules.market import keeper as market
from app.modules.settlement import keeper
from app.pb.mgrid.settlement.v1 import settlement_pb2

# Penalties in the denom's smallest unit (ugrid: 10^6 per grid).
DEFAULT_PARAMS: dict[str, Any] = {
    "window_seconds": 300,
    "shortfall_penalty": 50_000,
    "missing_reading_penalty": 100_000,
    "max_reading_wh": 1_000_000_000,
    "baseline_intervals": 4,
    "baseline_stride": 1,
}


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if not market.is_configured(ctx.kv):
        if section:
            raise GenesisError("settlement: needs a market section")
        return
    params = parse_section(section, "settlement", DEFAULT_PARAMS, settlement_pb2.Params())
    if not params.penalty_account:
        params.penalty_account = crypto.encode_address(keeper.PENALTY_POOL)
    try:
        keeper.PARAMS.set(ctx.kv, params)
    except ABCIError as err:
        raise GenesisError(f"settlement: {err.log}") from None
