"""Parsing of the ``{"params": {...}}`` genesis sections the later modules share."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message


class GenesisError(ValueError):
    """A genesis section is invalid; the message names the field."""


def parse_section(
    section: dict[str, Any], name: str, defaults: dict[str, Any], message: Message
) -> Any:
    """``section["params"]`` over ``defaults``, parsed into ``message`` (JSON field names)."""
    unknown = set(section) - {"params"}
    if unknown:
        raise GenesisError(f"{name}: unknown fields {sorted(unknown)}")
    given = section.get("params", {})
    if not isinstance(given, dict):
        raise GenesisError(f"{name}.params: expected an object")
    try:
        return json_format.ParseDict({**defaults, **given}, message)
    except json_format.ParseError as exc:
        raise GenesisError(f"{name}.params: {exc}") from None
