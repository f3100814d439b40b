"""Issue 10 end to end on a real 4-validator localnet, driven only through the
``mgrid`` CLI: one demand-response event, one flexibility need and one
EV-charging capacity margin for the same delivery interval, from issue to
settlement against signed meter readings, with every validator agreeing on
the app hash and total supply unchanged.

Timeline (demo params: 20 s intervals, gate 5 s before the start, readings
for 10 s after the end; baselines over the 4 intervals before, stride 1):
interval E is the first open one + 2, so every commitment lands before its
gate; readings for E - 1 (the baseline) and for E are submitted in their
windows; everything settles in the first block after E's window.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from localnet.layout import FUNDED_KEYS
from localnet.testing import LocalnetRunner
from tests.support.localnets import (
    mgrid,
    mgrid_localnet,
    mgrid_tx,
    reading,
    schedule,
    supply,
    wait_block_time,
)

pytestmark = pytest.mark.localnet
PORT_OFFSET = 3500
CHAIN_ID = "mg-grid-services"
FUNDS = "10000000000ugrid"
# Who does what: a demand-response participant and a flexibility provider on
# f1, two charging stations on f2 (demo network: pcc -> f1, f2).
PARTICIPANTS = {"dora": "f1", "fred": "f1", "cora": "f2", "dave": "f2"}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, CHAIN_ID)


def test_grid_services_from_the_cli(net: LocalnetRunner) -> None:
    genesis_supply = sum(FUNDED_KEYS.values())
    addr: dict[str, str] = {}
    for who, bus in PARTICIPANTS.items():
        addr[who] = mgrid(net, "keys", "add", who)["address"]
        mgrid(net, "keys", "add", f"{who}-meter")
        mgrid_tx(net, "bank", "send", "faucet", addr[who], FUNDS)
        mgrid_tx(net, "registry", "apply", "--role", "consumer", "--bus", bus, "--from", who)
        mgrid_tx(net, "registry", "approve", addr[who], "--from", "utility")
        mgrid_tx(
            net, "registry", "register-meter", addr[who], "--meter-key", f"{who}-meter",
            "--from", "utility",
        )  # fmt: skip

    sched = schedule(net)
    e = int(sched["first_open"]) + 2
    interval = mgrid(net, "query", "market", "interval", str(e))
    times = interval.get("interval", interval)
    length = int(sched["interval_seconds"])
    start, gate = int(times["start_time"]), int(times["gate_closure_time"])

    # EV charging on f2: 6 kW and 4 kW asked under a 5 kW margin -> beta 1/2.
    margin = mgrid_tx(
        net, "quota", "announce", "--bus", "f2", "--interval", str(e), "--margin", "5000",
        "--trading-seconds", "8", "--penalty", "1000000", "--from", "utility",
    )["margin_id"]  # fmt: skip
    mgrid_tx(net, "quota", "demand", str(margin), "--demand", "6000", "--from", "cora")
    mgrid_tx(net, "quota", "demand", str(margin), "--demand", "4000", "--from", "dave")

    # Demand response for the whole microgrid, flexibility on f1.
    event = mgrid_tx(
        net, "dr", "create-event", "--interval", str(e), "--requested", "1000",
        "--reward", "300000", "--penalty", "100000", "--from", "utility",
    )["event_id"]  # fmt: skip
    mgrid_tx(net, "dr", "opt-in", str(event), "--commit", "500", "--from", "dora")
    need = mgrid_tx(
        net, "flex", "post-need", "--interval", str(e), "--bus", "f1", "--quantity", "600",
        "--max-price", "400000", "--penalty", "200000", "--from", "utility",
    )["need_id"]  # fmt: skip
    mgrid_tx(
        net, "flex", "offer", str(need), "--quantity", "600", "--price", "250000", "--from", "fred"
    )

    # Quotas allocated 8 s before the gate; cora buys 1 kW of dave's.
    wait_block_time(net, gate - 8, "quota allocation")
    station = mgrid(net, "query", "quota", "station", str(margin), addr["cora"])["station"]
    assert int(station["initial_quota_w"]) == 3000
    mgrid_tx(net, "quota", "order", str(margin), "--side", "sell", "--quantity", "1000",
       "--price", "100", "--from", "dave")  # fmt: skip
    mgrid_tx(net, "quota", "order", str(margin), "--side", "buy", "--quantity", "1000",
       "--price", "300", "--from", "cora")  # fmt: skip

    # Baseline readings for E - 1 (its window opens at E's start).
    wait_block_time(net, start, "readings of E - 1")
    reading(net, "dora", e - 1, imported=2000)
    reading(net, "fred", e - 1, imported=3000)
    # Readings of E itself: dora cut 800 Wh (committed 500), fred 400 Wh (awarded 600),
    # cora charged 30 Wh on a 4 kW quota (22 Wh in 20 s), dave 5 Wh on 1 kW (5 Wh).
    wait_block_time(net, start + length, "readings of E")
    reading(net, "dora", e, imported=1200)
    reading(net, "fred", e, imported=2600)
    reading(net, "cora", e, imported=30)
    reading(net, "dave", e, imported=5)

    settlement = mgrid(net, "query", "settlement", "interval", str(e))
    wait_block_time(net, int(settlement["window_end"]), "settlement of E")
    time.sleep(2)  # the settling block committed and queryable

    dr = mgrid(net, "query", "dr", "event", str(event))
    assert "SETTLED" in dr["event"]["status"]
    (opt_in,) = dr["opt_ins"]
    d = opt_in["delivery"]
    assert (int(d["baseline_wh"]), int(d["metered_wh"]), int(d["credited_wh"])) == (2000, 1200, 500)
    assert d["reward"] == str(500 * 300_000 // 1000) and d["penalty"] == "0"

    flex = mgrid(net, "query", "flex", "need", str(need))
    assert "SETTLED" in flex["need"]["status"]
    (offer,) = flex["offers"]
    assert offer["selected"] and int(offer["awarded_wh"]) == 600
    d = offer["delivery"]
    assert (int(d["credited_wh"]), int(d["shortfall_wh"])) == (400, 200)
    assert d["reward"] == str(400 * 250_000 // 1000) and d["penalty"] == str(200 * 200_000 // 1000)

    quota = mgrid(net, "query", "quota", "margin", str(margin))
    assert "SETTLED" in quota["margin"]["status"] and quota["margin"]["beta"] == "1/2"
    (trade,) = quota["trades"]
    assert (int(trade["quantity_w"]), int(trade["price_per_kw"])) == (1000, 200)  # midpoint
    stations = {s["station"]: s for s in quota["stations"]}
    cora, dave = stations[addr["cora"]], stations[addr["dave"]]
    assert (int(cora["final_quota_w"]), int(dave["final_quota_w"])) == (4000, 1000)
    assert (int(cora["allowed_wh"]), int(cora["over_quota_wh"])) == (4000 * length // 3600, 8)
    assert cora["penalty"] == str(8 * 1_000_000 // 1000) and dave["penalty"] == "0"

    # Every validator: same app hash over the whole run, same total supply.
    top = net.max_height()
    net.wait_for_height(top + 2)
    histories = net.app_hash_histories(1, top)
    assert len({json.dumps(h, sort_keys=True) for h in histories.values()}) == 1
    for i in range(4):
        assert supply(net, node=i) == genesis_supply
