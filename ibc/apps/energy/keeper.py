"""Inter-microgrid energy trades over IBC (port "energy", version "mgrid-energy-1").

The model is proto/mgrid/ibc/energy/v1/energy.proto's. A utility cell (the
*offerer*, on the *offering chain*) offers to sell energy into, or buy
energy from, one delivery interval of the *receiving chain*'s market. Money
is always the receiving chain's native denom: on the offering chain it is a
voucher ``ibc/<SHA-256("energy/<offering channel>/<denom>")>`` that follows
ICS-20's escrow and voucher rules, and the receiving chain keeps the coins
that back those vouchers in the energy escrow account of its channel end
(``channel_escrow``).

Offering chain (MsgOfferEnergy, ``offer``):
    SELL: nothing is locked.
    BUY:  ``max_payment`` vouchers move from the offerer to ``OFFERS``.
    The packet (EnergyOfferPacketData) is sent with the offer's timeout
    timestamp; the trade is recorded (outgoing, PENDING).
Receiving chain (``enter_offer``, from on_recv_packet): the denom must be the
market's, ``delivery_start`` the start of one of its intervals whose gate is
still open, quantity and price within the market's order limits, at most
``max_open_offers`` open offers per channel, and for a buy the channel escrow
must hold at least ``max_payment``. The offer becomes an *external order*
(market.keeper.place_external_order) at the connection-point bus
(``Params.bus``, default the root bus), owned by the channel escrow: a buy
locks the market's buyer escrow from it (within ``max_payment``). Anything
wrong gives an error acknowledgement and changes nothing. Otherwise the
acknowledgement is asynchronous: it is written by ``end_block`` when the
interval has cleared.
At clearing (``end_block``, after market.keeper.end_block): the market has
already moved the money: an external sell's proceeds (what buyers paid for
the energy, not fees or tax) went to the channel escrow, where they back the
vouchers the offering chain will mint; an external buy's unspent escrow went
back to the channel escrow, and what it spent (trades, fees, tax) went to
the sellers and the fee and tax accounts. The acknowledgement is
EnergyOfferResult(interval, order_id, filled_wh, price, amount), amount =
proceeds (SELL) or spent (BUY); the trade is recorded (incoming, FILLED).
Offering chain, on the acknowledgement (``acknowledge``):
    result: SELL mints ``amount`` vouchers to the offerer (the trace stored
    with the transfer application's, so DenomTrace resolves it); BUY burns
    ``amount`` of the locked vouchers and returns the rest. FILLED.
    error:  a BUY's vouchers return. REFUSED, with the error text.
    timeout (``time_out``): the same release. TIMED_OUT.
Conservation across the two chains: the vouchers of a chain's denom
outstanding on the other (in accounts and in ``OFFERS``) equal the coins in
its channel escrow accounts, once every acknowledgement has been relayed.

Keys (prefix 0x08):
    0x08 0x00                                    -> Params (absent: defaults)
    0x08 0x10 | channel | 0x00 | out(1) | seq(8) -> InterTrade (out: 1 offering, 0 receiving)
    0x08 0x20 | interval(8) | order_id(8)        -> Packet awaiting its interval's clearing
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from google.protobuf.message import DecodeError

from app import crypto
from app.coins import Coin, CoinError, parse_amount
from app.context import Context
from app.errors import ABCIError
from app.kv import KV, CacheKV
from app.modules import PREFIX_ENERGY
from app.modules.bank import keeper as bank
from app.modules.common import encode
from app.modules.market import keeper as market
from app.modules.market.params import MAX_ORDER_WH
from app.modules.registry import keeper as registry
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from ibc.apps.energy.errors import (
    ErrInsufficientBacking,
    ErrInvalidOffer,
    ErrInvalidPacketData,
    ErrInvalidParams,
    ErrInvalidPayment,
    ErrMarketNotConfigured,
    ErrNotAnInterval,
    ErrTooManyOffers,
    ErrTradeNotFound,
    ErrWrongDenom,
)
from ibc.apps.transfer import keeper as transfer
from ibc.channel import keeper as channel_keeper

log = logging.getLogger("mgrid.energy")

PORT = "energy"
VERSION = "mgrid-energy-1"
OFFERS = bank.module_address("energy/offers")  # offering chain: vouchers locked by buys
DEFAULT_MAX_OPEN_OFFERS = 100
MAX_OPEN_OFFERS = 10_000

BUY, SELL = market.BUY, market.SELL
PENDING = energy_pb2.OFFER_STATUS_PENDING
FILLED = energy_pb2.OFFER_STATUS_FILLED
REFUSED = energy_pb2.OFFER_STATUS_REFUSED
TIMED_OUT = energy_pb2.OFFER_STATUS_TIMED_OUT

_PARAMS = PREFIX_ENERGY + b"\x00"
TRADE = PREFIX_ENERGY + b"\x10"
_AWAITING = PREFIX_ENERGY + b"\x20"

u64 = market.u64


# ---------------------------------------------------------------------------
# Accounts, vouchers, params


def channel_escrow(channel: str) -> bytes:
    """The energy escrow account of this chain's end of ``channel``: it owns the
    channel's external orders and holds the coins backing the counterparty's vouchers."""
    return transfer.escrow_address(VERSION, PORT, channel)


def voucher_trace(channel: str, denom: str) -> transfer_pb2.DenomTrace:
    """The trace of the counterparty's ``denom`` on this chain's end of ``channel``."""
    return transfer_pb2.DenomTrace(path=f"{PORT}/{channel}", base_denom=denom)


def get_params(kv: KV) -> energy_pb2.Params:
    raw = kv.get(_PARAMS)
    if raw is None:
        return energy_pb2.Params(max_open_offers=DEFAULT_MAX_OPEN_OFFERS)
    return energy_pb2.Params.FromString(raw)


def set_params(kv: CacheKV, params: energy_pb2.Params) -> None:
    """Validate (the bus must be in the registry's network) and store."""
    if not 1 <= params.max_open_offers <= MAX_OPEN_OFFERS:
        raise ErrInvalidParams(
            f"max_open_offers must be 1..{MAX_OPEN_OFFERS}, got {params.max_open_offers}"
        )
    if params.bus:
        buses = [b.id for b in registry.get_network_proto(kv).buses]
        if params.bus not in buses:
            raise ErrInvalidParams(f"bus {params.bus!r} is not in the network {buses}")
    kv.set(_PARAMS, encode(params))


def connection_bus(kv: KV) -> str:
    """Where external orders enter the network: ``Params.bus``, else the root bus."""
    bus = get_params(kv).bus
    if bus:
        return bus
    network = registry.get_network(kv)
    return network.buses[network.root_index].id


# ---------------------------------------------------------------------------
# Trades


def trade_key(channel: str, outgoing: bool, sequence: int) -> bytes:
    return TRADE + channel.encode() + b"\x00" + (b"\x01" if outgoing else b"\x00") + u64(sequence)


def channel_prefix(channel: str) -> bytes:
    return TRADE + channel.encode() + b"\x00"


def get_trade(kv: KV, channel: str, outgoing: bool, sequence: int) -> energy_pb2.InterTrade | None:
    raw = kv.get(trade_key(channel, outgoing, sequence))
    return energy_pb2.InterTrade.FromString(raw) if raw is not None else None


def set_trade(kv: CacheKV, trade: energy_pb2.InterTrade) -> None:
    kv.set(trade_key(trade.channel_id, trade.outgoing, trade.sequence), encode(trade))


def trades(kv: KV, channel: str = "") -> Iterator[energy_pb2.InterTrade]:
    """Trades of one channel end (all when ``channel`` is empty), in key order."""
    for _, raw in kv.iterate(channel_prefix(channel) if channel else TRADE):
        yield energy_pb2.InterTrade.FromString(raw)


_SIDE_NAMES = {int(side): name for side, name in market.SIDE_NAMES.items()}


def _side_name(side: int) -> str:
    return _SIDE_NAMES.get(side, str(side))


# ---------------------------------------------------------------------------
# Offering chain


def offer(ctx: Context, signer: bytes, msg: energy_pb2.MsgOfferEnergy) -> int:
    """Lock a buy's vouchers, send the offer packet, record the trade; returns the sequence.

    ``msg`` passed validate_basic. Only the utility cell may offer.
    """
    registry.require_utility(ctx.kv, signer)
    offerer = crypto.encode_address(signer)
    if msg.side == BUY:
        payment = Coin(msg.max_payment.denom, parse_amount(msg.max_payment.amount))
        trace = transfer.resolve(ctx.kv, payment.denom)
        want = f"{PORT}/{msg.source_channel}"
        if trace.path != want:
            raise ErrInvalidPayment(
                f"max_payment must be a voucher with trace {want}/<denom>, got "
                f"{transfer.full_path(trace)!r}"
            )
        denom = trace.base_denom
        if msg.denom and msg.denom != denom:
            raise ErrInvalidPayment(
                f"denom {msg.denom!r} is not max_payment's base denom {denom!r}"
            )
        bank.send(ctx, signer, OFFERS, [payment])
        max_payment = str(payment.amount)
    else:
        denom, max_payment = msg.denom, "0"
    data = energy_pb2.EnergyOfferPacketData(
        offerer=offerer,
        side=msg.side,
        delivery_start=msg.delivery_start,
        quantity_wh=msg.quantity_wh,
        limit_price=msg.limit_price,
        denom=denom,
        max_payment=max_payment,
    )
    sequence = channel_keeper.send_packet(
        ctx, PORT, msg.source_channel, 0, msg.timeout_timestamp, encode(data)
    )
    trade = energy_pb2.InterTrade(
        port_id=PORT,
        channel_id=msg.source_channel,
        sequence=sequence,
        outgoing=True,
        offer=data,
        status=PENDING,
        height=ctx.height,
    )
    set_trade(ctx.kv, trade)
    ctx.emit(
        "energy_offer",
        channel=msg.source_channel,
        sequence=sequence,
        offerer=offerer,
        side=_side_name(msg.side),
        delivery_start=msg.delivery_start,
        quantity_wh=msg.quantity_wh,
        limit_price=msg.limit_price,
        denom=denom,
        max_payment=max_payment,
    )
    return sequence


def _release(ctx: Context, trade: energy_pb2.InterTrade) -> None:
    """Return a buy's locked vouchers to the offerer (refused or timed out)."""
    data = trade.offer
    amount = int(data.max_payment or "0")
    if data.side == BUY and amount:
        voucher = transfer.voucher_denom(voucher_trace(trade.channel_id, data.denom))
        offerer = crypto.decode_address(data.offerer)
        bank.send(ctx, OFFERS, offerer, [Coin(voucher, amount)])


def _outgoing(ctx: Context, packet: ibc_pb2.Packet) -> energy_pb2.InterTrade:
    trade = get_trade(ctx.kv, packet.source_channel, True, packet.sequence)
    if trade is None:
        raise ErrTradeNotFound(
            f"no offer {PORT}/{packet.source_channel}/{packet.sequence} was sent from here"
        )
    if trade.status != PENDING:
        status = energy_pb2.OfferStatus.Name(trade.status)
        raise ErrTradeNotFound(f"offer {packet.source_channel}/{packet.sequence} is {status}")
    return trade


def _check_result(
    data: energy_pb2.EnergyOfferPacketData, raw: bytes
) -> tuple[energy_pb2.EnergyOfferResult, int]:
    """Decode and bound an acknowledgement result; raises ErrInvalidPacketData."""
    try:
        result = energy_pb2.EnergyOfferResult.FromString(raw)
        amount = parse_amount(result.amount or "0")
    except (DecodeError, ValueError, CoinError) as exc:
        raise ErrInvalidPacketData(f"result does not decode: {exc}") from None
    if result.filled_wh > data.quantity_wh:
        raise ErrInvalidPacketData(f"filled {result.filled_wh} Wh of {data.quantity_wh}")
    if data.side == BUY and amount > int(data.max_payment or "0"):
        raise ErrInvalidPacketData(f"spent {amount}, more than max_payment {data.max_payment}")
    if result.filled_wh == 0 and amount:
        raise ErrInvalidPacketData(f"an amount of {amount} for nothing filled")
    return result, amount


def acknowledge(ctx: Context, packet: ibc_pb2.Packet, ack: ibc_pb2.Acknowledgement) -> None:
    """The receiving chain's answer to an offer of ours: settle the vouchers, record it."""
    trade = _outgoing(ctx, packet)
    data = trade.offer
    trade.height = ctx.height
    error = ack.error if ack.WhichOneof("response") == "error" else ""
    if not error:
        try:
            result, amount = _check_result(data, ack.result)
        except ABCIError as err:
            error = f"malformed result from the receiving chain: {err.log}"
    if error:
        _release(ctx, trade)
        trade.status, trade.error = REFUSED, error
        set_trade(ctx.kv, trade)
        ctx.emit(
            "energy_offer_refused",
            channel=trade.channel_id,
            sequence=trade.sequence,
            offerer=data.offerer,
            error=error,
        )
        return
    offerer = crypto.decode_address(data.offerer)
    trace = voucher_trace(trade.channel_id, data.denom)
    if data.side == SELL:
        if amount:
            voucher = transfer.set_trace(ctx, trace)
            bank.mint(ctx, offerer, Coin(voucher, amount))
    else:
        voucher = transfer.voucher_denom(trace)
        if amount:
            bank.burn(ctx, OFFERS, Coin(voucher, amount))
        rest = int(data.max_payment) - amount
        if rest:
            bank.send(ctx, OFFERS, offerer, [Coin(voucher, rest)])
    trade.status = FILLED
    trade.result.CopyFrom(result)
    set_trade(ctx.kv, trade)
    ctx.emit(
        "energy_trade",
        channel=trade.channel_id,
        sequence=trade.sequence,
        outgoing="true",
        offerer=data.offerer,
        side=_side_name(data.side),
        interval=result.interval,
        filled_wh=result.filled_wh,
        price=result.price,
        amount=amount,
        denom=transfer.voucher_denom(trace),
    )


def time_out(ctx: Context, packet: ibc_pb2.Packet) -> None:
    """The offer never reached the receiving chain in time: release everything."""
    trade = _outgoing(ctx, packet)
    _release(ctx, trade)
    trade.status, trade.height = TIMED_OUT, ctx.height
    set_trade(ctx.kv, trade)
    ctx.emit(
        "energy_offer_timeout",
        channel=trade.channel_id,
        sequence=trade.sequence,
        offerer=trade.offer.offerer,
    )


# ---------------------------------------------------------------------------
# Receiving chain


def decode_offer(raw: bytes) -> energy_pb2.EnergyOfferPacketData:
    """Decode packet data and check what does not need state; raises this module's errors."""
    try:
        data = energy_pb2.EnergyOfferPacketData.FromString(raw)
    except (DecodeError, ValueError) as exc:
        raise ErrInvalidPacketData(f"does not decode as EnergyOfferPacketData: {exc}") from None
    if data.side not in (BUY, SELL):
        raise ErrInvalidOffer(f"side must be buy or sell, got {data.side}")
    if not 0 < data.quantity_wh <= MAX_ORDER_WH:
        raise ErrInvalidOffer(f"quantity must be 1..{MAX_ORDER_WH} Wh, got {data.quantity_wh}")
    if not data.offerer:
        raise ErrInvalidOffer("offerer is empty")
    try:
        payment = parse_amount(data.max_payment or "0")
    except CoinError as exc:
        raise ErrInvalidOffer(f"max_payment: {exc}") from None
    if data.side == BUY and not payment:
        raise ErrInvalidOffer("a buy needs a positive max_payment")
    if data.side == SELL and payment:
        raise ErrInvalidOffer(f"a sell carries no payment, got max_payment {data.max_payment}")
    return data


def enter_offer(ctx: Context, packet: ibc_pb2.Packet) -> market_pb2.Order:
    """Enter a received offer into the market as an external order; record the trade.

    Raises this module's or the market's errors (the caller answers with an
    error acknowledgement and discards the writes).
    """
    data = decode_offer(packet.data)
    kv = ctx.kv
    if not market.is_configured(kv):
        raise ErrMarketNotConfigured("this chain has no market section in its genesis")
    denom = bank.get_params(kv).denom
    if data.denom != denom:
        raise ErrWrongDenom(f"offer is in {data.denom!r}; this market trades in {denom!r}")
    n = market.interval_starting_at(kv, data.delivery_start)
    if n is None:
        raise ErrNotAnInterval(
            f"delivery_start {data.delivery_start} is not the start of a delivery interval"
        )
    channel = packet.destination_channel
    owner = channel_escrow(channel)
    limit = get_params(kv).max_open_offers
    if market.open_orders_of(kv, owner) >= limit:
        raise ErrTooManyOffers(f"channel {channel} already has {limit} offers waiting to clear")
    budget = int(data.max_payment or "0")
    if data.side == BUY:
        backing = bank.get_balance(kv, owner, denom)
        if backing < budget:
            raise ErrInsufficientBacking(
                f"max_payment {budget}{denom} but the escrow of {PORT}/{channel} holds {backing}"
            )
    order = market.place_external_order(
        ctx,
        market.ExternalOffer(
            owner=owner,
            side=data.side,
            interval=n,
            quantity_wh=data.quantity_wh,
            price=data.limit_price,
            bus=connection_bus(kv),
            ref=f"{PORT}/{channel}/{packet.sequence}",
            budget=budget,
        ),
    )
    kv.set(_AWAITING + u64(n) + u64(order.id), encode(packet))
    trade = energy_pb2.InterTrade(
        port_id=PORT,
        channel_id=channel,
        sequence=packet.sequence,
        outgoing=False,
        offer=data,
        status=PENDING,
        height=ctx.height,
    )
    set_trade(kv, trade)
    ctx.emit(
        "energy_offer_received",
        channel=channel,
        sequence=packet.sequence,
        offerer=data.offerer,
        side=_side_name(data.side),
        interval=n,
        order_id=order.id,
        quantity_wh=data.quantity_wh,
        limit_price=data.limit_price,
    )
    return order


def _result(kv: KV, order: market_pb2.Order) -> energy_pb2.EnergyOfferResult:
    """What an external order achieved. ``price`` is the interval's clearing price,
    or, under a mechanism without one, the order's own trades' average price per
    kWh (its side's money for the energy, rounded down)."""
    filled = order.matched_wh
    amount = int(order.received or "0") if order.side == SELL else int(order.paid or "0")
    price = 0
    if filled:
        record = market.get_interval(kv, order.interval)
        if record.HasField("clearing_price"):
            price = record.clearing_price
        else:
            money = 0
            for t in market.trades_of_interval(kv, order.interval):
                if t.buy_order == order.id:
                    money += int(t.amount)
                elif t.sell_order == order.id:
                    money += int(t.seller_amount)
            price = money * market.WH_PER_KWH // filled
    return energy_pb2.EnergyOfferResult(
        interval=order.interval,
        order_id=order.id,
        filled_wh=filled,
        price=price,
        amount=str(amount),
    )


def end_block(ctx: Context, cleared: Iterable[int]) -> None:
    """After the market's clearing: acknowledge every external order of the intervals
    just cleared, in (interval, order id) order."""
    for n in cleared:
        prefix = _AWAITING + u64(n)
        for key, raw in list(ctx.kv.iterate(prefix)):
            ctx.kv.delete(key)
            packet = ibc_pb2.Packet.FromString(raw)
            order = market.get_order(ctx.kv, int.from_bytes(key[len(prefix) :], "big"))
            assert order is not None, "an awaiting offer points at a missing order"
            _acknowledge_filled(ctx, packet, order)


def _acknowledge_filled(ctx: Context, packet: ibc_pb2.Packet, order: market_pb2.Order) -> None:
    result = _result(ctx.kv, order)
    ack = ibc_pb2.Acknowledgement(result=encode(result))
    trade = get_trade(ctx.kv, packet.destination_channel, False, packet.sequence)
    assert trade is not None, "an awaiting offer has no trade record"
    sub = ctx.branch()
    try:
        channel_keeper.write_acknowledgement(sub, packet, ack)
    except ABCIError as err:
        # Only a channel that stopped being open can refuse; the market has
        # settled the order either way, so record the fill and say why no ack.
        log.error("energy ack for %s not written: %s", order.external_ref, err.log)
        trade.error = f"acknowledgement not written: {err.log}"
    else:
        sub.kv.write()
        ctx.events.extend(sub.events)
    trade.status, trade.height = FILLED, ctx.height
    trade.result.CopyFrom(result)
    set_trade(ctx.kv, trade)
    ctx.emit(
        "energy_trade",
        channel=trade.channel_id,
        sequence=trade.sequence,
        outgoing="false",
        offerer=trade.offer.offerer,
        side=_side_name(order.side),
        interval=result.interval,
        order_id=order.id,
        filled_wh=result.filled_wh,
        price=result.price,
        amount=result.amount,
        denom=bank.get_params(ctx.kv).denom,
    )


def check_invariants(kv: KV) -> None:
    """Every buy still pending on the offering side is backed by vouchers in ``OFFERS``.

    For tests and audits. Raises AssertionError.
    """
    locked: dict[str, int] = {}
    for trade in trades(kv):
        data = trade.offer
        if trade.outgoing and trade.status == PENDING and data.side == BUY:
            voucher = transfer.voucher_denom(voucher_trace(trade.channel_id, data.denom))
            locked[voucher] = locked.get(voucher, 0) + int(data.max_payment)
    held = {c.denom: c.amount for c in bank.get_balances(kv, OFFERS)}
    if held != locked:
        raise AssertionError(f"the energy offers account holds {held}, pending buys lock {locked}")
