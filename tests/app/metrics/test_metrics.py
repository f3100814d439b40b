"""The app's Prometheus metrics, driven by real blocks through the ABCI adapter.

Each test reads the app's own registry (or scrapes it over HTTP) and
compares it with what the chain says: results of the blocks, the committed
height and time, open orders counted in full from state, the settlement
record, the IBC packets relayed between two in-process chains.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from app.abci.adapter import APP_VERSION
from app.chain import Chain
from app.kv import StoreView
from app.metrics import AppMetrics, MetricsAddressError, parse_address
from app.modules.market import keeper as market_keeper
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, Market, order_id
from tests.app.metrics.conftest import BANK_GENESIS, GARBAGE, AdapterNode, send
from tests.ibc.apps.pairs import DENOM_A, linked_pair, transfer_msg
from tests.support.ibcpair import IBCNode, address, key
from tests.support.inproc import InProcessNode
from tests.support.metrics import scrape


def value(metrics: AppMetrics, name: str, **labels: str) -> float:
    """A sample of the registry (0 when the labelled child was never touched)."""
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def open_orders_in_full(node: InProcessNode) -> int:
    """Every order in committed state whose status is open (what the gauge must show)."""
    view = StoreView(node.store, node.height)
    count = 0
    for key_, _ in view.iterate(market_keeper.BY_INTERVAL):
        order = market_keeper.get_order(view, int.from_bytes(key_[-8:], "big"))
        assert order is not None
        count += order.status == market_keeper.OPEN
    return count


# --- transactions and blocks ----------------------------------------------------


def test_txs_are_counted_by_message_type_and_result(make_node: Any) -> None:
    node: AdapterNode = make_node(BANK_GENESIS)
    m = node.metrics
    txs = [
        send(node, 10, 0),
        send(node, 20, 1),
        send(node, 10**9, 2),  # decodes, pays its (zero) fee, fails in the bank
        GARBAGE,
    ]
    results = node.commit_block(txs).tx_results
    assert [(r.codespace, r.code) for r in results] == [("", 0), ("", 0), ("bank", 2), ("tx", 2)]
    assert value(m, "mgrid_txs_total", type="send", code="0", codespace="") == 2
    assert value(m, "mgrid_txs_total", type="send", code="2", codespace="bank") == 1
    assert value(m, "mgrid_txs_total", type="undecodable", code="2", codespace="tx") == 1
    node.commit_block([send(node, 5, 3)])
    assert value(m, "mgrid_txs_total", type="send", code="0", codespace="") == 3


def test_a_tx_of_several_messages_is_labelled_by_their_sorted_types(grid: Market) -> None:
    node = grid.node
    assert isinstance(node, AdapterNode)
    pay = bank_pb2.MsgSend(
        to_address=BOB.address, amount=[coin_pb2.Coin(denom="ugrid", amount="1")]
    )
    both = grid.tx(ALICE, send=pay, place_order=grid.order_msg("sell", 100, 120))
    assert both.code == 0, both.log
    assert (
        value(node.metrics, "mgrid_txs_total", type="place_order,send", code="0", codespace="") == 1
    )


def test_check_tx_answers_are_counted_by_kind_and_code(make_node: Any) -> None:
    node: AdapterNode = make_node(BANK_GENESIS)
    m = node.metrics
    tx0 = send(node, 10, 0)
    assert node.check(tx0).code == 0
    assert node.check(tx0).code == 3  # its sequence is used in the check state now
    assert node.check(GARBAGE).code == 2
    assert node.check(tx0, recheck=True).code == 3
    assert value(m, "mgrid_check_txs_total", kind="new", code="0", codespace="") == 1
    assert value(m, "mgrid_check_txs_total", kind="new", code="3", codespace="tx") == 1
    assert value(m, "mgrid_check_txs_total", kind="new", code="2", codespace="tx") == 1
    assert value(m, "mgrid_check_txs_total", kind="recheck", code="3", codespace="tx") == 1


def test_height_block_time_and_per_block_histograms_follow_the_chain(make_node: Any) -> None:
    node: AdapterNode = make_node(BANK_GENESIS, block_seconds=3)
    m = node.metrics
    sizes = [0, 2, 1, 0]
    seq = 0
    for size in sizes:
        node.commit_block([send(node, 1, seq + i) for i in range(size)])
        seq += size
        assert value(m, "mgrid_height") == node.height
        assert value(m, "mgrid_last_block_time_seconds") == node.time_ns / 1e9
    blocks = node.height  # block 1 (genesis) went through the adapter too
    assert value(m, "mgrid_block_txs_count") == blocks
    assert value(m, "mgrid_block_txs_sum") == sum(sizes)
    assert value(m, "mgrid_block_txs_bucket", le="1.0") == blocks - 1  # one block of 2
    assert value(m, "mgrid_block_execution_seconds_count") == blocks
    assert value(m, "mgrid_block_execution_seconds_sum") > 0
    assert value(m, "mgrid_store_commit_seconds_count") == blocks
    assert value(m, "mgrid_store_commit_seconds_sum") > 0
    assert value(m, "mgrid_app_info", version="0.1.0", app_version=str(APP_VERSION)) == 1


def test_metrics_only_observe_the_same_blocks_give_the_same_app_hash(
    make_node: Any, tmp_path: Path
) -> None:
    observed: AdapterNode = make_node(BANK_GENESIS)
    (tmp_path / "plain").mkdir()
    plain = InProcessNode(tmp_path / "plain", BANK_GENESIS)
    try:
        for seq in range(3):
            blocks = [
                node.commit_block([send(node, 7, seq), GARBAGE]) for node in (observed, plain)
            ]
            assert blocks[0].app_hash == blocks[1].app_hash
            assert [r.code for r in blocks[0].tx_results] == [r.code for r in blocks[1].tx_results]
    finally:
        plain.close()


def test_a_failing_metric_is_logged_and_the_block_still_answers(
    make_node: Any, caplog: pytest.LogCaptureFixture
) -> None:
    node: AdapterNode = make_node(BANK_GENESIS)

    def broken(*args: Any) -> None:
        raise RuntimeError("collector broke")

    node.metrics.observe_block = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="mgrid.abci"):
        result = node.commit_block([send(node, 1, 0)])
    assert result.tx_results[0].code == 0 and len(result.app_hash) == 32
    assert "metrics: broken failed" in caplog.text and "collector broke" in caplog.text


# --- the market: open orders, clearing, settlement ----------------------------------


def test_open_orders_gauge_matches_a_full_count_through_place_cancel_and_clearing(
    grid: Market,
) -> None:
    node = grid.node
    assert isinstance(node, AdapterNode)
    m = node.metrics

    def agrees() -> None:
        assert value(m, "mgrid_orders_open") == open_orders_in_full(node)

    n = grid.schedule().first_open
    assert grid.place(ALICE, "sell", 1000, 150).code == 0
    agrees()
    assert grid.place(CAROL, "sell", 500, 120).code == 0
    assert grid.place(BOB, "buy", 800, 250).code == 0
    cancelled = grid.place(BOB, "buy", 100, 200)
    agrees()
    assert (
        grid.tx(BOB, cancel_order=market_pb2.MsgCancelOrder(order_id=order_id(cancelled))).code == 0
    )
    agrees()
    assert grid.place(EVE, "buy", 300, 200, interval=n + 1).code == 0  # stays open
    assert value(m, "mgrid_orders_open") == 4
    record = grid.clear(n)
    agrees()
    assert value(m, "mgrid_orders_open") == 1
    assert record.order_count == 3
    assert value(m, "mgrid_intervals_cleared_total") == 1
    assert value(m, "mgrid_market_matched_wh_total") == record.matched_wh > 0
    assert value(m, "mgrid_market_trades_total") == record.trade_count > 0
    assert value(m, "mgrid_clearing_seconds_count") == 1
    assert value(m, "mgrid_clearing_seconds_sum") > 0

    # A restarted process counts from state and agrees.
    restarted = AppMetrics()
    restarted.load(Chain(node.store))
    assert value(restarted, "mgrid_orders_open") == 1
    assert value(restarted, "mgrid_height") == node.height


def test_settled_energy_and_money_match_the_settlement_record(grid: Market) -> None:
    node = grid.node
    assert isinstance(node, AdapterNode)
    m = node.metrics
    n = grid.schedule().first_open
    assert grid.place(ALICE, "sell", 1000, 150).code == 0
    assert grid.place(BOB, "buy", 800, 250).code == 0
    grid.clear(n)
    # Alice delivers 600 of the 800 Wh she sold: an imbalance bought at retail, a penalty.
    s = grid.settle(n, {ALICE.address: (600, 0), BOB.address: (0, 800)})
    assert value(m, "mgrid_settlement_intervals_total") == 1
    energy = {
        "local_traded": s.kpis.local_traded_wh,
        "imbalance_bought": s.imbalance_bought_wh,
        "imbalance_sold": s.imbalance_sold_wh,
        "inter_import": s.inter_import_wh,
        "inter_export": s.inter_export_wh,
    }
    money = {
        "imbalance_cost": int(s.imbalance_cost),
        "imbalance_revenue": int(s.imbalance_revenue),
        "penalties": int(s.penalties),
        "unrecovered": int(s.unrecovered),
        "rebates": int(s.rebates),
    }
    assert energy["local_traded"] == 800 and energy["imbalance_bought"] == 200
    assert money["imbalance_cost"] > 0 and money["penalties"] > 0
    for kind, expected in energy.items():
        assert value(m, "mgrid_settled_energy_wh_total", kind=kind) == expected, kind
    for kind, expected in money.items():
        assert value(m, "mgrid_settled_money_total", kind=kind) == expected, kind
    resp = grid.q("Interval", settlement_pb2.QueryIntervalRequest(interval=n), settlement_pb2)
    assert resp.settlement == s


# --- IBC ------------------------------------------------------------------------------


def _watch(node: IBCNode, metrics: AppMetrics) -> None:
    """Report every block of ``node`` (an IBCPair chain, run without the adapter) to ``metrics``."""
    inner = node.commit_block

    def commit_block(txs: list[bytes] | None = None, *, seconds: int | None = None) -> Any:
        block_txs = list(node.mempool if txs is None else txs)
        result = inner(txs, seconds=seconds)
        metrics.observe_block(node.chain, node.height, node.time_ns, block_txs, result, 0.001)
        metrics.observe_commit(node.chain, node.height, 0.001)
        return result

    node.commit_block = commit_block  # type: ignore[method-assign]


def test_ibc_packets_are_counted_by_event_and_port(tmp_path: Path) -> None:
    pair = linked_pair(tmp_path)
    try:
        ch_a, _ = pair.open_channel("transfer", ibc_pb2.ORDER_UNORDERED, "ics20-1")
        on_a, on_b = AppMetrics(), AppMetrics()
        _watch(pair.a, on_a)
        _watch(pair.b, on_b)
        r = pair.submit(
            pair.a, transfer_msg(ch_a, DENOM_A, 100, address("bob")), signer=key("alice")
        )
        assert r.code == 0, r.log
        relayed = pair.relay_packets()
        assert (relayed.received, relayed.acknowledged) == (1, 1)
        deadline = pair.b.time_ns + 2 * 10**9
        late = transfer_msg(ch_a, DENOM_A, 50, address("bob"), timeout_timestamp=deadline)
        assert pair.submit(pair.a, late, signer=key("alice")).code == 0
        pair.advance(4)
        [packet] = pair.relay_packets().timed_out
        assert pair.timeout_packet(pair.a, packet).code == 0
    finally:
        pair.close()
    assert value(on_a, "mgrid_ibc_packets_total", event="send_packet", port="transfer") == 2
    assert value(on_a, "mgrid_ibc_packets_total", event="acknowledge_packet", port="transfer") == 1
    assert value(on_a, "mgrid_ibc_packets_total", event="timeout_packet", port="transfer") == 1
    assert value(on_a, "mgrid_ibc_packets_total", event="recv_packet", port="transfer") == 0
    assert value(on_b, "mgrid_ibc_packets_total", event="recv_packet", port="transfer") == 1
    assert value(on_b, "mgrid_ibc_packets_total", event="send_packet", port="transfer") == 0
    assert value(on_a, "mgrid_txs_total", type="transfer", code="0", codespace="") == 2


# --- the HTTP endpoint ----------------------------------------------------------------------


def test_each_app_serves_its_own_registry_over_http(make_node: Any) -> None:
    first: AdapterNode = make_node(BANK_GENESIS)
    second: AdapterNode = make_node(BANK_GENESIS)
    first.commit_block([send(first, 1, 0), send(first, 1, 1)])
    second.commit_block([GARBAGE])
    ports = []
    try:
        for node in (first, second):
            _, port = node.metrics.serve("127.0.0.1:0")
            ports.append(port)
        a, b = (scrape(f"http://127.0.0.1:{port}/metrics") for port in ports[:2])
    finally:
        first.metrics.close()
        second.metrics.close()
    ok = ("mgrid_txs_total", (("code", "0"), ("codespace", ""), ("type", "send")))
    bad = ("mgrid_txs_total", (("code", "2"), ("codespace", "tx"), ("type", "undecodable")))
    assert a[ok] == 2 and bad not in a
    assert b[bad] == 1 and ok not in b
    assert a[("mgrid_height", ())] == first.height == b[("mgrid_height", ())]


@pytest.mark.parametrize(
    "address", ["", "26661", "127.0.0.1", "host:port", ":26661", "h:-1", "h:65536"]
)
def test_malformed_metrics_addresses_are_refused(address: str) -> None:
    with pytest.raises(MetricsAddressError, match="is not HOST:PORT"):
        parse_address(address)


def test_addresses_parse_including_ipv6() -> None:
    assert parse_address("127.0.0.1:26661") == ("127.0.0.1", 26661)
    assert parse_address("[::1]:9100") == ("::1", 9100)


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(MetricsAddressError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            AppMetrics().serve(f"127.0.0.1:{port}")
