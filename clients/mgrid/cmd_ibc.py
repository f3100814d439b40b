"""``mgrid tx ibc transfer``, ``mgrid tx energy offer`` and the IBC queries:
coins and energy between two microgrid chains (docs/ibc.md).

    tx ibc transfer CHANNEL RECEIVER AMOUNT --from KEY [--port transfer]
          [--timeout-seconds S] [--packet-timeout-height H] [--packet-memo TEXT]
    tx energy offer CHANNEL --side sell|buy --quantity WH --price P
          (--delivery-start UNIX | --counterparty-node URL [--interval next|N]
           [--lead-seconds S]) [--denom DENOM] [--max-payment COIN]
          [--timeout-seconds S] --from KEY

    query ibc clients | client ID | consensus-state ID [--height H]
          | connections | connection ID | channels | channel PORT CHANNEL
          | packets PORT CHANNEL
    query transfer denom-traces | denom-trace HASH | escrow-address CHANNEL [--port P]
    query energy trades [--channel C] | trade CHANNEL SEQ [--outgoing]

A packet leaves this chain when the transaction is in a block; a relayer
(``mgrid-relayer``, docs/relayer.md) carries it to the other chain with a
proof and brings the acknowledgement back. Nobody has to trust the relayer:
each chain checks the other's proofs with its own light client.

``tx ibc transfer`` (ICS-20): AMOUNT is one coin, native (``1000ugrid``) or
a voucher (``5ibc/<hash>``). The packet times out ``--timeout-seconds``
(default 600) after this chain's latest block time, or at the other chain's
height ``--packet-timeout-height``, or whichever comes first when both are
given; an expired packet is refunded. ``--packet-memo`` travels in the
packet; ``--memo`` and ``--timeout-height`` stay the transaction's own, as
on every tx command (ibc-go names the packet's flags the same way). Before
signing, the wallet checks that the channel is open and says which denom
the receiver will get (a voucher ``ibc/<hash>`` of the trace
``<their port>/<their channel>/<denom>``, or the native coin for a voucher
going home).

``tx energy offer`` (the utility cell only): an offer to sell energy into,
or buy energy from, the microgrid at the other end of an ``energy`` channel
for one of *its* delivery intervals, at a limit price per kWh of *its*
denom. The interval is named by its start (``--delivery-start``, Unix
seconds), or looked up on the other chain's node (``--counterparty-node``):
``--interval N``, or ``next``, the earliest interval whose gate closes at
least ``--lead-seconds`` (default 10: time for the relayer) after that
chain's latest block time. ``--denom`` defaults to that node's denom, or
for a BUY to the base denom of its ``--max-payment`` vouchers' trace. A
SELL escrows nothing; a BUY escrows ``--max-payment`` in vouchers of the
receiver's denom over this channel (``energy/<channel>/<denom>``). The
packet times out at ``--timeout-seconds`` after this chain's latest block
time; by default at the interval's gate closure when the other node was
asked, else at the interval's start: a packet that arrives later could not
be entered in the clearing anyway, and a timeout releases everything at
once. With the other node at hand the wallet also checks the price and the
quantity against that market's bounds before signing.

Every tx prints the packet's sequence (from the ``send_packet`` event) and
how to follow it. Queries take ``--height H`` (the height of *this* chain
read), except ``consensus-state``, whose ``--height`` names the consensus
state (a height of the other chain; default the client's latest). Text
output is tables and ``field: value`` records as in the other query
commands; ``--output json`` prints the chain's response messages
(render.py).
"""

from __future__ import annotations

import hashlib
from typing import Any

from app.coins import Coin, CoinError, parse_coin
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from clients.mgrid import render
from clients.mgrid import tx as txmod
from clients.mgrid.chain import NS_PER_S, ChainClient, ChainError, TxResult, block_time_ns
from clients.mgrid.session import (
    NEXT,
    ExitCode,
    Session,
    UsageError,
    add_height,
    add_tx_flags,
    energy_arg,
    interval_arg,
    leaf,
    sign_and_broadcast,
    uint_arg,
)

TRANSFER_PORT = "transfer"
ENERGY_PORT = "energy"
DEFAULT_TIMEOUT_SECONDS = 600
DEFAULT_LEAD_SECONDS = 10
# How many intervals past the first open one ``--interval next`` looks at.
MAX_LOOKAHEAD = 16
SIDES = {"buy": market_pb2.SIDE_BUY, "sell": market_pb2.SIDE_SELL}
SEND_PACKET = "send_packet"
PLACEHOLDER_DENOM = "udenom"
PACKET_INTS = ("packet_sequence", "packet_timeout_height", "packet_timeout_timestamp")

