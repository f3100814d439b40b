"""Helpers shared by module handlers: parsing user-supplied fields into
typed values, raising the registered error that names the field."""

from __future__ import annotations

from collections.abc import Iterable

from app import coins, crypto
from app.errors import ErrInvalidAddress, ErrInvalidCoins
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
