"""Certificates keeper: renewable energy certificates (issue 11).

A participant the utility cell registered as a renewable generator
(registry ``MsgSetRenewable``: Participant.technology not empty) receives one
certificate per ``wh_per_certificate`` Wh (default 1 MWh) of metered export,
after the interval is settled. Certificates are bank coins (one coin = one
certificate) of the *class* denom

    rec/<technology>/<generator bech32>/<period_start>-<period_end>

(unix seconds, block time). The element after ``rec`` is the technology,
which can never look like an IBC channel id (``channel-N`` has a hyphen; a
technology has none), so ICS-20's parse_trace keeps the whole class as the
base denom and the class travels unchanged over any number of hops.
Transfers are bank MsgSend and ICS-20 MsgTransfer; this module only issues
and retires.

Issuance, in FinalizeBlock right after settlement (``end_block(ctx,
settled)``), for each interval n just settled, oldest first: the raw metered
``exported_wh`` of n's readings is summed per participant (meter key order,
then participants in address order); a participant whose registry record
has a technology counts it (``count_export``), whatever its status (the flag
is what makes it a generator; the utility cell clears it to stop issuance),
except a community storage participant (ROLE_STORAGE): what a battery
discharges was generated, and certified, where it was charged from:
    exported_wh += x;  carry = carry_wh + x
    count = carry // wh_per_certificate          (rounded down)
    carry_wh = carry % wh_per_certificate         (kept for the next interval)
    certified_wh += count * wh_per_certificate;  issued += count
so certified_wh + carry_wh == exported_wh always: no Wh is certified twice
and none is lost. ``count`` coins of the class are minted to the generator.
A (generator, interval) pair is counted once: a marker key is written when
it is, and counting it again does nothing (idempotent). Zero export changes
nothing. Certificates issued at interval n certify energy from the carry's
first interval to n: period_start = start_time of carry_first_interval,
period_end = end_time of the latest interval counted (n when, as always on
the chain, intervals are settled in order; a late one only widens periods).
After an issuance carry_first_interval = n if carry_wh > 0, else 0 (the next
interval with export sets it).

The carry belongs to the generator, not to a technology: certificates carry
the generator's technology at issuance time (a change of technology, rare
and made by the utility cell, applies to the carry too). A generator whose
flag is cleared keeps its carry; it counts again when flagged again.

Retirement (MsgRetire): the signer burns ``count`` coins of a certificate
denom (a native ``rec/...`` class or an ``ibc/<hash>`` voucher of one) and a
Retirement records who retired them, on whose behalf, why, and the origin.
A retired certificate no longer exists as a coin, so it can never move.

Origin of a denom: native -> this microgrid's chain id (stored at genesis),
path ""; a voucher that came over one hop ``transfer/channel-N`` -> the chain
id of that channel's counterparty (channel -> connection -> client state);
more hops -> microgrid "" and the full path. Generator, technology and
period come from the base denom.

Params are fixed at genesis (no message changes them), so certified_wh ==
issued * wh_per_certificate for every generator.

Invariants (check_invariants): for every native class, bank supply ==
issued - retired (escrowed coins of an IBC transfer are still supply); every
``rec/`` denom in bank supply was issued here; per generator carry_wh <
wh_per_certificate, certified_wh + carry_wh == exported_wh, certified_wh ==
issued * wh_per_certificate, exported_wh == the sum of its markers and issued
== the sum of its issuances.

Keys (prefix 0x0c):
    0x0c 0x00                           -> Params
    0x0c 0x01                           -> this microgrid's chain id (UTF-8), from genesis
    0x0c 0x02                           -> next issuance id, decimal
    0x0c 0x03                           -> next retirement id, decimal
    0x0c 0x10 | generator(20)           -> Generator
    0x0c 0x11 | generator(20) | n(8)    -> Wh of interval n counted, decimal (the marker)
    0x0c 0x20 | id(8)                   -> Issuance
    0x0c 0x21 | generator(20) | id(8)   -> 0x01  a generator's issuances, oldest first
    0x0c 0x30 | id(8)                   -> Retirement
    0x0c 0x31 | owner(20) | id(8)       -> 0x01  an owner's retirements, oldest first
    0x0c 0x40 | class denom             -> certificates of the class issued, decimal
    0x0c 0x41 | bank denom              -> certificates of the denom retired here, decimal
Integers in keys are big-endian, so key order is numeric order.

Events: certificates_issue, certificates_retire.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app import crypto
from app.coins import Coin
from app.context import Context
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_CERTIFICATES
from app.modules.bank import keeper as bank
from app.modules.common import ParamsRecord, encode, take_counter
from app.modules.market import keeper as market
from app.modules.registry import keeper as registry
from app.modules.settlement import keeper as settlement
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from ibc.apps.transfer import keeper as transfer
from ibc.apps.transfer.errors import ErrInvalidDenom as ErrInvalidTrace
from ibc.apps.transfer.errors import ErrTraceNotFound
from ibc.channel import keeper as channel_keeper
from ibc.client import keeper as client_keeper
from ibc.connection import keeper as connection_keeper

ErrInvalidParams = register("certificates", 2, "invalid certificates params")
ErrInvalidDenom = register("certificates", 3, "not a certificate denom")
ErrInvalidCount = register("certificates", 4, "invalid count")
ErrInvalidBeneficiary = register("certificates", 5, "invalid beneficiary")
ErrInvalidReason = register("certificates", 6, "invalid reason")
ErrUnknownVoucher = register("certificates", 7, "voucher unknown to this chain")
ErrNotConfigured = register("certificates", 8, "certificates not configured")

DEFAULT_WH_PER_CERTIFICATE = 1_000_000  # 1 MWh
MAX_WH_PER_CERTIFICATE = 10**15  # settlement's MAX_READING_WH: one reading could earn one
MAX_BENEFICIARY_CHARS = 128
MAX_REASON_CHARS = 256
CLASS_PREFIX = "rec/"

_PARAMS = PREFIX_CERTIFICATES + b"\x00"
_CHAIN_ID = PREFIX_CERTIFICATES + b"\x01"
_NEXT_ISSUANCE = PREFIX_CERTIFICATES + b"\x02"
_NEXT_RETIREMENT = PREFIX_CERTIFICATES + b"\x03"
GENERATOR = PREFIX_CERTIFICATES + b"\x10"
COUNTED = PREFIX_CERTIFICATES + b"\x11"
ISSUANCE = PREFIX_CERTIFICATES + b"\x20"
ISSUANCES_OF = PREFIX_CERTIFICATES + b"\x21"
RETIREMENT = PREFIX_CERTIFICATES + b"\x30"
RETIREMENTS_OF = PREFIX_CERTIFICATES + b"\x31"
ISSUED = PREFIX_CERTIFICATES + b"\x40"
RETIRED = PREFIX_CERTIFICATES + b"\x41"

u64 = market.u64


# ---------------------------------------------------------------------------
# Params


@dataclass(frozen=True, slots=True)
class CertificatesParams:
    wh_per_certificate: int


def parse_params(proto: cert_pb2.Params) -> CertificatesParams:
    if not 1 <= proto.wh_per_certificate <= MAX_WH_PER_CERTIFICATE:
        raise ErrInvalidParams(
            f"wh_per_certificate: must be in 1..{MAX_WH_PER_CERTIFICATE}, "
            f"got {proto.wh_per_certificate}"
        )
    return CertificatesParams(wh_per_certificate=proto.wh_per_certificate)


PARAMS = ParamsRecord(_PARAMS, cert_pb2.Params, parse_params)
get_params = PARAMS.get


def is_configured(kv: KV) -> bool:
    """The module is on (genesis found a market and stored the params)."""
    return PARAMS.is_set(kv)


def require_configured(kv: KV) -> None:
    if not is_configured(kv):
        raise ErrNotConfigured("this chain has no market, so it neither issues nor retires")


def init(kv: CacheKV, params: cert_pb2.Params, chain_id: str) -> None:
    """Genesis: store the params (validated) and the microgrid's chain id."""
    PARAMS.set(kv, params)
    kv.set(_CHAIN_ID, chain_id.encode())