CLIENT_HEADERS = ("client_id", "chain_id", "latest_height", "status", "trusting_period")
CONNECTION_HEADERS = (
    "connection_id",
    "client_id",
    "state",
    "counterparty_client",
    "counterparty_connection",
    "versions",
)
CHANNEL_HEADERS = (
    "port",
    "channel",
    "state",
    "ordering",
    "counterparty",
    "connection",
    "version",
)
TRACE_HEADERS = ("denom", "path", "base_denom")
TRADE_HEADERS = (
    "channel",
    "seq",
    "dir",
    "side",
    "delivery_start",
    "quantity_wh",
    "limit_price",
    "status",
    "filled_wh",
    "price",
    "amount",
)


# -- parser ---------------------------------------------------------------------------------


def add_ibc_tx_commands(tx: Any) -> None:
    """``tx ibc`` subcommands."""
    p = leaf(
        tx,
        "transfer",
        cmd_transfer,
        "send coins to an account on the chain at the other end of a channel (ICS-20)",
    )
    p.add_argument("channel", metavar="CHANNEL", help="this chain's end, e.g. channel-0")
    p.add_argument("receiver", metavar="RECEIVER", help="the address on the other chain")
    p.add_argument("amount", metavar="AMOUNT", help="one coin: 1000ugrid or 5ibc/<hash>")
    p.add_argument("--port", default=TRANSFER_PORT, help=f"default {TRANSFER_PORT}")
    p.add_argument(
        "--timeout-seconds",
        type=uint_arg,
        metavar="S",
        help=f"packet timeout after this chain's latest block time (default "
        f"{DEFAULT_TIMEOUT_SECONDS} unless --packet-timeout-height is given; 0: none)",
    )
    p.add_argument(
        "--packet-timeout-height",
        type=uint_arg,
        metavar="H",
        default=0,
        help="packet timeout at this height of the other chain (0: none)",
    )
    p.add_argument("--packet-memo", default="", metavar="TEXT", help="memo carried in the packet")
    add_tx_flags(p)


def add_energy_tx_commands(tx: Any) -> None:
    """``tx energy`` subcommands."""
    p = leaf(
        tx,
        "offer",
        cmd_offer,
        "offer energy to the microgrid at the other end of an energy channel (utility cell)",
    )
    p.add_argument("channel", metavar="CHANNEL", help="this chain's end of the energy channel")
    p.add_argument("--side", required=True, choices=sorted(SIDES), help="sell into, or buy from")
    p.add_argument(
        "--quantity", required=True, type=energy_arg, metavar="WH", help="1500, 1500Wh or 1.5kWh"
    )
    p.add_argument(
        "--price",
        required=True,
        type=uint_arg,
        metavar="P",
        help="limit price per kWh, in the smallest unit of the receiver's denom",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--delivery-start",
        type=uint_arg,
        metavar="UNIX",
        help="start of the receiver's delivery interval (Unix seconds)",
    )
    where.add_argument(
        "--counterparty-node",
        metavar="URL",
        help="the other chain's RPC: looks the interval, denom and bounds up there",
    )
    p.add_argument(
        "--interval",
        type=interval_arg,
        metavar="N|next",
        help="with --counterparty-node: the receiver's interval (default next)",
    )
    p.add_argument(
        "--lead-seconds",
        type=uint_arg,
        metavar="S",
        default=DEFAULT_LEAD_SECONDS,
        help=f"next: the gate must close at least S seconds ahead (default {DEFAULT_LEAD_SECONDS})",
    )
    p.add_argument("--denom", help="the receiver's denom (default: asked from --counterparty-node)")
    p.add_argument(
        "--max-payment",
        metavar="COIN",
        help="BUY: vouchers escrowed to pay for the energy, e.g. 5000ibc/<hash>",
    )
    p.add_argument(
        "--timeout-seconds",
        type=uint_arg,
        metavar="S",
        help="packet timeout after this chain's latest block time (default: the interval's "
        "gate closure, or its start)",
    )
    add_tx_flags(p)


