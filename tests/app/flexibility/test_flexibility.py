"""The DSO flexibility auction on an in-process chain: posting needs, offers, the
award at gate closure and settlement against baselines after the window, with
exact amounts; every refusal; queries; genesis. The node checks every module's
invariants (the flexibility escrow among them) after each block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app import crypto
from app.chain import Chain, GenesisError
from app.crypto import PrivateKey
from app.modules.flexibility import keeper
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from app.pb.mgrid.flexibility.v1 import flexibility_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.reputation.v1 import reputation_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.store import Store
from tests.app.flexibility.conftest import Flex
from tests.app.market.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EVE,
    FUNDS,
    POOL,
    START,
    UTILITY,
    app_state,
)
from tests.support.txs import key

ESCROW = crypto.encode_address(keeper.ESCROW)
NEED_OPEN = flexibility_pb2.NEED_STATUS_OPEN
NEED_AWARDED = flexibility_pb2.NEED_STATUS_AWARDED
NEED_SETTLED = flexibility_pb2.NEED_STATUS_SETTLED


def events(flex: Flex, event_type: str) -> list[dict[str, str]]:
    """Attributes of every ``event_type`` event of the node's blocks, in order."""
    out = []
    for block in flex.node.blocks:
        for e in [*(ev for r in block.tx_results for ev in r.events), *block.events]:
            if e.type == event_type:
                out.append(dict(e.attributes))
    return out


def settlement_net(flex: Flex, p: PrivateKey) -> int:
    """What the settlement module did to p's balance so far (imbalances of its readings)."""
    req = settlement_pb2.QuerySettlementsRequest(participant=p.address, limit=1000)
    return sum(int(r.net) for r in flex.q("Settlements", req, settlement_pb2).settlements)


def score(flex: Flex, p: PrivateKey) -> reputation_pb2.Score:
    req = reputation_pb2.QueryScoreRequest(participant=p.address)
    return flex.q("Score", req, reputation_pb2).score


# -- one auction end to end, exact amounts ---------------------------------------------------
#
# Need: 1000 Wh at most 199 per kWh, penalty 97 per kWh -> reserve floor(1000*199/1000) = 199.
# Offers (id: provider quantity@price -> collateral floor(q*97/1000)):
#   1: BOB   400@150 -> 38      2: CAROL 333@101 -> 32
#   3: EVE   400@150 -> 38      4: ALICE 500@199 -> 48
# Selection: CAROL 333 (cheapest), BOB 400, EVE 267 (tie with BOB at 150: BOB offered
# first; EVE partly), ALICE none (dearest). award_cost = floor(333*101/1000) 33
# + floor(400*150/1000) 60 + floor(267*150/1000) 40 = 133; the buyer gets 199 - 133 = 66
# back at once. Collateral kept: CAROL 32, BOB 38, EVE floor(267*97/1000) = 25 (13 back),
# ALICE 0 (48 back).
# Readings (imported Wh; baselines over n-1 and n-2):
#   CAROL 1000, 1000 -> baseline 1000; 600 in n: delivered 400, credited 333, reward 33
#   BOB   900, 700  -> baseline 800;  500 in n: delivered 300, credited 300, shortfall 100,
#         reward floor(300*150/1000) = 45, penalty floor(100*97/1000) = 9
#   EVE   500, 500  -> baseline 500;  no reading in n: credited 0, shortfall 267, reward 0,
#         penalty floor(267*97/1000) = 25 (its whole collateral)
# Payments 78, penalties 34 (to the pool), buyer refund at settlement 133 - 78 = 55.
# The buyer paid 199 - 66 - 55 = 78 = the payments.

BASE = {
    CAROL.address: [(0, 1000), (0, 1000)],
    BOB.address: [(0, 900), (0, 700)],
    EVE.address: [(0, 500), (0, 500)],
}
ACTUAL = {CAROL.address: (0, 600), BOB.address: (0, 500)}  # EVE's reading is missing


def _auction(flex: Flex, penalty_account: str = "") -> tuple[int, int, dict[str, int]]:
    """Post the need and offers for n = current + 2; returns (n, need id, balances before)."""
    n = flex.current() + 2
    before = {p.address: flex.balance(p.address) for p in (UTILITY, ALICE, BOB, CAROL, EVE, POOL)}
    need_id = flex.post(n, 1000, 199, penalty=97, penalty_account=penalty_account)
    assert [
        flex.offer(BOB, need_id, 400, 150),
        flex.offer(CAROL, need_id, 333, 101),
        flex.offer(EVE, need_id, 400, 150),
        flex.offer(ALICE, need_id, 500, 199),
    ] == [1, 2, 3, 4]
    return n, need_id, before


