"""What a person watching a run sees, and the records written to CSV and JSON.

On a terminal the progress line is redrawn in place (``\\r`` and the ANSI
"erase line" sequence) and the table rows and events scroll above it; on a
pipe or a file every line is plain and the progress is written only when
its phase changes, so logs stay short. No dependency beyond the standard
library.

With offers to a neighbouring microgrid (``--offer-channel``) the table has
two more columns: the kWh the utility offered with that interval's orders
and the kWh the neighbour's clearing filled (or what became of the offer:
``pend``, ``refused``, ``t/o``, ``failed``); the summary adds the totals.

Units: energy in kWh with one decimal; prices per kWh and money in the
denom's smallest unit, except that a ``u``-prefixed denom (``ugrid``) shows
money in whole units (``grid``) with three decimals.
"""

from __future__ import annotations

import shutil
from typing import Any, TextIO

from clients.sim.offers import Offer
from clients.sim.runner import IntervalRow, Mover, Reporter, RunResult

PPM = 1_000_000

COLUMNS = (
    ("interval", 10),
    ("clock", 5),
    ("price/kWh", 9),
    ("local kWh", 9),
    ("grid in", 7),
    ("grid out", 8),
    ("self-suff", 9),
    ("self-cons", 9),
    ("savings", 9),
    ("penalties", 9),
)
OFFER_COLUMNS = (("offer kWh", 9), ("filled kWh", 10))
OFFER_SHORT = {"sending": "pend", "pending": "pend", "timed out": "t/o"}


def money_unit(denom: str) -> tuple[str, int]:
    """(unit shown, smallest units per shown unit): ("grid", 10**6) for ugrid."""
    if len(denom) > 1 and denom.startswith("u"):
        return denom[1:], 10**6
    return denom, 1


def money(amount: int, denom: str) -> str:
    _, scale = money_unit(denom)
    if scale == 1:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), scale)
    return f"{sign}{whole}.{frac * 1000 // scale:03d}"


def kwh(wh: int) -> str:
    return f"{wh / 1000:.1f}"


def percent(ppm: int) -> str:
    return f"{ppm * 100 // PPM}%"


def score_k(ppm: int) -> str:
    """A score in ppm as thousandths: 359375 -> "359k"."""
    return f"{ppm // 1000}k"


def mover_text(m: Mover) -> str:
    text = f"{m.household} {score_k(m.before)}->{score_k(m.after)}"
    if m.suspended_until:
        text += f" SUSPENDED until #{m.suspended_until}"
    return text


def columns(offers: bool = False) -> tuple[tuple[str, int], ...]:
    return COLUMNS + OFFER_COLUMNS if offers else COLUMNS


def header(denom: str, offers: bool = False) -> str:
    unit, _ = money_unit(denom)
    cells = [f"{name:>{width}}" for name, width in columns(offers)]
    return "  ".join(cells) + f"  reputation movers   (money in {unit})"


def offer_cells(offer: Offer | None) -> list[str]:
    """The offered and filled kWh of an interval's offer ("-" when none was made)."""
    if offer is None:
        return ["-", "-"]
    filled = (
        kwh(offer.filled_wh)
        if offer.status == "filled"
        else OFFER_SHORT.get(offer.status, offer.status)
    )
    return [kwh(offer.quantity_wh), filled]


def row_text(row: IntervalRow, denom: str, movers: int = 3, offers: bool = False) -> str:
    cells = [
        f"#{row.interval}",
        row.clock,
        str(row.clearing_price) if row.clearing_price is not None else "-",
        kwh(row.matched_wh),
        kwh(row.pcc_import_wh),
        kwh(row.pcc_export_wh),
        percent(row.self_sufficiency),
        percent(row.self_consumption),
        money(row.savings, denom),
        money(row.penalties, denom),
    ]
    if offers:
        cells += offer_cells(row.offer)
    text = "  ".join(f"{c:>{w}}" for c, (_, w) in zip(cells, columns(offers), strict=True))
    shown = [mover_text(m) for m in row.movers[:movers]]
    shown += [mover_text(m) for m in row.movers[movers:] if m.suspended_until]
    if row.refused:
        shown.append("refused (suspended): " + " ".join(row.refused))
    return text + "  " + ("; ".join(shown) or "-")