def add_ibc_query_commands(query: Any) -> None:
    """``query ibc`` subcommands."""
    add_height(leaf(query, "clients", cmd_clients, "light clients of other chains"))
    p = leaf(query, "client", cmd_client, "a client's state and latest consensus state")
    p.add_argument("client_id", metavar="ID")
    add_height(p)
    p = leaf(
        query, "consensus-state", cmd_consensus_state, "a client's consensus state at a height"
    )
    p.add_argument("client_id", metavar="ID")
    p.add_argument(
        "--height",
        type=uint_arg,
        default=0,
        metavar="H",
        help="the other chain's height (0: the client's latest)",
    )
    add_height(leaf(query, "connections", cmd_connections, "connections (ICS-03)"))
    p = leaf(query, "connection", cmd_connection, "one connection")
    p.add_argument("connection_id", metavar="ID")
    add_height(p)
    add_height(leaf(query, "channels", cmd_channels, "channels (ICS-04)"))
    p = leaf(query, "channel", cmd_channel, "one channel end")
    p.add_argument("port", metavar="PORT")
    p.add_argument("channel", metavar="CHANNEL")
    add_height(p)
    p = leaf(
        query,
        "packets",
        cmd_packets,
        "a channel's pending packet commitments, written acks and next receive sequence",
    )
    p.add_argument("port", metavar="PORT")
    p.add_argument("channel", metavar="CHANNEL")
    add_height(p)


def add_transfer_query_commands(query: Any) -> None:
    """``query transfer`` subcommands."""
    add_height(leaf(query, "denom-traces", cmd_denom_traces, "every voucher denom's trace"))
    p = leaf(query, "denom-trace", cmd_denom_trace, "the trace of one voucher denom")
    p.add_argument("hash", metavar="HASH", help="hex, or ibc/<hex>")
    add_height(p)
    p = leaf(query, "escrow-address", cmd_escrow_address, "the account escrowing a channel's coins")
    p.add_argument("channel", metavar="CHANNEL")
    p.add_argument("--port", default=TRANSFER_PORT, help=f"default {TRANSFER_PORT}")
    add_height(p)


def add_energy_query_commands(query: Any) -> None:
    """``query energy`` subcommands."""
    p = leaf(query, "trades", cmd_trades, "inter-microgrid energy trades, both directions")
    p.add_argument("--channel", default="", metavar="C", help="one channel's (default: all)")
    add_height(p)
    p = leaf(query, "trade", cmd_trade, "one inter-microgrid trade")
    p.add_argument("channel", metavar="CHANNEL", help="this chain's end of the channel")
    p.add_argument("sequence", metavar="SEQ", type=uint_arg)
    p.add_argument(
        "--outgoing", action="store_true", help="the trade this chain offered (default: received)"
    )
    add_height(p)


# -- helpers shared with the simulator -------------------------------------------------------


def voucher_denom(trace: str) -> str:
    """The denom of a full trace: ``ibc/<SHA-256 of the trace, upper hex>``, or the trace
    itself when it has no port/channel path (a native denom)."""
    if "/" not in trace:
        return trace
    return "ibc/" + hashlib.sha256(trace.encode()).hexdigest().upper()


def trace_text(trace: Any) -> str:
    """``path/base_denom`` of a DenomTrace (just the base for an empty path)."""
    return f"{trace.path}/{trace.base_denom}" if trace.path else str(trace.base_denom)


def received_denom(full_trace: str, port: str, channel: str, cp_port: str, cp_channel: str) -> str:
    """The trace the receiver holds after a transfer of ``full_trace`` over ``port/channel``
    (ICS-20): the prefix removed for a voucher going home, the receiving end prepended
    otherwise."""
    home = f"{port}/{channel}/"
    if full_trace.startswith(home):
        return full_trace[len(home) :]
    return f"{cp_port}/{cp_channel}/{full_trace}"


def counterparty_interval(
    cp: ChainClient, which: int | str, lead_seconds: int = DEFAULT_LEAD_SECONDS
) -> Any:
    """The counterparty's ``IntervalState`` an offer is for.

    ``next``: the earliest interval still taking orders whose gate closes at
    least ``lead_seconds`` after the counterparty's latest block time; a
    number: that interval, which must still be taking orders.
    """
    sched = cp.schedule()
    now = int(sched.block_time)
    if which == NEXT:
        n = int(sched.first_open)
        for _ in range(MAX_LOOKAHEAD):
            state = cp.interval(n)
            if int(state.gate_closure_time) - now >= lead_seconds:
                return state
            n += 1
        raise ChainError(
            f"no interval of the other chain closes its gate {lead_seconds} s or more after "
            f"its block time {render.block_time(now)} within {MAX_LOOKAHEAD} intervals"
        )
    state = cp.interval(int(which))
    if int(state.gate_closure_time) <= now:
        raise UsageError(
            f"--interval {which}: the other chain closed that interval's gate at "
            f"{render.block_time(int(state.gate_closure_time))} (its block time is "
            f"{render.block_time(now)}); use --interval next"
        )
    return state


