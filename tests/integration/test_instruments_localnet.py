"""Issue 11 end to end on a real 4-validator localnet, driven only through the
``mgrid`` CLI: a renewable generator earns a certificate for a metered MWh,
gives it away, and the new owner retires it for a beneficiary (after which it
cannot move); a prosumer deposits energy into community storage, receives
credits after efficiency, transfers some, and the new holder redeems them
for energy in a later interval. Every validator agrees on the app hash and
the supply of the chain's denom is unchanged.

Timeline (demo params: 20 s intervals, gate 5 s before the start, readings
for 10 s after the end). E is the first open interval + 2:
- E: gina (solar, on the coupling bus, whose line carries 500 kWh per
  interval) exports 500 kWh; dora delivers 10 kWh into stella's storage.
- E + 1: gina exports 500 kWh more: one certificate (1 MWh), period E..E+1.
- E + 3: cora takes back 2 kWh of credits dora gave her (its gate closes
  35 s after E ends, after E is settled and the credits exist).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from localnet.layout import FUNDED_KEYS
from localnet.testing import LocalnetRunner
from tests.support.localnets import (
    mgrid,
    mgrid_localnet,
    mgrid_run,
    mgrid_tx,
    reading,
    schedule,
    supply,
    wait_block_time,
    wait_settled,
)

pytestmark = pytest.mark.localnet
PORT_OFFSET = 3900
CHAIN_ID = "mg-instruments"
FUNDS = "10000000000ugrid"
# who: (role, bus)
PARTICIPANTS = {
    "gina": ("producer", "pcc"),
    "dora": ("prosumer", "f1"),
    "cora": ("consumer", "f1"),
    "stella": ("storage", "f1"),
}
STORAGE_FLAGS = (
    "--capacity-wh", "50000", "--max-charge-w", "3600000", "--max-discharge-w", "3600000",
    "--efficiency", "900000",
)  # fmt: skip


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, CHAIN_ID)


def test_certificates_and_storage_credits_from_the_cli(net: LocalnetRunner) -> None:
    genesis_supply = sum(FUNDED_KEYS.values())
    addr: dict[str, str] = {}
    for who, (role, bus) in PARTICIPANTS.items():
        addr[who] = mgrid(net, "keys", "add", who)["address"]
        mgrid(net, "keys", "add", f"{who}-meter")
        mgrid_tx(net, "bank", "send", "faucet", addr[who], FUNDS)
        spec = STORAGE_FLAGS if role == "storage" else ()
        mgrid_tx(net, "registry", "apply", "--role", role, "--bus", bus, *spec, "--from", who)
        mgrid_tx(net, "registry", "approve", addr[who], "--from", "utility")
        mgrid_tx(
            net, "registry", "register-meter", addr[who], "--meter-key", f"{who}-meter",
            "--from", "utility",
        )  # fmt: skip
    mgrid_tx(net, "registry", "set-renewable", addr["gina"], "solar", "--from", "utility")
    assert (
        mgrid(net, "query", "registry", "participant", addr["gina"])["participant"]["technology"]
        == "solar"
    )

    sched = schedule(net)
    e = int(sched["first_open"]) + 2
    length = int(sched["interval_seconds"])
    interval = mgrid(net, "query", "market", "interval", str(e))
    start = int(interval.get("interval", interval)["start_time"])

    mgrid_tx(
        net, "storage", "deposit", addr["stella"], "10000", "--interval", str(e), "--from", "dora"
    )

    # Readings of E and E + 1, each in its window.
    wait_block_time(net, start + length, "readings of E")
    reading(net, "gina", e, exported=500_000)
    reading(net, "dora", e, exported=10_000)
    reading(net, "stella", e, imported=10_000)
    wait_block_time(net, start + 2 * length, "readings of E + 1")
    reading(net, "gina", e + 1, exported=500_000)

    # E settled: 10 kWh delivered into storage at 90 % -> 9 kWh of credits.
    wait_settled(net, e)
    state = mgrid(net, "query", "storage", "state", addr["stella"])["state"]
    assert (int(state["stored_wh"]), int(state["credits_wh"])) == (9_000, 9_000)
    # For dora the deposit is a contract (a sale to stella), not an imbalance
    # sold to the main grid; for stella a purchase.
    rows = {
        r["participant"]: r
        for r in mgrid(net, "query", "settlement", "interval", str(e))["settlements"]
    }
    dora, stella = rows[addr["dora"]], rows[addr["stella"]]
    assert (int(dora["contracted_sell_wh"]), int(dora["imbalance_sold_wh"])) == (10_000, 0)
    assert (int(stella["contracted_buy_wh"]), int(stella["imbalance_bought_wh"])) == (10_000, 0)
    mgrid_tx(net, "storage", "transfer", addr["stella"], addr["cora"], "2000", "--from", "dora")
    mgrid_tx(
        net, "storage", "redeem", addr["stella"], "2000", "--interval", str(e + 3), "--from", "cora"
    )
    holders = mgrid(net, "query", "storage", "holders", addr["stella"])["holders"]
    assert {h["holder"]: (int(h.get("wh", 0)), int(h.get("locked_wh", 0))) for h in holders} == {
        addr["dora"]: (7_000, 0),
        addr["cora"]: (0, 2_000),
    }

    # E + 1 settled: one certificate of 1 MWh, produced over E..E+1.
    wait_settled(net, e + 1)
    holdings = mgrid(net, "query", "certificates", "holdings", addr["gina"])["holdings"]
    (holding,) = holdings
    origin = holding["origin"]
    assert int(holding["count"]) == 1
    assert (origin["microgrid"], origin["technology"], origin["generator"]) == (
        CHAIN_ID,
        "solar",
        addr["gina"],
    )
    assert int(origin["period_start"]) == start
    assert int(origin["period_end"]) == start + 2 * length
    denom = holding["denom"]
    generator = mgrid(net, "query", "certificates", "generator", addr["gina"])["generator"]
    assert (int(generator["issued"]), int(generator.get("carry_wh", 0))) == (1, 0)

    # Given away, retired for a beneficiary, and then it cannot move.
    mgrid_tx(net, "certificates", "transfer", addr["dora"], "1", denom, "--from", "gina")
    mgrid_tx(
        net, "certificates", "retire", denom, "1", "--beneficiary", "Household 12",
        "--from", "dora",
    )  # fmt: skip
    (retirement,) = mgrid(net, "query", "certificates", "retirements", "--owner", addr["dora"])[
        "retirements"
    ]
    assert retirement["beneficiary"] == "Household 12"
    assert retirement["origin"]["generator"] == addr["gina"]
    moved = mgrid_run(
        net, "tx", "certificates", "transfer", addr["cora"], "1", denom, "--from", "dora",
        "--broadcast-mode", "commit", "--yes",
    )  # fmt: skip
    assert moved.returncode != 0, moved.stdout
    assert mgrid(net, "query", "certificates", "holdings", addr["dora"])["holdings"] == []

    # E + 3: stella discharges 2 kWh to cora, who redeems her credits for them.
    wait_block_time(net, start + 4 * length, "readings of E + 3")
    reading(net, "stella", e + 3, exported=2_000)
    reading(net, "cora", e + 3, imported=2_000)
    wait_settled(net, e + 3)
    state = mgrid(net, "query", "storage", "state", addr["stella"])["state"]
    assert (int(state["stored_wh"]), int(state["credits_wh"])) == (7_000, 7_000)
    (redemption,) = mgrid(
        net, "query", "storage", "redemptions", addr["stella"], "--interval", str(e + 3)
    )["redemptions"]
    assert int(redemption["delivered_wh"]) == 2_000
    credits = mgrid(net, "query", "storage", "credits", addr["cora"])["credits"]
    assert all(int(c.get("wh", 0)) == 0 and int(c.get("locked_wh", 0)) == 0 for c in credits)

    # Every validator: same app hash over the whole run, same supply of ugrid.
    top = net.max_height()
    net.wait_for_height(top + 2)
    histories = net.app_hash_histories(1, top)
    assert len({json.dumps(h, sort_keys=True) for h in histories.values()}) == 1
    for i in range(4):
        assert supply(net, node=i) == genesis_supply
