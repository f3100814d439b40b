"""``mgrid tx storage ...`` and ``mgrid query storage ...``: storage-backed energy
credits (issue 11; the rules are in app/modules/storage/keeper.py, the guide in
docs/storage.md).

    tx storage deposit STORAGE WH --interval N|next --from KEY
    tx storage redeem STORAGE WH --interval N|next --from KEY
    tx storage transfer STORAGE TO WH --from KEY
    tx storage sell STORAGE WH --interval N|next --price P --from KEY

    query storage state STORAGE
          | list [--all | --limit N --page-key HEX]
          | holders STORAGE [--all | --limit N --page-key HEX]
          | credits ADDR
          | deposits STORAGE [--interval N]
          | redemptions STORAGE [--interval N]

``deposit`` commits to deliver WH into a community storage during a delivery
interval whose gate is still open (``next``: the earliest, the market's
``first_open``); after the interval's settlement what the meters show was
delivered mints credits, WH x the storage's efficiency rounded down.
``redeem`` locks credits to take that energy back in an interval; ``sell``
does that and offers the same energy in the market in one transaction
(a redemption and a sell order at ``--price`` per kWh for the same
interval: settlement nets the one against the other). ``transfer`` gives
credits to any account.

Energy as in ``tx market place-order``: ``1500``, ``1500Wh`` or ``1.5kWh``.
STORAGE, TO and ADDR are bech32 addresses or names of keyring keys (only the
public address is read). ``deposit``, ``redeem`` and ``sell`` print the new
record's id (and the sell order's), read from the block's events (so only
with ``--broadcast-mode commit``). Queries take ``--height H``; with
``--output json`` each prints the chain's response message (render.py).
"""

from __future__ import annotations

from typing import Any

from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.storage.v1 import storage_pb2
from clients.mgrid import render
from clients.mgrid import tx as txmod
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

STORAGE_COLUMNS = (
    "storage",
    "stored_wh",
    "credits_wh",
    "locked_wh",
    "reserved_wh",
    "holders",
)
HOLDER_COLUMNS = ("holder", "wh", "locked_wh")
CREDIT_COLUMNS = ("storage", "wh", "locked_wh")
DEPOSIT_COLUMNS = (
    "id",
    "depositor",
    "interval",
    "committed_wh",
    "reserved_wh",
    "settled",
    "delivered_wh",
    "credited_wh",
)
REDEMPTION_COLUMNS = ("id", "holder", "interval", "requested_wh", "settled", "delivered_wh")


# -- parser ---------------------------------------------------------------------------------


def _interval(p: Any, help: str) -> None:
    p.add_argument("--interval", required=True, type=interval_arg, metavar="N|next", help=help)


def add_tx_commands(tx: Any) -> None:
    """``tx storage`` subcommands, under the ``tx`` group ``tx``."""
    p = leaf(tx, "deposit", cmd_deposit, "commit energy into a storage for an interval")
    p.add_argument("storage", metavar="STORAGE")
    p.add_argument("wh", metavar="WH", type=energy_arg, help="1500, 1500Wh or 1.5kWh")
    _interval(p, "the delivery interval; next: the earliest still open")
    add_tx_flags(p)

    p = leaf(tx, "redeem", cmd_redeem, "lock credits to take the energy back in an interval")
    p.add_argument("storage", metavar="STORAGE")
    p.add_argument("wh", metavar="WH", type=energy_arg)
    _interval(p, "the delivery interval; next: the earliest still open")
    add_tx_flags(p)

    p = leaf(tx, "transfer", cmd_transfer, "give spendable credits to another account")
    p.add_argument("storage", metavar="STORAGE")
    p.add_argument("to", metavar="TO")
    p.add_argument("wh", metavar="WH", type=energy_arg)
    add_tx_flags(p)

    p = leaf(tx, "sell", cmd_sell, "redeem credits and offer the energy in the market (one tx)")
    p.add_argument("storage", metavar="STORAGE")
    p.add_argument("wh", metavar="WH", type=energy_arg)
    _interval(p, "the delivery interval of both; next: the earliest still open")
    p.add_argument("--price", required=True, type=uint_arg, metavar="P", help="limit price per kWh")
    add_tx_flags(p)


def add_query_commands(query: Any) -> None:
    """``query storage`` subcommands, under the ``query`` group ``query``."""
    p = leaf(query, "state", cmd_state, "how much a storage holds, and for whom")
    p.add_argument("storage", metavar="STORAGE")
    add_height(p)
    p = leaf(query, "list", cmd_list, "storages that took deposits")
    _add_list_flags(p)
    p = leaf(query, "holders", cmd_holders, "who holds claims on a storage")
    p.add_argument("storage", metavar="STORAGE")
    _add_list_flags(p)
    p = leaf(query, "credits", cmd_credits, "an account's credits on every storage")
    p.add_argument("holder", metavar="ADDR")
    add_height(p)
    for name, fn, what in (
        ("deposits", cmd_deposits, "a storage's deposits"),
        ("redemptions", cmd_redemptions, "a storage's redemptions"),
    ):
        p = leaf(query, name, fn, f"{what}: of one interval, or every unsettled one")
        p.add_argument("storage", metavar="STORAGE")
        p.add_argument(
            "--interval", type=uint_arg, default=0, metavar="N", help="default: the unsettled"
        )
        add_height(p)


def _add_list_flags(p: Any) -> None:
    add_page_flags(p)
    p.add_argument("--all", action="store_true", help="walk every page (one height)")
    add_height(p)


# -- transactions ---------------------------------------------------------------------------


def _first(r: TxResult, event_type: str, key: str) -> str | None:
    values = r.attribute(event_type, key)
    return values[0] if values else None


