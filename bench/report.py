"""BENCHMARKS.md and its plots, rendered from bench/results.json.

`python -m bench` measures and calls ``render``; ``python -m bench.report``
re-renders from the saved JSON without measuring anything:

    .venv/bin/python -m bench.report [--results bench/results.json]
        [--before bench/results-before.json] [--out BENCHMARKS.md] [--plots bench/plots]

The renderer only prints what the results contain. Every section is
optional (a ``--quick`` run lacks some workloads and components): what is
absent is skipped, a missing figure shows as "n/a", and a ratio is never
recomputed here when the results carry it (``results["ratios"]``), so the
markdown and the JSON always agree.

Number formats: rates (tx/s, q/s) as integers, milliseconds and seconds
with 3 significant digits, ratios with 2 decimals.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes  # after the backend is chosen
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter

ROOT = Path(__file__).resolve().parent.parent
RESULTS = "bench/results.json"
BEFORE = "bench/results-before.json"
OUT_MD = "BENCHMARKS.md"
PLOT_DIR = "bench/plots"

PLOTS = ("latency.png", "throughput.png", "clearing.png", "store_commit.png")
KVSTORE = "kvstore"
# Known workloads first, in this order; any other workload follows in JSON order.
WORKLOAD_ORDER = ("orders", "transfers", KVSTORE)
WORKLOAD_COLOURS = {"orders": "tab:blue", "transfers": "tab:orange", KVSTORE: "tab:green"}
OTHER_COLOURS = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
# results["ratios"][workload] keys: (label, higher is better).
RATIOS = (
    ("saturation_tps", "saturation tx/s", True),
    ("p50_at_half", "p50 at 50% of saturation", False),
    ("read_qps", "read q/s", True),
)
NO_NETWORK = "no network"
# ~900 x 550 px.
FIGSIZE = (9.0, 5.5)
DPI = 100
# Fixed style so that a user's matplotlibrc does not change the PNGs.
RC: dict[Any, Any] = {
    "font.size": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 9,
    "legend.frameon": False,
}

Fmt = Callable[[Any], str]


# --- access and formatting -------------------------------------------------------------


def at(data: Any, *keys: str | int) -> Any:
    """``data[k0][k1]...``, or None as soon as a key or index is missing."""
    for key in keys:
        if isinstance(key, str) and isinstance(data, dict):
            data = data.get(key)
        elif isinstance(key, int) and isinstance(data, list) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def num(value: Any) -> float | None:
    """A finite JSON number as a float, anything else as None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON list (nothing if it is not a list)."""
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def fmt_int(value: Any) -> str:
    """Rates and counts: 41000 -> "41,000"."""
    x = num(value)
    return "n/a" if x is None else f"{x:,.0f}"


def fmt_sig(value: Any, digits: int = 3) -> str:
    """Milliseconds, seconds, MiB: 3 significant digits, never exponent notation
    (0.00213 -> "0.00213", 3.5 -> "3.50", 1450.2 -> "1,450")."""
    x = num(value)
    if x is None:
        return "n/a"
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:,.{decimals}f}"


def fmt_ratio(value: Any) -> str:
    x = num(value)
    return "n/a" if x is None else f"{x:.2f}"


def fmt_duration(value: Any) -> str:
    x = num(value)
    if x is None:
        return "n/a"
    minutes, seconds = divmod(round(x), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{fmt_sig(x)} s"


def fmt_value(value: Any) -> str:
    """An option value as given: lists joined, numbers without a trailing .0."""
    if isinstance(value, list):
        return ", ".join(fmt_value(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def ratio(after: float | None, before: float | None) -> float | None:
    if after is None or before is None or before == 0:
        return None
    return after / before


def table(header: list[str], rows: Iterable[list[str]], align: str = "") -> list[str]:
    """A markdown table; ``align`` has one letter per column, l or r (default: first
    column left, the others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    cells = lambda row: "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"  # noqa: E731
    rule = "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"
    return [cells(header), rule, *(cells(r) for r in rows), ""]


def code(*lines: str, lang: str = "") -> list[str]:
    return [f"```{lang}", *lines, "```", ""]


# --- the figures shared by the tables, the plots and before/after ----------------------


def workloads(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    system = at(results, "system")
    if not isinstance(system, dict):
        return []
    names = [n for n in WORKLOAD_ORDER if n in system]
    names += [n for n in system if n not in WORKLOAD_ORDER]
    return [(n, system[n]) for n in names if isinstance(system[n], dict)]


def p50_at(workload: dict[str, Any], fraction: float) -> float | None:
    """p50 latency (ms) of the latency run at ``fraction`` of saturation."""
    for run in dicts(workload.get("latency")):
        f = num(run.get("load_fraction"))
        if f is not None and abs(f - fraction) < 1e-6:
            return num(at(run, "latency_ms", "p50"))
    return None


def headline(results: dict[str, Any]) -> dict[str, tuple[float | None, Fmt]]:
    """The figures compared before/after: label -> (value, format)."""
    figures: dict[str, tuple[float | None, Fmt]] = {}
    system = workloads(results)
    for name, w in system:
        figures[f"{name}: saturation tx/s"] = (num(w.get("saturation_tps")), fmt_int)
    for name, w in system:
        figures[f"{name}: p50 at 50% of saturation (ms)"] = (p50_at(w, 0.5), fmt_sig)
    for name, w in system:
        figures[f"{name}: read q/s"] = (num(at(w, "reads", "qps")), fmt_int)
    ratios = at(results, "ratios")
    for name in ratios if isinstance(ratios, dict) else {}:
        for key, label, _ in RATIOS:
            figures[f"{name}: {label}, ratio to kvstore"] = (
                num(at(ratios, name, key)),
                fmt_ratio,
            )
    checktx = num(at(results, "components", "checktx", "checktx_per_s"))
    if checktx is not None:
        figures["CheckTx/s"] = (checktx, fmt_int)
    return figures


def clearing_series(results: dict[str, Any]) -> dict[tuple[str, str], dict[int, float]]:
    """(mechanism, network) -> {orders: seconds}, in the order the runs came."""
    series: dict[tuple[str, str], dict[int, float]] = {}
    for run in dicts(at(results, "components", "clearing", "runs")):
        orders, seconds = num(run.get("orders")), num(run.get("seconds"))
        mechanism, network = run.get("mechanism"), run.get("network", NO_NETWORK)
        if orders is None or seconds is None or not isinstance(mechanism, str):
            continue
        series.setdefault((mechanism, str(network)), {})[int(orders)] = seconds
    return series


# --- plots ------------------------------------------------------------------------------


def workload_colour(name: str, index: int) -> str:
    return WORKLOAD_COLOURS.get(name, OTHER_COLOURS[index % len(OTHER_COLOURS)])


def new_axes() -> tuple[Figure, Axes]:
    # Figure without pyplot: no global figure registry, nothing to close or leak.
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    return fig, fig.add_subplot()


class PlainLogFormatter(LogFormatter):
    """Log-axis tick labels as plain numbers (0.02, 1000) rather than 2x10^-2; which
    ticks get a label is still LogFormatter's choice."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:,.0f}" if x >= 1 and x == round(x) else f"{x:g}"


def log_axes(ax: Axes, x: bool, y: bool) -> None:
    for on, axis, scale in ((x, ax.xaxis, ax.set_xscale), (y, ax.yaxis, ax.set_yscale)):
        if on:
            scale("log")
            axis.set_major_formatter(PlainLogFormatter())
            axis.set_minor_formatter(
                PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5))
            )


def save(fig: Figure, path: Path) -> None:
    # No "Software" text chunk (it carries the matplotlib version), so the bytes only
    # change when the figures do.
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def points(rows: list[dict[str, Any]], x: Callable[[dict], Any], y: Callable[[dict], Any]):
    """Sorted (x, y) pairs of the rows where both are positive numbers (log axes)."""
    pairs = [(num(x(r)), num(y(r))) for r in rows]
    return sorted((a, b) for a, b in pairs if a is not None and b is not None and a > 0 and b > 0)


def plot_latency(results: dict[str, Any], path: Path) -> bool:
    fig, ax = new_axes()
    ys: list[float] = []
    for i, (name, w) in enumerate(workloads(results)):
        steps = dicts(w.get("steps"))
        colour = workload_colour(name, i)
        p50 = points(steps, lambda s: s.get("committed_rate"), lambda s: at(s, "latency_ms", "p50"))
        p95 = points(steps, lambda s: s.get("committed_rate"), lambda s: at(s, "latency_ms", "p95"))
        if not p50 and not p95:
            continue
        if p50:
            ax.plot(*zip(*p50, strict=True), "o-", color=colour, label=name)
        if p95:
            ax.plot(*zip(*p95, strict=True), "s--", color=colour, markersize=4, alpha=0.8)
        saturation = num(w.get("saturation_tps"))
        if saturation is not None:
            ax.axvline(saturation, color=colour, linestyle=":", linewidth=1.2)
        ys += [y for _, y in p50 + p95]
    if not ys:
        return False
    log_axes(ax, x=False, y=max(ys) / min(ys) > 20)
    ax.set_xlabel("committed load (tx/s)")
    ax.set_ylabel("latency, broadcast to committed (ms)")
    ax.set_title("Latency versus committed load")
    ax.legend(title="solid: p50, dashed: p95, dotted: saturation", loc="upper left")
    save(fig, path)
    return True


def plot_throughput(results: dict[str, Any], path: Path) -> bool:
    fig, ax = new_axes()
    top = 0.0
    for i, (name, w) in enumerate(workloads(results)):
        steps = dicts(w.get("steps"))
        line = points(steps, lambda s: s.get("offered"), lambda s: s.get("committed_rate"))
        if not line:
            continue
        colour = workload_colour(name, i)
        ax.plot(*zip(*line, strict=True), "o-", color=colour, label=name)
        saturation = num(w.get("saturation_tps"))
        if saturation is not None:
            ax.axhline(saturation, color=colour, linestyle=":", linewidth=1.2)
        top = max(top, *(max(x, y) for x, y in line))
    if not top:
        return False
    ax.plot([0, top], [0, top], "--", color="grey", linewidth=1, label="committed = offered")
    ax.set_xlim(0, top * 1.05)
    ax.set_ylim(0, top * 1.05)
    ax.set_xlabel("offered load (tx/s)")
    ax.set_ylabel("committed (tx/s)")
    ax.set_title("Committed versus offered load")
    ax.legend(title="dotted: saturation", loc="upper left")
    save(fig, path)
    return True


def plot_clearing(results: dict[str, Any], path: Path) -> bool:
    fig, ax = new_axes()
    colours: dict[str, str] = {}
    drawn = False
    for (mechanism, network), runs in clearing_series(results).items():
        line = sorted((n, s) for n, s in runs.items() if n > 0 and s > 0)
        if not line:
            continue
        colour = colours.setdefault(mechanism, f"C{len(colours) % 10}")
        style = "o-" if network == NO_NETWORK else "s--"
        ax.plot(*zip(*line, strict=True), style, color=colour, label=f"{mechanism}, {network}")
        drawn = True
    if not drawn:
        return False
    log_axes(ax, x=True, y=True)
    ax.set_xlabel("orders")
    ax.set_ylabel("clearing time (s)")
    ax.set_title("Market clearing time versus number of orders")
    ax.legend(title="solid: no network, dashed: with network", loc="upper left")
    save(fig, path)
    return True


def plot_store_commit(results: dict[str, Any], path: Path) -> bool:
    runs = dicts(at(results, "components", "store_commit", "runs"))
    by_total: dict[int, list[dict[str, Any]]] = {}
    for run in runs:
        existing = num(run.get("existing"))
        if existing is not None:
            by_total.setdefault(int(existing), []).append(run)
    lines = {
        total: points(rows, lambda r: r.get("changed"), lambda r: r.get("commit_s"))
        for total, rows in sorted(by_total.items())
    }
    if sum(len(line) for line in lines.values()) < 2:
        return False
    fig, ax = new_axes()
    for total, line in lines.items():
        if line:
            ax.plot(*zip(*line, strict=True), "o-", label=f"{total:,} keys")
    log_axes(ax, x=True, y=True)
    ax.set_xlabel("changed keys")
    ax.set_ylabel("commit time (s)")
    ax.set_title("Store commit time versus changed keys")
    ax.legend(title="keys in the store", loc="upper left")
    save(fig, path)
    return True


def write_plots(results: dict[str, Any], plot_dir: Path) -> set[str]:
    """Write the plots the results have data for; return their file names. A plot
    from an earlier run that this one has no data for is removed, so that the
    directory shows what the markdown shows."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    makers = {
        "latency.png": plot_latency,
        "throughput.png": plot_throughput,
        "clearing.png": plot_clearing,
        "store_commit.png": plot_store_commit,
    }
    written = set()
    with matplotlib.rc_context(RC):
        for name, make in makers.items():
            if make(results, plot_dir / name):
                written.add(name)
            else:
                (plot_dir / name).unlink(missing_ok=True)
    return written


# --- markdown sections ------------------------------------------------------------------


def section_rerun(results: dict[str, Any], plots: str) -> list[str]:
    lines = ["## How to rerun", ""]
    command = results.get("command")
    if isinstance(command, str):
        lines += ["These results came from:", "", *code(command, lang="sh")]
    lines += [
        "The full run, a short one, and re-rendering this file from the saved results:",
        "",
        *code(
            "make bench",
            "python -m bench --quick",
            "python -m bench.report",
            lang="sh",
        ),
        f"The results are in `{RESULTS}` (all figures, in JSON); the plots in `{plots}/`.",
        f"When `{BEFORE}` exists, `python -m bench.report` adds a before/after comparison.",
        "",
    ]
    return lines


def section_machine(results: dict[str, Any]) -> list[str]:
    machine = at(results, "machine")
    machine = machine if isinstance(machine, dict) else {}
    items = []
    cpus, model = machine.get("cpus"), machine.get("cpu_model")
    if cpus is not None or model is not None:
        items.append(f"CPU: {fmt_value(cpus) + ' x ' if cpus is not None else ''}{model or ''}")
    if num(machine.get("mem_gib")) is not None:
        items.append(f"Memory: {fmt_sig(machine['mem_gib'])} GiB")
    for key, label in (("platform", "Platform"), ("python", "Python"), ("cometbft", "CometBFT")):
        if machine.get(key) is not None:
            items.append(f"{label}: {machine[key]}")
    if results.get("started") is not None:
        items.append(f"Started: {results['started']}")
    if num(results.get("duration_s")) is not None:
        items.append(f"Total duration: {fmt_duration(results['duration_s'])}")
    if results.get("quick"):
        items.append("Quick run (`--quick`): shorter steps, some sections left out")
    options = at(results, "options")
    if isinstance(options, dict) and options:
        items.append("Options: " + ", ".join(f"{k} {fmt_value(v)}" for k, v in options.items()))
    if not items:
        return []
    return ["## Machine", "", *(f"- {item}" for item in items), ""]


def section_headline(results: dict[str, Any]) -> list[str]:
    system = dict(workloads(results))
    ratios = at(results, "ratios")
    apps = [n for n in system if n != KVSTORE]
    apps += [n for n in ratios if n not in system] if isinstance(ratios, dict) else []
    if not apps:
        return []
    kv = system.get(KVSTORE, {})
    rows = []
    for name in apps:
        w = system.get(name, {})
        rows.append(
            [
                name,
                fmt_int(w.get("saturation_tps")),
                fmt_int(kv.get("saturation_tps")),
                fmt_ratio(at(ratios, name, "saturation_tps")),
                fmt_sig(p50_at(w, 0.5)),
                fmt_sig(p50_at(kv, 0.5)),
                fmt_ratio(at(ratios, name, "p50_at_half")),
                fmt_int(at(w, "reads", "qps")),
                fmt_int(at(kv, "reads", "qps")),
                fmt_ratio(at(ratios, name, "read_qps")),
                fmt_sig(at(w, "reads", "latency_ms", "p50")),
            ]
        )
    header = [
        "workload",
        "saturation tx/s",
        "kvstore saturation tx/s",
        "ratio",
        "p50 at 50% (ms)",
        "kvstore p50 at 50% (ms)",
        "ratio",
        "read q/s",
        "kvstore read q/s",
        "ratio",
        "read p50 (ms)",
    ]
    return [
        "## App versus CometBFT's kvstore (same localnet, same run)",
        "",
        *table(header, rows),
        "Saturation is the highest committed rate the chain sustained; p50 at 50% is the "
        "median broadcast-to-commit latency at half of that workload's own saturation rate. "
        "Each ratio is app / kvstore: higher is better for saturation and reads, lower is "
        "better for latency. n/a: not measured in this run.",
        "",
    ]


def section_loadgen(results: dict[str, Any]) -> list[str]:
    loadgen = at(results, "loadgen")
    ceiling = num(at(loadgen, "max_send_rate"))
    if ceiling is None:
        return []
    saturations = [
        (s, name) for name, w in workloads(results) if (s := num(w.get("saturation_tps")))
    ]
    lines = ["## Load generator", ""]
    connections = num(at(loadgen, "connections"))
    over = f" over {fmt_int(connections)} connections" if connections is not None else ""
    lines.append(f"The load generator alone sends {fmt_int(ceiling)} tx/s{over}.")
    if saturations:
        highest, name = max(saturations)
        lines[-1] += (
            f" The highest saturation rate measured is {fmt_int(highest)} tx/s ({name}): "
            f"the generator could send {fmt_ratio(ceiling / highest)}x the highest committed "
            "rate, so the saturation rates are the chain's, not the generator's."
        )
    lines.append("")
    if isinstance(at(loadgen, "command"), str):
        lines += code(loadgen["command"], lang="sh")
    return lines


def section_plots(plots: dict[str, str]) -> list[str]:
    lines = []
    for name, alt in (
        ("latency.png", "Latency versus committed load"),
        ("throughput.png", "Committed versus offered load"),
    ):
        if name in plots:
            lines += [f"![{alt}]({plots[name]})", ""]
    return ["## Latency and throughput versus load", "", *lines] if lines else []


def section_workload(name: str, w: dict[str, Any]) -> list[str]:
    label = w.get("label")
    lines = [f"## Workload {name}" + (f": {label}" if isinstance(label, str) else ""), ""]
    facts = []
    if num(w.get("tx_bytes")) is not None:
        facts.append(f"Transactions of {fmt_int(w['tx_bytes'])} bytes.")
    if num(w.get("saturation_tps")) is not None:
        facts.append(f"Saturation: {fmt_int(w['saturation_tps'])} tx/s committed.")
    if facts:
        lines += [" ".join(facts), ""]

    steps = dicts(w.get("steps"))
    if steps:
        rejected = any("rejected" in s for s in steps)
        header = ["offered tx/s", "sent", "committed", "committed tx/s", "p50 ms", "p95 ms"]
        header += ["p99 ms"] + (["not committed"] if rejected else [])
        rows = []
        for s in steps:
            row = [fmt_int(s.get("offered")), fmt_int(s.get("sent")), fmt_int(s.get("committed"))]
            row += [fmt_int(s.get("committed_rate"))]
            row += [fmt_sig(at(s, "latency_ms", p)) for p in ("p50", "p95", "p99")]
            rows.append(row + ([fmt_int(s.get("rejected"))] if rejected else []))
        lines += ["### Load steps", "", *table(header, rows, "r" * len(header))]

    latency = dicts(w.get("latency"))
    if latency:
        rows = []
        for run in latency:
            fraction = num(run.get("load_fraction"))
            rows.append(
                [
                    "n/a" if fraction is None else f"{fraction:.0%}",
                    fmt_int(run.get("offered")),
                    fmt_int(run.get("committed_rate")),
                    fmt_int(run.get("samples")),
                    *(fmt_sig(at(run, "latency_ms", p)) for p in ("p50", "p95", "p99")),
                ]
            )
        header = ["load (of saturation)", "offered tx/s", "committed tx/s", "samples"]
        header += ["p50 ms", "p95 ms", "p99 ms"]
        lines += ["### Latency at fractions of saturation", "", *table(header, rows)]

    reads = at(w, "reads")
    if isinstance(reads, dict) and reads:
        what = reads.get("what")
        lines += ["### Reads", ""]
        if isinstance(what, str):
            lines += [f"Query: {what}.", ""]
        header = ["workers", "queries", "q/s", "p50 ms", "p95 ms", "p99 ms"]
        row = [fmt_int(reads.get("workers")), fmt_int(reads.get("queries"))]
        row += [fmt_int(reads.get("qps"))]
        row += [fmt_sig(at(reads, "latency_ms", p)) for p in ("p50", "p95", "p99")]
        lines += table(header, [row], "r" * len(header))

    processes = dicts(w.get("processes"))
    if processes:
        header = ["process", "CPU %", "CPU s", "RSS MiB", "peak RSS MiB"]
        rows = [
            [
                str(p.get("name", "?")),
                *(fmt_sig(p.get(k)) for k in ("cpu_percent", "cpu_s", "rss_mib", "peak_rss_mib")),
            ]
            for p in processes
        ]
        lines += ["### Processes", "", *table(header, rows)]
    return lines


def command_of(component: dict[str, Any]) -> list[str]:
    command = component.get("command")
    return code(command, lang="sh") if isinstance(command, str) else []


def section_checktx(c: dict[str, Any]) -> list[str]:
    row = [
        fmt_int(c.get("checktx_per_s")),
        fmt_int(c.get("ed25519_verify_per_s")),
        fmt_ratio(c.get("ratio_checktx_to_verify")),
    ]
    txs = f" over {fmt_int(c['txs'])} transactions" if num(c.get("txs")) is not None else ""
    return [
        "### CheckTx",
        "",
        f"CheckTx of signed transactions in process{txs}, against a bare ed25519 "
        "signature verification (the floor of any signed transaction's CheckTx).",
        "",
        *command_of(c),
        *table(["CheckTx/s", "ed25519 verify/s", "ratio"], [row], "rrr"),
    ]


TX_STAGES = ("check_tx", "recheck_tx", "process_proposal", "finalize_block", "commit", "total")


def section_tx_path(c: dict[str, Any]) -> list[str]:
    rows = []
    for workload in ("orders", "transfers"):
        stages = c.get(workload)
        if isinstance(stages, dict):
            rows.append([workload, *(fmt_sig(stages.get(f"{s}_us")) for s in TX_STAGES)])
    if not rows:
        return []
    return [
        "### One transaction's CPU time, per ABCI stage",
        "",
        "CPU microseconds per transaction in one app process without CometBFT "
        "(every validator spends them once per transaction; Recheck when a "
        "transaction waits a block in the mempool).",
        "",
        *command_of(c),
        *table(["workload", *(f"{s} µs" for s in TX_STAGES)], rows, "l" + "r" * len(TX_STAGES)),
    ]


def tx_path_before_after(
    after: dict[str, Any], before: dict[str, Any]
) -> dict[str, tuple[float, float]]:
    rows = {}
    for workload in ("orders", "transfers"):
        a = at(after, "components", "tx_path", workload, "total_us")
        b = at(before, "components", "tx_path", workload, "total_us")
        if num(a) is not None and num(b) is not None:
            rows[f"{workload}: app CPU per tx, all stages (µs)"] = (b, a)
    return rows


def section_clearing(c: dict[str, Any], results: dict[str, Any], plots: dict[str, str]):
    series = clearing_series(results)
    lines = ["### Market clearing", "", *command_of(c)]
    if series:
        counts = sorted({n for runs in series.values() for n in runs})
        rounds = {
            (r.get("mechanism"), r.get("network", NO_NETWORK), r.get("orders")): num(
                r.get("rounds")
            )
            for r in dicts(c.get("runs"))
        }
        header = ["orders"] + [f"{m}, {net} (s)" for m, net in series]
        rows = []
        for n in counts:
            row = [fmt_int(n)]
            for (m, net), runs in series.items():
                cell = fmt_sig(runs.get(n))
                r = rounds.get((m, net, n))
                row.append(cell + (f" ({r:.0f} rounds)" if r is not None and r > 1 else ""))
            rows.append(row)
        lines += table(header, rows, "r" * len(header))
        if any("rounds)" in cell for row in rows for cell in row):
            lines += [
                "Rounds: how many times the auction cleared before the network flows fit.",
                "",
            ]
    growth = c.get("growth_exponent")
    if isinstance(growth, dict) and growth:
        lines += [
            "Growth exponent: the least-squares slope of log time against log orders (1: linear).",
            "",
            *table(["series", "exponent"], [[k, fmt_ratio(v)] for k, v in growth.items()]),
        ]
    if "clearing.png" in plots:
        lines += [f"![Market clearing time versus orders]({plots['clearing.png']})", ""]
    return lines


def section_store_commit(c: dict[str, Any], plots: dict[str, str]) -> list[str]:
    rows = [
        [fmt_int(r.get("existing")), fmt_int(r.get("changed"))]
        + [fmt_sig(r.get(k)) for k in ("stage_s", "commit_s", "total_s")]
        for r in dicts(c.get("runs"))
    ]
    lines = ["### Store commit", "", *command_of(c)]
    if rows:
        header = ["keys in store", "changed keys", "stage s", "commit s", "total s"]
        lines += table(header, rows, "rrrrr")
    if "store_commit.png" in plots:
        lines += [f"![Store commit time versus changed keys]({plots['store_commit.png']})", ""]
    return lines


def section_ibc(c: dict[str, Any]) -> list[str]:
    lines = ["### IBC relay", "", *command_of(c)]
    blocks, seconds = num(c.get("round_trip_blocks")), num(c.get("round_trip_s"))
    if blocks is not None or seconds is not None:
        lines += [
            f"Round trip (send to acknowledgement): {fmt_value(blocks) if blocks is not None else 'n/a'} "
            f"blocks, {fmt_sig(seconds)} s.",
            "",
        ]
    bursts = dicts(c.get("bursts"))
    if bursts:
        rows = [
            [fmt_int(b.get("packets")), fmt_sig(b.get("seconds")), fmt_int(b.get("packets_per_s"))]
            for b in bursts
        ]
        lines += table(["packets in burst", "seconds", "packets/s"], rows, "rrr")
    return lines


def section_light_client(c: dict[str, Any]) -> list[str]:
    rows = [
        [fmt_int(r.get("validators")), str(r.get("mode", "?")), fmt_sig(r.get("ms"))]
        for r in dicts(c.get("cases"))
    ]
    lines = ["### Light client", "", *command_of(c)]
    if rows:
        lines += table(["validators", "header", "ms per verify"], rows, "rlr")
    return lines


DASHBOARD_API = (
    ("cold_ms", "cold"),
    ("block_ms", "after a block"),
)
DASHBOARD_PAGE = (
    ("load_ms", "page load"),
    ("block_to_view_ms", "block to view"),
)


def dashboard_size(size: Any) -> str:
    """ "10,000 participants x 96 intervals (2,000 orders per interval)"."""
    if not isinstance(size, dict):
        return "n/a"
    return (
        f"{fmt_int(size.get('participants'))} participants x {fmt_int(size.get('intervals'))} "
        f"intervals ({fmt_int(size.get('orders_per_interval'))} orders per interval)"
    )


def dashboard_rows(c: dict[str, Any], kind: str, figures: tuple[tuple[str, str], ...]):
    """One row per endpoint (``kind`` "api") or route ("browser"): small, big and the
    run's ratio big / small for each figure, then the big microgrid's size column."""
    path = ("api", "endpoints") if kind == "api" else ("browser", "routes")
    small = {r.get("name"): r for r in dicts(at(c, "sizes", "small", *path))}
    rows = []
    for big in dicts(at(c, "sizes", "big", *path)):
        name = big.get("name")
        s = small.get(name, {})
        row = [str(name)]
        for key, _ in figures:
            row += [fmt_sig(s.get(key)), fmt_sig(big.get(key))]
            row.append(fmt_ratio(at(c, "ratios", *path, str(name), key)))
        if kind == "api":
            row += [fmt_sig(big.get("block_stale_ms")), fmt_int(big.get("bytes"))]
        else:
            heap = num(big.get("heap_bytes"))
            row += [fmt_int(big.get("dom_nodes")), fmt_sig(heap / 2**20 if heap else None)]
        rows.append(row)
    return rows


def section_dashboard(c: dict[str, Any]) -> list[str]:
    small, big = at(c, "sizes", "small"), at(c, "sizes", "big")
    lines = ["### Dashboard", "", *command_of(c)]
    lines += [
        f"Small: {dashboard_size(small)}. Big: {dashboard_size(big)}. Each state is built in "
        "one process (the app's Chain, a minimal block producer): signed orders cleared at "
        "gate closure, meter readings, settlement and reputation; the next interval's book "
        f"left open. Building the big one took {fmt_duration(at(big, 'build', 'seconds'))} "
        f"({fmt_int(at(big, 'build', 'txs'))} transactions, {fmt_int(at(big, 'build', 'orders'))} "
        f"orders, {fmt_int(at(big, 'build', 'readings'))} readings), the small one "
        f"{fmt_duration(at(small, 'build', 'seconds'))}. In the big one a gate closure block "
        f"took {fmt_sig(at(big, 'build', 'clear_block_ms', 'median'))} ms (median) and a "
        f"settlement block {fmt_sig(at(big, 'build', 'settle_block_ms', 'median'))} ms "
        f"(max {fmt_sig(at(big, 'build', 'settle_block_ms', 'max'))} ms).",
        "",
    ]
    header = ["endpoint"]
    for _, label in DASHBOARD_API:
        header += [f"{label} ms, small", f"{label} ms, big", "ratio"]
    api = dashboard_rows(c, "api", DASHBOARD_API)
    if api:
        lines += table([*header, "roster rebuilt ms, big", "bytes, big"], api)
        lines += [
            "Milliseconds per request over HTTP, each on a new connection. Cold: the first "
            "request to a fresh server; after a block: the first request after a new block "
            "(the server caches an answer per height), median; roster rebuilt: the same "
            "when the roster of participants is due for its rebuild (at most every 5 s). "
            "Ratio: big / small, both taken in this run. The in-process node answers no "
            "CometBFT block or validator RPC, so the chain view is nearly empty here.",
            "",
        ]
    conn = at(big, "api", "status_connection")
    if isinstance(conn, dict):
        lines += [
            f"A cached /api/status answer (big): {fmt_sig(conn.get('new_connection_ms'))} ms on "
            f"a new connection, {fmt_sig(conn.get('kept_alive_ms'))} ms on a kept-alive one.",
            "",
        ]
    header = ["route"]
    for _, label in DASHBOARD_PAGE:
        header += [f"{label} ms, small", f"{label} ms, big", "ratio"]
    page = dashboard_rows(c, "browser", DASHBOARD_PAGE)
    if page:
        lines += table([*header, "DOM nodes, big", "JS heap MiB, big"], page)
        lines += [
            "Headless Chromium. Page load: navigation to the rendered view (the page's own "
            "clock), the routes in this order from one server and one browser, so the first "
            "also pays for the server's empty caches and the browser's start. Block to view: from the block event to the view re-rendered at that "
            "height, median; the page waits 300 ms before refetching, and the roster of "
            "participants is due for a rebuild at each block (the worst case). JS heap after "
            "a garbage collection, once the route's blocks are rendered.",
            "",
        ]
    fetched = [num(at(size, "browser", "cached_fetch_ms")) for size in (small, big)]
    if any(x is not None for x in fetched):
        lines += [
            f"A cached /api/status fetched by the page on its kept-alive connection: "
            f"{fmt_sig(fetched[0])} ms (small), {fmt_sig(fetched[1])} ms (big).",
            "",
        ]
    return lines


def _join_row(label: str, run: dict[str, Any]) -> list[str]:
    ss, rp, ratio = at(run, "state_sync"), at(run, "replay"), at(run, "replay_over_state_sync")
    return [
        label,
        fmt_int(at(run, "snapshot", "entries")),
        f"{fmt_int(at(run, 'snapshot', 'chunks'))} / {fmt_sig(at(run, 'snapshot', 'bytes') / 1e6)}"
        if at(run, "snapshot", "bytes") is not None
        else "-",
        fmt_sig(at(run, "snapshot", "take_s")),
        fmt_sig(at(ss, "restore_s")),
        fmt_sig(at(ss, "synced_s")),
        fmt_sig(at(ss, "join_s")),
        fmt_sig(at(rp, "synced_s")) if rp else "-",
        fmt_sig(at(rp, "join_s")) if rp else "-",
        fmt_sig(at(ratio, "synced_s")) if ratio else "-",
    ]


def section_statesync(c: dict[str, Any]) -> list[str]:
    lines = ["### Joining a running chain: state sync against replay", "", *command_of(c)]
    rows = [_join_row(f"{fmt_int(at(c, 'accounts'))} accounts", c)]
    for extra in c.get("more_runs", []) if isinstance(c.get("more_runs"), list) else []:
        rows.append(_join_row(f"{fmt_int(at(extra, 'accounts'))} accounts", extra))
    lines += table(
        [
            "state",
            "entries",
            "chunks / MB",
            "snapshot taken s",
            "restore s",
            "state sync: synced s",
            "caught up s",
            "replay: synced s",
            "caught up s",
            "replay / state sync (synced)",
        ],
        rows,
    )
    lines += [
        "One validator with 1 s blocks and a snapshot every 10 heights; a new full node "
        "joins by state sync, then another by replaying every block from genesis, each "
        "pair in one run. Synced: the node stops reporting catching up; caught up: within "
        "one block of the validator (CometBFT's block sync hears peer heights every 10 s, "
        "so this one is noisy). State sync spends at least 5 s in CometBFT's minimum "
        "discovery time before it is offered a snapshot, so on a young chain replay wins: "
        f"break-even at about {fmt_int(at(c, 'break_even_history_blocks'))} blocks of "
        "history at the first size. Later rows were run by hand with the command they "
        "name (`--accounts 1000000`).",
        "",
    ]
    return lines


def section_components(results: dict[str, Any], plots: dict[str, str]) -> list[str]:
    components = at(results, "components")
    if not isinstance(components, dict):
        return []
    lines: list[str] = []
    for key, make in (
        ("checktx", section_checktx),
        ("tx_path", section_tx_path),
        ("clearing", lambda c: section_clearing(c, results, plots)),
        ("store_commit", lambda c: section_store_commit(c, plots)),
        ("ibc_relay", section_ibc),
        ("light_client", section_light_client),
        ("dashboard", section_dashboard),
        ("statesync", section_statesync),
    ):
        component = components.get(key)
        if isinstance(component, dict) and component:
            lines += make(component)
    return ["## Components", "", *lines] if lines else []


def clearing_before_after(
    after: dict[str, Any], before: dict[str, Any]
) -> dict[str, tuple[float, float]]:
    """Clearing time at the largest order count both runs measured, per series (a
    larger count in only one run would compare different books)."""
    a, b = clearing_series(after), clearing_series(before)
    rows = {}
    for key in [*a, *(k for k in b if k not in a)]:
        common = set(a.get(key, {})) & set(b.get(key, {}))
        if common:
            n = max(common)
            mechanism, network = key
            rows[f"clearing {mechanism}, {network}, {n:,} orders (s)"] = (b[key][n], a[key][n])
    return rows


def section_before_after(results: dict[str, Any], before: dict[str, Any]) -> list[str]:
    now, then = headline(results), headline(before)
    rows = []
    for label in [*now, *(k for k in then if k not in now)]:
        fmt = (now.get(label) or then[label])[1]
        a, b = now.get(label, (None, fmt))[0], then.get(label, (None, fmt))[0]
        rows.append([label, fmt(b), fmt(a), fmt_ratio(ratio(a, b))])
    for label, (b, a) in tx_path_before_after(results, before).items():
        rows.append([label, fmt_sig(b), fmt_sig(a), fmt_ratio(ratio(a, b))])
    for label, (b, a) in clearing_before_after(results, before).items():
        rows.append([label, fmt_sig(b), fmt_sig(a), fmt_ratio(ratio(a, b))])
    if not rows:
        return []
    lines = ["## Before and after", ""]
    started, command = before.get("started"), before.get("command")
    if started is not None or command is not None:
        lines += [
            f"Before: the run of {started or 'an unknown date'}" + (":" if command else "."),
            "",
        ]
        if isinstance(command, str):
            lines += code(command, lang="sh")
    lines += table(["figure", "before", "after", "after / before"], rows)
    return lines


def paragraphs(title: str, value: Any) -> list[str]:
    """A list of markdown paragraphs as they are; a string as a preformatted block
    (unless it is fenced already)."""
    if isinstance(value, str) and value.strip():
        text = value.strip("\n")
        body = [text, ""] if text.lstrip().startswith("```") else code(text)
    elif isinstance(value, list):
        body = [line for p in value if isinstance(p, str) and p.strip() for line in (p, "")]
    else:
        body = []
    return [f"## {title}", "", *body] if body else []


def markdown(results: dict[str, Any], before: dict[str, Any] | None, plots: dict[str, str]):
    plot_dir = os.path.dirname(next(iter(plots.values()))) if plots else PLOT_DIR
    lines = [
        "<!-- Generated by `make bench` / `python -m bench` from bench/results.json and "
        "re-rendered by `python -m bench.report`. Do not edit by hand. -->",
        "",
        "# Benchmarks",
        "",
        *section_rerun(results, plot_dir),
        *section_machine(results),
        *section_headline(results),
        *section_loadgen(results),
        *(section_before_after(results, before) if before else []),
        *section_plots(plots),
    ]
    for name, w in workloads(results):
        lines += section_workload(name, w)
    lines += section_components(results, plots)
    lines += paragraphs("What limits the rest", at(results, "notes", "limits"))
    lines += paragraphs("Profile", at(results, "notes", "profile"))
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


# --- entry points -----------------------------------------------------------------------


def render(
    results: dict[str, Any], *, before: dict[str, Any] | None, out_md: Path, plot_dir: Path
) -> None:
    """Write ``out_md`` and the PNG plots into ``plot_dir``; the markdown refers to the
    plots by their path relative to ``out_md``'s directory. ``before``: an earlier
    results document to compare against (None: no before/after section)."""
    out_md, plot_dir = Path(out_md), Path(plot_dir)
    written = write_plots(results, plot_dir)
    base = out_md.resolve().parent
    plots = {
        name: Path(os.path.relpath((plot_dir / name).resolve(), base)).as_posix()
        for name in PLOTS
        if name in written
    }
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(markdown(results, before, plots))


def load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Re-render BENCHMARKS.md and its plots from saved benchmark results.",
    )
    parser.add_argument("--results", type=Path, default=ROOT / RESULTS)
    parser.add_argument(
        "--before", type=Path, default=ROOT / BEFORE, help="compared against when it exists"
    )
    parser.add_argument("--out", type=Path, default=ROOT / OUT_MD)
    parser.add_argument("--plots", type=Path, default=ROOT / PLOT_DIR)
    args = parser.parse_args(argv)
    if not args.results.is_file():
        parser.error(f"no results at {args.results}: run `python -m bench` first")
    try:
        results = load(args.results)
        before = load(args.before) if args.before.is_file() else None
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    render(results, before=before, out_md=args.out, plot_dir=args.plots)
    print(f"wrote {args.out} and {args.plots}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
