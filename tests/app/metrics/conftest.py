"""An in-process node whose blocks go through the ABCI adapter with metrics on.

``AdapterNode`` is ``tests/support/inproc.InProcessNode`` with CheckTx,
FinalizeBlock and Commit sent as ABCI requests to an ``ABCIApplication``
that reports to its own ``AppMetrics``, so the market helpers of
tests/app/market drive real blocks through the adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.abci.adapter import ABCIApplication
from app.chain import BlockResult, TxResult
from app.context import Event
from app.metrics import AppMetrics
from app.pb.tendermint.abci import types_pb2 as abci
from tests.app.market.conftest import START, Market, app_state
from tests.support import txs as tx_support
from tests.support.inproc import NS, InProcessNode
from tests.support.txs import send_tx

GARBAGE = b"\x0a\xff\xff"
SENDER, RECEIVER = tx_support.key(1), tx_support.key(2)
BANK_GENESIS = {
    "bank": {
        "params": {"denom": "ugrid", "min_fee": "0"},
        "balances": [
            {"address": SENDER.address, "coins": [{"denom": "ugrid", "amount": "1000000"}]}
        ],
    }
}


def send(node: InProcessNode, amount: int, sequence: int) -> bytes:
    """A signed transfer of ``amount`` from SENDER at ``sequence``."""
    return send_tx(SENDER, RECEIVER.address, amount, sequence=sequence, chain_id=node.chain_id)


def _events(events: Any) -> list[Event]:
    return [Event(e.type, tuple((a.key, a.value) for a in e.attributes)) for e in events]


class AdapterNode(InProcessNode):
    def __init__(self, home: Path, state: dict[str, Any], **kw: Any):
        self.metrics = AppMetrics()
        self._app: ABCIApplication | None = None
        super().__init__(home, state, **kw)

    @property
    def app(self) -> ABCIApplication:
        if self._app is None:  # the chain exists once InProcessNode.__init__ made it
            self._app = ABCIApplication(self.chain, metrics=self.metrics)
            self.metrics.load(self.chain)
        return self._app

    def check(self, raw: bytes, recheck: bool = False) -> abci.ResponseCheckTx:
        kind = abci.RECHECK if recheck else abci.NEW
        return self.app.handle(
            abci.Request(check_tx=abci.RequestCheckTx(tx=raw, type=kind))
        ).check_tx

    def commit_block(
        self, txs: list[bytes] | None = None, *, seconds: int | None = None
    ) -> BlockResult:
        if txs is None:
            txs, self.mempool = self.mempool, []
        if self.chain.height:
            self.time_ns += (self.block_seconds if seconds is None else seconds) * NS
        req = abci.RequestFinalizeBlock(height=self.chain.height + 1, txs=txs)
        req.time.seconds, req.time.nanos = divmod(self.time_ns, NS)
        resp = self.app.handle(abci.Request(finalize_block=req)).finalize_block
        self.app.handle(abci.Request(commit=abci.RequestCommit()))
        result = BlockResult(
            [TxResult(r.code, r.codespace, r.log, _events(r.events)) for r in resp.tx_results],
            _events(resp.events),
            resp.app_hash,
        )
        for raw in list(self.mempool):
            if self.check(raw, recheck=True).code:
                self.mempool.remove(raw)
        self.blocks.append(result)
        return result

    def deliver(self, raw: bytes) -> TxResult:
        checked = self.check(raw)
        if checked.code:
            return TxResult(checked.code, checked.codespace, checked.log)
        return self.commit_block([raw]).tx_results[0]


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Any]:
    nodes: list[AdapterNode] = []

    def make(state: dict[str, Any], **kw: Any) -> AdapterNode:
        home = tmp_path / f"n{len(nodes)}"
        home.mkdir()
        node = AdapterNode(home, state, **kw)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.close()


@pytest.fixture
def grid(make_node: Any) -> Market:
    """The market tests' microgrid, its blocks through the adapter."""
    return Market(make_node(app_state(), start_time=START))
