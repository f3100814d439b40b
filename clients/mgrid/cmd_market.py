"""``mgrid tx market ...``, ``mgrid query market ...`` and ``mgrid market audit``:
bidding, the utility cell's params and forecasts, and what the market did
(DESIGN.md sections 2 and 6).

    tx market place-order buy|sell --quantity WH --interval N|next [--price P]
          [--grid-fill] --from KEY
    tx market cancel-order ID --from KEY
    tx market update-params [--file params.json] [--interval-seconds N] ... --from KEY
    tx market publish-forecast --interval N|next --generation-wh WH --demand-wh WH --from KEY

    query market params | schedule | order ID
          | orders (--owner ADDR | --interval N) [--open] [--limit N] [--page-key HEX]
          | interval N | trades (--interval N | --address ADDR) [--limit N] [--page-key HEX]
          | grid-position | forecast N

    market audit --interval N [--height H]

Units: energy in whole Wh (``1500``, ``1500Wh`` or ``1.5kWh``: an exact
decimal, a fraction of a Wh is refused), prices in the denom's smallest unit
per kWh. An order without ``--price`` is priced automatically at gate
closure. ``--interval next`` is the earliest interval still taking orders
(``first_open`` of the Schedule query, asked from the node).

``place-order`` prints the new order's id, read from the ``market_place_order``
event of the block result (so only with ``--broadcast-mode commit``).

``update-params`` starts from the chain's current params (the Params query),
applies ``--file`` (a JSON object with Params field names; ``null`` unsets
an optional field) and then the flags, and sends the whole Params. It prints
what changes; sending the params unchanged is refused.

``market audit`` re-runs a cleared interval with the chain's own clearing
function and compares (audit.py): exit 0 when the chain's result is
reproduced exactly, 1 when it is not (or the interval is not cleared yet).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from google.protobuf import json_format

from app.modules.market import MECHANISMS
from app.pb.mgrid.market.v1 import market_pb2
from clients.mgrid import audit, render
from clients.mgrid import tx as txmod
from clients.mgrid.chain import TxResult
from clients.mgrid.session import (
    ExitCode,
    Session,
    UsageError,
    add_height,
    add_page_flags,
    add_tx_flags,
    energy_arg,
    interval_arg,
    leaf,
    open_interval,
    parse_address,
    parse_hex,
    read_height,
    read_json_file,
    sign_and_broadcast,
    uint_arg,
)

SIDES = {"buy": market_pb2.SIDE_BUY, "sell": market_pb2.SIDE_SELL}
MAX_UINT32 = 2**32 - 1
UNSET = "none"  # --min-price none: back to the default (the tariff)
ORDER_COLUMNS = (
    "id",
    "owner",
    "side",
    "interval",
    "quantity_wh",
    "price",
    "grid_fill",
    "status",
    "matched_wh",
    "grid_wh",
)
TRADE_COLUMNS = (
    "interval",
    "index",
    "buy_order",
    "sell_order",
    "quantity_wh",
    "price",
    "amount",
    "seller_price",
    "seller_amount",
    "fee",
    "tax",
)
PARAMS_ABSENT = {"min_price": "(feed-in tariff)", "max_price": "(retail tariff)"}


# -- argument types -------------------------------------------------------------------------


def fraction_arg(text: str) -> str:
    """An exact decimal or fraction in [0, 1] (``0.05``, ``1/2``), kept as written."""
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(
            f"not a decimal or fraction: {text!r} (e.g. 0.05 or 1/2)"
        ) from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is outside [0, 1]")
    return text.strip()


def uint32_arg(text: str) -> int:
    value = uint_arg(text)
    if value > MAX_UINT32:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..2^32-1")
    return value


def optional_uint_arg(text: str) -> int | str:
    return UNSET if text == UNSET else uint_arg(text)


# flag, Params field, type, metavar
PARAM_FLAGS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("--interval-seconds", "interval_seconds", uint_arg, "N"),
    ("--gate-closure-seconds", "gate_closure_seconds", uint_arg, "N"),
    ("--max-intervals-ahead", "max_intervals_ahead", uint_arg, "N"),
    ("--mechanism", "mechanism", str, "M"),
    ("--k", "k", fraction_arg, "K"),
    ("--retail-tariff", "retail_tariff", uint_arg, "N"),
    ("--feed-in-tariff", "feed_in_tariff", uint_arg, "N"),
    ("--min-price", "min_price", optional_uint_arg, "N|none"),
    ("--max-price", "max_price", optional_uint_arg, "N|none"),
    ("--grid-fee", "grid_fee_per_kwh", uint_arg, "N"),
    ("--tax-rate", "tax_rate", fraction_arg, "R"),
    ("--max-open-orders", "max_open_orders", uint32_arg, "N"),
    ("--min-order-wh", "min_order_wh", energy_arg, "WH"),
    ("--max-order-wh", "max_order_wh", energy_arg, "WH"),
    ("--seller-collateral-rate", "seller_collateral_rate", fraction_arg, "R"),
)


# -- parser ---------------------------------------------------------------------------------


def add_tx_commands(tx: Any) -> None:
    """``tx market`` subcommands, under the ``tx`` group ``tx``."""
    p = leaf(tx, "place-order", cmd_place_order, "bid or offer energy for a delivery interval")
    p.add_argument("side", choices=sorted(SIDES))
    p.add_argument(
        "--quantity", required=True, type=energy_arg, metavar="WH", help="1500, 1500Wh or 1.5kWh"
    )
    p.add_argument(
        "--interval",
        required=True,
        type=interval_arg,
        metavar="N|next",
        help="the delivery interval; next: the earliest still taking orders",
    )
    p.add_argument(
        "--price",
        type=uint_arg,
        metavar="P",
        help="limit price, smallest unit per kWh (default: priced automatically)",
    )
    p.add_argument(
        "--grid-fill", action="store_true", help="let the main grid fill what stays unmatched"
    )
    add_tx_flags(p)

    p = leaf(tx, "cancel-order", cmd_cancel_order, "cancel an open order; its escrow comes back")
    p.add_argument("order_id", metavar="ID", type=uint_arg)
    add_tx_flags(p)

    p = leaf(
        tx,
        "update-params",
        cmd_update_params,
        "change the market params (utility cell), from the next interval on",
    )
    p.add_argument("--file", metavar="FILE", help="JSON object of Params fields ('-': stdin)")
    for flag, name, type_, metavar in PARAM_FLAGS:
        kw: dict[str, Any] = {"choices": MECHANISMS} if name == "mechanism" else {"type": type_}
        p.add_argument(flag, dest=name, metavar=metavar, **kw)
    add_tx_flags(p)

    p = leaf(tx, "publish-forecast", cmd_publish_forecast, "publish the utility cell's forecast")
    p.add_argument("--interval", required=True, type=interval_arg, metavar="N|next")
    p.add_argument("--generation-wh", required=True, type=energy_arg, metavar="WH")
    p.add_argument("--demand-wh", required=True, type=energy_arg, metavar="WH")
    add_tx_flags(p)


def add_query_commands(query: Any) -> None:
    """``query market`` subcommands, under the ``query`` group ``query``."""
    add_height(leaf(query, "params", cmd_params, "params, bounds, pending update, accounts"))
    add_height(leaf(query, "schedule", cmd_schedule, "current interval and gate closure times"))
    p = leaf(query, "order", cmd_order, "one order")
    p.add_argument("order_id", metavar="ID", type=uint_arg)
    add_height(p)
    p = leaf(query, "orders", cmd_orders, "orders of an owner or of an interval")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--owner", metavar="ADDR")
    which.add_argument("--interval", type=uint_arg, metavar="N")
    p.add_argument("--open", action="store_true", help="open orders only")
    add_page_flags(p)
    add_height(p)
    p = leaf(query, "interval", cmd_interval, "an interval's state and clearing results")
    p.add_argument("interval_id", metavar="N", type=uint_arg)
    add_height(p)
    p = leaf(query, "trades", cmd_trades, "trades of an interval or of an account")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--interval", type=uint_arg, metavar="N")
    which.add_argument("--address", metavar="ADDR")
    add_page_flags(p)
    add_height(p)
    add_height(
        leaf(query, "grid-position", cmd_grid_position, "the main grid's balance and energy")
    )
    p = leaf(query, "forecast", cmd_forecast, "the utility cell's forecast for an interval")
    p.add_argument("interval_id", metavar="N", type=uint_arg)
    add_height(p)


def add_audit_command(market: Any) -> None:
    """``market audit`` under the ``market`` tools group."""
    p = leaf(
        market,
        "audit",
        cmd_audit,
        "re-run a cleared interval with the chain's clearing function (exit 0: it matches)",
    )
    p.add_argument("--interval", required=True, type=uint_arg, metavar="N")
    add_height(p)


# -- transactions ---------------------------------------------------------------------------


def _event_int(r: TxResult, event_type: str, key: str) -> int | str | None:
    values = r.attribute(event_type, key)
    if not values:
        return None
    return int(values[0]) if values[0].isdigit() else values[0]


def cmd_place_order(s: Session) -> int:
    a = s.args
    msg = txmod.msg_place_order(
        SIDES[a.side], open_interval(s, a.interval), a.quantity, a.price, a.grid_fill
    )

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        order_id = _event_int(r, "market_place_order", "order_id")
        if order_id is not None:
            return {"order_id": order_id}, [f"order id: {order_id}"]
        if r.phase == "check":
            return {"order_id": None}, ["order id: known once the transaction is in a block"]
        return {"order_id": None}, []

    return sign_and_broadcast(s, a.from_key, [msg], report)


def cmd_cancel_order(s: Session) -> int:
    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        refund = r.attribute("market_cancel_order", "refund")
        return ({"refund": refund[0]}, [f"refund: {refund[0]}"]) if refund else ({}, [])

    msg = txmod.msg_cancel_order(s.args.order_id)
    return sign_and_broadcast(s, s.args.from_key, [msg], report)


def cmd_update_params(s: Session) -> int:
    a = s.args
    overrides = read_json_file(a.file, "--file")
    if overrides is not None and not isinstance(overrides, dict):
        raise UsageError(f"--file: expected a JSON object of Params fields, got {overrides!r:.40}")
    flags = {name: getattr(a, name) for _, name, _, _ in PARAM_FLAGS}
    if overrides is None and all(v is None for v in flags.values()):
        raise UsageError("nothing to update: give --file or at least one params flag")
    chain_params = s.chain.market_params()
    if chain_params.HasField("pending"):
        s.warn(
            f"an update waits for interval {chain_params.pending_from_interval}; this one starts "
            "from the params in force now, not from the pending ones"
        )
    current = chain_params.params
    params = market_pb2.Params()
    params.CopyFrom(current)
    if overrides is not None:
        try:
            json_format.ParseDict(overrides, params)
        except json_format.ParseError as exc:
            raise UsageError(f"--file: {exc}") from None
    for name, value in flags.items():
        if value is None:
            continue
        if value == UNSET:
            params.ClearField(name)
        else:
            setattr(params, name, value)
    changes = _changes(current, params)
    if not changes:
        raise UsageError("these params equal the chain's current params: nothing to send")

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        return {"changes": changes}, ["changes:", *_changes_text(changes)]

    if not a.yes and s.env.interactive:  # shown before the confirmation prompt
        print("\n".join(["changes:", *_changes_text(changes)]), file=s.env.stderr)
    return sign_and_broadcast(s, a.from_key, [txmod.msg_update_params(params)], report)


def _changes(before: Any, after: Any) -> dict[str, dict[str, Any]]:
    old, new = render.proto_json(before), render.proto_json(after)
    return {
        name: {"from": old.get(name), "to": new.get(name)}
        for name in (f.name for f in before.DESCRIPTOR.fields)
        if old.get(name) != new.get(name)
    }


def _changes_text(changes: dict[str, dict[str, Any]]) -> list[str]:
    def show(v: Any) -> str:
        return "(default)" if v is None else str(v)

    return [f"  {k}: {show(c['from'])} -> {show(c['to'])}" for k, c in changes.items()]


def cmd_publish_forecast(s: Session) -> int:
    a = s.args
    msg = txmod.msg_publish_forecast(open_interval(s, a.interval), a.generation_wh, a.demand_wh)
    return sign_and_broadcast(s, a.from_key, [msg])


# -- queries --------------------------------------------------------------------------------


def cmd_params(s: Session) -> int:
    resp = s.chain.market_params(s.args.height)
    s.emit(render.proto_json(resp), render.record_text(resp, absent=PARAMS_ABSENT))
    return ExitCode.OK


def cmd_schedule(s: Session) -> int:
    resp = s.chain.schedule(s.args.height)
    s.emit(render.proto_json(resp), render.record_text(resp))
    return ExitCode.OK


def cmd_order(s: Session) -> int:
    order = s.chain.order(s.args.order_id, s.args.height)
    s.emit({"order": render.proto_json(order)}, render.record_text(order, absent={"price": "auto"}))
    return ExitCode.OK


def cmd_orders(s: Session) -> int:
    a = s.args
    owner = parse_address(a.owner, "--owner") if a.owner is not None else ""
    resp = s.chain.orders(
        owner=owner,
        interval=a.interval or 0,
        open_only=a.open,
        page_key=parse_hex(a.page_key, "--page-key"),
        limit=a.limit,
        height=a.height,
    )
    text = render.rows_text(
        resp.orders, ORDER_COLUMNS, "no orders", resp.next_key, absent={"price": "auto"}
    )
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_interval(s: Session) -> int:
    interval = s.chain.interval(s.args.interval_id, s.args.height)
    s.emit({"interval": render.proto_json(interval)}, render.record_text(interval))
    return ExitCode.OK


def cmd_trades(s: Session) -> int:
    a = s.args
    address = parse_address(a.address, "--address") if a.address is not None else ""
    resp = s.chain.trades(
        interval=a.interval or 0,
        address=address,
        page_key=parse_hex(a.page_key, "--page-key"),
        limit=a.limit,
        height=a.height,
    )
    s.emit(
        render.proto_json(resp),
        render.rows_text(resp.trades, TRADE_COLUMNS, "no trades", resp.next_key),
    )
    return ExitCode.OK


def cmd_grid_position(s: Session) -> int:
    resp = s.chain.grid_position(s.args.height)
    s.emit(render.proto_json(resp), render.record_text(resp))
    return ExitCode.OK


def cmd_forecast(s: Session) -> int:
    forecast = s.chain.forecast(s.args.interval_id, s.args.height)
    s.emit({"forecast": render.proto_json(forecast)}, render.record_text(forecast))
    return ExitCode.OK


# -- audit ----------------------------------------------------------------------------------


def cmd_audit(s: Session) -> int:
    height = read_height(s)  # every query of the audit must read the same state
    report = audit.audit_interval(s.chain, s.args.interval, height)
    s.emit(report.to_json(), _audit_text(report))
    return ExitCode.OK if report.match else ExitCode.CHAIN


def _audit_text(r: audit.AuditReport) -> str:
    def summary(side: dict[str, Any]) -> str:
        price = side["clearing_price"]
        return (
            f"clearing price {'-' if price is None else price}, matched {side['matched_wh']} Wh, "
            f"{len(side['trades'])} trades, {len(side['curtailments'])} curtailments"
        )

    verdict = "MATCH" if r.match else "MISMATCH"
    lines = [
        f"interval {r.interval} at height {r.height} ({r.mechanism}, k={r.k}): {verdict}",
        f"  chain:      {summary(r.chain)}",
        f"  recomputed: {summary(r.recomputed)}",
    ]
    if r.differences:
        lines.append("differences:")
        lines += [
            f"  {d['field']}: chain {d['chain']}, recomputed {d['recomputed']}"
            for d in r.differences
        ]
    return "\n".join(lines)