def test_auction_end_to_end_exact_amounts(flex: Flex) -> None:
    supply = flex.supply()
    n, need_id, before = _auction(flex)
    assert flex.balance(ESCROW) == 199 + 38 + 32 + 38 + 48
    resp = flex.need(need_id)
    assert resp.need.status == NEED_OPEN and resp.need.reserve == "199"
    assert resp.need.penalty_account == POOL.address  # the settlement params' penalty account
    assert [o.collateral for o in resp.offers] == ["38", "32", "38", "48"]

    # history for the baselines: intervals n-2 and n-1
    flex.read_all(n - 2, {a: v[0] for a, v in BASE.items()})
    flex.gate(n)  # the award
    resp = flex.need(need_id)
    need, offers = resp.need, resp.offers
    assert need.status == NEED_AWARDED
    assert (need.awarded_wh, need.selected, need.award_cost, need.offers) == (1000, 3, "133", 4)
    assert [(o.id, o.selected, o.awarded_wh, o.collateral) for o in offers] == [
        (1, True, 400, "38"),
        (2, True, 333, "32"),
        (3, True, 267, "25"),
        (4, False, 0, "0"),
    ]
    assert flex.balance(UTILITY.address) == before[UTILITY.address] - 199 + 66
    assert flex.balance(ALICE.address) == before[ALICE.address]  # unselected: all back
    assert flex.balance(ESCROW) == 133 + 38 + 32 + 25
    awards = events(flex, "flexibility_award")
    assert [(a["offer_id"], a["awarded_wh"], a["price_per_kwh"]) for a in awards] == [
        ("2", "333", "101"),
        ("1", "400", "150"),
        ("3", "267", "150"),
    ]  # selection order
    [close] = events(flex, "flexibility_close")
    assert close == {
        "need_id": str(need_id),
        "interval": str(n),
        "awarded_wh": "1000",
        "selected": "3",
        "award_cost": "133",
        "refund": "66",
    }
    # an offer after the award is refused
    late = flex.rejected(DAVE, offer_flexibility=flex.offer_msg(need_id, 10, 1))
    assert (late.codespace, late.code) == ("flexibility", 6)

    flex.read_all(n - 1, {a: v[1] for a, v in BASE.items()})
    flex.read_all(n, ACTUAL)
    flex.window(n)
    resp = flex.need(need_id)
    need = resp.need
    assert need.status == NEED_SETTLED and need.settled_height == flex.node.height
    assert (need.credited_wh, need.shortfall_wh, need.payments, need.penalties) == (
        633,
        367,
        "78",
        "34",
    )
    rows = {o.provider: o.delivery for o in resp.offers if o.selected}
    assert all(o.settled == o.selected for o in resp.offers)
    carol, bob, eve = rows[CAROL.address], rows[BOB.address], rows[EVE.address]
    assert (carol.baseline_wh, carol.baseline_samples, carol.metered_wh, carol.delivered_wh) == (
        1000,
        2,
        600,
        400,
    )
    assert (carol.credited_wh, carol.shortfall_wh, carol.reward, carol.penalty) == (
        333,
        0,
        "33",
        "0",
    )
    assert (bob.baseline_wh, bob.metered_wh, bob.delivered_wh) == (800, 500, 300)
    assert (bob.credited_wh, bob.shortfall_wh, bob.reward, bob.penalty) == (300, 100, "45", "9")
    assert (eve.missing_reading, eve.delivered_wh, eve.credited_wh) == (True, 0, 0)
    assert (eve.shortfall_wh, eve.reward, eve.penalty) == (267, "0", "25")
    [settle] = events(flex, "flexibility_settle")
    assert settle == {
        "need_id": str(need_id),
        "interval": str(n),
        "credited_wh": "633",
        "shortfall_wh": "367",
        "payments": "78",
        "penalties": "34",
        "refund": "55",
    }
    deliveries = events(flex, "settlement_delivery")
    assert [(d["source"], d["participant"]) for d in deliveries] == [
        ("flexibility", BOB.address),
        ("flexibility", CAROL.address),
        ("flexibility", EVE.address),
    ]  # offer id order

    # money: the buyer paid exactly the payments, the pool got the penalties, each
    # provider got its reward less its penalty (besides settlement's imbalances)
    assert flex.balance(UTILITY.address) == before[UTILITY.address] - 78
    assert flex.balance(POOL.address) == before[POOL.address] + 34
    for p, flex_delta in ((CAROL, 33), (BOB, 45 - 9), (EVE, -25), (ALICE, 0)):
        assert flex.balance(p.address) == before[p.address] + flex_delta + settlement_net(flex, p)
    assert flex.balance(ESCROW) == 0
    assert flex.supply() == supply

    # reputation moved by accuracy credited / awarded, from 1/2 with weight 1/4
    assert score(flex, CAROL).score == 625_000  # accuracy 1
    assert score(flex, BOB).score == 562_500  # accuracy 300/400
    assert score(flex, EVE).score == 375_000  # accuracy 0
    assert score(flex, ALICE).intervals == 0  # not selected: not judged
    req = reputation_pb2.QueryHistoryRequest(participant=BOB.address)
    [entry] = flex.q("History", req, reputation_pb2).entries
    assert (entry.source, entry.interval, entry.contracted_wh, entry.deviation_wh) == (
        "flexibility",
        n,
        400,
        100,
    )