def _open_channel(s: Session, port: str, channel: str) -> Any:
    """This chain's channel end ``port/channel``, which must be OPEN."""
    end = s.chain.ibc_channel(port, channel)
    if end.state != ibc_pb2.CHANNEL_STATE_OPEN:
        state = render.enum_label(ibc_pb2.ChannelState.DESCRIPTOR, end.state)
        raise ChainError(
            f"channel {port}/{channel} is {state}, not open: packets cannot be sent on it "
            "(a new channel opens when the relayer finishes its handshake: mgrid-relayer link; "
            "`mgrid query ibc channels` lists the channels)"
        )
    return end


def _packet_report(r: TxResult, follow: str) -> tuple[dict[str, Any], list[str]]:
    """The packet of a ``send_packet`` event: JSON fields and text lines."""
    event = next((e for e in r.events if e.type == SEND_PACKET), None)
    if event is None:
        if r.phase == "check":
            return {"packet": None}, ["packet: known once the transaction is in a block"]
        return {"packet": None}, []
    packet: dict[str, Any] = {}
    for key, value in event.attributes:
        if key in PACKET_INTS and value.isdigit():
            packet[key.removeprefix("packet_")] = int(value)
        elif key.startswith("packet_") and key != "packet_data_hex":
            packet[key.removeprefix("packet_")] = value
        elif key == "connection_id":
            packet[key] = value
    seq = packet.get("sequence", "?")
    route = (
        f"{packet.get('src_port', '?')}/{packet.get('src_channel', '?')} -> "
        f"{packet.get('dst_port', '?')}/{packet.get('dst_channel', '?')}"
    )
    lines = [f"packet: sequence {seq}, {route}", follow.format(seq=seq)]
    return {"packet": packet}, lines


def _timeout_ns(s: Session, seconds: int) -> int:
    """This chain's latest block time plus ``seconds``, in Unix ns (0 seconds: 0, none)."""
    if not seconds:
        return 0
    return block_time_ns(s.rpc) + seconds * NS_PER_S


# -- transactions ---------------------------------------------------------------------------


def cmd_transfer(s: Session) -> int:
    a = s.args
    try:
        token = parse_coin(a.amount)
    except CoinError as exc:
        raise UsageError(f"AMOUNT: {exc}") from None
    if not token.amount:
        raise UsageError("AMOUNT: a transfer of 0 moves nothing")
    if not a.receiver.strip():
        raise UsageError("RECEIVER is empty")
    seconds = a.timeout_seconds
    if seconds is None:
        seconds = 0 if a.packet_timeout_height else DEFAULT_TIMEOUT_SECONDS
    if not seconds and not a.packet_timeout_height:
        raise UsageError(
            "a packet needs a timeout: --timeout-seconds S, --packet-timeout-height H, or both"
        )
    shape = txmod.msg_transfer(
        a.channel,
        token,
        a.receiver,
        source_port=a.port,
        timeout_height=a.packet_timeout_height,
        timeout_timestamp=1 if seconds else 0,
        memo=a.packet_memo,
    )
    try:  # the chain's stateless checks first: they cost no query and no passphrase
        txmod.validate_messages([shape])
    except txmod.TxBuildError as exc:
        raise UsageError(str(exc)) from None
    extra: dict[str, Any] = {}
    notes: list[str] = []
    if not a.generate_only:
        end = _open_channel(s, a.port, a.channel)
        full = token.denom
        if token.denom.startswith("ibc/"):
            full = trace_text(s.chain.denom_trace(token.denom))
        theirs = received_denom(
            full, a.port, a.channel, end.counterparty.port_id, end.counterparty.channel_id
        )
        extra = {"receiver_denom": voucher_denom(theirs), "receiver_trace": theirs}
        shown = voucher_denom(theirs) + (f" (trace {theirs})" if "/" in theirs else "")
        notes = [f"the receiver gets: {token.amount}{shown}"]
    msg = txmod.msg_transfer(
        a.channel,
        token,
        a.receiver,
        source_port=a.port,
        timeout_height=a.packet_timeout_height,
        timeout_timestamp=_timeout_ns(s, seconds),
        memo=a.packet_memo,
    )

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        data, lines = _packet_report(
            r,
            "a relayer delivers it; `mgrid query ibc packets "
            f"{a.port} {a.channel}` shows it pending until acknowledged",
        )
        return {**data, **extra}, [*lines, *notes]

    return sign_and_broadcast(s, a.from_key, [msg], report)