class Display(Reporter):
    """Writes events, progress and the table to ``stream``."""

    def __init__(
        self, stream: TextIO, denom: str = "ugrid", *, tty: bool | None = None, offers: bool = False
    ):
        self.stream = stream
        self.denom = denom
        self.offers = offers
        self.tty = stream.isatty() if tty is None else tty
        self._progress_shown = False
        self._last_key: str | None = None
        self._header_done = False

    def _clear(self) -> None:
        if self.tty and self._progress_shown:
            self.stream.write("\r\033[K")
            self._progress_shown = False

    def line(self, text: str = "") -> None:
        self._clear()
        self.stream.write(text + "\n")
        self.stream.flush()

    def event(self, text: str) -> None:
        self.line(f"* {text}")

    def progress(self, key: str, text: str) -> None:
        if self.tty:
            width = shutil.get_terminal_size((120, 24)).columns - 1
            self.stream.write("\r\033[K" + text[:width])
            self.stream.flush()
            self._progress_shown = True
        elif key != self._last_key:
            self.line(f"  {text}")
        self._last_key = key

    def interval(self, row: IntervalRow) -> None:
        if not self._header_done:
            self.line(header(self.denom, self.offers))
            self._header_done = True
        self.line(row_text(row, self.denom, offers=self.offers))

    def close(self) -> None:
        self._clear()
        self.stream.flush()

    def summary(self, result: RunResult) -> None:
        for text in summary_lines(result):
            self.line(text)


def _peaks(t: dict[str, Any]) -> str:
    peaks = [
        f"peak {what} {kwh(int(t.get(f'peak_{what}_wh', 0)))} kWh at #{t.get(f'peak_{what}_interval')}"
        for what in ("import", "export")
        if int(t.get(f"peak_{what}_wh", 0))
    ]
    return f" ({', '.join(peaks)})" if peaks else ""


def summary_lines(result: RunResult) -> list[str]:
    denom = result.denom
    unit, _ = money_unit(denom)
    cfg = result.config
    out = [""]
    first = result.rows[0].interval if result.rows else None
    last = result.rows[-1].interval if result.rows else None
    span = f" (#{first}..#{last})" if first is not None else ""
    state = (
        "complete" if result.complete else ("interrupted" if result.interrupted else "incomplete")
    )
    out.append(
        f"Summary: {result.settled} of {cfg.intervals} intervals settled{span}, {state}; "
        f"{len(result.households)} households, seed {cfg.seed}, chain {result.chain_id}"
    )
    t = result.totals
    if t:
        out += [
            "Since genesis (settlement KPIs):",
            f"  intervals settled       {t.get('intervals', 0)}",
            f"  generation/consumption  {kwh(int(t.get('generation_wh', 0)))} / "
            f"{kwh(int(t.get('consumption_wh', 0)))} kWh metered",
            f"  traded locally          {kwh(int(t.get('local_traded_wh', 0)))} kWh for "
            f"{money(int(t.get('local_amount') or 0), denom)} {unit} "
            f"(average {t.get('average_local_price', 0)} {denom}/kWh)",
            f"  main grid import/export {kwh(int(t.get('pcc_import_wh', 0)))} / "
            f"{kwh(int(t.get('pcc_export_wh', 0)))} kWh" + _peaks(t),
            f"  self-sufficiency        {percent(int(t.get('self_sufficiency', 0)))}",
            f"  self-consumption        {percent(int(t.get('self_consumption', 0)))}",
            f"  savings vs main grid    {money(int(t.get('savings') or 0), denom)} {unit}",
            f"  penalties               {money(int(t.get('penalties') or 0), denom)} {unit}",
        ]
    out += offer_summary_lines(result)
    if result.ranking:
        out.append("Reputation ranking (rank among all participants):")
        for r in result.ranking:
            susp = f", suspended until #{r['suspended_until']}" if r["suspensions"] else ""
            out.append(
                f"  {r['rank']:>3}. {r['label']:<5} {r['role']:<9} {r['bus']:<4} "
                f"{r['score']:>7} ppm over {r['intervals']} intervals{susp}"
            )
    penalties: dict[str, int] = {}
    for row in result.rows:
        for hr in row.households:
            penalties[hr.household] = penalties.get(hr.household, 0) + hr.penalty
    for name, entries in result.histories.items():
        steps = [str(entries[0]["score_before"])] if entries else ["(no settled contracts)"]
        for e in entries:
            mark = " SUSPENDED" if e.get("suspended") else ""
            steps.append(f"{e['score_after']} (#{e['interval']}, accuracy {e['accuracy']}{mark})")
        out.append(
            f"Over-promising {name}: penalties {money(penalties.get(name, 0), denom)} {unit}"
        )
        out.append("  score " + " -> ".join(steps))
    return out


def offer_summary_lines(result: RunResult) -> list[str]:
    """Totals of the utility's offers to the neighbour (none: no lines)."""
    if not result.offers and not result.neighbour:
        return []
    os_ = result.offers
    their = result.neighbour_denom or "?"
    filled = [o for o in os_ if o.status == "filled"]
    counts = {
        status: sum(1 for o in os_ if o.status == status)
        for status in ("refused", "timed out", "failed", "pending", "sending")
    }
    rest = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "none open"
    out = [
        f"Offers to {result.neighbour} over {result.config.offer_channel} "
        f"(prices and money in {their}):",
        f"  offered                 {len(os_)} offers, {kwh(sum(o.quantity_wh for o in os_))} kWh",
        f"  filled                  {kwh(sum(o.filled_wh for o in filled))} kWh in "
        f"{sum(1 for o in filled if o.filled_wh)} offers for "
        f"{sum(o.amount for o in filled)}{their} (paid in vouchers); {rest}",
    ]
    for o in os_:
        got = (
            f"filled {o.filled_wh} Wh at {o.fill_price}"
            if o.status == "filled"
            else o.status + (f" ({o.error})" if o.error else "")
        )
        out.append(
            f"  #{o.local_interval} -> their #{o.target_interval}: {o.quantity_wh} Wh "
            f"at {o.price}: {got}"
        )
    return out


