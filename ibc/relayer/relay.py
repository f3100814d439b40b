"""``mgrid-relayer start`` and ``clear``: follow both chains and deliver what IBC needs.

One round (``Relayer.relay_once``):

1. Scan: read each chain's blocks from its cursor up to latest-1 (the last
   height whose state a header already commits: store height H is proven at
   H+1) with ``/block_results``, transactions' events and FinalizeBlock's
   (the energy application acknowledges when an interval clears, outside any
   transaction). ``send_packet`` and ``write_acknowledgement`` on the path's
   connection become pending work; channel handshake steps that someone else
   started on the connection become handshake tasks.
2. For each chain T as the destination of transactions, with S the other:
   - MsgRecvPacket for packets S sent that T has not received (the
     ``UnreceivedPackets`` query on T filters first, so two relayers or a
     restart do not even submit duplicates; the chain makes them no-ops
     anyway) and that T can still accept (not timed out);
   - MsgAcknowledgement for acknowledgements S wrote whose packet T still
     holds a commitment for (``UnreceivedAcks``);
   - MsgTimeout (or MsgTimeoutOnClose if S closed the channel) for packets T
     sent, not received on S, whose timeout height or timestamp S has passed
     at the proof height;
   all proven on S at one store height H, after one MsgUpdateClient bringing
   T's client of S to H+1, batched into as few transactions as the chain's
   limits allow (64 messages, 64 KiB). A failed batch is retried message by
   message so one bad packet cannot hold the others back; a message that
   keeps failing is retried with exponential backoff (in rounds).
3. Refresh: a client whose newest consensus state is older than
   refresh_fraction x trusting period is updated even with nothing to relay.
4. Cursors: each chain's cursor moves to the lowest height that still holds
   pending work (or past the scanned range) and is saved atomically: after
   a crash the relayer rescans from there and loses nothing.

Transactions that fail are logged with code and log and counted in
``mgrid_relayer_errors_total``; RPC failures are retried with backoff by
``run``. Nothing here raises out of the loop for a chain's answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from clients.mgrid.chain import ChainError
from clients.rpc import RPCError
from ibc import host
from ibc.relayer import link as linkmod
from ibc.relayer.chain import NS, ChainBehind, RelayerError
from ibc.relayer.events import EventError, IBCEvent
from ibc.relayer.path import SIDES, Path, TxFailed, msg, other

log = logging.getLogger("mgrid-relayer")

# How many blocks one round scans at most (a long catch-up proceeds in steps,
# relaying as it goes).
SCAN_BLOCKS_PER_ROUND = 200
# A packet whose timeout timestamp is this close to the destination's latest
# block time is not submitted for receipt any more (the next block would
# likely refuse it); it is timed out instead once that is provable.
TIMEOUT_MARGIN_NS = 2 * NS
MAX_BACKOFF_ROUNDS = 64
MAX_RPC_BACKOFF_S = 30.0
CLEAR_MAX_ROUNDS = 30
# Client ages are checked on the first round and every this many rounds after.
REFRESH_CHECK_ROUNDS = 10

PacketKey = tuple[str, str, int]  # (port, channel, sequence) on the chain that sent it


@dataclass
class Pending:
    """A packet sent (``ack`` None) or acknowledged (``ack`` set) on some chain."""

    packet: ibc_pb2.Packet
    height: int  # of the event
    ack: bytes | None = None
    failures: int = 0
    retry_round: int = 0  # not before this round (backoff after failures)

    def backoff(self, current_round: int) -> None:
        self.failures += 1
        # skip 1, 2, 4 ... rounds after the 1st, 2nd, 3rd ... failure
        self.retry_round = current_round + 1 + min(2 ** (self.failures - 1), MAX_BACKOFF_ROUNDS)


@dataclass(frozen=True)
class HandshakeTask:
    kind: str  # "try", "ack", "confirm", "close_confirm"
    side: str  # where the message goes
    port: str
    channel_id: str  # try: the counterparty's channel; else this side's
    counterparty_channel_id: str = ""
    height: int = 0  # of the event on the other side


@dataclass
class RoundReport:
    scanned: dict[str, int] = field(default_factory=dict)  # side -> blocks scanned
    relayed: dict[str, int] = field(default_factory=dict)  # kind -> messages
    errors: int = 0
    updated_clients: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.relayed.values())


@dataclass
class _Work:
    recv: list[Pending] = field(default_factory=list)
    ack: list[Pending] = field(default_factory=list)
    timeout: list[Pending] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.recv or self.ack or self.timeout)


class Relayer:
    """The relaying engine of one path (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        refresh_fraction: Fraction = Fraction(1, 3),
        scan_blocks: int = SCAN_BLOCKS_PER_ROUND,
    ):
        self.path = path
        self.refresh_fraction = refresh_fraction
        self.scan_blocks = scan_blocks
        # pending[side]: packets sent on side (ack None) and acks written on side
        self.sends: dict[str, dict[PacketKey, Pending]] = {s: {} for s in SIDES}
        self.acks: dict[str, dict[PacketKey, Pending]] = {s: {} for s in SIDES}
        self.tasks: dict[HandshakeTask, int] = {}  # task -> failures
        self.scanned_to: dict[str, int] = {s: 0 for s in SIDES}
        self._our_channels: dict[tuple[str, str, str], bool] = {}
        self.round = 0

    # -- scanning ----------------------------------------------------------------------------

    def scan(self, side: str, from_height: int | None = None, limit: int | None = None) -> int:
        """Read blocks of ``side`` from its cursor (or ``from_height``) to latest-1;
        returns how many blocks were read."""
        chain = self.path.chain(side)
        end = self.path.end(side)
        latest = chain.latest_height()
        start = from_height if from_height is not None else max(self.scanned_to[side] + 1, 1)
        if from_height is None and self.scanned_to[side] == 0:
            start = end.cursor if end.cursor else max(latest - 1, 1)
        last = min(latest - 1, start + (limit or self.scan_blocks) - 1)
        for height in range(start, last + 1):
            for event in chain.events(height):
                try:
                    self._on_event(side, event)
                except (EventError, ChainError, RelayerError) as exc:
                    log.warning("%s: skipping %s at %d: %s", chain.name, event.type, height, exc)
            self.scanned_to[side] = height
        if last < start and self.scanned_to[side] == 0:
            self.scanned_to[side] = start - 1
        return max(0, last - start + 1)

    def _is_ours(self, side: str, port: str, channel_id: str) -> bool:
        """Whether ``port/channel_id`` on ``side`` runs over the path's connection."""
        key = (side, port, channel_id)
        if key not in self._our_channels:
            ch = self.path.chain(side).channel(port, channel_id)
            ours = bool(
                ch is not None
                and ch.connection_hops
                and ch.connection_hops[0] == self.path.end(side).connection_id
            )
            if ch is None:
                return False  # not cached: it may appear later
            self._our_channels[key] = ours
        return self._our_channels[key]

    def _on_event(self, side: str, e: IBCEvent) -> None:
        if e.type == "send_packet":
            p = e.packet()
            if self._is_ours(side, p.source_port, p.source_channel):
                key = (p.source_port, p.source_channel, p.sequence)
                self.sends[side].setdefault(key, Pending(p, e.height))
        elif e.type == "write_acknowledgement":
            p = e.packet()
            if self._is_ours(side, p.destination_port, p.destination_channel):
                key = (p.source_port, p.source_channel, p.sequence)
                self.acks[side].setdefault(key, Pending(p, e.height, ack=e.ack()))
        elif e.type.startswith("channel_"):
            self._on_channel_event(side, e)

    def _on_channel_event(self, side: str, e: IBCEvent) -> None:
        if e.attrs.get("connection_id") != self.path.end(side).connection_id:
            return
        port, channel_id = e.get("port_id"), e.get("channel_id")
        cp_port = e.attrs.get("counterparty_port_id", "")
        cp_channel = e.attrs.get("counterparty_channel_id", "")
        there = other(side)
        task = None
        if e.type == "channel_open_init":
            task = HandshakeTask("try", there, port, channel_id, height=e.height)
        elif e.type == "channel_open_try":
            task = HandshakeTask("ack", there, cp_port, cp_channel, channel_id, e.height)
        elif e.type == "channel_open_ack":
            task = HandshakeTask("confirm", there, cp_port, cp_channel, channel_id, e.height)
        elif e.type == "channel_close_init":
            task = HandshakeTask("close_confirm", there, cp_port, cp_channel, channel_id, e.height)
        if task is not None:
            self.tasks.setdefault(task, 0)

    # -- handshakes started by others ----------------------------------------------------------

    def _run_tasks(self, report: RoundReport) -> None:
        for task in sorted(self.tasks, key=lambda t: (t.height, t.kind, t.port, t.channel_id)):
            try:
                done = self._run_task(task)
            except (TxFailed, RelayerError, ChainError) as exc:
                if isinstance(exc, ChainBehind):
                    continue
                failures = self.tasks[task] + 1
                self.tasks[task] = failures
                report.errors += 1
                log.error("handshake %s on %s: %s", task.kind, task.side, exc)
                if failures >= 5:
                    log.error("giving up handshake step %s after %d failures", task, failures)
                    del self.tasks[task]
                continue
            del self.tasks[task]
            if done:
                report.relayed[f"chan_{task.kind}"] = report.relayed.get(f"chan_{task.kind}", 0) + 1

    def _run_task(self, t: HandshakeTask) -> bool:
        """Do the step unless it is done already; True if a transaction was sent."""
        chain = self.path.chain(t.side)
        src = self.path.chain(other(t.side))
        if t.kind == "try":
            channels = chain.query("Channels", ibc_pb2.QueryChannelsRequest()).channels
            for c in channels:
                cp = c.channel.counterparty
                if cp.port_id == t.port and cp.channel_id == t.channel_id:
                    return False
            src_channel = src.channel(t.port, t.channel_id)
            if src_channel is None or src_channel.state != linkmod.CHAN_INIT:
                return False
            linkmod.chan_open_try(self.path, t.side, t.port, t.channel_id)
            return True
        ours = chain.channel(t.port, t.channel_id)
        if ours is None:
            return False
        if t.kind == "ack":
            if ours.state != linkmod.CHAN_INIT:
                return False
            linkmod.chan_open_ack(
                self.path, t.side, t.port, t.channel_id, t.counterparty_channel_id
            )
        elif t.kind == "confirm":
            if ours.state != linkmod.CHAN_TRYOPEN:
                return False
            linkmod.chan_open_confirm(self.path, t.side, t.port, t.channel_id)
        elif t.kind == "close_confirm":
            if ours.state == linkmod.CHAN_CLOSED:
                return False
            linkmod.chan_close_confirm(self.path, t.side, t.port, t.channel_id)
        return True

    # -- packets -----------------------------------------------------------------------------

    def _due(self, items: Iterable[Pending]) -> list[Pending]:
        return [p for p in items if p.retry_round <= self.round]

    def _collect(self, target: str) -> _Work:
        """What to submit on ``target`` (before the timeout-vs-proof-height check)."""
        src = other(target)
        t_chain, s_chain = self.path.chain(target), self.path.chain(src)
        work = _Work()
        # packets src sent: unreceived on target?
        for (port, channel), items in _group(self.sends[src], dst=True).items():
            due = self._due(items)
            if not due:
                continue
            unreceived = t_chain.unreceived_packets(port, channel, [p.packet.sequence for p in due])
            for p in due:
                if p.packet.sequence not in unreceived:
                    self._drop(self.sends[src], p)  # received; its ack will follow
                else:
                    work.recv.append(p)
        # acks src wrote for packets target sent: still committed on target?
        for (port, channel), items in _group(self.acks[src], dst=False).items():
            due = self._due(items)
            if not due:
                continue
            waiting = t_chain.unreceived_acks(port, channel, [p.packet.sequence for p in due])
            for p in due:
                if p.packet.sequence in waiting:
                    work.ack.append(p)
                else:
                    self._drop(self.acks[src], p)
        # packets target sent, unreceived on src, maybe timed out there
        for (port, channel), items in _group(self.sends[target], dst=True).items():
            candidates = [p for p in items if p.packet.timeout_height or p.packet.timeout_timestamp]
            if not candidates:
                continue
            unreceived = s_chain.unreceived_packets(
                port, channel, [p.packet.sequence for p in candidates]
            )
            work.timeout.extend(p for p in self._due(candidates) if p.packet.sequence in unreceived)
        return work

    @staticmethod
    def _drop(table: dict[PacketKey, Pending], p: Pending) -> None:
        table.pop((p.packet.source_port, p.packet.source_channel, p.packet.sequence), None)

    def _relay_to(self, target: str, report: RoundReport) -> None:
        src = other(target)
        t_chain, s_chain = self.path.chain(target), self.path.chain(src)
        work = self._collect(target)
        if not work:
            return
        # Can the packets still be received on target? (Judged by target's latest block.)
        t_latest = t_chain.latest_height()
        t_time = t_chain.header_info(t_latest).time_ns
        work.recv = [p for p in work.recv if not _expiring(p.packet, t_latest, t_time)]
        proof_height, update = self.path.client_update(target)
        s_header = s_chain.header_info(proof_height)
        work.timeout = [
            p for p in work.timeout if _timed_out(p.packet, proof_height, s_header.time_ns)
        ]
        if not work:
            return
        store_height = proof_height - 1
        items: list[tuple[str, Pending, tx_pb2.Msg]] = []
        for p in work.recv:
            m = self._recv_msg(src, p, store_height, proof_height)
            if m is not None:
                items.append(("recv", p, m))
        for p in work.ack:
            m = self._ack_msg(src, p, store_height, proof_height)
            if m is not None:
                items.append(("ack", p, m))
        for p in work.timeout:
            kind_m = self._timeout_msg(src, p, store_height, proof_height)
            if kind_m is not None:
                items.append((kind_m[0], p, kind_m[1]))
        if not items:
            return
        self._submit(target, update, items, report)
        if update:
            report.updated_clients.append(f"{t_chain.name}:{self.path.end(target).client_id}")

    def _recv_msg(self, src: str, p: Pending, h: int, proof_height: int) -> tx_pb2.Msg | None:
        pk = p.packet
        proven = self.path.chain(src).prove(
            host.key(host.packet_commitment_path(pk.source_port, pk.source_channel, pk.sequence)), h
        )
        if not proven.value:  # acknowledged or timed out meanwhile, or not yet at h
            if p.height <= h:
                self._drop(self.sends[src], p)
            return None
        if proven.value != host.packet_commitment(pk.timeout_timestamp, pk.timeout_height, pk.data):
            log.error(
                "%s: packet %s/%s/%d from the event does not match its commitment; skipped",
                self.path.chain(src).name,
                pk.source_port,
                pk.source_channel,
                pk.sequence,
            )
            self._drop(self.sends[src], p)
            return None
        return msg(
            "recv_packet",
            ibc_pb2.MsgRecvPacket(
                packet=pk, proof_commitment=proven.proof, proof_height=proof_height
            ),
        )

    def _ack_msg(self, src: str, p: Pending, h: int, proof_height: int) -> tx_pb2.Msg | None:
        pk = p.packet
        assert p.ack is not None
        proven = self.path.chain(src).prove(
            host.key(
                host.packet_ack_path(pk.destination_port, pk.destination_channel, pk.sequence)
            ),
            h,
        )
        if proven.value != host.ack_commitment(p.ack):
            if p.height <= h:
                log.error(
                    "%s: acknowledgement of %s/%s/%d does not match the chain's; skipped",
                    self.path.chain(src).name,
                    pk.destination_port,
                    pk.destination_channel,
                    pk.sequence,
                )
                self._drop(self.acks[src], p)
            return None
        return msg(
            "acknowledgement",
            ibc_pb2.MsgAcknowledgement(
                packet=pk,
                acknowledgement=p.ack,
                proof_acked=proven.proof,
                proof_height=proof_height,
            ),
        )

    def _timeout_msg(
        self, src: str, p: Pending, h: int, proof_height: int
    ) -> tuple[str, tx_pb2.Msg] | None:
        """MsgTimeout (or MsgTimeoutOnClose) for packet ``p`` sent to ``src``, proven on src."""
        pk = p.packet
        chain = self.path.chain(src)
        dst_channel = chain.channel(pk.destination_port, pk.destination_channel)
        ordered = dst_channel is not None and dst_channel.ordering == ibc_pb2.ORDER_ORDERED
        next_recv = 0
        if ordered:
            proven = chain.prove(
                host.key(host.next_sequence_recv_path(pk.destination_port, pk.destination_channel)),
                h,
            )
            next_recv = int.from_bytes(proven.value, "big") if proven.value else 0
            if next_recv > pk.sequence:
                self._drop(self.sends[other(src)], p)  # received after all
                return None
        else:
            proven = chain.prove(
                host.key(
                    host.packet_receipt_path(
                        pk.destination_port, pk.destination_channel, pk.sequence
                    )
                ),
                h,
            )
            if proven.value:
                self._drop(self.sends[other(src)], p)  # received after all
                return None
        if dst_channel is not None and dst_channel.state == ibc_pb2.CHANNEL_STATE_CLOSED:
            closed = chain.prove(
                host.key(host.channel_path(pk.destination_port, pk.destination_channel)), h
            )
            return "timeout_on_close", msg(
                "timeout_on_close",
                ibc_pb2.MsgTimeoutOnClose(
                    packet=pk,
                    proof_unreceived=proven.proof,
                    proof_close=closed.proof,
                    proof_height=proof_height,
                    next_sequence_recv=next_recv,
                ),
            )
        return "timeout", msg(
            "timeout",
            ibc_pb2.MsgTimeout(
                packet=pk,
                proof_unreceived=proven.proof,
                proof_height=proof_height,
                next_sequence_recv=next_recv,
            ),
        )

    def _submit(
        self,
        target: str,
        update: list[tx_pb2.Msg],
        items: list[tuple[str, Pending, tx_pb2.Msg]],
        report: RoundReport,
    ) -> None:
        chain = self.path.chain(target)
        chunks = chain.chunk([*update, *(m for _, _, m in items)])
        offset = 0
        for i, chunk in enumerate(chunks):
            n_packets = len(chunk) - (len(update) if i == 0 else 0)
            batch = items[offset : offset + n_packets]
            offset += n_packets
            what = _describe(batch, chain.name)
            try:
                self.path.submit(target, chunk, what)
            except TxFailed as exc:
                report.errors += 1
                log.error("%s", exc)
                if len(batch) == 1:
                    batch[0][1].backoff(self.round)
                    continue
                for single in batch:  # find the bad one(s); the rest still go through
                    try:
                        self.path.submit(
                            target, [*update, single[2]], _describe([single], chain.name)
                        )
                    except TxFailed as exc2:
                        report.errors += 1
                        log.error("%s", exc2)
                        single[1].backoff(self.round)
                        continue
                    self._done(target, [single], report)
                continue
            self._done(target, batch, report)

    def _done(
        self, target: str, batch: list[tuple[str, Pending, tx_pb2.Msg]], report: RoundReport
    ) -> None:
        src = other(target)
        for kind, p, _ in batch:
            report.relayed[kind] = report.relayed.get(kind, 0) + 1
            self.path.metrics.inc(
                "mgrid_relayer_packets_relayed_total",
                src_chain=self.path.chain(src).name,
                dst_chain=self.path.chain(target).name,
                kind=kind,
            )
            if kind == "recv":
                self._drop(self.sends[src], p)
            elif kind == "ack":
                self._drop(self.acks[src], p)
            else:
                self._drop(self.sends[target], p)

    # -- client refresh ----------------------------------------------------------------------

    def refresh_clients(self, report: RoundReport) -> None:
        for side in SIDES:
            if any(c.startswith(self.path.chain(side).name + ":") for c in report.updated_clients):
                continue
            chain = self.path.chain(side)
            client_id = self.path.end(side).client_id
            cs = chain.client_state(client_id)
            latest_cons = chain.consensus_state(client_id)
            if cs is None or latest_cons is None or cs.frozen_height:
                continue
            now = chain.header_info(chain.latest_height()).time_ns
            age = now - latest_cons[0].timestamp_ns
            if age > self.refresh_fraction * cs.trusting_period_ns:
                log.info(
                    "%s: client %s is %d s old (refresh after %d s): updating",
                    chain.name,
                    client_id,
                    age // NS,
                    int(self.refresh_fraction * cs.trusting_period_ns) // NS,
                )
                try:
                    self.path.update_client(side)
                except TxFailed as exc:
                    report.errors += 1
                    log.error("%s", exc)
                    continue
                report.updated_clients.append(f"{chain.name}:{client_id}")

    # -- cursors, metrics ----------------------------------------------------------------------

    def save_cursors(self) -> None:
        changed = False
        for side in SIDES:
            if self.scanned_to[side] == 0:
                continue
            heights = [p.height for p in self.sends[side].values()]
            heights += [p.height for p in self.acks[side].values()]
            heights += [t.height for t in self.tasks if t.side == other(side)]
            cursor = min([self.scanned_to[side] + 1, *heights])
            if cursor != self.path.end(side).cursor:
                self.path.end(side).cursor = cursor
                changed = True
        if changed:
            self.path.save()

    def update_pending_metrics(self) -> None:
        for side in SIDES:
            chain = self.path.chain(side)
            counts: dict[str, int] = {}
            for port, channel, _ in self.sends[side]:
                counts[f"{port}/{channel}"] = counts.get(f"{port}/{channel}", 0) + 1
            for p in self.acks[other(side)].values():
                key = f"{p.packet.source_port}/{p.packet.source_channel}"
                counts[key] = counts.get(key, 0) + 1
            for record in self.path.state.channels:
                channel_id = record.a if side == "a" else record.b
                if channel_id:
                    counts.setdefault(f"{record.port}/{channel_id}", 0)
            for key, n in counts.items():
                self.path.metrics.set(
                    "mgrid_relayer_packets_pending", n, chain=chain.name, channel=key
                )

    def pending_count(self) -> int:
        return sum(len(t) for t in self.sends.values()) + sum(len(t) for t in self.acks.values())

    # -- one round, the loop, clear ------------------------------------------------------------

    def relay_once(self, from_height: dict[str, int] | None = None) -> RoundReport:
        self.round += 1
        report = RoundReport()
        for side in SIDES:
            start = (from_height or {}).get(side)
            report.scanned[side] = self.scan(side, from_height=start)
        self._run_tasks(report)
        for target in SIDES:
            self._relay_to(target, report)
        if self.round % REFRESH_CHECK_ROUNDS == 1:
            self.refresh_clients(report)
        self.save_cursors()
        self.update_pending_metrics()
        if report.total:
            log.info(
                "round: relayed %s",
                ", ".join(f"{n} {k}" for k, n in sorted(report.relayed.items())),
            )
        return report

    def run(self, stop: threading.Event, poll_interval: float) -> None:
        """Rounds until ``stop`` is set; RPC failures back off exponentially."""
        failures = 0
        while not stop.is_set():
            try:
                report = self.relay_once()
            except ChainBehind as exc:
                log.debug("waiting: %s", exc)
                report = RoundReport()
            except (RPCError, ChainError, RelayerError, OSError) as exc:
                failures += 1
                delay = min(poll_interval * 2**failures, MAX_RPC_BACKOFF_S)
                log.error("round failed (%s); retrying in %.1f s", exc, delay)
                for side in SIDES:
                    name = self.path.chain(side).name
                    if name in str(exc) or self.path.chain(side).rpc.node in str(exc):
                        self.path.metrics.inc("mgrid_relayer_errors_total", chain=name)
                stop.wait(delay)
                continue
            failures = 0
            # Catching up: go on at once while whole scan windows are being read.
            if max(report.scanned.values(), default=0) >= self.scan_blocks:
                continue
            stop.wait(poll_interval)

    def clear(self, from_height: int | None = None) -> RoundReport:
        """Relay everything pending once (scanning from ``from_height`` on both chains,
        default the cursors) and return the totals.

        After a round that delivered something it waits for a block on both
        chains and goes again (a received packet's acknowledgement is written
        in the block that received it); it returns after a round with nothing
        to deliver. Acknowledgements an application writes later (energy
        offers, when their interval clears) are left to ``start``.
        """
        total = RoundReport()
        start = {s: from_height for s in SIDES} if from_height is not None else None
        # What is committed now is scanned once the next header commits it.
        for side in SIDES:
            chain = self.path.chain(side)
            chain.wait_for_height(chain.latest_height() + 1)
        for _ in range(CLEAR_MAX_ROUNDS):
            while True:  # catch up with the chains' heights first
                report = self.relay_once(start)
                start = None
                _merge(total, report)
                if max(report.scanned.values(), default=0) < self.scan_blocks:
                    break
            if not report.total:
                return total
            for side in SIDES:
                chain = self.path.chain(side)
                chain.wait_for_height(chain.latest_height() + 1)
        return total


