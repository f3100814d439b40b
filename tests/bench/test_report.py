"""bench/report.py: BENCHMARKS.md and the plots rendered from a results document.

Hand-written results (all sections; most sections missing; with a before run)
rendered into tmp_path; assertions on the markdown and on the PNG files it
refers to."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench import report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def workload(label: str, scale: float, read_qps: float) -> dict[str, Any]:
    """One workload: three load steps, saturating at 1000 * scale tx/s."""
    steps = []
    for offered, committed_rate, p50 in (
        (200, 199.1, 1450.0),
        (800, 790.0, 1600.0),
        (1600, 1000.0, 9000.0),
    ):
        steps.append(
            {
                "offered": offered * scale,
                "sent": offered * scale * 15,
                "committed": committed_rate * scale * 15,
                "committed_rate": committed_rate * scale,
                "duration_s": 15.0,
                "rejected": 0,
                "latency_ms": {"p50": p50, "p95": p50 * 1.5, "p99": p50 * 1.7},
            }
        )
    return {
        "label": label,
        "tx_bytes": 182,
        "steps": steps,
        "saturation_tps": 1000.0 * scale,
        "latency": [
            {
                "load_fraction": fraction,
                "offered": 1000 * scale * fraction,
                "committed_rate": 1000 * scale * fraction,
                "samples": 4530,
                "latency_ms": {"p50": p50, "p95": p50 * 1.4, "p99": p50 * 1.6},
            }
            for fraction, p50 in ((0.25, 1400.0), (0.5, 1500.0 * scale), (0.9, 2500.0))
        ],
        "reads": {
            "what": "bank balance of an account (abci_query)",
            "workers": 8,
            "queries": 20000,
            "qps": read_qps,
            "latency_ms": {"p50": 3.5, "p95": 6.0, "p99": 9.1},
        },
        "processes": [
            {
                "name": "node0 cometbft",
                "cpu_s": 40.1,
                "cpu_percent": 55.0,
                "rss_mib": 80.2,
                "peak_rss_mib": 95.0,
            },
            {
                "name": "node0 app",
                "cpu_s": 30.0,
                "cpu_percent": 41.0,
                "rss_mib": 120.0,
                "peak_rss_mib": 130.0,
            },
        ],
    }


FULL: dict[str, Any] = {
    "schema": 1,
    "started": "2026-11-21T11:00:00Z",
    "duration_s": 1034.2,
    "command": "python -m bench --duration 15",
    "quick": False,
    "machine": {
        "cpus": 2,
        "cpu_model": "AMD EPYC 7B13",
        "mem_gib": 23.5,
        "python": "3.11.7",
        "platform": "Linux-6.1-x86_64",
        "cometbft": "v0.38.26",
    },
    "options": {"validators": 4, "duration_s": 15, "block_time_s": 1.0, "rates": [200, 400, 800]},
    "loadgen": {
        "max_send_rate": 41000,
        "connections": 16,
        "command": "python -m bench loadgen-ceiling",
    },
    "system": {
        "orders": workload("mgrid: signed market orders", 0.82, 2100.3),
        "transfers": workload("mgrid: signed transfers (MsgSend)", 0.9, 2200.0),
        "kvstore": workload("CometBFT kvstore (abci-cli, socket)", 1.0, 3000.0),
    },
    "ratios": {
        "orders": {"saturation_tps": 0.82, "p50_at_half": 1.1, "read_qps": 0.7},
        # read_qps missing: the table must say n/a, not recompute it.
        "transfers": {"saturation_tps": 0.9, "p50_at_half": 1.05},
    },
    "components": {
        "checktx": {
            "command": "python bench/checktx.py --txs 20000",
            "txs": 20000,
            "checktx_per_s": 13949,
            "ed25519_verify_per_s": 24842,
            "ratio_checktx_to_verify": 0.56,
        },
        "clearing": {
            "command": "python bench/clearing.py --orders 1000,10000",
            "runs": [
                {"mechanism": m, "orders": n, "network": net, "seconds": s, "rounds": r}
                for m, k in (("uniform", 1.0), ("pay_as_bid", 2.0))
                for n in (1000, 10000)
                for net, f, r in (("no network", 1.0, 1), ("100 buses", 1.5, 2))
                for s in (0.002 * k * f * n / 1000,)
            ],
            "growth_exponent": {"uniform / no network": 1.05, "uniform / 100 buses": 1.1},
        },
        "store_commit": {
            "command": "python bench/store_commit.py --existing 1000000",
            "runs": [
                {
                    "existing": 1000000,
                    "changed": 1000,
                    "stage_s": 0.03,
                    "commit_s": 0.02,
                    "total_s": 0.05,
                },
                {
                    "existing": 1000000,
                    "changed": 10000,
                    "stage_s": 0.3,
                    "commit_s": 0.16,
                    "total_s": 0.466,
                },
            ],
        },
        "ibc_relay": {
            "command": "python -m bench.ibc_relay",
            "round_trip_blocks": 3,
            "round_trip_s": 2.02,
            "bursts": [{"packets": 128, "seconds": 5.1, "packets_per_s": 25.0}],
        },
        "light_client": {
            "command": "python -m bench.light_client",
            "cases": [
                {"validators": 4, "mode": "adjacent", "ms": 0.27},
                {"validators": 100, "mode": "skipping", "ms": 6.5},
            ],
        },
    },
    "notes": {
        "limits": ["CheckTx signature checks bound the **orders** rate.", "Second paragraph."],
        "profile": "ncalls  tottime  function\n 20000    1.20  verify",
    },
}


def render(tmp_path: Path, results: dict[str, Any], before: dict[str, Any] | None = None) -> str:
    out = tmp_path / "BENCHMARKS.md"
    report.render(results, before=before, out_md=out, plot_dir=tmp_path / "bench" / "plots")
    return out.read_text()


def row(md: str, first_cell: str) -> list[str]:
    """The cells of the table row whose first cell is ``first_cell``."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r} in:\n{md}")


