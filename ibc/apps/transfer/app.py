"""The ICS-20 application's channel and packet callbacks (ICS-26), on port "transfer".

Channels: unordered, version "ics20-1"; closing is refused (ChanCloseInit),
as ICS-20 says, so escrowed coins can always come home. Packets: see
``keeper``; a receive that fails for any reason (bad data, bad receiver,
escrow too small) is answered with an error acknowledgement and changes
nothing; an error acknowledgement or a timeout refunds the sender.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.context import Context
from app.errors import ABCIError
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.apps.transfer import keeper
from ibc.apps.transfer.errors import (
    ErrCloseNotAllowed,
    ErrInvalidOrdering,
    ErrInvalidVersion,
)


def error_ack(err: ABCIError) -> ibc_pb2.Acknowledgement:
    """An error acknowledgement naming the registered error (deterministic text)."""
    return ibc_pb2.Acknowledgement(error=f"{err.codespace}/{err.code}: {err.log}")


def order_name(order: int) -> str:
    return ibc_pb2.Order.Name(order) if order in ibc_pb2.Order.values() else str(order)


class TransferApp:
    port_id = keeper.PORT

    def on_chan_open_init(
        self,
        ctx: Context,
        order: int,
        connection_hops: Sequence[str],
        channel_id: str,
        counterparty: ibc_pb2.ChannelCounterparty,
        version: str,
    ) -> str:
        if order != ibc_pb2.ORDER_UNORDERED:
            raise ErrInvalidOrdering(
                f"ICS-20 channels are ORDER_UNORDERED, got {order_name(order)}"
            )
        if version and version != keeper.VERSION:
            raise ErrInvalidVersion(f"got {version!r}, expected {keeper.VERSION!r}")
        return keeper.VERSION

    def on_chan_open_try(
        self,
        ctx: Context,
        order: int,
        connection_hops: Sequence[str],
        channel_id: str,
        counterparty: ibc_pb2.ChannelCounterparty,
        counterparty_version: str,
    ) -> str:
        if order != ibc_pb2.ORDER_UNORDERED:
            raise ErrInvalidOrdering(
                f"ICS-20 channels are ORDER_UNORDERED, got {order_name(order)}"
            )
        if counterparty_version != keeper.VERSION:
            raise ErrInvalidVersion(
                f"counterparty version {counterparty_version!r}, expected {keeper.VERSION!r}"
            )
        return keeper.VERSION

    def on_chan_open_ack(
        self, ctx: Context, channel_id: str, counterparty_channel_id: str, counterparty_version: str
    ) -> None:
        if counterparty_version != keeper.VERSION:
            raise ErrInvalidVersion(
                f"counterparty version {counterparty_version!r}, expected {keeper.VERSION!r}"
            )

    def on_chan_open_confirm(self, ctx: Context, channel_id: str) -> None:
        return None

    def on_chan_close_init(self, ctx: Context, channel_id: str) -> None:
        raise ErrCloseNotAllowed(f"{keeper.PORT}/{channel_id}: ICS-20 channels cannot be closed")

    def on_chan_close_confirm(self, ctx: Context, channel_id: str) -> None:
        return None

    def on_recv_packet(
        self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes
    ) -> ibc_pb2.Acknowledgement:
        sub = ctx.branch()
        try:
            data = keeper.receive(sub, packet)
        except ABCIError as err:
            ctx.emit(
                "fungible_token_packet",
                module=keeper.PORT,
                success="false",
                error=err.log,
                sequence=packet.sequence,
            )
            return error_ack(err)
        sub.kv.write()
        ctx.events.extend(sub.events)
        _emit_packet(ctx, "fungible_token_packet", data, success="true")
        return ibc_pb2.Acknowledgement(result=keeper.RESULT_ACK)

    def on_acknowledgement_packet(
        self,
        ctx: Context,
        packet: ibc_pb2.Packet,
        ack: ibc_pb2.Acknowledgement,
        relayer: bytes,
    ) -> None:
        if ack.WhichOneof("response") == "result":
            data = keeper.decode_packet_data(packet.data)
            _emit_packet(ctx, "fungible_token_packet", data, success="true")
            return
        data = keeper.refund(ctx, packet)
        _emit_packet(ctx, "fungible_token_packet", data, success="false", error=ack.error)

    def on_timeout_packet(self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes) -> None:
        data = keeper.refund(ctx, packet)
        ctx.emit(
            "timeout",
            module=keeper.PORT,
            refund_receiver=data.sender,
            refund_denom=data.denom,
            refund_amount=data.amount,
            memo=data.memo,
        )


def _emit_packet(
    ctx: Context, type_: str, data: transfer_pb2.FungibleTokenPacketData, **extra: str
) -> None:
    ctx.emit(
        type_,
        module=keeper.PORT,
        sender=data.sender,
        receiver=data.receiver,
        denom=data.denom,
        amount=data.amount,
        memo=data.memo,
        **extra,
    )