def cmd_offer(s: Session) -> int:
    a = s.args
    side = SIDES[a.side]
    max_payment = _max_payment(a.max_payment, a.side)
    if a.interval is not None and a.counterparty_node is None:
        raise UsageError("--interval needs --counterparty-node (or give --delivery-start)")
    # a BUY's denom is its vouchers' base denom, read from their trace on this chain
    denom_from_trace = max_payment is not None and not a.generate_only
    if a.delivery_start is not None and not a.denom and not denom_from_trace:
        raise UsageError("--denom: the receiver's denom (or give --counterparty-node)")
    shape = txmod.msg_offer_energy(
        a.channel,
        side,
        delivery_start=a.delivery_start or 1,
        quantity_wh=a.quantity,
        limit_price=a.price,
        timeout_timestamp=1,
        max_payment=max_payment,
        denom=a.denom or PLACEHOLDER_DENOM,  # the other node tells the real one
    )
    try:  # the chain's stateless checks before asking any node
        txmod.validate_messages([shape])
    except txmod.TxBuildError as exc:
        raise UsageError(str(exc)) from None
    denom = a.denom
    timeout_ns: int | None = None
    if a.delivery_start is not None:
        start = int(a.delivery_start)
        # the clearing cannot take the offer after the interval starts: time out then
        default_timeout = start * NS_PER_S
        if not denom and max_payment is not None:
            denom = _voucher_base(s, max_payment, a.channel)
    else:
        cp = ChainClient(s.env.rpc_factory(a.counterparty_node))
        state = counterparty_interval(
            cp, NEXT if a.interval is None else a.interval, a.lead_seconds
        )
        start = int(state.start_time)
        default_timeout = int(state.gate_closure_time) * NS_PER_S
        denom = denom or cp.bank_params().denom
        _check_counterparty_bounds(cp, a.quantity, a.price, int(state.id))
    if a.timeout_seconds is not None:
        if not a.timeout_seconds:
            raise UsageError("--timeout-seconds: an offer needs a timeout (give S > 0)")
        timeout_ns = _timeout_ns(s, a.timeout_seconds)
    else:
        timeout_ns = default_timeout
    msg = txmod.msg_offer_energy(
        a.channel,
        side,
        delivery_start=start,
        quantity_wh=a.quantity,
        limit_price=a.price,
        timeout_timestamp=timeout_ns,
        max_payment=max_payment,
        denom=denom,
    )
    try:
        txmod.validate_messages([msg])
    except txmod.TxBuildError as exc:
        raise UsageError(str(exc)) from None
    if not a.generate_only:
        _open_channel(s, ENERGY_PORT, a.channel)
        if max_payment is not None:
            _check_voucher(s, max_payment, a.channel, denom)
    notes = [
        f"offer: {a.side} {render.kwh(a.quantity)} at {a.price}{denom}/kWh for the interval "
        f"starting {render.block_time(start)}, timeout {timeout_ns} ns"
    ]

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        data, lines = _packet_report(
            r,
            f"follow it: mgrid query energy trade {a.channel} {{seq}} --outgoing "
            "(filled once the other chain clears the interval and the ack is relayed)",
        )
        return {**data, "delivery_start": start, "denom": denom}, [*lines, *notes]

    return sign_and_broadcast(s, a.from_key, [msg], report)


def _max_payment(text: str | None, side: str) -> Coin | None:
    if side == "sell":
        if text is not None:
            raise UsageError("--max-payment is for a BUY: a SELL escrows nothing")
        return None
    if text is None:
        raise UsageError(
            "--max-payment: a BUY escrows the most it may pay, in vouchers of the receiver's "
            "denom over this channel (e.g. 5000ibc/<hash>; mgrid query transfer denom-traces)"
        )
    try:
        coin = parse_coin(text)
    except CoinError as exc:
        raise UsageError(f"--max-payment: {exc}") from None
    if not coin.amount:
        raise UsageError("--max-payment must be above 0")
    return coin


def _voucher_base(s: Session, coin: Coin, channel: str) -> str:
    """The base denom of the vouchers ``coin``, which must have come over this energy
    channel."""
    if not coin.denom.startswith("ibc/"):
        raise UsageError("--max-payment must be vouchers (ibc/...) of the receiver's denom")
    trace = s.chain.denom_trace(coin.denom)
    if trace.path != f"{ENERGY_PORT}/{channel}":
        raise UsageError(
            f"--max-payment: {coin.denom} is {trace_text(trace)}, not a voucher that came "
            f"over {ENERGY_PORT}/{channel}"
        )
    return str(trace.base_denom)


