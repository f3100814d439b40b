"""A small microgrid for market tests: a utility cell, a regulator, four
approved participants on a three-bus radial network, and a market with
one-minute intervals, run by a real in-process Chain (tests/support/inproc.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.chain import TxResult
from app.crypto import PrivateKey
from app.modules.settlement.reading import sign_reading
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.support.inproc import InProcessNode
from tests.support.txs import key

DENOM = "ugrid"
UTILITY, REGULATOR = key(40), key(41)
ALICE, BOB, CAROL, DAVE = key(42), key(43), key(44), key(45)  # DAVE is not registered
FEES, TAXES, SUBSIDY, EVE = key(46), key(47), key(48), key(49)
PARTICIPANTS = (ALICE, BOB, CAROL, EVE)
# One meter per participant, registered in genesis.
METERS = {p.address: key(60 + i) for i, p in enumerate(PARTICIPANTS)}
WINDOW = 30  # settlement window, seconds after an interval ends
POOL = key(59)  # the penalty pool
START = 1_700_000_040  # an interval boundary for 60 s intervals
FUNDS = 400_000

PARAMS: dict[str, Any] = {
    "interval_seconds": 60,
    "gate_closure_seconds": 10,
    "max_intervals_ahead": 10,
    "mechanism": "uniform",
    "k": "1/2",
    "retail_tariff": 300,
    "feed_in_tariff": 100,
    "grid_fee_per_kwh": 10,
    "tax_rate": "1/10",
    "fee_account": FEES.address,
    "tax_account": TAXES.address,
    "subsidy_account": SUBSIDY.address,
    "seller_collateral_rate": "1/10",
    "max_open_orders": 3,
    "min_order_wh": 10,
    "max_order_wh": 1_000_000,
}
BOUNDS: dict[str, Any] = {
    "retail_tariff_min": 200,
    "retail_tariff_max": 400,
    "feed_in_tariff_min": 50,
    "feed_in_tariff_max": 150,
    "grid_fee_max": 20,
    "tax_rate_max": "1/5",
}


def app_state(
    params: dict[str, Any] | None = None,
    *,
    subsidy: int = 0,
    pcc_capacity: int = 10**9,
    reputation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    funded = [UTILITY, ALICE, BOB, CAROL, DAVE, EVE]
    balances = [
        {"address": k.address, "coins": [{"denom": DENOM, "amount": str(FUNDS)}]} for k in funded
    ]
    if subsidy:
        balances.append(
            {"address": SUBSIDY.address, "coins": [{"denom": DENOM, "amount": str(subsidy)}]}
        )
    return {
        "bank": {"params": {"denom": DENOM, "min_fee": "0"}, "balances": balances},
        "registry": {
            "authorities": {"utility": UTILITY.address, "regulator": REGULATOR.address},
            "network": {
                "buses": [
                    {"id": "pcc", "capacity_wh": pcc_capacity},
                    {"id": "b1", "parent": "pcc", "capacity_wh": 5_000},
                    {"id": "b2", "parent": "pcc", "capacity_wh": 1_000_000},
                ]
            },
            "participants": [
                {"address": ALICE.address, "role": "prosumer", "bus": "b1"},
                {"address": BOB.address, "role": "consumer", "bus": "b2"},
                {"address": CAROL.address, "role": "producer", "bus": "b2"},
                {"address": EVE.address, "role": "prosumer", "bus": "b2"},
            ],
            "meters": [
                {"pub_key": meter.public_key.hex(), "participant": owner}
                for owner, meter in METERS.items()
            ],
        },
        "market": {"params": {**PARAMS, **(params or {})}, "bounds": BOUNDS},
        "settlement": {
            "params": {
                "window_seconds": WINDOW,
                "shortfall_penalty": 50,
                "missing_reading_penalty": 7,
                "penalty_account": POOL.address,
            }
        },
        # Collateral not scaled by reputation, so that market tests see the bare rate.
        "reputation": {"params": {"collateral_discount": "0", **(reputation or {})}},
    }


class Market:
    """The node plus helpers to sign messages and read the market."""

    def __init__(self, node: InProcessNode):
        self.node = node

    def tx(self, signer: PrivateKey, **msgs: Any) -> TxResult:
        """Sign one tx holding ``msgs`` (oneof field name -> message) and deliver it."""
        return self.node.deliver(self.node.sign(signer, *msgs.items()))

    def rejected(self, signer: PrivateKey, **msgs: Any) -> TxResult:
        result = self.tx(signer, **msgs)
        assert result.code, "expected a rejection"
        return result

    def place(
        self,
        signer: PrivateKey,
        side: str,
        quantity_wh: int,
        price: int | None = None,
        *,
        interval: int | None = None,
        grid_fill: bool = False,
    ) -> TxResult:
        return self.tx(
            signer, place_order=self.order_msg(side, quantity_wh, price, interval, grid_fill)
        )

    def order_msg(
        self,
        side: str,
        quantity_wh: int,
        price: int | None = None,
        interval: int | None = None,
        grid_fill: bool = False,
    ) -> market_pb2.MsgPlaceOrder:
        msg = market_pb2.MsgPlaceOrder(
            side=market_pb2.SIDE_BUY if side == "buy" else market_pb2.SIDE_SELL,
            interval=self.schedule().first_open if interval is None else interval,
            quantity_wh=quantity_wh,
            grid_fill=grid_fill,
        )
        if price is not None:
            msg.price = price
        return msg

    def q(self, method: str, request: Any, module: Any = market_pb2) -> Any:
        return self.node.query(module.DESCRIPTOR, method, request)

    def schedule(self) -> market_pb2.QueryScheduleResponse:
        return self.q("Schedule", market_pb2.QueryScheduleRequest())

    def interval(self, n: int) -> market_pb2.IntervalState:
        return self.q("Interval", market_pb2.QueryIntervalRequest(id=n)).interval

    def order(self, order_id: int) -> market_pb2.Order:
        return self.q("Order", market_pb2.QueryOrderRequest(id=order_id)).order

    def trades(self, n: int) -> list[market_pb2.Trade]:
        return list(self.q("Trades", market_pb2.QueryTradesRequest(interval=n)).trades)

    def balance(self, address: str) -> int:
        req = bank_pb2.QueryBalanceRequest(address=address, denom=DENOM)
        return int(self.q("Balance", req, bank_pb2).balance.amount)

    def supply(self) -> int:
        supply = self.q("TotalSupply", bank_pb2.QueryTotalSupplyRequest(), bank_pb2).supply
        return sum(int(c.amount) for c in supply if c.denom == DENOM)

    def clear(self, n: int) -> market_pb2.IntervalState:
        """Advance block time to interval n's gate closure; returns its record."""
        gate = self.interval(n).gate_closure_time
        self.node.advance_to(gate)
        state = self.interval(n)
        assert state.status == market_pb2.INTERVAL_STATUS_CLEARED
        return state

    def read(
        self,
        participant: PrivateKey,
        n: int,
        exported_wh: int,
        imported_wh: int,
        *,
        meter: PrivateKey | None = None,
        submitter: PrivateKey | None = None,
        sequence: int | None = None,
        chain_id: str | None = None,
    ) -> TxResult:
        """Submit ``participant``'s meter reading for interval n (signed by its meter)."""
        meter = meter or METERS[participant.address]
        reading = settlement_pb2.MeterReading(
            chain_id=self.node.chain.chain_id if chain_id is None else chain_id,
            meter=meter.public_key,
            participant=participant.address,
            interval=n,
            exported_wh=exported_wh,
            imported_wh=imported_wh,
            sequence=n if sequence is None else sequence,
        )
        return self.tx(submitter or participant, meter_reading=sign_reading(meter, reading))

    def contracted(self, participant: PrivateKey, n: int) -> tuple[int, int]:
        """(sold, bought) Wh of ``participant``'s cleared orders in interval n."""
        req = market_pb2.QueryOrdersRequest(owner=participant.address, limit=1000)
        sold = bought = 0
        for o in self.q("Orders", req).orders:
            if o.interval == n:
                done = o.matched_wh + o.grid_wh
                if o.side == market_pb2.SIDE_SELL:
                    sold += done
                else:
                    bought += done
        return sold, bought

    def settle(
        self, n: int, readings: dict[str, tuple[int, int]] | None = None
    ) -> settlement_pb2.IntervalSettlement:
        """Submit readings and move past interval n's settlement window.

        ``readings``: address -> (exported, imported), or None for no reading;
        participants not in it and without a reading yet read exactly what they
        contracted. Returns the interval's settlement.
        """
        readings = readings or {}
        end = self.interval(n).end_time
        self.node.advance_to(end)
        req = settlement_pb2.QueryReadingsRequest(interval=n)
        already = {r.participant for r in self.q("Readings", req, settlement_pb2).readings}
        for p in PARTICIPANTS:
            if p.address in already:
                continue
            value = readings.get(p.address, self.contracted(p, n))
            if value is not None and any(value):
                result = self.read(p, n, *value)
                assert result.code == 0, result.log
        self.node.advance_to(end + WINDOW)
        resp = self.q("Interval", settlement_pb2.QueryIntervalRequest(interval=n), settlement_pb2)
        assert resp.settled
        return resp.settlement

    def settlement(self, n: int, participant: PrivateKey) -> settlement_pb2.ParticipantSettlement:
        req = settlement_pb2.QuerySettlementsRequest(interval=n, participant=participant.address)
        [row] = self.q("Settlements", req, settlement_pb2).settlements
        return row


def order_id(result: TxResult) -> int:
    for event in result.events:
        if event.type == "market_place_order":
            return int(dict(event.attributes)["order_id"])
    raise AssertionError(f"no market_place_order event in {result}")


@pytest.fixture
def make_market(tmp_path: Path) -> Iterator[Any]:
    nodes: list[InProcessNode] = []

    def make(state: dict[str, Any] | None = None, name: str = "m") -> Market:
        home = tmp_path / f"{name}{len(nodes)}"
        home.mkdir()
        node = InProcessNode(home, state or app_state(), start_time=START)
        nodes.append(node)
        return Market(node)

    yield make
    for node in nodes:
        node.close()


@pytest.fixture
def market(make_market: Any) -> Market:
    return make_market()
