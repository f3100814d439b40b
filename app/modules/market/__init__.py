"""Market: escrowed orders per delivery interval, cleared by a selectable double
auction under network limits (issue 3; DESIGN.md sections 1, 2 and 4).

``clearing`` is the pure, deterministic matching function (no state, no I/O);
``network`` the radial network model it checks line limits against; ``cli``
the offline JSON front end for what-if runs and audits. The keeper applies a
``ClearingResult`` to state.
"""

from app.modules.market.clearing import (
    MECHANISMS,
    ClearingInputError,
    ClearingResult,
    Curtailment,
    InvalidMechanismError,
    InvalidOrderError,
    InvalidParamsError,
    Mechanism,
    Order,
    Params,
    Trade,
    Unmatched,
    clear,
    trade_amount,
)
from app.modules.market.network import Bus, InvalidNetworkError, Network

__all__ = [
    "MECHANISMS",
    "Bus",
    "ClearingInputError",
    "ClearingResult",
    "Curtailment",
    "InvalidMechanismError",
    "InvalidNetworkError",
    "InvalidOrderError",
    "InvalidParamsError",
    "Mechanism",
    "Network",
    "Order",
    "Params",
    "Trade",
    "Unmatched",
    "clear",
    "trade_amount",
]
