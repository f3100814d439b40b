"""A chain with real state for the snapshot and export tests: the market
tests' microgrid (tests/app/market/conftest.py) after transfers, one
interval bid, cleared and settled, and orders left open in the next one, so
the state holds balances, accounts, escrow, trades, settlements and
reputation."""

from __future__ import annotations

from pathlib import Path

from app.crypto import PrivateKey
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.base.v1 import coin_pb2
from tests.app.market.conftest import ALICE, BOB, CAROL, DAVE, DENOM, Market, app_state
from tests.support.inproc import InProcessNode

CHAIN_ID = "mg-snap-1"


def send(m: Market, sender: PrivateKey, to: str, amount: int) -> None:
    msg = bank_pb2.MsgSend(to_address=to, amount=[coin_pb2.Coin(denom=DENOM, amount=str(amount))])
    result = m.tx(sender, send=msg)
    assert result.code == 0, result.log


def busy_market(home: Path, chain_id: str = CHAIN_ID) -> Market:
    """An in-process node (store at ``home``) whose state went through a market interval."""
    node = InProcessNode(home, app_state(), chain_id=chain_id, start_time=1_700_000_040)
    m = Market(node)
    send(m, DAVE, ALICE.address, 1_234)
    send(m, BOB, DAVE.address, 77)
    n = m.schedule().first_open
    assert m.place(CAROL, "sell", 3_000, 120, interval=n).code == 0
    assert m.place(BOB, "buy", 2_000, 250, interval=n).code == 0
    assert m.place(ALICE, "buy", 500, 200, interval=n, grid_fill=True).code == 0
    m.clear(n)
    m.settle(n)
    later = m.schedule().first_open
    assert m.place(CAROL, "sell", 1_000, 110, interval=later).code == 0
    send(m, ALICE, CAROL.address, 5)
    return m
