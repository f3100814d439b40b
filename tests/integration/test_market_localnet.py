"""One whole delivery interval on a real 4-validator localnet, driven only
through the ``mgrid`` CLI: registration and approval, a meter, orders,
clearing at gate closure, grid fill, an audit of the cleared interval, with
every validator agreeing on the app hash and total supply unchanged."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from localnet.layout import FUNDED_KEYS
from localnet.testing import LocalnetRunner
from tests.support.localnets import mgrid, mgrid_localnet, mgrid_run, mgrid_tx, supply

pytestmark = pytest.mark.localnet
PORT_OFFSET = 2700
CHAIN_ID = "mg-market"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, CHAIN_ID)


def test_an_interval_from_the_cli(net: LocalnetRunner) -> None:
    genesis_supply = sum(FUNDED_KEYS.values())
    assert supply(net) == genesis_supply
    addr = {}
    for name in ("prosumer", "consumer", "meter1"):
        addr[name] = mgrid(net, "keys", "add", name)["address"]
    for name in ("prosumer", "consumer"):
        mgrid_tx(net, "bank", "send", "faucet", addr[name], "10000000000ugrid")

    mgrid_tx(net, "registry", "apply", "--role", "prosumer", "--bus", "f1", "--from", "prosumer")
    mgrid_tx(net, "registry", "apply", "--role", "consumer", "--bus", "f2", "--from", "consumer")
    # Not approved yet: an order is refused with the market's own code.
    refused = mgrid_run(
        net, "tx", "market", "place-order", "buy", "--quantity", "1000", "--price", "200000",
        "--interval", "next", "--from", "consumer", "--yes",
    )  # fmt: skip
    assert refused.returncode == 1 and "not approved" in refused.stdout + refused.stderr
    for name in ("prosumer", "consumer"):
        mgrid_tx(net, "registry", "approve", addr[name], "--from", "utility")
    mgrid_tx(
        net,
        "registry",
        "register-meter",
        addr["prosumer"],
        "--meter-key",
        "meter1",
        "--from",
        "utility",
    )
    participant = mgrid(net, "query", "registry", "participant", addr["prosumer"])
    assert "APPROVED" in json.dumps(participant)

    # Both orders for the same interval: the earliest whose gate is far enough
    # away that both land before it closes.
    sched = mgrid(net, "query", "market", "schedule")
    n = int(sched["first_open"]) + 1
    sell = mgrid_tx(
        net, "market", "place-order", "sell", "--quantity", "3kWh", "--price", "150000",
        "--interval", str(n), "--grid-fill", "--from", "prosumer",
    )  # fmt: skip
    buy = mgrid_tx(
        net, "market", "place-order", "buy", "--quantity", "2000", "--price", "200000",
        "--interval", str(n), "--grid-fill", "--from", "consumer",
    )  # fmt: skip
    assert sell["code"] == buy["code"] == 0

    deadline = time.monotonic() + 90
    while True:
        interval = mgrid(net, "query", "market", "interval", str(n))
        state = interval.get("interval", interval)
        if "CLEARED" in str(state.get("status")):
            break
        assert time.monotonic() < deadline, f"interval {n} not cleared: {state}"
        time.sleep(1)
    assert int(state["clearing_price"]) == 175_000  # 150000 + 1/2 (200000 - 150000)
    assert int(state["matched_wh"]) == 2000
    assert int(state["grid_export_wh"]) == 1000  # the unmatched kWh of the sell, at feed-in
    trades = mgrid(net, "query", "market", "trades", "--interval", str(n))
    rows = trades.get("trades", trades)
    assert len(rows) == 1 and int(rows[0]["quantity_wh"]) == 2000
    position = mgrid(net, "query", "market", "grid-position")
    assert int(position["balance"]) == -(1000 * 80_000 // 1000)

    audit = mgrid(net, "market", "audit", "--interval", str(n))
    assert audit["match"] is True, audit

    # Every validator: same app hash over the whole run, same total supply.
    top = net.max_height()
    net.wait_for_height(top + 2)
    histories = net.app_hash_histories(1, top)
    assert len({json.dumps(h, sort_keys=True) for h in histories.values()}) == 1
    for i in range(4):
        assert supply(net, node=i) == genesis_supply
