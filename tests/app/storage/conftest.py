"""Storage tests run on the market tests' microgrid (tests/app/market/conftest.py:
60 s intervals whose gate closes 10 s before they start, a 30 s settlement
window, ALICE on bus b1, BOB, CAROL and EVE on b2, each with one meter and
400000ugrid; DAVE is funded but not registered; retail 300, feed-in 100 per
kWh), plus two community storages on b2, each with its own meter and funds:

    STORE   capacity 20000 Wh, charge 1.2 MW (20000 Wh per interval),
            discharge 300 kW (5000 Wh per interval), efficiency 90 %
    STORE2  capacity 5000 Wh, charge and discharge 300 kW (5000 Wh), efficiency 80 %

``Storage`` adds the module's messages, queries and a settlement helper
that reads storages' meters too to the ``Market`` helper."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.chain import TxResult
from app.crypto import PrivateKey
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.pb.mgrid.storage.v1 import storage_pb2
from tests.app.market.conftest import (
    DENOM,
    FUNDS,
    METERS,
    WINDOW,
    Market,
    app_state,
    make_market,
    market,
)
from tests.support.txs import key

__all__ = ["Storage", "make_market", "market", "storage", "storage_state"]

STORE, STORE2 = key(52), key(54)
STORAGE_METERS = {STORE.address: key(53), STORE2.address: key(55)}
ALL_METERS = {**METERS, **STORAGE_METERS}
SPECS: dict[str, dict[str, int]] = {
    STORE.address: {
        "capacity_wh": 20_000,
        "max_charge_w": 1_200_000,
        "max_discharge_w": 300_000,
        "efficiency_ppm": 900_000,
    },
    STORE2.address: {
        "capacity_wh": 5_000,
        "max_charge_w": 300_000,
        "max_discharge_w": 300_000,
        "efficiency_ppm": 800_000,
    },
}


def storage_state(**kw: Any) -> dict[str, Any]:
    """The market tests' app_state with the two storages registered, metered and funded."""
    state = copy.deepcopy(app_state(**kw))
    registry = state["registry"]
    for who in (STORE, STORE2):
        registry["participants"].append(
            {"address": who.address, "role": "storage", "bus": "b2", "storage": SPECS[who.address]}
        )
        registry["meters"].append(
            {"pub_key": STORAGE_METERS[who.address].public_key.hex(), "participant": who.address}
        )
        state["bank"]["balances"].append(
            {"address": who.address, "coins": [{"denom": DENOM, "amount": str(FUNDS)}]}
        )
    return state


def event(result: TxResult, event_type: str) -> dict[str, str]:
    for e in result.events:
        if e.type == event_type:
            return dict(e.attributes)
    raise AssertionError(f"no {event_type} event in {result}")


class Storage(Market):
    """The market helper plus the storage module's messages and queries."""

    def next_open(self, ahead: int = 0) -> int:
        """The first interval (plus ``ahead``) still open in the *next* block: the
        schedule's first_open is open at the last block's time, and a tx sent now
        lands one block later, when that interval's gate may just have closed."""
        n = int(self.schedule().first_open)
        if self.interval(n).gate_closure_time <= self.node.block_time + self.node.block_seconds:
            n += 1
        return n + ahead

    def deposit_msg(self, storage: PrivateKey, wh: int, n: int) -> storage_pb2.MsgDeposit:
        return storage_pb2.MsgDeposit(storage=storage.address, interval=n, wh=wh)

    def deposit(
        self, who: PrivateKey, storage: PrivateKey, wh: int, n: int | None = None
    ) -> TxResult:
        n = self.next_open() if n is None else n
        return self.tx(who, storage_deposit=self.deposit_msg(storage, wh, n))

    def redeem_msg(self, storage: PrivateKey, wh: int, n: int) -> storage_pb2.MsgRedeem:
        return storage_pb2.MsgRedeem(storage=storage.address, interval=n, wh=wh)

    def redeem(
        self, who: PrivateKey, storage: PrivateKey, wh: int, n: int | None = None
    ) -> TxResult:
        n = self.next_open() if n is None else n
        return self.tx(who, storage_redeem=self.redeem_msg(storage, wh, n))

    def transfer(self, who: PrivateKey, storage: PrivateKey, to: str, wh: int) -> TxResult:
        msg = storage_pb2.MsgTransferCredits(storage=storage.address, to=to, wh=wh)
        return self.tx(who, transfer_credits=msg)

    def sq(self, method: str, request: Any) -> Any:
        return self.q(method, request, storage_pb2)

    def state(self, storage: PrivateKey) -> storage_pb2.StorageState:
        return self.sq("Storage", storage_pb2.QueryStorageRequest(storage=storage.address)).state

    def holders(self, storage: PrivateKey) -> dict[str, storage_pb2.CreditBalance]:
        req = storage_pb2.QueryHoldersRequest(storage=storage.address, limit=1000)
        return {b.holder: b for b in self.sq("Holders", req).holders}

    def credits(self, holder: str, storage: PrivateKey = STORE) -> tuple[int, int]:
        """(spendable, locked) credits of ``holder`` on ``storage``."""
        req = storage_pb2.QueryCreditsRequest(holder=holder)
        for b in self.sq("Credits", req).credits:
            if b.storage == storage.address:
                return b.wh, b.locked_wh
        return 0, 0

    def deposits(self, storage: PrivateKey, n: int = 0) -> list[storage_pb2.Deposit]:
        req = storage_pb2.QueryDepositsRequest(storage=storage.address, interval=n)
        return list(self.sq("Deposits", req).deposits)

    def redemptions(self, storage: PrivateKey, n: int = 0) -> list[storage_pb2.Redemption]:
        req = storage_pb2.QueryRedemptionsRequest(storage=storage.address, interval=n)
        return list(self.sq("Redemptions", req).redemptions)

    def settle_with(
        self, n: int, readings: dict[PrivateKey, tuple[int, int]]
    ) -> settlement_pb2.IntervalSettlement:
        """Submit exactly ``readings`` (who -> (exported, imported), storages included)
        for interval n, then move past its settlement window."""
        self.node.advance_to(self.interval(n).end_time)
        for who, (exported, imported) in readings.items():
            r = self.read(who, n, exported, imported, meter=ALL_METERS[who.address])
            assert r.code == 0, r.log
        self.node.advance_to(self.interval(n).end_time + WINDOW)
        resp = self.q("Interval", settlement_pb2.QueryIntervalRequest(interval=n), settlement_pb2)
        assert resp.settled
        return resp.settlement


@pytest.fixture
def storage(make_market: Any) -> Storage:
    return Storage(make_market(storage_state()).node)
