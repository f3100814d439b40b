"""The application's genesis state: the ``app_state`` object of CometBFT's
genesis.json, one section per module (DESIGN.md section 5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_DENOM = "ugrid"


def default_app_state(
    *,
    balances: Mapping[str, int],
    denom: str = DEFAULT_DENOM,
    min_fee: int = 0,
) -> dict[str, Any]:
    """A valid app_state funding ``balances`` (bech32 address -> amount of ``denom``)."""
    state: dict[str, Any] = {
        "bank": {
            "params": {"denom": denom, "min_fee": str(min_fee)},
            "balances": [
                {"address": addr, "coins": [{"denom": denom, "amount": str(amount)}]}
                for addr, amount in sorted(balances.items())
            ],
        },
    }
    return state
