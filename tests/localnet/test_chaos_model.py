"""The chaos soak's pure parts, without a network: the fault schedule from a seed,
the ledger (the load generator's model of the chain), the final comparisons,
the stall measure, the verdict and the printed report."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
from typing import Any

import pytest

from localnet import chaos
from localnet import chaos_model as m
from localnet.chaos_load import read_block_txs

A, B, C = "mg1aaa", "mg1bbb", "mg1ccc"


# -- the schedule ------------------------------------------------------------------------------


def take(n: int, **kw: Any) -> list[m.FaultSpec]:
    return list(itertools.islice(m.fault_schedule(**kw), n))


def test_schedule_is_a_function_of_its_seed() -> None:
    assert take(30, seed=7, validators=4) == take(30, seed=7, validators=4)
    assert take(30, seed=7, validators=4) != take(30, seed=8, validators=4)


@pytest.mark.parametrize("kinds", [m.FAULT_KINDS, (m.KILL_APP, m.RESTART_NODE, m.RESTART_NETWORK)])
def test_every_round_injects_each_kind_once(kinds: tuple[str, ...]) -> None:
    faults = take(len(kinds) * 5, seed=3, validators=4, kinds=kinds)
    for r in range(5):
        round_kinds = [f.kind for f in faults[r * len(kinds) : (r + 1) * len(kinds)]]
        assert sorted(round_kinds) == sorted(kinds)


def test_targets_and_times() -> None:
    for f in take(60, seed=11, validators=4, gap_s=(2.0, 4.0), hold_s=(1.0, 1.5)):
        assert 2.0 <= f.gap_s <= 4.0 and 1.0 <= f.hold_s <= 1.5
        if f.kind == m.SPLIT:
            left, right = f.groups
            assert len(left) == len(right) == 2 and sorted(left + right) == [0, 1, 2, 3]
            assert f.nodes == left
        elif f.kind == m.RESTART_NETWORK:
            assert f.nodes == (0, 1, 2, 3) and f.groups == ()
        else:
            (node,) = f.nodes
            assert 0 <= node < 4
            if f.kind == m.PARTITION_NODE:
                assert f.groups == ((node,), tuple(i for i in range(4) if i != node))
            else:
                assert f.groups == ()


def test_schedule_refuses_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="at least 4 validators"):
        take(1, seed=1, validators=3)
    with pytest.raises(ValueError, match="fault kinds"):
        take(1, seed=1, validators=4, kinds=("meteor",))
    with pytest.raises(ValueError, match="fault kinds"):
        take(1, seed=1, validators=4, kinds=(m.KILL_APP, m.KILL_APP))
    with pytest.raises(ValueError, match="MIN:MAX"):
        take(1, seed=1, validators=4, gap_s=(5.0, 1.0))


# -- the ledger --------------------------------------------------------------------------------


def ledger() -> m.Ledger:
    accounts = {A: (1000, 0), B: (500, 3), C: (0, 0)}
    return m.Ledger(accounts, start_height=10, prior_orders={A: 2})


def ante(signer: str, seq: int, fee: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    return ("tx", (("signer", signer), ("sequence", str(seq)), ("fee", f"{fee}ugrid")))


def sent(led: m.Ledger, h: str, kind: str = m.TRANSFER, signer: str = A, **kw: Any) -> m.SentTx:
    tx = m.SentTx(h, kind, signer, led.accounts[signer].sequence, kw.pop("fee", 5),
                  kw.pop("timeout_height", 30), **kw)  # fmt: skip
    led.record_sent(tx)
    return tx


def test_a_committed_transfer_moves_money_and_the_sequence() -> None:
    led = ledger()
    sent(led, "T1", amount=100, recipient=B, fee=5)
    led.record_accepted("T1")
    assert led.settle_first_broadcast("T1") == m.PENDING
    assert led.idle() == [B, C]
    led.apply_block(11, [m.BlockTx("OTHER", 0), m.BlockTx("T1", 0, events=(ante(A, 0, 5),))])
    assert (led.accounts[A].balance, led.accounts[A].sequence) == (895, 1)
    assert (led.accounts[B].balance, led.accounts[B].sequence) == (600, 3)
    assert led.txs["T1"].state == m.COMMITTED and led.txs["T1"].height == 11
    assert led.idle() == [A, B, C]


def test_a_failed_message_pays_its_fee_and_a_failed_ante_step_nothing() -> None:
    led = ledger()
    sent(led, "F1", amount=100, recipient=B, fee=7)
    sent(led, "F2", signer=B, amount=1, recipient=A, fee=9)
    led.apply_block(
        11,
        [
            m.BlockTx("F1", 5, "bank", "insufficient funds", events=(ante(A, 0, 7),)),
            m.BlockTx("F2", 4, "tx", "wrong sequence"),  # refused before the fee
        ],
    )
    assert (led.accounts[A].balance, led.accounts[A].sequence) == (993, 1)
    assert (led.accounts[B].balance, led.accounts[B].sequence) == (500, 3)
    summary = led.summary()
    assert summary["committed"] == 2 and summary["committed_failed"] == 2
    assert summary["failed_by_code"] == {"transfer bank/5": 1, "transfer tx/4": 1}
    assert led.anomalies == []


def test_code_zero_without_the_ante_event_is_an_anomaly() -> None:
    led = ledger()
    sent(led, "X")
    led.apply_block(11, [m.BlockTx("X", 0)])
    assert len(led.anomalies) == 1 and led.summary()["anomalies"] == 1


def place_event(order_id: int, escrow: int, collateral: int = 0) -> Any:
    return (
        m.PLACE_EVENT,
        (("order_id", str(order_id)), ("escrow", str(escrow)), ("collateral", str(collateral))),
    )


def test_orders_lock_until_cancelled_or_cleared() -> None:
    led = ledger()
    sent(led, "O1", m.ORDER, side="buy", interval=50, quantity_wh=1000, price=80000, fee=1)
    led.apply_block(11, [m.BlockTx("O1", 0, events=(ante(A, 0, 1), place_event(7, 300)))])
    order = led.orders[7]
    assert (order.owner, order.side, order.interval, order.expected_status) == (
        A, "buy", 50, "UNMATCHED",
    )  # fmt: skip
    assert led.accounts[A].balance == 999  # the final balance: escrow comes back
    assert led.spendable(A) == 699 and led.open_orders(A) == [order]

    sent(led, "O2", m.ORDER, side="sell", interval=51, quantity_wh=500, price=250000, fee=1)
    led.apply_block(12, [m.BlockTx("O2", 0, events=(ante(A, 1, 1), place_event(8, 0, 40)))])
    sent(led, "K1", m.CANCEL, order_id=8, fee=2)
    led.apply_block(
        13,
        [m.BlockTx("K1", 0, events=(ante(A, 2, 2), (m.CANCEL_EVENT, (("order_id", "8"),))))],
    )
    assert led.orders[8].expected_status == "CANCELLED"
    assert led.spendable(A) == 996 - 300
    led.intervals_cleared(51)  # interval 50 cleared: order 7 ended unmatched
    assert led.spendable(A) == 996 and led.open_orders(A) == []
    led.intervals_cleared(52)  # the cancelled order is not released twice
    assert led.accounts[A].locked == 0
    assert led.last_order_interval() == 51
    assert led.summary()["orders_placed"] == 2 and led.summary()["orders_cancelled"] == 1


def test_cancelling_another_owners_order_is_an_anomaly() -> None:
    led = ledger()
    sent(led, "O1", m.ORDER, side="buy", interval=50, quantity_wh=1000, price=80000)
    led.apply_block(11, [m.BlockTx("O1", 0, events=(ante(A, 0, 5), place_event(7, 300)))])
    sent(led, "K1", m.CANCEL, signer=B, order_id=7)
    led.apply_block(12, [m.BlockTx("K1", 0, events=(ante(B, 3, 5),))])
    assert led.anomalies and not led.orders[7].cancelled


def test_fates_decided_by_the_broadcast() -> None:
    led = ledger()
    sent(led, "R")
    led.record_rejected("R", "http://n0", 4, "tx", "bad")
    led.record_rejected("R", "http://n1", 4, "tx", "bad")
    assert led.settle_first_broadcast("R") == m.REJECTED
    sent(led, "U", signer=B)
    assert led.settle_first_broadcast("U") == m.UNDELIVERED
    sent(led, "M", signer=C)
    led.record_rejected("M", "http://n0", 4, "tx", "lagging")
    led.record_ambiguous("M")  # the second answer was lost: it may sit in a mempool
    assert led.settle_first_broadcast("M") == m.PENDING
    assert led.idle() == [A, B]
    s = led.summary()
    # Extra broadcasts: R's second node, M's second node.
    assert (s["rejected_checktx"], s["undelivered"], s["pending"], s["rebroadcasts"]) == (
        1, 1, 1, 2,
    )  # fmt: skip


def test_a_transaction_not_in_a_block_by_its_timeout_height_expires() -> None:
    led = ledger()
    sent(led, "E", timeout_height=12)
    led.record_ambiguous("E")
    led.apply_block(11, [])
    assert led.expire(11) == []
    led.apply_block(12, [])
    assert [tx.txhash for tx in led.expire(12)] == ["E"]
    assert led.txs["E"].state == m.EXPIRED and A in led.idle()
    assert led.accounts[A].sequence == 0  # the next tx reuses the sequence
    # Should it appear after all, the model's rule was broken: it is flagged.
    led.apply_block(13, [m.BlockTx("E", 0, events=(ante(A, 0, 5),))])
    assert led.resurrected == [{"txhash": "E", "was": m.EXPIRED, "height": 13}]


def test_a_transaction_in_two_blocks_is_a_duplicate() -> None:
    led = ledger()
    sent(led, "D", amount=1, recipient=B)
    block = [m.BlockTx("D", 0, events=(ante(A, 0, 5),))]
    led.apply_block(11, block)
    led.apply_block(12, block)
    assert led.duplicates == [{"txhash": "D", "first": 11, "again": 12, "index": 0}]
    assert led.accounts[A].balance == 1000 - 6  # applied once


def test_the_ledger_refuses_to_be_driven_wrongly() -> None:
    led = ledger()
    with pytest.raises(m.LedgerError, match="sequence"):
        led.record_sent(m.SentTx("Q", m.TRANSFER, A, 5, 1, 30))
    sent(led, "Q")
    with pytest.raises(m.LedgerError, match="in flight"):
        sent(led, "Q2")
    with pytest.raises(m.LedgerError, match="not a load account"):
        led.record_sent(m.SentTx("Z", m.TRANSFER, "mg1zzz", 0, 1, 30))
    with pytest.raises(m.LedgerError, match="after block 10"):
        led.apply_block(12, [])


# -- final comparisons -------------------------------------------------------------------------


def committed_ledger() -> m.Ledger:
    led = ledger()
    sent(led, "T1", amount=10, recipient=B)
    sent(led, "T2", signer=B, amount=3, recipient=C)
    led.apply_block(
        11,
        [
            m.BlockTx("T1", 0, events=(ante(A, 0, 5),)),
            m.BlockTx("T2", 5, "bank", "x", events=(ante(B, 3, 5),)),
        ],
    )
    sent(led, "GONE", signer=C)
    led.settle_first_broadcast("GONE")  # never delivered
    return led


def test_chain_tx_problems() -> None:
    led = committed_ledger()
    good = {"T1": [(11, 0)], "T2": [(11, 5)]}
    assert m.chain_tx_problems(led, {"node0": good, "node1": good}) == {
        "lost": [],
        "duplicates": [],
        "unexpected": [],
    }
    problems = m.chain_tx_problems(
        led,
        {
            "node0": {"T1": [(11, 0)], "T2": [(11, 0)]},  # another result code
            "node1": {"T2": [(11, 5), (14, 5)], "GONE": [(12, 0)]},  # T1 missing
        },
    )
    assert [(p["node"], p["txhash"]) for p in problems["lost"]] == [
        ("node0", "T2"),
        ("node1", "T1"),
    ]
    assert problems["duplicates"] == [
        {"node": "node1", "txhash": "T2", "places": [[11, 5], [14, 5]]}
    ]
    assert problems["unexpected"] == [{"node": "node1", "txhash": "GONE", "state": m.UNDELIVERED}]


def test_account_and_order_problems() -> None:
    led = committed_ledger()
    want = {a: (s.balance, s.sequence) for a, s in led.accounts.items()}
    assert m.account_problems(led, {"node0": want}) == []
    off = {**want, B: (want[B][0] + 1, want[B][1])}
    problems = m.account_problems(led, {"node0": want, "node1": off})
    assert problems == [
        {
            "node": "node1",
            "address": B,
            "expected": {"balance": want[B][0], "sequence": want[B][1]},
            "chain": {"balance": want[B][0] + 1, "sequence": want[B][1]},
        }
    ]

    sent(led, "O", m.ORDER, signer=B, side="sell", interval=9, quantity_wh=100, price=250000)
    led.apply_block(12, [m.BlockTx("O", 0, events=(ante(B, 4, 5), place_event(3, 0, 9)))])
    chain_order = {
        "owner": B, "side": "sell", "interval": 9, "quantity_wh": 100, "price": 250000,
        "status": "UNMATCHED",
    }  # fmt: skip
    counts = {A: 2, B: 1, C: 0}  # A had two orders before the run
    assert m.order_problems(led, {"node0": {3: chain_order}}, {"node0": counts}) == []
    wrong = m.order_problems(
        led,
        {"node0": {3: {**chain_order, "status": "FILLED"}}, "node1": {3: None}},
        {"node0": {**counts, C: 1}},
    )
    assert [(p["node"], p.get("order_id"), p.get("owner")) for p in wrong] == [
        ("node0", 3, None),
        ("node1", 3, None),
        ("node0", None, C),
    ]


def test_divergent_heights() -> None:
    same = {1: "AA", 2: "BB"}
    assert m.divergent_heights({"n0": same, "n1": dict(same)}) == []
    assert m.divergent_heights({"n0": same, "n1": {1: "AA", 2: "XX"}, "n2": {1: "AA"}}) == [2]


def test_stall_summary() -> None:
    seen = [(5, 11.0), (6, 12.0), (7, 20.0), (8, 21.0), (9, 30.0)]
    out = m.stall_summary(seen, start=10.0, end=31.0)
    assert out == {
        "max_stall_s": 9.0,
        "max_stall_at_s": 11.0,
        "max_stall_outside_network_faults_s": 9.0,
    }
    # Both long stretches overlap a network fault: only one-second gaps remain outside.
    inside = m.stall_summary(seen, 10.0, 31.0, network_windows=[(13.0, 19.0), (22.0, 23.0)])
    assert inside["max_stall_s"] == 9.0
    assert inside["max_stall_outside_network_faults_s"] == 1.0
    assert m.stall_summary([], 0.0, 5.0)["max_stall_s"] == 5.0


# -- the verdict and the printed report ---------------------------------------------------------


def clean_report() -> dict[str, Any]:
    fault = {
        "index": 0, "kind": m.SPLIT, "nodes": [0, 1], "groups": [[0, 1], [2, 3]],
        "gap_s": 3.0, "hold_s": 4.0, "start_s": 3.0, "end_s": 7.5, "recovery_s": 1.2,
        "recovered": True, "height_at_start": 20, "height_at_end": 21, "error": "",
        "expectation": "no block is committed while the network is split 2-2",
        "expectation_met": True,
    }  # fmt: skip
    return {
        "chain_id": "mg-chaos", "seed": 1, "validators": 4, "network": "netns",
        "rate_tx_per_s": 3.0, "duration_s": 120.0, "total_s": 250.0,
        "faults": [fault], "faults_by_kind": {m.SPLIT: 1},
        "height": {"start": 10, "checked": 200}, "commits": 190,
        "max_stall_s": 6.0, "max_stall_outside_network_faults_s": 2.0,
        "txs": {
            "sent": 10, "committed": 9, "committed_failed": 1, "rejected_checktx": 1,
            "undelivered": 0, "expired": 0, "rebroadcasts": 2, "pending": 0, "lost": 0,
            "duplicates": 0, "unexpected": 0, "anomalies": 0,
        },
        "app_hashes": {"divergent": 0},
        "accounts": {"count": 3, "mismatches": []},
        "orders": {"checked": 2, "mismatches": []},
        "supply": {
            "denom": "ugrid", "genesis": 100, "per_node": {"node0": 100}, "conserved": True,
            "state_audit": {"node0": {"ok": True, "error": ""}},
        },
        "nodes": {
            "final_heights": [200, 200, 201, 200], "all_advanced": True, "stuck": [],
            "within_one_block": True,
        },
        "failures": [], "verdict": "PASS",
    }  # fmt: skip


BREAKS = [
    (lambda r: r["txs"].update(lost=1), "lost"),
    (lambda r: r["txs"].update(duplicates=2), "committed twice"),
    (lambda r: r["txs"].update(unexpected=1), "written off"),
    (lambda r: r["txs"].update(pending=1), "unknown fate"),
    (lambda r: r["txs"].update(anomalies=1), "cannot explain"),
    (lambda r: r["app_hashes"].update(divergent=3), "divergent app hashes"),
    (lambda r: r["accounts"]["mismatches"].append({}), "account state"),
    (lambda r: r["orders"]["mismatches"].append({}), "order mismatch"),
    (lambda r: r["supply"].update(conserved=False), "supply not conserved"),
    (lambda r: r["supply"]["state_audit"]["node0"].update(ok=False, error="x"), "state audit"),
    (lambda r: r["nodes"].update(all_advanced=False, stuck=["node2"]), "stuck"),
    (lambda r: r["nodes"].update(within_one_block=False), "more than one block"),
    (lambda r: r["faults"][0].update(recovered=False), "did not recover"),
    (lambda r: r["faults"][0].update(error="boom"), "boom"),
    (lambda r: r["faults"][0].update(expectation_met=False), "split 2-2"),
    (lambda r: r.update(commits=0), "no block"),
]


def test_a_clean_report_passes() -> None:
    assert m.verdict(clean_report()) == []


@pytest.mark.parametrize(("breaks", "reason"), BREAKS)
def test_each_broken_check_fails_the_run(breaks: Any, reason: str) -> None:
    report = copy.deepcopy(clean_report())
    breaks(report)
    failures = m.verdict(report)
    assert len(failures) == 1 and reason in failures[0], failures


def test_render() -> None:
    report = clean_report()
    text = chaos.render(report)
    assert text.splitlines()[0] == "chaos soak of mg-chaos: PASS"
    assert "0 lost, 0 committed twice, 0 heights with divergent app hashes" in text
    assert "split            0,1 / 2,3 at     3.0 s held   4.5 s  recovery 1.2 s" in text
    report["failures"] = ["1 committed transaction(s) lost"]
    report["faults"][0].update(recovery_s=None, recovered=False)
    text = chaos.render(report)
    assert "NOT RECOVERED" in text and "FAIL: 1 committed transaction(s) lost" in text


def test_fault_range_argument() -> None:
    assert chaos._range("2:5.5") == (2.0, 5.5)
    for bad in ("5", "5:2", "a:b", "-1:2"):
        with pytest.raises(Exception, match="MIN"):
            chaos._range(bad)


# -- reading a block ---------------------------------------------------------------------------


class FakeRPC:
    node = "http://fake"

    def __init__(self, txs: list[bytes], results: list[dict[str, Any]]):
        self.txs, self.results = txs, results

    def block(self, height: int) -> dict[str, Any]:
        return {"block": {"data": {"txs": [base64.b64encode(t).decode() for t in self.txs]}}}

    def block_results(self, height: int) -> dict[str, Any]:
        return {"txs_results": self.results}


def test_read_block_txs() -> None:
    result = {
        "code": 3,
        "codespace": "market",
        "log": "closed",
        "events": [
            {"type": "tx", "attributes": [{"key": "fee", "value": "5ugrid", "index": True}]}
        ],
    }
    (btx,) = read_block_txs(FakeRPC([b"raw-tx"], [result]), 5)  # type: ignore[arg-type]
    assert btx.txhash == hashlib.sha256(b"raw-tx").hexdigest().upper()
    assert (btx.code, btx.codespace, btx.log) == (3, "market", "closed")
    assert btx.has_event("tx") and btx.attribute("tx", "fee") == "5ugrid"
    assert read_block_txs(FakeRPC([], []), 5) == []  # type: ignore[arg-type]
    with pytest.raises(Exception, match="1 transactions but 0 results"):
        read_block_txs(FakeRPC([b"x"], []), 5)  # type: ignore[arg-type]
