"""``mgrid tx flex ...`` and ``mgrid query flex ...``: the DSO's flexibility auction
(issue 10; app/modules/flexibility/keeper.py has the rules).

    tx flex post-need --interval N|next --quantity WH --max-price P [--penalty RATE]
          [--bus BUS] [--penalty-account ADDR|NAME] --from KEY
    tx flex offer NEED_ID --quantity WH --price P --from KEY

    query flex need ID
          | needs [--interval N] [--all | --limit N --page-key HEX]
          | offers ADDR|NAME [--all | --limit N --page-key HEX]

``post-need`` (the utility cell) asks for ``--quantity`` less consumption in
interval N on ``--bus`` and the buses below it (default: the whole microgrid),
paying at most ``--max-price`` per kWh; the reserve, quantity x max price, is
locked until the award. A selected offer that does not deliver pays
``--penalty`` per kWh missing (default 0) to ``--penalty-account`` (default:
the settlement module's penalty pool). ``offer`` (a participant on that bus
or below) offers flexibility at its own price, locking quantity x penalty as
collateral. ``--interval next`` is the earliest interval still taking
orders; energy as in ``tx market place-order`` (``1500``, ``1500Wh``,
``1.5kWh``), prices in the denom's smallest unit per kWh.

Both print the new id, read from the block's ``flexibility_need`` /
``flexibility_offer`` event: ``need id: 3`` (text) or ``"need_id": 3``
(JSON), ``offer_id`` likewise.

Queries take ``--height H``; with ``--output json`` each prints the chain's
response message (render.py), ``--all`` every page at one height.
"""

from __future__ import annotations

from typing import Any

from app.pb.mgrid.flexibility.v1 import flexibility_pb2
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

NEED_HEADERS = (
    "id",
    "interval",
    "bus",
    "quantity_wh",
    "max_price",
    "penalty",
    "status",
    "offers",
    "awarded_wh",
    "award_cost",
    "credited_wh",
    "payments",
    "penalties",
)
OFFER_HEADERS = (
    "id",
    "need",
    "provider",
    "quantity_wh",
    "price",
    "collateral",
    "selected",
    "awarded_wh",
    "credited_wh",
    "reward",
    "penalty",
)


# -- parser ---------------------------------------------------------------------------------


def add_tx_commands(tx: Any) -> None:
    """``tx flex`` subcommands, under the ``tx`` group ``tx``."""
    p = leaf(tx, "post-need", cmd_post_need, "post a flexibility need (utility cell)")
    p.add_argument(
        "--interval",
        required=True,
        type=interval_arg,
        metavar="N|next",
        help="the delivery interval; next: the earliest still taking orders",
    )
    p.add_argument(
        "--quantity",
        required=True,
        type=energy_arg,
        metavar="WH",
        help="reduction wanted: 1500, 1500Wh or 1.5kWh",
    )
    p.add_argument(
        "--max-price", required=True, type=uint_arg, metavar="P", help="at most, per kWh"
    )
    p.add_argument(
        "--penalty",
        type=uint_arg,
        default=0,
        metavar="RATE",
        help="per kWh a selected offer fails to deliver (default 0)",
    )
    p.add_argument(
        "--bus", default="", metavar="BUS", help="this bus and those below (default: all)"
    )
    p.add_argument(
        "--penalty-account",
        metavar="ADDR|NAME",
        help="where penalties go (default: the settlement penalty pool)",
    )
    add_tx_flags(p)

    p = leaf(tx, "offer", cmd_offer, "offer flexibility to a need, at your own price")
    p.add_argument("need_id", metavar="NEED_ID", type=uint_arg)
    p.add_argument("--quantity", required=True, type=energy_arg, metavar="WH")
    p.add_argument("--price", required=True, type=uint_arg, metavar="P", help="per kWh")
    add_tx_flags(p)


def add_query_commands(query: Any) -> None:
    """``query flex`` subcommands, under the ``query`` group ``query``."""
    p = leaf(query, "need", cmd_need, "a need and its offers")
    p.add_argument("need_id", metavar="ID", type=uint_arg)
    add_height(p)
    p = leaf(query, "needs", cmd_needs, "needs by id, or those of one interval")
    p.add_argument("--interval", type=uint_arg, default=0, metavar="N")
    _add_list_flags(p)
    p = leaf(query, "offers", cmd_offers, "a provider's offers, newest first")
    p.add_argument("provider", metavar="ADDR|NAME")
    _add_list_flags(p)


def _add_list_flags(p: Any) -> None:
    add_page_flags(p)
    p.add_argument("--all", action="store_true", help="walk every page (one height)")
    add_height(p)


# -- transactions ---------------------------------------------------------------------------


