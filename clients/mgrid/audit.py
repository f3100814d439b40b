"""Audit of a cleared interval: re-run the chain's clearing from the chain's own
data and compare (DESIGN.md section 2 step 3; section 4: anyone can check
that the deterministic clearing did what the rules say).

The order book is rebuilt with the keeper's own helpers
(``clearing_order``, ``clearing_params``, the registry's
``network_from_proto``), from queries at one height:

- the interval (it must be CLEARED): mechanism and k actually used, the
  tariffs and price bounds as used;
- every order of the interval (all pages) whose status is not CANCELLED, in
  ascending id (= submission) order, each as ``clearing.Order(id=str(id),
  side, quantity_wh, price if set else auto_price, bus or None, owner)``;
- the registry's network (none when it has no buses).

``clearing.clear`` (the very function the chain runs) clears that book, and
the result is compared with the chain's: clearing price, matched Wh, every
trade field by field (buy and sell order, quantity, price, amount, seller
price and amount, in index order) and every curtailment.

Summaries put money as decimal strings (the chain's own form) and everything
else as integers, so the two sides compare as plain JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from app.modules.market import clearing
from app.modules.market import keeper as market_keeper
from app.modules.market.network import Network
from app.modules.registry.keeper import network_from_proto
from app.pb.mgrid.market.v1 import market_pb2
from clients.mgrid.chain import ChainClient, ChainError, pages

TRADE_FIELDS = (
    "buy_order",
    "sell_order",
    "quantity_wh",
    "price",
    "amount",
    "seller_price",
    "seller_amount",
)
CURTAILMENT_FIELDS = ("round", "line", "buy_order", "sell_order", "quantity_wh", "order")


class NotCleared(ChainError):
    """The interval has not been cleared (yet); there is nothing to audit."""


@dataclass(frozen=True)
class Inputs:
    """What the chain cleared: the rebuilt book and the rules of the interval."""

    orders: list[clearing.Order]
    mechanism: clearing.Mechanism
    params: clearing.Params
    network: Network | None


@dataclass(frozen=True)
class AuditReport:
    interval: int
    height: int
    mechanism: str
    k: str
    chain: dict[str, Any]
    recomputed: dict[str, Any]
    differences: list[dict[str, Any]]
    inputs: dict[str, Any]

    @property
    def match(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "interval": self.interval,
            "height": self.height,
            "match": self.match,
            "mechanism": self.mechanism,
            "k": self.k,
            "differences": self.differences,
            "chain": self.chain,
            "recomputed": self.recomputed,
            "inputs": self.inputs,
        }


def audit_interval(chain: ChainClient, interval_id: int, height: int) -> AuditReport:
    """Re-run the clearing of ``interval_id`` from the state at ``height`` (a height > 0).

    Raises
    ------
    NotCleared
        The interval's status is not CLEARED at that height.
    ChainError
        A query failed, the chain closed the interval without clearing it (the
        keeper refunds every order when it refuses a result), or the chain's
        data cannot be cleared (the message says why).
    """
    interval = chain.interval(interval_id, height)
    if interval.status != market_pb2.INTERVAL_STATUS_CLEARED:
        status = market_pb2.IntervalStatus.Name(interval.status)
        raise NotCleared(
            f"interval {interval_id} is not cleared yet (status {status} at height {height})"
        )
    if not interval.mechanism:  # the keeper refused the result and refunded every order
        raise ChainError(
            f"interval {interval_id} was closed without clearing: "
            f"{interval.fallback or 'no reason recorded'}"
        )
    orders = list(
        pages(lambda key: chain.orders(interval=interval_id, page_key=key, height=height), "orders")
    )
    trades = list(
        pages(lambda key: chain.trades(interval=interval_id, page_key=key, height=height), "trades")
    )
    trades.sort(key=lambda t: t.index)
    inputs = reconstruct(interval, orders, chain.network(height))
    try:
        result = clearing.clear(inputs.orders, inputs.mechanism, inputs.network, inputs.params)
    except clearing.ClearingInputError as exc:
        raise ChainError(
            f"the chain's book of interval {interval_id} cannot be cleared again: {exc}"
        ) from None
    chain_side = chain_summary(interval, trades)
    recomputed = result_summary(result)
    return AuditReport(
        interval=interval_id,
        height=height,
        mechanism=inputs.mechanism.name,
        k=_fraction_text(inputs.mechanism.k),
        chain=chain_side,
        recomputed=recomputed,
        differences=differences(chain_side, recomputed),
        inputs=inputs_json(inputs),
    )


def reconstruct(interval: Any, orders: list[Any], network: Any) -> Inputs:
    """The clearing input the chain used for ``interval`` (see the module docstring)."""
    book = sorted(
        (o for o in orders if o.status != market_pb2.ORDER_STATUS_CANCELLED), key=lambda o: o.id
    )
    try:
        k = Fraction(interval.k) if interval.k else clearing.DEFAULT_K
        mechanism = clearing.Mechanism(interval.mechanism, k)
        params = market_keeper.clearing_params(interval)
        net = network_from_proto(network) if network.buses else None
    except (ValueError, ZeroDivisionError) as exc:
        raise ChainError(
            f"the chain's interval {interval.id} cannot be cleared again: {exc}"
        ) from None
    return Inputs(
        orders=[market_keeper.clearing_order(o) for o in book],
        mechanism=mechanism,
        params=params,
        network=net,
    )


def chain_summary(interval: Any, trades: list[Any]) -> dict[str, Any]:
    """What the chain recorded for the interval, in the audit's comparable form."""
    return {
        "clearing_price": interval.clearing_price if interval.HasField("clearing_price") else None,
        "matched_wh": interval.matched_wh,
        "trades": [
            {
                "buy_order": t.buy_order,
                "sell_order": t.sell_order,
                "quantity_wh": t.quantity_wh,
                "price": t.price,
                "amount": t.amount,
                "seller_price": t.seller_price,
                "seller_amount": t.seller_amount,
            }
            for t in trades
        ],
        "curtailments": [
            {
                "round": c.round,
                "line": c.line,
                "buy_order": c.buy_order,
                "sell_order": c.sell_order,
                "quantity_wh": c.quantity_wh,
                "order": c.order,
            }
            for c in interval.curtailments
        ],
    }


