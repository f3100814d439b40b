"""Renewable energy certificates over ICS-20 between two in-process microgrids with
real light clients (tests/support/ibcpair.py): issued on A through the keeper's
issuance path, sent to B, partly retired there, the rest sent home. The class
(generator, technology, period) travels unchanged in the denom trace; B names
A as the origin; back on A the original denom returns, native again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app import crypto
from app.context import Context
from app.modules.certificates import keeper as certificates
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.apps.transfer import keeper as transfer
from tests.ibc.apps.pairs import (
    DENOM_A,
    balance,
    linked_pair,
    schedule,
    supply,
    transfer_msg,
    voucher,
)
from tests.support.ibcpair import IBCNode, IBCPair, address, key

WH = 1_000_000  # the default: one certificate per MWh


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[tuple[IBCPair, str, str]]:
    pair = linked_pair(tmp_path)
    ch_a, ch_b = pair.open_channel("transfer", ibc_pb2.ORDER_UNORDERED, "ics20-1")
    yield pair, ch_a, ch_b
    pair.close()


def issue(pair: IBCPair, who: str, technology: str, n: int, wh: int) -> cert_pb2.Issuance:
    """Count ``wh`` of interval n for ``who`` on A in the next block, as settlement's
    end of block would; returns the issuance."""
    out: list[cert_pb2.Issuance | None] = []

    def run(ctx: Context) -> None:
        out.append(
            certificates.count_export(ctx, crypto.decode_address(address(who)), technology, n, wh)
        )

    pair.a.in_next_block(run)
    pair.step()
    [issuance] = out
    assert issuance is not None
    return issuance


def cq(node: IBCNode, method: str, request: object) -> object:
    return node.query(cert_pb2.DESCRIPTOR, method, request)


def holdings(node: IBCNode, who: str) -> cert_pb2.QueryHoldingsResponse:
    resp = cq(node, "Holdings", cert_pb2.QueryHoldingsRequest(owner=address(who)))
    assert isinstance(resp, cert_pb2.QueryHoldingsResponse)
    return resp


def test_round_trip_keeps_the_origin(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    n = schedule(pair.a).first_open
    issuance = issue(pair, "alice", "solar", n, 3 * WH + 250_000)
    denom = issuance.denom
    assert issuance.count == 3 and denom.startswith(f"rec/solar/{address('alice')}/")
    # ICS-20 keeps the whole class as the base denom: the technology is never a channel.
    assert transfer.parse_trace(f"transfer/{ch_b}/{denom}").base_denom == denom
    cls = certificates.parse_class(denom)
    [native] = holdings(pair.a, "alice").holdings
    assert (native.origin.microgrid, native.origin.path) == ("mg-a", "")

    # A -> B: escrowed on A, a voucher minted on B.
    r = pair.submit(pair.a, transfer_msg(ch_a, denom, 3, address("bob")), signer=key("alice"))
    assert r.code == 0, r.log
    assert pair.relay_packets().received == 1
    v = voucher(ch_b, denom)
    assert balance(pair.b, "bob", v) == 3
    assert balance(pair.a, transfer.channel_escrow(ch_a), denom) == 3
    assert supply(pair.a, denom) == 3  # still issued, still supply: in escrow
    [held] = holdings(pair.b, "bob").holdings
    assert (held.denom, held.count) == (v, 3)
    o = held.origin
    assert (o.microgrid, o.path, o.base_denom) == ("mg-a", f"transfer/{ch_b}", denom)
    assert (
        (o.generator, o.technology)
        == (cls.generator, cls.technology)
        == (
            address("alice"),
            "solar",
        )
    )
    assert (o.period_start, o.period_end) == (issuance.period_start, issuance.period_end)
    origin = cq(pair.b, "Origin", cert_pb2.QueryOriginRequest(denom=v))
    assert isinstance(origin, cert_pb2.QueryOriginResponse)
    assert origin.origin == o and origin.supply.amount == "3"

    # Retired on B: the voucher is burned there, and the retirement names A as origin.
    retire = cert_pb2.MsgRetire(denom=v, count=1, beneficiary="school of mg-b", reason="2025")
    r = pair.submit(pair.b, ("retire_certificates", retire), signer=key("bob"))
    assert r.code == 0, r.log
    resp = cq(pair.b, "Retirements", cert_pb2.QueryRetirementsRequest(owner=address("bob")))
    assert isinstance(resp, cert_pb2.QueryRetirementsResponse)
    [record] = resp.retirements
    assert (record.denom, record.count, record.beneficiary) == (v, 1, "school of mg-b")
    assert record.origin == o
    assert supply(pair.b, v) == 2 and holdings(pair.b, "bob").total == 2
    # The lowercase spelling of the voucher names the same coins.
    lower = "ibc/" + v.removeprefix("ibc/").lower()
    retire = cert_pb2.MsgRetire(denom=lower, count=3, beneficiary="too many")
    r = pair.submit(pair.b, ("retire_certificates", retire), signer=key("bob"))
    assert (r.codespace, r.code) == ("bank", 2) and "has 2" in r.log

    # The rest goes home: burned on B, released from escrow on A as the native class.
    r = pair.submit(pair.b, transfer_msg(ch_b, v, 2, address("carol")), signer=key("bob"))
    assert r.code == 0, r.log
    pair.relay_packets()
    assert supply(pair.b, v) == 0 and holdings(pair.b, "bob").total == 0
    [home] = holdings(pair.a, "carol").holdings
    assert (home.denom, home.count) == (denom, 2)
    assert (home.origin.microgrid, home.origin.path, home.origin.base_denom) == ("mg-a", "", denom)
    # On A the class is still 3 issued, none retired here: 2 with carol, and the one
    # retired on B stays locked in the escrow that backed its voucher.
    assert supply(pair.a, denom) == 3 == certificates.issued_of(pair.a.chain.block_kv, denom)
    assert balance(pair.a, transfer.channel_escrow(ch_a), denom) == 1
    retired_b = certificates.retired_of(pair.b.chain.block_kv, v)
    assert balance(pair.a, transfer.channel_escrow(ch_a), denom) == supply(pair.b, v) + retired_b
    # Carol retires one at home: a native retirement.
    retire = cert_pb2.MsgRetire(denom=denom, count=1, beneficiary="carol")
    r = pair.submit(pair.a, ("retire_certificates", retire), signer=key("carol"))
    assert r.code == 0, r.log
    assert supply(pair.a, denom) == 2 and certificates.retired_of(pair.a.chain.block_kv, denom) == 1


def test_vouchers_of_other_coins_are_not_certificates(linked: tuple[IBCPair, str, str]) -> None:
    pair, ch_a, ch_b = linked
    r = pair.submit(pair.a, transfer_msg(ch_a, DENOM_A, 50, address("bob")), signer=key("alice"))
    assert r.code == 0, r.log
    pair.relay_packets()
    v = voucher(ch_b, DENOM_A)
    assert balance(pair.b, "bob", v) == 50
    assert holdings(pair.b, "bob").total == 0  # ugrida vouchers are not certificates
    retire = cert_pb2.MsgRetire(denom=v, count=1, beneficiary="x")
    r = pair.submit(pair.b, ("retire_certificates", retire), signer=key("bob"))
    assert (r.codespace, r.code) == ("certificates", 3), r.log
    assert "not of a certificate" in r.log and balance(pair.b, "bob", v) == 50