def test_penalties_to_a_named_account(flex: Flex) -> None:
    account = key(90).address
    n, need_id, _ = _auction(flex, penalty_account=account)
    assert flex.need(need_id).need.penalty_account == account
    flex.read_all(n - 2, {a: v[0] for a, v in BASE.items()})
    flex.read_all(n - 1, {a: v[1] for a, v in BASE.items()})
    flex.read_all(n, ACTUAL)
    flex.window(n)
    assert flex.balance(account) == 34
    assert flex.need(need_id).need.status == NEED_SETTLED


def test_no_offers_refunds_everything(flex: Flex) -> None:
    n = flex.current() + 1
    before = flex.balance(UTILITY.address)
    need_id = flex.post(n, 5000, 300, penalty=10)
    assert flex.balance(UTILITY.address) == before - 1500
    flex.gate(n)
    need = flex.need(need_id).need
    assert (need.status, need.awarded_wh, need.selected, need.award_cost) == (
        NEED_AWARDED,
        0,
        0,
        "0",
    )
    assert flex.balance(UTILITY.address) == before
    flex.window(n)
    need = flex.need(need_id).need
    assert (need.status, need.payments, need.penalties, need.credited_wh) == (
        NEED_SETTLED,
        "0",
        "0",
        0,
    )
    [settle] = events(flex, "flexibility_settle")
    assert settle["refund"] == "0"


def test_delivery_above_the_award_is_paid_for_the_award_only(flex: Flex) -> None:
    """Baseline from n-1 only; a reduction beyond the award earns nothing more, and an
    increase in consumption earns nothing and pays the full penalty."""
    n = flex.current() + 2
    need_id = flex.post(n, 600, 100, penalty=50)  # reserve 60
    flex.offer(BOB, need_id, 300, 80)  # collateral 15
    flex.offer(CAROL, need_id, 300, 90)  # collateral 15
    flex.read_all(n - 1, {BOB.address: (0, 2000), CAROL.address: (0, 2000)})
    flex.read_all(n, {BOB.address: (0, 1000), CAROL.address: (0, 2500)})
    before = {p.address: flex.balance(p.address) for p in (UTILITY, BOB, CAROL)}
    nets = {p.address: settlement_net(flex, p) for p in (BOB, CAROL)}
    flex.window(n)
    resp = flex.need(need_id)
    bob, carol = (o.delivery for o in resp.offers)
    # BOB: delivered 1000 of 300 -> credited 300, reward floor(300*80/1000) = 24
    assert (bob.delivered_wh, bob.credited_wh, bob.reward, bob.penalty) == (1000, 300, "24", "0")
    # CAROL: consumed 500 more -> delivered -500, credited 0, penalty floor(300*50/1000) = 15
    assert (carol.delivered_wh, carol.credited_wh, carol.reward, carol.penalty) == (
        -500,
        0,
        "0",
        "15",
    )
    # award cost floor(300*80/1000) 24 + floor(300*90/1000) 27 = 51; buyer gets 51 - 24 back
    assert resp.need.award_cost == "51" and resp.need.payments == "24"
    assert flex.balance(UTILITY.address) == before[UTILITY.address] + 27
    bob_net = settlement_net(flex, BOB) - nets[BOB.address]
    carol_net = settlement_net(flex, CAROL) - nets[CAROL.address]
    assert flex.balance(BOB.address) == before[BOB.address] + 24 + 15 + bob_net
    assert flex.balance(CAROL.address) == before[CAROL.address] + carol_net


