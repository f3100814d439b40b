"""Test applications bound to IBC ports, and helpers to send packets.

``EchoApp`` (port "echo") keeps everything it does in the store under
``b"echo/"``, so that state (and the app hash) shows whether a callback ran
and how often. What it answers to a packet depends on the data:
    b"async..."  no acknowledgement now (written later, see ``write_ack``)
    b"fail..."   an error acknowledgement (its own writes are discarded)
    b"raise..."  raises an ABCIError (the whole message fails)
    otherwise    result b"echo:" + data
``VersionedApp`` refuses channels whose version is not its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.context import Context, Mode
from app.errors import ABCIError
from app.modules import PREFIX_AUTH
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.channel import keeper as channel_keeper
from tests.support.ibcpair import IBCNode, IBCPair, key


class ErrEchoRefused(ABCIError):
    """The echo test app refused (not registered: tests only)."""

    codespace = "echo-test"
    code = 2
    description = "echo test app refused"


ECHO_VERSION = "echo-1"


def _count(ctx: Context, name: str) -> None:
    key = b"echo/count/" + name.encode()
    n = int(ctx.kv.get(key) or b"0") + 1
    ctx.kv.set(key, str(n).encode())


def count(node: IBCNode, name: str) -> int:
    """How many times the echo app on ``node`` ran callback ``name`` (committed state)."""
    return int(node.chain.store.get(b"echo/count/" + name.encode()) or b"0")


class EchoApp:
    port_id = "echo"

    def on_chan_open_init(
        self,
        ctx: Context,
        order: int,
        connection_hops: Sequence[str],
        channel_id: str,
        counterparty: ibc_pb2.ChannelCounterparty,
        version: str,
    ) -> str:
        if version not in ("", ECHO_VERSION):
            raise ErrEchoRefused(f"version {version!r}")
        _count(ctx, "open_init")
        return ECHO_VERSION

    def on_chan_open_try(
        self,
        ctx: Context,
        order: int,
        connection_hops: Sequence[str],
        channel_id: str,
        counterparty: ibc_pb2.ChannelCounterparty,
        counterparty_version: str,
    ) -> str:
        if counterparty_version != ECHO_VERSION:
            raise ErrEchoRefused(f"counterparty version {counterparty_version!r}")
        _count(ctx, "open_try")
        return ECHO_VERSION

    def on_chan_open_ack(
        self, ctx: Context, channel_id: str, counterparty_channel_id: str, counterparty_version: str
    ) -> None:
        _count(ctx, "open_ack")

    def on_chan_open_confirm(self, ctx: Context, channel_id: str) -> None:
        _count(ctx, "open_confirm")

    def on_chan_close_init(self, ctx: Context, channel_id: str) -> None:
        _count(ctx, "close_init")

    def on_chan_close_confirm(self, ctx: Context, channel_id: str) -> None:
        _count(ctx, "close_confirm")

    def on_recv_packet(
        self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes
    ) -> ibc_pb2.Acknowledgement | None:
        _count(ctx, "recv")
        if packet.data.startswith(b"raise"):
            raise ErrEchoRefused("raise requested")
        if packet.data.startswith(b"async"):
            return None
        if packet.data.startswith(b"fail"):
            return ibc_pb2.Acknowledgement(error="fail requested")
        return ibc_pb2.Acknowledgement(result=b"echo:" + packet.data)

    def on_acknowledgement_packet(
        self, ctx: Context, packet: ibc_pb2.Packet, ack: ibc_pb2.Acknowledgement, relayer: bytes
    ) -> None:
        _count(ctx, "ack")
        ctx.kv.set(b"echo/ack/%d" % packet.sequence, ack.SerializeToString())

    def on_timeout_packet(self, ctx: Context, packet: ibc_pb2.Packet, relayer: bytes) -> None:
        _count(ctx, "timeout")


class RefusingApp(EchoApp):
    """Port "closed-shop": refuses every channel close (as ICS-20 does)."""

    port_id = "closed-shop"

    def on_chan_close_init(self, ctx: Context, channel_id: str) -> None:
        raise ErrEchoRefused("channels on this port cannot be closed")


def send(
    node: IBCNode,
    channel: str,
    data: bytes,
    *,
    port: str = "echo",
    timeout_height: int = 0,
    timeout_timestamp: int | None = None,
    pair: IBCPair | None = None,
) -> ibc_pb2.Packet:
    """Send a packet from ``node`` in its next block (the pair steps both chains); the
    default timeout is an hour of block time."""
    if timeout_timestamp is None:
        timeout_timestamp = 0 if timeout_height else node.time_ns + 3600 * 10**9
    sent: list[int] = []

    def hook(ctx: Context) -> None:
        sent.append(
            channel_keeper.send_packet(ctx, port, channel, timeout_height, timeout_timestamp, data)
        )

    node.in_next_block(hook)
    if pair is not None:
        pair.step()
    else:
        node.commit_block()
    counterparty = node.q("Channel", port_id=port, channel_id=channel).channel.counterparty
    return ibc_pb2.Packet(
        sequence=sent[0],
        source_port=port,
        source_channel=channel,
        destination_port=counterparty.port_id,
        destination_channel=counterparty.channel_id,
        data=data,
        timeout_height=timeout_height,
        timeout_timestamp=timeout_timestamp,
    )


def events_of(result: Any, event_type: str) -> list[dict[str, str]]:
    return [dict(e.attributes) for e in result.events if e.type == event_type]


def snapshot(node: IBCNode) -> list[tuple[bytes, bytes]]:
    """Everything IBC core and the echo app keep in the block state of ``node``."""
    kv = node.chain.block_kv
    return list(kv.iterate(b"ibc/")) + list(kv.iterate(b"echo/"))


def rejected(node: IBCNode, *msgs: tuple[str, Any], signer: Any = None) -> tuple[str, int]:
    """Deliver a tx of ``msgs`` that must fail: CheckTx rejects it, and forced into a
    block it fails there too, leaving IBC and application state as they were.
    Returns (codespace, code)."""
    raw = node.sign(signer or key("relayer"), *msgs)
    checked = node.chain.check_tx(raw)
    assert checked.code, "CheckTx accepted a tx that must fail"
    # Run as FinalizeBlock runs it, on a branch: only the envelope (the signer's
    # sequence, in the auth store) may have changed.
    branch = Context(
        node.chain.block_kv.branch(), node.height + 1, node.time_ns, node.chain_id, Mode.DELIVER
    )
    node.chain._run_tx(branch, raw)
    touched = sorted(k for k in branch.kv.writes if not k.startswith(PREFIX_AUTH))
    assert not touched, f"a failed tx wrote {touched}"
    before = snapshot(node)
    delivered = node.commit_block([raw]).tx_results[0]
    assert (delivered.codespace, delivered.code) == (checked.codespace, checked.code), (
        f"CheckTx said {checked.log}, FinalizeBlock said {delivered.log}"
    )
    assert snapshot(node) == before, "a failed tx changed IBC or app state"
    assert not [e for e in delivered.events if e.type not in ("tx",)]
    return delivered.codespace, delivered.code
