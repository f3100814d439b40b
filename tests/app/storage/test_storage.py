"""Storage-backed energy credits on the real state machine: a worked deposit and
redemption, deliveries limited by what the meters show, the settlement rows
they leave (contracts at no price: no imbalance), transfers and holders, the
"sell" path (redeem + sell order in one tx), every refusal, the queries, the
invariant checker and genesis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app import crypto
from app.chain import TxResult
from app.context import Context, Mode
from app.kv import CacheKV
from app.modules.common import encode
from app.modules.genesis_util import GenesisError
from app.modules.storage import genesis, keeper
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.storage.v1 import storage_pb2
from tests.app.market.conftest import ALICE, BOB, CAROL, DAVE, EVE, METERS, UTILITY
from tests.app.storage.conftest import (
    SPECS,
    STORE,
    STORE2,
    Storage,
    event,
    storage_state,
)
from tests.support.txs import key

RETAIL, FEED_IN = 300, 100  # per kWh, the test microgrid's tariffs
key_bytes = crypto.decode_address


def block_events(s: Storage, event_type: str) -> list[dict[str, str]]:
    return [dict(e.attributes) for b in s.node.blocks for e in b.events if e.type == event_type]


def funded(s: Storage) -> int:
    """EVE deposits 10 kWh into STORE and delivers them: 9000 Wh of credits. Returns
    the interval."""
    n = s.next_open()
    assert s.deposit(EVE, STORE, 10_000, n).code == 0
    s.settle_with(n, {EVE: (10_000, 0), STORE: (0, 10_000)})
    assert s.credits(EVE.address) == (9_000, 0)
    return n


# -- the worked example -------------------------------------------------------------------------


def test_deposit_then_redeem_worked_example(storage: Storage) -> None:
    """10 kWh deposited at 90 % -> 9 kWh of credits; 4 kWh redeemed later. Neither
    delivery is an imbalance: EVE is paid no feed-in for the 10 kWh and pays no
    retail for the 4 kWh, and no money moves at all."""
    s = storage
    before = {w.address: s.balance(w.address) for w in (EVE, STORE)}
    supply = s.supply()
    n = s.next_open()
    r = s.deposit(EVE, STORE, 10_000, n)
    assert r.code == 0, r.log
    assert event(r, "storage_deposit") == {
        "deposit_id": "1",
        "storage": STORE.address,
        "depositor": EVE.address,
        "interval": str(n),
        "committed_wh": "10000",
        "reserved_wh": "9000",
    }
    state = s.state(STORE)
    assert (state.reserved_wh, state.stored_wh, state.credits_wh) == (9_000, 0, 0)
    assert [d.id for d in s.deposits(STORE)] == [1]  # pending

    settled = s.settle_with(n, {EVE: (10_000, 0), STORE: (0, 10_000)})
    assert settled.participants == 2  # no market orders: storage activity alone settles n
    eve, store = s.settlement(n, EVE), s.settlement(n, STORE)
    assert (eve.contracted_sell_wh, eve.local_sell_wh, eve.exported_wh) == (10_000, 0, 10_000)
    assert (eve.deviation_wh, eve.imbalance_sold_wh, eve.imbalance_revenue) == (0, 0, "0")
    assert (store.contracted_buy_wh, store.imported_wh, store.deviation_wh) == (10_000, 10_000, 0)
    assert (store.imbalance_bought_wh, store.imbalance_cost, store.penalty) == (0, "0", "0")
    assert {w.address: s.balance(w.address) for w in (EVE, STORE)} == before
    [done] = block_events(s, "storage_deposit_settled")
    assert (done["delivered_wh"], done["credited_wh"]) == ("10000", "9000")
    [d] = s.deposits(STORE, n)
    assert (d.delivered_wh, d.credited_wh, d.settled) == (10_000, 9_000, True)
    assert s.deposits(STORE) == []  # nothing pending
    state = s.state(STORE)
    assert (state.stored_wh, state.credits_wh, state.reserved_wh, state.holders) == (
        9_000,
        9_000,
        0,
        1,
    )
    assert (state.deposited_wh, state.minted_wh) == (10_000, 9_000)
    assert s.credits(EVE.address) == (9_000, 0)

    m = s.next_open()
    r = s.redeem(EVE, STORE, 4_000, m)
    assert r.code == 0, r.log
    assert event(r, "storage_redeem")["requested_wh"] == "4000"
    assert s.credits(EVE.address) == (5_000, 4_000)
    assert s.state(STORE).locked_wh == 4_000
    s.settle_with(m, {STORE: (4_000, 0), EVE: (0, 4_000)})
    eve, store = s.settlement(m, EVE), s.settlement(m, STORE)
    assert (eve.contracted_buy_wh, eve.imported_wh, eve.deviation_wh) == (4_000, 4_000, 0)
    assert (eve.imbalance_bought_wh, eve.imbalance_cost) == (0, "0")
    assert (store.contracted_sell_wh, store.exported_wh, store.deviation_wh) == (4_000, 4_000, 0)
    [done] = block_events(s, "storage_redeem_settled")
    assert (done["delivered_wh"], done["unlocked_wh"]) == ("4000", "0")
    state = s.state(STORE)
    assert (state.stored_wh, state.credits_wh, state.locked_wh, state.redeemed_wh) == (
        5_000,
        5_000,
        0,
        4_000,
    )
    assert s.credits(EVE.address) == (5_000, 0)
    assert {w.address: s.balance(w.address) for w in (EVE, STORE)} == before
    assert s.supply() == supply


# -- deposits: what the meters show ----------------------------------------------------------


@pytest.mark.parametrize(
    ("eve", "store", "delivered", "credited"),
    [
        ((10_000, 0), (0, 10_000), 10_000, 9_000),
        ((6_000, 0), (0, 10_000), 6_000, 5_400),  # the depositor exported less
        ((8_000, 3_000), (0, 10_000), 5_000, 4_500),  # its net export is its surplus
        ((12_000, 0), (0, 3_000), 3_000, 2_700),  # the storage took in less
        ((9_000, 0), (0, 7_777), 7_777, 6_999),  # floor(7777 x 0.9) = floor(6999.3)
        (None, (0, 10_000), 0, 0),  # no reading: no surplus
        ((10_000, 0), None, 0, 0),  # the storage did not report: no intake
        ((10_000, 0), (5_000, 10_000), 10_000, 9_000),  # export is not intake
    ],
)
def test_deposit_delivered_is_what_both_meters_show(
    storage: Storage,
    eve: tuple[int, int] | None,
    store: tuple[int, int] | None,
    delivered: int,
    credited: int,
) -> None:
    s = storage
    n = s.next_open()
    assert s.deposit(EVE, STORE, 10_000, n).code == 0
    readings = {who: v for who, v in ((EVE, eve), (STORE, store)) if v is not None}
    s.settle_with(n, readings)
    [d] = s.deposits(STORE, n)
    assert (d.delivered_wh, d.credited_wh) == (delivered, credited)
    state = s.state(STORE)
    assert (state.stored_wh, state.credits_wh, state.reserved_wh) == (credited, credited, 0)
    assert s.credits(EVE.address) == (credited, 0)
    assert len(s.holders(STORE)) == (1 if credited else 0)  # no zero balance is stored
    if eve is not None:
        row = s.settlement(n, EVE)
        surplus = eve[0] - eve[1]
        assert row.contracted_sell_wh == delivered
        # Only what the storage did not take is sold to the main grid.
        assert row.imbalance_sold_wh == surplus - delivered
        assert row.imbalance_revenue == str((surplus - delivered) * FEED_IN // 1000)


def test_one_surplus_serves_deposits_in_submission_order(storage: Storage) -> None:
    """EVE commits 4000 Wh to each storage but exports 6000: the first deposit is
    delivered in full, the second gets the 2000 Wh left."""
    s = storage
    n = s.next_open()
    assert s.deposit(EVE, STORE, 4_000, n).code == 0
    assert s.deposit(EVE, STORE2, 4_000, n).code == 0
    s.settle_with(n, {EVE: (6_000, 0), STORE: (0, 4_000), STORE2: (0, 4_000)})
    [first], [second] = s.deposits(STORE, n), s.deposits(STORE2, n)
    assert (first.delivered_wh, first.credited_wh) == (4_000, 3_600)
    assert (second.delivered_wh, second.credited_wh) == (2_000, 1_600)  # 80 %
    assert s.credits(EVE.address, STORE2) == (1_600, 0)
    assert s.settlement(n, EVE).deviation_wh == 0
    row = s.settlement(n, STORE2)  # took in 4000 Wh, 2000 of them credited: it bought the rest
    assert (row.contracted_buy_wh, row.imbalance_bought_wh) == (2_000, 2_000)


def test_storage_own_purchases_are_not_intake(storage: Storage) -> None:
    """STORE buys 3000 Wh in the market for itself and meters 5000 Wh of import:
    only 2000 Wh can be EVE's deposit."""
    s = storage
    n = s.next_open()
    assert s.place(CAROL, "sell", 3_000, 100, interval=n).code == 0
    assert s.place(STORE, "buy", 3_000, 200, interval=n).code == 0
    assert s.deposit(EVE, STORE, 5_000, n).code == 0
    s.clear(n)
    s.settle_with(n, {CAROL: (3_000, 0), EVE: (5_000, 0), STORE: (0, 5_000)})
    [d] = s.deposits(STORE, n)
    assert d.delivered_wh == 2_000
    row = s.settlement(n, STORE)
    assert (row.contracted_buy_wh, row.deviation_wh) == (5_000, 0)
    assert s.settlement(n, EVE).imbalance_sold_wh == 3_000