def test_aggregator_delivers_with_all_its_meters(make_flex: Any) -> None:
    """EVE has two meters: its baseline and its delivery sum both."""
    second = key(70)
    state = app_state()
    state["registry"]["meters"].append(
        {"pub_key": second.public_key.hex(), "participant": EVE.address}
    )
    flex = make_flex(state)
    n = flex.current() + 2
    need_id = flex.post(n, 1000, 100)
    flex.offer(EVE, need_id, 1000, 100)
    for k, first, other in ((n - 1, (100, 900), (0, 700)), (n, (300, 500), (0, 400))):
        flex.read_all(k, {EVE.address: first})
        assert flex.read(EVE, k, *other, meter=second).code == 0
    flex.window(n)
    [offer] = flex.need(need_id).offers
    # baseline 900 - 100 + 700 = 1500, metered 500 - 300 + 400 = 600: delivered 900
    d = offer.delivery
    assert (d.baseline_wh, d.metered_wh, d.delivered_wh, d.credited_wh, d.reward) == (
        1500,
        600,
        900,
        900,
        "90",
    )


def test_bus_of_the_need_and_below(flex: Flex) -> None:
    n = flex.current() + 1
    on_b2 = flex.post(n, 1000, 100, bus="b2")
    on_root = flex.post(n, 1000, 100, bus="pcc")
    refused = flex.rejected(ALICE, offer_flexibility=flex.offer_msg(on_b2, 100, 50))
    assert (refused.codespace, refused.code) == ("flexibility", 10)
    assert "is on bus 'b1', neither 'b2' nor below it" in refused.log
    flex.offer(BOB, on_b2, 100, 50)
    flex.offer(ALICE, on_root, 100, 50)  # b1 is below the root bus


def test_suspended_provider_cannot_offer(make_flex: Any) -> None:
    """A provider that failed its award falls below the suspension threshold."""
    flex = make_flex(app_state(reputation={"suspension_threshold": 400_000}))
    n = flex.current() + 1
    need_id = flex.post(n, 100, 100)
    flex.offer(BOB, need_id, 100, 100)
    flex.window(n)  # no reading: accuracy 0, score 1/2 -> 3/8, suspended
    assert score(flex, BOB).suspended_until > flex.current()
    later = flex.post(flex.current() + 1, 100, 100)
    refused = flex.rejected(BOB, offer_flexibility=flex.offer_msg(later, 100, 100))
    assert (refused.codespace, refused.code) == ("reputation", 3)


# -- refusals --------------------------------------------------------------------------------


def _post(**kw: Any) -> Any:
    return lambda f, n: (UTILITY, {"post_flex_need": f.post_msg(**{"interval": n, **kw})})


def _offer(signer: PrivateKey, quantity: int = 100, price: int = 100, need: int = 1) -> Any:
    return lambda f, n: (signer, {"offer_flexibility": f.offer_msg(need, quantity, price)})


