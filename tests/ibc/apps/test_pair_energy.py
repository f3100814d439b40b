"""Inter-microgrid energy trades between two in-process chains with real light clients:
A's utility offers into B's market; B acknowledges when the interval clears."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.modules.market import keeper as market
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from ibc.apps.energy import keeper as energy
from tests.ibc.apps.pairs import (
    DENOM_A,
    DENOM_B,
    balance,
    escrowed,
    interval,
    linked_pair,
    offer_msg,
    place,
    schedule,
    supply,
    trade,
    transfer_msg,
    voucher,
    vouchers_outstanding,
)
from tests.support.ibcpair import FUNDS, IBCNode, IBCPair, address, key

SELL, BUY = market_pb2.SIDE_SELL, market_pb2.SIDE_BUY
UTILITY = key("utility")
FILLED = energy_pb2.OFFER_STATUS_FILLED


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[tuple[IBCPair, str, str]]:
    pair = linked_pair(tmp_path)
    ch_a, ch_b = pair.open_channel("energy", ibc_pb2.ORDER_UNORDERED, "mgrid-energy-1")
    yield pair, ch_a, ch_b
    pair.close()


def conserved(pair: IBCPair) -> None:
    """Across the two chains no coin was created or destroyed: each chain's vouchers of
    the other's coin equal that coin in the other's escrow accounts; native supplies
    never change; every chain's energy offers account backs its pending buys."""
    assert vouchers_outstanding(pair.a, DENOM_B) == escrowed(pair.b, DENOM_B)
    assert vouchers_outstanding(pair.b, DENOM_A) == escrowed(pair.a, DENOM_A)
    assert supply(pair.a, DENOM_A) == supply(pair.b, DENOM_B)
    for node in (pair.a, pair.b):
        energy.check_invariants(node.chain.block_kv)


def next_interval(node: IBCNode, ahead: int = 1) -> tuple[int, int, int]:
    """(n, start, gate) of an interval of ``node`` still open, ``ahead`` after the first."""
    n = schedule(node).first_open + ahead
    record = interval(node, n)
    return n, record.start_time, record.gate_closure_time


def clear(pair: IBCPair, node: IBCNode, gate: int) -> None:
    pair.advance(max(0, gate - node.block_time))
    assert node.block_time >= gate


def sell_into_b(pair: IBCPair, ch_a: str, quantity: int = 2000, bought: int = 1500) -> int:
    """A sells ``quantity`` Wh into B's market where bob buys ``bought``; returns the
    proceeds (vouchers minted on A)."""
    n, start, gate = next_interval(pair.b)
    r = pair.submit(
        pair.a, offer_msg(ch_a, SELL, start, quantity, 150, denom=DENOM_B), signer=UTILITY
    )
    assert r.code == 0, r.log
    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (1, 0)  # acknowledged at clearing
    msg, bob = place(pair.b, "bob", "buy", n, bought, 250)
    assert pair.submit(pair.b, msg, signer=bob).code == 0
    clear(pair, pair.b, gate)
    assert pair.relay_packets().acknowledged == 1
    return int(interval(pair.b, n).clearing_price) * bought // 1000


