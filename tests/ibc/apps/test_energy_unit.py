"""The energy application on one chain: offers received into the market as
external orders, acknowledged at clearing; offers sent, and their vouchers
settled on acknowledgement or timeout. The channel keeper's packet functions
are faked (conftest.FakeChannel)."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.coins import Coin
from app.errors import ABCIError
from app.modules.bank import keeper as bank
from app.modules.market import keeper as market
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from ibc.apps.energy import keeper, msgs
from ibc.apps.energy.app import EnergyApp
from ibc.apps.transfer import keeper as transfer
from tests.app.market.conftest import BOB, CAROL, DENOM, UTILITY, Market, app_state
from tests.ibc.apps.conftest import COUNTERPARTY, FakeChannel, next_block

APP = EnergyApp()
BUY, SELL = market_pb2.SIDE_BUY, market_pb2.SIDE_SELL
ESCROW0 = keeper.channel_escrow("channel-0")
BACKING = 100_000


def funded_state(**energy: Any) -> dict[str, Any]:
    """The market microgrid with channel-0's energy escrow holding BACKING (coins that
    back the counterparty's vouchers) and optional energy params."""
    state = app_state()
    state["bank"]["balances"].append(
        {
            "address": crypto.encode_address(ESCROW0),
            "coins": [{"denom": DENOM, "amount": str(BACKING)}],
        }
    )
    if energy:
        state["energy"] = {"params": energy}
    return state


def offer_data(
    side: int, start: int, quantity_wh: int = 2000, price: int = 150, **kw: Any
) -> energy_pb2.EnergyOfferPacketData:
    return energy_pb2.EnergyOfferPacketData(
        offerer=kw.pop("offerer", "mg1offerer-far-away"),
        side=side,  # type: ignore[arg-type]
        delivery_start=start,
        quantity_wh=quantity_wh,
        limit_price=price,
        denom=kw.pop("denom", DENOM),
        max_payment=kw.pop("max_payment", "0"),
    )


def offer_packet(
    data: energy_pb2.EnergyOfferPacketData | bytes, sequence: int = 1
) -> ibc_pb2.Packet:
    raw = data if isinstance(data, bytes) else data.SerializeToString()
    return ibc_pb2.Packet(
        sequence=sequence,
        source_port="energy",
        source_channel=COUNTERPARTY,
        destination_port="energy",
        destination_channel="channel-0",
        data=raw,
        timeout_timestamp=10**19,
    )


def receive(grid: Market, data: Any, sequence: int = 1) -> ibc_pb2.Acknowledgement | None:
    """Deliver an offer packet in the next block (committed)."""
    ctx = next_block(grid.node)
    ack = APP.on_recv_packet(ctx, offer_packet(data, sequence), b"")
    if ack is not None:  # the channel keeper discards an error ack's writes
        grid.node.chain.block_kv.writes.clear()
    grid.node.commit_block()
    return ack


def open_interval(grid: Market) -> tuple[int, int]:
    n = grid.schedule().first_open
    return n, grid.interval(n).start_time


def trade(grid: Market, outgoing: bool, sequence: int = 1, channel: str = "channel-0") -> Any:
    req = energy_pb2.QueryTradeRequest(channel_id=channel, sequence=sequence, outgoing=outgoing)
    return grid.q("Trade", req, energy_pb2).trade


def escrow_balance(grid: Market) -> int:
    return grid.balance(crypto.encode_address(ESCROW0))


# ---------------------------------------------------------------------------
# Receiving chain


