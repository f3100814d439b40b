"""``mgrid-sim`` on a real 4-validator localnet: households registered through
the utility cell, orders, signed meter readings and settlement over several
delivery intervals, then the outcomes read back from the chain, with every
validator agreeing on the app hash."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clients.mgrid.chain import ChainClient
from clients.rpc import RPC
from localnet.commands import REPO_ROOT
from localnet.layout import FUNDED_KEYS
from localnet.testing import LocalnetRunner
from tests.support.localnets import mgrid_localnet

pytestmark = pytest.mark.localnet
PORT_OFFSET = 2900
CHAIN_ID = "mg-sim"
INTERVALS = 3


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, CHAIN_ID)


def simulate(net: LocalnetRunner, csv_path: Path) -> tuple[subprocess.CompletedProcess[str], Any]:
    n = net.network()
    cmd = [
        sys.executable, "-m", "clients.sim.cli",
        "--node", n.node(0).rpc_url,
        "--keyring-dir", str(n.keyring_dir),
        "--keyring-backend", "test",
        "--households", "6",
        "--intervals", str(INTERVALS),
        "--seed", "7",
        "--misbehave", "1",
        "--output", "json",
        "--csv", str(csv_path),
    ]  # fmt: skip
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=240, env=net.env, cwd=REPO_ROOT, check=False
    )
    return out, json.loads(out.stdout) if out.stdout.strip() else None


def test_households_trade_and_settle_over_several_intervals(
    net: LocalnetRunner, tmp_path: Path
) -> None:
    out, report = simulate(net, tmp_path / "intervals.csv")
    assert out.returncode == 0, out.stderr[-3000:]
    assert report["complete"] and report["settled"] == INTERVALS
    chain = ChainClient(RPC(net.network().node(1).rpc_url))  # another validator than the sim's

    intervals = [row["interval"] for row in report["intervals"]]
    assert len(intervals) == INTERVALS
    households = report["households"]
    for n in intervals:
        answer = chain.settlement(n)
        assert answer.settled, f"interval {n} not settled"
        assert answer.settlement.readings == len(households)
    assert sum(chain.interval(n).trade_count for n in intervals) > 0
    assert sum(chain.interval(n).matched_wh for n in intervals) > 0
    csv_rows = (tmp_path / "intervals.csv").read_text().splitlines()
    assert len(csv_rows) == INTERVALS + 1

    bad = next(h for h in households if h["misbehaving"])
    honest = [h for h in households if not h["misbehaving"]]
    rows = [
        chain.settlements(interval=n, participant=bad["address"]).settlements[0] for n in intervals
    ]
    assert sum(int(r.penalty) for r in rows) > 0
    assert all(r.contracted_sell_wh > r.exported_wh for r in rows)
    bad_score = chain.score(bad["address"]).score.score
    assert bad_score < 500_000
    assert all(bad_score < chain.score(h["address"]).score.score for h in honest)

    # Every validator computed the same states, and no money was created.
    top = net.max_height()
    net.wait_for_height(top + 2)
    histories = net.app_hash_histories(1, top)
    assert len({json.dumps(h, sort_keys=True) for h in histories.values()}) == 1
    for i in range(4):
        supply = ChainClient(net.rpc(i)).total_supply()
        assert sum(c.amount for c in supply if c.denom == "ugrid") == sum(FUNDED_KEYS.values())