def _merge(total: RoundReport, report: RoundReport) -> None:
    for k, n in report.relayed.items():
        total.relayed[k] = total.relayed.get(k, 0) + n
    for side, n in report.scanned.items():
        total.scanned[side] = total.scanned.get(side, 0) + n
    total.errors += report.errors
    total.updated_clients += report.updated_clients


def _group(table: dict[PacketKey, Pending], *, dst: bool) -> dict[tuple[str, str], list[Pending]]:
    """Pending items by the channel a query must name: the destination end (``dst``) or
    the source end, in sequence order."""
    out: dict[tuple[str, str], list[Pending]] = {}
    for key in sorted(table):
        p = table[key]
        pk = p.packet
        channel = (
            (pk.destination_port, pk.destination_channel)
            if dst
            else (pk.source_port, pk.source_channel)
        )
        out.setdefault(channel, []).append(p)
    return out


def _expiring(p: ibc_pb2.Packet, dst_height: int, dst_time_ns: int) -> bool:
    """Whether the destination's next block could refuse ``p`` as timed out."""
    if p.timeout_height and dst_height + 1 >= p.timeout_height:
        return True
    return bool(p.timeout_timestamp and dst_time_ns + TIMEOUT_MARGIN_NS >= p.timeout_timestamp)


def _timed_out(p: ibc_pb2.Packet, proof_height: int, proof_time_ns: int) -> bool:
    """ICS-04: a packet has timed out on the destination at ``proof_height`` (whose
    consensus time is ``proof_time_ns``) if either timeout is reached."""
    if p.timeout_height and proof_height >= p.timeout_height:
        return True
    return bool(p.timeout_timestamp and proof_time_ns >= p.timeout_timestamp)


def _describe(batch: list[tuple[str, Pending, tx_pb2.Msg]], chain: str) -> str:
    counts: dict[str, int] = {}
    for kind, _, _ in batch:
        counts[kind] = counts.get(kind, 0) + 1
    seqs = ",".join(str(p.packet.sequence) for _, p, _ in batch[:8])
    more = "..." if len(batch) > 8 else ""
    kinds = " ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"{kinds} (sequences {seqs}{more}) on {chain}"
