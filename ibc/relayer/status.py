"""``mgrid-relayer status``: the path's clients, connection, channels and pending packets,
read from the chains (not from the relayer's memory), so it is right even when
no relayer runs.

Pending packets of a channel end: the sequences whose commitment the sending
chain still holds (sent, neither acknowledged nor timed out), split into
those the other chain has not received yet and those it has (waiting for an
acknowledgement to be written or relayed back).
"""

from __future__ import annotations

from typing import Any

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.relayer.chain import NS
from ibc.relayer.path import SIDES, Path, other


def _enum(enum: Any, value: int) -> str:
    name = str(enum.Name(value)) if value in enum.values() else str(value)
    for prefix in ("CONNECTION_STATE_", "CHANNEL_STATE_", "ORDER_"):
        name = name.removeprefix(prefix)
    return name


def _client(path: Path, side: str) -> dict[str, Any]:
    chain = path.chain(side)
    client_id = path.end(side).client_id
    if not client_id:
        return {"client_id": "", "status": "not created"}
    cs = chain.client_state(client_id)
    if cs is None:
        return {"client_id": client_id, "status": "missing on chain"}
    cons = chain.consensus_state(client_id)
    now = chain.header_info(chain.latest_height()).time_ns
    age_ns = now - cons[0].timestamp_ns if cons else None
    expired = age_ns is not None and age_ns >= cs.trusting_period_ns
    status = "frozen" if cs.frozen_height else "expired" if expired else "active"
    return {
        "client_id": client_id,
        "tracks": cs.chain_id,
        "latest_height": int(cs.latest_height),
        "status": status,
        "age_s": None if age_ns is None else age_ns // NS,
        "trusting_period_s": int(cs.trusting_period_ns) // NS,
    }


def _connection(path: Path, side: str) -> dict[str, Any]:
    connection_id = path.end(side).connection_id
    if not connection_id:
        return {"connection_id": "", "state": "not created"}
    conn = path.chain(side).connection(connection_id)
    if conn is None:
        return {"connection_id": connection_id, "state": "missing on chain"}
    return {
        "connection_id": connection_id,
        "state": _enum(ibc_pb2.ConnectionState, conn.state),
        "counterparty_connection_id": conn.counterparty.connection_id,
    }


def _channels(path: Path, side: str) -> list[tuple[str, str, ibc_pb2.Channel]]:
    connection_id = path.end(side).connection_id
    if not connection_id:
        return []
    resp = path.chain(side).query("Channels", ibc_pb2.QueryChannelsRequest())
    return [
        (c.port_id, c.channel_id, c.channel)
        for c in resp.channels
        if c.channel.connection_hops and c.channel.connection_hops[0] == connection_id
    ]


def _pending(path: Path, side: str, port: str, channel_id: str, ch: ibc_pb2.Channel) -> Any:
    sent = path.chain(side).packet_commitments(port, channel_id)
    cp = ch.counterparty
    unreceived = (
        path.chain(other(side)).unreceived_packets(cp.port_id, cp.channel_id, sent)
        if sent and cp.channel_id
        else set(sent)
    )
    return {
        "unreceived": sorted(unreceived),
        "awaiting_ack": sorted(set(sent) - unreceived),
    }


def collect(path: Path) -> dict[str, Any]:
    """The status report of ``path`` as a JSON-ready dict."""
    report: dict[str, Any] = {"path": path.name, "ends": {}, "channels": []}
    for side in SIDES:
        chain = path.chain(side)
        report["ends"][side] = {
            "chain": chain.name,
            "chain_id": chain.chain_id,
            "height": chain.latest_height(),
            "client": _client(path, side),
            "connection": _connection(path, side),
        }
    b_channels = {(p, c): ch for p, c, ch in _channels(path, "b")}
    for port, channel_id, ch in _channels(path, "a"):
        cp = ch.counterparty
        ch_b = b_channels.get((cp.port_id, cp.channel_id))
        entry = {
            "port": port,
            "a": channel_id,
            "a_state": _enum(ibc_pb2.ChannelState, ch.state),
            "b": cp.channel_id,
            "b_state": _enum(ibc_pb2.ChannelState, ch_b.state) if ch_b else "absent",
            "ordering": _enum(ibc_pb2.Order, ch.ordering),
            "version": ch.version,
            "pending_a_to_b": _pending(path, "a", port, channel_id, ch),
            "pending_b_to_a": (
                _pending(path, "b", cp.port_id, cp.channel_id, ch_b) if ch_b else None
            ),
        }
        report["channels"].append(entry)
    return report


def _seqs(seqs: list[int]) -> str:
    if not seqs:
        return "-"
    text = ",".join(str(s) for s in seqs[:10])
    return text + (f",... ({len(seqs)})" if len(seqs) > 10 else "")


def render(report: dict[str, Any]) -> str:
    lines = [f"path {report['path']}"]
    for side in SIDES:
        end = report["ends"][side]
        c, conn = end["client"], end["connection"]
        client = (
            f"client {c['client_id']} of {c['tracks']}: {c['status']}, "
            f"height {c['latest_height']}, age {c['age_s']} s of {c['trusting_period_s']} s"
            if "tracks" in c
            else f"client {c['client_id'] or '-'}: {c['status']}"
        )
        lines.append(f"  {side}: {end['chain']} ({end['chain_id']}) at height {end['height']}")
        lines.append(f"     {client}")
        lines.append(
            f"     connection {conn['connection_id'] or '-'}: {conn['state']}"
            + (
                f" (counterparty {conn['counterparty_connection_id']})"
                if conn.get("counterparty_connection_id")
                else ""
            )
        )
    if not report["channels"]:
        lines.append("  channels: none")
    for ch in report["channels"]:
        lines.append(
            f"  channel {ch['port']}: a {ch['a']} {ch['a_state']} <-> b {ch['b']} {ch['b_state']}"
            f" ({ch['ordering'].lower()}, {ch['version']})"
        )
        for label, key in (("a->b", "pending_a_to_b"), ("b->a", "pending_b_to_a")):
            pending = ch[key]
            if pending is None:
                continue
            lines.append(
                f"     {label}: unreceived {_seqs(pending['unreceived'])}; "
                f"awaiting ack {_seqs(pending['awaiting_ack'])}"
            )
    return "\n".join(lines)
