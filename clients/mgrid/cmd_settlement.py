"""``mgrid tx settlement ...``, ``mgrid query settlement ...`` and ``mgrid query
reputation ...``: signed meter readings, how each delivery interval was
settled, the microgrid's KPIs and the participants' reputation (DESIGN.md
section 2, steps 5 to 7).

    tx settlement reading --meter NAME --interval N|last --exported WH --imported WH
          [--participant ADDR|NAME] [--meter-sequence S] --from KEY

    query settlement params
          | reading --meter HEX|NAME --interval N
          | readings --interval N [--all | --limit N --page-key HEX]
          | interval N
          | settlements (--interval N | --participant ADDR|NAME [--interval N])
                [--all | --limit N --page-key HEX]
          | kpis
          | baseline ADDR|NAME --interval N
    query reputation params
          | score ADDR|NAME
          | history ADDR|NAME [--all | --limit N --page-key HEX]
          | ranking [--all | --limit N --page-key HEX]

``tx settlement reading``: the meter's key (``--meter``, a keyring entry like
any other) signs the reading, and the ``--from`` account submits it and pays
the fee; any account may submit any meter's reading. The chain takes a
reading for interval n only while block time is in ``[end(n), end(n) +
window_seconds)`` (``query settlement interval N`` shows ``window_end``),
one per meter and interval.

- ``--participant`` defaults to the participant the meter is registered to
  (the registry's Meter query); a reading naming another one is refused.
- ``--interval last`` is the most recent interval that has ended:
  ``current_interval - 1`` of the market's Schedule query.
- ``--meter-sequence`` is the meter's own counter, which must be strictly
  above that of its previous reading. It defaults to the interval number,
  which increases as long as a meter reports its intervals in order (after
  interval 12 it cannot report interval 11 without an explicit, higher
  sequence). It is not ``--sequence``: that flag, as on every tx command, is
  the submitting account's sequence.
- Energy as in ``tx market place-order``: ``1500``, ``1500Wh`` or ``1.5kWh``.
- The chain's stateless checks run before any key is opened; in a block the
  text output shows the ``settlement_reading`` event.

ADDR|NAME is a bech32 address (``mg1...``) or the name of a keyring key;
HEX|NAME is a meter's public key (64 hex digits) or the name of its key.
Only public keys are read for them, so no passphrase is asked.

Queries take ``--height H``. With ``--output json`` each prints the chain's
response message (render.py); ``query settlement interval N`` adds
``settlements``, every ParticipantSettlement of the interval (all pages).
``query settlement baseline`` shows the baseline a demand-response or
flexibility commitment for interval N would be measured against, from the
readings stored at the height read (settlement/delivery.py). A
list command with ``--all`` walks every page at one height and prints the
whole list (``next_key`` empty). Text shows ratios (ppm on chain) as exact
percentages, money in the chain's denom, energy in Wh in tables and in kWh
in the KPIs; the interval's participant table signs IMBALANCE_WH (energy
sold to the main grid +, bought -), IMBALANCE (its revenue +, cost -) and
NET (what settlement did to the participant's balance).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from app import crypto
from app.errors import ErrNotFound
from app.pb.mgrid.reputation.v1 import reputation_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from clients.mgrid import render
from clients.mgrid import tx as txmod
from clients.mgrid.chain import QueryError, TxResult, pages
from clients.mgrid.keyring import InvalidKeyName, KeyNotFound
from clients.mgrid.session import (
    ExitCode,
    Session,
    UsageError,
    add_height,
    add_page_flags,
    add_tx_flags,
    energy_arg,
    leaf,
    page_or_all,
    parse_address,
    read_height,
    sign_and_broadcast,
    uint_arg,
)

LAST = "last"
PUBKEY_HEX_RE = re.compile(rf"(?:0x)?[0-9a-fA-F]{{{2 * crypto.PUBKEY_LEN}}}")
# Stands in for the meter's signature while the chain's stateless checks run,
# so that a reading refused for its shape costs no passphrase.
PLACEHOLDER_SIGNATURE = bytes(64)
READING_EVENT = "settlement_reading"
READING_INTS = ("interval", "exported_wh", "imported_wh", "sequence")
READING_COLUMNS = (
    "meter",
    "participant",
    "exported_wh",
    "imported_wh",
    "sequence",
    "height",
    "submitter",
)
SETTLEMENT_HEADERS = (
    "participant",
    "sell_wh",
    "buy_wh",
    "export_wh",
    "import_wh",
    "deviation_wh",
    "shortfall_wh",
    "imbalance_wh",
    "imbalance",
    "penalty",
    "net",
    "score",
)
HISTORY_HEADERS = ("interval", "accuracy", "score", "contracted_wh", "deviation_wh", "suspended")
RANKING_HEADERS = (
    "rank",
    "participant",
    "score_ppm",
    "score",
    "intervals",
    "suspended_until",
    "rebates",
)


# -- parser ---------------------------------------------------------------------------------


def interval_arg(text: str) -> int | str:
    """An interval number, or ``last`` (resolved with the Schedule query)."""
    return LAST if text == LAST else uint_arg(text)


def add_tx_commands(tx: Any) -> None:
    """``tx settlement`` subcommands, under the ``tx`` group ``tx``."""
    p = leaf(tx, "reading", cmd_reading, "submit a meter's signed reading for an interval")
    p.add_argument(
        "--meter", required=True, metavar="NAME", help="the meter's key in the keyring (it signs)"
    )
    p.add_argument(
        "--participant",
        metavar="ADDR|NAME",
        help="whom the meter measures (default: the participant it is registered to)",
    )
    p.add_argument(
        "--interval",
        required=True,
        type=interval_arg,
        metavar="N|last",
        help="the delivery interval; last: the most recent that has ended",
    )
    p.add_argument(
        "--exported", required=True, type=energy_arg, metavar="WH", help="1500, 1500Wh or 1.5kWh"
    )
    p.add_argument("--imported", required=True, type=energy_arg, metavar="WH")
    p.add_argument(
        "--meter-sequence",
        type=uint_arg,
        metavar="S",
        help="the meter's counter, above its last reading's (default: the interval number)",
    )
    add_tx_flags(p)


def add_query_commands(query: Any) -> None:
    """``query settlement`` subcommands, under the ``query`` group ``query``."""
    add_height(leaf(query, "params", cmd_params, "settlement window, penalties, penalty pool"))
    p = leaf(query, "reading", cmd_reading_query, "one meter's reading for an interval")
    p.add_argument("--meter", required=True, metavar="HEX|NAME")
    p.add_argument("--interval", required=True, type=uint_arg, metavar="N")
    add_height(p)
    p = leaf(query, "readings", cmd_readings, "the readings submitted for an interval")
    p.add_argument("--interval", required=True, type=uint_arg, metavar="N")
    _add_list_flags(p)
    p = leaf(query, "interval", cmd_interval, "an interval's settlement: KPIs, money, participants")
    p.add_argument("interval_id", metavar="N", type=uint_arg)
    add_height(p)
    p = leaf(query, "settlements", cmd_settlements, "participant settlements")
    p.add_argument(
        "--interval", type=uint_arg, metavar="N", default=0, help="every participant's, or one"
    )
    p.add_argument(
        "--participant", metavar="ADDR|NAME", help="its settlements (all intervals: newest first)"
    )
    _add_list_flags(p)
    add_height(leaf(query, "kpis", cmd_kpis, "cumulative KPIs since genesis"))
    p = leaf(query, "baseline", cmd_baseline, "a participant's baseline for an interval")
    p.add_argument("participant", metavar="ADDR|NAME")
    p.add_argument("--interval", required=True, type=uint_arg, metavar="N")
    add_height(p)


def add_reputation_query_commands(query: Any) -> None:
    """``query reputation`` subcommands, under the ``query`` group ``query``."""
    add_height(leaf(query, "params", cmd_reputation_params, "weight, suspension, rebates"))
    p = leaf(query, "score", cmd_score, "a participant's score and rank")
    p.add_argument("participant", metavar="ADDR|NAME")
    add_height(p)
    p = leaf(query, "history", cmd_history, "a participant's score updates, newest first")
    p.add_argument("participant", metavar="ADDR|NAME")
    _add_list_flags(p)
    p = leaf(query, "ranking", cmd_ranking, "participants by score, best first")
    _add_list_flags(p)


def _add_list_flags(p: Any) -> None:
    add_page_flags(p)
    p.add_argument("--all", action="store_true", help="walk every page (one height)")
    add_height(p)


# -- resolving names ------------------------------------------------------------------------


def address_or_key(s: Session, text: str, what: str) -> str:
    """A bech32 address as given, or the address of the keyring key named ``text``."""
    if crypto.is_address(text):
        return text
    try:
        return s.keyring().get(text).address
    except (KeyNotFound, InvalidKeyName):
        if text.startswith(crypto.HRP + "1"):
            parse_address(text, what)  # a mistyped address: say what is wrong with it
        raise


def meter_key(s: Session, text: str) -> bytes:
    """A meter's public key given as hex, or the public key of the keyring key ``text``."""
    if PUBKEY_HEX_RE.fullmatch(text):
        return bytes.fromhex(text.removeprefix("0x"))
    return s.keyring().get(text).pub_key


