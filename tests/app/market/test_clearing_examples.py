"""Worked examples, checked by hand (the same numbers are in docs/market-mechanisms.md)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from app.modules.market import (
    Bus,
    Mechanism,
    Network,
    Order,
    Params,
    clear,
    trade_amount,
)

# The book of the docs, in submission order.
BOOK = [
    Order("B1", "buy", 300, 220),
    Order("S1", "sell", 200, 100),
    Order("B2", "buy", 200, 180),
    Order("S2", "sell", 200, 150),
    Order("B3", "buy", 100, 120),
    Order("S3", "sell", 300, 170),
]
# (buy, sell, quantity, price, amount, seller_price, seller_amount)
T = tuple[str, str, int, int, int, int, int]


def rows(result) -> list[T]:
    return [tuple(t) for t in result.trades]


def unmatched(result) -> list[tuple[str, int]]:
    return [tuple(u) for u in result.unmatched]


def test_uniform_book():
    r = clear(BOOK, Mechanism("uniform"))
    # marginal b = 180 (B2), s = 170 (S3): p = 170 + (180 - 170) / 2 = 175
    assert r.clearing_price == 175
    assert r.matched_quantity == 500
    assert rows(r) == [
        ("B1", "S1", 200, 175, 35, 175, 35),
        ("B1", "S2", 100, 175, 17, 175, 17),  # 17.5 rounded down
        ("B2", "S2", 100, 175, 17, 175, 17),
        ("B2", "S3", 100, 175, 17, 175, 17),
    ]
    assert unmatched(r) == [("B3", 100), ("S3", 200)]
    assert (r.market_surplus, r.deficit) == (0, 0)


@pytest.mark.parametrize(
    ("k", "price"),
    [(Fraction(0), 170), (Fraction(1), 180), (Fraction(1, 3), 173), (Fraction(3, 4), 177)],
)
def test_uniform_k(k, price):
    # 170 + k * 10, rounded down: 1/3 -> 173.33 -> 173; 3/4 -> 177.5 -> 177
    assert clear(BOOK, Mechanism("uniform", k)).clearing_price == price


def test_discriminatory_book():
    r = clear(BOOK, Mechanism("discriminatory"))
    assert r.clearing_price is None
    assert rows(r) == [
        ("B1", "S1", 200, 160, 32, 160, 32),  # (220 + 100) / 2
        ("B1", "S2", 100, 185, 18, 185, 18),  # (220 + 150) / 2; 18.5 -> 18
        ("B2", "S2", 100, 165, 16, 165, 16),  # (180 + 150) / 2; 16.5 -> 16
        ("B2", "S3", 100, 175, 17, 175, 17),  # (180 + 170) / 2; 17.5 -> 17
    ]


def test_discriminatory_k1_is_pay_as_bid():
    r = clear(BOOK, Mechanism("discriminatory", Fraction(1)))
    assert [t.price for t in r.trades] == [220, 220, 180, 180]


def test_mcafee_trade_reduction():
    # K = 500, b_K = 180, s_K = 170, b_{K+1} = 120 (B3), s_{K+1} = 170 (S3's rest).
    # p0 = 145 is not in [170, 180]: 1 Wh leaves B2 and S3; buyers pay 180, sellers get 170.
    r = clear(BOOK, Mechanism("mcafee"))
    assert r.clearing_price is None
    assert rows(r) == [
        ("B1", "S1", 200, 180, 36, 170, 34),
        ("B1", "S2", 100, 180, 18, 170, 17),
        ("B2", "S2", 100, 180, 18, 170, 17),
        ("B2", "S3", 99, 180, 17, 170, 16),  # 17.82 -> 17, 16.83 -> 16
    ]
    assert r.matched_quantity == 499
    assert (r.buyers_pay, r.sellers_receive, r.market_surplus, r.deficit) == (89, 84, 5, 0)
    assert unmatched(r) == [("B2", 1), ("B3", 100), ("S3", 201)]


def test_mcafee_all_trade_at_p0():
    # K = 100 ends on order boundaries: b_{K+1} = 140, s_{K+1} = 180, p0 = 160 in [100, 200].
    book = [
        Order("B1", "buy", 100, 200),
        Order("B2", "buy", 100, 140),
        Order("S1", "sell", 100, 100),
        Order("S2", "sell", 100, 180),
    ]
    r = clear(book, Mechanism("mcafee"))
    assert r.clearing_price == 160
    assert rows(r) == [("B1", "S1", 100, 160, 16, 160, 16)]
    assert r.market_surplus == 0


def test_mcafee_single_unit_reduction_trades_nothing():
    book = [Order("B1", "buy", 1, 200), Order("S1", "sell", 1, 100)]
    r = clear(book, Mechanism("mcafee"))
    assert r.trades == ()
    assert unmatched(r) == [("B1", 1), ("S1", 1)]


def test_vcg_book():
    # Externalities (price x Wh, per kWh units):
    #   B1 pays the asks it displaces: 200 x 150 + 100 x 170 = 47000 -> 156.67 per kWh
    #   B2 pays 100 x 150 + 100 x 170 = 32000 -> 160
    #   S1 and S2 are replaced by S3's rest at 170; S3 (no one to replace it) gets B2's 180.
    r = clear(BOOK, Mechanism("vcg"))
    assert r.clearing_price is None
    assert rows(r) == [
        ("B1", "S1", 200, 156, 31, 170, 34),  # 200 * 47000 / 300 / 1000 = 31.33
        ("B1", "S2", 100, 156, 15, 170, 17),  # 15.67
        ("B2", "S2", 100, 160, 16, 170, 17),
        ("B2", "S3", 100, 160, 16, 180, 18),
    ]
    assert (r.buyers_pay, r.sellers_receive, r.market_surplus, r.deficit) == (78, 86, 0, 8)


def test_vcg_single_unit_textbook():
    # Single-unit agents: buyers pay max(b_{K+1}, s_K), sellers get min(s_{K+1}, b_K).
    book = [
        Order("B1", "buy", 1000, 10),
        Order("B2", "buy", 1000, 8),
        Order("B3", "buy", 1000, 3),
        Order("S1", "sell", 1000, 2),
        Order("S2", "sell", 1000, 5),
        Order("S3", "sell", 1000, 9),
    ]
    # As 1000-Wh orders this is the multi-unit case; each order's externality is still
    # max(3, 5) = 5 per kWh for buyers and min(9, 8) = 8 for sellers.
    r = clear(book, Mechanism("vcg"))
    assert [(t.price, t.seller_price) for t in r.trades] == [(5, 8), (5, 8)]
    assert r.deficit == 6


def test_sdr_example():
    book = [
        Order("B1", "buy", 400, 250),
        Order("B2", "buy", 400, 200),
        Order("S1", "sell", 300, 80),
        Order("S2", "sell", 200, 150),
    ]
    params = Params(feed_in_tariff=80, retail_tariff=250)
    # SDR = 500 / 800 = 5/8; P = 250 * 80 / (170 * 5/8 + 80) = 20000 / 186.25 = 107.38 -> 107
    r = clear(book, Mechanism("sdr"), params=params)
    assert r.clearing_price == 107
    assert rows(r) == [("B1", "S1", 300, 107, 32, 107, 32)]  # S2 asks 150 > 107
    assert unmatched(r) == [("B1", 100), ("B2", 400), ("S2", 200)]


@pytest.mark.parametrize(
    ("supply", "demand", "price"),
    [
        (0, 100, 250),  # nobody sells: retail
        (100, 100, 80),  # SDR = 1: feed-in
        (300, 100, 80),  # SDR > 1: feed-in
        (50, 100, 121),  # 20000 / (85 + 80) = 121.2
    ],
)
def test_sdr_formula(supply, demand, price):
    from app.modules.market.clearing import sdr_price

    exact = sdr_price(supply, demand, 80, 250)
    assert exact is not None
    assert exact.numerator // exact.denominator == price


def test_own_orders_never_match():
    book = [
        Order("B1", "buy", 100, 200, owner="A"),
        Order("S1", "sell", 100, 100, owner="A"),
        Order("S2", "sell", 100, 150, owner="C"),
        Order("B2", "buy", 100, 180, owner="B"),
    ]
    r = clear(book, Mechanism("uniform"))
    # B1 skips its own S1 and takes S2; B2 then gets the cheaper S1.
    assert [(t.buy_id, t.sell_id, t.quantity_wh) for t in r.trades] == [
        ("B1", "S2", 100),
        ("B2", "S1", 100),
    ]
    assert r.clearing_price == 165  # b = 180, s = 150


def test_ties_by_submission_order():
    book = [
        Order("S1", "sell", 100, 100),
        Order("B1", "buy", 100, 150),
        Order("B2", "buy", 100, 150),
        Order("S2", "sell", 100, 100),
    ]
    r = clear(book, Mechanism("discriminatory"))
    assert [(t.buy_id, t.sell_id) for t in r.trades] == [("B1", "S1"), ("B2", "S2")]


def test_no_cross():
    book = [Order("B1", "buy", 100, 90), Order("S1", "sell", 100, 100)]
    for name in ("uniform", "discriminatory", "mcafee", "vcg"):
        r = clear(book, Mechanism(name))
        assert r.trades == () and r.clearing_price is None
        assert unmatched(r) == [("B1", 100), ("S1", 100)]


def test_empty_book():
    for name in ("uniform", "discriminatory", "mcafee", "vcg"):
        r = clear([], Mechanism(name))
        assert r.trades == () and r.unmatched == ()


def test_network_curtailment_example():
    net = Network((Bus("pcc"), Bus("A", "pcc", 150), Bus("B", "pcc", None)))
    book = [
        Order("S1", "sell", 300, 100, bus="A"),
        Order("S2", "sell", 300, 160, bus="B"),
        Order("B1", "buy", 200, 200, bus="B"),
        Order("B2", "buy", 100, 180, bus="A"),
        Order("B3", "buy", 200, 170, bus="B"),
    ]
    # Round 1: B1-S1 200, B2-S1 100, B3-S2 200; line A exports 300 - 100 = 200 > 150.
    # The only trade crossing A outward is B1-S1: 50 Wh of S1 are excluded.
    # Round 2: B1-S1 200, B2-S1 50, B2-S2 50, B3-S2 200; line A carries 250 - 100 = 150.
    r = clear(book, Mechanism("uniform"), network=net)
    assert r.rounds == 2
    assert [tuple(c) for c in r.curtailments] == [(1, "A", "B1", "S1", 50, "S1")]
    assert rows(r) == [
        ("B1", "S1", 200, 165, 33, 165, 33),
        ("B2", "S1", 50, 165, 8, 165, 8),
        ("B2", "S2", 50, 165, 8, 165, 8),
        ("B3", "S2", 200, 165, 33, 165, 33),
    ]
    assert unmatched(r) == [("S1", 50), ("S2", 50)]


def test_network_import_curtails_lowest_surplus_first():
    net = Network((Bus("pcc"), Bus("L", "pcc", 100)))
    book = [
        Order("S1", "sell", 100, 100),  # at the root
        Order("S2", "sell", 100, 110),
        Order("B1", "buy", 100, 300, bus="L"),  # surplus (300 - 100) * 100
        Order("B2", "buy", 100, 150, bus="L"),  # surplus (150 - 110) * 100: curtailed first
    ]
    r = clear(book, Mechanism("discriminatory"), network=net)
    assert [tuple(c) for c in r.curtailments] == [(1, "L", "B2", "S2", 100, "B2")]
    assert [(t.buy_id, t.sell_id, t.quantity_wh) for t in r.trades] == [("B1", "S1", 100)]


def test_amount_rounding_rule():
    assert trade_amount(1, 999) == 0
    assert trade_amount(1000, 7) == 7
    assert trade_amount(1500, 3) == 4  # 4.5 -> 4
    assert trade_amount(300, Fraction(47000, 300)) == 47
