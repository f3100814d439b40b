"""ICS-05 ports and ICS-26 routing: which application answers on which port.

An application binds one port and implements :class:`ChannelApp`. The
channel keeper calls it at each handshake step and for each packet; it
refuses by raising an ABCIError (the whole message then fails and nothing
changes). The port table ``ROUTES`` is filled on first use from
``ibc.apps.APPS`` (a tuple of app instances); tests may add their own apps
to it (``monkeypatch.setitem(ports.ROUTES, "echo", EchoApp())``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.context import Context
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.errors import ErrPortNotFound


class ChannelApp(Protocol):
    """The callbacks of an IBC application (ICS-26), with ibc-go's meaning.

    ``order`` is an ``ibc_pb2.Order`` value, ``counterparty`` a
    ``ChannelCounterparty``; versions are strings. ``on_recv_packet`` returns
    the acknowledgement to write now, or None to write it later with
    ``ibc.channel.keeper.write_acknowledgement`` (asynchronous ack). An error
    acknowledgement (``Acknowledgement(error=...)``) discards the app's own
    writes of that call, as ibc-go does; raising fails the whole message.
    """

    port_id: str

    def on_chan_open_init(
        self,
        ctx: Context,
        order: int,
        connection_hops: Sequence[str],
        channel_id: str,
        counterparty: ibc_pb2.ChannelCounterparty,
        version: str,
    ) -> str: ...

    def on_chan_open_try(
        self,
        ctx: Context,
        order: int,
        connection_hops: Sequence[str],
        channel_id: str,
        counterparty: ibc_pb2.ChannelCounterparty,
        counterparty_version: str,
    ) -> str: ...

    def on_chan_open_ack(
        self, ctx: Context, channel_id: str, counterparty_channel_id: str, counterparty_version: str
    ) -> None: ...

    def on_chan_open_confirm(self, ctx: Context, channel_id: str) -> None: ...

    def on_chan_close_init(self, ctx: Context, channel_id: str) -> None: ...

    def on_chan_close_confirm(self, ctx: Context, channel_id: str) -> None: ...

    def on_recv_packet(
        self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes
    ) -> ibc_pb2.Acknowledgement | None: ...

    def on_acknowledgement_packet(
        self,
        ctx: Context,
        packet: ibc_pb2.Packet,
        ack: ibc_pb2.Acknowledgement,
        relayer: bytes,
    ) -> None: ...

    def on_timeout_packet(self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes) -> None: ...


ROUTES: dict[str, ChannelApp] = {}
_loaded = False


def _load_apps() -> None:
    """Bind the applications of ``ibc.apps.APPS`` (once; entries already present win)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    try:
        from ibc.apps import APPS
    except ModuleNotFoundError as exc:  # no applications installed: core alone
        if exc.name not in ("ibc.apps",):
            raise
        apps: tuple[ChannelApp, ...] = ()
    else:
        apps = tuple(APPS)
    for app in apps:
        ROUTES.setdefault(app.port_id, app)


def app_for(port_id: str) -> ChannelApp:
    """The application bound to ``port_id``; ErrPortNotFound if none is."""
    _load_apps()
    app = ROUTES.get(port_id)
    if app is None:
        raise ErrPortNotFound(
            f"no application is bound to port {port_id!r}; bound: {sorted(ROUTES)}"
        )
    return app