def _last_ended(s: Session) -> int:
    current = int(s.chain.schedule().current_interval)
    if current == 0:
        raise UsageError("--interval last: no interval has ended yet")
    return current - 1


def _registered_participant(s: Session, name: str, pub_key: bytes) -> str:
    try:
        meter = s.chain.meter(pub_key)
    except QueryError as exc:
        if (exc.codespace, exc.code) != (ErrNotFound.codespace, ErrNotFound.code):
            raise
        raise QueryError(
            exc.path,
            exc.codespace,
            exc.code,
            f"{exc.log}: meter key {name!r} is not registered, so whom it measures is unknown "
            f"(the utility cell registers it: mgrid tx registry register-meter ADDR "
            f"--meter-key {name})",
        ) from None
    return str(meter.participant)


# -- transactions ---------------------------------------------------------------------------


def cmd_reading(s: Session) -> int:
    a = s.args
    keyring = s.keyring()
    meter = keyring.get(a.meter)  # an unknown key fails before any network traffic
    interval = _last_ended(s) if a.interval == LAST else int(a.interval)
    if a.participant is not None:
        participant = address_or_key(s, a.participant, "--participant")
    else:
        participant = _registered_participant(s, a.meter, meter.pub_key)
    fields: dict[str, Any] = {
        "chain_id": s.chain_id(),
        "participant": participant,
        "interval": interval,
        "exported_wh": a.exported,
        "imported_wh": a.imported,
        "sequence": interval if a.meter_sequence is None else a.meter_sequence,
    }
    unsigned = settlement_pb2.MeterReading(meter=meter.pub_key, **fields)
    try:
        txmod.validate_messages(
            [
                tx_pb2.Msg(
                    meter_reading=settlement_pb2.MsgMeterReading(
                        reading=unsigned.SerializeToString(deterministic=True),
                        signature=PLACEHOLDER_SIGNATURE,
                    )
                )
            ]
        )
    except txmod.TxBuildError as exc:
        raise UsageError(str(exc)) from None
    if not a.yes and s.env.interactive:  # shown before the confirmation prompt
        print(render.record_text(unsigned), file=s.env.stderr)
    msg = txmod.msg_meter_reading(keyring.private_key(a.meter), **fields)
    return sign_and_broadcast(s, a.from_key, [msg], _reading_report)


