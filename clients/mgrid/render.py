"""How the wallet shows the chain's records: JSON for scripts, text for people.

JSON is protobuf's own JSON mapping (``json_format.MessageToDict``) with
three choices made for the wallet:

- proto field names (``quantity_wh``, not ``quantityWh``), and every field
  shown, zero values included, except ``optional`` fields that are absent
  (an order without ``price`` is priced automatically; absence means so);
- enums by name (``SIDE_BUY``, ``STATUS_APPROVED``);
- 64-bit integers as JSON numbers when a double holds them exactly (every
  value below 2^53, which covers any height, id, Wh quantity or price a
  microgrid sees) and as decimal strings otherwise, as protobuf's
  ``unquote_int64_if_possible`` does. Money is a decimal string on chain
  and stays one; bytes (meter keys, page keys) are hex, not base64.

Text shows enum values without their prefix, in lower case (``buy``,
``approved``), records as ``field: value`` lines and lists as tables; ratios
the chain keeps in parts per million as exact percentages (``93.75%``) and
energy totals as exact kWh, computed on integers, never floats.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message


def proto_json(message: Message) -> dict[str, Any]:
    """``message`` as the wallet's JSON (see the module docstring), fields in .proto order."""
    data: dict[str, Any] = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        unquote_int64_if_possible=True,
    )
    return _tidy(message, data)


def _tidy(message: Message, data: dict[str, Any]) -> dict[str, Any]:
    """Fields in declaration order (MessageToDict puts set fields first), bytes as hex."""
    out: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        if fd.name not in data:
            continue
        value, raw = data[fd.name], getattr(message, fd.name)
        repeated = _is_repeated(fd)
        if fd.type == FieldDescriptor.TYPE_BYTES:
            value = [bytes(v).hex() for v in raw] if repeated else bytes(raw).hex()
        elif fd.type == FieldDescriptor.TYPE_MESSAGE and not fd.message_type.GetOptions().map_entry:
            if repeated:
                value = [_tidy(m, d) for m, d in zip(raw, value, strict=True)]
            else:
                value = _tidy(raw, value)
        out[fd.name] = value
    return out


def _is_repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated) if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED


def enum_label(enum_type: Any, number: int) -> str:
    """``SIDE_BUY`` of enum ``Side`` as ``buy``; unknown numbers as the number."""
    value = enum_type.values_by_number.get(number)
    if value is None:
        return str(number)
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.name).upper() + "_"
    return str(value.name).removeprefix(prefix).lower()


def enum_number(enum_type: Any, label: str) -> int:
    """The inverse of ``enum_label``: ``approved`` of ``Status`` as STATUS_APPROVED's number."""
    for value in enum_type.values:
        if enum_label(enum_type, value.number) == label:
            return int(value.number)
    raise ValueError(f"{label!r} is not a {enum_type.name}")


def enum_labels(enum_type: Any) -> list[str]:
    """Every label of ``enum_type`` except the zero (unspecified) one."""
    return [enum_label(enum_type, v.number) for v in enum_type.values if v.number]


def field_text(message: Message, name: str, absent: str = "-") -> str:
    """One field of ``message`` for people: enum labels, hex bytes, ``absent`` for an
    optional field that is not set."""
    fd = message.DESCRIPTOR.fields_by_name[name]
    if fd.has_presence and fd.type != FieldDescriptor.TYPE_MESSAGE and not message.HasField(name):
        return absent
    value = getattr(message, name)
    if _is_repeated(fd):
        return ", ".join(str(v) for v in value) or "-"
    if fd.type == FieldDescriptor.TYPE_ENUM:
        return enum_label(fd.enum_type, value)
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return bytes(value).hex()
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return "yes" if value else "no"
    return str(value)


