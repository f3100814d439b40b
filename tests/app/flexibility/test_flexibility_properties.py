"""Random needs, offers and readings through the real state machine, to settlement:
every block keeps supply conserved and the flexibility escrow equal to what open
needs reserve, awarded needs owe and unsettled offers lock (Chain(check_invariants=
True) asserts both after each block); once settled, the escrow is empty, the buyer
paid exactly the payments, the pool got exactly the penalties, and each provider's
balance moved by its rewards less its penalties plus settlement's imbalances."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import crypto
from app.modules.flexibility import keeper
from app.pb.mgrid.flexibility.v1 import flexibility_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from tests.app.flexibility.conftest import Flex
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE, POOL, START, UTILITY, app_state
from tests.support.inproc import InProcessNode

PROVIDERS = (ALICE, BOB, CAROL, EVE)
ESCROW = crypto.encode_address(keeper.ESCROW)

needs = st.lists(
    st.tuples(
        st.integers(0, 1),  # interval: first open + this
        st.integers(1, 3000),  # Wh
        st.integers(1, 400),  # max price
        st.integers(0, 400),  # penalty
        st.sampled_from(["", "pcc", "b1", "b2"]),
    ),
    min_size=2,
    max_size=3,
)
offers = st.lists(
    st.tuples(
        st.integers(0, len(PROVIDERS) - 1),
        st.integers(0, 2),  # need index (refused when there is no such need)
        st.integers(1, 2500),  # Wh
        st.integers(0, 450),  # price (above the max: refused)
    ),
    min_size=2,
    max_size=10,
)
# Per interval (the one before the first, then the two with needs) and provider: no
# reading, or (exported, imported) within b1's 5000 Wh line.
readings = st.lists(
    st.lists(
        st.one_of(st.none(), *[st.tuples(st.integers(0, 2000), st.integers(0, 5000))] * 3),
        min_size=len(PROVIDERS),
        max_size=len(PROVIDERS),
    ),
    min_size=3,
    max_size=3,
)


def _net(flex: Flex, address: str) -> int:
    req = settlement_pb2.QuerySettlementsRequest(participant=address, limit=1000)
    return sum(int(r.net) for r in flex.q("Settlements", req, settlement_pb2).settlements)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(needs, offers, readings)
def test_random_auctions_account_for_every_coin(
    posted: list[Any], offered: list[Any], metered: list[Any]
) -> None:
    with tempfile.TemporaryDirectory() as home:
        node = InProcessNode(Path(home), app_state(), start_time=START, block_seconds=2)
        try:
            flex = Flex(node)
            supply = flex.supply()
            who = (UTILITY, POOL, *PROVIDERS)
            before = {p.address: flex.balance(p.address) for p in who}
            first = flex.first_open()
            ids = [
                flex.post(first + ahead, q, price, penalty=penalty, bus=bus)
                for ahead, q, price, penalty, bus in posted
            ]
            for p, i, q, price in offered:
                msg = flex.offer_msg(i + 1, q, price)
                result = flex.tx(PROVIDERS[p], offer_flexibility=msg)
                if i >= len(ids):
                    assert (result.codespace, result.code) == ("flexibility", 5)
                elif price > posted[i][2]:
                    assert (result.codespace, result.code) == ("flexibility", 7)
            for k, row in enumerate(metered):
                given = {p.address: r for p, r in zip(PROVIDERS, row, strict=True) if r is not None}
                flex.read_all(first - 1 + k, given)
            flex.window(first + 1)

            assert flex.supply() == supply
            assert flex.balance(ESCROW) == 0
            payments = penalties = 0
            flex_delta = dict.fromkeys((p.address for p in PROVIDERS), 0)
            for need_id, (_, q, max_price, _, _) in zip(ids, posted, strict=True):
                resp = flex.need(need_id)
                need = resp.need
                assert need.status == flexibility_pb2.NEED_STATUS_SETTLED
                selected = [o for o in resp.offers if o.selected]
                assert all(o.price_per_kwh <= max_price for o in resp.offers)
                assert need.awarded_wh == min(q, sum(o.quantity_wh for o in resp.offers))
                assert need.awarded_wh == sum(o.awarded_wh for o in selected)
                unselected = [o.price_per_kwh for o in resp.offers if not o.selected]
                assert all(o.price_per_kwh <= min(unselected, default=450) for o in selected)
                assert int(need.payments) <= int(need.award_cost) <= int(need.reserve)
                assert need.credited_wh + need.shortfall_wh == need.awarded_wh
                payments += int(need.payments)
                penalties += int(need.penalties)
                for o in selected:
                    flex_delta[o.provider] += int(o.delivery.reward) - int(o.delivery.penalty)
            assert flex.balance(UTILITY.address) == before[UTILITY.address] - payments
            assert flex.balance(POOL.address) == before[POOL.address] + penalties
            for p in PROVIDERS:
                expected = before[p.address] + flex_delta[p.address] + _net(flex, p.address)
                assert flex.balance(p.address) == expected, p.address
        finally:
            node.close()