def _check_voucher(s: Session, coin: Coin, channel: str, denom: str) -> None:
    """A BUY pays in vouchers of ``denom`` that came over this energy channel."""
    want = f"{ENERGY_PORT}/{channel}/{denom}"
    if coin.denom != voucher_denom(want):
        raise UsageError(
            f"--max-payment must be {voucher_denom(want)}, the vouchers of {want} "
            f"(the receiver's {denom} that came over {ENERGY_PORT}/{channel}); got {coin.denom}"
        )


def _check_counterparty_bounds(cp: ChainClient, quantity: int, price: int, interval: int) -> None:
    """Refuse before signing what the other chain would answer with an error ack."""
    params = cp.market_params().params
    low = params.min_price if params.HasField("min_price") else params.feed_in_tariff
    high = params.max_price if params.HasField("max_price") else params.retail_tariff
    if not low <= price <= high:
        raise UsageError(
            f"--price {price}: the other chain takes limit prices in [{low}, {high}] per kWh"
        )
    if params.max_order_wh and quantity > params.max_order_wh:
        raise UsageError(
            f"--quantity {quantity} Wh: the other chain takes at most {params.max_order_wh} Wh "
            f"per order (interval {interval})"
        )
    if quantity < params.min_order_wh:
        raise UsageError(
            f"--quantity {quantity} Wh: the other chain takes at least {params.min_order_wh} Wh"
        )


# -- ibc core queries -----------------------------------------------------------------------


def _client_status(cs: Any, consensus: Any | None, now_ns: int) -> str:
    """``frozen``, ``expired`` (the latest consensus state is older than the trusting
    period at this chain's block time) or ``active``."""
    if cs.frozen_height:
        return "frozen"
    if consensus is not None and consensus.timestamp_ns + cs.trusting_period_ns <= now_ns:
        return "expired"
    return "active"


def _duration(ns: int) -> str:
    """Nanoseconds as days/hours/minutes/seconds: ``14d``, ``1h30m``, ``10s``."""
    seconds = ns // NS_PER_S
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or f"{ns}ns"


def _latest_consensus(s: Session, client_id: str, height: int) -> Any | None:
    resp = s.chain.ibc_consensus_state(client_id, 0, height)
    return resp.consensus_state if resp.HasField("consensus_state") else None


def cmd_clients(s: Session) -> int:
    h = s.args.height
    clients = s.chain.ibc_clients(h)
    now = block_time_ns(s.rpc) if clients else 0
    rows = []
    for c in clients:
        cs = c.client_state
        status = _client_status(cs, _latest_consensus(s, c.client_id, h), now)
        rows.append(
            [
                c.client_id,
                cs.chain_id,
                str(cs.latest_height),
                status,
                _duration(cs.trusting_period_ns),
            ]
        )
    text = render.table(CLIENT_HEADERS, rows) if rows else "no clients"
    data = {"clients": [render.proto_json(c) for c in clients]}
    s.emit(data, text)
    return ExitCode.OK


def cmd_client(s: Session) -> int:
    a = s.args
    cs = s.chain.ibc_client_state(a.client_id, a.height)
    resp = s.chain.ibc_consensus_state(a.client_id, 0, a.height)
    consensus = resp.consensus_state if resp.HasField("consensus_state") else None
    status = _client_status(cs, consensus, block_time_ns(s.rpc))
    lines = [f"client_id: {a.client_id}", f"status: {status}", render.record_text(cs)]
    data: dict[str, Any] = {
        "client_id": a.client_id,
        "status": status,
        "client_state": render.proto_json(cs),
    }
    if consensus is not None:
        lines += [f"latest consensus state (height {resp.height}):", _consensus_text(consensus)]
        data["consensus_state"] = render.proto_json(consensus)
        data["consensus_height"] = int(resp.height)
    s.emit(data, "\n".join(lines))
    return ExitCode.OK


def _consensus_text(cons: Any, indent: str = "  ") -> str:
    return "\n".join(
        [
            f"{indent}timestamp: {cons.timestamp_ns} ({render.block_time(cons.timestamp_ns // NS_PER_S)})",
            f"{indent}root (app hash): {bytes(cons.root).hex().upper()}",
            f"{indent}next_validators_hash: {bytes(cons.next_validators_hash).hex().upper()}",
        ]
    )


def cmd_consensus_state(s: Session) -> int:
    a = s.args
    # --height names the consensus state here; the chain is read at its latest height.
    resp = s.chain.ibc_consensus_state(a.client_id, a.height)
    text = f"client_id: {a.client_id}\nheight: {resp.height}\n" + _consensus_text(
        resp.consensus_state, ""
    )
    s.emit({"client_id": a.client_id, **render.proto_json(resp)}, text)
    return ExitCode.OK


