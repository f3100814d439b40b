"""The energy application's channel and packet callbacks (ICS-26), on port "energy".

Channels: unordered, version "mgrid-energy-1". Closing is refused
(ChanCloseInit): the callbacks are not told who asks, so no rule such as
"only the utility cell may close" can be enforced there, and offers may be
waiting for their interval to clear. A counterparty's close is accepted
(ChanCloseConfirm), as ICS-20 does. Packets: see ``keeper``; a received
offer is acknowledged asynchronously, when its interval clears.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.context import Context
from app.errors import ABCIError
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.apps.energy import keeper
from ibc.apps.energy.errors import ErrCloseNotAllowed, ErrInvalidOrdering, ErrInvalidVersion
from ibc.apps.transfer.app import error_ack, order_name


class EnergyApp:
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
        _check_order(order)
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
        _check_order(order)
        _check_version(counterparty_version)
        return keeper.VERSION

    def on_chan_open_ack(
        self, ctx: Context, channel_id: str, counterparty_channel_id: str, counterparty_version: str
    ) -> None:
        _check_version(counterparty_version)

    def on_chan_open_confirm(self, ctx: Context, channel_id: str) -> None:
        return None

    def on_chan_close_init(self, ctx: Context, channel_id: str) -> None:
        raise ErrCloseNotAllowed(f"{keeper.PORT}/{channel_id}: energy channels cannot be closed")

    def on_chan_close_confirm(self, ctx: Context, channel_id: str) -> None:
        return None

    def on_recv_packet(
        self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes
    ) -> ibc_pb2.Acknowledgement | None:
        sub = ctx.branch()
        try:
            keeper.enter_offer(sub, packet)
        except ABCIError as err:
            ctx.emit(
                "energy_offer_refused",
                channel=packet.destination_channel,
                sequence=packet.sequence,
                error=err.log,
            )
            return error_ack(err)
        sub.kv.write()
        ctx.events.extend(sub.events)
        return None  # acknowledged when the interval clears (keeper.end_block)

    def on_acknowledgement_packet(
        self,
        ctx: Context,
        packet: ibc_pb2.Packet,
        ack: ibc_pb2.Acknowledgement,
        relayer: bytes,
    ) -> None:
        keeper.acknowledge(ctx, packet, ack)

    def on_timeout_packet(self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes) -> None:
        keeper.time_out(ctx, packet)


def _check_order(order: int) -> None:
    if order != ibc_pb2.ORDER_UNORDERED:
        raise ErrInvalidOrdering(f"energy channels are ORDER_UNORDERED, got {order_name(order)}")


def _check_version(version: str) -> None:
    if version != keeper.VERSION:
        raise ErrInvalidVersion(f"counterparty version {version!r}, expected {keeper.VERSION!r}")