def test_full_results(tmp_path: Path) -> None:
    md = render(tmp_path, FULL)
    assert md.startswith("<!-- Generated by `make bench` / `python -m bench`")
    assert "python -m bench --duration 15" in md
    assert "python -m bench --quick" in md and "python -m bench.report" in md
    assert "v0.38.26" in md and "17 min 14 s" in md and "AMD EPYC 7B13" in md

    # Headline: saturation, kvstore saturation, ratio, p50 at half (x3), reads (x3), read p50.
    assert "## App versus CometBFT's kvstore (same localnet, same run)" in md
    assert row(md, "orders") == [
        "orders",
        "820",
        "1,000",
        "0.82",
        "1,230",
        "1,500",
        "1.10",
        "2,100",
        "3,000",
        "0.70",
        "3.50",
    ]
    transfers = row(md, "transfers")
    assert transfers[3] == "0.90" and transfers[6] == "1.05"
    assert transfers[9] == "n/a"  # missing ratio: not recomputed

    # Load generator against the highest saturation (kvstore, 1000 tx/s).
    assert "41,000 tx/s" in md and "41.00x the highest committed rate" in md

    # Per workload sections.
    assert "## Workload orders: mgrid: signed market orders" in md
    assert "not committed" in md
    assert row(md, "node0 app") == ["node0 app", "41.0", "30.0", "120", "130"]
    assert row(md, "50%")[1:4] == ["410", "410", "4,530"]  # orders' 50% run is the first

    # Components, each with its command.
    for command in (
        "python bench/checktx.py --txs 20000",
        "python bench/clearing.py --orders 1000,10000",
        "python bench/store_commit.py --existing 1000000",
        "python -m bench.ibc_relay",
        "python -m bench.light_client",
    ):
        assert f"```sh\n{command}\n```" in md
    assert row(md, "13,949") == ["13,949", "24,842", "0.56"]
    assert row(md, "10,000")[:3] == ["10,000", "0.0200", "0.0300 (2 rounds)"]
    assert row(md, "uniform / no network") == ["uniform / no network", "1.05"]
    assert row(md, "128") == ["128", "5.10", "25"]
    assert row(md, "100") == ["100", "skipping", "6.50"]
    assert "Round trip (send to acknowledgement): 3 blocks, 2.02 s." in md

    # Notes: paragraphs as they are, a string as a preformatted block.
    assert "## What limits the rest\n\nCheckTx signature checks bound the **orders** rate." in md
    assert "## Profile\n\n```\nncalls  tottime  function\n" in md
    assert "## Before and after" not in md


def test_plots_exist_and_are_pngs(tmp_path: Path) -> None:
    md = render(tmp_path, FULL)
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(Path(link).name for link in links) == [
        "clearing.png",
        "latency.png",
        "store_commit.png",
        "throughput.png",
    ]
    for link in links:
        assert link.startswith("bench/plots/")
        assert (tmp_path / link).read_bytes().startswith(PNG_MAGIC)


