"""A small microgrid for the dashboard's views: the market tests' world
(tests/app/market/conftest.py) run by a real in-process Chain, with one
interval cleared and settled and the next one's book open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clients.dashboard.views import Views
from tests.app.demand_response.conftest import DR
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, START, Market, app_state
from tests.support.inproc import InProcessNode


class World:
    """The node, its market helpers, the dashboard's views over it, and the intervals
    the scenario ran: ``settled`` (cleared and settled) and ``open`` (orders waiting)."""

    def __init__(self, home: Path):
        self.node = InProcessNode(home, app_state(), start_time=START)
        self.market = Market(self.node)
        self.views = Views(self.node)
        m = self.market
        self.settled = m.schedule().first_open
        assert m.place(ALICE, "sell", 800, 150, interval=self.settled).code == 0
        assert m.place(EVE, "sell", 500, 200, interval=self.settled).code == 0
        assert m.place(BOB, "buy", 1_000, 250, interval=self.settled).code == 0
        assert m.place(CAROL, "buy", 400, 160, interval=self.settled).code == 0
        m.clear(self.settled)
        # BOB reads less than he bought, so his score moves differently from the others'.
        m.settle(self.settled, {BOB.address: (0, 700)})
        self.open = m.schedule().first_open
        assert m.place(ALICE, "sell", 300, 120, interval=self.open).code == 0
        assert m.place(BOB, "buy", 200, 180, interval=self.open).code == 0
        assert m.place(EVE, "buy", 600, None, interval=self.open).code == 0  # no limit price
        self.dr_event = DR(m).new_event(10_000, interval=self.open)

    def close(self) -> None:
        self.node.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("dashboard"))
    yield w
    w.close()
