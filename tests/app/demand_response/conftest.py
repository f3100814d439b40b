"""Demand-response tests run on the market tests' microgrid (tests/app/market/conftest.py):
60 s intervals, gate closure 10 s before, a 30 s settlement window, ALICE on bus b1,
BOB, CAROL and EVE on b2, one meter each, the utility cell funded with 400000.

``DR`` adds what these tests do over and over: issue an event, opt in, report
readings for an interval and run an interval to the end of its settlement window."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app import crypto
from app.chain import TxResult
from app.crypto import PrivateKey
from app.modules.demand_response import keeper
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from tests.app.market.conftest import (
    START,
    UTILITY,
    WINDOW,
    Market,
    app_state,
    make_market,
    market,
)
from tests.support.inproc import InProcessNode
from tests.support.txs import key

__all__ = ["make_market", "market"]

PENALTIES = key(70)  # an unfunded account receiving the penalties of named-account events
FUND = crypto.encode_address(keeper.DEFAULT_FUNDER)
ESCROW = crypto.encode_address(keeper.ESCROW)


def dr_state(
    dr_params: dict[str, Any] | None = None,
    *,
    fund: int = 0,
    reputation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The market tests' genesis with a demand_response section, the automatic
    events' fund holding ``fund``."""
    state = app_state(reputation=reputation)
    if dr_params is not None:
        state["demand_response"] = {"params": dr_params}
    if fund:
        state["bank"]["balances"].append(
            {"address": FUND, "coins": [{"denom": "ugrid", "amount": str(fund)}]}
        )
    return state


class DR:
    """A Market with demand-response helpers."""

    def __init__(self, m: Market):
        self.m = m
        self.node = m.node

    # -- transactions --------------------------------------------------------------------

    def create(
        self,
        requested_wh: int = 10_000,
        reward: int = 200,
        penalty: int = 100,
        *,
        interval: int | None = None,
        bus: str = "",
        penalty_account: str = "",
        signer: PrivateKey = UTILITY,
    ) -> TxResult:
        msg = dr_pb2.MsgCreateEvent(
            interval=self.m.schedule().first_open if interval is None else interval,
            bus=bus,
            requested_wh=requested_wh,
            reward_per_kwh=reward,
            penalty_per_kwh=penalty,
            penalty_account=penalty_account,
        )
        return self.m.tx(signer, create_dr_event=msg)

    def new_event(self, *args: Any, **kw: Any) -> int:
        result = self.create(*args, **kw)
        assert result.code == 0, result.log
        return event_id(result)

    def opt_in(self, who: PrivateKey, event: int, committed_wh: int) -> TxResult:
        return self.m.tx(who, dr_opt_in=dr_pb2.MsgOptIn(event_id=event, committed_wh=committed_wh))

    def joined(self, who: PrivateKey, event: int, committed_wh: int) -> None:
        result = self.opt_in(who, event, committed_wh)
        assert result.code == 0, result.log

    # -- time and meters -----------------------------------------------------------------

    def report(self, n: int, readings: dict[PrivateKey, tuple[int, int] | None]) -> None:
        """Move to interval n's end and submit each (exported, imported) reading."""
        self.node.advance_to(self.m.interval(n).end_time)
        for who, value in readings.items():
            if value is not None:
                result = self.m.read(who, n, *value)
                assert result.code == 0, result.log

    def finish(self, n: int) -> None:
        """Move to the end of interval n's settlement window (where it settles)."""
        self.node.advance_to(self.m.interval(n).end_time + WINDOW)

    # -- queries -------------------------------------------------------------------------

    def event(self, event: int) -> dr_pb2.QueryEventResponse:
        return self.m.q("Event", dr_pb2.QueryEventRequest(id=event), dr_pb2)

    def events(self, interval: int = 0, **kw: Any) -> dr_pb2.QueryEventsResponse:
        return self.m.q("Events", dr_pb2.QueryEventsRequest(interval=interval, **kw), dr_pb2)

    def opt_ins(self, who: str, **kw: Any) -> dr_pb2.QueryOptInsResponse:
        return self.m.q("OptIns", dr_pb2.QueryOptInsRequest(participant=who, **kw), dr_pb2)

    def block_events(self, type_: str) -> list[dict[str, str]]:
        """Attributes of every end-of-block event of ``type_`` so far."""
        return [dict(e.attributes) for b in self.node.blocks for e in b.events if e.type == type_]

    def escrow(self) -> int:
        return self.m.balance(ESCROW)


def event_id(result: TxResult) -> int:
    for event in result.events:
        if event.type == "demand_response_event":
            return int(dict(event.attributes)["id"])
    raise AssertionError(f"no demand_response_event event in {result}")


@pytest.fixture
def make_dr(tmp_path: Path) -> Iterator[Any]:
    nodes: list[InProcessNode] = []
    homes = itertools.count()

    def make(state: dict[str, Any] | None = None) -> DR:
        home = tmp_path / f"dr{next(homes)}"  # a genesis refused leaves its home behind
        home.mkdir()
        node = InProcessNode(home, state or dr_state(), start_time=START)
        nodes.append(node)
        return DR(Market(node))

    yield make
    for node in nodes:
        node.close()


@pytest.fixture
def dr(make_dr: Any) -> DR:
    return make_dr()
