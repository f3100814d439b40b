"""bench/dashboard.py's arithmetic (sizes, ratios, the day's shape, the state it
builds) and its section of BENCHMARKS.md (bench/report.py). Nothing is timed here."""

from __future__ import annotations

import argparse
import copy
from pathlib import Path
from typing import Any

import pytest

from bench import dashboard, report
from bench.dashboard import Size


@pytest.mark.parametrize(
    ("participants", "intervals", "orders", "expected", "traders"),
    [
        (10_000, 96, None, 2_000, 400),  # a fifth of the participants, 5 orders each
        (100, 8, None, 40, 8),  # at least 40
        (100, 8, 13, 13, 3),  # the last trader places the 3 orders left
        (3, 1, 1_000, 15, 3),  # at most ORDERS_PER_TRADER per participant
        (2, 1, 1, 2, 1),  # at least 2
    ],
)
def test_size(
    participants: int, intervals: int, orders: int | None, expected: int, traders: int
) -> None:
    size = Size.of(participants, intervals, orders)
    assert size.orders_per_interval == expected
    assert size.traders == traders
    assert size.traders * size.per_trader >= size.orders_per_interval
    assert f"{participants:,} participants x {intervals} intervals" in size.label


@pytest.mark.parametrize(("participants", "intervals"), [(1, 8), (100, 0)])
def test_size_rejects_empty_microgrids(participants: int, intervals: int) -> None:
    with pytest.raises(ValueError, match="need >= 2 participants"):
        Size.of(participants, intervals)


def test_parse_size() -> None:
    assert dashboard.parse_size("100x8") == (100, 8)
    assert dashboard.parse_size("2000X24") == (2000, 24)
    for bad in ("100", "100x", "axb", "1x2x3"):
        with pytest.raises(argparse.ArgumentTypeError, match="PARTICIPANTSxINTERVALS"):
            dashboard.parse_size(bad)


def test_ratio() -> None:
    assert dashboard.ratio(30.0, 10.0) == 3.0
    assert dashboard.ratio(1, 3) == 0.33
    assert dashboard.ratio(0, 5) == 0.0
    for big, small in ((5, 0), (None, 1), (1, None), (True, 1), ("2", 1), (-1, 1)):
        assert dashboard.ratio(big, small) is None


def test_ratios_follow_the_documents_nesting() -> None:
    small = {
        "participants": 100,
        "build": {"seconds": 2.0, "rejected": {}, "first_interval": 2_000_001},
        "api": {
            "endpoints": [
                {"name": "market", "path": "/api/market", "cold_ms": 4.0, "bytes": 1000},
                {"name": "only_small", "cold_ms": 1.0},
            ],
        },
        "browser": {"errors": [], "heap_bytes_max": 0},
        "flag": True,
    }
    big = copy.deepcopy(small)
    big["participants"] = 10_000
    big["build"]["seconds"] = 200.0
    big["api"]["endpoints"] = [
        {"name": "market", "path": "/api/market", "cold_ms": 10.0, "bytes": 52_000},
        {"name": "only_big", "cold_ms": 3.0},
    ]
    big["browser"]["heap_bytes_max"] = 7
    assert dashboard.ratios(small, big) == {
        "participants": 100.0,
        "build": {"seconds": 100.0},
        "api": {"endpoints": {"market": {"cold_ms": 2.5, "bytes": 52.0}}},
    }


def test_median_and_ms() -> None:
    assert dashboard.median([3.0, 1.0, 2.0]) == 2.0
    assert dashboard.median([]) is None
    assert dashboard.ms(0.0123456) == 12.346
    assert dashboard.ms(None) is None


def test_sell_share_follows_the_sun() -> None:
    shares = [dashboard.sell_share(k) for k in range(96)]
    assert min(shares) == 0.25 and shares[0] == 0.25  # night
    assert shares[48] == pytest.approx(0.75)  # noon
    assert all(0.25 <= s <= 0.75 for s in shares)
    assert shares[:48] == sorted(shares[:48])  # rising through the morning
    assert dashboard.sell_share(96 + 48) == shares[48]  # the next day repeats


def test_roles_share_out_every_hundred() -> None:
    roles = [dashboard.role_of(i)[0] for i in range(100)]
    assert {r: roles.count(r) for r in set(roles)} == {
        "prosumer": 70,
        "consumer": 15,
        "producer": 15,
    }