def result_summary(result: clearing.ClearingResult) -> dict[str, Any]:
    """A ClearingResult in the same form as ``chain_summary``."""
    return {
        "clearing_price": result.clearing_price,
        "matched_wh": result.matched_quantity,
        "trades": [
            {
                "buy_order": int(t.buy_id),
                "sell_order": int(t.sell_id),
                "quantity_wh": t.quantity_wh,
                "price": t.price,
                "amount": str(t.amount),
                "seller_price": t.seller_price,
                "seller_amount": str(t.seller_amount),
            }
            for t in result.trades
        ],
        "curtailments": [
            {
                "round": c.round,
                "line": c.line,
                "buy_order": int(c.buy_id),
                "sell_order": int(c.sell_id),
                "quantity_wh": c.quantity_wh,
                "order": int(c.order_id),
            }
            for c in result.curtailments
        ],
    }


def differences(chain: dict[str, Any], recomputed: dict[str, Any]) -> list[dict[str, Any]]:
    """Every field where the two summaries disagree, as ``{field, chain, recomputed}``."""
    out: list[dict[str, Any]] = []

    def differ(name: str, ours: Any, theirs: Any) -> None:
        if ours != theirs:
            out.append({"field": name, "chain": ours, "recomputed": theirs})

    differ("clearing_price", chain["clearing_price"], recomputed["clearing_price"])
    differ("matched_wh", chain["matched_wh"], recomputed["matched_wh"])
    for key, fields in (("trades", TRADE_FIELDS), ("curtailments", CURTAILMENT_FIELDS)):
        ours, theirs = chain[key], recomputed[key]
        differ(f"len({key})", len(ours), len(theirs))
        for i in range(max(len(ours), len(theirs))):
            if i >= len(ours) or i >= len(theirs):
                mine = ours[i] if i < len(ours) else None
                other = theirs[i] if i < len(theirs) else None
                differ(f"{key}[{i}]", mine, other)
                continue
            for name in fields:
                differ(f"{key}[{i}].{name}", ours[i][name], theirs[i][name])
    return out


def inputs_json(inputs: Inputs) -> dict[str, Any]:
    """The rebuilt book in ``mgrid market clear``'s input formats, for what-if runs."""
    return {
        "orders": [
            {
                "id": o.id,
                "side": o.side,
                "quantity": o.quantity_wh,
                "price": o.price,
                **({"bus": o.bus} if o.bus else {}),
                **({"owner": o.owner} if o.owner else {}),
            }
            for o in inputs.orders
        ],
        "network": None
        if inputs.network is None
        else {
            "buses": [
                {"id": b.id, "parent": b.parent, "capacity": b.capacity_wh}
                for b in inputs.network.buses
            ]
        },
        "params": {
            "feed_in_tariff": inputs.params.feed_in_tariff,
            "retail_tariff": inputs.params.retail_tariff,
            "min_price": inputs.params.min_price,
            "max_price": inputs.params.max_price,
        },
    }


def _fraction_text(k: Fraction) -> str:
    return str(k.numerator) if k.denominator == 1 else f"{k.numerator}/{k.denominator}"


__all__ = [
    "AuditReport",
    "Inputs",
    "NotCleared",
    "audit_interval",
    "chain_summary",
    "differences",
    "reconstruct",
    "result_summary",
]
