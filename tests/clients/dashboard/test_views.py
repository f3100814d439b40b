"""The dashboard's JSON views against a real in-process chain: every figure
shown is the chain's own, read at the height the answer names."""

from __future__ import annotations

import itertools

import pytest

from app import crypto
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.reputation.v1 import reputation_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from clients.dashboard.views import (
    BadRequest,
    NotFound,
    Roster,
    Views,
    crossing,
    curve,
    flat,
    histogram,
    levels,
)
from tests.app.market.conftest import ALICE, BOB, CAROL, DAVE, DENOM
from tests.clients.dashboard.conftest import World

# -- supply, demand and where they cross -------------------------------------------------


def test_crossing_takes_every_unit_whose_bid_covers_its_ask() -> None:
    demand = levels([(250, 1000), (160, 400)], descending=True)
    supply = levels([(150, 800), (200, 500)], descending=False)
    # 800 Wh: 250 >= 150; then 200 Wh of the 250-bid against the 200-ask; the 160-bid
    # is below the next ask (200), so it stops there: price between 250 and 200.
    assert crossing(demand, supply) == {"price": 225, "quantity_wh": 1000}


def test_no_crossing_when_the_best_bid_is_below_the_best_ask() -> None:
    assert crossing([(100, 5)], [(101, 5)]) is None
    assert crossing([], [(1, 1)]) is None


def test_levels_merge_equal_prices_in_merit_order() -> None:
    assert levels([(5, 1), (7, 2), (5, 3)], descending=True) == [(7, 2), (5, 4)]
    assert levels([(5, 1), (7, 2), (5, 3)], descending=False) == [(5, 4), (7, 2)]


def test_curve_is_cumulative_and_bounded_but_ends_where_the_book_ends() -> None:
    steps = [(p, 10) for p in range(1, 1001)]
    out = curve(steps, points=200)
    assert len(out) == 200
    assert out[-1] == [1000, 10_000]
    assert all(a[1] < b[1] for a, b in itertools.pairwise(out))
    assert curve([(3, 1), (4, 2)]) == [[3, 1], [4, 3]]


def test_histogram_bins_scores_by_tenths() -> None:
    bins = dict((start, n) for start, n in histogram([0, 99_999, 100_000, 1_000_000]))
    assert bins[0] == 2 and bins[100_000] == 1 and bins[900_000] == 1
    assert len(bins) == 10


# -- the market ---------------------------------------------------------------------------


