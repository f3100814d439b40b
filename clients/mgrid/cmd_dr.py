"""``mgrid tx dr ...`` and ``mgrid query dr ...``: demand-response events (issue 10).

    tx dr create-event --interval N|next --requested WH --reward RATE --penalty RATE
          [--bus BUS] [--penalty-account ADDR|NAME] --from KEY
    tx dr opt-in EVENT_ID --commit WH --from KEY

    query dr params
          | event ID
          | events [--interval N] [--all | --limit N --page-key HEX]
          | opt-ins ADDR|NAME [--all | --limit N --page-key HEX]

``create-event`` (the utility cell) asks for a reduction of ``--requested``
Wh in a delivery interval whose gate is still open (``next``: the earliest
one, the market's ``first_open``), on the whole microgrid or on ``--bus`` and
the buses below it, and locks floor(requested * reward / 1000) from its
balance: the most the rewards can come to. Rates are in the denom's smallest
unit per kWh; penalties go to ``--penalty-account`` (default: the settlement
module's penalty pool). It prints the new event's id (``event_id``), read
from the ``demand_response_event`` event of the block result (so only with
``--broadcast-mode commit``).

``opt-in`` commits a reduction of ``--commit`` Wh to an open event and locks
floor(commit * penalty / 1000) as collateral; it prints the collateral.
After the interval's settlement window the chain measures each opt-in
against the participant's baseline (``mgrid query settlement baseline``),
pays its reward and takes its penalty; ``query dr event ID`` shows how.

Energy as in ``tx market place-order``: ``1500``, ``1500Wh`` or ``1.5kWh``.
ADDR|NAME is a bech32 address or the name of a keyring key (only its public
address is read). Queries take ``--height H``; with ``--output json`` each
prints the chain's response message (render.py); a list with ``--all`` walks
every page at one height (``next_key`` empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from clients.mgrid import render
from clients.mgrid.chain import TxResult
from clients.mgrid.cmd_settlement import address_or_key
from clients.mgrid.session import (
    ExitCode,
    Session,
    add_height,
    add_page_flags,
    add_tx_flags,
    energy_arg,
    interval_arg,
    leaf,
    open_interval,
    page_or_all,
    sign_and_broadcast,
    uint_arg,
)

EVENT_HEADERS = (
    "id",
    "interval",
    "bus",
    "requested_wh",
    "committed_wh",
    "opt_ins",
    "reward_per_kwh",
    "penalty_per_kwh",
    "status",
    "auto",
)
OPT_IN_HEADERS = (
    "participant",
    "committed_wh",
    "collateral",
    "baseline_wh",
    "metered_wh",
    "credited_wh",
    "shortfall_wh",
    "reward",
    "penalty",
    "score",
)
MY_OPT_IN_HEADERS = (
    "event",
    "committed_wh",
    "collateral",
    "settled",
    "credited_wh",
    "shortfall_wh",
    "reward",
    "penalty",
)


# -- parser ---------------------------------------------------------------------------------


def add_tx_commands(group: Any) -> None:
    """``tx dr`` subcommands, under the ``tx`` group ``group``."""
    p = leaf(group, "create-event", cmd_create_event, "ask for a reduction (utility cell)")
    p.add_argument(
        "--interval",
        required=True,
        type=interval_arg,
        metavar="N|next",
        help="the delivery interval; next: the earliest still open",
    )
    p.add_argument(
        "--requested", required=True, type=energy_arg, metavar="WH", help="1500, 1500Wh or 1.5kWh"
    )
    p.add_argument(
        "--reward", required=True, type=uint_arg, metavar="RATE", help="per kWh delivered"
    )
    p.add_argument(
        "--penalty", required=True, type=uint_arg, metavar="RATE", help="per kWh not delivered"
    )
    p.add_argument("--bus", default="", help="this bus and those below it (default: all)")
    p.add_argument(
        "--penalty-account",
        metavar="ADDR|NAME",
        help="receives the penalties (default: the settlement penalty pool)",
    )
    add_tx_flags(p)

    p = leaf(group, "opt-in", cmd_opt_in, "commit a reduction to an open event")
    p.add_argument("event_id", metavar="EVENT_ID", type=uint_arg)
    p.add_argument("--commit", required=True, type=energy_arg, metavar="WH", help="the reduction")
    add_tx_flags(p)


def add_query_commands(group: Any) -> None:
    """``query dr`` subcommands, under the ``query`` group ``group``."""
    add_height(leaf(group, "params", cmd_params, "automatic events, opt-in limit"))
    p = leaf(group, "event", cmd_event, "one event and its opt-ins")
    p.add_argument("event_id", metavar="ID", type=uint_arg)
    add_height(p)
    p = leaf(group, "events", cmd_events, "events by id, or those of one interval")
    p.add_argument("--interval", type=uint_arg, default=0, metavar="N", help="one interval's")
    _add_list_flags(p)
    p = leaf(group, "opt-ins", cmd_opt_ins, "a participant's opt-ins, newest event first")
    p.add_argument("participant", metavar="ADDR|NAME")
    _add_list_flags(p)


def _add_list_flags(p: Any) -> None:
    add_page_flags(p)
    p.add_argument("--all", action="store_true", help="walk every page (one height)")
    add_height(p)


# -- transactions ---------------------------------------------------------------------------


def _attribute(r: TxResult, event_type: str, key: str) -> str | None:
    values = r.attribute(event_type, key)
    return values[0] if values else None


def cmd_create_event(s: Session) -> int:
    a = s.args
    penalty_account = (
        address_or_key(s, a.penalty_account, "--penalty-account") if a.penalty_account else ""
    )
    interval = open_interval(s, a.interval)
    msg = tx_pb2.Msg(
        create_dr_event=dr_pb2.MsgCreateEvent(
            interval=interval,
            bus=a.bus,
            requested_wh=a.requested,
            reward_per_kwh=a.reward,
            penalty_per_kwh=a.penalty,
            penalty_account=penalty_account,
        )
    )

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        event_id = _attribute(r, "demand_response_event", "id")
        if event_id is None:
            later = ["event id: known once the transaction is in a block"]
            return {"event_id": None}, later if r.phase == "check" else []
        reserve = _attribute(r, "demand_response_event", "reserve") or "0"
        data = {"event_id": int(event_id), "interval": interval, "reserve": reserve}
        return data, [f"event id: {event_id}", f"interval: {interval}", f"reserve: {reserve}"]

    return sign_and_broadcast(s, a.from_key, [msg], report)


def cmd_opt_in(s: Session) -> int:
    a = s.args
    msg = tx_pb2.Msg(dr_opt_in=dr_pb2.MsgOptIn(event_id=a.event_id, committed_wh=a.commit))

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        collateral = _attribute(r, "demand_response_opt_in", "collateral")
        if collateral is None:
            return {}, []
        return {"event_id": a.event_id, "collateral": collateral}, [f"collateral: {collateral}"]

    return sign_and_broadcast(s, a.from_key, [msg], report)


# -- queries --------------------------------------------------------------------------------


def _query(s: Session, method: str, request: Any, height: int) -> Any:
    return s.chain.query(dr_pb2.DESCRIPTOR, method, request, height)


def cmd_params(s: Session) -> int:
    params = _query(s, "Params", dr_pb2.QueryParamsRequest(), s.args.height).params
    s.emit({"params": render.proto_json(params)}, render.record_text(params))
    return ExitCode.OK


def cmd_event(s: Session) -> int:
    resp = _query(s, "Event", dr_pb2.QueryEventRequest(id=s.args.event_id), s.args.height)
    denom = s.chain.bank_params(s.args.height).denom
    s.emit(render.proto_json(resp), _event_text(resp.event, resp.opt_ins, denom))
    return ExitCode.OK


def cmd_events(s: Session) -> int:
    a = s.args
    resp, _ = page_or_all(
        s,
        lambda key, h: _query(
            s,
            "Events",
            dr_pb2.QueryEventsRequest(interval=a.interval, page_key=key, limit=a.limit),
            h,
        ),
        "events",
        dr_pb2.QueryEventsResponse,
    )
    if resp.events:
        text = render.table(EVENT_HEADERS, [_event_row(e) for e in resp.events])
    else:
        text = f"no events for interval {a.interval}" if a.interval else "no events"
    s.emit(render.proto_json(resp), text + render.more_hint(resp.next_key))
    return ExitCode.OK


def cmd_opt_ins(s: Session) -> int:
    a = s.args
    participant = address_or_key(s, a.participant, "ADDR")
    resp, _ = page_or_all(
        s,
        lambda key, h: _query(
            s,
            "OptIns",
            dr_pb2.QueryOptInsRequest(participant=participant, page_key=key, limit=a.limit),
            h,
        ),
        "opt_ins",
        dr_pb2.QueryOptInsResponse,
    )
    rows = [
        [
            str(o.event_id),
            str(o.committed_wh),
            o.collateral,
            "yes" if o.settled else "no",
            *(
                [
                    str(o.delivery.credited_wh),
                    str(o.delivery.shortfall_wh),
                    o.delivery.reward,
                    o.delivery.penalty,
                ]
                if o.settled
                else ["-"] * 4
            ),
        ]
        for o in resp.opt_ins
    ]
    text = render.table(MY_OPT_IN_HEADERS, rows) if rows else f"no opt-ins of {participant}"
    s.emit(render.proto_json(resp), text + render.more_hint(resp.next_key))
    return ExitCode.OK


# -- text -----------------------------------------------------------------------------------


def _bus(bus: str) -> str:
    return bus or "(all)"


def _event_row(e: dr_pb2.Event) -> list[str]:
    return [
        str(e.id),
        str(e.interval),
        _bus(e.bus),
        str(e.requested_wh),
        str(e.committed_wh),
        str(e.opt_ins),
        str(e.reward_per_kwh),
        str(e.penalty_per_kwh),
        render.enum_label(dr_pb2.EventStatus.DESCRIPTOR, e.status),
        "yes" if e.automatic else "no",
    ]


def _event_text(e: dr_pb2.Event, opt_ins: Sequence[dr_pb2.OptIn], denom: str) -> str:
    status = render.enum_label(dr_pb2.EventStatus.DESCRIPTOR, e.status)
    lines = [
        f"(amounts in {denom}, rates in {denom} per kWh, energy in Wh)",
        f"id: {e.id}",
        f"interval: {e.interval}",
        f"bus: {e.bus or '(the whole microgrid)'}",
        f"status: {status}",
        f"requested_wh: {e.requested_wh}",
        f"committed_wh: {e.committed_wh}",
        f"opt_ins: {e.opt_ins}",
        f"reward_per_kwh: {e.reward_per_kwh}",
        f"penalty_per_kwh: {e.penalty_per_kwh}",
        f"funder: {e.funder}",
        f"penalty_account: {e.penalty_account}",
        f"reserve: {e.reserve}",
        f"created_height: {e.created_height}",
    ]
    if e.automatic:
        lines.append(
            f"automatic: yes, after interval {e.trigger_interval} bought "
            f"{e.trigger_imbalance_wh} Wh from the main grid"
        )
    if e.status == dr_pb2.EVENT_STATUS_SETTLED:
        lines += [
            f"settled_height: {e.settled_height}",
            f"credited_wh: {e.credited_wh}",
            f"shortfall_wh: {e.shortfall_wh}",
            f"rewards: {e.rewards}",
            f"penalties: {e.penalties}",
            f"refund: {int(e.reserve) - int(e.rewards or 0)}",
        ]
    if not opt_ins:
        return "\n".join([*lines, "opt-ins: none"])
    rows = []
    for o in opt_ins:
        d = o.delivery
        measured = (
            [
                str(d.baseline_wh),
                "missing" if d.missing_reading else str(d.metered_wh),
                str(d.credited_wh),
                str(d.shortfall_wh),
                d.reward,
                d.penalty,
                f"{render.percent(d.score_before)}->{render.percent(d.score_after)}",
            ]
            if o.settled
            else ["-"] * 7
        )
        rows.append([o.participant, str(o.committed_wh), o.collateral, *measured])
    return "\n".join([*lines, "opt-ins:", render.table(OPT_IN_HEADERS, rows, "  ")])