def test_sell_offer_filled_partly_at_the_clearing_price(
    make_grid: Any, fake_channel: FakeChannel
) -> None:
    grid = make_grid(funded_state())
    n, start = open_interval(grid)
    assert receive(grid, offer_data(SELL, start, 2000, 150)) is None  # async ack
    [order] = [o for o in market.orders_of_interval(grid.node.chain.block_kv, n)]
    assert (order.external, order.external_ref, order.bus) == (True, "energy/channel-0/1", "pcc")
    assert (order.collateral, order.escrow) == ("0", "0")
    assert trade(grid, False).status == energy_pb2.OFFER_STATUS_PENDING
    assert grid.place(BOB, "buy", 1500, 250).code == 0
    record = grid.clear(n)
    [(packet, ack)] = fake_channel.acks
    assert packet.sequence == 1 and packet.destination_channel == "channel-0"
    result = energy_pb2.EnergyOfferResult.FromString(ack.result)
    order = grid.order(order.id)
    assert result.filled_wh == order.matched_wh == 1500
    assert result.price == record.clearing_price
    assert result.amount == order.received == str(1500 * record.clearing_price // 1000)
    assert order.held == "0"  # paid out at clearing
    assert escrow_balance(grid) == BACKING + int(result.amount)
    recorded = trade(grid, False)
    assert recorded.status == energy_pb2.OFFER_STATUS_FILLED and recorded.result == result
    # Settlement: the neighbour's energy is the connection point's exchange, not a participant's.
    out = grid.settle(n)
    assert (out.inter_import_wh, out.inter_export_wh) == (1500, 0)
    assert out.kpis.pcc_import_wh == 0  # BOB's 1500 Wh came from the neighbour
    assert out.participants == 1
    rows = grid.q(
        "Settlements", settlement_pb2.QuerySettlementsRequest(interval=n), settlement_pb2
    ).settlements
    assert [r.participant for r in rows] == [BOB.address]
    totals = grid.q("Kpis", settlement_pb2.QueryKpisRequest(), settlement_pb2).totals
    assert totals.inter_import_wh == 1500


def test_buy_offer_spends_from_the_channel_escrow(
    make_grid: Any, fake_channel: FakeChannel
) -> None:
    grid = make_grid(funded_state())
    n, start = open_interval(grid)
    assert receive(grid, offer_data(BUY, start, 1000, 250, max_payment=str(BACKING))) is None
    assert grid.place(CAROL, "sell", 600, 120).code == 0
    grid.clear(n)
    [(_, ack)] = fake_channel.acks
    result = energy_pb2.EnergyOfferResult.FromString(ack.result)
    [order] = [o for o in market.orders_of_interval(grid.node.chain.block_kv, n) if o.external]
    assert result.filled_wh == 600 and result.amount == order.paid
    assert int(order.paid) > 0
    assert escrow_balance(grid) == BACKING - int(order.paid)
    out = grid.settle(n)
    assert (out.inter_import_wh, out.inter_export_wh) == (0, 600)


def test_unfilled_offer_is_acknowledged_with_nothing(
    make_grid: Any, fake_channel: FakeChannel
) -> None:
    grid = make_grid(funded_state())
    n, start = open_interval(grid)
    receive(grid, offer_data(BUY, start, 1000, 250, max_payment=str(BACKING)))
    grid.clear(n)
    result = energy_pb2.EnergyOfferResult.FromString(fake_channel.acks[0][1].result)
    assert (result.filled_wh, result.price, result.amount) == (0, 0, "0")
    assert escrow_balance(grid) == BACKING


def _refusals() -> list[tuple[str, Any, str]]:
    return [
        ("denom", lambda s: offer_data(SELL, s, denom="uother"), "wrong denom"),
        ("not a start", lambda s: offer_data(SELL, s + 1), "not a delivery interval"),
        ("gate closed", lambda s: offer_data(SELL, s - 60), "interval closed"),
        ("too far", lambda s: offer_data(SELL, s + 60 * 100), "too far ahead"),
        ("price", lambda s: offer_data(SELL, s, price=10_000), "price out of bounds"),
        ("small", lambda s: offer_data(SELL, s, quantity_wh=1), "invalid quantity"),
        ("zero", lambda s: offer_data(SELL, s, quantity_wh=0), "invalid energy offer"),
        ("side", lambda s: offer_data(0, s), "invalid energy offer"),
        ("sell pays", lambda s: offer_data(SELL, s, max_payment="5"), "invalid energy offer"),
        ("buy free", lambda s: offer_data(BUY, s), "invalid energy offer"),
        ("garbage", lambda s: b"\xff\x01", "invalid packet data"),
        (
            "backing",
            lambda s: offer_data(BUY, s, max_payment=str(BACKING + 1)),
            "insufficient backing",
        ),
        (
            "budget",
            lambda s: offer_data(BUY, s, 1000, 250, max_payment="10"),
            "insufficient funds for escrow",
        ),
    ]


@pytest.mark.parametrize(
    ("data", "fragment"), [(d, f) for _, d, f in _refusals()], ids=[i for i, _, _ in _refusals()]
)
def test_refused_offer_is_an_error_ack_that_changes_nothing(
    make_grid: Any, fake_channel: FakeChannel, data: Any, fragment: str
) -> None:
    grid = make_grid(funded_state())
    _, start = open_interval(grid)
    ctx = next_block(grid.node)
    before = dict(ctx.kv.writes)
    ack = APP.on_recv_packet(ctx, offer_packet(data(start)), b"")
    assert ack is not None and ack.WhichOneof("response") == "error"
    assert fragment in ack.error, ack.error
    assert ctx.kv.writes == before


def test_open_offers_per_channel_are_limited(make_grid: Any, fake_channel: FakeChannel) -> None:
    grid = make_grid(funded_state(max_open_offers=1))
    _, start = open_interval(grid)
    assert receive(grid, offer_data(SELL, start), 1) is None
    ack = receive(grid, offer_data(SELL, start), 2)
    assert ack is not None and "too many open offers" in ack.error


def test_genesis_bus_must_exist(make_grid: Any) -> None:
    with pytest.raises(ValueError, match="not in the network"):
        make_grid(funded_state(bus="nowhere"))


def test_offers_enter_at_the_configured_bus(make_grid: Any, fake_channel: FakeChannel) -> None:
    grid = make_grid(funded_state(bus="b2"))
    n, start = open_interval(grid)
    receive(grid, offer_data(SELL, start))
    [order] = list(market.orders_of_interval(grid.node.chain.block_kv, n))
    assert order.bus == "b2"


# ---------------------------------------------------------------------------
# Offering chain


def offer_msg(side: int, **kw: Any) -> energy_pb2.MsgOfferEnergy:
    msg = energy_pb2.MsgOfferEnergy(
        source_channel=kw.pop("channel", "channel-0"),
        side=side,  # type: ignore[arg-type]
        delivery_start=kw.pop("delivery_start", 1_700_003_600),
        quantity_wh=kw.pop("quantity_wh", 1000),
        limit_price=kw.pop("limit_price", 200),
        timeout_timestamp=kw.pop("timeout_timestamp", 10**19),
        denom=kw.pop("denom", "ufar"),
    )
    if "max_payment" in kw:
        msg.max_payment.CopyFrom(kw.pop("max_payment"))
    assert not kw
    return msg


VOUCHER = transfer.voucher_denom(keeper.voucher_trace("channel-0", "ufar"))


def acknowledge(grid: Market, packet: ibc_pb2.Packet, ack: ibc_pb2.Acknowledgement) -> None:
    ctx = next_block(grid.node)
    APP.on_acknowledgement_packet(ctx, packet, ack, b"")
    grid.node.commit_block()


def result_ack(filled_wh: int, amount: int, price: int = 200) -> ibc_pb2.Acknowledgement:
    result = energy_pb2.EnergyOfferResult(
        interval=7, order_id=3, filled_wh=filled_wh, price=price, amount=str(amount)
    )
    return ibc_pb2.Acknowledgement(result=result.SerializeToString())


def vouchers(grid: Market, address: bytes = b"") -> int:
    kv = grid.node.chain.block_kv
    return bank.get_balance(kv, address or crypto.decode_address(UTILITY.address), VOUCHER)


def sell_for_vouchers(grid: Market, fake: FakeChannel, amount: int) -> None:
    """A sell offer acknowledged with ``amount``: the utility holds that many vouchers."""
    r = grid.tx(UTILITY, offer_energy=offer_msg(SELL))
    assert r.code == 0, r.log
    acknowledge(grid, fake.sent[-1], result_ack(1000, amount))


def test_sell_ack_mints_vouchers_with_a_resolvable_trace(
    grid: Market, fake_channel: FakeChannel
) -> None:
    r = grid.tx(UTILITY, offer_energy=offer_msg(SELL))
    assert r.code == 0, r.log
    [sent] = fake_channel.sent
    data = energy_pb2.EnergyOfferPacketData.FromString(sent.data)
    assert (data.offerer, data.denom, data.max_payment) == (UTILITY.address, "ufar", "0")
    assert sent.timeout_height == 0 and sent.timeout_timestamp == 10**19
    assert trade(grid, True).status == energy_pb2.OFFER_STATUS_PENDING
    acknowledge(grid, sent, result_ack(1000, 300))
    assert vouchers(grid) == 300
    t = trade(grid, True)
    assert t.status == energy_pb2.OFFER_STATUS_FILLED and t.result.amount == "300"
    resp = grid.q("DenomTrace", transfer_pb2.QueryDenomTraceRequest(hash=VOUCHER), transfer_pb2)
    assert resp.denom_trace == transfer_pb2.DenomTrace(path="energy/channel-0", base_denom="ufar")
    # A second acknowledgement of the same packet is refused (the core never delivers one).
    ctx = next_block(grid.node)
    with pytest.raises(ABCIError, match="OFFER_STATUS_FILLED"):
        APP.on_acknowledgement_packet(ctx, sent, result_ack(1000, 300), b"")


def test_buy_locks_vouchers_then_burns_what_was_spent(
    grid: Market, fake_channel: FakeChannel
) -> None:
    sell_for_vouchers(grid, fake_channel, 500)
    pay = coin_pb2.Coin(denom=VOUCHER, amount="400")
    r = grid.tx(UTILITY, offer_energy=offer_msg(BUY, max_payment=pay, denom=""))
    assert r.code == 0, r.log
    sent = fake_channel.sent[-1]
    data = energy_pb2.EnergyOfferPacketData.FromString(sent.data)
    assert (data.side, data.denom, data.max_payment) == (BUY, "ufar", "400")
    assert vouchers(grid) == 100 and vouchers(grid, keeper.OFFERS) == 400
    keeper.check_invariants(grid.node.chain.block_kv)
    acknowledge(grid, sent, result_ack(800, 250))
    assert vouchers(grid) == 250 and vouchers(grid, keeper.OFFERS) == 0
    assert bank.get_supply(grid.node.chain.block_kv, VOUCHER) == 250
    keeper.check_invariants(grid.node.chain.block_kv)


@pytest.mark.parametrize(
    "end",
    [
        "error",
        "timeout",
        "malformed",
        "overspent",
    ],
)
def test_buy_released_on_refusal_timeout_or_bad_result(
    grid: Market, fake_channel: FakeChannel, end: str
) -> None:
    sell_for_vouchers(grid, fake_channel, 500)
    pay = coin_pb2.Coin(denom=VOUCHER, amount="400")
    assert grid.tx(UTILITY, offer_energy=offer_msg(BUY, max_payment=pay)).code == 0
    sent = fake_channel.sent[-1]
    ctx = next_block(grid.node)
    if end == "timeout":
        APP.on_timeout_packet(ctx, sent, b"")
    else:
        ack = {
            "error": ibc_pb2.Acknowledgement(error="energy/8: not a delivery interval"),
            "malformed": ibc_pb2.Acknowledgement(result=b"\xff\xff"),
            "overspent": result_ack(800, 401),
        }[end]
        APP.on_acknowledgement_packet(ctx, sent, ack, b"")
    grid.node.commit_block()
    assert vouchers(grid) == 500 and vouchers(grid, keeper.OFFERS) == 0
    t = trade(grid, True, sent.sequence)
    want = (
        energy_pb2.OFFER_STATUS_TIMED_OUT if end == "timeout" else energy_pb2.OFFER_STATUS_REFUSED
    )
    assert t.status == want
    keeper.check_invariants(grid.node.chain.block_kv)


def test_only_the_utility_offers(grid: Market, fake_channel: FakeChannel) -> None:
    r = grid.tx(BOB, offer_energy=offer_msg(SELL))
    assert r.code and "utility" in r.log
    assert not fake_channel.sent


def test_buy_must_pay_in_this_channels_vouchers(grid: Market, fake_channel: FakeChannel) -> None:
    sell_for_vouchers(grid, fake_channel, 500)
    other = coin_pb2.Coin(denom=VOUCHER, amount="10")
    r = grid.tx(UTILITY, offer_energy=offer_msg(BUY, channel="channel-1", max_payment=other))
    assert r.codespace == "energy" and "energy/channel-1/<denom>" in r.log
    r = grid.tx(UTILITY, offer_energy=offer_msg(BUY, max_payment=other, denom="uother"))
    assert r.codespace == "energy" and "base denom" in r.log
    r = grid.tx(
        UTILITY, offer_energy=offer_msg(BUY, max_payment=coin_pb2.Coin(denom=VOUCHER, amount="501"))
    )
    assert r.codespace == "bank"
    assert vouchers(grid) == 500


@pytest.mark.parametrize(
    ("msg", "fragment"),
    [
        (offer_msg(SELL, channel="c"), "invalid identifier"),
        (offer_msg(0), "invalid energy offer"),
        (offer_msg(SELL, quantity_wh=0), "invalid energy offer"),
        (offer_msg(SELL, delivery_start=0), "invalid energy offer"),
        (offer_msg(SELL, limit_price=0), "invalid energy offer"),
        (offer_msg(SELL, timeout_timestamp=0), "invalid energy offer"),
        (offer_msg(SELL, denom=""), "wrong denom"),
        (offer_msg(SELL, max_payment=coin_pb2.Coin(denom="ufar", amount="1")), "max payment"),
        (offer_msg(BUY), "max payment"),
        (offer_msg(BUY, max_payment=coin_pb2.Coin(denom="ugrid", amount="1")), "voucher"),
        (offer_msg(BUY, max_payment=coin_pb2.Coin(denom=VOUCHER, amount="0")), "positive"),
    ],
)
def test_validate_offer_energy(msg: energy_pb2.MsgOfferEnergy, fragment: str) -> None:
    with pytest.raises(ABCIError) as err:
        msgs.validate_offer_energy(msg)
    assert fragment in err.value.log


def test_energy_channels_unordered_and_not_closable(grid: Market) -> None:
    ctx = next_block(grid.node)
    cp = ibc_pb2.ChannelCounterparty(port_id="energy")
    assert APP.on_chan_open_init(ctx, ibc_pb2.ORDER_UNORDERED, [], "channel-0", cp, "") == (
        "mgrid-energy-1"
    )
    with pytest.raises(ABCIError, match="ORDER_UNORDERED"):
        APP.on_chan_open_try(ctx, ibc_pb2.ORDER_ORDERED, [], "channel-0", cp, "mgrid-energy-1")
    with pytest.raises(ABCIError, match="ics20-1"):
        APP.on_chan_open_ack(ctx, "channel-0", "channel-1", "ics20-1")
    with pytest.raises(ABCIError, match="cannot be closed"):
        APP.on_chan_close_init(ctx, "channel-0")


def test_trades_query_by_channel(grid: Market, fake_channel: FakeChannel) -> None:
    assert grid.tx(UTILITY, offer_energy=offer_msg(SELL)).code == 0
    assert grid.tx(UTILITY, offer_energy=offer_msg(SELL, channel="channel-1")).code == 0
    q = grid.q("Trades", energy_pb2.QueryTradesRequest(), energy_pb2)
    assert [t.channel_id for t in q.trades] == ["channel-0", "channel-1"]
    q = grid.q("Trades", energy_pb2.QueryTradesRequest(channel_id="channel-1"), energy_pb2)
    assert [(t.channel_id, t.sequence) for t in q.trades] == [("channel-1", 2)]
    r = grid.node.chain.query(
        "/mgrid.ibc.energy.v1.Query/Trade",
        energy_pb2.QueryTradeRequest(channel_id="channel-0", sequence=9).SerializeToString(),
    )
    assert r.code and "not found" in r.log


def test_external_coin_helpers_are_consistent() -> None:
    assert keeper.voucher_trace("channel-3", "ugrid").path == "energy/channel-3"
    assert Coin(VOUCHER, 1).denom.startswith("ibc/")