def chain_id(kv: KV) -> str:
    """This microgrid's chain id, as genesis recorded it."""
    return (kv.get(_CHAIN_ID) or b"").decode()


# ---------------------------------------------------------------------------
# Certificate classes (denoms)


@dataclass(frozen=True, slots=True)
class CertificateClass:
    technology: str
    generator: str  # bech32
    period_start: int  # unix seconds, block time
    period_end: int


_CLASS_RE = re.compile(r"rec/([^/]+)/([^/]+)/(0|[1-9][0-9]{0,18})-(0|[1-9][0-9]{0,18})")
_VOUCHER_RE = re.compile(r"ibc/[0-9A-Fa-f]{64}")


def class_denom(technology: str, generator: str, period_start: int, period_end: int) -> str:
    return f"{CLASS_PREFIX}{technology}/{generator}/{period_start}-{period_end}"


def parse_class(base_denom: str) -> CertificateClass:
    """(technology, generator, period_start, period_end) of a class denom.

    The denom must be exactly what ``class_denom`` writes: a technology as the
    registry accepts it, a lower-case bech32 ``mg`` address, decimal times
    without leading zeros, start < end, so each class has one spelling.
    Raises ErrInvalidDenom saying what is wrong.
    """
    shown = base_denom[:160]
    match = _CLASS_RE.fullmatch(base_denom)
    if match is None:
        raise ErrInvalidDenom(
            f"{shown!r} is not rec/<technology>/<generator>/<period_start>-<period_end>"
        )
    technology, generator, start_text, end_text = match.groups()
    if not registry.TECHNOLOGY_RE.fullmatch(technology):
        raise ErrInvalidDenom(f"{shown!r}: technology {technology!r} is not a technology name")
    try:
        raw = crypto.decode_address(generator)
    except crypto.AddressError as exc:
        raise ErrInvalidDenom(f"{shown!r}: generator: {exc}") from None
    if crypto.encode_address(raw) != generator:
        raise ErrInvalidDenom(f"{shown!r}: generator must be written in lower case")
    start, end = int(start_text), int(end_text)
    if start >= end:
        raise ErrInvalidDenom(f"{shown!r}: period_start {start} is not before period_end {end}")
    return CertificateClass(technology, generator, start, end)