def _reading_report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
    event = next((e for e in r.events if e.type == READING_EVENT), None)
    if event is None:
        return {}, []
    data = {k: int(v) if k in READING_INTS else v for k, v in event.attributes}
    return {"reading": data}, [f"{READING_EVENT}:", *(f"  {k}: {v}" for k, v in data.items())]


# -- settlement queries ---------------------------------------------------------------------


def cmd_params(s: Session) -> int:
    params = s.chain.settlement_params(s.args.height)
    s.emit({"params": render.proto_json(params)}, render.record_text(params))
    return ExitCode.OK


def cmd_reading_query(s: Session) -> int:
    reading = s.chain.reading(meter_key(s, s.args.meter), s.args.interval, s.args.height)
    s.emit({"reading": render.proto_json(reading)}, render.record_text(reading))
    return ExitCode.OK


def cmd_readings(s: Session) -> int:
    a = s.args
    resp, _ = page_or_all(
        s,
        lambda key, h: s.chain.readings(a.interval, page_key=key, limit=a.limit, height=h),
        "readings",
        settlement_pb2.QueryReadingsResponse,
    )
    empty = f"no readings for interval {a.interval}"
    text = render.rows_text(resp.readings, READING_COLUMNS, empty, resp.next_key)
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_interval(s: Session) -> int:
    n = s.args.interval_id
    height = read_height(s)
    resp = s.chain.settlement(n, height)

    def fetch(key: bytes) -> Any:
        return s.chain.settlements(interval=n, page_key=key, height=height)

    rows = list(pages(fetch, "settlements"))
    denom = s.chain.bank_params(height).denom
    now = int(s.chain.schedule(height).block_time)
    data = {**render.proto_json(resp), "settlements": [render.proto_json(r) for r in rows]}
    s.emit(data, _interval_text(n, resp, rows, denom, now))
    return ExitCode.OK


