"""Random events, opt-ins and readings through the real state machine: every
block keeps supply conserved and the demand-response escrow equal to the
unsettled reserves and collateral (Chain(check_invariants=True) asserts both
after each block); once settled, the escrow is empty and every coin the module
moved is accounted for: the funder paid exactly the rewards, the penalty
accounts received exactly the penalties, each participant's balance moved by
its rewards less its penalties (besides what settlement did for its readings)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.demand_response.conftest import DR, PENALTIES, dr_state
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, POOL, START, UTILITY, Market
from tests.support.inproc import InProcessNode

PARTICIPANTS = (ALICE, BOB, CAROL, EVE)
N0 = START // 60
INTERVALS = 5  # N0+1 .. N0+5: events in the last three, the first ones give baselines

events = st.lists(
    st.tuples(
        st.integers(3, INTERVALS),  # interval N0 + k
        st.integers(1, 5000),  # requested Wh
        st.integers(0, 2000),  # reward per kWh
        st.integers(0, 2000),  # penalty per kWh
        st.sampled_from(["", "b1", "b2", "pcc"]),
        st.booleans(),  # penalties to PENALTIES (else the pool)
    ),
    min_size=1,
    max_size=3,
)
opt_ins = st.lists(
    st.tuples(st.integers(0, len(PARTICIPANTS) - 1), st.integers(0, 2), st.integers(1, 3000)),
    max_size=8,
)
readings = st.lists(
    st.lists(
        st.one_of(st.none(), st.tuples(st.integers(0, 5000), st.integers(0, 5000))),
        min_size=len(PARTICIPANTS),
        max_size=len(PARTICIPANTS),
    ),
    min_size=INTERVALS,
    max_size=INTERVALS,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events, opt_ins, readings, st.integers(1, 3))
def test_random_events_settle_with_every_coin_accounted_for(
    specs: list[tuple[int, int, int, int, str, bool]],
    joins: list[tuple[int, int, int]],
    metered: list[list[tuple[int, int] | None]],
    stride: int,
) -> None:
    state = dr_state()
    state["settlement"]["params"].update(baseline_intervals=2, baseline_stride=stride)
    with tempfile.TemporaryDirectory() as home:
        node = InProcessNode(Path(home), state, start_time=START)
        try:
            dr = DR(Market(node))
            m = dr.m
            supply = m.supply()
            start = {k.address: m.balance(k.address) for k in (*PARTICIPANTS, UTILITY)}
            ids = []
            for k, requested, reward, penalty, bus, named in specs:
                account = PENALTIES.address if named else ""
                event = dr.new_event(
                    requested, reward, penalty, interval=N0 + k, bus=bus, penalty_account=account
                )
                ids.append(event)
            for who, which, committed in joins:
                dr.opt_in(PARTICIPANTS[who], ids[which % len(ids)], committed)  # may be refused
            for i in range(INTERVALS):
                n = N0 + 1 + i
                dr.report(n, {p: metered[i][j] for j, p in enumerate(PARTICIPANTS)})
                dr.finish(n)

            assert m.supply() == supply
            assert dr.escrow() == 0
            rewards = {"": 0, PENALTIES.address: 0}
            penalties = {POOL.address: 0, PENALTIES.address: 0}
            gains = {p.address: 0 for p in PARTICIPANTS}
            for event_id in ids:
                resp = dr.event(event_id)
                ev = resp.event
                assert ev.status == dr_pb2.EVENT_STATUS_SETTLED
                assert ev.committed_wh <= ev.requested_wh
                assert ev.credited_wh + ev.shortfall_wh == ev.committed_wh
                assert int(ev.rewards) <= int(ev.reserve)
                assert sum(o.committed_wh for o in resp.opt_ins) == ev.committed_wh
                rewards[""] += int(ev.rewards)
                penalties[ev.penalty_account] += int(ev.penalties)
                for o in resp.opt_ins:
                    d = o.delivery
                    assert o.settled and d.credited_wh <= o.committed_wh
                    assert int(d.penalty) <= int(o.collateral)
                    gains[o.participant] += int(d.reward) - int(d.penalty)
            assert m.balance(UTILITY.address) - start[UTILITY.address] == -rewards[""]
            for account, total in penalties.items():
                assert m.balance(account) == total
            for p in PARTICIPANTS:
                req = settlement_pb2.QuerySettlementsRequest(participant=p.address, limit=1000)
                rows = m.q("Settlements", req, settlement_pb2).settlements
                net = sum(int(r.net) for r in rows)
                assert m.balance(p.address) - start[p.address] - net == gains[p.address]
        finally:
            node.close()