def is_class(base_denom: str) -> bool:
    try:
        parse_class(base_denom)
    except ErrInvalidDenom:
        return False
    return True


def check_denom_shape(denom: str) -> None:
    """Stateless: ``denom`` is a certificate class or looks like a voucher ``ibc/<64 hex>``.

    Raises ErrInvalidDenom.
    """
    if denom.startswith(transfer.VOUCHER_PREFIX):
        if not _VOUCHER_RE.fullmatch(denom):
            raise ErrInvalidDenom(f"{denom[:160]!r} is not ibc/ followed by 64 hex digits")
        return
    parse_class(denom)


def resolve(kv: KV, denom: str) -> tuple[str, transfer_pb2.DenomTrace, CertificateClass]:
    """(bank denom, denom trace, class) of a certificate denom held on this chain.

    A voucher is looked up in the transfer module's traces (either case of hex
    names the same voucher; the bank denom is upper case). Raises
    ErrUnknownVoucher, or ErrInvalidDenom when the base denom is not a class.
    """
    try:
        trace = transfer.resolve(kv, denom)
    except (ErrTraceNotFound, ErrInvalidTrace) as err:
        raise ErrUnknownVoucher(err.detail) from None
    try:
        cls = parse_class(trace.base_denom)
    except ErrInvalidDenom as err:
        if trace.path:
            raise ErrInvalidDenom(
                f"{denom} is a voucher of {trace.base_denom[:80]!r}, not of a certificate"
            ) from None
        raise err from None
    return transfer.voucher_denom(trace), trace, cls


def origin_of(kv: KV, trace: transfer_pb2.DenomTrace, cls: CertificateClass) -> cert_pb2.Origin:
    """Where a certificate comes from, as far as this chain can tell."""
    return cert_pb2.Origin(
        microgrid=_microgrid(kv, trace.path),
        generator=cls.generator,
        technology=cls.technology,
        period_start=cls.period_start,
        period_end=cls.period_end,
        path=trace.path,
        base_denom=trace.base_denom,
    )


def _microgrid(kv: KV, path: str) -> str:
    """This chain's id for a native denom; for one hop, the chain id the channel's
    light client follows; "" for more hops or a channel this chain does not have."""
    if not path:
        return chain_id(kv)
    parts = path.split("/")
    if len(parts) != 2:
        return ""
    channel = channel_keeper.get_channel(kv, parts[0], parts[1])
    if channel is None or len(channel.connection_hops) != 1:
        return ""
    connection = connection_keeper.get_connection(kv, channel.connection_hops[0])
    if connection is None:
        return ""
    client = client_keeper.get_client_state(kv, connection.client_id)
    return client.chain_id if client is not None else ""


# ---------------------------------------------------------------------------
# Records


def _get_count(kv: KV, key: bytes) -> int:
    raw = kv.get(key)
    return int(raw) if raw is not None else 0


def _add_count(kv: CacheKV, key: bytes, amount: int) -> None:
    kv.set(key, str(_get_count(kv, key) + amount).encode())


def issued_of(kv: KV, denom: str) -> int:
    return _get_count(kv, ISSUED + denom.encode())


def retired_of(kv: KV, denom: str) -> int:
    return _get_count(kv, RETIRED + denom.encode())


def get_generator(kv: KV, address: bytes) -> cert_pb2.Generator | None:
    raw = kv.get(GENERATOR + address)
    return cert_pb2.Generator.FromString(raw) if raw is not None else None