def _ids(
    r: TxResult, interval: int, wanted: list[tuple[str, str, str]]
) -> tuple[dict[str, Any], list[str]]:
    """Ids read from the block's events: (event type, attribute, name) each."""
    data: dict[str, Any] = {"interval": interval}
    lines = [f"interval: {interval}"]
    for event_type, key, name in wanted:
        value = _first(r, event_type, key)
        if value is None:
            if r.phase == "check":
                data[name] = None
                lines.append(f"{name.replace('_', ' ')}: known once the transaction is in a block")
            continue
        data[name] = int(value)
        lines.append(f"{name.replace('_', ' ')}: {value}")
    return data, lines


def cmd_deposit(s: Session) -> int:
    a = s.args
    storage = address_or_key(s, a.storage, "STORAGE")
    interval = open_interval(s, a.interval)
    msg = txmod.msg_storage_deposit(storage, interval, a.wh)

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        return _ids(
            r,
            interval,
            [
                ("storage_deposit", "deposit_id", "deposit_id"),
                ("storage_deposit", "reserved_wh", "reserved_wh"),
            ],
        )

    return sign_and_broadcast(s, a.from_key, [msg], report)


def cmd_redeem(s: Session) -> int:
    a = s.args
    storage = address_or_key(s, a.storage, "STORAGE")
    interval = open_interval(s, a.interval)
    msg = txmod.msg_storage_redeem(storage, interval, a.wh)

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        return _ids(r, interval, [("storage_redeem", "redemption_id", "redemption_id")])

    return sign_and_broadcast(s, a.from_key, [msg], report)


def cmd_transfer(s: Session) -> int:
    a = s.args
    storage = address_or_key(s, a.storage, "STORAGE")
    to = address_or_key(s, a.to, "TO")
    return sign_and_broadcast(s, a.from_key, [txmod.msg_transfer_credits(storage, to, a.wh)])


def cmd_sell(s: Session) -> int:
    a = s.args
    storage = address_or_key(s, a.storage, "STORAGE")
    interval = open_interval(s, a.interval)
    messages = [
        txmod.msg_storage_redeem(storage, interval, a.wh),
        txmod.msg_place_order(market_pb2.SIDE_SELL, interval, a.wh, a.price),
    ]

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        return _ids(
            r,
            interval,
            [
                ("storage_redeem", "redemption_id", "redemption_id"),
                ("market_place_order", "order_id", "order_id"),
            ],
        )

    return sign_and_broadcast(s, a.from_key, messages, report)


# -- queries --------------------------------------------------------------------------------


def _query(s: Session, method: str, request: Any, height: int) -> Any:
    return s.chain.query(storage_pb2.DESCRIPTOR, method, request, height)


def state_text(state: storage_pb2.StorageState) -> str:
    """The state's fields, with the state of charge and the free capacity."""
    capacity = state.spec.capacity_wh
    free = capacity - state.stored_wh - state.reserved_wh
    charge = render.percent(state.stored_wh * render.PPM // capacity) if capacity else "-"
    return "\n".join(
        [
            "(energy in Wh; credits are Wh the holders may take back)",
            render.record_text(state),
            f"state of charge: {charge} of {render.kwh(capacity)}",
            f"free capacity: {free} Wh (after {state.reserved_wh} Wh reserved by deposits)",
        ]
    )


def cmd_state(s: Session) -> int:
    a = s.args
    storage = address_or_key(s, a.storage, "STORAGE")
    resp = _query(s, "Storage", storage_pb2.QueryStorageRequest(storage=storage), a.height)
    s.emit(render.proto_json(resp), state_text(resp.state))
    return ExitCode.OK


def cmd_list(s: Session) -> int:
    a = s.args
    resp, _ = page_or_all(
        s,
        lambda key, h: _query(
            s, "Storages", storage_pb2.QueryStoragesRequest(page_key=key, limit=a.limit), h
        ),
        "storages",
        storage_pb2.QueryStoragesResponse,
    )
    text = render.rows_text(
        resp.storages, STORAGE_COLUMNS, "no storage took a deposit yet", resp.next_key
    )
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_holders(s: Session) -> int:
    a = s.args
    storage = address_or_key(s, a.storage, "STORAGE")
    resp, _ = page_or_all(
        s,
        lambda key, h: _query(
            s,
            "Holders",
            storage_pb2.QueryHoldersRequest(storage=storage, page_key=key, limit=a.limit),
            h,
        ),
        "holders",
        storage_pb2.QueryHoldersResponse,
    )
    text = render.rows_text(resp.holders, HOLDER_COLUMNS, f"no credits on {storage}", resp.next_key)
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_credits(s: Session) -> int:
    a = s.args
    holder = address_or_key(s, a.holder, "ADDR")
    resp = _query(s, "Credits", storage_pb2.QueryCreditsRequest(holder=holder), a.height)
    text = render.rows_text(resp.credits, CREDIT_COLUMNS, f"{holder} holds no credits")
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def _records(s: Session, method: str, request_type: Any, items: str, columns: Any) -> int:
    a = s.args
    storage = address_or_key(s, a.storage, "STORAGE")
    resp = _query(s, method, request_type(storage=storage, interval=a.interval), a.height)
    what = f"for interval {a.interval}" if a.interval else "unsettled"
    text = render.rows_text(getattr(resp, items), columns, f"no {items} {what}")
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_deposits(s: Session) -> int:
    return _records(s, "Deposits", storage_pb2.QueryDepositsRequest, "deposits", DEPOSIT_COLUMNS)


def cmd_redemptions(s: Session) -> int:
    return _records(
        s, "Redemptions", storage_pb2.QueryRedemptionsRequest, "redemptions", REDEMPTION_COLUMNS
    )
