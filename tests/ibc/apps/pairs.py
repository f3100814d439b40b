"""Helpers for the two-chain tests: a linked IBCPair (tests/support/ibcpair.py) whose
chains have different native denoms, and readers of balances and supplies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app import crypto
from app.modules.bank import keeper as bank
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.market.v1 import market_pb2
from ibc.apps.energy import keeper as energy
from ibc.apps.transfer import keeper as transfer
from tests.support.ibcpair import IBCNode, IBCPair, address, key, microgrid_app_state

DENOM_A, DENOM_B = "ugrida", "ugridb"
FAR = 10**19  # a timeout that never passes


def linked_pair(tmp_path: Path) -> IBCPair:
    """Two microgrids (A in ugrida, B in ugridb) with clients and a connection."""
    pair = IBCPair(
        tmp_path,
        app_state_a=microgrid_app_state(DENOM_A),
        app_state_b=microgrid_app_state(DENOM_B),
    )
    pair.create_clients()
    pair.open_connection()
    return pair


def denom_of(node: IBCNode) -> str:
    return bank.get_params(node.chain.block_kv).denom


def balance(node: IBCNode, who: str | bytes, denom: str) -> int:
    raw = who if isinstance(who, bytes) else crypto.decode_address(address(who))
    return bank.get_balance(node.chain.block_kv, raw, denom)


def supply(node: IBCNode, denom: str) -> int:
    return bank.get_supply(node.chain.block_kv, denom)


def voucher(channel: str, denom: str, port: str = "transfer") -> str:
    return transfer.voucher_denom(transfer.parse_trace(f"{port}/{channel}/{denom}"))


def transfer_msg(
    channel: str, denom: str, amount: int, receiver: str, **kw: Any
) -> tuple[str, transfer_pb2.MsgTransfer]:
    return (
        "transfer",
        transfer_pb2.MsgTransfer(
            source_port="transfer",
            source_channel=channel,
            token=coin_pb2.Coin(denom=denom, amount=str(amount)),
            receiver=receiver,
            timeout_height=kw.get("timeout_height", 0),
            timeout_timestamp=kw.get("timeout_timestamp", FAR if "timeout_height" not in kw else 0),
            memo=kw.get("memo", ""),
        ),
    )


def offer_msg(
    channel: str,
    side: int,
    delivery_start: int,
    quantity_wh: int,
    limit_price: int,
    *,
    denom: str = "",
    max_payment: coin_pb2.Coin | None = None,
    timeout_timestamp: int = FAR,
) -> tuple[str, energy_pb2.MsgOfferEnergy]:
    msg = energy_pb2.MsgOfferEnergy(
        source_channel=channel,
        side=side,  # type: ignore[arg-type]
        delivery_start=delivery_start,
        quantity_wh=quantity_wh,
        limit_price=limit_price,
        timeout_timestamp=timeout_timestamp,
        denom=denom,
    )
    if max_payment is not None:
        msg.max_payment.CopyFrom(max_payment)
    return ("offer_energy", msg)


def place(node: IBCNode, who: str, side: str, n: int, quantity_wh: int, price: int) -> Any:
    msg = market_pb2.MsgPlaceOrder(
        side=market_pb2.SIDE_BUY if side == "buy" else market_pb2.SIDE_SELL,
        interval=n,
        quantity_wh=quantity_wh,
        price=price,
    )
    return ("place_order", msg), key(who)


def schedule(node: IBCNode) -> market_pb2.QueryScheduleResponse:
    return node.query(market_pb2.DESCRIPTOR, "Schedule", market_pb2.QueryScheduleRequest())


def interval(node: IBCNode, n: int) -> market_pb2.IntervalState:
    req = market_pb2.QueryIntervalRequest(id=n)
    return node.query(market_pb2.DESCRIPTOR, "Interval", req).interval


def trade(node: IBCNode, channel: str, sequence: int, outgoing: bool) -> energy_pb2.InterTrade:
    req = energy_pb2.QueryTradeRequest(channel_id=channel, sequence=sequence, outgoing=outgoing)
    return node.query(energy_pb2.DESCRIPTOR, "Trade", req).trade


def escrowed(node: IBCNode, denom: str) -> int:
    """Coins of ``denom`` in every transfer and energy escrow account of ``node``'s channels."""
    kv = node.chain.block_kv
    total = 0
    for n in range(kv_channel_count(node)):
        ch = f"channel-{n}"
        for account in (transfer.channel_escrow(ch), energy.channel_escrow(ch)):
            total += bank.get_balance(kv, account, denom)
    return total


def kv_channel_count(node: IBCNode) -> int:
    from ibc.channel import keeper as channel_keeper

    return channel_keeper.next_channel_sequence(node.chain.block_kv)


def vouchers_outstanding(node: IBCNode, of_denom: str) -> int:
    """Supply on ``node`` of every voucher whose base denom is ``of_denom``."""
    kv = node.chain.block_kv
    return sum(
        bank.get_supply(kv, transfer.voucher_denom(t))
        for t in transfer.traces(kv)
        if t.base_denom == of_denom
    )
