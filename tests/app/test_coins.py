from __future__ import annotations

import pytest

from app.coins import MAX_AMOUNT, Coin, CoinError, parse_amount, parse_coin, parse_coins


@pytest.mark.parametrize(
    ("text", "coin"),
    [
        ("1000ugrid", Coin("ugrid", 1000)),
        ("0ugrid", Coin("ugrid", 0)),
        (f"{MAX_AMOUNT}ibc/AB", Coin("ibc/AB", MAX_AMOUNT)),
    ],
)
def test_parse_coin(text: str, coin: Coin) -> None:
    assert parse_coin(text) == coin
    assert str(coin) == text


@pytest.mark.parametrize(
    "text",
    [
        "ugrid",
        "1000",
        "-5ugrid",
        "1.5ugrid",
        "10u",
        "0010ugrid",
        f"{MAX_AMOUNT + 1}ugrid",
        "5 ugrid",
    ],
)
def test_parse_coin_rejects(text: str) -> None:
    with pytest.raises(CoinError):
        parse_coin(text)


def test_parse_amount_bounds() -> None:
    assert parse_amount(str(MAX_AMOUNT)) == MAX_AMOUNT
    with pytest.raises(CoinError, match="overflow"):
        parse_amount(str(MAX_AMOUNT + 1))
    with pytest.raises(CoinError):
        parse_amount("9" * 60)


def test_parse_coins() -> None:
    assert parse_coins("1ugrid,2uxyz") == [Coin("ugrid", 1), Coin("uxyz", 2)]
