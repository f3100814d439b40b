"""Offline market clearing from JSON (issue 3 item 8): what-if runs and audits.

The wallet's ``mgrid market clear`` calls ``clear_from_json``, which runs the
very ``clear`` function the chain uses:

    mgrid market clear --mechanism uniform --k 1/2 --orders orders.json \
        [--network network.json] [--params params.json]

Input formats
-------------
orders:  [{"id": str, "side": "buy"|"sell", "quantity": int (Wh),
           "price": int (smallest unit per kWh), "bus": str (optional),
           "owner": str (optional)}, ...]   in submission order
network: {"buses": [{"id": str, "parent": str|null, "capacity": int|null}, ...]}
         capacity = Wh per interval of the line to the parent (root: the PCC);
         null or absent = unlimited
params:  {"feed_in_tariff": int, "retail_tariff": int, "min_price": int,
          "max_price": int}   (all optional; sdr needs the two tariffs)
k:       a decimal or a fraction ("0.5", "1/2"), parsed exactly

Output: {"mechanism", "k", "clearing_price", "matched_quantity", "trades":
[{"buy_id", "sell_id", "quantity", "price", "amount", "seller_price",
"seller_amount"}], "unmatched": [{"id", "quantity"}], "buyers_pay",
"sellers_receive", "market_surplus", "deficit", "curtailments": [{"round",
"line", "buy_id", "sell_id", "quantity", "order_id"}], "rounds"}.

Malformed input raises ``ValueError`` (a ``ClearingInputError``) whose
message names the item index and field.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

from app.modules.market.clearing import (
    ClearingInputError,
    ClearingResult,
    InvalidMechanismError,
    InvalidOrderError,
    InvalidParamsError,
    Mechanism,
    Order,
    Params,
    clear,
)
from app.modules.market.network import Bus, InvalidNetworkError, Network

_ORDER_FIELDS = ("id", "side", "quantity", "price", "bus", "owner")
_BUS_FIELDS = ("id", "parent", "capacity")
_PARAM_FIELDS = ("feed_in_tariff", "retail_tariff", "min_price", "max_price")


def parse_k(value: str | int | Fraction | None) -> Fraction:
    """Parse k exactly: "0.5", "1/2", "1", an int or a Fraction; None = 1/2."""
    if value is None:
        return Fraction(1, 2)
    if isinstance(value, Fraction):
        k = value
    elif type(value) is int:
        k = Fraction(value)
    elif isinstance(value, str):
        try:
            k = Fraction(value.strip())
        except (ValueError, ZeroDivisionError):
            raise InvalidMechanismError(
                f"k: expected a decimal or a fraction such as 0.5 or 1/2, got {value!r}"
            ) from None
    else:
        raise InvalidMechanismError(
            f"k: expected a decimal or fraction string, got {type(value).__name__}"
        )
    if not 0 <= k <= 1:
        raise InvalidMechanismError(f"k: must be in [0, 1], got {value}")
    return k


def _load(data: Any, what: str) -> Any:
    if isinstance(data, bytes | bytearray):
        data = data.decode()
    if isinstance(data, str):
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise ClearingInputError(f"{what}: invalid JSON: {exc}") from None
    return data


def _int(value: Any, where: str, error: type[ValueError], minimum: int) -> int:
    if type(value) is not int:
        raise error(f"{where}: expected an integer, got {value!r}")
    if value < minimum:
        raise error(f"{where}: must be >= {minimum}, got {value}")
    return value


def _opt_str(value: Any, where: str, error: type[ValueError]) -> str | None:
    if value is None:
        return None
    if type(value) is not str or not value:
        raise error(f"{where}: expected a non-empty string, got {value!r}")
    return value


def parse_orders(data: Any) -> list[Order]:
    """Orders from JSON text or an already parsed list (submission order kept)."""
    items = _load(data, "orders")
    if not isinstance(items, list):
        raise InvalidOrderError(f"orders: expected a JSON list, got {type(items).__name__}")
    out: list[Order] = []
    for i, item in enumerate(items):
        where = f"orders[{i}]"
        if not isinstance(item, dict):
            raise InvalidOrderError(f"{where}: expected an object, got {type(item).__name__}")
        for key in item:
            if key not in _ORDER_FIELDS:
                raise InvalidOrderError(f"{where}.{key}: unknown field")
        for key in ("id", "side", "quantity", "price"):
            if key not in item:
                raise InvalidOrderError(f"{where}.{key}: missing")
        oid = item["id"]
        if type(oid) is not str or not oid:
            raise InvalidOrderError(f"{where}.id: expected a non-empty string, got {oid!r}")
        side = item["side"]
        if side not in ("buy", "sell"):
            raise InvalidOrderError(f"{where}.side: expected 'buy' or 'sell', got {side!r}")
        out.append(
            Order(
                id=oid,
                side=side,
                quantity_wh=_int(item["quantity"], f"{where}.quantity", InvalidOrderError, 1),
                price=_int(item["price"], f"{where}.price", InvalidOrderError, 0),
                bus=_opt_str(item.get("bus"), f"{where}.bus", InvalidOrderError),
                owner=_opt_str(item.get("owner"), f"{where}.owner", InvalidOrderError),
            )
        )
    return out


def parse_network(data: Any) -> Network:
    """A radial network from JSON text or a parsed object."""
    obj = _load(data, "network")
    if not isinstance(obj, dict) or not isinstance(obj.get("buses"), list):
        raise InvalidNetworkError('network: expected an object {"buses": [...]}')
    for key in obj:
        if key != "buses":
            raise InvalidNetworkError(f"network.{key}: unknown field")
    buses: list[Bus] = []
    for i, item in enumerate(obj["buses"]):
        where = f"network.buses[{i}]"
        if not isinstance(item, dict):
            raise InvalidNetworkError(f"{where}: expected an object, got {type(item).__name__}")
        for key in item:
            if key not in _BUS_FIELDS:
                raise InvalidNetworkError(f"{where}.{key}: unknown field")
        bid = item.get("id")
        if type(bid) is not str or not bid:
            raise InvalidNetworkError(f"{where}.id: expected a non-empty string, got {bid!r}")
        parent = _opt_str(item.get("parent"), f"{where}.parent", InvalidNetworkError)
        cap = item.get("capacity")
        if cap is not None:
            cap = _int(cap, f"{where}.capacity", InvalidNetworkError, 0)
        buses.append(Bus(bid, parent, cap))
    return Network(tuple(buses))


def parse_params(data: Any) -> Params:
    """Clearing parameters from JSON text or a parsed object."""
    obj = _load(data, "params")
    if not isinstance(obj, dict):
        raise InvalidParamsError(f"params: expected an object, got {type(obj).__name__}")
    for key in obj:
        if key not in _PARAM_FIELDS:
            raise InvalidParamsError(f"params.{key}: unknown field")
    values: dict[str, int | None] = {}
    for key in _PARAM_FIELDS:
        value = obj.get(key)
        values[key] = None if value is None else _int(value, f"params.{key}", InvalidParamsError, 0)
    return Params(**values)


def result_to_json(result: ClearingResult) -> dict[str, Any]:
    """The issue's output format plus the keys a market designer needs to audit it."""
    k = result.k
    return {
        "mechanism": result.mechanism,
        "k": str(k.numerator) if k.denominator == 1 else f"{k.numerator}/{k.denominator}",
        "clearing_price": result.clearing_price,
        "matched_quantity": result.matched_quantity,
        "trades": [
            {
                "buy_id": t.buy_id,
                "sell_id": t.sell_id,
                "quantity": t.quantity_wh,
                "price": t.price,
                "amount": t.amount,
                "seller_price": t.seller_price,
                "seller_amount": t.seller_amount,
            }
            for t in result.trades
        ],
        "unmatched": [{"id": u.id, "quantity": u.quantity_wh} for u in result.unmatched],
        "buyers_pay": result.buyers_pay,
        "sellers_receive": result.sellers_receive,
        "market_surplus": result.market_surplus,
        "deficit": result.deficit,
        "curtailments": [
            {
                "round": c.round,
                "line": c.line,
                "buy_id": c.buy_id,
                "sell_id": c.sell_id,
                "quantity": c.quantity_wh,
                "order_id": c.order_id,
            }
            for c in result.curtailments
        ],
        "rounds": result.rounds,
    }


def clear_from_json(
    orders_json: Any,
    mechanism: str,
    k: str | int | Fraction | None = None,
    network_json: Any = None,
    params_json: Any = None,
) -> dict[str, Any]:
    """Clear orders given as JSON (text or parsed) and return the JSON-ready result.

    Raises
    ------
    ValueError (ClearingInputError and subclasses, InvalidNetworkError)
        Malformed input; the message names the item index and field.
    """
    mech = Mechanism(mechanism, parse_k(k))
    orders = parse_orders(orders_json)
    network = None if network_json is None else parse_network(network_json)
    params = None if params_json is None else parse_params(params_json)
    return result_to_json(clear(orders, mech, network, params))