def test_plots_are_reproducible(tmp_path: Path) -> None:
    render(tmp_path / "a", FULL)
    render(tmp_path / "b", FULL)
    for name in ("latency.png", "clearing.png"):
        first = (tmp_path / "a" / "bench" / "plots" / name).read_bytes()
        assert first == (tmp_path / "b" / "bench" / "plots" / name).read_bytes()
        assert b"Software" not in first and b"matplotlib" not in first


@pytest.mark.parametrize(
    "results",
    [
        {},
        {"schema": 1, "system": {}, "components": {}},
        {"system": {"orders": {"steps": [{"offered": 200}]}}, "ratios": {"orders": {}}},
        {"system": {"kvstore": None, "orders": {"latency": [{"load_fraction": "half"}]}}},
        {"components": {"clearing": {"runs": [{"mechanism": "uniform"}]}, "light_client": {}}},
        {"notes": {"limits": None, "profile": []}, "loadgen": {"max_send_rate": 1000}},
    ],
)
def test_missing_sections_never_crash(tmp_path: Path, results: dict[str, Any]) -> None:
    md = render(tmp_path, results)
    assert md.startswith("<!-- Generated by")
    assert "![" not in md


def test_quick_run_with_most_sections_missing(tmp_path: Path) -> None:
    quick = {
        "command": "python -m bench --quick",
        "quick": True,
        "system": {"orders": copy.deepcopy(FULL["system"]["orders"])},
        "components": {"checktx": FULL["components"]["checktx"]},
    }
    del quick["system"]["orders"]["reads"]
    plots = tmp_path / "bench" / "plots"
    plots.mkdir(parents=True)
    (plots / "clearing.png").write_bytes(PNG_MAGIC)  # from an earlier, full run

    md = render(tmp_path, quick)
    assert "Quick run" in md
    # No kvstore and no ratios: the app's own figures, n/a for the rest.
    assert row(md, "orders") == [
        "orders",
        "820",
        "n/a",
        "n/a",
        "1,230",
        "n/a",
        "n/a",
        "n/a",
        "n/a",
        "n/a",
        "n/a",
    ]
    assert "## Machine\n\n- Quick run" in md and "CometBFT:" not in md
    assert "### Reads" not in md and "### Market clearing" not in md
    assert "## Load generator" not in md and "## What limits the rest" not in md
    assert "(bench/plots/latency.png)" in md and "clearing.png" not in md
    # A plot this run has no data for is not left behind.
    assert sorted(p.name for p in plots.iterdir()) == ["latency.png", "throughput.png"]


def test_single_store_commit_point_has_no_plot(tmp_path: Path) -> None:
    results = copy.deepcopy(FULL)
    del results["components"]["store_commit"]["runs"][1]
    md = render(tmp_path, results)
    assert "### Store commit" in md and "store_commit.png" not in md


def test_before_after(tmp_path: Path) -> None:
    before = copy.deepcopy(FULL)
    before["started"] = "2026-11-01T09:00:00Z"
    before["command"] = "python -m bench --duration 10"
    before["system"]["orders"]["saturation_tps"] = 410.0
    before["ratios"]["orders"]["saturation_tps"] = 0.41
    before["components"]["checktx"]["checktx_per_s"] = 6974.5
    # The before run went further: compare at the largest count both have.
    before["components"]["clearing"]["runs"].append(
        {
            "mechanism": "uniform",
            "orders": 100000,
            "network": "no network",
            "seconds": 0.4,
            "rounds": 1,
        }
    )
    for run in before["components"]["clearing"]["runs"]:
        if run["mechanism"] == "uniform" and run["network"] == "100 buses":
            run["seconds"] *= 4
    md = render(tmp_path, FULL, before)

    assert "## Before and after" in md
    assert "Before: the run of 2026-11-01T09:00:00Z:" in md
    assert "```sh\npython -m bench --duration 10\n```" in md
    assert row(md, "orders: saturation tx/s") == ["orders: saturation tx/s", "410", "820", "2.00"]
    assert row(md, "kvstore: saturation tx/s")[3] == "1.00"
    assert row(md, "orders: saturation tx/s, ratio to kvstore")[1:] == ["0.41", "0.82", "2.00"]
    assert row(md, "transfers: read q/s, ratio to kvstore")[1:] == ["n/a", "n/a", "n/a"]
    assert row(md, "orders: p50 at 50% of saturation (ms)")[3] == "1.00"
    assert row(md, "CheckTx/s")[1:] == ["6,974", "13,949", "2.00"]
    assert row(md, "clearing uniform, no network, 10,000 orders (s)")[3] == "1.00"
    assert row(md, "clearing uniform, 100 buses, 10,000 orders (s)")[1:] == [
        "0.120",
        "0.0300",
        "0.25",
    ]
    assert "100,000 orders" not in md