def counted_wh(kv: KV, address: bytes, n: int) -> int | None:
    """The Wh of interval n counted for a generator, or None if n was not counted."""
    raw = kv.get(COUNTED + address + u64(n))
    return int(raw) if raw is not None else None


def get_issuance(kv: KV, issuance_id: int) -> cert_pb2.Issuance | None:
    raw = kv.get(ISSUANCE + u64(issuance_id))
    return cert_pb2.Issuance.FromString(raw) if raw is not None else None


def get_retirement(kv: KV, retirement_id: int) -> cert_pb2.Retirement | None:
    raw = kv.get(RETIREMENT + u64(retirement_id))
    return cert_pb2.Retirement.FromString(raw) if raw is not None else None


def issuances_of(kv: KV, address: bytes) -> list[cert_pb2.Issuance]:
    out = []
    for key, _ in kv.iterate(ISSUANCES_OF + address):
        record = get_issuance(kv, int.from_bytes(key[-8:], "big"))
        assert record is not None, "issuance index points at a missing issuance"
        out.append(record)
    return out


# ---------------------------------------------------------------------------
# Issuance, in FinalizeBlock


def end_block(ctx: Context, settled: Iterable[settlement_pb2.IntervalSettlement]) -> None:
    """Count the metered export of the intervals settlement just settled, oldest first."""
    if not is_configured(ctx.kv):
        return
    for s in settled:
        certify_interval(ctx, s.interval)


def exports_of_interval(kv: KV, n: int) -> dict[bytes, int]:
    """Raw metered export of interval n per participant address (all its meters)."""
    totals: dict[bytes, int] = {}
    for reading in settlement.readings_of_interval(kv, n):
        if reading.exported_wh:
            owner = crypto.decode_address(reading.participant)
            totals[owner] = totals.get(owner, 0) + reading.exported_wh
    return totals


def certify_interval(ctx: Context, n: int) -> list[cert_pb2.Issuance]:
    """Count interval n's export for every renewable generator, in address order;
    returns the issuances made."""
    out = []
    totals = exports_of_interval(ctx.kv, n)
    for address in sorted(totals):
        participant = registry.get_participant(ctx.kv, address)
        if participant is None or not participant.technology:
            continue
        if participant.role == registry_pb2.ROLE_STORAGE:
            continue  # discharged energy was generated (and certified) elsewhere
        issuance = count_export(ctx, address, participant.technology, n, totals[address])
        if issuance is not None:
            out.append(issuance)
    return out


def count_export(
    ctx: Context, generator: bytes, technology: str, n: int, exported_wh: int
) -> cert_pb2.Issuance | None:
    """Add ``exported_wh`` of interval n to a generator's record and issue what it
    completes (see the module docstring). Does nothing for 0 Wh or for an
    interval already counted for this generator. Returns the issuance, if any."""
    kv = ctx.kv
    if exported_wh == 0:
        return None
    marker = COUNTED + generator + u64(n)
    if kv.get(marker) is not None:
        return None
    wh = get_params(kv).wh_per_certificate
    address = crypto.encode_address(generator)
    record = get_generator(kv, generator) or cert_pb2.Generator(generator=address)
    if record.carry_wh == 0:
        record.carry_first_interval = n
    else:  # only a late interval (never on the chain) can be older than the carry
        record.carry_first_interval = min(record.carry_first_interval, n)
    first = record.carry_first_interval
    count, carry = divmod(record.carry_wh + exported_wh, wh)  # rounded down; the rest carried
    record.technology = technology
    record.exported_wh += exported_wh
    record.carry_wh = carry
    record.last_interval = max(record.last_interval, n)
    kv.set(marker, str(exported_wh).encode())
    issuance = None
    if count:
        record.issued += count
        record.certified_wh += count * wh
        start = market.get_interval(kv, first).start_time
        end = market.get_interval(kv, record.last_interval).end_time
        denom = class_denom(technology, address, start, end)
        bank.mint(ctx, generator, Coin(denom, count))
        _add_count(kv, ISSUED + denom.encode(), count)
        issuance = cert_pb2.Issuance(
            id=take_counter(kv, _NEXT_ISSUANCE),
            generator=address,
            technology=technology,
            interval=n,
            first_interval=first,
            period_start=start,
            period_end=end,
            count=count,
            denom=denom,
            height=ctx.height,
        )
        kv.set(ISSUANCE + u64(issuance.id), encode(issuance))
        kv.set(ISSUANCES_OF + generator + u64(issuance.id), b"\x01")
        record.carry_first_interval = n if carry else 0
        ctx.emit(
            "certificates_issue",
            issuance_id=issuance.id,
            generator=address,
            technology=technology,
            interval=n,
            first_interval=first,
            count=count,
            denom=denom,
            period_start=start,
            period_end=end,
            carry_wh=carry,
        )
    kv.set(GENERATOR + generator, encode(record))
    return issuance


