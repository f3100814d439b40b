"""Quota tests run on the market tests' microgrid (tests/app/market/conftest.py):
60 s intervals whose gate closes 10 s before they start, a 30 s settlement
window, ALICE on bus b1, BOB, CAROL and EVE on b2 (both below pcc), each
with one meter and 400000ugrid; DAVE is funded but not registered.

``Quota`` adds the module's messages and queries to the ``Market`` helper."""

from __future__ import annotations

from typing import Any

import pytest

from app.chain import TxResult
from app.crypto import PrivateKey
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.quota.v1 import quota_pb2
from tests.app.market.conftest import UTILITY, WINDOW, Market, make_market, market

__all__ = ["Quota", "make_market", "margin_id", "market", "quota"]

SIDES = {"buy": market_pb2.SIDE_BUY, "sell": market_pb2.SIDE_SELL}


def event(result: TxResult, event_type: str) -> dict[str, str]:
    for e in result.events:
        if e.type == event_type:
            return dict(e.attributes)
    raise AssertionError(f"no {event_type} event in {result}")


def margin_id(result: TxResult) -> int:
    assert result.code == 0, result.log
    return int(event(result, "quota_margin")["margin_id"])


class Quota(Market):
    """The market helper plus the quota module's messages, queries and phases."""

    def announce_msg(
        self,
        *,
        bus: str = "pcc",
        interval: int | None = None,
        margin_w: int = 1000,
        trading_seconds: int = 30,
        penalty: int = 0,
        account: str = "",
    ) -> quota_pb2.MsgAnnounceMargin:
        return quota_pb2.MsgAnnounceMargin(
            bus=bus,
            interval=self.schedule().first_open + 1 if interval is None else interval,
            margin_w=margin_w,
            penalty_per_kwh=penalty,
            trading_seconds=trading_seconds,
            penalty_account=account,
        )

    def announce(self, signer: PrivateKey = UTILITY, **kw: Any) -> TxResult:
        return self.tx(signer, announce_margin=self.announce_msg(**kw))

    def new_margin(self, **kw: Any) -> int:
        return margin_id(self.announce(**kw))

    def demand(self, who: PrivateKey, margin: int, demand_w: int) -> TxResult:
        msg = quota_pb2.MsgSubmitDemand(margin_id=margin, demand_w=demand_w)
        return self.tx(who, submit_demand=msg)

    def order(
        self, who: PrivateKey, margin: int, side: str, quantity_w: int, price: int
    ) -> TxResult:
        msg = quota_pb2.MsgPlaceQuotaOrder(
            margin_id=margin,
            side=SIDES.get(side, market_pb2.SIDE_UNSPECIFIED),
            quantity_w=quantity_w,
            price_per_kw=price,
        )
        return self.tx(who, place_quota_order=msg)

    def margin(self, margin: int) -> quota_pb2.QueryMarginResponse:
        return self.q("Margin", quota_pb2.QueryMarginRequest(id=margin), quota_pb2)

    def station(self, margin: int, who: PrivateKey) -> quota_pb2.Station:
        req = quota_pb2.QueryStationRequest(margin_id=margin, station=who.address)
        return self.q("Station", req, quota_pb2).station

    def stations(self, margin: int) -> dict[str, quota_pb2.Station]:
        return {s.station: s for s in self.margin(margin).stations}

    def allocate(self, margin: int) -> quota_pb2.Margin:
        """Block time to the margin's allocation time: quotas allocated."""
        self.node.advance_to(self.margin(margin).margin.allocation_time)
        record = self.margin(margin).margin
        assert record.status == quota_pb2.MARGIN_STATUS_TRADING
        return record

    def close(self, margin: int) -> quota_pb2.QueryMarginResponse:
        """Block time to the trading close: quota orders cleared."""
        self.node.advance_to(self.margin(margin).margin.trading_close_time)
        resp = self.margin(margin)
        assert resp.margin.status == quota_pb2.MARGIN_STATUS_CLEARED
        return resp

    def settle_margin(self, margin: int) -> quota_pb2.QueryMarginResponse:
        """Block time to the end of the margin's interval's settlement window."""
        n = self.margin(margin).margin.interval
        self.node.advance_to(self.interval(n).end_time + WINDOW)
        resp = self.margin(margin)
        assert resp.margin.status == quota_pb2.MARGIN_STATUS_SETTLED
        return resp


@pytest.fixture
def quota(make_market: Any) -> Quota:
    m = make_market()
    return Quota(m.node)