def test_a_tiny_day_clears_settles_and_leaves_the_next_book_open(tmp_path: Path) -> None:
    """The generator's bookkeeping on a few participants: every order placed, nothing
    rejected, each interval cleared, all but the last two settled, the next one open."""
    from app.pb.mgrid.market.v1 import market_pb2
    from app.pb.mgrid.settlement.v1 import settlement_pb2

    size = Size.of(10, 4, 20)
    built = dashboard.build(tmp_path, size, lambda _: None)
    try:
        node, stats = built.node, built.stats
        assert stats.orders == size.orders_per_interval * (size.intervals + 1)
        assert stats.rejected == {}
        assert stats.readings > 0
        assert built.last_cleared == built.first + 3 and built.next_open == built.first + 4
        for n in range(built.first, built.next_open + 1):
            req = market_pb2.QueryIntervalRequest(id=n)
            status = node.query(market_pb2.DESCRIPTOR, "Interval", req).interval.status
            cleared = n <= built.last_cleared
            assert status == (
                market_pb2.INTERVAL_STATUS_CLEARED if cleared else market_pb2.INTERVAL_STATUS_OPEN
            )
            req = settlement_pb2.QueryIntervalRequest(interval=n)
            settled = node.query(settlement_pb2.DESCRIPTOR, "Interval", req).settled
            assert settled == (n <= built.last_cleared - 2), n
        doc = stats.as_json(node, built)
        assert doc["orders"] == stats.orders and doc["height"] == node.height
        assert doc["next_interval"] == built.next_open
    finally:
        built.node.close()


def dashboard_result() -> dict[str, Any]:
    def size(participants: int, scale: float) -> dict[str, Any]:
        return {
            "participants": participants,
            "intervals": 96 if scale > 1 else 8,
            "orders_per_interval": 2000 if scale > 1 else 40,
            "build": {
                "seconds": 150.0 * scale,
                "txs": 39_000,
                "orders": 194_000,
                "readings": 33_000,
                "clear_block_ms": {"median": 500.0, "max": 900.0},
                "settle_block_ms": {"median": 700.0, "max": 1200.0},
            },
            "api": {
                "endpoints": [
                    {
                        "name": "market",
                        "path": "/api/market",
                        "bytes": 1000,
                        "cold_ms": 4.0 * scale,
                        "block_ms": 2.0 * scale,
                        "block_stale_ms": 3.0 * scale,
                    },
                    {"name": "participants", "bytes": 12_000, "cold_ms": 50.0 * scale},
                ],
                "status_connection": {"new_connection_ms": 0.5, "kept_alive_ms": 44.0},
            },
            "browser": {
                "routes": [
                    {
                        "name": "market",
                        "load_ms": 200.0 * scale,
                        "block_to_view_ms": 320.0,
                        "dom_nodes": 239,
                        "heap_bytes": 3 * 2**20,
                    }
                ],
                "cached_fetch_ms": 45.0,
            },
        }

    return {
        "command": "python bench/dashboard.py",
        "sizes": {"small": size(100, 1.0), "big": size(10_000, 2.0)},
        # As the script wrote them: the report prints these, never recomputes them.
        "ratios": {
            "api": {"endpoints": {"market": {"cold_ms": 1.99, "block_ms": 2.01}}},
            "browser": {"routes": {"market": {"load_ms": 2.02, "block_to_view_ms": 1.0}}},
        },
    }


def test_dashboard_section() -> None:
    md = report.markdown({"components": {"dashboard": dashboard_result()}}, None, {})
    assert "### Dashboard" in md
    assert "```sh\npython bench/dashboard.py\n```" in md
    assert "Small: 100 participants x 8 intervals (40 orders per interval)" in md
    assert "Big: 10,000 participants x 96 intervals (2,000 orders per interval)" in md
    assert "Building the big one took 5 min 0 s" in md
    # endpoint | cold small, big, ratio | after a block small, big, ratio | stale | bytes
    assert "| market | 4.00 | 8.00 | 1.99 | 2.00 | 4.00 | 2.01 | 6.00 | 1,000 |" in md
    assert "| participants | 50.0 | 100 | n/a | n/a | n/a | n/a | n/a | 12,000 |" in md
    # route | load small, big, ratio | block to view small, big, ratio | DOM | heap MiB
    assert "| market | 200 | 400 | 2.02 | 320 | 320 | 1.00 | 239 | 3.00 |" in md
    assert "0.500 ms on a new connection, 44.0 ms on a kept-alive one" in md
    assert "45.0 ms (small), 45.0 ms (big)" in md


def test_dashboard_section_with_the_big_size_only_and_no_browser() -> None:
    result = dashboard_result()
    del result["sizes"]["small"], result["ratios"]
    for s in result["sizes"].values():
        del s["browser"]
    md = report.markdown({"components": {"dashboard": result}}, None, {})
    assert "Small: n/a. Big: 10,000 participants" in md
    assert "| market | n/a | 8.00 | n/a | n/a | 4.00 | n/a | 6.00 | 1,000 |" in md
    assert "| route |" not in md and "fetched by the page" not in md


def test_dashboard_section_missing_or_empty() -> None:
    assert "### Dashboard" not in report.markdown({"components": {"dashboard": {}}}, None, {})
    md = report.markdown({"components": {"dashboard": {"command": "x"}}}, None, {})
    assert "### Dashboard" in md and "| endpoint |" not in md
