"""The chaos soak end to end, in the size CI affords: ``python -m localnet chaos``
on a real 4-validator network in network namespaces, about two and a half
minutes of transfers and market orders under every kind of fault (a fixed
seed; each round of the schedule holds every kind once), then its checks.
The report must say PASS with nothing lost, no divergent app hash, every
fault recovered and the split and partition behaving as BFT consensus must.
A shorter run on loopback (no namespaces) checks the fallback: no partition
faults, and the report says so.

The pure parts (schedule, ledger, comparisons, verdict) are tested without
a network in tests/localnet/test_chaos_model.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from localnet import netns
from localnet.chaos_model import FAULT_KINDS, PARTITION_KINDS, SPLIT
from localnet.commands import REPO_ROOT
from localnet.layout import STATE_FILE

pytestmark = pytest.mark.localnet
SUBNET = "10.77.9.0/24"
PORT_OFFSET = 4900
SEED = "5"


def chaos(home: Path, report: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    argv = [sys.executable, "-m", "localnet", "chaos", "--home", str(home),
            "--report", str(report), "--seed", SEED, "--block-time", "0.5", "--down", *args]  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT, check=False
    )


def check_common(result: subprocess.CompletedProcess[str], report: dict[str, Any]) -> None:
    """What every passing run's report must show."""
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-4000:]}"
    assert result.stdout.startswith("chaos soak of mg-chaos: PASS")
    assert report["verdict"] == "PASS" and report["failures"] == []
    txs = report["txs"]
    assert txs["sent"] > 100 and txs["committed"] > 100
    assert txs["by_kind"]["transfer"]["committed"] > 0 and txs["by_kind"]["order"]["committed"] > 0
    assert txs["lost"] == txs["duplicates"] == txs["unexpected"] == txs["pending"] == 0
    assert txs["sent"] == (
        txs["committed"] + txs["rejected_checktx"] + txs["undelivered"] + txs["expired"]
    )
    assert report["app_hashes"]["divergent"] == 0
    assert report["app_hashes"]["heights_checked"] == report["height"]["checked"]
    assert len(report["app_hashes"]["nodes"]) == 4
    assert report["commits"] == report["height"]["checked"] - report["height"]["start"] > 0
    assert report["accounts"]["count"] == 16 and report["accounts"]["mismatches"] == []
    assert report["orders"]["checked"] == txs["orders_placed"] > 0
    assert report["orders"]["mismatches"] == []
    supply = report["supply"]
    assert supply["conserved"] and set(supply["per_node"].values()) == {supply["genesis"]}
    for audit in supply["state_audit"].values():
        assert audit["ok"], audit
        assert audit["sum_of_balances"] == audit["supply"] == {"ugrid": supply["genesis"]}
        assert audit["app_hash"] == audit["committed_app_hash"]
    nodes = report["nodes"]
    assert nodes["all_advanced"] and nodes["within_one_block"]
    assert all(h > nodes["height_after_last_fault"] for h in nodes["final_heights"])
    assert report["faults"], "no fault was injected"
    for fault in report["faults"]:
        assert fault["recovered"] and fault["recovery_s"] >= 0 and not fault["error"], fault
        assert fault["expectation_met"] in (None, True), fault
    assert report["max_stall_s"] >= report["max_stall_outside_network_faults_s"] > 0


@pytest.mark.skipif(
    netns.available() is not None,
    reason=f"network namespaces unavailable: {netns.available()}",
)
def test_chaos_soak_in_network_namespaces(tmp_path: Path) -> None:
    home, report_path = tmp_path / "net", tmp_path / "report.json"
    try:
        result = chaos(
            home, report_path, "--duration", "2.5", "--netns", "--subnet", SUBNET,
            "--fault-gap", "3:5", "--fault-hold", "3:5", timeout=1200,
        )  # fmt: skip
    finally:
        if (home / STATE_FILE).is_file():
            netns.down_home(home)
    report = json.loads(report_path.read_text())
    check_common(result, report)
    assert report["netns"] and report["partition_faults"]
    assert set(report["faults_by_kind"]) == set(FAULT_KINDS), report["faults_by_kind"]
    for fault in report["faults"]:
        if fault["kind"] in PARTITION_KINDS:
            assert fault["expectation_met"] is True, fault
        if fault["kind"] == SPLIT:
            assert fault["split_commits"] == 0
            assert sorted(fault["groups"][0] + fault["groups"][1]) == [0, 1, 2, 3]
    # --down removed the namespaces, veths and bridge.
    assert netns.leftovers(netns.tag_of(home)) == []


def test_chaos_on_loopback_without_partitions(tmp_path: Path) -> None:
    home, report_path = tmp_path / "net", tmp_path / "report.json"
    try:
        result = chaos(
            home, report_path, "--duration", "1.25", "--no-netns", "--port-offset",
            str(PORT_OFFSET), "--fault-gap", "2:4", "--fault-hold", "2:3", timeout=900,
        )  # fmt: skip
    finally:
        if (home / STATE_FILE).is_file():
            subprocess.run(
                [sys.executable, "-m", "localnet", "down", "--home", str(home)],
                cwd=REPO_ROOT, capture_output=True, timeout=120, check=False,
            )  # fmt: skip
    report = json.loads(report_path.read_text())
    check_common(result, report)
    assert not report["netns"] and not report["partition_faults"]
    assert "partition and split faults disabled" in report["network"]
    assert not set(report["faults_by_kind"]) & set(PARTITION_KINDS)
    assert len(report["faults_by_kind"]) >= 3, report["faults_by_kind"]