def _id_report(event_type: str, attribute: str, key: str, label: str) -> Any:
    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        values = r.attribute(event_type, attribute)
        if values:
            return {key: int(values[0])}, [f"{label}: {values[0]}"]
        if r.phase == "check":
            return {key: None}, [f"{label}: known once the transaction is in a block"]
        return {key: None}, []

    return report


def cmd_post_need(s: Session) -> int:
    a = s.args
    interval = open_interval(s, a.interval)
    penalty_account = (
        address_or_key(s, a.penalty_account, "--penalty-account")
        if a.penalty_account is not None
        else ""
    )
    msg = flexibility_pb2.MsgPostNeed(
        interval=interval,
        bus=a.bus,
        quantity_wh=a.quantity,
        max_price_per_kwh=a.max_price,
        penalty_per_kwh=a.penalty,
        penalty_account=penalty_account,
    )
    report = _id_report("flexibility_need", "id", "need_id", "need id")
    return sign_and_broadcast(s, a.from_key, [tx_pb2.Msg(post_flex_need=msg)], report)


def cmd_offer(s: Session) -> int:
    a = s.args
    msg = flexibility_pb2.MsgOfferFlexibility(
        need_id=a.need_id, quantity_wh=a.quantity, price_per_kwh=a.price
    )
    report = _id_report("flexibility_offer", "offer_id", "offer_id", "offer id")
    return sign_and_broadcast(s, a.from_key, [tx_pb2.Msg(offer_flexibility=msg)], report)


# -- queries --------------------------------------------------------------------------------


def _query(s: Session, method: str, request: Any, height: int) -> Any:
    return s.chain.query(flexibility_pb2.DESCRIPTOR, method, request, height)


def cmd_need(s: Session) -> int:
    req = flexibility_pb2.QueryNeedRequest(id=s.args.need_id)
    resp = _query(s, "Need", req, s.args.height)
    need = render.record_text(resp.need).replace("\nbus:\n", "\nbus: (whole microgrid)\n")
    offers = _offers_table(resp.offers, "  ") if resp.offers else "  (none)"
    s.emit(render.proto_json(resp), f"need:\n{_indent(need)}\noffers:\n{offers}")
    return ExitCode.OK


def cmd_needs(s: Session) -> int:
    a = s.args

    def fetch(key: bytes, height: int) -> Any:
        req = flexibility_pb2.QueryNeedsRequest(interval=a.interval, page_key=key, limit=a.limit)
        return _query(s, "Needs", req, height)

    resp, _ = page_or_all(s, fetch, "needs", flexibility_pb2.QueryNeedsResponse)
    if resp.needs:
        text = _needs_table(resp.needs)
    else:
        text = f"no needs for interval {a.interval}" if a.interval else "no needs"
    s.emit(render.proto_json(resp), text + render.more_hint(resp.next_key))
    return ExitCode.OK


def cmd_offers(s: Session) -> int:
    a = s.args
    provider = address_or_key(s, a.provider, "provider")

    def fetch(key: bytes, height: int) -> Any:
        req = flexibility_pb2.QueryOffersRequest(provider=provider, page_key=key, limit=a.limit)
        return _query(s, "Offers", req, height)

    resp, _ = page_or_all(s, fetch, "offers", flexibility_pb2.QueryOffersResponse)
    text = _offers_table(resp.offers) if resp.offers else f"no offers from {provider}"
    s.emit(render.proto_json(resp), text + render.more_hint(resp.next_key))
    return ExitCode.OK


# -- text -----------------------------------------------------------------------------------


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _needs_table(needs: Any) -> str:
    rows = [
        [
            str(n.id),
            str(n.interval),
            n.bus or "(all)",
            str(n.quantity_wh),
            str(n.max_price_per_kwh),
            str(n.penalty_per_kwh),
            render.enum_label(flexibility_pb2.NeedStatus.DESCRIPTOR, n.status),
            str(n.offers),
            str(n.awarded_wh),
            n.award_cost or "0",
            str(n.credited_wh),
            n.payments or "0",
            n.penalties or "0",
        ]
        for n in needs
    ]
    return render.table(NEED_HEADERS, rows)


def _offers_table(offers: Any, indent: str = "") -> str:
    rows = []
    for o in offers:
        settled = o.settled
        rows.append(
            [
                str(o.id),
                str(o.need_id),
                o.provider,
                str(o.quantity_wh),
                str(o.price_per_kwh),
                o.collateral or "0",
                "yes" if o.selected else "no",
                str(o.awarded_wh),
                str(o.delivery.credited_wh) if settled else "-",
                o.delivery.reward if settled else "-",
                o.delivery.penalty if settled else "-",
            ]
        )
    return render.table(OFFER_HEADERS, rows, indent)
