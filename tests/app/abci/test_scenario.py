"""One ABCI scenario, run in-process and over the socket transport.

It walks a chain through genesis, CheckTx (accepting consecutive sequences
and rejecting each kind of bad input with its own code), proposal handling,
FinalizeBlock, Commit, queries with proofs, Recheck and a restart, and
checks both transports end at the same app hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from app.abci.adapter import ABCIApplication
from app.chain import Chain
from app.crypto import decode_address
from app.modules.bank.keeper import balance_key
from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.tendermint.abci import types_pb2 as abci
from app.store import Store
from app.tx import codec
from ibc.commitment import ics23
from tests.support.abci_client import InProcess, OverSocket, free_port
from tests.support.txs import CHAIN_ID, key, send_body, send_tx

ALICE, BOB = key(1), key(2)
GENESIS = {
    "bank": {
        "params": {"denom": "ugrid", "min_fee": "0"},
        "balances": [
            {"address": ALICE.address, "coins": [{"denom": "ugrid", "amount": "1000000"}]}
        ],
    }
}


@pytest.fixture(params=["in-process", "socket"])
def transport(request: pytest.FixtureRequest, tmp_path) -> Iterator[tuple[Callable, Store, str]]:  # type: ignore[no-untyped-def]
    store = Store(str(tmp_path / "app.db"))
    app = ABCIApplication(Chain(store, check_invariants=True))
    t = (
        InProcess(app.handle)
        if request.param == "in-process"
        else OverSocket(app.handle, free_port())
    )
    yield t, store, str(tmp_path / "app.db")
    t.close()
    store.close()


def check(call: Callable, tx: bytes, recheck: bool = False) -> abci.ResponseCheckTx:
    kind = abci.RECHECK if recheck else abci.NEW
    return call(abci.Request(check_tx=abci.RequestCheckTx(tx=tx, type=kind))).check_tx


def balance(call: Callable, address: str, height: int = 0) -> int:
    req = bank_pb2.QueryBalanceRequest(address=address, denom="ugrid")
    resp = call(
        abci.Request(
            query=abci.RequestQuery(
                path="/mgrid.bank.v1.Query/Balance", data=req.SerializeToString(), height=height
            )
        )
    ).query
    assert resp.code == 0, resp.log
    return int(bank_pb2.QueryBalanceResponse.FromString(resp.value).balance.amount)


def finalize(call: Callable, height: int, txs: list[bytes]) -> abci.ResponseFinalizeBlock:
    req = abci.RequestFinalizeBlock(height=height, txs=txs)
    req.time.seconds = 1_700_000_000 + height
    return call(abci.Request(finalize_block=req)).finalize_block


def run_scenario(call: Callable) -> bytes:
    info = call(abci.Request(info=abci.RequestInfo(version="test"))).info
    assert (info.last_block_height, info.last_block_app_hash) == (0, b"")

    init = abci.RequestInitChain(chain_id=CHAIN_ID, app_state_bytes=json.dumps(GENESIS).encode())
    genesis_hash = call(abci.Request(init_chain=init)).init_chain.app_hash
    assert len(genesis_hash) == 32

    tx0 = send_tx(ALICE, BOB.address, 100, sequence=0)
    tx1 = send_tx(ALICE, BOB.address, 200, sequence=1)
    assert check(call, tx0).code == 0
    assert check(call, tx1).code == 0, "consecutive sequences enter the mempool in one interval"

    body = send_body(ALICE, BOB.address, 5, sequence=2)
    forged = codec.assemble(
        codec.encode_body(body), ALICE.public_key, BOB.sign(codec.encode_body(body))
    )
    bad = {
        "garbage": (b"\x0a\xff\xff", "tx", 2),
        "replay": (tx0, "tx", 3),
        "skipped sequence": (send_tx(ALICE, BOB.address, 5, sequence=7), "tx", 3),
        "bad signature": (forged, "tx", 4),
        "wrong chain id": (send_tx(ALICE, BOB.address, 5, sequence=2, chain_id="other"), "tx", 6),
        "oversized": (send_tx(ALICE, BOB.address, 5, sequence=2, memo="x" * 70000), "tx", 7),
        "zero amount": (send_tx(ALICE, BOB.address, 0, sequence=2), "tx", 13),
        "overflow": (send_tx(ALICE, BOB.address, "9" * 60, sequence=2), "tx", 13),
        "insufficient funds": (send_tx(ALICE, BOB.address, 10**9, sequence=2), "bank", 2),
        "unknown denom": (send_tx(ALICE, BOB.address, 5, sequence=2, denom="uother"), "bank", 3),
        "unknown signer": (send_tx(key(3), ALICE.address, 5, sequence=0), "bank", 2),
        "bad address": (send_tx(ALICE, "mg1notanaddress", 5, sequence=2), "tx", 12),
    }
    for name, (tx, codespace, code) in bad.items():
        r = check(call, tx)
        assert (r.codespace, r.code) == (codespace, code), f"{name}: {r.codespace}/{r.code} {r.log}"
        assert r.log, f"{name}: no log"

    prep = abci.RequestPrepareProposal(
        txs=[tx0, b"\x0a\xff\xff", tx1], max_tx_bytes=1 << 20, height=1
    )
    proposed = list(call(abci.Request(prepare_proposal=prep)).prepare_proposal.txs)
    assert proposed == [tx0, tx1]
    reject = call(
        abci.Request(process_proposal=abci.RequestProcessProposal(txs=[b"\xff"], height=1))
    )
    assert reject.process_proposal.status == abci.ResponseProcessProposal.REJECT
    accept = call(
        abci.Request(process_proposal=abci.RequestProcessProposal(txs=proposed, height=1))
    )
    assert accept.process_proposal.status == abci.ResponseProcessProposal.ACCEPT

    block = finalize(call, 1, [tx0, tx1, tx0, forged])
    codes = [(r.codespace, r.code) for r in block.tx_results]
    assert codes == [("", 0), ("", 0), ("tx", 3), ("tx", 4)]
    assert any(e.type == "transfer" for e in block.tx_results[0].events)
    call(abci.Request(commit=abci.RequestCommit()))

    info = call(abci.Request(info=abci.RequestInfo())).info
    assert (info.last_block_height, info.last_block_app_hash) == (1, block.app_hash)
    assert balance(call, BOB.address) == 300
    assert balance(call, ALICE.address) == 1_000_000 - 300

    # After Commit the mempool's leftovers are rechecked against the new state.
    assert check(call, tx1, recheck=True).code == 3
    # A timeout height below the next block is rejected.
    late = send_tx(ALICE, BOB.address, 5, sequence=2, timeout_height=1)
    assert (check(call, late).codespace, check(call, late).code) == ("tx", 8)

    # Block 2: empty. Queries at height 1 still see the old state after more blocks.
    empty = finalize(call, 2, [])
    assert empty.app_hash == block.app_hash, "an empty block changes nothing"
    call(abci.Request(commit=abci.RequestCommit()))
    tx2 = send_tx(ALICE, BOB.address, 1000, sequence=2)
    finalize(call, 3, [tx2])
    call(abci.Request(commit=abci.RequestCommit()))
    assert balance(call, BOB.address, height=1) == 300
    assert balance(call, BOB.address) == 1300

    # A proof of Bob's balance key verifies against the committed root.
    bkey = balance_key(decode_address(BOB.address), "ugrid")
    q = call(abci.Request(query=abci.RequestQuery(path="/store/key", data=bkey, prove=True))).query
    assert q.code == 0 and q.value == b"1300" and q.height == 3
    (op,) = q.proof_ops.ops
    assert op.type == "ics23:smt"
    root = call(abci.Request(info=abci.RequestInfo())).info.last_block_app_hash
    proof = proofs_pb2.CommitmentProof.FromString(op.data)
    assert ics23.verify_membership(ics23.SMT_SPEC, root, proof, bkey, b"1300")
    assert not ics23.verify_membership(ics23.SMT_SPEC, root, proof, bkey, b"1301")

    # Everything else CometBFT may ask is answered.
    assert call(abci.Request(echo=abci.RequestEcho(message="hi"))).echo.message == "hi"
    assert (
        call(abci.Request(extend_vote=abci.RequestExtendVote())).WhichOneof("value")
        == "extend_vote"
    )
    vve = call(abci.Request(verify_vote_extension=abci.RequestVerifyVoteExtension()))
    assert vve.verify_vote_extension.status == abci.ResponseVerifyVoteExtension.ACCEPT
    assert not call(
        abci.Request(list_snapshots=abci.RequestListSnapshots())
    ).list_snapshots.snapshots
    offer = call(abci.Request(offer_snapshot=abci.RequestOfferSnapshot())).offer_snapshot
    assert offer.result == abci.ResponseOfferSnapshot.REJECT
    assert call(abci.Request(load_snapshot_chunk=abci.RequestLoadSnapshotChunk())).WhichOneof(
        "value"
    )
    applied = call(abci.Request(apply_snapshot_chunk=abci.RequestApplySnapshotChunk()))
    assert applied.apply_snapshot_chunk.result == abci.ResponseApplySnapshotChunk.ABORT

    # An application error becomes ResponseException, and the server keeps going.
    wrong = call(abci.Request(finalize_block=abci.RequestFinalizeBlock(height=99)))
    assert wrong.WhichOneof("value") == "exception" and "height" in wrong.exception.error
    assert (
        call(abci.Request(echo=abci.RequestEcho(message="still here"))).echo.message == "still here"
    )
    return root


def test_scenario(transport) -> None:  # type: ignore[no-untyped-def]
    call, _store, _path = transport
    run_scenario(call)


def test_both_transports_reach_the_same_app_hash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    roots = []
    for i, kind in enumerate(["in-process", "socket"]):
        store = Store(str(tmp_path / f"db{i}"))
        app = ABCIApplication(Chain(store))
        t = InProcess(app.handle) if kind == "in-process" else OverSocket(app.handle, free_port())
        roots.append(run_scenario(t))
        t.close()
        store.close()
    assert roots[0] == roots[1]


def test_restart_reports_committed_height_and_hash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "db")
    store = Store(path)
    root = run_scenario(InProcess(ABCIApplication(Chain(store)).handle))
    # Stage a block without committing it, as if the process died before Commit.
    call = InProcess(ABCIApplication(Chain(store)).handle)
    finalize(call, 4, [send_tx(ALICE, BOB.address, 1, sequence=3)])
    store.close()
    store = Store(path)
    info = ABCIApplication(Chain(store)).handle(abci.Request(info=abci.RequestInfo())).info
    assert (info.last_block_height, info.last_block_app_hash) == (3, root)
    store.close()


def test_socket_framing_split_and_pipelined(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(str(tmp_path / "db"))
    t = OverSocket(ABCIApplication(Chain(store)).handle, free_port())
    try:
        from app.abci.server import frame

        reqs = [abci.Request(echo=abci.RequestEcho(message=str(i))) for i in range(50)]
        payload = b"".join(frame(r.SerializeToString()) for r in reqs)
        payload += frame(abci.Request(flush=abci.RequestFlush()).SerializeToString())
        for i in range(0, len(payload), 7):  # arrive in awkward pieces
            t.send_raw(payload[i : i + 7])
        responses = t.read_responses(51)
        assert [r.echo.message for r in responses[:50]] == [str(i) for i in range(50)]
        assert responses[50].WhichOneof("value") == "flush"
    finally:
        t.close()
        store.close()