def _label(enum: Any, number: int) -> str:
    return render.enum_label(enum.DESCRIPTOR, number)


def _versions(conn: Any) -> str:
    return "; ".join(f"{v.identifier} ({', '.join(v.features)})" for v in conn.versions) or "-"


def cmd_connections(s: Session) -> int:
    conns = s.chain.ibc_connections(s.args.height)
    rows = [
        [
            c.connection_id,
            c.connection.client_id,
            _label(ibc_pb2.ConnectionState, c.connection.state),
            c.connection.counterparty.client_id or "-",
            c.connection.counterparty.connection_id or "-",
            _versions(c.connection),
        ]
        for c in conns
    ]
    text = render.table(CONNECTION_HEADERS, rows) if rows else "no connections"
    s.emit({"connections": [render.proto_json(c) for c in conns]}, text)
    return ExitCode.OK


def cmd_connection(s: Session) -> int:
    a = s.args
    conn = s.chain.ibc_connection(a.connection_id, a.height)
    cp = conn.counterparty
    lines = [
        f"connection_id: {a.connection_id}",
        f"client_id: {conn.client_id}",
        f"state: {_label(ibc_pb2.ConnectionState, conn.state)}",
        f"versions: {_versions(conn)}",
        f"delay_period: {conn.delay_period}",
        "counterparty:",
        f"  client_id: {cp.client_id or '-'}",
        f"  connection_id: {cp.connection_id or '-'}",
        f"  prefix: {bytes(cp.prefix).decode('utf-8', 'replace') or '-'}",
    ]
    s.emit(
        {"connection_id": a.connection_id, "connection": render.proto_json(conn)}, "\n".join(lines)
    )
    return ExitCode.OK


def _channel_row(port: str, channel: str, ch: Any) -> list[str]:
    cp = ch.counterparty
    return [
        port,
        channel,
        _label(ibc_pb2.ChannelState, ch.state),
        _label(ibc_pb2.Order, ch.ordering),
        f"{cp.port_id}/{cp.channel_id or '-'}",
        ", ".join(ch.connection_hops) or "-",
        ch.version or "-",
    ]


def cmd_channels(s: Session) -> int:
    chans = s.chain.ibc_channels(s.args.height)
    rows = [_channel_row(c.port_id, c.channel_id, c.channel) for c in chans]
    text = render.table(CHANNEL_HEADERS, rows) if rows else "no channels"
    s.emit({"channels": [render.proto_json(c) for c in chans]}, text)
    return ExitCode.OK


def cmd_channel(s: Session) -> int:
    a = s.args
    ch = s.chain.ibc_channel(a.port, a.channel, a.height)
    cells = _channel_row(a.port, a.channel, ch)
    text = "\n".join(f"{head}: {cell}" for head, cell in zip(CHANNEL_HEADERS, cells, strict=True))
    data = {"port_id": a.port, "channel_id": a.channel, "channel": render.proto_json(ch)}
    s.emit(data, text)
    return ExitCode.OK


def _sequences(seqs: list[int]) -> str:
    """``1-3, 7, 9-10``: sorted sequences with runs collapsed."""
    if not seqs:
        return "none"
    ordered = sorted(seqs)
    runs: list[list[int]] = [[ordered[0], ordered[0]]]
    for n in ordered[1:]:
        if n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in runs)


def cmd_packets(s: Session) -> int:
    a = s.args
    h = s.args.height
    ch = s.chain.ibc_channel(a.port, a.channel, h)
    pending = s.chain.packet_commitments(a.port, a.channel, h)
    acks = s.chain.packet_acknowledgements(a.port, a.channel, h)
    next_recv = s.chain.next_sequence_receive(a.port, a.channel, h)
    ordered = ch.ordering == ibc_pb2.ORDER_ORDERED
    data = {
        "port_id": a.port,
        "channel_id": a.channel,
        "ordering": ibc_pb2.Order.Name(ch.ordering),
        "pending_commitments": pending,
        "acknowledgements": acks,
        "next_sequence_receive": next_recv,
    }
    cp = ch.counterparty
    lines = [
        f"channel: {a.port}/{a.channel} <-> {cp.port_id}/{cp.channel_id or '-'} "
        f"({_label(ibc_pb2.ChannelState, ch.state)}, {_label(ibc_pb2.Order, ch.ordering)})",
        f"sent, not yet acknowledged or timed out ({len(pending)}): {_sequences(pending)}",
        f"received here, acknowledgement written ({len(acks)}): {_sequences(acks)}",
        f"next sequence receive: {next_recv}"
        + ("" if ordered else " (an unordered channel receives in any order)"),
    ]
    if pending:
        lines.append(
            "pending packets wait for a relayer: mgrid-relayer clear relays them once "
            "(docs/relayer.md)"
        )
    s.emit(data, "\n".join(lines))
    return ExitCode.OK


