"""IBC events of a block, read from CometBFT's ``/block_results``.

The chain emits ibc-go's event names and attribute keys (send_packet,
write_acknowledgement, the handshake steps ...): they are the relayer's API.
A block's events are those of its successful transactions (``txs_results``;
a failed transaction changed nothing) followed by those of FinalizeBlock
itself (``finalize_block_events``: the energy application writes its
acknowledgements when an interval clears, outside any transaction).
CometBFT v0.38 renders attribute keys and values as plain strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.pb.mgrid.ibc.v1 import ibc_pb2

PACKET_EVENTS = ("send_packet", "write_acknowledgement")
HANDSHAKE_EVENTS = (
    "connection_open_init",
    "connection_open_try",
    "connection_open_ack",
    "connection_open_confirm",
    "channel_open_init",
    "channel_open_try",
    "channel_open_ack",
    "channel_open_confirm",
    "channel_close_init",
    "channel_close_confirm",
)
CLIENT_EVENTS = ("create_client", "update_client", "client_misbehaviour")
RELEVANT = frozenset(PACKET_EVENTS + HANDSHAKE_EVENTS + CLIENT_EVENTS)


class EventError(ValueError):
    """An event lacks an attribute the relayer needs, or carries a malformed one."""


@dataclass(frozen=True, slots=True)
class IBCEvent:
    type: str
    attrs: dict[str, str]
    height: int

    def get(self, key: str) -> str:
        try:
            return self.attrs[key]
        except KeyError:
            raise EventError(f"{self.type} event at height {self.height} has no {key!r}") from None

    def packet(self) -> ibc_pb2.Packet:
        """The packet a send_packet / write_acknowledgement event describes."""
        try:
            return ibc_pb2.Packet(
                sequence=int(self.get("packet_sequence")),
                source_port=self.get("packet_src_port"),
                source_channel=self.get("packet_src_channel"),
                destination_port=self.get("packet_dst_port"),
                destination_channel=self.get("packet_dst_channel"),
                data=bytes.fromhex(self.get("packet_data_hex")),
                timeout_height=_height(self.attrs.get("packet_timeout_height", "0")),
                timeout_timestamp=int(self.attrs.get("packet_timeout_timestamp", "0") or 0),
            )
        except ValueError as exc:
            if isinstance(exc, EventError):
                raise
            raise EventError(f"{self.type} event at height {self.height}: {exc}") from None

    def ack(self) -> bytes:
        try:
            return bytes.fromhex(self.get("packet_ack_hex"))
        except ValueError as exc:
            if isinstance(exc, EventError):
                raise
            raise EventError(f"{self.type} event at height {self.height}: {exc}") from None


def _height(text: str) -> int:
    """A timeout height as ``"12"`` or ibc-go's ``"0-12"`` (revision-height)."""
    text = text or "0"
    return int(text.rpartition("-")[2])


def _attrs(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in raw or []:
        if isinstance(a, dict):
            out.setdefault(str(a.get("key") or ""), str(a.get("value") or ""))
    return out


def block_events(result: dict[str, Any], height: int) -> list[IBCEvent]:
    """The IBC events of one ``/block_results`` answer, in the order they happened."""
    events: list[IBCEvent] = []
    for tx in result.get("txs_results") or []:
        if not isinstance(tx, dict) or int(tx.get("code") or 0) != 0:
            continue
        events.extend(_relevant(tx.get("events"), height))
    events.extend(_relevant(result.get("finalize_block_events"), height))
    return events


def _relevant(raw: Any, height: int) -> list[IBCEvent]:
    out = []
    for e in raw or []:
        if isinstance(e, dict) and e.get("type") in RELEVANT:
            out.append(IBCEvent(str(e["type"]), _attrs(e.get("attributes")), height))
    return out
