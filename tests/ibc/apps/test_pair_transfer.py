"""ICS-20 between two in-process chains with real light clients (tests/support/ibcpair.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.apps.transfer import keeper as transfer
from tests.ibc.apps.pairs import (
    DENOM_A,
    DENOM_B,
    balance,
    escrowed,
    linked_pair,
    supply,
    transfer_msg,
    voucher,
    vouchers_outstanding,
)
from tests.support.ibcpair import FUNDS, IBCPair, TxFailed, address, key


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[tuple[IBCPair, str, str]]:
    pair = linked_pair(tmp_path)
    ch_a, ch_b = pair.open_channel("transfer", ibc_pb2.ORDER_UNORDERED, "ics20-1")
    yield pair, ch_a, ch_b
    pair.close()


def conserved(pair: IBCPair) -> None:
    """Vouchers of each chain's coin on the other == that coin in the first's escrows;
    native supplies unchanged."""
    assert vouchers_outstanding(pair.b, DENOM_A) == escrowed(pair.a, DENOM_A)
    assert vouchers_outstanding(pair.a, DENOM_B) == escrowed(pair.b, DENOM_B)
    assert supply(pair.a, DENOM_A) == supply(pair.b, DENOM_B)  # both genesis alike


def test_there_and_back(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    total = supply(pair.a, DENOM_A)
    r = pair.submit(pair.a, transfer_msg(ch_a, DENOM_A, 1000, address("bob")), signer=key("alice"))
    assert r.code == 0, r.log
    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (1, 1)
    v = voucher(ch_b, DENOM_A)
    assert balance(pair.b, "bob", v) == 1000
    assert balance(pair.a, "alice", DENOM_A) == FUNDS - 1000
    assert balance(pair.a, transfer.channel_escrow(ch_a), DENOM_A) == 1000
    conserved(pair)
    # Back home: burned on B, released from escrow on A.
    r = pair.submit(pair.b, transfer_msg(ch_b, v, 400, address("carol")), signer=key("bob"))
    assert r.code == 0, r.log
    pair.relay_packets()
    assert balance(pair.b, "bob", v) == 600 and supply(pair.b, v) == 600
    assert balance(pair.a, "carol", DENOM_A) == FUNDS + 400
    assert balance(pair.a, transfer.channel_escrow(ch_a), DENOM_A) == 600
    assert supply(pair.a, DENOM_A) == total
    conserved(pair)


def test_timeout_refunds(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, _ = linked
    deadline = pair.b.time_ns + 3 * 10**9
    msg = transfer_msg(ch_a, DENOM_A, 700, address("bob"), timeout_timestamp=deadline)
    assert pair.submit(pair.a, msg, signer=key("alice")).code == 0
    assert balance(pair.a, "alice", DENOM_A) == FUNDS - 700
    pair.advance(5)
    relayed = pair.relay_packets()
    [late] = relayed.timed_out
    assert relayed.received == 0
    r = pair.timeout_packet(pair.a, late)
    assert r.code == 0, r.log
    assert balance(pair.a, "alice", DENOM_A) == FUNDS
    assert balance(pair.a, transfer.channel_escrow(ch_a), DENOM_A) == 0
    conserved(pair)


def test_error_ack_refunds_and_changes_nothing_on_the_receiver(
    linked: tuple[IBCPair, str, str],
) -> None:
    pair, ch_a, ch_b = linked
    msg = transfer_msg(ch_a, DENOM_A, 500, "mg1notanaddressatall")
    assert pair.submit(pair.a, msg, signer=key("alice")).code == 0
    assert pair.relay_packets().acknowledged == 1
    assert balance(pair.a, "alice", DENOM_A) == FUNDS
    assert supply(pair.b, voucher(ch_b, DENOM_A)) == 0
    assert not list(transfer.traces(pair.b.chain.block_kv))
    conserved(pair)


def test_voucher_refund_on_the_way_home(linked: tuple[IBCPair, str, str]) -> None:
    """A voucher sent home and refused there is minted again for its sender."""
    pair, ch_a, ch_b = linked
    pair.submit(pair.a, transfer_msg(ch_a, DENOM_A, 300, address("bob")), signer=key("alice"))
    pair.relay_packets()
    v = voucher(ch_b, DENOM_A)
    msg = transfer_msg(ch_b, v, 100, "not-an-address")
    assert pair.submit(pair.b, msg, signer=key("bob")).code == 0
    assert supply(pair.b, v) == 200
    pair.relay_packets()
    assert balance(pair.b, "bob", v) == 300 and supply(pair.b, v) == 300
    conserved(pair)


def test_double_relay_is_a_noop(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    pair.submit(pair.a, transfer_msg(ch_a, DENOM_A, 250, address("bob")), signer=key("alice"))
    sent, _ = pair.pending(pair.a)
    pair.step()
    recv = pair.recv_msg(pair.a, sent[0])
    pair._relay_tx(pair.a, pair.b, recv, what="recv")
    r = pair._relay_tx(pair.a, pair.b, recv, what="recv again")
    assert r.code == 0
    assert balance(pair.b, "bob", voucher(ch_b, DENOM_A)) == 250
    pair.relay_packets()  # the acknowledgement
    conserved(pair)


def test_both_directions_at_once(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    pair.submit(pair.a, transfer_msg(ch_a, DENOM_A, 10, address("bob")), signer=key("alice"))
    pair.submit(pair.b, transfer_msg(ch_b, DENOM_B, 20, address("alice")), signer=key("bob"))
    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (2, 2)
    assert balance(pair.a, "alice", voucher(ch_a, DENOM_B)) == 20
    assert balance(pair.b, "bob", voucher(ch_b, DENOM_A)) == 10
    conserved(pair)


def test_transfer_channels_cannot_close(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, _ = linked
    msg = ibc_pb2.MsgChannelCloseInit(port_id="transfer", channel_id=ch_a)
    r = pair.submit(pair.a, ("channel_close_init", msg))
    assert r.codespace == "transfer" and "cannot be closed" in r.log


def test_ordered_or_wrong_version_channels_refused(tmp_path: Path) -> None:
    pair = linked_pair(tmp_path)
    try:
        with pytest.raises(TxFailed, match="ORDER_UNORDERED"):
            pair.open_channel("transfer", ibc_pb2.ORDER_ORDERED, "ics20-1")
        with pytest.raises(TxFailed, match="ics20-2"):
            pair.open_channel("transfer", ibc_pb2.ORDER_UNORDERED, "ics20-2")
    finally:
        pair.close()