POST = {"quantity_wh": 1000, "max_price": 100}
REFUSALS = [
    # (what, message builder, codespace, code, text in the log)
    ("not the utility", lambda f, n: (BOB, {"post_flex_need": f.post_msg(n, 1000, 100)}),
     "registry", 2, "is not the utility cell"),
    ("quantity 0", _post(quantity_wh=0, max_price=100), "flexibility", 2, "got 0"),
    ("quantity too large", _post(quantity_wh=10**12 + 1, max_price=100), "flexibility", 2,
     "1..1000000000000 Wh"),
    ("max price 0", _post(quantity_wh=10, max_price=0), "flexibility", 3, "max_price_per_kwh"),
    ("max price too high", _post(quantity_wh=10, max_price=10**9 + 1), "flexibility", 3,
     "1..1000000000, got 1000000001"),
    ("penalty too high", _post(**POST, penalty=10**9 + 1), "flexibility", 3, "penalty_per_kwh"),
    ("unknown bus", _post(**POST, bus="b9"), "flexibility", 4, "'b9' is not in the network"),
    ("bad penalty account", _post(**POST, penalty_account="mg1nope"), "tx", 12,
     "penalty_account"),
    ("reserve unaffordable", _post(quantity_wh=10**6, max_price=1000), "flexibility", 12,
     "reserve of 1000000ugrid needed"),
    ("gate closed", lambda f, n: (UTILITY, {"post_flex_need": f.post_msg(n - 1, 1000, 100)}),
     "market", 5, "closed"),
    ("too far ahead", lambda f, n: (UTILITY, {"post_flex_need": f.post_msg(n + 20, 1000, 100)}),
     "market", 6, "beyond the latest open one"),
    ("need 0", _offer(BOB, need=0), "flexibility", 5, "need ids start at 1"),
    ("no such need", _offer(BOB, need=9), "flexibility", 5, "no need 9"),
    ("offer quantity 0", _offer(BOB, quantity=0), "flexibility", 2, "got 0"),
    ("offer price too high", _offer(BOB, price=10**9 + 1), "flexibility", 3, "price_per_kwh"),
    ("above the maximum", _offer(BOB, price=201), "flexibility", 7,
     "price 201 per kWh is above need 1's maximum 200"),
    ("own need", _offer(UTILITY), "flexibility", 13, "posted need 1"),
    ("not registered", _offer(DAVE), "flexibility", 8, "has not applied"),
    ("duplicate", _offer(CAROL), "settlement", 13, "already committed its flexibility in interval"),
    ("collateral unaffordable", _offer(BOB, quantity=10**9), "flexibility", 12,
     "collateral of 50000000ugrid needed"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "codespace", "code", "text"),
    [pytest.param(*r[1:], id=r[0]) for r in REFUSALS],
)
def test_refusals(flex: Flex, build: Any, codespace: str, code: int, text: str) -> None:
    n = flex.first_open()
    need_id = flex.post(n, 1000, 200, penalty=50)
    assert need_id == 1
    flex.offer(CAROL, need_id, 100, 100)
    supply, escrow = flex.supply(), flex.balance(ESCROW)
    signer, msgs = build(flex, n)
    result = flex.rejected(signer, **msgs)
    assert (result.codespace, result.code) == (codespace, code), result.log
    assert text in result.log
    assert (flex.supply(), flex.balance(ESCROW)) == (supply, escrow)


def test_offer_refused_at_the_gate_closure_block(flex: Flex) -> None:
    """A tx in the block at gate closure runs before the award: the gate is closed."""
    n = flex.first_open()
    need_id = flex.post(n, 1000, 200)
    flex.node.advance_to(flex.interval(n).gate_closure_time - 1)
    result = flex.rejected(BOB, offer_flexibility=flex.offer_msg(need_id, 100, 100))
    assert (result.codespace, result.code) == ("market", 5)
    assert flex.need(need_id).need.status == NEED_AWARDED


def test_offer_from_a_pending_participant(flex: Flex) -> None:
    apply = registry_pb2.MsgApply(role=registry_pb2.ROLE_CONSUMER, bus="b2")
    assert flex.tx(DAVE, apply=apply).code == 0
    need_id = flex.post(flex.first_open(), 1000, 200)
    result = flex.rejected(DAVE, offer_flexibility=flex.offer_msg(need_id, 100, 100))
    assert (result.codespace, result.code) == ("flexibility", 9)
    assert "is pending" in result.log


def test_one_offer_per_interval_across_needs(flex: Flex) -> None:
    n = flex.first_open()
    first, second = flex.post(n, 1000, 200), flex.post(n, 1000, 200, bus="b2")
    flex.offer(BOB, first, 100, 100)
    result = flex.rejected(BOB, offer_flexibility=flex.offer_msg(second, 100, 100))
    assert (result.codespace, result.code) == ("settlement", 13)
    assert f"interval {n} to flexibility/1" in result.log
    flex.offer(BOB, flex.post(n + 1, 1000, 200), 100, 100)  # another interval: fine


