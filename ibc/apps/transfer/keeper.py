"""ICS-20 fungible token transfer: escrow, vouchers and denom traces (ibc-go semantics).

A coin leaves this chain over ``transfer/<channel>`` in one of two ways
(ICS-20 "source" rule, decided on the full trace of its denom):
- the trace does not start with ``transfer/<channel>/``: this chain is the
  source; the coin is locked in the channel's escrow account and the
  counterparty mints a voucher;
- it does: the coin is a voucher coming home over the channel it arrived
  on; it is burned and the counterparty releases the original from escrow.
A packet received does the mirror image (the packet's *source* port/channel
prefix means "coming home": strip it and release from the escrow of the
receiving channel; otherwise prefix the trace with the receiving port/channel
and mint the voucher ``ibc/<SHA-256(full trace), upper-case hex>``). An
error acknowledgement or a timeout refunds the sender: escrowed coins come
back from escrow, burned vouchers are minted again.

Supply. Native coins only move (into and out of escrow); vouchers are minted
on receipt and burned on the way home, so on each chain every denom's supply
equals the sum of its balances (bank.check_invariants), and across two
chains the vouchers of a denom outstanding on one equal the coins of it in
the escrow accounts of the other.

Keys (prefix 0x07):
    0x07 0x01 | sha256(full trace)(32) -> DenomTrace (protobuf)
Escrow accounts are derived, not stored: ``escrow_address``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from google.protobuf.message import DecodeError

from app import crypto
from app.coins import MAX_AMOUNT, Coin, CoinError, parse_amount
from app.context import Context
from app.kv import KV
from app.modules import PREFIX_TRANSFER
from app.modules.bank import keeper as bank
from app.modules.common import encode
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.apps.transfer.errors import (
    ErrInvalidAmount,
    ErrInvalidDenom,
    ErrInvalidPacketData,
    ErrInvalidReceiver,
    ErrTraceNotFound,
)
from ibc.channel import keeper as channel_keeper

PORT = "transfer"
VERSION = "ics20-1"
VOUCHER_PREFIX = "ibc/"
MAX_TRACE_CHARS = 2048  # a full trace; ibc-go bounds it only by the packet size
MAX_MEMO_CHARS = 32_768  # ibc-go's MaximumMemoLength
MAX_RECEIVER_CHARS = 2048  # ibc-go's MaximumReceiverLength
RESULT_ACK = b"\x01"  # ibc-go's successful ICS-20 acknowledgement result

_TRACE = PREFIX_TRANSFER + b"\x01"


# ---------------------------------------------------------------------------
# Escrow accounts


def escrow_address(version: str, port: str, channel: str) -> bytes:
    """A channel's escrow account as ibc-go derives it (ADR-028 style):
    the first 20 bytes of sha256(version || 0x00 || "port/channel")."""
    preimage = version.encode() + b"\x00" + f"{port}/{channel}".encode()
    return hashlib.sha256(preimage).digest()[: crypto.ADDRESS_LEN]


def channel_escrow(channel: str) -> bytes:
    return escrow_address(VERSION, PORT, channel)


# ---------------------------------------------------------------------------
# Denom traces


def _is_channel_id(text: str) -> bool:
    digits = text.removeprefix("channel-")
    return digits != text and digits.isascii() and digits.isdigit()


def full_path(trace: transfer_pb2.DenomTrace) -> str:
    """ "transfer/channel-3/ugrid" for a voucher, the base denom for a native coin."""
    return f"{trace.path}/{trace.base_denom}" if trace.path else trace.base_denom


def parse_trace(denom: str) -> transfer_pb2.DenomTrace:
    """Split a full trace into its port/channel path and base denom, as ibc-go does:
    leading pairs whose second element is a channel identifier form the path
    (only when something remains for the base denom).

    Raises ErrInvalidDenom for an empty, over-long or blank-containing trace.
    """
    if not denom or len(denom) > MAX_TRACE_CHARS:
        raise ErrInvalidDenom(f"denom trace must be 1..{MAX_TRACE_CHARS} chars, got {len(denom)}")
    if not denom.isascii() or not denom.isprintable() or " " in denom:
        raise ErrInvalidDenom(f"denom trace {denom[:80]!r} must be printable ASCII without spaces")
    parts = denom.split("/")
    if any(not p for p in parts):
        raise ErrInvalidDenom(f"denom trace {denom[:80]!r} has an empty element")
    path: list[str] = []
    i = 0
    while i + 1 < len(parts) and len(parts) - i > 2 and _is_channel_id(parts[i + 1]):
        path += parts[i : i + 2]
        i += 2
    return transfer_pb2.DenomTrace(path="/".join(path), base_denom="/".join(parts[i:]))


def trace_hash(trace: transfer_pb2.DenomTrace) -> bytes:
    return hashlib.sha256(full_path(trace).encode()).digest()


def voucher_denom(trace: transfer_pb2.DenomTrace) -> str:
    """The bank denom of a trace: ``ibc/<HEX>`` for a voucher, the base denom when native."""
    if not trace.path:
        return trace.base_denom
    return VOUCHER_PREFIX + trace_hash(trace).hex().upper()


def parse_hash(text: str) -> bytes:
    """The 32-byte hash of ``<hex>`` or ``ibc/<hex>`` (either case)."""
    hex_part = text.removeprefix(VOUCHER_PREFIX)
    try:
        raw = bytes.fromhex(hex_part)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ErrInvalidDenom(f"{text[:80]!r} is not a 64-digit hex hash (or ibc/<hash>)")
    return raw


def get_trace(kv: KV, hash_: bytes) -> transfer_pb2.DenomTrace | None:
    raw = kv.get(_TRACE + hash_)
    return transfer_pb2.DenomTrace.FromString(raw) if raw is not None else None


def set_trace(ctx: Context, trace: transfer_pb2.DenomTrace) -> str:
    """Remember a voucher's trace (once; emits denomination_trace the first time).

    Returns its bank denom. Also used by the energy application for its vouchers.
    """
    hash_ = trace_hash(trace)
    if ctx.kv.get(_TRACE + hash_) is None:
        ctx.kv.set(_TRACE + hash_, encode(trace))
        ctx.emit("denomination_trace", trace_hash=hash_.hex().upper(), denom=voucher_denom(trace))
    return voucher_denom(trace)


def traces(kv: KV) -> Iterator[transfer_pb2.DenomTrace]:
    for _, raw in kv.iterate(_TRACE):
        yield transfer_pb2.DenomTrace.FromString(raw)


def resolve(kv: KV, denom: str) -> transfer_pb2.DenomTrace:
    """The trace behind a bank denom: a stored voucher trace, or a native base denom."""
    if denom.startswith(VOUCHER_PREFIX):
        trace = get_trace(kv, parse_hash(denom))
        if trace is None:
            raise ErrTraceNotFound(f"{denom} is not a voucher known to this chain")
        return trace
    return transfer_pb2.DenomTrace(base_denom=denom)


# ---------------------------------------------------------------------------
# Sending


def send_transfer(ctx: Context, sender: bytes, msg: transfer_pb2.MsgTransfer) -> int:
    """Escrow or burn the token, then send the packet; returns its sequence.

    ``msg`` passed validate_basic. Raises the bank's, the channel keeper's or
    this module's errors; the caller runs on a branch.
    """
    token = Coin(msg.token.denom, parse_amount(msg.token.amount))
    trace = resolve(ctx.kv, token.denom)
    denom = full_path(trace)
    if denom.startswith(f"{msg.source_port}/{msg.source_channel}/"):
        bank.burn(ctx, sender, token)  # a voucher going home: the counterparty unescrows
    else:
        bank.send(ctx, sender, channel_escrow(msg.source_channel), [token])
    data = transfer_pb2.FungibleTokenPacketData(
        denom=denom,
        amount=str(token.amount),
        sender=crypto.encode_address(sender),
        receiver=msg.receiver,
        memo=msg.memo,
    )
    sequence = channel_keeper.send_packet(
        ctx,
        msg.source_port,
        msg.source_channel,
        msg.timeout_height,
        msg.timeout_timestamp,
        encode(data),
    )
    ctx.emit(
        "ibc_transfer",
        sender=data.sender,
        receiver=data.receiver,
        amount=data.amount,
        denom=denom,
        memo=data.memo,
        sequence=sequence,
    )
    return sequence


# ---------------------------------------------------------------------------
# Receiving, acknowledgements, timeouts


def decode_packet_data(data: bytes) -> transfer_pb2.FungibleTokenPacketData:
    """Decode and check packet data (denom trace, positive amount, sender, receiver, memo)."""
    try:
        out = transfer_pb2.FungibleTokenPacketData.FromString(data)
    except (DecodeError, ValueError) as exc:
        raise ErrInvalidPacketData(f"does not decode as FungibleTokenPacketData: {exc}") from None
    parse_trace(out.denom)
    packet_amount(out)
    if not out.sender:
        raise ErrInvalidPacketData("sender is empty")
    if not out.receiver or len(out.receiver) > MAX_RECEIVER_CHARS:
        raise ErrInvalidReceiver(f"receiver must be 1..{MAX_RECEIVER_CHARS} chars")
    if len(out.memo) > MAX_MEMO_CHARS:
        raise ErrInvalidPacketData(f"memo is {len(out.memo)} chars, limit {MAX_MEMO_CHARS}")
    return out


def packet_amount(data: transfer_pb2.FungibleTokenPacketData) -> int:
    try:
        amount = parse_amount(data.amount)
    except CoinError as exc:
        raise ErrInvalidAmount(str(exc)) from None
    if not 0 < amount <= MAX_AMOUNT:
        raise ErrInvalidAmount(f"amount must be positive, got {data.amount}")
    return amount


def receive(ctx: Context, packet: ibc_pb2.Packet) -> transfer_pb2.FungibleTokenPacketData:
    """Credit the receiver: release from escrow (coming home) or mint a voucher.

    Raises this module's or the bank's errors (the caller turns them into an
    error acknowledgement and discards the writes).
    """
    data = decode_packet_data(packet.data)
    amount = packet_amount(data)
    try:
        receiver = crypto.decode_address(data.receiver)
    except crypto.AddressError as exc:
        raise ErrInvalidReceiver(f"{data.receiver[:80]!r}: {exc}") from None
    source_prefix = f"{packet.source_port}/{packet.source_channel}/"
    if data.denom.startswith(source_prefix):
        # Our coin (or a voucher of ours) coming home: strip the hop and unescrow.
        denom = voucher_denom(parse_trace(data.denom[len(source_prefix) :]))
        escrow = channel_escrow(packet.destination_channel)
        bank.send(ctx, escrow, receiver, [Coin(denom, amount)])
    else:
        prefixed = f"{packet.destination_port}/{packet.destination_channel}/{data.denom}"
        denom = set_trace(ctx, parse_trace(prefixed))
        bank.mint(ctx, receiver, Coin(denom, amount))
    return data


def refund(ctx: Context, packet: ibc_pb2.Packet) -> transfer_pb2.FungibleTokenPacketData:
    """Give the sender back what ``send_transfer`` took (error ack or timeout)."""
    data = decode_packet_data(packet.data)
    amount = packet_amount(data)
    sender = crypto.decode_address(data.sender)
    trace = parse_trace(data.denom)
    denom = voucher_denom(trace)
    if data.denom.startswith(f"{packet.source_port}/{packet.source_channel}/"):
        bank.mint(ctx, sender, Coin(denom, amount))  # the burned voucher, re-minted
    else:
        bank.send(ctx, channel_escrow(packet.source_channel), sender, [Coin(denom, amount)])
    return data
