"""``python -m bench``: the whole benchmark, written to results.json and BENCHMARKS.md.

    python -m bench                      # everything, about 25 minutes on 2 cores
    python -m bench --quick              # short steps, small components, under 3 minutes
    python -m bench --workloads orders,kvstore --components none --duration 20
    python -m bench.report               # re-render BENCHMARKS.md from results.json

Workloads (each on a fresh localnet, see bench.system): orders, transfers,
kvstore. Components (each a script, see bench.components): checktx,
clearing, store_commit, light_client, ibc_relay, dashboard (bench/dashboard.py,
about 10 minutes; not in --quick). The ratios app / kvstore are computed when
kvstore ran in the same invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import components, loadgen, system

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
BEFORE = ROOT / "bench" / "results-before.json"
NOTES = ROOT / "bench" / "notes.json"
MARKDOWN = ROOT / "BENCHMARKS.md"
PLOTS = ROOT / "bench" / "plots"
QUICK_COMPONENTS = ["checktx", "tx_path", "clearing", "light_client"]
CEILING_TXS = 100_000


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    cometbft = ""
    try:
        from localnet.commands import cometbft_binary

        cometbft = subprocess.run(
            [cometbft_binary(), "version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except Exception:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cometbft": cometbft,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="short steps and small components")
    p.add_argument("--duration", type=float, help="seconds per load step (default 12, quick 3)")
    p.add_argument("--rates", help="comma-separated offered rates instead of stepping up")
    p.add_argument("--start-rate", type=float, default=250.0, help="first rate when stepping")
    p.add_argument("--rate-factor", type=float, default=1.6, help="rate multiplier per step")
    p.add_argument("--max-steps", type=int, help="most steps (default 9, quick 4)")
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--block-time", type=float, default=1.0, help="timeout_commit, seconds")
    p.add_argument("--connections", type=int, default=16, help="load generator connections")
    p.add_argument("--read-workers", type=int, default=8)
    p.add_argument("--read-seconds", type=float, help="closed-loop read time (default 10, quick 2)")
    p.add_argument("--workloads", default=",".join(system.WORKLOADS))
    p.add_argument(
        "--components",
        help=f"comma-separated, or none (default all; quick: {','.join(QUICK_COMPONENTS)})",
    )
    p.add_argument("--port-offset", type=int, default=5000, help="localnet ports offset")
    p.add_argument("--out", type=Path, default=RESULTS, help="results JSON")
    p.add_argument("--markdown", type=Path, default=MARKDOWN, help="report to write")
    p.add_argument("--no-report", action="store_true", help="write only the JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.time()

    def progress(msg: str) -> None:
        print(f"[{time.time() - started:6.0f} s] {msg}", file=sys.stderr, flush=True)

    quick = args.quick
    workloads = [w for w in args.workloads.split(",") if w]
    for w in workloads:
        if w not in system.WORKLOADS:
            print(f"unknown workload {w!r}; known: {', '.join(system.WORKLOADS)}", file=sys.stderr)
            return 2
    if args.components == "none":
        names: list[str] = []
    elif args.components:
        names = args.components.split(",")
    else:
        names = QUICK_COMPONENTS if quick else list(components.COMPONENTS)
    for n in names:
        if n not in components.COMPONENTS:
            print(
                f"unknown component {n!r}; known: {', '.join(components.COMPONENTS)}",
                file=sys.stderr,
            )
            return 2
    opts = system.Options(
        validators=args.validators,
        duration=args.duration or (3.0 if quick else 12.0),
        block_time=args.block_time,
        connections=args.connections,
        read_workers=args.read_workers,
        read_seconds=args.read_seconds or (2.0 if quick else 10.0),
        start_rate=args.start_rate,
        rate_factor=args.rate_factor,
        max_steps=args.max_steps or (4 if quick else 9),
        fractions=(0.5,) if quick else (0.25, 0.5, 0.9),
        rates=[float(r) for r in args.rates.split(",")] if args.rates else None,
        port_offset=args.port_offset,
    )
    results: dict[str, Any] = {
        "schema": 1,
        "started": datetime.fromtimestamp(started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(
            ["python -m bench", shlex.join(argv if argv is not None else sys.argv[1:])]
        ).strip(),
        "quick": quick,
        "machine": machine(),
        "options": {
            "validators": opts.validators,
            "duration_s": opts.duration,
            "block_time_s": opts.block_time,
            "connections": opts.connections,
            "read_workers": opts.read_workers,
            "read_seconds": opts.read_seconds,
            "rates": opts.rates,
            "start_rate": opts.start_rate,
            "rate_factor": opts.rate_factor,
            "max_steps": opts.max_steps,
            "follow": system.FOLLOW,
            "workloads": workloads,
            "components": names,
        },
    }
    if workloads:
        progress(f"load generator: its own ceiling ({CEILING_TXS:,} requests to a sink)")
        ceiling = loadgen.max_send_rate(
            [os.urandom(180) for _ in range(CEILING_TXS)], opts.connections
        )
        results["loadgen"] = {
            "max_send_rate": round(ceiling),
            "offered_rate": 100_000,
            "connections": opts.connections,
            "command": "python -m bench (first phase: send 100,000 requests at 100,000/s to a sink)",
        }
        progress(f"  {ceiling:,.0f} requests/s")
    system_results: dict[str, Any] = {}
    tx_bytes = 0
    root = Path(tempfile.mkdtemp(prefix="mgrid-bench-"))
    try:
        for w in workloads:
            system_results[w] = system.run_workload(w, root / w, opts, progress, tx_bytes)
            tx_bytes = tx_bytes or system_results[w]["tx_bytes"]
            _save(args.out, results, system_results, {}, started)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    comp = components.run(names, quick, progress)
    _save(args.out, results, system_results, comp, started)
    progress(f"wrote {args.out}")
    if not args.no_report:
        from bench import report

        before = json.loads(BEFORE.read_text()) if BEFORE.is_file() else None
        report.render(
            json.loads(args.out.read_text()), before=before, out_md=args.markdown, plot_dir=PLOTS
        )
        progress(f"wrote {args.markdown} and {PLOTS}/")
    for name, row in results.get("ratios", {}).items():
        progress(f"{name} / kvstore: {row}")
    return 0


def _save(
    path: Path,
    results: dict[str, Any],
    system_results: dict[str, Any],
    comp: dict[str, Any],
    started: float,
) -> None:
    results["system"] = system_results
    results["ratios"] = system.ratios(system_results)
    results["components"] = comp
    results["duration_s"] = round(time.time() - started, 1)
    if NOTES.is_file():
        results["notes"] = json.loads(NOTES.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
