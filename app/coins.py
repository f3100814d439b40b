"""Coins: amounts of a denom in its smallest unit, as exact Python ints.

Amounts travel as decimal strings (``Coin.amount``) and are parsed here
into ints bounded by ``MAX_AMOUNT`` so that no balance, supply or fee can
overflow anything downstream (CometBFT events, JSON clients, Go relayers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.pb.mgrid.base.v1 import coin_pb2

MAX_AMOUNT = 2**128 - 1
_DENOM_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9/:._-]{2,127}$")
_AMOUNT_RE = re.compile(r"^(0|[1-9][0-9]{0,38})$")
_COIN_RE = re.compile(r"^([0-9]+)([a-zA-Z][a-zA-Z0-9/:._-]{2,127})$")


class CoinError(ValueError):
    """A coin, denom or amount is malformed or out of range."""


@dataclass(frozen=True, slots=True)
class Coin:
    denom: str
    amount: int

    def __str__(self) -> str:
        return f"{self.amount}{self.denom}"

    def to_proto(self) -> coin_pb2.Coin:
        return coin_pb2.Coin(denom=self.denom, amount=str(self.amount))


def validate_denom(denom: str) -> str:
    if not _DENOM_RE.match(denom):
        raise CoinError(
            f"invalid denom {denom!r}: 3-128 chars, letter first, then [a-zA-Z0-9/:._-]"
        )
    return denom


def parse_amount(text: str) -> int:
    """Parse a decimal amount string; raises CoinError when malformed or above MAX_AMOUNT."""
    if not _AMOUNT_RE.match(text):
        raise CoinError(f"invalid amount {text!r}: a decimal integer without sign or leading zeros")
    value = int(text)
    if value > MAX_AMOUNT:
        raise CoinError(f"amount {text} overflows the maximum {MAX_AMOUNT}")
    return value


def from_proto(coin: coin_pb2.Coin) -> Coin:
    return Coin(validate_denom(coin.denom), parse_amount(coin.amount))


def parse_coin(text: str) -> Coin:
    """Parse ``1000ugrid`` into Coin('ugrid', 1000)."""
    match = _COIN_RE.match(text.strip())
    if not match:
        raise CoinError(f"invalid coin {text!r}: expected an amount then a denom, e.g. 1000ugrid")
    return Coin(validate_denom(match.group(2)), parse_amount(match.group(1)))


def parse_coins(text: str) -> list[Coin]:
    """Parse ``1000ugrid,5uother`` (comma separated) into coins."""
    return [parse_coin(part) for part in text.split(",") if part.strip()]