# -- records for CSV and JSON -------------------------------------------------------------------

INTERVAL_FIELDS = (
    "interval",
    "slot",
    "clock",
    "clearing_price",
    "orders",
    "trades",
    "matched_wh",
    "grid_fill_import_wh",
    "grid_fill_export_wh",
    "generation_wh",
    "consumption_wh",
    "pcc_import_wh",
    "pcc_export_wh",
    "self_sufficiency_ppm",
    "self_consumption_ppm",
    "savings",
    "penalties",
    "imbalance_cost",
    "imbalance_revenue",
    "readings",
    "missing_readings",
    "refused",
    "movers",
    "offer_target_interval",
    "offer_wh",
    "offer_price",
    "offer_status",
    "offer_filled_wh",
    "offer_fill_price",
    "offer_amount",
)

HOUSEHOLD_FIELDS = (
    "interval",
    "household",
    "role",
    "bus",
    "misbehaving",
    "order",
    "forecast_pv_wh",
    "forecast_load_wh",
    "actual_pv_wh",
    "actual_load_wh",
    "reading",
    "contracted_sell_wh",
    "contracted_buy_wh",
    "exported_wh",
    "imported_wh",
    "deviation_wh",
    "imbalance_cost",
    "imbalance_revenue",
    "penalty",
    "net",
    "savings",
    "accuracy",
    "score_before",
    "score_after",
    "suspended_until",
)


def interval_record(row: IntervalRow) -> dict[str, Any]:
    return {
        "interval": row.interval,
        "slot": row.slot,
        "clock": row.clock,
        "clearing_price": row.clearing_price if row.clearing_price is not None else "",
        "orders": row.orders,
        "trades": row.trades,
        "matched_wh": row.matched_wh,
        "grid_fill_import_wh": row.grid_fill_import_wh,
        "grid_fill_export_wh": row.grid_fill_export_wh,
        "generation_wh": row.generation_wh,
        "consumption_wh": row.consumption_wh,
        "pcc_import_wh": row.pcc_import_wh,
        "pcc_export_wh": row.pcc_export_wh,
        "self_sufficiency_ppm": row.self_sufficiency,
        "self_consumption_ppm": row.self_consumption,
        "savings": row.savings,
        "penalties": row.penalties,
        "imbalance_cost": row.imbalance_cost,
        "imbalance_revenue": row.imbalance_revenue,
        "readings": row.readings,
        "missing_readings": row.missing_readings,
        "refused": " ".join(row.refused),
        "movers": "; ".join(mover_text(m) for m in row.movers),
        **offer_record(row.offer),
    }


def offer_record(offer: Offer | None) -> dict[str, Any]:
    if offer is None:
        return {name: "" for name in INTERVAL_FIELDS if name.startswith("offer_")}
    return {
        "offer_target_interval": offer.target_interval,
        "offer_wh": offer.quantity_wh,
        "offer_price": offer.price,
        "offer_status": offer.status,
        "offer_filled_wh": offer.filled_wh,
        "offer_fill_price": offer.fill_price,
        "offer_amount": offer.amount,
    }


def household_records(result: RunResult) -> list[dict[str, Any]]:
    out = []
    for row in result.rows:
        for hr in row.households:
            out.append({name: getattr(hr, name) for name in HOUSEHOLD_FIELDS})
    return out


def result_json(result: RunResult) -> dict[str, Any]:
    cfg = result.config
    return {
        "chain_id": result.chain_id,
        "denom": result.denom,
        "complete": result.complete,
        "interrupted": result.interrupted,
        "settled": result.settled,
        "config": {name: getattr(cfg, name) for name in cfg.__dataclass_fields__},
        "households": [
            {
                "name": h.name,
                "role": h.role,
                "bus": h.bus,
                "address": h.address,
                "meter": h.meter_key.public_key.hex(),
                "misbehaving": h.misbehaving,
                "grid_fill": h.grid_fill,
            }
            for h in result.households
        ],
        "intervals": [
            {
                **interval_record(row),
                "refused": row.refused,
                "movers": [vars(m) for m in row.movers],
            }
            for row in result.rows
        ],
        "household_intervals": household_records(result),
        "totals": result.totals,
        "ranking": result.ranking,
        "histories": result.histories,
        "neighbour": result.neighbour,
        "neighbour_denom": result.neighbour_denom,
        "offers": [o.record() for o in result.offers],
        "events": result.events,
    }
