"""``mgrid tx quota ...``, ``mgrid query quota ...`` and ``mgrid quota allocate``:
EV-charging quotas under a transformer's capacity margin (issue 10, item 3;
the rules are in app/modules/quota/keeper.py).

    tx quota announce --bus BUS --interval N|next --margin W --trading-seconds S
          [--penalty RATE] [--penalty-account ADDR|NAME] --from KEY
    tx quota demand MARGIN_ID --demand W --from KEY
    tx quota order MARGIN_ID --side buy|sell --quantity W --price P --from KEY

    query quota margin ID
          | margins [--interval N] [--all | --limit N --page-key HEX]
          | station MARGIN_ID ADDR|NAME

    quota allocate --capacity-margin W --demands FILE      (offline)

Units: power in whole W (``7400``, ``7400W``, ``7.4kW``: an exact decimal, a
fraction of a W is refused), quota prices per kW in the denom's smallest
unit, the penalty per kWh of load above the final quota. Quota trading
closes at the interval's gate closure and starts ``--trading-seconds``
before it, when the quotas are allocated; ``--interval next`` is the
earliest interval whose allocation time is still ahead, with at least
``NEXT_SLACK_S`` seconds for stations to send their demands (the market's
Schedule and Interval queries).
``--penalty-account`` defaults to the settlement module's penalty pool.

``announce`` reports the new margin's id (``margin_id``) and ``order`` the
order's (``order_id``), read from the ``quota_margin`` and ``quota_order``
events of the block result (so only with ``--broadcast-mode commit``).

Queries take ``--height H``; with ``--output json`` each prints the chain's
response message (render.py). ``margins --all`` walks every page at one height.

``quota allocate`` runs the chain's own allocation function on a JSON file
``[{"id": str, "demand": int (W)}, ...]`` (``-``: stdin) without a node and
prints ``{"beta": "num/den", "quotas": [{"id", "quota"}]}`` in input order
(``--output json``), or a table with beta and the totals.
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.quota.v1 import quota_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from clients.mgrid import render
from clients.mgrid import tx as txmod
from clients.mgrid.chain import TxResult
from clients.mgrid.cmd_settlement import address_or_key
from clients.mgrid.session import (
    NEXT,
    ExitCode,
    Session,
    UsageError,
    add_height,
    add_page_flags,
    add_tx_flags,
    interval_arg,
    leaf,
    page_or_all,
    sign_and_broadcast,
    uint_arg,
)

SIDES = {"buy": market_pb2.SIDE_BUY, "sell": market_pb2.SIDE_SELL}
W_PER_UNIT = {"w": 1, "kw": 1000, "mw": 1_000_000}
MARGIN_COLUMNS = (
    "id",
    "bus",
    "interval",
    "margin_w",
    "status",
    "stations",
    "total_demand_w",
    "beta",
    "allocated_w",
    "traded_w",
    "penalties",
)
STATION_COLUMNS = (
    "station",
    "demand_w",
    "initial_quota_w",
    "bought_w",
    "sold_w",
    "final_quota_w",
    "paid",
    "received",
    "metered_wh",
    "allowed_wh",
    "over_quota_wh",
    "penalty",
)
ORDER_COLUMNS = (
    "id",
    "station",
    "side",
    "quantity_w",
    "price_per_kw",
    "escrow",
    "matched_w",
    "amount",
)
TRADE_COLUMNS = (
    "buy_order",
    "sell_order",
    "buyer",
    "seller",
    "quantity_w",
    "price_per_kw",
    "amount",
)


# -- argument types -------------------------------------------------------------------------


def _power(text: str) -> int:
    """Power in whole W from ``7400``, ``7400W``, ``7.4kW`` or ``0.5MW``; ValueError if not."""
    raw = text.strip()
    number, scale = raw, 1
    for unit in sorted(W_PER_UNIT, key=len, reverse=True):
        if raw.lower().endswith(unit):
            number, scale = raw[: -len(unit)].strip(), W_PER_UNIT[unit]
            break
    try:
        value = Decimal(number) * scale
    except InvalidOperation:
        raise ValueError(f"not a power: {text!r} (e.g. 7400, 7400W or 7.4kW)") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"power must be a non-negative number of W, got {text!r}")
    if value != value.to_integral_value():
        raise ValueError(f"{text} is {value} W: power is in whole W")
    if value > txmod.MAX_UINT64:
        raise ValueError(f"{text} is outside 0..2^64-1 W")
    return int(value)


def power_arg(text: str) -> int:
    """argparse type: power in whole W (see ``_power``)."""
    try:
        return _power(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- parser ---------------------------------------------------------------------------------


def add_tx_commands(tx: Any) -> None:
    """``tx quota`` subcommands, under the ``tx`` group ``tx``."""
    p = leaf(tx, "announce", cmd_announce, "announce a bus's capacity margin (utility cell)")
    p.add_argument("--bus", required=True, metavar="BUS", help="the transformer's bus")
    p.add_argument(
        "--interval",
        required=True,
        type=interval_arg,
        metavar="N|next",
        help="the delivery interval; next: the earliest whose allocation is >= 10 s away",
    )
    p.add_argument(
        "--margin", required=True, type=power_arg, metavar="W", help="7400, 7400W or 7.4kW"
    )
    p.add_argument(
        "--trading-seconds",
        required=True,
        type=uint_arg,
        metavar="S",
        help="quota trading runs this long before the interval's gate closes",
    )
    p.add_argument(
        "--penalty",
        type=uint_arg,
        default=0,
        metavar="RATE",
        help="per kWh of load above the final quota (default 0)",
    )
    p.add_argument(
        "--penalty-account",
        metavar="ADDR|NAME",
        help="who receives the penalties (default: the settlement penalty pool)",
    )
    add_tx_flags(p)

    p = leaf(tx, "demand", cmd_demand, "ask a margin for charging power (a station)")
    p.add_argument("margin_id", metavar="MARGIN_ID", type=uint_arg)
    p.add_argument("--demand", required=True, type=power_arg, metavar="W")
    add_tx_flags(p)

    p = leaf(tx, "order", cmd_order, "buy or sell quota while a margin is trading")
    p.add_argument("margin_id", metavar="MARGIN_ID", type=uint_arg)
    p.add_argument("--side", required=True, choices=sorted(SIDES))
    p.add_argument("--quantity", required=True, type=power_arg, metavar="W")
    p.add_argument(
        "--price", required=True, type=uint_arg, metavar="P", help="per kW, smallest unit"
    )
    add_tx_flags(p)


def add_query_commands(query: Any) -> None:
    """``query quota`` subcommands, under the ``query`` group ``query``."""
    p = leaf(query, "margin", cmd_margin, "a margin with its stations, orders and trades")
    p.add_argument("margin_id", metavar="ID", type=uint_arg)
    add_height(p)
    p = leaf(query, "margins", cmd_margins, "margins, all or of one interval")
    p.add_argument("--interval", type=uint_arg, default=0, metavar="N")
    add_page_flags(p)
    p.add_argument("--all", action="store_true", help="walk every page (one height)")
    add_height(p)
    p = leaf(query, "station", cmd_station, "one station's demand, quota and penalty")
    p.add_argument("margin_id", metavar="MARGIN_ID", type=uint_arg)
    p.add_argument("station", metavar="ADDR|NAME")
    add_height(p)


def add_tool_commands(tools: Any) -> None:
    """``quota`` offline tools, under the top-level ``quota`` group."""
    p = leaf(
        tools,
        "allocate",
        cmd_allocate,
        "initial quotas under a capacity margin, with the chain's allocation function",
    )
    p.add_argument("--capacity-margin", required=True, metavar="W", help="the margin, W")
    p.add_argument(
        "--demands",
        required=True,
        metavar="FILE",
        help='JSON list [{"id": str, "demand": int (W)}] (\'-\': stdin)',
    )


# -- transactions ---------------------------------------------------------------------------


def _event_id(
    r: TxResult, event_type: str, key: str, name: str
) -> tuple[dict[str, Any], list[str]]:
    values = r.attribute(event_type, key)
    if values:
        return {name: int(values[0])}, [f"{name.replace('_', ' ')}: {values[0]}"]
    if r.phase == "check":
        return {name: None}, [f"{name.replace('_', ' ')}: known once the transaction is in a block"]
    return {name: None}, []


NEXT_SLACK_S = 10


def next_interval(s: Session, trading_seconds: int) -> int:
    """The earliest interval whose allocation time (its gate closure minus
    ``trading_seconds``) is at least NEXT_SLACK_S after the last block."""
    schedule = s.chain.schedule()
    first = int(schedule.first_open)
    gate = int(s.chain.interval(first).gate_closure_time)
    length = int(schedule.interval_seconds)
    late = int(schedule.block_time) + NEXT_SLACK_S - (gate - trading_seconds)
    return first + max(0, -(-late // length))


def cmd_announce(s: Session) -> int:
    a = s.args
    interval = next_interval(s, a.trading_seconds) if a.interval == NEXT else int(a.interval)
    account = (
        address_or_key(s, a.penalty_account, "--penalty-account")
        if a.penalty_account is not None
        else ""
    )
    msg = tx_pb2.Msg(
        announce_margin=quota_pb2.MsgAnnounceMargin(
            bus=a.bus,
            interval=interval,
            margin_w=a.margin,
            penalty_per_kwh=a.penalty,
            trading_seconds=a.trading_seconds,
            penalty_account=account,
        )
    )

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        data, lines = _event_id(r, "quota_margin", "margin_id", "margin_id")
        for key in ("interval", "allocation_time", "trading_close_time"):
            values = r.attribute("quota_margin", key)
            if values:
                data[key] = int(values[0])
                lines.append(f"{key.replace('_', ' ')}: {values[0]}")
        return data, lines

    return sign_and_broadcast(s, a.from_key, [msg], report)


def cmd_demand(s: Session) -> int:
    a = s.args
    msg = tx_pb2.Msg(
        submit_demand=quota_pb2.MsgSubmitDemand(margin_id=a.margin_id, demand_w=a.demand)
    )
    return sign_and_broadcast(s, a.from_key, [msg])


def cmd_order(s: Session) -> int:
    a = s.args
    msg = tx_pb2.Msg(
        place_quota_order=quota_pb2.MsgPlaceQuotaOrder(
            margin_id=a.margin_id,
            side=SIDES[a.side],
            quantity_w=a.quantity,
            price_per_kw=a.price,
        )
    )

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        data, lines = _event_id(r, "quota_order", "order_id", "order_id")
        escrow = r.attribute("quota_order", "escrow")
        if escrow:
            data["escrow"] = escrow[0]
            lines.append(f"escrow: {escrow[0]}")
        return data, lines

    return sign_and_broadcast(s, a.from_key, [msg], report)


# -- queries --------------------------------------------------------------------------------


def _query(s: Session, method: str, request: Any, height: int = 0) -> Any:
    return s.chain.query(quota_pb2.DESCRIPTOR, method, request, height)


def cmd_margin(s: Session) -> int:
    resp = _query(s, "Margin", quota_pb2.QueryMarginRequest(id=s.args.margin_id), s.args.height)
    text = "\n".join(
        [
            render.record_text(resp.margin),
            "stations:",
            render.rows_text(resp.stations, STATION_COLUMNS, "  (none)"),
            "orders:",
            render.rows_text(resp.orders, ORDER_COLUMNS, "  (none)"),
            "trades:",
            render.rows_text(resp.trades, TRADE_COLUMNS, "  (none)"),
        ]
    )
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_margins(s: Session) -> int:
    a = s.args

    def fetch(key: bytes, height: int) -> Any:
        req = quota_pb2.QueryMarginsRequest(interval=a.interval, page_key=key, limit=a.limit)
        return _query(s, "Margins", req, height)

    resp, _ = page_or_all(s, fetch, "margins", quota_pb2.QueryMarginsResponse)
    empty = f"no margins for interval {a.interval}" if a.interval else "no margins"
    s.emit(
        render.proto_json(resp),
        render.rows_text(resp.margins, MARGIN_COLUMNS, empty, resp.next_key),
    )
    return ExitCode.OK


def cmd_station(s: Session) -> int:
    a = s.args
    station = address_or_key(s, a.station, "ADDR")
    req = quota_pb2.QueryStationRequest(margin_id=a.margin_id, station=station)
    resp = _query(s, "Station", req, a.height)
    s.emit(render.proto_json(resp), render.record_text(resp.station))
    return ExitCode.OK


# -- the offline allocation tool ------------------------------------------------------------


def _read_demands(s: Session, path: str) -> Any:
    try:
        text = s.env.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--demands: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"--demands: {path} is not UTF-8 text: {exc.reason}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--demands: {path} is not JSON: {exc}") from None


def cmd_allocate(s: Session) -> int:
    from app.modules.quota.allocation import allocate_json

    a = s.args
    try:
        margin = _power(a.capacity_margin)
    except ValueError as exc:
        raise UsageError(f"--capacity-margin: {exc}") from None
    data = _read_demands(s, a.demands)
    try:
        result = allocate_json(margin, data)
    except ValueError as exc:
        raise UsageError(f"--demands: {exc}") from None
    demands = {d["id"]: d["demand"] for d in data}
    total = sum(demands.values())
    allocated = sum(q["quota"] for q in result["quotas"])
    rows = [[q["id"], str(demands[q["id"]]), str(q["quota"])] for q in result["quotas"]]
    lines = [
        f"capacity margin: {margin} W",
        f"total demand:    {total} W"
        + (" (fits: every quota equals its demand)" if total <= margin else ""),
        f"beta:            {result['beta']}",
        f"allocated:       {allocated} W ({margin - allocated} W of the margin unallocated)",
        render.table(("id", "demand_w", "quota_w"), rows) if rows else "(no stations)",
    ]
    s.emit(result, "\n".join(lines))
    return ExitCode.OK
