"""Market genesis: params and the regulator's bounds (JSON, Params/Bounds field names).

    "market": {
      "params": {"interval_seconds": 900, "gate_closure_seconds": 300, "mechanism": "uniform",
                 "k": "1/2", "retail_tariff": 300, "feed_in_tariff": 80, ...},
      "bounds": {"retail_tariff_min": 200, "retail_tariff_max": 400, ...}
    }

Without a "market" section the market is off: its messages are rejected
and nothing clears. Params not given take ``DEFAULT_PARAMS``; accounts not
given are module accounts (fee_collector for fees and tax, market_surplus,
market_subsidy). Bounds not given are derived from the params: tariffs and
the grid fee may move between zero and twice their genesis value, the tax
rate up to 1/4, the collateral rate in [0, 1], any mechanism, interval
lengths from 1 s to a day, up to 1000 open orders per account.
"""

from __future__ import annotations

from typing import Any

from app import crypto
from app.context import Context
from app.errors import ABCIError
from app.modules.bank import keeper as bank
from app.modules.genesis_util import GenesisError, check_fields, parse_object
from app.modules.market import keeper
from app.modules.market.clearing import MECHANISMS
from app.pb.mgrid.market.v1 import market_pb2

DEFAULT_ACCOUNTS = {
    "fee_account": bank.FEE_COLLECTOR,
    "tax_account": bank.FEE_COLLECTOR,
    "surplus_account": bank.module_address("market_surplus"),
    "subsidy_account": bank.module_address("market_subsidy"),
}


# Prices in the denom's smallest unit per kWh (ugrid: 10^6 per grid).
DEFAULT_PARAMS: dict[str, Any] = {
    "interval_seconds": 900,
    "gate_closure_seconds": 300,
    "max_intervals_ahead": 96,
    "mechanism": "uniform",
    "k": "1/2",
    "retail_tariff": 250_000,
    "feed_in_tariff": 80_000,
    "grid_fee_per_kwh": 20_000,
    "tax_rate": "0",
    "seller_collateral_rate": "1/10",
    "max_open_orders": 32,
    "min_order_wh": 100,
    "max_order_wh": 1_000_000_000,
}


def default_bounds(params: market_pb2.Params) -> dict[str, Any]:
    return {
        "interval_seconds_min": 1,
        "interval_seconds_max": 86_400,
        "retail_tariff_min": 0,
        "retail_tariff_max": 2 * params.retail_tariff,
        "feed_in_tariff_min": 0,
        "feed_in_tariff_max": 2 * params.feed_in_tariff,
        "grid_fee_max": 2 * params.grid_fee_per_kwh,
        "tax_rate_max": "1/4",
        "seller_collateral_rate_min": "0",
        "seller_collateral_rate_max": "1",
        "mechanisms": list(MECHANISMS),
        "max_open_orders_max": 1000,
    }


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if not section:
        return
    check_fields(section, "market", {"params", "bounds"})
    params = parse_object(
        section.get("params", {}), DEFAULT_PARAMS, market_pb2.Params(), "market.params"
    )
    bounds = parse_object(
        section.get("bounds", {}), default_bounds(params), market_pb2.Bounds(), "market.bounds"
    )
    for name, address in DEFAULT_ACCOUNTS.items():
        if not getattr(params, name):
            setattr(params, name, crypto.encode_address(address))
    try:
        keeper.init(ctx, params, bounds)
    except ABCIError as err:
        raise GenesisError(f"market: {err.log}") from None