def test_sell_filled_partly_and_both_chains_record_it(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    proceeds = sell_into_b(pair, ch_a)
    assert proceeds > 0
    v = voucher(ch_a, DENOM_B, port="energy")
    assert balance(pair.a, "utility", v) == proceeds
    assert balance(pair.b, energy.channel_escrow(ch_b), DENOM_B) == proceeds
    mine, theirs = trade(pair.a, ch_a, 1, True), trade(pair.b, ch_b, 1, False)
    assert mine.status == theirs.status == FILLED
    assert mine.result == theirs.result
    assert (mine.result.filled_wh, mine.result.amount) == (1500, str(proceeds))
    # bob paid the energy (+ fee) on B; the neighbour's proceeds back A's vouchers
    assert balance(pair.b, "bob", DENOM_B) < FUNDS - proceeds
    conserved(pair)


def test_buy_funded_by_vouchers(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    proceeds = sell_into_b(pair, ch_a)
    v = voucher(ch_a, DENOM_B, port="energy")
    n, start, gate = next_interval(pair.b)
    need = market.buyer_escrow(400, 250, market.get_params(pair.b.chain.block_kv)[1])
    assert need <= proceeds
    pay = coin_pb2.Coin(denom=v, amount=str(proceeds))
    r = pair.submit(pair.a, offer_msg(ch_a, BUY, start, 400, 250, max_payment=pay), signer=UTILITY)
    assert r.code == 0, r.log
    assert balance(pair.a, energy.OFFERS, v) == proceeds
    pair.relay_packets()
    msg, alice = place(pair.b, "alice", "sell", n, 300, 120)
    assert pair.submit(pair.b, msg, signer=alice).code == 0
    clear(pair, pair.b, gate)
    pair.relay_packets()
    mine = trade(pair.a, ch_a, 2, True)
    assert mine.status == FILLED and mine.result.filled_wh == 300
    spent = int(mine.result.amount)
    assert 0 < spent <= need
    assert balance(pair.a, "utility", v) == proceeds - spent
    assert balance(pair.a, energy.OFFERS, v) == 0
    assert balance(pair.b, energy.channel_escrow(ch_b), DENOM_B) == proceeds - spent
    conserved(pair)


def test_offer_after_gate_closure_is_refused_and_released(
    linked: tuple[IBCPair, str, str],
) -> None:
    pair, ch_a, ch_b = linked
    proceeds = sell_into_b(pair, ch_a)
    v = voucher(ch_a, DENOM_B, port="energy")
    _, start, gate = next_interval(pair.b, ahead=0)
    pay = coin_pb2.Coin(denom=v, amount=str(proceeds))
    r = pair.submit(pair.a, offer_msg(ch_a, BUY, start, 400, 250, max_payment=pay), signer=UTILITY)
    assert r.code == 0, r.log
    pair.advance(max(0, gate - pair.b.block_time) + 1)  # the gate closes before the relay
    assert pair.relay_packets().acknowledged == 1
    mine = trade(pair.a, ch_a, 2, True)
    assert mine.status == energy_pb2.OFFER_STATUS_REFUSED and "interval closed" in mine.error
    assert balance(pair.a, "utility", v) == proceeds
    with pytest.raises(AssertionError, match="not found"):
        trade(pair.b, ch_b, 2, False)  # the receiver changed nothing
    conserved(pair)


def test_timeout_releases_everything(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, _ = linked
    proceeds = sell_into_b(pair, ch_a)
    v = voucher(ch_a, DENOM_B, port="energy")
    _, start, _ = next_interval(pair.b, ahead=2)
    pay = coin_pb2.Coin(denom=v, amount=str(proceeds))
    deadline = pair.b.time_ns + 3 * 10**9
    msg = offer_msg(ch_a, BUY, start, 400, 250, max_payment=pay, timeout_timestamp=deadline)
    assert pair.submit(pair.a, msg, signer=UTILITY).code == 0
    pair.advance(5)
    [late] = pair.relay_packets().timed_out
    assert pair.timeout_packet(pair.a, late).code == 0
    assert trade(pair.a, ch_a, 2, True).status == energy_pb2.OFFER_STATUS_TIMED_OUT
    assert balance(pair.a, "utility", v) == proceeds
    conserved(pair)


def test_conservation_across_transfers_trades_refunds_and_timeouts(
    linked: tuple[IBCPair, str, str],
) -> None:
    pair, ch_a, _ = linked
    t_a, t_b = pair.open_channel("transfer", ibc_pb2.ORDER_UNORDERED, "ics20-1")
    proceeds = sell_into_b(pair, ch_a)
    conserved(pair)
    # transfers both ways, one refused by the receiver, one timing out
    pair.submit(pair.a, transfer_msg(t_a, DENOM_A, 900, address("bob")), signer=key("alice"))
    pair.submit(pair.b, transfer_msg(t_b, DENOM_B, 800, address("alice")), signer=key("bob"))
    pair.submit(pair.a, transfer_msg(t_a, DENOM_A, 50, "bad-receiver"), signer=key("alice"))
    deadline = pair.a.time_ns + 2 * 10**9
    late_msg = transfer_msg(t_b, DENOM_B, 70, address("alice"), timeout_timestamp=deadline)
    pair.submit(pair.b, late_msg, signer=key("carol"))
    pair.advance(4)
    relayed = pair.relay_packets()
    [late] = relayed.timed_out  # carol's, sent from B
    assert pair.timeout_packet(pair.b, late).code == 0
    assert balance(pair.b, "carol", DENOM_B) == FUNDS
    assert balance(pair.a, "alice", DENOM_A) == FUNDS - 900
    conserved(pair)
    # the energy vouchers travel over transfer too, and come back
    v = voucher(ch_a, DENOM_B, port="energy")
    pair.submit(pair.a, transfer_msg(t_a, v, proceeds // 2, address("bob")), signer=UTILITY)
    pair.relay_packets()
    conserved(pair)
    # a buy with the remaining vouchers, partly spent
    n, start, gate = next_interval(pair.b)
    rest = balance(pair.a, "utility", v)
    pay = coin_pb2.Coin(denom=v, amount=str(rest))
    assert (
        pair.submit(
            pair.a, offer_msg(ch_a, BUY, start, 200, 250, max_payment=pay), signer=UTILITY
        ).code
        == 0
    )
    pair.relay_packets()
    msg, alice = place(pair.b, "alice", "sell", n, 100, 120)
    pair.submit(pair.b, msg, signer=alice)
    clear(pair, pair.b, gate)
    pair.relay_packets()
    assert trade(pair.a, ch_a, 2, True).status == FILLED
    conserved(pair)


def test_energy_channel_close_refused(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, _ = linked
    msg = ibc_pb2.MsgChannelCloseInit(port_id="energy", channel_id=ch_a)
    r = pair.submit(pair.a, ("channel_close_init", msg), signer=UTILITY)
    assert r.codespace == "energy" and "cannot be closed" in r.log


def test_offer_relayed_twice_enters_the_market_once(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    n, start, _ = next_interval(pair.b)
    msg = offer_msg(ch_a, SELL, start, 1000, 150, denom=DENOM_B)
    assert pair.submit(pair.a, msg, signer=UTILITY).code == 0
    sent, _ = pair.pending(pair.a)
    pair.step()
    recv = pair.recv_msg(pair.a, sent[0])
    pair._relay_tx(pair.a, pair.b, recv, what="recv")
    assert pair._relay_tx(pair.a, pair.b, recv, what="recv again").code == 0
    kv = pair.b.chain.block_kv
    assert [o.external_ref for o in market.orders_of_interval(kv, n)] == [f"energy/{ch_b}/1"]
