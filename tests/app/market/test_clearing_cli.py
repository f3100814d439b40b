"""The offline JSON front end and the input checks of the clearing function."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from app.modules.market import (
    Bus,
    ClearingInputError,
    InvalidNetworkError,
    InvalidOrderError,
    Mechanism,
    Network,
    Order,
    Params,
    clear,
)
from app.modules.market.cli import clear_from_json, parse_k
from clients.mgrid.cli import main

ORDERS = [
    {"id": "B1", "side": "buy", "quantity": 300, "price": 220},
    {"id": "S1", "side": "sell", "quantity": 200, "price": 100},
    {"id": "B2", "side": "buy", "quantity": 200, "price": 180},
    {"id": "S2", "side": "sell", "quantity": 200, "price": 150},
    {"id": "B3", "side": "buy", "quantity": 100, "price": 120},
    {"id": "S3", "side": "sell", "quantity": 300, "price": 170},
]


def test_uniform_json_output():
    out = clear_from_json(json.dumps(ORDERS), "uniform", "1/2")
    assert out["mechanism"] == "uniform"
    assert out["k"] == "1/2"
    assert out["clearing_price"] == 175
    assert out["matched_quantity"] == 500
    assert out["trades"][0] == {
        "buy_id": "B1",
        "sell_id": "S1",
        "quantity": 200,
        "price": 175,
        "amount": 35,
        "seller_price": 175,
        "seller_amount": 35,
    }
    assert out["unmatched"] == [{"id": "B3", "quantity": 100}, {"id": "S3", "quantity": 200}]
    assert (out["buyers_pay"], out["sellers_receive"]) == (86, 86)
    assert out["curtailments"] == [] and out["rounds"] == 1
    json.dumps(out)  # JSON-ready


@pytest.mark.parametrize(
    ("text", "k"),
    [
        ("0.5", Fraction(1, 2)),
        ("1/2", Fraction(1, 2)),
        ("0.3333", Fraction(3333, 10000)),
        ("1/3", Fraction(1, 3)),
        ("0", Fraction(0)),
        ("1", Fraction(1)),
        (None, Fraction(1, 2)),
    ],
)
def test_parse_k_exact(text, k):
    assert parse_k(text) == k


@pytest.mark.parametrize("text", ["1.5", "-0.1", "abc", "1/0", "", "2/1"])
def test_parse_k_rejects(text):
    with pytest.raises(ValueError, match="k"):
        parse_k(text)


def test_network_and_params_json():
    orders = [
        {"id": "S1", "side": "sell", "quantity": 300, "price": 100, "bus": "A"},
        {"id": "S2", "side": "sell", "quantity": 300, "price": 160, "bus": "B"},
        {"id": "B1", "side": "buy", "quantity": 200, "price": 200, "bus": "B"},
        {"id": "B2", "side": "buy", "quantity": 100, "price": 180, "bus": "A"},
        {"id": "B3", "side": "buy", "quantity": 200, "price": 170, "bus": "B"},
    ]
    network = {
        "buses": [
            {"id": "pcc", "parent": None, "capacity": 10000},
            {"id": "A", "parent": "pcc", "capacity": 150},
            {"id": "B", "parent": "pcc"},
        ]
    }
    params = {"min_price": 50, "max_price": 250}
    out = clear_from_json(orders, "uniform", "0.5", json.dumps(network), json.dumps(params))
    assert out["curtailments"] == [
        {"round": 1, "line": "A", "buy_id": "B1", "sell_id": "S1", "quantity": 50, "order_id": "S1"}
    ]
    assert out["rounds"] == 2


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        ("not json", "orders: invalid JSON"),
        ({"id": "x"}, "orders: expected a JSON list"),
        ([1], r"orders\[0\]: expected an object"),
        ([{"side": "buy", "quantity": 1, "price": 1}], r"orders\[0\]\.id: missing"),
        ([{"id": "", "side": "buy", "quantity": 1, "price": 1}], r"orders\[0\]\.id"),
        ([{"id": "a", "side": "bid", "quantity": 1, "price": 1}], r"orders\[0\]\.side"),
        ([{"id": "a", "side": "buy", "quantity": 0, "price": 1}], r"orders\[0\]\.quantity"),
        ([{"id": "a", "side": "buy", "quantity": 1.5, "price": 1}], r"orders\[0\]\.quantity"),
        ([{"id": "a", "side": "buy", "quantity": True, "price": 1}], r"orders\[0\]\.quantity"),
        ([{"id": "a", "side": "buy", "quantity": 1, "price": -1}], r"orders\[0\]\.price"),
        ([{"id": "a", "side": "buy", "quantity": 1, "price": "3"}], r"orders\[0\]\.price"),
        ([{"id": "a", "side": "buy", "quantity": 1, "price": 1, "bus": 7}], r"orders\[0\]\.bus"),
        ([{"id": "a", "side": "buy", "quantity": 1, "price": 1, "x": 1}], r"orders\[0\]\.x"),
        (
            [
                {"id": "a", "side": "buy", "quantity": 1, "price": 1},
                {"id": "a", "side": "sell", "quantity": 1, "price": 1},
            ],
            r"orders\[1\]\.id: 'a' already used by orders\[0\]",
        ),
    ],
)
def test_bad_orders(orders, message):
    with pytest.raises(ValueError, match=message):
        clear_from_json(orders, "uniform", "1/2")


def test_bad_mechanism():
    with pytest.raises(ValueError, match="unknown 'auction'"):
        clear_from_json([], "auction", "1/2")


def test_unknown_bus_names_the_order():
    orders = [{"id": "a", "side": "buy", "quantity": 1, "price": 1, "bus": "Z"}]
    with pytest.raises(InvalidOrderError, match=r"orders\[0\]\.bus: unknown bus 'Z'"):
        clear_from_json(orders, "uniform", None, {"buses": [{"id": "pcc", "parent": None}]})


def test_price_bounds_from_params():
    orders = [{"id": "a", "side": "buy", "quantity": 1, "price": 300}]
    with pytest.raises(InvalidOrderError, match=r"orders\[0\]\.price: above max_price"):
        clear_from_json(orders, "uniform", None, params_json={"max_price": 250})


def test_sdr_needs_tariffs():
    with pytest.raises(ClearingInputError, match="feed_in_tariff"):
        clear_from_json(ORDERS, "sdr", None)
    out = clear_from_json(
        ORDERS, "sdr", None, params_json={"feed_in_tariff": 50, "retail_tariff": 250}
    )
    assert out["clearing_price"] == 50  # supply 700 >= demand 600


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"buses": []}, "no buses"),
        ({"buses": [{"id": "a", "parent": "b"}]}, r"buses\[0\]\.parent: unknown bus 'b'"),
        ({"buses": [{"id": "a"}, {"id": "a", "parent": "a"}]}, "already listed"),
        ({"buses": [{"id": "a"}, {"id": "b"}]}, "exactly one root"),
        (
            {"buses": [{"id": "r"}, {"id": "a", "parent": "b"}, {"id": "b", "parent": "a"}]},
            "cycle",
        ),
        ({"buses": [{"id": "r", "capacity": -1}]}, r"buses\[0\]\.capacity"),
        ({"buses": [{"id": "r", "cap": 1}]}, r"buses\[0\]\.cap: unknown field"),
        ([], "expected an object"),
    ],
)
def test_bad_network(network, message):
    with pytest.raises(InvalidNetworkError, match=message):
        clear_from_json([], "uniform", None, network)


def test_bad_params():
    with pytest.raises(ValueError, match=r"params\.fee: unknown field"):
        clear_from_json([], "uniform", None, params_json={"fee": 1})
    with pytest.raises(ValueError, match="feed_in_tariff must not exceed retail_tariff"):
        clear_from_json([], "uniform", None, params_json={"feed_in_tariff": 9, "retail_tariff": 1})


def test_function_level_checks():
    with pytest.raises(InvalidOrderError, match=r"orders\[0\]\.quantity_wh"):
        clear([Order("a", "buy", 0, 1)], Mechanism("uniform"))
    with pytest.raises(InvalidOrderError, match=r"orders\[1\]: expected an Order, got dict"):
        clear([Order("a", "buy", 1, 1), {"id": "b"}], Mechanism("uniform"))  # type: ignore[list-item]
    with pytest.raises(InvalidOrderError, match=r"orders\[0\]\.side"):
        clear([Order("a", "bid", 1, 1)], Mechanism("uniform"))
    with pytest.raises(InvalidOrderError, match=r"orders\[0\]\.owner"):
        clear([Order("a", "buy", 1, 1, owner="")], Mechanism("uniform"))
    with pytest.raises(InvalidOrderError, match=r"orders\[0\]\.price: below min_price"):
        clear([Order("a", "buy", 1, 1)], Mechanism("uniform"), params=Params(min_price=2))
    with pytest.raises(ValueError, match="k"):
        Mechanism("uniform", Fraction(3, 2))
    with pytest.raises(ValueError, match="exact Fraction"):
        Mechanism("uniform", 0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_price"):
        Params(min_price=5, max_price=1)
    with pytest.raises(InvalidNetworkError, match="root"):
        Network((Bus("a", "b"), Bus("b", "a")))


def test_main_writes_json(tmp_path, capsys):
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(ORDERS))
    clear = ["--output", "json", "market", "clear", "--orders", str(path)]
    assert main([*clear, "--mechanism", "discriminatory"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["matched_quantity"] == 500
    assert main([*clear, "--mechanism", "nope"]) == 2
    assert "'nope'" in capsys.readouterr().err