def cmd_settlements(s: Session) -> int:
    a = s.args
    participant = (
        address_or_key(s, a.participant, "--participant") if a.participant is not None else ""
    )
    if not participant and not a.interval:
        raise UsageError("give --interval N, --participant ADDR, or both")
    resp, height = page_or_all(
        s,
        lambda key, h: s.chain.settlements(
            interval=a.interval, participant=participant, page_key=key, limit=a.limit, height=h
        ),
        "settlements",
        settlement_pb2.QuerySettlementsResponse,
    )
    if resp.settlements:
        denom = s.chain.bank_params(height).denom
        text = f"amounts in {denom}, energy in Wh\n" + _settlements_table(
            resp.settlements, with_interval=not a.interval
        )
    else:
        text = "no settlements"
    if resp.next_key:
        text += f"\nmore: --page-key {bytes(resp.next_key).hex()}"
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_kpis(s: Session) -> int:
    totals = s.chain.kpis(s.args.height)
    denom = s.chain.bank_params(s.args.height).denom
    s.emit({"totals": render.proto_json(totals)}, _totals_text(totals, denom))
    return ExitCode.OK


def cmd_baseline(s: Session) -> int:
    a = s.args
    participant = address_or_key(s, a.participant, "ADDR")
    req = settlement_pb2.QueryBaselineRequest(participant=participant, interval=a.interval)
    resp = s.chain.query(settlement_pb2.DESCRIPTOR, "Baseline", req, a.height)
    compared = ", ".join(str(n) for n in resp.intervals) or "none"
    text = "\n".join(
        [
            f"participant: {participant}",
            f"interval: {a.interval}",
            f"baseline_wh: {resp.baseline_wh}",
            f"samples: {resp.samples} of {len(resp.intervals)} intervals had a reading"
            + ("" if resp.samples else " (baseline 0)"),
            f"compared intervals: {compared}",
        ]
    )
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


# -- reputation queries ---------------------------------------------------------------------


def cmd_reputation_params(s: Session) -> int:
    params = s.chain.reputation_params(s.args.height)
    s.emit({"params": render.proto_json(params)}, render.record_text(params))
    return ExitCode.OK


