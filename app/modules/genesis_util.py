"""Parsing of genesis sections whose fields are protobuf messages in JSON
(market, settlement, reputation): unknown fields are errors, given fields
override the module's defaults, and every error names the field."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message


class GenesisError(ValueError):
    """A genesis section is invalid; the message names the field."""


M = TypeVar("M", bound=Message)


def check_fields(section: dict[str, Any], name: str, allowed: Collection[str]) -> None:
    unknown = set(section) - set(allowed)
    if unknown:
        raise GenesisError(f"{name}: unknown fields {sorted(unknown)}")


def parse_object(given: Any, defaults: dict[str, Any], message: M, where: str) -> M:
    """``given`` (a JSON object) over ``defaults``, parsed into ``message``."""
    if not isinstance(given, dict):
        raise GenesisError(f"{where}: expected an object")
    try:
        return json_format.ParseDict({**defaults, **given}, message)
    except json_format.ParseError as exc:
        raise GenesisError(f"{where}: {exc}") from None


def parse_section(section: dict[str, Any], name: str, defaults: dict[str, Any], message: M) -> M:
    """A ``{"params": {...}}`` section: its params over ``defaults``."""
    check_fields(section, name, {"params"})
    return parse_object(section.get("params", {}), defaults, message, f"{name}.params")
