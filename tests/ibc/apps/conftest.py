"""Unit tests of the transfer and energy applications on one in-process chain.

The market tests' microgrid (tests/app/market/conftest.py) runs the chain;
the channel keeper's packet functions are replaced by ``FakeChannel``, which
records what the apps send and acknowledge, so each callback can be driven
directly. End-to-end tests over two chains with real light clients are in
test_pair_*.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.context import Context, Mode
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.channel import keeper as channel_keeper
from tests.app.market.conftest import Market, app_state
from tests.support.inproc import NS, InProcessNode

START = 1_700_000_040
COUNTERPARTY = "channel-7"  # the other chain's end of every channel here


@dataclass
class FakeChannel:
    """Stands in for the channel keeper's send_packet and write_acknowledgement."""

    sent: list[ibc_pb2.Packet] = field(default_factory=list)
    acks: list[tuple[ibc_pb2.Packet, ibc_pb2.Acknowledgement]] = field(default_factory=list)

    def send_packet(
        self,
        ctx: Context,
        source_port: str,
        source_channel: str,
        timeout_height: int,
        timeout_timestamp: int,
        data: bytes,
    ) -> int:
        packet = ibc_pb2.Packet(
            sequence=len(self.sent) + 1,
            source_port=source_port,
            source_channel=source_channel,
            destination_port=source_port,
            destination_channel=COUNTERPARTY,
            data=data,
            timeout_height=timeout_height,
            timeout_timestamp=timeout_timestamp,
        )
        if ctx.mode == Mode.DELIVER:  # CheckTx runs the handler too: record blocks only
            self.sent.append(packet)
        return packet.sequence

    def write_acknowledgement(
        self, ctx: Context, packet: ibc_pb2.Packet, ack: ibc_pb2.Acknowledgement
    ) -> None:
        if ctx.mode == Mode.DELIVER:
            self.acks.append((packet, ack))


@pytest.fixture
def fake_channel(monkeypatch: pytest.MonkeyPatch) -> FakeChannel:
    fake = FakeChannel()
    monkeypatch.setattr(channel_keeper, "send_packet", fake.send_packet)
    monkeypatch.setattr(channel_keeper, "write_acknowledgement", fake.write_acknowledgement)
    return fake


def next_block(node: InProcessNode) -> Context:
    """A context writing into the block the node commits next (``node.commit_block()``)."""
    return Context(
        node.chain.block_kv,
        node.height + 1,
        node.time_ns + node.block_seconds * NS,
        node.chain_id,
        Mode.DELIVER,
    )


@pytest.fixture
def make_grid(tmp_path: Path) -> Iterator[Any]:
    nodes: list[InProcessNode] = []

    def make(state: dict[str, Any] | None = None) -> Market:
        home = tmp_path / f"g{len(nodes)}"
        home.mkdir()
        node = InProcessNode(home, state or app_state(), start_time=START)
        nodes.append(node)
        return Market(node)

    yield make
    for node in nodes:
        node.close()


@pytest.fixture
def grid(make_grid: Any) -> Market:
    return make_grid()
