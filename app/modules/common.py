"""Helpers shared by module handlers: parsing user-supplied fields into
typed values, raising the registered error that names the field."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Generic, TypeVar

from google.protobuf.message import Message

from app import coins, crypto
from app.errors import ErrInvalidAddress, ErrInvalidCoins, ErrInvalidRequest
from app.kv import KV, CacheKV
from app.pb.mgrid.base.v1 import coin_pb2


def parse_address(text: str, field: str = "address") -> bytes:
    try:
        return crypto.decode_address(text)
    except crypto.AddressError as exc:
        raise ErrInvalidAddress(f"{field}: {exc}") from None


def parse_positive_coins(
    protos: Iterable[coin_pb2.Coin], field: str = "amount"
) -> list[coins.Coin]:
    """Parse a non-empty list of positive coins with distinct denoms."""
    out: list[coins.Coin] = []
    seen: set[str] = set()
    for proto in protos:
        try:
            coin = coins.from_proto(proto)
        except coins.CoinError as exc:
            raise ErrInvalidCoins(f"{field}: {exc}") from None
        if coin.amount == 0:
            raise ErrInvalidCoins(f"{field}: amount of {coin.denom} must be positive, got 0")
        if coin.denom in seen:
            raise ErrInvalidCoins(f"{field}: denom {coin.denom} appears twice")
        seen.add(coin.denom)
        out.append(coin)
    if not out:
        raise ErrInvalidCoins(f"{field}: no coins")
    return out


DEFAULT_PAGE = 100
MAX_PAGE = 1000


def page(
    kv: KV, prefix: bytes, page_key: bytes, limit: int
) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """One page of ``prefix``'s entries in key order, from ``page_key`` (inclusive).

    ``page_key`` is empty for the first page, else the ``next_key`` the
    previous page returned; ``limit`` 0 means DEFAULT_PAGE. Returns the
    entries and the key of the next entry (empty when there is none).
    """
    if limit > MAX_PAGE:
        raise ErrInvalidRequest(f"limit {limit} exceeds the maximum page size {MAX_PAGE}")
    if page_key and not page_key.startswith(prefix):
        raise ErrInvalidRequest("page_key does not belong to this query")
    limit = limit or DEFAULT_PAGE
    out: list[tuple[bytes, bytes]] = []
    for key, value in kv.iterate(prefix):
        if key < page_key:
            continue
        if len(out) == limit:
            return out, key
        out.append((key, value))
    return out, b""


_FRACTION_RE = re.compile(
    r"^(?:(0|[1-9][0-9]{0,17})(?:\.([0-9]{1,18}))?|([0-9]{1,18})/([1-9][0-9]{0,17}))$"
)


def parse_fraction(text: str) -> Fraction:
    """Parse "0.05", "1/20" or "0" exactly: plain digits, no sign, exponent or spaces,
    so that every validator reads the same value from the same bytes.

    Raises ValueError saying what was expected; callers add the field name
    and their module's error.
    """
    match = _FRACTION_RE.match(text)
    if not match:
        raise ValueError(f"expected a decimal or a ratio such as 0.05 or 1/20, got {text!r}")
    whole, decimals, num, den = match.groups()
    if num is not None:
        return Fraction(int(num), int(den))
    return Fraction(int(whole)) + (Fraction(int(decimals), 10 ** len(decimals)) if decimals else 0)


def format_fraction(value: Fraction) -> str:
    return (
        str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    )


def take_counter(kv: CacheKV, key: bytes) -> int:
    """The next number of the counter stored under ``key`` (decimal, from 1); advances it.

    Identifiers of a module's records come from such counters in state
    (DESIGN.md section 4), so every validator numbers them alike.
    """
    raw = kv.get(key)
    n = int(raw) if raw is not None else 1
    kv.set(key, str(n + 1).encode())
    return n


def due_entries(kv: KV, prefix: bytes, is_due: Callable[[int], bool]) -> list[tuple[int, int]]:
    """(value, id) of the index ``prefix | value(8) | id(8)``, in key order, up to the
    first entry whose value ``is_due`` refuses.

    A module's to-do lists (things due at an interval's gate, at a time, after a
    settlement window) are such indexes: an end-of-block walk over them stops at
    once when nothing is due. ``is_due`` is asked once per distinct value.
    """
    out: list[tuple[int, int]] = []
    checked: dict[int, bool] = {}
    start = len(prefix)
    for key, _ in kv.iterate(prefix):
        value = int.from_bytes(key[start : start + 8], "big")
        if value not in checked:
            checked[value] = is_due(value)
        if not checked[value]:
            break
        out.append((value, int.from_bytes(key[start + 8 : start + 16], "big")))
    return out


def encode(message: Message) -> bytes:
    """A message's bytes for the store: deterministic serialisation."""
    return message.SerializeToString(deterministic=True)


ProtoT = TypeVar("ProtoT", bound=Message)
ParsedT = TypeVar("ParsedT")


class ParamsRecord(Generic[ProtoT, ParsedT]):
    """A module's params: one protobuf record under ``key``, validated by ``parse``
    when set and parsed once per distinct stored bytes when read."""

    def __init__(self, key: bytes, proto: type[ProtoT], parse: Callable[[ProtoT], ParsedT]):
        self.key, self.proto_type, self.parse = key, proto, parse
        self._cache: dict[bytes, ParsedT] = {}

    def is_set(self, kv: KV) -> bool:
        return kv.get(self.key) is not None

    def proto(self, kv: KV) -> ProtoT:
        return self.proto_type.FromString(kv.get(self.key) or b"")

    def get(self, kv: KV) -> ParsedT:
        raw = kv.get(self.key)
        if raw is None:
            raise RuntimeError(f"params under {self.key.hex()} missing: genesis was not applied")
        hit = self._cache.get(raw)
        if hit is None:
            hit = self.parse(self.proto_type.FromString(raw))
            self._cache.clear()  # params change rarely: keep the current ones only
            self._cache[raw] = hit
        return hit

    def set(self, kv: CacheKV, proto: ProtoT) -> ParsedT:
        """Validate (raising the module's error) and store ``proto``."""
        parsed = self.parse(proto)
        kv.set(self.key, encode(proto))
        return parsed
