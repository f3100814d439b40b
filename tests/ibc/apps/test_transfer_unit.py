"""ICS-20 on one chain: traces, escrow addresses, receive, send and refunds,
with the channel keeper's packet functions faked (conftest.FakeChannel)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from app import crypto
from app.context import Context
from app.crypto import PrivateKey
from app.errors import ABCIError
from app.modules.bank import keeper as bank
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.apps import APPS
from ibc.apps.transfer import keeper, msgs
from ibc.apps.transfer.app import TransferApp
from tests.app.market.conftest import ALICE, BOB, DENOM, FUNDS, Market
from tests.ibc.apps.conftest import COUNTERPARTY, FakeChannel, next_block

APP = TransferApp()
CP = ibc_pb2.ChannelCounterparty(port_id="transfer")


@pytest.mark.parametrize(
    ("denom", "path", "base"),
    [
        ("uatom", "", "uatom"),
        ("transfer/channel-0/uatom", "transfer/channel-0", "uatom"),
        (
            "transfer/channel-1/transfer/channel-2/uatom",
            "transfer/channel-1/transfer/channel-2",
            "uatom",
        ),
        ("transfer/channel-0/gamm/pool/1", "transfer/channel-0", "gamm/pool/1"),
        ("gamm/pool/1", "", "gamm/pool/1"),
        ("transfer/channel-0", "", "transfer/channel-0"),  # nothing left for a base: no path
        ("transfer/channelx-0/uatom", "", "transfer/channelx-0/uatom"),
    ],
)
def test_parse_trace_as_ibc_go(denom: str, path: str, base: str) -> None:
    trace = keeper.parse_trace(denom)
    assert (trace.path, trace.base_denom) == (path, base)
    assert keeper.full_path(trace) == denom


@pytest.mark.parametrize("denom", ["", "a//b", "transfer/channel-0/", "has space", "x" * 3000])
def test_parse_trace_rejects(denom: str) -> None:
    with pytest.raises(ABCIError):
        keeper.parse_trace(denom)


def test_voucher_denom_golden() -> None:
    # ATOM over transfer/channel-0, as every Cosmos chain names it.
    trace = keeper.parse_trace("transfer/channel-0/uatom")
    assert keeper.voucher_denom(trace) == (
        "ibc/27394FB092D2ECCD56123C74F36E4C1F926001CEADA9CA97EA622B25F41E5EB2"
    )
    assert keeper.voucher_denom(keeper.parse_trace("ugrid")) == "ugrid"
    assert keeper.parse_hash("ibc/27394fb092d2eccd56123c74f36e4c1f926001ceada9ca97ea622b25f41e5eb2")


def test_escrow_address_as_ibc_go_and_domain_separated() -> None:
    expected = hashlib.sha256(b"ics20-1\x00transfer/channel-0").digest()[:20]
    assert keeper.escrow_address("ics20-1", "transfer", "channel-0") == expected
    assert keeper.escrow_address("ics20-1", "transfer", "channel") != keeper.escrow_address(
        "ics20-1", "transfercha", "nnel"
    )
    assert keeper.channel_escrow("channel-0") != keeper.escrow_address(
        "mgrid-energy-1", "energy", "channel-0"
    )


def test_apps_bind_their_ports() -> None:
    assert [a.port_id for a in APPS] == ["transfer", "energy"]


def packet(
    data: transfer_pb2.FungibleTokenPacketData | bytes,
    *,
    src_channel: str = COUNTERPARTY,
    dst_channel: str = "channel-0",
    sequence: int = 1,
) -> ibc_pb2.Packet:
    raw = data if isinstance(data, bytes) else data.SerializeToString()
    return ibc_pb2.Packet(
        sequence=sequence,
        source_port="transfer",
        source_channel=src_channel,
        destination_port="transfer",
        destination_channel=dst_channel,
        data=raw,
        timeout_timestamp=10**19,
    )


def token(
    denom: str, amount: str = "100", receiver: str = ""
) -> transfer_pb2.FungibleTokenPacketData:
    return transfer_pb2.FungibleTokenPacketData(
        denom=denom, amount=amount, sender="someone-far", receiver=receiver or ALICE.address
    )


def test_recv_mints_a_voucher_and_stores_its_trace(grid: Market) -> None:
    ctx = next_block(grid.node)
    ack = APP.on_recv_packet(ctx, packet(token("uatom")), b"")
    assert ack.result == keeper.RESULT_ACK
    voucher = keeper.voucher_denom(keeper.parse_trace("transfer/channel-0/uatom"))
    assert bank.get_balance(ctx.kv, _addr(ALICE), voucher) == 100
    assert bank.get_supply(ctx.kv, voucher) == 100
    grid.node.commit_block()
    resp = grid.q("DenomTrace", transfer_pb2.QueryDenomTraceRequest(hash=voucher), transfer_pb2)
    assert resp.denom_trace == transfer_pb2.DenomTrace(
        path="transfer/channel-0", base_denom="uatom"
    )
    traces = grid.q("DenomTraces", transfer_pb2.QueryDenomTracesRequest(), transfer_pb2)
    assert len(traces.denom_traces) == 1


def _addr(k: PrivateKey) -> bytes:
    return crypto.decode_address(k.address)


def test_recv_coming_home_releases_escrow(grid: Market) -> None:
    ctx = next_block(grid.node)
    escrow = keeper.channel_escrow("channel-0")
    bank.send(ctx, _addr(BOB), escrow, [bank.Coin(DENOM, 500)])
    ack = APP.on_recv_packet(ctx, packet(token(f"transfer/{COUNTERPARTY}/{DENOM}", "300")), b"")
    assert ack.WhichOneof("response") == "result"
    assert bank.get_balance(ctx.kv, escrow, DENOM) == 200
    assert bank.get_balance(ctx.kv, _addr(ALICE), DENOM) == FUNDS + 300


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\xff\xff\xff", "invalid packet data"),
        (token("uatom", "0"), "invalid token amount"),
        (token("uatom", "-5"), "invalid token amount"),
        (token("uatom", "1e3"), "invalid token amount"),
        (token("uatom", receiver="mg1notanaddress"), "invalid receiver"),
        (token("a//b"), "invalid denomination"),
        # coming home, but nothing is in escrow
        (token(f"transfer/{COUNTERPARTY}/{DENOM}", "1"), "insufficient funds"),
        # coming home as a denom this chain has never had
        (token(f"transfer/{COUNTERPARTY}/unknown", "1"), "unknown denom"),
    ],
)
def test_recv_failure_is_an_error_ack_that_changes_nothing(
    grid: Market, data: transfer_pb2.FungibleTokenPacketData | bytes, fragment: str
) -> None:
    ctx = next_block(grid.node)
    before = dict(ctx.kv.writes)
    ack = APP.on_recv_packet(ctx, packet(data), b"")
    assert ack.WhichOneof("response") == "error"
    assert fragment in ack.error
    assert ack.error.startswith("transfer/") or ack.error.startswith("bank/")
    assert ctx.kv.writes == before


def transfer_msg(
    denom: str, amount: int = 100, channel: str = "channel-0"
) -> transfer_pb2.MsgTransfer:
    return transfer_pb2.MsgTransfer(
        source_port="transfer",
        source_channel=channel,
        token=coin_pb2.Coin(denom=denom, amount=str(amount)),
        receiver="mg1receiver-on-the-other-chain",
        timeout_timestamp=10**19,
    )


def test_send_native_escrows_and_error_ack_refunds(grid: Market, fake_channel: FakeChannel) -> None:
    result = grid.tx(ALICE, transfer=transfer_msg(DENOM, 1000))
    assert result.code == 0, result.log
    escrow = keeper.channel_escrow("channel-0")
    assert grid.balance(ALICE.address) == FUNDS - 1000
    assert bank.get_balance(grid.node.chain.block_kv, escrow, DENOM) == 1000
    [sent] = fake_channel.sent
    data = transfer_pb2.FungibleTokenPacketData.FromString(sent.data)
    assert (data.denom, data.amount, data.sender) == (DENOM, "1000", ALICE.address)
    ctx = next_block(grid.node)
    APP.on_acknowledgement_packet(ctx, sent, ibc_pb2.Acknowledgement(error="nope"), b"")
    grid.node.commit_block()
    assert grid.balance(ALICE.address) == FUNDS
    assert bank.get_balance(grid.node.chain.block_kv, escrow, DENOM) == 0


def test_send_voucher_home_burns_and_timeout_remints(
    grid: Market, fake_channel: FakeChannel
) -> None:
    ctx = next_block(grid.node)
    APP.on_recv_packet(ctx, packet(token("uatom", "500")), b"")
    grid.node.commit_block()
    voucher = keeper.voucher_denom(keeper.parse_trace("transfer/channel-0/uatom"))
    result = grid.tx(ALICE, transfer=transfer_msg(voucher, 200))
    assert result.code == 0, result.log
    kv = grid.node.chain.block_kv
    assert bank.get_supply(kv, voucher) == 300  # burned
    [sent] = fake_channel.sent
    assert transfer_pb2.FungibleTokenPacketData.FromString(sent.data).denom == (
        "transfer/channel-0/uatom"
    )
    ctx = next_block(grid.node)
    APP.on_timeout_packet(ctx, sent, b"")
    grid.node.commit_block()
    assert bank.get_supply(grid.node.chain.block_kv, voucher) == 500
    assert bank.get_balance(grid.node.chain.block_kv, _addr(ALICE), voucher) == 500


def test_success_ack_keeps_escrow(grid: Market, fake_channel: FakeChannel) -> None:
    assert grid.tx(ALICE, transfer=transfer_msg(DENOM, 10)).code == 0
    ctx = next_block(grid.node)
    APP.on_acknowledgement_packet(
        ctx, fake_channel.sent[0], ibc_pb2.Acknowledgement(result=b"\x01"), b""
    )
    assert bank.get_balance(ctx.kv, keeper.channel_escrow("channel-0"), DENOM) == 10


def test_send_unknown_voucher_or_too_much_fails(grid: Market, fake_channel: FakeChannel) -> None:
    r = grid.tx(ALICE, transfer=transfer_msg("ibc/" + "AB" * 32))
    assert (r.codespace, "denomination trace not found" in r.log) == ("transfer", True)
    r = grid.tx(ALICE, transfer=transfer_msg(DENOM, FUNDS + 1))
    assert r.codespace == "bank"
    assert not fake_channel.sent
    assert grid.balance(ALICE.address) == FUNDS


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"source_port": "energy"}, "invalid port"),
        ({"source_channel": "x"}, "invalid identifier"),
        ({"token": coin_pb2.Coin(denom=DENOM, amount="0")}, "invalid token amount"),
        ({"token": coin_pb2.Coin(denom="1bad", amount="5")}, "invalid coins"),
        ({"receiver": "  "}, "invalid receiver"),
        ({"timeout_timestamp": 0}, "invalid packet timeout"),
        ({"memo": "m" * 40_000}, "invalid memo"),
    ],
)
def test_validate_transfer(change: dict[str, object], fragment: str) -> None:
    msg = transfer_msg(DENOM)
    for name, value in change.items():
        if isinstance(value, coin_pb2.Coin):
            getattr(msg, name).CopyFrom(value)
        else:
            setattr(msg, name, value)
    with pytest.raises(ABCIError) as err:
        msgs.validate_transfer(msg)
    assert fragment in err.value.log


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (
            lambda ctx: APP.on_chan_open_init(ctx, ibc_pb2.ORDER_ORDERED, [], "channel-0", CP, ""),
            "ORDER_UNORDERED",
        ),
        (
            lambda ctx: APP.on_chan_open_init(
                ctx, ibc_pb2.ORDER_UNORDERED, [], "channel-0", CP, "ics20-2"
            ),
            "ics20-2",
        ),
        (
            lambda ctx: APP.on_chan_open_try(
                ctx, ibc_pb2.ORDER_UNORDERED, [], "channel-0", CP, "v2"
            ),
            "v2",
        ),
        (lambda ctx: APP.on_chan_open_ack(ctx, "channel-0", "channel-1", "x"), "'x'"),
        (lambda ctx: APP.on_chan_close_init(ctx, "channel-0"), "cannot be closed"),
    ],
)
def test_channel_handshake_refusals(
    grid: Market, call: Callable[[Context], object], fragment: str
) -> None:
    ctx = next_block(grid.node)
    with pytest.raises(ABCIError) as err:
        call(ctx)
    assert fragment in err.value.log


def test_channel_handshake_defaults_the_version(grid: Market) -> None:
    ctx = next_block(grid.node)
    cp = ibc_pb2.ChannelCounterparty(port_id="transfer")
    assert (
        APP.on_chan_open_init(ctx, ibc_pb2.ORDER_UNORDERED, ["connection-0"], "channel-0", cp, "")
        == "ics20-1"
    )
    assert (
        APP.on_chan_open_try(
            ctx, ibc_pb2.ORDER_UNORDERED, ["connection-0"], "channel-0", cp, "ics20-1"
        )
        == "ics20-1"
    )


def test_escrow_address_query(grid: Market) -> None:
    req = transfer_pb2.QueryEscrowAddressRequest(port_id="transfer", channel_id="channel-0")
    resp = grid.q("EscrowAddress", req, transfer_pb2)
    assert crypto.decode_address(resp.escrow_address) == keeper.channel_escrow("channel-0")