def cmd_score(s: Session) -> int:
    participant = address_or_key(s, s.args.participant, "ADDR")
    resp = s.chain.score(participant, s.args.height)
    denom = s.chain.bank_params(s.args.height).denom
    sc = resp.score
    rank = str(resp.rank) if resp.rank else "not ranked yet (never settled: the initial score)"
    lines = [
        f"participant: {sc.participant}",
        f"score: {sc.score} ppm ({render.percent(sc.score)})",
        f"rank: {rank}",
        f"intervals: {sc.intervals}",
        f"last_interval: {sc.last_interval or '-'}",
        f"suspended_until: {sc.suspended_until or '-'}",
        f"suspensions: {sc.suspensions}",
        f"rebates: {render.money(sc.rebates, denom)}",
    ]
    s.emit(render.proto_json(resp), "\n".join(lines))
    return ExitCode.OK


def cmd_history(s: Session) -> int:
    a = s.args
    participant = address_or_key(s, a.participant, "ADDR")
    resp, _ = page_or_all(
        s,
        lambda key, h: s.chain.reputation_history(
            participant, page_key=key, limit=a.limit, height=h
        ),
        "entries",
        reputation_pb2.QueryHistoryResponse,
    )
    rows = [
        [
            str(e.interval),
            render.percent(e.accuracy),
            _score_change(e.score_before, e.score_after),
            str(e.contracted_wh),
            render.signed_int(e.deviation_wh),
            "yes" if e.suspended else "no",
        ]
        for e in resp.entries
    ]
    text = render.table(HISTORY_HEADERS, rows) if rows else f"no history for {participant}"
    if resp.next_key:
        text += f"\nmore: --page-key {bytes(resp.next_key).hex()}"
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_ranking(s: Session) -> int:
    a = s.args
    resp, height = page_or_all(
        s,
        lambda key, h: s.chain.ranking(page_key=key, limit=a.limit, height=h),
        "scores",
        reputation_pb2.QueryRankingResponse,
    )
    if not resp.scores:
        text = "nobody is ranked yet: scores start with the first settled interval"
    else:
        # A later page starts where the first participant on it ranks.
        first = (
            1 if a.all or not a.page_key else s.chain.score(resp.scores[0].participant, height).rank
        )
        denom = s.chain.bank_params(height).denom
        rows = [
            [
                str(first + i),
                sc.participant,
                str(sc.score),
                render.percent(sc.score),
                str(sc.intervals),
                str(sc.suspended_until or "-"),
                render.money(sc.rebates, denom),
            ]
            for i, sc in enumerate(resp.scores)
        ]
        text = render.table(RANKING_HEADERS, rows)
    if resp.next_key:
        text += f"\nmore: --page-key {bytes(resp.next_key).hex()}"
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


# -- text -----------------------------------------------------------------------------------


def _score_change(before: int, after: int) -> str:
    return f"{render.percent(before)}->{render.percent(after)}"


def _settlements_table(rows: Sequence[Any], *, with_interval: bool, indent: str = "") -> str:
    headers = ("interval", *SETTLEMENT_HEADERS) if with_interval else SETTLEMENT_HEADERS
    cells = []
    for r in rows:
        line = [
            r.participant,
            str(r.contracted_sell_wh),
            str(r.contracted_buy_wh),
            str(r.exported_wh),
            str(r.imported_wh),
            render.signed_int(r.deviation_wh),
            str(r.shortfall_wh),
            render.signed_int(r.imbalance_sold_wh - r.imbalance_bought_wh),
            render.signed_int(int(r.imbalance_revenue or 0) - int(r.imbalance_cost or 0)),
            r.penalty or "0",
            render.signed_int(r.net),
            _score_change(r.score_before, r.score_after),
        ]
        cells.append([str(r.interval), *line] if with_interval else line)
    return render.table(headers, cells, indent)