def test_before_after_keeps_figures_only_one_run_has(tmp_path: Path) -> None:
    before = {"system": {"orders": {"saturation_tps": 0}}, "started": "then"}
    md = render(tmp_path, {"components": {"checktx": {"checktx_per_s": 100}}}, before)
    assert row(md, "orders: saturation tx/s")[1:] == ["0", "n/a", "n/a"]
    assert row(md, "CheckTx/s")[1:] == ["n/a", "100", "n/a"]


def test_cli_rerenders_from_files(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(FULL))
    out, plots = tmp_path / "out" / "BENCHMARKS.md", tmp_path / "plots"
    argv = ["--results", str(results), "--out", str(out), "--plots", str(plots)]
    assert report.main([*argv, "--before", str(tmp_path / "missing.json")]) == 0
    md = out.read_text()
    assert "## Before and after" not in md
    assert "(../plots/latency.png)" in md  # relative to the markdown file
    assert (plots / "latency.png").read_bytes().startswith(PNG_MAGIC)

    (tmp_path / "before.json").write_text(json.dumps(FULL))
    assert report.main([*argv, "--before", str(tmp_path / "before.json")]) == 0
    assert row(out.read_text(), "orders: saturation tx/s")[1:] == ["820", "820", "1.00"]


def test_cli_without_results(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        report.main(["--results", str(tmp_path / "none.json"), "--out", str(tmp_path / "x.md")])
    assert exc.value.code == 2


@pytest.mark.parametrize(
    ("value", "sig", "integer", "ratio"),
    [
        (1450.2, "1,450", "1,450", "1450.20"),
        (3.5, "3.50", "4", "3.50"),
        (0.00213, "0.00213", "0", "0.00"),
        (0, "0", "0", "0.00"),
        (None, "n/a", "n/a", "n/a"),
        ("12", "n/a", "n/a", "n/a"),
        (True, "n/a", "n/a", "n/a"),
        (float("nan"), "n/a", "n/a", "n/a"),
    ],
)
def test_number_formats(value: Any, sig: str, integer: str, ratio: str) -> None:
    assert report.fmt_sig(value) == sig
    assert report.fmt_int(value) == integer
    assert report.fmt_ratio(value) == ratio


def test_tx_path_table_and_its_before_after(tmp_path: Path) -> None:
    stages = {"check_tx_us": 110.0, "recheck_tx_us": 12.0, "finalize_block_us": 130.0}
    after = {
        "components": {
            "tx_path": {
                "command": "python -m bench.tx_path",
                "orders": {**stages, "total_us": 270.0},
            }
        }
    }
    before = {"components": {"tx_path": {"orders": {**stages, "total_us": 400.0}}}}
    md = render(tmp_path, after, before)
    assert "python -m bench.tx_path" in md
    assert row(md, "orders")[1:4] == ["110", "12.0", "n/a"]
    assert row(md, "orders: app CPU per tx, all stages (µs)")[1:] == ["400", "270", "0.68"]


def test_state_sync_rows_show_each_run_and_the_replay_ratio() -> None:
    run = {
        "accounts": 10000,
        "snapshot": {"entries": 10015, "chunks": 1, "bytes": 213363, "take_s": 0.04},
        "state_sync": {"synced_s": 11.2, "join_s": 19.5, "restore_s": 0.39},
        "replay": {"synced_s": 6.55, "join_s": 9.43},
        "replay_over_state_sync": {"synced_s": 0.58},
        "break_even_history_blocks": 221,
    }
    big = {"accounts": 1000000, "snapshot": {"entries": 1000015}, "state_sync": {"synced_s": 40}}
    lines = report.section_statesync(
        {"command": "python bench/statesync.py", **run, "more_runs": [big]}
    )
    text = "\n".join(lines)
    assert "| 10,000 accounts | 10,015 | 1 / 0.213 |" in text
    assert "0.580 |" in text
    # A run without the replay half still gets its row, with dashes where nothing was measured.
    assert "| 1,000,000 accounts | 1,000,015 | - |" in text
    assert "break-even at about 221 blocks" in text
