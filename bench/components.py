"""Component benchmarks, each a script of its own run in a fresh interpreter.

Every entry records the exact command, so each figure in BENCHMARKS.md can
be rerun by hand. The scripts print JSON; this module only runs them and
reshapes their output for results.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

Progress = Callable[[str], None]


def _run(argv: list[str], timeout: float) -> str:
    proc = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(
            f"{' '.join(argv)} exited with {proc.returncode}:\n{proc.stderr[-2000:]}"
        )
    return proc.stdout


def _json_doc(text: str) -> Any:
    """The JSON document a script printed on stdout."""
    try:
        return json.loads(text)
    except ValueError:
        raise ValueError(f"no JSON document in the output: {text[:300]!r}") from None


def _command(argv: list[str]) -> str:
    return "python " + " ".join(argv)


def checktx(quick: bool) -> dict[str, Any]:
    argv = ["bench/checktx.py", "--txs", "5000" if quick else "20000"]
    out = _json_doc(_run(argv, 600))
    return {"command": _command(argv), **out}


def tx_path(quick: bool) -> dict[str, Any]:
    argv = ["-m", "bench.tx_path", "--txs", "2000" if quick else "10000"]
    out = _json_doc(_run(argv, 600))
    return {"command": _command(argv), **out}


def clearing(quick: bool) -> dict[str, Any]:
    orders = "1000,10000,100000" if quick else "1000,10000,100000,1000000"
    argv = ["bench/clearing.py", "--orders", orders, "--buses", "100"]
    out = _json_doc(_run(argv, 1800))
    return {"command": _command(argv), **out}


def store_commit(quick: bool) -> dict[str, Any]:
    sizes = (10_000, 100_000) if quick else (100_000, 1_000_000)
    changed = "100,1000,10000"
    runs = []
    commands = []
    for existing in sizes:
        argv = [
            "bench/store_commit.py",
            "--existing",
            str(existing),
            "--changed",
            changed,
            "--runs",
            "3",
        ]
        commands.append(_command(argv))
        out = _json_doc(_run(argv, 1800))
        for row in out if isinstance(out, list) else [out]:
            runs.append(
                {
                    "existing": row["existing_keys"],
                    "changed": row["changed_keys"],
                    "stage_s": row["stage_s_median"],
                    "commit_s": row["commit_s_median"],
                    "total_s": row["total_s_median"],
                    "build_s": row["build_s"],
                    "db_bytes": row["db_bytes"],
                }
            )
    return {"command": "; ".join(commands), "runs": runs}


def light_client(quick: bool) -> dict[str, Any]:
    argv = ["-m", "bench.light_client", "--runs", "10" if quick else "20"]
    out = _json_doc(_run(argv, 600))
    cases = []
    for n in (4, 100):
        for mode in ("adjacent", "skipping"):
            ms = out.get(f"{n}_validators_{mode}_ms")
            if ms is not None:
                cases.append({"validators": n, "mode": mode, "ms": ms})
    return {"command": _command(argv), "cases": cases}


def ibc_relay(quick: bool) -> dict[str, Any]:
    bursts = []
    round_trip: dict[str, Any] = {}
    commands = []
    for burst in (128,) if quick else (128, 512):
        with tempfile.TemporaryDirectory() as tmp:
            out_path = Path(tmp) / "ibc.json"
            argv = [
                "-m",
                "bench.ibc_relay",
                "--round-trips",
                "3" if quick else "5",
                "--burst",
                str(burst),
                "--json",
                str(out_path),
            ]
            _run(argv, 1200)
            commands.append(_command(argv[:-2]))
            out = json.loads(out_path.read_text())
        if not round_trip:
            round_trip = out["round_trip"]
        b = out["burst"]
        bursts.append(
            {"packets": b["packets"], "seconds": b["seconds"], "packets_per_s": b["packets_per_s"]}
        )
    return {
        "command": "; ".join(commands),
        "round_trip_blocks": round_trip.get("median_blocks"),
        "round_trip_s": round_trip.get("median_s"),
        "bursts": bursts,
    }


def dashboard(quick: bool) -> dict[str, Any]:
    """The dashboard at 10,000 participants and a day of 15-minute intervals, next to
    100 participants and 8 intervals in the same run (quick: 2,000 x 24)."""
    argv = ["bench/dashboard.py"]
    if quick:
        argv += ["--participants", "2000", "--intervals", "24"]
    out = _json_doc(_run(argv, 3600))
    return {"command": _command(argv), **out}


def statesync(quick: bool) -> dict[str, Any]:
    """A node joining by state sync against one replaying from genesis, at 10,000
    accounts (1,000,000 by hand: bench/statesync.py --accounts 1000000)."""
    argv = ["bench/statesync.py", "--accounts", "10000"]
    if quick:
        argv += ["--history", "30"]
    out = _json_doc(_run(argv, 3600))
    return {"command": _command(argv), **out}


COMPONENTS: dict[str, Callable[[bool], dict[str, Any]]] = {
    "checktx": checktx,
    "tx_path": tx_path,
    "clearing": clearing,
    "store_commit": store_commit,
    "light_client": light_client,
    "ibc_relay": ibc_relay,
    "dashboard": dashboard,
    "statesync": statesync,
}


def run(names: list[str], quick: bool, progress: Progress) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        progress(f"[component] {name}")
        out[name] = COMPONENTS[name](quick)
    return out