# -- transfer queries -----------------------------------------------------------------------


def cmd_denom_traces(s: Session) -> int:
    traces = s.chain.denom_traces(s.args.height)
    rows = [[voucher_denom(trace_text(t)), t.path, t.base_denom] for t in traces]
    text = render.table(TRACE_HEADERS, rows) if rows else "no vouchers on this chain yet"
    data = {
        "denom_traces": [
            {"denom": voucher_denom(trace_text(t)), **render.proto_json(t)} for t in traces
        ]
    }
    s.emit(data, text)
    return ExitCode.OK


def cmd_denom_trace(s: Session) -> int:
    trace = s.chain.denom_trace(s.args.hash, s.args.height)
    denom = voucher_denom(trace_text(trace))
    s.emit(
        {"denom": denom, "denom_trace": render.proto_json(trace)},
        f"denom: {denom}\npath: {trace.path}\nbase_denom: {trace.base_denom}",
    )
    return ExitCode.OK


def cmd_escrow_address(s: Session) -> int:
    a = s.args
    address = s.chain.escrow_address(a.port, a.channel, a.height)
    s.emit({"escrow_address": address}, address)
    return ExitCode.OK


# -- energy queries -------------------------------------------------------------------------


def _trade_row(t: Any) -> list[str]:
    o, r = t.offer, t.result
    filled = t.status == energy_pb2.OFFER_STATUS_FILLED
    return [
        t.channel_id,
        str(t.sequence),
        "out" if t.outgoing else "in",
        _label(market_pb2.Side, o.side),
        str(o.delivery_start),
        str(o.quantity_wh),
        f"{o.limit_price}{o.denom}",
        _label(energy_pb2.OfferStatus, t.status),
        str(r.filled_wh) if filled else "-",
        str(r.price) if filled and r.filled_wh else "-",
        f"{r.amount or 0}{o.denom}" if filled else "-",
    ]


def cmd_trades(s: Session) -> int:
    a = s.args
    trades = s.chain.energy_trades(a.channel, a.height)
    if trades:
        text = render.table(TRADE_HEADERS, [_trade_row(t) for t in trades])
        text += "\n(dir out: offered by this chain's utility; in: received from the other chain)"
    else:
        where = f" on {a.channel}" if a.channel else ""
        text = f"no inter-microgrid trades{where}"
    s.emit({"trades": [render.proto_json(t) for t in trades]}, text)
    return ExitCode.OK


def cmd_trade(s: Session) -> int:
    a = s.args
    t = s.chain.energy_trade(a.channel, a.sequence, a.outgoing, a.height)
    s.emit({"trade": render.proto_json(t)}, _trade_text(t))
    return ExitCode.OK


def _trade_text(t: Any) -> str:
    o = t.offer
    lines = [
        f"channel: {t.port_id}/{t.channel_id}",
        f"sequence: {t.sequence}",
        f"direction: {'outgoing (offered here)' if t.outgoing else 'incoming (received)'}",
        f"status: {_label(energy_pb2.OfferStatus, t.status)}",
        f"height: {t.height}",
        "offer:",
        f"  offerer: {o.offerer}",
        f"  side: {_label(market_pb2.Side, o.side)}",
        f"  delivery_start: {render.block_time(o.delivery_start)}",
        f"  quantity: {o.quantity_wh} Wh ({render.kwh(o.quantity_wh)})",
        f"  limit_price: {o.limit_price}{o.denom}/kWh",
        f"  max_payment: {o.max_payment or '0'}",
    ]
    if t.status == energy_pb2.OFFER_STATUS_FILLED:
        r = t.result
        lines += [
            "result:",
            f"  interval: {r.interval} (of the receiving chain)",
            f"  order_id: {r.order_id}",
            f"  filled: {r.filled_wh} Wh ({render.kwh(r.filled_wh)})",
            f"  price: {r.price}{o.denom}/kWh" if r.filled_wh else "  price: - (nothing filled)",
            f"  amount: {r.amount or 0}{o.denom}",
        ]
    if t.error:
        lines.append(f"error: {t.error}")
    return "\n".join(lines)