# ---------------------------------------------------------------------------
# Retirement


def retire(ctx: Context, signer: bytes, msg: cert_pb2.MsgRetire) -> cert_pb2.Retirement:
    """Burn ``msg.count`` certificates of ``msg.denom`` from the signer and record the
    retirement (``msg`` passed validate_retire_certificates)."""
    kv = ctx.kv
    require_configured(kv)
    denom, trace, cls = resolve(kv, msg.denom)
    bank.burn(ctx, signer, Coin(denom, msg.count))  # not enough -> the bank's error
    owner = crypto.encode_address(signer)
    retirement = cert_pb2.Retirement(
        id=take_counter(kv, _NEXT_RETIREMENT),
        owner=owner,
        beneficiary=msg.beneficiary,
        reason=msg.reason,
        denom=denom,
        count=msg.count,
        origin=origin_of(kv, trace, cls),
        height=ctx.height,
        time=ctx.time_ns // market.NS_PER_S,
    )
    kv.set(RETIREMENT + u64(retirement.id), encode(retirement))
    kv.set(RETIREMENTS_OF + signer + u64(retirement.id), b"\x01")
    _add_count(kv, RETIRED + denom.encode(), msg.count)
    o = retirement.origin
    ctx.emit(
        "certificates_retire",
        retirement_id=retirement.id,
        owner=owner,
        beneficiary=msg.beneficiary,
        denom=denom,
        count=msg.count,
        microgrid=o.microgrid,
        generator=o.generator,
        technology=o.technology,
        period_start=o.period_start,
        period_end=o.period_end,
        path=o.path,
    )
    return retirement


# ---------------------------------------------------------------------------
# Invariants


def check_invariants(kv: KV) -> None:
    """Supply of every native class == issued - retired; no ``rec/`` coin that was not
    issued here; per generator the carry rule and its records agree. Walks every
    record: for tests and audits.

    Raises AssertionError.
    """
    if not is_configured(kv):
        return
    wh = get_params(kv).wh_per_certificate
    issued: dict[str, int] = {}
    for key, raw in kv.iterate(ISSUED):
        denom = key[len(ISSUED) :].decode()
        issued[denom] = int(raw)
        supply = bank.get_supply(kv, denom)
        retired = retired_of(kv, denom)
        if supply != issued[denom] - retired:
            raise AssertionError(
                f"{denom}: supply {supply} != issued {issued[denom]} - retired {retired}"
            )
    for coin in bank.all_supply(kv):
        if coin.denom.startswith(CLASS_PREFIX) and coin.denom not in issued:
            raise AssertionError(f"{coin.amount}{coin.denom} exist but none were issued")
    by_issuances: dict[str, int] = {}
    per_class: dict[str, int] = {}
    for _, raw in kv.iterate(ISSUANCE):
        i = cert_pb2.Issuance.FromString(raw)
        by_issuances[i.generator] = by_issuances.get(i.generator, 0) + i.count
        per_class[i.denom] = per_class.get(i.denom, 0) + i.count
    if per_class != issued:
        raise AssertionError(f"issuances per class {per_class} != issued counters {issued}")
    for key, raw in kv.iterate(GENERATOR):
        g = cert_pb2.Generator.FromString(raw)
        address = key[len(GENERATOR) :]
        markers = sum(int(v) for _, v in kv.iterate(COUNTED + address))
        if g.carry_wh >= wh:
            raise AssertionError(f"{g.generator}: carry {g.carry_wh} Wh >= {wh} Wh")
        if g.certified_wh + g.carry_wh != g.exported_wh:
            raise AssertionError(
                f"{g.generator}: certified {g.certified_wh} + carry {g.carry_wh} "
                f"!= exported {g.exported_wh} Wh"
            )
        if g.certified_wh != g.issued * wh:
            raise AssertionError(
                f"{g.generator}: certified {g.certified_wh} Wh != {g.issued} x {wh} Wh"
            )
        if markers != g.exported_wh:
            raise AssertionError(
                f"{g.generator}: intervals counted sum to {markers} Wh, record says {g.exported_wh}"
            )
        if by_issuances.get(g.generator, 0) != g.issued:
            raise AssertionError(
                f"{g.generator}: issuances sum to {by_issuances.get(g.generator, 0)}, "
                f"record says {g.issued}"
            )
