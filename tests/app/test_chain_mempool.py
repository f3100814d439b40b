"""What CheckTx and Recheck run, and the per-block read cache.

A new transaction runs whole, so a wallet hears about a failing message at
once; a Recheck after Commit runs only the ante step (the Cosmos SDK's rule),
so a transaction whose message fails stays in the mempool and fails in its
block, using its sequence. The block and check states read through a cache
pinned to the last committed version, which must never serve a value from
before a Commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.chain import Chain
from app.kv import PinnedView
from app.modules.bank.keeper import balance_key
from app.store import Store
from tests.support.txs import CHAIN_ID, key, send_tx

ALICE, BOB = key(1), key(2)
GENESIS = {
    "bank": {
        "params": {"denom": "ugrid", "min_fee": "0"},
        "balances": [{"address": ALICE.address, "coins": [{"denom": "ugrid", "amount": "1000"}]}],
    }
}


@pytest.fixture
def chain(tmp_path) -> Iterator[Chain]:  # type: ignore[no-untyped-def]
    store = Store(str(tmp_path / "app.db"))
    chain = Chain(store, check_invariants=True)
    chain.init_chain(CHAIN_ID, 0, json.dumps(GENESIS).encode(), 1)
    chain.finalize_block(1, 0, [])
    chain.commit()
    yield chain
    store.close()


def test_new_checktx_runs_messages_recheck_runs_only_the_ante(chain: Chain) -> None:
    overdraw = send_tx(ALICE, BOB.address, 5000, sequence=0)
    r = chain.check_tx(overdraw)
    assert (r.codespace, r.code) == ("bank", 2), "insufficient funds, known at once"
    spend = send_tx(ALICE, BOB.address, 600, sequence=0)
    assert chain.check_tx(spend).code == 0
    again = send_tx(ALICE, BOB.address, 300, sequence=1)
    assert chain.check_tx(again).code == 0
    # The block holds another sequence-0 spend this node never saw, which
    # leaves 100: the mempool's `again` is rechecked against that.
    other = send_tx(ALICE, BOB.address, 900, sequence=0)
    chain.finalize_block(2, 1, [other])
    chain.commit()
    assert chain.check_tx(again, recheck=True).code == 0, "ante only: sequence and fee hold"
    result = chain.finalize_block(3, 2, [again])
    failed = result.tx_results[0]
    assert (failed.codespace, failed.code) == ("bank", 2), "the message fails in the block"
    chain.commit()
    # ... and its sequence is used, so it cannot be replayed.
    assert chain.check_tx(again, recheck=True).code == 3
    assert chain.check_tx(send_tx(ALICE, BOB.address, 1, sequence=2)).code == 0


def test_recheck_still_drops_out_of_sequence_transactions(chain: Chain) -> None:
    tx = send_tx(ALICE, BOB.address, 1, sequence=0)
    assert chain.check_tx(tx).code == 0
    chain.finalize_block(2, 1, [tx])
    chain.commit()
    assert chain.check_tx(tx, recheck=True).code == 3


def test_checktx_builds_no_events_finalize_does(chain: Chain) -> None:
    tx = send_tx(ALICE, BOB.address, 1, sequence=0)
    assert chain.check_tx(tx).events == []
    result = chain.finalize_block(2, 1, [tx])
    assert {e.type for e in result.tx_results[0].events} >= {"tx", "transfer", "message"}


def test_pinned_view_reads_are_cached_until_commit_and_never_after(chain: Chain) -> None:
    store = chain.store
    view = PinnedView(store)
    key_ = balance_key(b"\x01" * 20, "ugrid")
    assert view.get(key_) is None
    store.stage({key_: b"7"})
    store.commit()
    assert view.get(key_) is None, "pinned to the version it was made at"
    assert PinnedView(store).get(key_) == b"7"
    # The chain makes new views at Commit: a value written by a block is
    # seen by the next block and by CheckTx.
    tx = send_tx(ALICE, BOB.address, 10, sequence=0)
    chain.finalize_block(store.version + 1, 1, [tx])
    chain.commit()
    second = send_tx(ALICE, BOB.address, 990, sequence=1)
    assert chain.check_tx(second).code == 0, "CheckTx sees the committed balance of 990"
    r = chain.check_tx(send_tx(ALICE, BOB.address, 1, sequence=2))
    assert (r.codespace, r.code) == ("bank", 2), "and the check state holds the 990 spent"
