"""`mgrid market clear` runs the chain's clearing function offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.mgrid.cli import main

ORDERS = [
    {"id": "b1", "side": "buy", "quantity": 1000, "price": 30},
    {"id": "b2", "side": "buy", "quantity": 500, "price": 20},
    {"id": "s1", "side": "sell", "quantity": 800, "price": 10},
    {"id": "s2", "side": "sell", "quantity": 800, "price": 25},
]


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:  # type: ignore[type-arg]
    orders = tmp_path / "orders.json"
    orders.write_text(json.dumps(ORDERS))
    assert main(["--output", "json", "market", "clear", "--orders", str(orders), *extra]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_uniform_by_hand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Curves cross after 1000 Wh: marginal bid 30 (b1), marginal ask 25 (s2);
    # price = 25 + 1/2 * (30 - 25) = 27.5, rounded down to 27 per kWh.
    out = run(tmp_path, capsys, "--mechanism", "uniform", "--k", "0.5")
    assert out["clearing_price"] == 27 and out["matched_quantity"] == 1000
    assert [(t["buy_id"], t["sell_id"], t["quantity"]) for t in out["trades"]] == [
        ("b1", "s1", 800),
        ("b1", "s2", 200),
    ]
    assert {u["id"]: u["quantity"] for u in out["unmatched"]} == {"b2": 500, "s2": 600}


def test_discriminatory_prices_each_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(tmp_path, capsys, "--mechanism", "discriminatory", "--k", "1/2")
    assert [t["price"] for t in out["trades"]] == [20, 27]  # (30+10)/2, (30+25)/2 rounded down


def test_bad_input_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "x", "side": "buy", "quantity": -5, "price": 1}]))
    assert main(["market", "clear", "--mechanism", "uniform", "--orders", str(bad)]) == 2
    assert (
        main(["market", "clear", "--mechanism", "uniform", "--orders", str(tmp_path / "no")]) == 2
    )