def _interval_text(
    n: int,
    resp: settlement_pb2.QueryIntervalResponse,
    rows: Sequence[settlement_pb2.ParticipantSettlement],
    denom: str,
    now: int,
) -> str:
    lines = [f"interval: {n}"]
    if not resp.settled:
        lines.append(
            f"settled: not yet; readings are taken until {render.block_time(resp.window_end)}"
            f" (block time now {render.block_time(now)})"
        )
        return "\n".join(lines)
    if not resp.settlement.settled_height:
        lines.append(
            "settled: nothing to settle (no contracts and no readings); the window "
            f"closed at {render.block_time(resp.window_end)}"
        )
        return "\n".join(lines)
    st, k = resp.settlement, resp.settlement.kpis

    def m(amount: str, signed: bool = False) -> str:
        return render.money(amount, denom, signed=signed)

    lines += [
        f"settled: yes, at height {st.settled_height}, block time "
        f"{render.block_time(st.settled_time)}",
        f"window_end: {render.block_time(resp.window_end)}",
        f"participants: {st.participants}",
        f"readings: {st.readings}",
        f"missing_readings: {st.missing_readings}",
        "kpis:",
        f"  generation: {render.kwh(k.generation_wh)}",
        f"  consumption: {render.kwh(k.consumption_wh)}",
        f"  locally used: {render.kwh(k.locally_used_wh)}",
        f"  self-sufficiency: {render.percent(k.self_sufficiency)}",
        f"  self-consumption: {render.percent(k.self_consumption)}",
        f"  local traded: {render.kwh(k.local_traded_wh)} for {m(k.local_amount)}",
        f"  average local price: {m(str(k.average_local_price))}/kWh (retail "
        f"{m(str(k.retail_tariff))}/kWh, feed-in {m(str(k.feed_in_tariff))}/kWh)",
        f"  savings: {m(k.savings, True)} (against trading with the main grid only)",
        f"  pcc import: {render.kwh(k.pcc_import_wh)}",
        f"  pcc export: {render.kwh(k.pcc_export_wh)}",
        f"  from neighbour microgrids: {render.kwh(st.inter_import_wh)}",
        f"  to neighbour microgrids: {render.kwh(st.inter_export_wh)}",
        "money:",
        f"  imbalance cost: {m(st.imbalance_cost)}",
        f"  imbalance revenue: {m(st.imbalance_revenue)}",
        f"  penalties: {m(st.penalties)}",
        f"  unrecovered: {m(st.unrecovered)}",
        f"  rebates: {m(st.rebates)}",
    ]
    if rows:
        lines += [
            f"participants (amounts in {denom}, energy in Wh):",
            _settlements_table(rows, with_interval=False, indent="  "),
        ]
    return "\n".join(lines)


def _totals_text(t: settlement_pb2.Totals, denom: str) -> str:
    def peak(wh: int, interval: int) -> str:
        return f"{render.kwh(wh)} in interval {interval}" if wh else "-"

    return "\n".join(
        [
            f"intervals: {t.intervals}",
            f"generation: {render.kwh(t.generation_wh)}",
            f"consumption: {render.kwh(t.consumption_wh)}",
            f"locally used: {render.kwh(t.locally_used_wh)}",
            f"self-sufficiency: {render.percent(t.self_sufficiency)}",
            f"self-consumption: {render.percent(t.self_consumption)}",
            f"local traded: {render.kwh(t.local_traded_wh)} for "
            f"{render.money(t.local_amount, denom)}",
            f"average local price: {render.money(t.average_local_price, denom)}/kWh",
            f"savings: {render.money(t.savings, denom, signed=True)}",
            f"penalties: {render.money(t.penalties, denom)}",
            f"pcc import: {render.kwh(t.pcc_import_wh)}",
            f"pcc export: {render.kwh(t.pcc_export_wh)}",
            f"from neighbour microgrids: {render.kwh(t.inter_import_wh)}",
            f"to neighbour microgrids: {render.kwh(t.inter_export_wh)}",
            f"peak import: {peak(t.peak_import_wh, t.peak_import_interval)}",
            f"peak export: {peak(t.peak_export_wh, t.peak_export_interval)}",
        ]
    )