def record_text(message: Message, indent: str = "", absent: Mapping[str, str] | None = None) -> str:
    """``field: value`` lines, nested records indented; repeated records as a table.

    ``absent`` says what an unset optional field means (``{"price": "auto"}``).
    """
    absent = absent or {}
    lines = []
    for fd in message.DESCRIPTOR.fields:
        name = fd.name
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            value = getattr(message, name)
            if _is_repeated(fd):
                rows = [[field_text(m, f.name) for f in fd.message_type.fields] for m in value]
                heads = [f.name for f in fd.message_type.fields]
                body = table(heads, rows, indent + "  ") if rows else f"{indent}  (none)"
                lines.append(f"{indent}{name}:\n{body}")
            elif message.HasField(name):
                lines.append(f"{indent}{name}:\n{record_text(value, indent + '  ', absent)}")
            continue
        lines.append(f"{indent}{name}: {field_text(message, name, absent.get(name, '-'))}".rstrip())
    return "\n".join(lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Left-aligned columns, two spaces apart, headers in upper case."""
    heads = [h.upper() for h in headers]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(heads)]

    def line(cells: Sequence[str]) -> str:
        return indent + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(heads), *(line(r) for r in rows)])


def rows_text(
    messages: Sequence[Message],
    columns: Sequence[str],
    empty: str,
    next_key: bytes = b"",
    absent: Mapping[str, str] | None = None,
) -> str:
    """A table of ``messages`` showing ``columns`` (field names), and where the next page starts."""
    absent = absent or {}
    if not messages:
        text = empty
    else:
        rows = [[field_text(m, c, absent.get(c, "-")) for c in columns] for m in messages]
        text = table(columns, rows)
    return text + more_hint(next_key)


def more_hint(next_key: bytes) -> str:
    """Where the next page starts ("" on the last page), to append to a page's text."""
    return f"\nmore: --page-key {bytes(next_key).hex()}" if next_key else ""


# -- quantities for people: exact decimals, no floats -----------------------------------------

PPM = 1_000_000


def decimal_text(value: int, places: int) -> str:
    """``value / 10**places`` written exactly, trailing zeros dropped (``1500, 3`` -> ``1.5``)."""
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(value), 10**places)
    fraction = f"{part:0{places}d}".rstrip("0") if places else ""
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def percent(ppm: int) -> str:
    """Parts per million as an exact percentage: ``937500`` -> ``93.75%``."""
    return decimal_text(ppm, 4) + "%"


def kwh(wh: int) -> str:
    """Wh as exact kWh: ``1500`` -> ``1.5 kWh``."""
    return f"{decimal_text(wh, 3)} kWh"


def money(amount: str | int, denom: str, *, signed: bool = False) -> str:
    """An amount of the denom's smallest unit (a decimal string on chain): ``200ugrid``;
    ``signed`` marks gains with ``+``."""
    value = int(amount or 0)
    return f"{'+' if signed and value > 0 else ''}{value}{denom}"


def signed_int(value: str | int) -> str:
    """``+30``, ``-5``, ``0``: the sign of a signed quantity shown even when positive."""
    number = int(value or 0)
    return f"+{number}" if number > 0 else str(number)


def block_time(unix_seconds: int) -> str:
    """A block time as unix seconds and UTC: ``1700000460 (2023-11-14T22:21:00Z)``."""
    when = datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{unix_seconds} ({when})"


# -- transactions -------------------------------------------------------------------------------


def tx_body_text(body: Any, unset: Sequence[str] = (), signer_name: str = "") -> str:
    """A TxBody for people, as shown before signing: envelope, then each message.

    ``unset`` names envelope fields (``chain_id``, ``sequence``, ``fee``) that
    are not decided yet: ``tx sign`` fills them. ``signer_name`` is the
    signing key's name in the keyring, shown next to its address.
    """
    later = "(filled in by mgrid tx sign)"
    fee_text = f"{body.fee.amount or 0}{body.fee.denom}" if body.HasField("fee") else "none"
    lines = [
        f"chain id:       {later if 'chain_id' in unset else body.chain_id}",
        f"signer:         {body.signer}{f' ({signer_name})' if signer_name else ''}",
        f"sequence:       {later if 'sequence' in unset else body.sequence}",
        f"fee:            {later if 'fee' in unset else fee_text}",
        f"timeout height: {body.timeout_height or 'none'}",
        f"memo:           {body.memo or '-'}",
        f"messages ({len(body.messages)}):",
    ]
    for i, msg in enumerate(body.messages, 1):
        kind = msg.WhichOneof("sum")
        lines.append(f"  {i}. {kind or '(empty)'}")
        if kind:
            lines.append(record_text(getattr(msg, kind), "       "))
    return "\n".join(line for line in lines if line)
