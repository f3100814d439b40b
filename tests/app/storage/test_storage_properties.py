"""Random deposits, redemptions, transfers and meter readings (storages and
depositors alike) through the real state machine. After every block, read
through the queries: each storage's stored energy stays within 0..capacity
(with what pending deposits reserve), credits outstanding never exceed it,
the holders' balances sum to the credits outstanding, and no money is
created. The chain also runs every module's check_invariants at each block
(Chain(check_invariants=True))."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.crypto import PrivateKey
from app.pb.mgrid.storage.v1 import storage_pb2
from tests.app.market.conftest import ALICE, BOB, CAROL, DAVE, EVE, START
from tests.app.storage.conftest import (
    SPECS,
    STORAGE_METERS,
    STORE,
    STORE2,
    Storage,
    storage_state,
)
from tests.support.inproc import InProcessNode

PARTICIPANTS = (ALICE, BOB, CAROL, EVE)
PARTICIPANT_ADDRESSES = frozenset(p.address for p in PARTICIPANTS)
STORAGES = (STORE, STORE2)
ACCEPTABLE = {
    "deposit": {8, 9, 10},  # mints nothing, charge limit, capacity
    "redeem": {11, 12},  # discharge limit, credits
    "transfer": {12, 13},  # credits, to oneself
}

participants = st.sampled_from(PARTICIPANTS)
storages = st.sampled_from(STORAGES)
# (exported, imported) or no reading; ALICE's line (b1) carries at most 5000 Wh.
reading = st.one_of(st.none(), st.tuples(st.integers(0, 5_000), st.integers(0, 5_000)))
big_reading = st.one_of(st.none(), st.tuples(st.integers(0, 15_000), st.integers(0, 15_000)))


class StorageMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.home = tempfile.TemporaryDirectory()
        node = InProcessNode(Path(self.home.name), storage_state(), start_time=START)
        self.s = Storage(node)
        self.supply = self.s.supply()
        self.pending: list[int] = []  # intervals holding unsettled deposits or redemptions
        self.settled = 0  # intervals settled, for the statistics

    def teardown(self) -> None:
        event(f"intervals settled: {min(self.settled, 3)}{'+' if self.settled >= 3 else ''}")
        self.s.node.close()
        self.home.cleanup()

    # -- checks ---------------------------------------------------------------------------

    @invariant()
    def conserved(self) -> None:
        s = self.s
        for state in s.sq("Storages", storage_pb2.QueryStoragesRequest()).storages:
            capacity = SPECS[state.storage]["capacity_wh"]
            assert 0 <= state.stored_wh <= capacity
            assert state.stored_wh + state.reserved_wh <= capacity
            assert state.credits_wh <= state.stored_wh
            req = storage_pb2.QueryHoldersRequest(storage=state.storage, limit=1000)
            holders = s.sq("Holders", req).holders
            assert sum(b.wh + b.locked_wh for b in holders) == state.credits_wh
            assert sum(b.locked_wh for b in holders) == state.locked_wh
            assert all(b.wh or b.locked_wh for b in holders)
            assert state.holders == len(holders)
        assert s.supply() == self.supply

    def _advance_to(self, t: int) -> None:
        """Block by block, checking after each."""
        while self.s.node.block_time < t:
            self.s.node.commit_block()
            self.conserved()

    def _note(self, n: int) -> None:
        if n not in self.pending:
            self.pending.append(n)
            self.pending.sort()

    # -- rules ----------------------------------------------------------------------------

    @initialize(
        who=participants,
        wh=st.integers(1_000, 12_000),
        exported=st.integers(0, 12_000),
        intake=st.integers(0, 12_000),
    )
    def first_deposit(self, who: PrivateKey, wh: int, exported: int, intake: int) -> None:
        """Every run starts with a deposit into STORE, settled on readings of the
        depositor's export and the storage's import (hypothesis enables a random
        subset of the rules in each run: without this, most runs would never hold
        a credit to redeem or transfer)."""
        n = self.s.next_open()
        self.deposit(who, STORE, wh, 0)
        self.s.node.advance_to(self.s.interval(n).end_time)
        cap = 5_000 if who is ALICE else exported  # ALICE's line carries at most 5000 Wh
        assert self.s.read(who, n, min(exported, cap), 0).code == 0
        assert self.s.read(STORE, n, 0, intake, meter=STORAGE_METERS[STORE.address]).code == 0
        self.settle(None, [None] * 5)

    @rule(who=participants, storage=storages, wh=st.integers(1, 12_000), ahead=st.integers(0, 2))
    def deposit(self, who: PrivateKey, storage: PrivateKey, wh: int, ahead: int) -> None:
        n = self.s.next_open(ahead)
        r = self.s.deposit(who, storage, wh, n)
        assert r.code == 0 or (r.codespace == "storage" and r.code in ACCEPTABLE["deposit"]), r.log
        if r.code == 0:
            self._note(n)

    @rule(who=participants, storage=storages, wh=st.integers(1, 6_000), ahead=st.integers(0, 2))
    def redeem(self, who: PrivateKey, storage: PrivateKey, wh: int, ahead: int) -> None:
        n = self.s.next_open(ahead)
        r = self.s.redeem(who, storage, wh, n)
        assert r.code == 0 or (r.codespace == "storage" and r.code in ACCEPTABLE["redeem"]), r.log
        if r.code == 0:
            self._note(n)
        event(f"redeem: {'locked' if r.code == 0 else 'refused'}")

    @rule(
        sender=st.sampled_from((*PARTICIPANTS, DAVE)),
        to=st.sampled_from((*PARTICIPANTS, DAVE)),
        storage=storages,
        wh=st.integers(1, 8_000),
    )
    def transfer(self, sender: PrivateKey, to: PrivateKey, storage: PrivateKey, wh: int) -> None:
        r = self.s.transfer(sender, storage, to.address, wh)
        ok = r.code == 0 or (r.codespace == "storage" and r.code in ACCEPTABLE["transfer"])
        assert ok, r.log
        event(f"transfer: {'moved' if r.code == 0 else 'refused'}")

    def _held(self, pick: int, participants_only: bool) -> tuple[PrivateKey, PrivateKey, int]:
        """A (holder, storage, spendable) with spendable credits, chosen by ``pick``."""
        everyone = {k.address: k for k in (*PARTICIPANTS, DAVE)}
        found = []
        for storage in STORAGES:
            for b in self.s.holders(storage).values():
                if b.wh and (b.holder in PARTICIPANT_ADDRESSES or not participants_only):
                    found.append((everyone[b.holder], storage, b.wh))
        return found[pick % len(found)] if found else (EVE, STORE, 0)

    @rule(pick=st.integers(0, 20), share=st.integers(1, 100), ahead=st.integers(0, 2))
    def redeem_held(self, pick: int, share: int, ahead: int) -> None:
        """A holder redeems a share of what it holds (the redeem rule rarely finds credits)."""
        holder, storage, spendable = self._held(pick, participants_only=True)
        if spendable:
            self.redeem(holder, storage, max(1, spendable * share // 100), ahead)

    @rule(
        pick=st.integers(0, 20),
        share=st.integers(1, 100),
        to=st.sampled_from((*PARTICIPANTS, DAVE)),
    )
    def transfer_held(self, pick: int, share: int, to: PrivateKey) -> None:
        holder, storage, spendable = self._held(pick, participants_only=False)
        if spendable:
            self.transfer(holder, to, storage, max(1, spendable * share // 100))

    @precondition(lambda self: bool(self.pending))
    @rule(
        alice=reading,
        others=st.lists(big_reading, min_size=5, max_size=5),
    )
    def settle(self, alice: tuple[int, int] | None, others: list[tuple[int, int] | None]) -> None:
        """Settle the earliest interval with storage activity, on random readings."""
        s = self.s
        n = self.pending.pop(0)
        self.settled += 1
        end = s.interval(n).end_time
        self._advance_to(end)
        for who, value in zip(
            (ALICE, BOB, CAROL, EVE, STORE, STORE2), [alice, *others], strict=True
        ):
            if value is not None:
                meter = None if who in PARTICIPANTS else STORAGE_METERS[who.address]
                r = s.read(who, n, *value, meter=meter)
                assert r.code == 0, r.log
        self._advance_to(end + 30)
        for storage in STORAGES:
            assert all(d.settled for d in s.deposits(storage, n))
            assert all(r.settled for r in s.redemptions(storage, n))
            for d in s.deposits(storage, n):
                assert d.delivered_wh <= d.committed_wh
                assert d.credited_wh <= d.reserved_wh
                event(f"deposit credited: {d.credited_wh > 0}")
            for red in s.redemptions(storage, n):
                assert red.delivered_wh <= red.requested_wh
                event(f"redemption delivered: {red.delivered_wh > 0}")


def test_random_deposits_redemptions_and_transfers_keep_the_invariants() -> None:
    run_state_machine_as_test(
        StorageMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