# -- redemptions ------------------------------------------------------------------------------


def test_redemption_limited_by_the_storages_metered_export(storage: Storage) -> None:
    """EVE redeems 5000 Wh; STORE's meter shows 2000 Wh exported: 2000 are burned,
    3000 unlocked, and EVE buys the rest of what it used at retail."""
    s = storage
    funded(s)
    n = s.next_open()
    assert s.redeem(EVE, STORE, 5_000, n).code == 0
    s.settle_with(n, {STORE: (2_000, 0), EVE: (0, 5_000)})
    [r] = s.redemptions(STORE, n)
    assert (r.requested_wh, r.delivered_wh, r.settled) == (5_000, 2_000, True)
    assert s.credits(EVE.address) == (7_000, 0)
    state = s.state(STORE)
    assert (state.stored_wh, state.credits_wh, state.locked_wh) == (7_000, 7_000, 0)
    row = s.settlement(n, EVE)
    assert (row.contracted_buy_wh, row.deviation_wh, row.imbalance_bought_wh) == (
        2_000,
        -3_000,
        3_000,
    )
    assert (row.imbalance_cost, row.shortfall_wh, row.penalty) == (
        str(3_000 * RETAIL // 1000),
        0,
        "0",
    )
    row = s.settlement(n, STORE)
    assert (row.contracted_sell_wh, row.exported_wh, row.deviation_wh) == (2_000, 2_000, 0)


def test_redemptions_share_the_export_in_submission_order(storage: Storage) -> None:
    """EVE (3000 Wh) then BOB (2000 Wh, credits received by transfer) redeem; the
    storage exports 4000 Wh. BOB has no order and sends no reading: it appears
    only through its delivery and still gets a settlement row."""
    s = storage
    funded(s)
    assert s.transfer(EVE, STORE, BOB.address, 2_000).code == 0
    n = s.next_open()
    assert s.redeem(EVE, STORE, 3_000, n).code == 0
    assert s.redeem(BOB, STORE, 2_000, n).code == 0
    s.settle_with(n, {STORE: (4_000, 0), EVE: (0, 3_000)})
    assert [(r.holder, r.delivered_wh) for r in s.redemptions(STORE, n)] == [
        (EVE.address, 3_000),
        (BOB.address, 1_000),
    ]
    assert s.credits(EVE.address) == (4_000, 0)
    assert s.credits(BOB.address) == (1_000, 0)
    bob = s.settlement(n, BOB)
    assert (bob.contracted_buy_wh, bob.imported_wh, bob.deviation_wh) == (1_000, 1_000, 0)
    assert bob.missing_readings == 1  # its live meter did not report


def test_redemption_without_the_storages_reading_unlocks_everything(storage: Storage) -> None:
    s = storage
    funded(s)
    n = s.next_open()
    assert s.redeem(EVE, STORE, 1_000, n).code == 0
    s.settle_with(n, {EVE: (0, 1_000)})
    assert s.redemptions(STORE, n)[0].delivered_wh == 0
    assert s.credits(EVE.address) == (9_000, 0)
    assert s.state(STORE).stored_wh == 9_000


# -- transfers and holders --------------------------------------------------------------------


def test_transfers_move_credits_and_never_store_zero(storage: Storage) -> None:
    s = storage
    funded(s)
    r = s.transfer(EVE, STORE, DAVE.address, 2_000)  # DAVE is not a participant
    assert r.code == 0, r.log
    assert event(r, "storage_transfer_credits") == {
        "storage": STORE.address,
        "sender": EVE.address,
        "recipient": DAVE.address,
        "wh": "2000",
    }
    assert s.transfer(EVE, STORE, ALICE.address, 1_000).code == 0
    holders = s.holders(STORE)
    assert list(holders) == sorted(holders, key=lambda a: key_bytes(a))
    assert {a: b.wh for a, b in holders.items()} == {
        EVE.address: 6_000,
        DAVE.address: 2_000,
        ALICE.address: 1_000,
    }
    assert s.state(STORE).holders == 3
    r = s.redeem(DAVE, STORE, 1_000)
    assert (r.codespace, r.code) == ("storage", 4), r.log  # holding needs no registration,
    assert s.transfer(DAVE, STORE, EVE.address, 2_000).code == 0  # redeeming does
    assert DAVE.address not in s.holders(STORE)
    assert s.credits(DAVE.address) == (0, 0)
    state = s.state(STORE)
    assert (state.holders, state.credits_wh, state.stored_wh) == (2, 9_000, 9_000)


# -- sold in the market -----------------------------------------------------------------------


def test_sell_stored_energy_redeem_and_sell_in_one_tx(storage: Storage) -> None:
    """EVE redeems 3000 Wh for n and offers them at 150 in the same tx; BOB bids 200.
    The storage delivers the 3000 Wh: EVE's redemption (a purchase) nets its sale,
    so it has no imbalance and no shortfall, and is paid for its trade."""
    s = storage
    funded(s)
    n = s.next_open()
    start = s.balance(EVE.address)
    r = s.tx(
        EVE,
        storage_redeem=s.redeem_msg(STORE, 3_000, n),
        place_order=s.order_msg("sell", 3_000, 150, n),
    )
    assert r.code == 0, r.log
    assert s.place(BOB, "buy", 3_000, 200, interval=n).code == 0
    s.clear(n)
    [trade] = s.trades(n)
    assert trade.quantity_wh == 3_000
    s.settle_with(n, {STORE: (3_000, 0), EVE: (0, 0), BOB: (0, 3_000)})
    row = s.settlement(n, EVE)
    assert (row.contracted_sell_wh, row.contracted_buy_wh, row.local_sell_wh) == (
        3_000,
        3_000,
        3_000,
    )
    assert (row.deviation_wh, row.imbalance_bought_wh, row.imbalance_sold_wh) == (0, 0, 0)
    assert (row.shortfall_wh, row.penalty, row.unrecovered) == (0, "0", "0")
    assert int(row.contract_received) > 0
    assert s.balance(EVE.address) - start == int(row.net) == int(row.contract_received)
    assert s.credits(EVE.address) == (6_000, 0)
    assert s.settlement(n, STORE).deviation_wh == 0
    assert s.settlement(n, BOB).deviation_wh == 0


# -- refusals ---------------------------------------------------------------------------------


def _apply_storage(s: Storage, who: Any) -> None:
    spec = registry_pb2.StorageSpec(**SPECS[STORE.address])
    msg = registry_pb2.MsgApply(role=registry_pb2.ROLE_STORAGE, bus="b2", storage=spec)
    assert s.tx(who, apply=msg).code == 0


def _suspend_eve(s: Storage) -> None:
    msg = registry_pb2.MsgSetSuspended(participant=EVE.address, suspended=True, reason="test")
    assert s.tx(UTILITY, set_suspended=msg).code == 0


def _revoke_eve_meter(s: Storage) -> None:
    msg = registry_pb2.MsgRevokeMeter(pub_key=METERS[EVE.address].public_key)
    assert s.tx(UTILITY, revoke_meter=msg).code == 0


PENDING = key(56)

Case = tuple[Callable[[Storage], TxResult | None], Callable[[Storage], TxResult], str, int]
CASES: dict[str, Case] = {
    "storage is a consumer": (lambda s: None, lambda s: s.deposit(EVE, BOB, 1_000), "storage", 2),
    "storage unregistered": (lambda s: None, lambda s: s.deposit(EVE, DAVE, 1_000), "storage", 2),
    "storage pending": (
        lambda s: _apply_storage(s, PENDING),
        lambda s: s.deposit(EVE, PENDING, 1_000),
        "storage",
        3,
    ),
    "depositor unregistered": (
        lambda s: None,
        lambda s: s.deposit(DAVE, STORE, 1_000),
        "storage",
        4,
    ),
    "depositor pending": (
        lambda s: _apply_storage(s, PENDING),
        lambda s: s.deposit(PENDING, STORE, 1_000),
        "storage",
        5,
    ),
    "depositor suspended": (_suspend_eve, lambda s: s.deposit(EVE, STORE, 1_000), "storage", 5),
    "redeemer suspended": (_suspend_eve, lambda s: s.redeem(EVE, STORE, 1_000), "storage", 5),
    "depositor without meter": (
        _revoke_eve_meter,
        lambda s: s.deposit(EVE, STORE, 1_000),
        "storage",
        6,
    ),
    "redeemer without meter": (
        _revoke_eve_meter,
        lambda s: s.redeem(EVE, STORE, 1_000),
        "storage",
        6,
    ),
    "storage deposits into itself": (
        lambda s: None,
        lambda s: s.deposit(STORE, STORE, 1_000),
        "storage",
        7,
    ),
    "storage redeems from itself": (
        lambda s: None,
        lambda s: s.redeem(STORE, STORE, 1_000),
        "storage",
        7,
    ),
    "deposit of 0 Wh": (lambda s: None, lambda s: s.deposit(EVE, STORE, 0), "storage", 8),
    "deposit minting nothing": (lambda s: None, lambda s: s.deposit(EVE, STORE2, 1), "storage", 8),
    "deposit above 10^15 Wh": (
        lambda s: None,
        lambda s: s.deposit(EVE, STORE, 10**15 + 1),
        "storage",
        8,
    ),
    "redeem 0 Wh": (lambda s: None, lambda s: s.redeem(EVE, STORE, 0), "storage", 8),
    "transfer 0 Wh": (
        lambda s: None,
        lambda s: s.transfer(EVE, STORE, BOB.address, 0),
        "storage",
        8,
    ),
    "above the charge limit": (
        lambda s: None,
        lambda s: s.deposit(EVE, STORE, 20_001),
        "storage",
        9,
    ),
    "charge limit summed over deposits": (
        lambda s: s.deposit(ALICE, STORE, 10_000),
        lambda s: s.deposit(EVE, STORE, 10_001),
        "storage",
        9,
    ),
    "above the free capacity": (  # 9000 stored + 10800 reserved + 900 > 20000
        lambda s: s.deposit(ALICE, STORE, 12_000),
        lambda s: s.deposit(EVE, STORE, 1_000),
        "storage",
        10,
    ),
    "above the discharge limit": (
        lambda s: None,
        lambda s: s.redeem(EVE, STORE, 5_001),
        "storage",
        11,
    ),
    "discharge limit summed over redemptions": (
        lambda s: s.redeem(EVE, STORE, 4_000),
        lambda s: s.redeem(EVE, STORE, 1_001),
        "storage",
        11,
    ),
    "redeem more than held": (
        lambda s: s.redeem(EVE, STORE, 4_500),  # locks 4500 of 9000
        lambda s: s.redeem(EVE, STORE, 4_501, s.next_open(1)),
        "storage",
        12,
    ),
    "redeem without credits": (lambda s: None, lambda s: s.redeem(BOB, STORE, 1), "storage", 12),
    "transfer more than spendable": (
        lambda s: s.redeem(EVE, STORE, 1_000),
        lambda s: s.transfer(EVE, STORE, BOB.address, 8_001),
        "storage",
        12,
    ),
    "transfer to oneself": (
        lambda s: None,
        lambda s: s.transfer(EVE, STORE, EVE.address, 1),
        "storage",
        13,
    ),
    "deposit after the gate": (
        lambda s: None,
        lambda s: s.deposit(EVE, STORE, 1_000, s.next_open() - 1),
        "market",
        5,
    ),
    "redeem too far ahead": (
        lambda s: None,
        lambda s: s.redeem(EVE, STORE, 1_000, s.next_open(20)),
        "market",
        6,
    ),
    "storage address malformed": (
        lambda s: None,
        lambda s: s.tx(EVE, storage_deposit=storage_pb2.MsgDeposit(storage="mg1xyz", wh=5)),
        "tx",
        12,
    ),
    "recipient malformed": (
        lambda s: None,
        lambda s: s.transfer(EVE, STORE, "nobody", 1),
        "tx",
        12,
    ),
}


def _snapshot(s: Storage) -> tuple[Any, ...]:
    return (
        s.state(STORE),
        s.holders(STORE),
        s.deposits(STORE),
        s.redemptions(STORE),
        s.state(STORE2),
    )


@pytest.mark.parametrize("name", list(CASES))
def test_refusals(storage: Storage, name: str) -> None:
    """From a storage holding EVE's 9000 Wh of credits, one thing broken per case:
    the refusal names it and changes nothing."""
    setup, act, codespace, code = CASES[name]
    funded(storage)
    done = setup(storage)
    assert done is None or done.code == 0, done.log
    before = _snapshot(storage)
    r = act(storage)
    assert (r.codespace, r.code) == (codespace, code), r.log
    assert _snapshot(storage) == before


def test_refusal_messages_show_both_values(storage: Storage) -> None:
    funded(storage)
    assert "20000 Wh in interval" in storage.deposit(EVE, STORE, 20_001).log
    r = storage.redeem(EVE, STORE, 9_001)
    assert "has 9000 Wh of spendable credits" in r.log and "redeems 9001" in r.log
    r = storage.deposit(EVE, STORE, 13_000)  # reserve 11700 > 20000 - 9000
    assert "needs 11700 Wh of capacity" in r.log and "has 11000 Wh free" in r.log


# -- queries ----------------------------------------------------------------------------------


def test_queries(storage: Storage) -> None:
    s = storage
    fresh = s.state(STORE2)  # a storage that never took a deposit
    assert (fresh.storage, fresh.spec.capacity_wh, fresh.stored_wh) == (STORE2.address, 5_000, 0)
    listed = s.sq("Storages", storage_pb2.QueryStoragesRequest()).storages
    assert list(listed) == []
    funded(s)
    n = s.next_open()
    assert s.deposit(EVE, STORE2, 1_000, n).code == 0
    listed = s.sq("Storages", storage_pb2.QueryStoragesRequest()).storages
    assert sorted(x.storage for x in listed) == sorted(
        [STORE.address, STORE2.address], key=key_bytes
    )
    assert [x.storage for x in listed] == sorted([x.storage for x in listed], key=key_bytes)
    page = s.sq("Storages", storage_pb2.QueryStoragesRequest(limit=1))
    assert len(page.storages) == 1 and page.next_key
    assert s.state(STORE).spec.efficiency_ppm == 900_000
    assert [d.committed_wh for d in s.deposits(STORE2, 0)] == [1_000]
    assert [d.committed_wh for d in s.deposits(STORE2, n)] == [1_000]
    assert s.deposits(STORE2, n + 1) == []
    for method, request in (
        ("Storage", storage_pb2.QueryStorageRequest(storage=BOB.address)),
        ("Holders", storage_pb2.QueryHoldersRequest(storage=DAVE.address)),
        ("Deposits", storage_pb2.QueryDepositsRequest(storage="mg1bad")),
        ("Credits", storage_pb2.QueryCreditsRequest(holder="")),
    ):
        with pytest.raises(AssertionError, match="failed"):
            s.sq(method, request)


# -- the invariant checker --------------------------------------------------------------------


def _break_state(**fields: int) -> Callable[[CacheKV], None]:
    def breaker(kv: CacheKV) -> None:
        state = keeper.get_state(kv, key_bytes(STORE.address))
        assert state is not None
        for name, value in fields.items():
            setattr(state, name, value)
        kv.set(keeper.STATE + key_bytes(STORE.address), encode(state))

    return breaker


def _break_balance(wh: int, locked: int = 4_000) -> Callable[[CacheKV], None]:
    def breaker(kv: CacheKV) -> None:
        store, eve = key_bytes(STORE.address), key_bytes(EVE.address)
        balance = keeper.get_balance(kv, store, eve)
        assert balance is not None
        balance.wh, balance.locked_wh = wh, locked
        kv.set(keeper.BALANCE + store + eve, encode(balance))

    return breaker


def _break_deposit(kv: CacheKV) -> None:
    d = keeper.get_deposit(kv, 2)
    assert d is not None and not d.settled
    d.reserved_wh += 1
    kv.set(keeper.DEPOSIT + keeper.u64(2), encode(d))


def _break_redemption(kv: CacheKV) -> None:
    r = keeper.get_redemption(kv, 1)
    assert r is not None and not r.settled
    r.requested_wh -= 1
    kv.set(keeper.REDEMPTION + keeper.u64(1), encode(r))


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (_break_state(stored_wh=20_001, credits_wh=20_001), "stored 20001 Wh > capacity 20000"),
        (_break_state(stored_wh=19_000, credits_wh=9_000), r"stored 19000 \+ reserved 1800"),
        (_break_state(credits_wh=9_001), "credits 9001 Wh > stored 9000 Wh"),
        (_break_state(stored_wh=9_001), "stored_wh vs minted - redeemed: 9001 != 9000"),
        (_break_balance(0, 0), "a zero balance is stored"),
        (_break_balance(5_001), "credits_wh vs the balances: 9000 != 9001"),
        (_break_state(holders=2), "holders vs the balances: 2 != 1"),
        (_break_redemption, "locked_wh vs the unsettled redemptions: 4000 != 3999"),
        (_break_deposit, "reserved_wh vs the unsettled deposits: 1800 != 1801"),
    ],
)
def test_invariant_checker_catches(
    storage: Storage, breaker: Callable[[CacheKV], None], message: str
) -> None:
    """EVE holds 9000 Wh (4000 locked by a pending redemption) and a 2000 Wh deposit
    reserves 1800: the checker passes, and fails on each broken thing."""
    s = storage
    funded(s)
    assert s.redeem(EVE, STORE, 4_000).code == 0
    assert s.deposit(EVE, STORE, 2_000).code == 0
    kv = CacheKV(s.node.chain.block_kv)
    keeper.check_invariants(kv)
    breaker(kv)
    with pytest.raises(AssertionError, match=message):
        keeper.check_invariants(kv)


# -- genesis ----------------------------------------------------------------------------------


def test_genesis_has_nothing_to_configure(storage: Storage) -> None:
    ctx = Context(CacheKV(storage.node.chain.block_kv), 1, storage.node.time_ns, "c", Mode.DELIVER)
    genesis.init_genesis(ctx, {})
    with pytest.raises(GenesisError, match=r"storage: has no params.*\['credits'\]"):
        genesis.init_genesis(ctx, {"credits": []})


def test_genesis_section_refused_by_the_chain(make_market: Any) -> None:
    with pytest.raises(Exception, match="storage"):
        make_market({**storage_state(), "storage": {"params": {}}})
