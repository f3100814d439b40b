"""Flexibility tests run on the market tests' microgrid (tests/app/market/conftest.py):
the utility cell posts needs, ALICE (bus b1), BOB, CAROL and EVE (bus b2) offer;
each has one meter from genesis, 60 s intervals whose gate closes 10 s before
they start, a 30 s settlement window, baselines over the 4 intervals before
(settlement defaults) and the penalty pool POOL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.chain import TxResult
from app.crypto import PrivateKey
from app.pb.mgrid.flexibility.v1 import flexibility_pb2
from tests.app.market.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EVE,
    START,
    UTILITY,
    WINDOW,
    Market,
    app_state,
)
from tests.support.inproc import InProcessNode

__all__ = ["Flex", "app_state", "flex", "make_flex"]

KEYS = {k.address: k for k in (ALICE, BOB, CAROL, DAVE, EVE, UTILITY)}


def event(result: TxResult, event_type: str) -> dict[str, str]:
    for e in result.events:
        if e.type == event_type:
            return dict(e.attributes)
    raise AssertionError(f"no {event_type} event in {result}")


class Flex(Market):
    """The market helper plus the flexibility module's messages and queries."""

    def current(self) -> int:
        return int(self.schedule().current_interval)

    def first_open(self) -> int:
        return int(self.schedule().first_open)

    def post_msg(
        self,
        interval: int,
        quantity_wh: int,
        max_price: int,
        penalty: int = 0,
        bus: str = "",
        penalty_account: str = "",
    ) -> flexibility_pb2.MsgPostNeed:
        return flexibility_pb2.MsgPostNeed(
            interval=interval,
            bus=bus,
            quantity_wh=quantity_wh,
            max_price_per_kwh=max_price,
            penalty_per_kwh=penalty,
            penalty_account=penalty_account,
        )

    def post(self, interval: int, quantity_wh: int, max_price: int, **kw: Any) -> int:
        """Post a need as the utility cell; returns its id."""
        result = self.tx(
            UTILITY, post_flex_need=self.post_msg(interval, quantity_wh, max_price, **kw)
        )
        assert result.code == 0, result.log
        return int(event(result, "flexibility_need")["id"])

    def offer_msg(
        self, need_id: int, quantity_wh: int, price: int
    ) -> flexibility_pb2.MsgOfferFlexibility:
        return flexibility_pb2.MsgOfferFlexibility(
            need_id=need_id, quantity_wh=quantity_wh, price_per_kwh=price
        )

    def offer(self, provider: PrivateKey, need_id: int, quantity_wh: int, price: int) -> int:
        result = self.tx(provider, offer_flexibility=self.offer_msg(need_id, quantity_wh, price))
        assert result.code == 0, result.log
        return int(event(result, "flexibility_offer")["offer_id"])

    def need(self, need_id: int) -> flexibility_pb2.QueryNeedResponse:
        return self.q("Need", flexibility_pb2.QueryNeedRequest(id=need_id), flexibility_pb2)

    def gate(self, n: int) -> None:
        """Advance block time to interval n's gate closure (flexibility awards there)."""
        self.node.advance_to(self.interval(n).gate_closure_time)

    def read_all(self, n: int, readings: dict[str, tuple[int, int]], **kw: Any) -> None:
        """Advance to the end of interval n and submit these readings
        (address -> (exported, imported))."""
        self.node.advance_to(self.interval(n).end_time)
        for address, (exported, imported) in readings.items():
            result = self.read(KEYS[address], n, exported, imported, **kw)
            assert result.code == 0, result.log

    def window(self, n: int) -> None:
        """Advance to the end of interval n's settlement window (flexibility settles there)."""
        self.node.advance_to(self.interval(n).end_time + WINDOW)


@pytest.fixture
def make_flex(tmp_path: Path) -> Iterator[Any]:
    nodes: list[InProcessNode] = []

    def make(state: dict[str, Any] | None = None, block_seconds: int = 1) -> Flex:
        home = tmp_path / f"f{len(nodes)}"
        home.mkdir()
        node = InProcessNode(
            home, state or app_state(), start_time=START, block_seconds=block_seconds
        )
        nodes.append(node)
        return Flex(node)

    yield make
    for node in nodes:
        node.close()


@pytest.fixture
def flex(make_flex: Any) -> Flex:
    return make_flex()
