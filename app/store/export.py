"""The ``store`` section of an exported genesis: one version of the store,
verbatim (issue 8, "export and upgrade"; docs/upgrade.md).

``mgridd export`` writes the state at height H as

    "app_state": {"store": {"format": 1, "height": H, "app_hash": "HEX",
                            "entries": [["KEY_HEX", "VALUE_HEX"], ...]}}

with every (key, value) of version H in raw key order, and InitChain loads
the entries as they are.  Nothing is re-derived through the modules' genesis
code, so the imported state is the exported one byte for byte and its root
(the app hash) is the same; InitChain checks that it is before accepting it.
Hex rather than base64 keeps keys readable for audits (module prefixes are
ASCII).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from app.store.smt import MAX_KEY_LEN

SECTION = "store"
FORMAT = 1


class StoreSectionError(ValueError):
    """The store section is malformed; the message names the field."""


@dataclass(frozen=True)
class StoreSection:
    """A decoded store section."""

    height: int
    app_hash: bytes
    writes: dict[bytes, bytes]


def encode_section(
    height: int, app_hash: bytes, entries: Iterable[tuple[bytes, bytes]]
) -> dict[str, Any]:
    """The JSON object of a store section (``entries`` in raw key order)."""
    return {
        "format": FORMAT,
        "height": height,
        "app_hash": app_hash.hex().upper(),
        "entries": [[key.hex(), value.hex()] for key, value in entries],
    }


def iter_entries_json(entries: Iterable[tuple[bytes, bytes]]) -> Iterator[str]:
    """The ``entries`` array as JSON text pieces, for writing a large export
    without holding it twice in memory."""
    yield "["
    first = True
    for key, value in entries:
        yield f'{"" if first else ","}\n["{key.hex()}","{value.hex()}"]'
        first = False
    yield "]"


def decode_section(section: Any) -> StoreSection:
    """Check and decode a store section.

    Raises:
        StoreSectionError: a field is missing or malformed, or the entries
            are not in strictly ascending key order.
    """
    if not isinstance(section, dict):
        raise StoreSectionError("app_state.store must be a JSON object")
    unknown = set(section) - {"format", "height", "app_hash", "entries"}
    if unknown:
        raise StoreSectionError(f"app_state.store: unknown fields {sorted(unknown)}")
    fmt = section.get("format")
    if fmt != FORMAT:
        raise StoreSectionError(
            f"app_state.store.format is {fmt!r}; this version of mgridd reads format {FORMAT}"
        )
    height = section.get("height")
    if not isinstance(height, int) or isinstance(height, bool) or height < 1:
        raise StoreSectionError(f"app_state.store.height must be an integer >= 1, got {height!r}")
    app_hash = _hex(section.get("app_hash"), "app_state.store.app_hash")
    if len(app_hash) != 32:
        raise StoreSectionError(
            f"app_state.store.app_hash must be 32 bytes (64 hex digits), got {len(app_hash)} bytes"
        )
    entries = section.get("entries")
    if not isinstance(entries, list):
        raise StoreSectionError("app_state.store.entries must be a list of [key, value] pairs")
    writes: dict[bytes, bytes] = {}
    previous = b""
    for i, entry in enumerate(entries):
        where = f"app_state.store.entries[{i}]"
        if not isinstance(entry, list) or len(entry) != 2:
            raise StoreSectionError(
                f"{where} must be a [key_hex, value_hex] pair, got {entry!r:.80}"
            )
        key = _hex(entry[0], f"{where} key")
        value = _hex(entry[1], f"{where} value")
        if not key or not value:
            raise StoreSectionError(f"{where}: keys and values must not be empty")
        if len(key) > MAX_KEY_LEN:
            raise StoreSectionError(f"{where}: key of {len(key)} bytes exceeds {MAX_KEY_LEN}")
        if key <= previous:
            raise StoreSectionError(
                f"{where}: key {key.hex()} is not after the previous key {previous.hex()} "
                "(entries must be in strictly ascending key order)"
            )
        writes[key] = value
        previous = key
    return StoreSection(height, app_hash, writes)


def _hex(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise StoreSectionError(f"{where} must be a hex string, got {value!r:.80}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise StoreSectionError(f"{where} is not hex: {value!r:.80}") from None