def test_one_commitment_per_interval_across_modules(flex: Flex) -> None:
    """A demand-response opt-in and a flexibility offer of one participant for one
    interval would be measured against the same baseline: the second is refused,
    whichever module it is for."""
    n = flex.first_open()
    need = flex.post(n, 1000, 200)
    create = dr_pb2.MsgCreateEvent(
        interval=n, requested_wh=1000, reward_per_kwh=100, penalty_per_kwh=50
    )
    assert flex.tx(UTILITY, create_dr_event=create).code == 0
    assert flex.tx(CAROL, dr_opt_in=dr_pb2.MsgOptIn(event_id=1, committed_wh=100)).code == 0
    refused = flex.rejected(CAROL, offer_flexibility=flex.offer_msg(need, 100, 100))
    assert (refused.codespace, refused.code) == ("settlement", 13)
    assert f"interval {n} to demand_response/1" in refused.log
    flex.offer(BOB, need, 100, 100)
    refused = flex.rejected(BOB, dr_opt_in=dr_pb2.MsgOptIn(event_id=1, committed_wh=100))
    assert (refused.codespace, refused.code) == ("settlement", 13)
    assert f"interval {n} to flexibility/" in refused.log


# -- queries ---------------------------------------------------------------------------------


def test_queries(flex: Flex) -> None:
    n = flex.first_open()
    ids = [flex.post(n, 1000, 200), flex.post(n + 1, 500, 100), flex.post(n, 300, 50)]
    flex.offer(BOB, ids[0], 100, 150)
    flex.offer(BOB, ids[1], 200, 90)
    flex.offer(CAROL, ids[0], 300, 100)

    def needs(**kw: Any) -> flexibility_pb2.QueryNeedsResponse:
        return flex.q("Needs", flexibility_pb2.QueryNeedsRequest(**kw), flexibility_pb2)

    assert [x.id for x in needs().needs] == [1, 2, 3]
    assert [x.id for x in needs(interval=n).needs] == [1, 3]
    assert [x.id for x in needs(interval=n + 1).needs] == [2]
    assert needs(interval=n + 2).needs == []
    first = needs(limit=2)
    assert [x.id for x in first.needs] == [1, 2] and first.next_key
    rest = needs(limit=2, page_key=first.next_key)
    assert [x.id for x in rest.needs] == [3] and not rest.next_key

    resp = flex.need(1)
    assert resp.need.offers == 2
    assert [(o.id, o.provider) for o in resp.offers] == [(1, BOB.address), (3, CAROL.address)]

    def offers(**kw: Any) -> flexibility_pb2.QueryOffersResponse:
        return flex.q("Offers", flexibility_pb2.QueryOffersRequest(**kw), flexibility_pb2)

    assert [o.id for o in offers(provider=BOB.address).offers] == [2, 1]  # newest first
    page = offers(provider=BOB.address, limit=1)
    assert [o.id for o in page.offers] == [2]
    assert [o.id for o in offers(provider=BOB.address, page_key=page.next_key).offers] == [1]
    assert offers(provider=DAVE.address).offers == []

    chain = flex.node.chain
    missing = chain.query(
        "/mgrid.flexibility.v1.Query/Need",
        flexibility_pb2.QueryNeedRequest(id=9).SerializeToString(),
    )
    assert (missing.codespace, missing.code) == ("tx", 15)
    no_provider = chain.query(
        "/mgrid.flexibility.v1.Query/Offers",
        flexibility_pb2.QueryOffersRequest().SerializeToString(),
    )
    assert (no_provider.codespace, no_provider.code) == ("tx", 9)


# -- genesis ---------------------------------------------------------------------------------


def test_genesis_refuses_a_non_empty_section(tmp_path: Path) -> None:
    state = {**app_state(), "flexibility": {"params": {}}}
    chain = Chain(Store(str(tmp_path / "db"), sync=False))
    with pytest.raises(GenesisError, match="flexibility: takes no fields"):
        chain.init_chain("c", START * 10**9, json.dumps(state).encode(), 1)


def test_without_a_market_nothing_happens(tmp_path: Path, make_flex: Any) -> None:
    state = app_state()
    for name in ("market", "settlement", "reputation"):
        del state[name]
    state["flexibility"] = {}
    flex = make_flex(state)
    result = flex.rejected(UTILITY, post_flex_need=flex.post_msg(5, 1000, 100))
    assert (result.codespace, result.code) == ("market", 2)
    flex.node.advance(5)  # end_block is a no-op, invariants hold
    assert flex.balance(UTILITY.address) == FUNDS
