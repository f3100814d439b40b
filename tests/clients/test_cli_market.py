"""``mgrid tx market``, ``mgrid query market`` and ``mgrid market audit``: what
the wallet builds (decoded from what reached a fake node), what it refuses
before signing, and bidding, clearing and auditing on a real in-process chain."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from app import crypto
from app.pb.mgrid.market.v1 import market_pb2
from app.tx import codec
from clients.mgrid.cli import ExitCode
from clients.mgrid.keyring import Keyring
from clients.mgrid.session import energy_arg

SEED = bytes(range(32))
KEY = crypto.PrivateKey(SEED)
OTHER = crypto.PrivateKey(bytes(32)).address

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any
Microgrid = Any

SCHEDULE = "/mgrid.market.v1.Query/Schedule"
PARAMS = "/mgrid.market.v1.Query/Params"
ORDERS = "/mgrid.market.v1.Query/Orders"


@pytest.fixture
def alice(wallet: Wallet) -> str:
    Keyring(wallet.keyring_dir, backend="test").add("alice", SEED)
    return KEY.address


def _msg(node: FakeNode) -> Any:
    """The one message of the one transaction broadcast to ``node``."""
    assert len(node.broadcasts) == 1
    tx = codec.decode_tx(node.broadcasts[-1][1])
    (msg,) = tx.body.messages
    return getattr(msg, msg.WhichOneof("sum"))


def _events(*events: tuple[str, dict[str, str]]) -> list[dict[str, Any]]:
    return [
        {"type": t, "attributes": [{"key": k, "value": v, "index": True} for k, v in a.items()]}
        for t, a in events
    ]


# -- energy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wh"),
    [
        ("1500", 1500),
        ("1500Wh", 1500),
        ("1500 wh", 1500),
        ("1.5kWh", 1500),
        ("1.5KWH", 1500),
        ("0.25kWh", 250),
        ("0.002MWh", 2000),
        ("2kWh", 2000),
        ("0", 0),
    ],
)
def test_energy_units(text: str, wh: int) -> None:
    assert energy_arg(text) == wh


@pytest.mark.parametrize(
    "text", ["1.0005kWh", "0.5", "1.5", "-1kWh", "abc", "kWh", "1.5GWh", "nan", "inf", "1e30kWh"]
)
def test_energy_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        energy_arg(text)


# -- transactions, as built ------------------------------------------------------------------


def test_place_order_builds_the_message_and_reads_the_order_id(
    wallet: Wallet, fake_node: FakeNode, alice: str
) -> None:
    fake_node.broadcast_result = {
        "code": 0,
        "events": _events(
            ("transfer", {"amount": "5ugrid"}),
            ("market_place_order", {"order_id": "17", "owner": alice, "price": "120"}),
        ),
    }
    argv = ["tx", "market", "place-order", "sell", "--quantity", "1.5kWh", "--interval", "99"]
    r = wallet("-o", "json", *argv, "--price", "120", "--grid-fill", "--from", "alice")
    assert r.code == 0, r.err
    expected = market_pb2.MsgPlaceOrder(
        side=market_pb2.SIDE_SELL, interval=99, quantity_wh=1500, price=120, grid_fill=True
    )
    assert _msg(fake_node) == expected
    out = r.json()
    assert out["order_id"] == 17
    assert out["events"][1] == {
        "type": "market_place_order",
        "attributes": [
            {"key": "order_id", "value": "17"},
            {"key": "owner", "value": alice},
            {"key": "price", "value": "120"},
        ],
    }
    r = wallet(*argv, "--price", "120", "--from", "alice")
    assert "order id: 17" in r.out


def test_place_order_without_price_and_next_interval(
    wallet: Wallet, fake_node: FakeNode, alice: str
) -> None:
    fake_node.responses[SCHEDULE] = market_pb2.QueryScheduleResponse(
        current_interval=41, first_open=43
    )
    argv = ["tx", "market", "place-order", "buy", "--quantity", "800", "--interval", "next"]
    r = wallet("-o", "json", *argv, "--from", "alice", "--broadcast-mode", "sync")
    assert r.code == 0, r.err
    msg = _msg(fake_node)
    assert (msg.side, msg.interval, msg.quantity_wh) == (market_pb2.SIDE_BUY, 43, 800)
    assert not msg.HasField("price")  # priced automatically at gate closure
    assert r.json()["order_id"] is None  # not in a block yet


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["buy", "--quantity", "1.0005kWh", "--interval", "5"], "whole Wh"),
        (["buy", "--quantity", "0", "--interval", "5"], "quantity"),  # validate_basic
        (["hold", "--quantity", "10", "--interval", "5"], "invalid choice"),
        (["buy", "--quantity", "10", "--interval", "later"], "not a whole number"),
        (["buy", "--quantity", "10", "--interval", "5", "--price", "-3"], "outside 0..2^64-1"),
    ],
)
def test_place_order_refused_exits_2(
    wallet: Wallet,
    fake_node: FakeNode,
    alice: str,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = wallet("tx", "market", "place-order", *argv, "--from", "alice")
    assert r.code == ExitCode.USAGE
    assert message in r.err + capsys.readouterr().err  # argparse writes to sys.stderr
    assert fake_node.broadcasts == []


def test_place_order_needs_from(wallet: Wallet, alice: str) -> None:
    argv = ["tx", "market", "place-order", "buy", "--quantity", "10", "--interval", "5"]
    assert wallet(*argv).code == ExitCode.USAGE


def test_cancel_order_and_refund(wallet: Wallet, fake_node: FakeNode, alice: str) -> None:
    fake_node.broadcast_result = {
        "code": 0,
        "events": _events(("market_cancel_order", {"order_id": "4", "refund": "250"})),
    }
    r = wallet("tx", "market", "cancel-order", "4", "--from", "alice")
    assert r.code == 0, r.err
    assert _msg(fake_node) == market_pb2.MsgCancelOrder(order_id=4)
    assert "refund: 250" in r.out


def test_publish_forecast(wallet: Wallet, fake_node: FakeNode, alice: str) -> None:
    fake_node.responses[SCHEDULE] = market_pb2.QueryScheduleResponse(first_open=12)
    argv = ["tx", "market", "publish-forecast", "--interval", "next"]
    r = wallet(*argv, "--generation-wh", "2.5kWh", "--demand-wh", "1800", "--from", "alice")
    assert r.code == 0, r.err
    assert _msg(fake_node) == market_pb2.MsgPublishForecast(
        interval=12, generation_wh=2500, demand_wh=1800
    )


# -- update-params ---------------------------------------------------------------------------

CHAIN_PARAMS = market_pb2.Params(
    interval_seconds=60,
    gate_closure_seconds=10,
    mechanism="uniform",
    k="1/2",
    retail_tariff=300,
    feed_in_tariff=100,
    min_price=120,
    tax_rate="0",
    max_open_orders=5,
)


@pytest.fixture
def params_node(fake_node: FakeNode) -> FakeNode:
    fake_node.responses[PARAMS] = market_pb2.QueryParamsResponse(params=CHAIN_PARAMS)
    return fake_node


def test_update_params_overrides_file_then_flags(
    wallet: Wallet, params_node: FakeNode, alice: str, tmp_path: Path
) -> None:
    file = tmp_path / "params.json"
    file.write_text(json.dumps({"retail_tariff": 320, "mechanism": "mcafee", "min_price": None}))
    argv = ["tx", "market", "update-params", "--file", str(file), "--mechanism", "vcg"]
    r = wallet("-o", "json", *argv, "--k", "0.25", "--tax-rate", "1/20", "--from", "alice")
    assert r.code == 0, r.err
    expected = market_pb2.Params()
    expected.CopyFrom(CHAIN_PARAMS)
    expected.retail_tariff, expected.mechanism, expected.k = 320, "vcg", "0.25"
    expected.tax_rate = "1/20"
    expected.ClearField("min_price")
    sent = _msg(params_node).params
    assert sent == expected
    assert not sent.HasField("min_price")
    assert r.json()["changes"] == {
        "mechanism": {"from": "uniform", "to": "vcg"},
        "k": {"from": "1/2", "to": "0.25"},
        "retail_tariff": {"from": 300, "to": 320},
        "min_price": {"from": 120, "to": None},
        "tax_rate": {"from": "0", "to": "1/20"},
    }


def test_update_params_text_and_min_price_none(
    wallet: Wallet, params_node: FakeNode, alice: str
) -> None:
    argv = ["tx", "market", "update-params", "--min-price", "none", "--max-order-wh", "2kWh"]
    r = wallet(*argv, "--from", "alice")
    assert r.code == 0, r.err
    sent = _msg(params_node).params
    assert not sent.HasField("min_price") and sent.max_order_wh == 2000
    assert "min_price: 120 -> (default)" in r.out


def test_update_params_shows_the_changes_before_asking(
    wallet: Wallet, params_node: FakeNode, alice: str
) -> None:
    wallet.interactive, wallet.confirm_answer = True, False
    r = wallet("tx", "market", "update-params", "--feed-in-tariff", "90", "--from", "alice")
    assert r.code == ExitCode.CHAIN and "declined" in r.err
    assert "feed_in_tariff: 100 -> 90" in r.err
    assert params_node.broadcasts == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "nothing to update"),
        (["--retail-tariff", "300"], "equal the chain's current params"),
        (["--k", "3/2"], "outside [0, 1]"),
        (["--tax-rate", "five"], "not a decimal"),
        (["--max-open-orders", str(2**32)], "2^32"),
        (["--mechanism", "lottery"], "invalid choice"),
    ],
)
def test_update_params_refused_exits_2(
    wallet: Wallet,
    params_node: FakeNode,
    alice: str,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = wallet("tx", "market", "update-params", *argv, "--from", "alice")
    assert r.code == ExitCode.USAGE
    assert message in r.err + capsys.readouterr().err
    assert params_node.broadcasts == []


def test_update_params_bad_file_exits_2(
    wallet: Wallet, params_node: FakeNode, alice: str, tmp_path: Path
) -> None:
    file = tmp_path / "p.json"
    for content, message in (
        ({"retail_tarif": 5}, "retail_tarif"),
        ([1, 2], "JSON object"),
        ({"interval_seconds": -1}, "interval_seconds"),
    ):
        file.write_text(json.dumps(content))
        r = wallet("tx", "market", "update-params", "--file", str(file), "--from", "alice")
        assert r.code == ExitCode.USAGE and message in r.err, r.err
    assert params_node.broadcasts == []


# -- queries, as rendered --------------------------------------------------------------------


def test_orders_query_request_json_and_table(wallet: Wallet, fake_node: FakeNode) -> None:
    priced = market_pb2.Order(
        id=3, owner=OTHER, side=market_pb2.SIDE_SELL, interval=7, quantity_wh=1500, price=150
    )
    priced.status = market_pb2.ORDER_STATUS_OPEN
    auto = market_pb2.Order(id=4, owner=OTHER, side=market_pb2.SIDE_BUY, interval=7)
    auto.quantity_wh, auto.status, auto.escrow = 2**60 + 1, market_pb2.ORDER_STATUS_OPEN, "332"
    fake_node.responses[ORDERS] = market_pb2.QueryOrdersResponse(orders=[priced, auto])
    r = wallet("-o", "json", "query", "market", "orders", "--owner", OTHER, "--open")
    assert r.code == 0, r.err
    request = market_pb2.QueryOrdersRequest.FromString(fake_node.requests[-1][1])
    assert request == market_pb2.QueryOrdersRequest(owner=OTHER, open_only=True)
    first, second = r.json()["orders"]
    assert first["price"] == 150 and first["side"] == "SIDE_SELL"
    assert first["status"] == "ORDER_STATUS_OPEN" and first["quantity_wh"] == 1500
    assert "price" not in second  # absent: priced automatically
    assert second["quantity_wh"] == str(2**60 + 1)  # beyond 2^53: a string, exactly
    assert second["escrow"] == "332"
    lines = wallet("query", "market", "orders", "--interval", "7").out.splitlines()
    assert lines[0].split()[:6] == ["ID", "OWNER", "SIDE", "INTERVAL", "QUANTITY_WH", "PRICE"]
    assert lines[1].split()[:6] == ["3", OTHER, "sell", "7", "1500", "150"]
    assert lines[2].split()[:6] == ["4", OTHER, "buy", "7", str(2**60 + 1), "auto"]
    request = market_pb2.QueryOrdersRequest.FromString(fake_node.requests[-1][1])
    assert request == market_pb2.QueryOrdersRequest(interval=7)


@pytest.mark.parametrize(
    "argv",
    [
        ["orders"],
        ["orders", "--owner", OTHER, "--interval", "3"],
        ["trades"],
        ["trades", "--interval", "1", "--address", OTHER],
        ["order", "x"],
        ["interval"],
    ],
)
def test_market_query_usage_errors(wallet: Wallet, fake_node: FakeNode, argv: list[str]) -> None:
    assert wallet("query", "market", *argv).code == ExitCode.USAGE
    assert fake_node.queries == []


# -- on a real chain -------------------------------------------------------------------------


def _json(w: Wallet, *argv: str) -> Any:
    r = w("-o", "json", *argv)
    assert r.code == 0, r.err
    return r.json()


def _place(w: Wallet, who: str, side: str, quantity: str, *extra: str) -> int:
    r = w("-o", "json", "tx", "market", "place-order", side, "--quantity", quantity, *extra,
          "--from", who)  # fmt: skip
    assert r.code == 0, r.err
    return r.json()["order_id"]  # type: ignore[no-any-return]


def _clear(m: Microgrid, n: int) -> None:
    gate = _json(m.wallet, "query", "market", "interval", str(n))["interval"]["gate_closure_time"]
    m.node.advance_to(gate)


def test_bid_clear_and_audit_end_to_end(microgrid: Microgrid) -> None:
    w = microgrid.wallet
    assert (
        w("tx", "registry", "apply", "--role", "producer", "--bus", "b2", "--from", "carol").code
        == 0
    )
    assert w("tx", "registry", "approve", microgrid.address("carol"), "--from", "utility").code == 0
    n = _json(w, "query", "market", "schedule")["first_open"]
    interval = ["--interval", str(n)]
    # alice (bus b1, a 5 kWh line) sells 8 kWh: the line limit curtails her trade.
    sell = _place(w, "alice", "sell", "8kWh", *interval, "--price", "150")
    buy = _place(w, "bob", "buy", "8000Wh", "--interval", "next", "--price", "250")
    auto = _place(w, "carol", "sell", "1kWh", *interval)  # priced at gate closure
    gone = _place(w, "bob", "buy", "500", *interval, "--price", "290")
    assert [sell, buy, auto, gone] == [1, 2, 3, 4]
    r = w("tx", "market", "cancel-order", str(gone), "--from", "bob")
    assert r.code == 0 and "refund: " in r.out

    orders = _json(w, "query", "market", "orders", "--interval", str(n))["orders"]
    assert [(o["id"], o["status"]) for o in orders] == [
        (1, "ORDER_STATUS_OPEN"),
        (2, "ORDER_STATUS_OPEN"),
        (3, "ORDER_STATUS_OPEN"),
        (4, "ORDER_STATUS_CANCELLED"),
    ]
    open_orders = _json(
        w, "query", "market", "orders", "--owner", microgrid.address("bob"), "--open"
    )
    assert [o["id"] for o in open_orders["orders"]] == [2]
    before = microgrid.node.height

    r = w("market", "audit", "--interval", str(n))
    assert r.code == ExitCode.CHAIN and "not cleared yet" in r.err

    _clear(microgrid, n)
    record = _json(w, "query", "market", "interval", str(n))["interval"]
    assert record["status"] == "INTERVAL_STATUS_CLEARED"
    assert record["curtailments"], "alice's line should have been overloaded"
    trades = _json(w, "query", "market", "trades", "--interval", str(n))["trades"]
    assert sum(t["quantity_wh"] for t in trades) == record["matched_wh"] > 0
    mine = _json(w, "query", "market", "trades", "--address", microgrid.address("alice"))
    assert [t["sell_order"] for t in mine["trades"]] == [sell]
    text = w("query", "market", "trades", "--interval", str(n)).out
    assert text.splitlines()[0].split()[:4] == ["INTERVAL", "INDEX", "BUY_ORDER", "SELL_ORDER"]

    audit = _json(w, "market", "audit", "--interval", str(n))
    assert audit["match"] is True and audit["differences"] == []
    assert audit["mechanism"] == "uniform" and audit["k"] == "1/2"
    assert audit["chain"] == audit["recomputed"]
    assert audit["chain"]["curtailments"] == [
        {k: c[k] for k in ("round", "line", "buy_order", "sell_order", "quantity_wh", "order")}
        for c in record["curtailments"]
    ]
    assert [o["id"] for o in audit["inputs"]["orders"]] == ["1", "2", "3"]  # not the cancelled
    assert audit["inputs"]["orders"][2]["price"] == record["auto_sell_price"]
    r = w("market", "audit", "--interval", str(n))
    assert r.code == 0 and ": MATCH" in r.out

    # At a height before gate closure the same interval was not cleared.
    r = w("-o", "json", "market", "audit", "--interval", str(n), "--height", str(before))
    assert r.code == ExitCode.CHAIN and "not cleared yet" in json.loads(r.err)["error"]


class _Tampered:
    """The node, but the Trades query reports the first trade one unit dearer."""

    def __init__(self, node: Any):
        self._node = node

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def abci_query(self, path: str, data: bytes = b"", height: int = 0, prove: bool = False) -> Any:
        answer = self._node.abci_query(path, data, height, prove)
        if path.endswith("market.v1.Query/Trades"):
            resp = market_pb2.QueryTradesResponse.FromString(answer["value"])
            if resp.trades:
                resp.trades[0].price += 1
            answer = {**answer, "value": resp.SerializeToString()}
        return answer


def test_audit_reports_a_mismatch_and_exits_1(microgrid: Microgrid) -> None:
    w = microgrid.wallet
    n = _json(w, "query", "market", "schedule")["first_open"]
    _place(w, "alice", "sell", "1000", "--interval", str(n), "--price", "150")
    _place(w, "bob", "buy", "1000", "--interval", str(n), "--price", "250")
    _clear(microgrid, n)
    assert w("market", "audit", "--interval", str(n)).code == 0
    w.node = _Tampered(microgrid.node)
    r = w("-o", "json", "market", "audit", "--interval", str(n))
    assert r.code == ExitCode.CHAIN
    out = r.json()
    assert out["match"] is False
    assert out["differences"] == [{"field": "trades[0].price", "chain": 201, "recomputed": 200}]
    r = w("market", "audit", "--interval", str(n))
    assert "MISMATCH" in r.out and "trades[0].price: chain 201, recomputed 200" in r.out


def test_params_forecast_and_grid_end_to_end(microgrid: Microgrid) -> None:
    w = microgrid.wallet
    r = w("tx", "market", "update-params", "--retail-tariff", "320", "--from", "utility")
    assert r.code == 0, r.err
    assert "retail_tariff: 300 -> 320" in r.out
    params = _json(w, "query", "market", "params")
    assert params["params"]["retail_tariff"] == 300  # from the next interval on
    assert params["pending"]["retail_tariff"] == 320
    assert params["pending_from_interval"] > 0
    r = w("tx", "market", "update-params", "--grid-fee", "12", "--from", "utility")
    assert r.code == 0 and "WARNING: an update waits for interval" in r.err

    # Only the utility cell changes params: the chain refuses, exit 1.
    r = w("tx", "market", "update-params", "--grid-fee", "11", "--from", "alice")
    assert r.code == ExitCode.CHAIN

    n = _json(w, "query", "market", "schedule")["first_open"]
    argv = ["tx", "market", "publish-forecast", "--interval", str(n)]
    assert w(*argv, "--generation-wh", "3kWh", "--demand-wh", "2kWh", "--from", "utility").code == 0
    forecast = _json(w, "query", "market", "forecast", str(n))["forecast"]
    assert (forecast["generation_wh"], forecast["demand_wh"]) == (3000, 2000)
    assert w("query", "market", "forecast", str(n + 1)).code == ExitCode.CHAIN

    position = _json(w, "query", "market", "grid-position")
    assert position["balance"] == "0" and position["import_wh"] == 0
    assert "balance: 0" in w("query", "market", "grid-position").out
    assert "first_open: " in w("query", "market", "schedule").out
    assert "price: auto" in w("query", "market", "order", str(_place(
        w, "bob", "buy", "100", "--interval", str(n)))).out  # fmt: skip


def test_audit_of_an_empty_interval_matches(microgrid: Microgrid) -> None:
    w = microgrid.wallet
    n = _json(w, "query", "market", "schedule")["first_open"]
    _clear(microgrid, n)
    audit = _json(w, "market", "audit", "--interval", str(n))
    assert audit["match"] is True
    assert audit["chain"] == {
        "clearing_price": None,
        "matched_wh": 0,
        "trades": [],
        "curtailments": [],
    }


def test_audit_of_an_interval_the_keeper_refused(wallet: Wallet, fake_node: FakeNode) -> None:
    fake_node.responses["/mgrid.market.v1.Query/Interval"] = market_pb2.QueryIntervalResponse(
        interval=market_pb2.IntervalState(
            id=9, status=market_pb2.INTERVAL_STATUS_CLEARED, fallback="not cleared: bad book"
        )
    )
    r = wallet("market", "audit", "--interval", "9")
    assert r.code == ExitCode.CHAIN and "closed without clearing: not cleared: bad book" in r.err
    assert fake_node.queries == [("/mgrid.market.v1.Query/Interval", 7)]  # at the latest height


def _trade(buy: int, sell: int, price: int = 200) -> dict[str, Any]:
    return {
        "buy_order": buy,
        "sell_order": sell,
        "quantity_wh": 1000,
        "price": price,
        "amount": str(price),
        "seller_price": price,
        "seller_amount": str(price),
    }


def test_audit_differences_name_each_field() -> None:
    from clients.mgrid.audit import differences

    chain = {"clearing_price": 200, "matched_wh": 2000, "trades": [_trade(2, 1), _trade(4, 3)]}
    recomputed = {"clearing_price": None, "matched_wh": 1000, "trades": [_trade(2, 1, 190)]}
    for side in (chain, recomputed):
        side["curtailments"] = []
    assert differences(chain, recomputed) == [
        {"field": "clearing_price", "chain": 200, "recomputed": None},
        {"field": "matched_wh", "chain": 2000, "recomputed": 1000},
        {"field": "len(trades)", "chain": 2, "recomputed": 1},
        {"field": "trades[0].price", "chain": 200, "recomputed": 190},
        {"field": "trades[0].amount", "chain": "200", "recomputed": "190"},
        {"field": "trades[0].seller_price", "chain": 200, "recomputed": 190},
        {"field": "trades[0].seller_amount", "chain": "200", "recomputed": "190"},
        {"field": "trades[1]", "chain": _trade(4, 3), "recomputed": None},
    ]
    assert differences(chain, chain) == []


def test_pages_walks_to_the_end_and_refuses_a_loop() -> None:
    from clients.mgrid.chain import ChainError, pages

    book = {b"": (1, b"k1"), b"k1": (2, b"k2"), b"k2": (3, b"")}

    def fetch(key: bytes) -> Any:
        item, next_key = book[key]
        return market_pb2.QueryOrdersResponse(orders=[market_pb2.Order(id=item)], next_key=next_key)

    assert [o.id for o in pages(fetch, "orders")] == [1, 2, 3]
    book[b"k2"] = (3, b"k1")
    with pytest.raises(ChainError, match="repeats page key"):
        list(pages(fetch, "orders"))
