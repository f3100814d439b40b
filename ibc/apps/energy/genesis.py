"""Energy genesis: the receiving side's params (JSON, Params field names).

    "energy": {"params": {"bus": "pcc", "max_open_offers": 100}}

Without the section, external orders enter at the network's root bus and a
channel may hold ``keeper.DEFAULT_MAX_OPEN_OFFERS`` offers awaiting clearing.
"""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ABCIError
from app.modules.genesis_util import GenesisError, parse_section
from app.modules.market import keeper as market
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from ibc.apps.energy import keeper

DEFAULT_PARAMS: dict[str, Any] = {"max_open_offers": keeper.DEFAULT_MAX_OPEN_OFFERS}


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    if not section:
        return
    if not market.is_configured(ctx.kv):
        raise GenesisError("energy: needs a market section")
    params = parse_section(section, "energy", DEFAULT_PARAMS, energy_pb2.Params())
    try:
        keeper.set_params(ctx.kv, params)
    except ABCIError as err:
        raise GenesisError(f"energy: {err.log}") from None