def test_market_shows_the_open_book_with_unpriced_orders_at_the_bound(world: World) -> None:
    out = world.views.market()
    [book] = [b for b in out["books"] if b["interval"] == world.open]
    assert book["status"] == "open" and book["cleared"] is None
    assert (book["buy_orders"], book["sell_orders"]) == (2, 1)
    assert book["unpriced_buy_wh"] == 600
    max_price = out["params"]["max_price"]
    assert book["demand"] == [[max_price, 600], [180, 800]]
    assert book["supply"] == [[120, 300]]
    assert book["crossing"] == {"price": (max_price + 120) // 2, "quantity_wh": 300}


def test_a_cleared_book_carries_the_chains_clearing(world: World) -> None:
    view = Views(world.node)
    state = world.market.interval(world.settled)
    # The view of a height at which the settled interval was the current one's book.
    out = view.market(height=state.cleared_height)
    [book] = [b for b in out["books"] if b["interval"] == world.settled]
    assert book["status"] == "cleared"
    assert book["cleared"]["clearing_price"] == state.clearing_price
    assert book["cleared"]["matched_wh"] == state.matched_wh


# -- intervals ----------------------------------------------------------------------------


def test_intervals_list_the_cleared_interval_as_the_chain_has_it(world: World) -> None:
    out = world.views.intervals()
    state = world.market.interval(world.settled)
    [row] = [r for r in out["intervals"] if r["id"] == world.settled]
    assert row["clearing_price"] == state.clearing_price
    assert row["matched_wh"] == state.matched_wh
    assert row["trade_count"] == state.trade_count
    settled = world.market.q(
        "Interval", settlement_pb2.QueryIntervalRequest(interval=world.settled), settlement_pb2
    ).settlement
    assert row["settled"] and row["kpis"]["consumption_wh"] == settled.kpis.consumption_wh
    assert row["penalties"] == int(settled.penalties or 0)
    assert out["totals"]["intervals"] >= 1
    # Nothing before the chain's first interval is listed as cleared.
    assert all(r["id"] >= world.settled for r in out["intervals"])


def test_interval_detail_lists_who_traded_with_whom(world: World) -> None:
    out = world.views.interval(world.settled)
    trades = world.market.trades(world.settled)
    assert [(t["buyer"], t["seller"], t["quantity_wh"]) for t in out["trades"]] == [
        (t.buyer, t.seller, t.quantity_wh) for t in trades
    ]
    assert {s["participant"] for s in out["settlements"]} >= {BOB.address, ALICE.address}
    assert out["interval"]["status"] == "cleared"


def test_an_interval_that_never_was_is_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.views.interval(1)


def test_limits_are_checked(world: World) -> None:
    with pytest.raises(BadRequest):
        world.views.intervals(limit=0)
    with pytest.raises(BadRequest):
        world.views.intervals(limit=10_000)
    with pytest.raises(BadRequest):
        world.views.participants(limit=501)
    with pytest.raises(BadRequest):
        world.views.participants(sort="wealth")


# -- participants -------------------------------------------------------------------------


def test_participants_are_the_ranking_with_the_chains_scores(world: World) -> None:
    out = world.views.participants()
    assert out["total"] == 4
    ranking = world.market.q("Ranking", reputation_pb2.QueryRankingRequest(), reputation_pb2)
    ranked = [(s.participant, s.score) for s in ranking.scores]
    assert [(r["address"], r["score"]) for r in out["rows"][: len(ranked)]] == ranked
    assert [r["rank"] for r in out["rows"][: len(ranked)]] == list(range(1, len(ranked) + 1))
    assert sum(n for _, n in out["histogram"]) == len(ranked)
    assert out["movers_interval"] == world.settled
    moved = {m["address"]: m["change"] for m in out["movers"]}
    bob = world.market.settlement(world.settled, BOB)
    assert moved[BOB.address] == bob.score_after - bob.score_before


def test_participants_page_and_search(world: World) -> None:
    everyone = [r["address"] for r in world.views.participants()["rows"]]
    page = world.views.participants(offset=1, limit=2)
    assert [r["address"] for r in page["rows"]] == everyone[1:3]
    found = world.views.participants(q=CAROL.address[-8:].upper())
    assert [r["address"] for r in found["rows"]] == [CAROL.address]
    by_address = world.views.participants(sort="address")
    assert [r["address"] for r in by_address["rows"]] == sorted(everyone)


def test_the_roster_is_reused_for_a_few_seconds_then_rebuilt(world: World) -> None:
    now = [100.0]
    views = Views(world.node, clock=lambda: now[0])
    height = world.node.height
    first = views.roster(height - 1)
    assert isinstance(first, Roster) and first.height == height - 1
    assert views.roster(height) is first
    now[0] += 10
    assert views.roster(height).height == height


def test_a_participant_page_shows_the_chains_balance_score_and_history(world: World) -> None:
    out = world.views.participant(BOB.address)
    height = out["height"]
    assert out["participant"]["role"] == "consumer" and out["participant"]["bus"] == "b2"
    req = bank_pb2.QueryBalanceRequest(address=BOB.address, denom=DENOM)
    bal = world.node.query(bank_pb2.DESCRIPTOR, "Balance", req, height)
    assert out["balances"] == [{"denom": DENOM, "amount": int(bal.balance.amount)}]
    bob = world.market.settlement(world.settled, BOB)
    assert out["score"]["score"] == bob.score_after
    assert [h["interval"] for h in out["history"]] == [world.settled]
    assert out["settlements"][0]["deviation_wh"] == bob.deviation_wh
    assert [o["interval"] for o in out["orders"]] == [world.open, world.settled]
    assert out["orders"][0]["status"] == "open" and out["orders"][0]["side"] == "buy"
    assert all(t["buyer"] == BOB.address for t in out["trades"])


def test_unknown_and_malformed_addresses(world: World) -> None:
    with pytest.raises(BadRequest):
        world.views.participant("not-an-address")
    with pytest.raises(NotFound):
        world.views.participant(crypto.encode_address(b"\x42" * 20))
    # Funded but never registered: a page with its balance and no registry record.
    out = world.views.participant(DAVE.address)
    assert out["participant"] is None and out["balances"][0]["amount"] > 0


# -- network, chain, ibc ------------------------------------------------------------------


def test_network_counts_participants_per_bus(world: World) -> None:
    out = world.views.network()
    buses = {b["id"]: b for b in out["buses"]}
    assert buses["b1"]["participants"] == 1 and buses["b2"]["participants"] == 3
    assert buses["b1"]["parent"] == "pcc" and buses["b1"]["capacity_wh"] == 5_000
    assert out["last_interval"] == world.settled


def test_chain_view_without_the_optional_rpc_methods(world: World) -> None:
    out = world.views.chain()
    assert out["validators"] == [] and out["blocks"] == []
    [node] = out["nodes"]
    assert node["ok"] and node["app_hash"] == world.node.chain.app_hash().hex().upper()
    assert out["agreement"]["agree"] is True


def test_ibc_view_of_a_chain_without_ibc(world: World) -> None:
    assert world.views.ibc() | {"height": 0} == {
        "height": 0,
        "clients": [],
        "channels": [],
        "trades": [],
    }


def test_market_order_status_labels_are_short(world: World) -> None:
    out = world.views.participant(ALICE.address)
    labels = {o["status"] for o in out["orders"]}
    assert labels <= {
        n.removeprefix("ORDER_STATUS_").lower()
        for n in market_pb2.OrderStatus.DESCRIPTOR.values_by_name
    }


def test_grid_lists_the_newest_records_as_flat_rows(world: World) -> None:
    out = world.views.grid()
    [event] = out["dr_events"]
    assert event["id"] == world.dr_event and event["requested_wh"] == 10_000
    assert event["interval"] == world.open
    assert out["storages"] == [] and out["certificate_issuances"] == []


def test_flat_rows() -> None:
    row = flat({"a": 1, "b": {"c": 2, "d": {"e": 3}}, "f": [1, 2], "g": [{"x": 1}]})
    assert row == {"a": 1, "b.c": 2, "b.d.e": 3, "f": "1, 2", "g": 1}
