"""Bank genesis: params and initial balances (which define the initial supply)."""

from __future__ import annotations

from typing import Any

from app import coins
from app.context import Context
from app.modules.bank import keeper
from app.modules.common import parse_address
from app.pb.mgrid.bank.v1 import bank_pb2


class GenesisError(ValueError):
    """The genesis app_state is invalid; the message names the field."""


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    unknown = set(section) - {"params", "balances"}
    if unknown:
        raise GenesisError(f"bank: unknown fields {sorted(unknown)}")
    params = section.get("params", {})
    denom = params.get("denom", "ugrid")
    try:
        coins.validate_denom(denom)
        min_fee = coins.parse_amount(str(params.get("min_fee", "0")))
    except coins.CoinError as exc:
        raise GenesisError(f"bank.params: {exc}") from None
    keeper.set_params(ctx.kv, bank_pb2.Params(denom=denom, min_fee=str(min_fee)))
    seen: set[bytes] = set()
    for i, entry in enumerate(section.get("balances", [])):
        address = parse_address(entry.get("address", ""), f"bank.balances[{i}].address")
        if address in seen:
            raise GenesisError(f"bank.balances[{i}]: address {entry['address']} listed twice")
        seen.add(address)
        for coin in entry.get("coins", []):
            try:
                parsed = coins.Coin(
                    coins.validate_denom(coin["denom"]), coins.parse_amount(coin["amount"])
                )
            except (coins.CoinError, KeyError, TypeError) as exc:
                raise GenesisError(f"bank.balances[{i}]: bad coin {coin!r}: {exc}") from None
            if parsed.amount:
                keeper.mint(ctx, address, parsed)
