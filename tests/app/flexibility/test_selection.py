"""The flexibility auction's pure selection (app/modules/flexibility/selection.py):
cheapest first, ties by submission order, never above the maximum price, the
last one partly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.modules.flexibility.selection import Offer, select

CASES = [
    # (offers as (id, quantity, price), need, max price, expected (id, awarded) in order)
    pytest.param([], 1000, 200, [], id="no offers"),
    pytest.param([(1, 500, 100)], 1000, 200, [(1, 500)], id="one offer, need not covered"),
    pytest.param([(1, 1500, 100)], 1000, 200, [(1, 1000)], id="one offer, partly"),
    pytest.param(
        [(1, 400, 150), (2, 333, 101), (3, 400, 150), (4, 500, 199)],
        1000,
        199,
        [(2, 333), (1, 400), (3, 267)],
        id="cheapest first, tie by submission order, last one partly",
    ),
    pytest.param(
        [(3, 400, 150), (1, 400, 150)],
        500,
        200,
        [(1, 400), (3, 100)],
        id="tie by id whatever the list order",
    ),
    pytest.param(
        [(1, 400, 201), (2, 400, 200)], 1000, 200, [(2, 400)], id="above the maximum never"
    ),
    pytest.param([(1, 400, 201)], 1000, 200, [], id="nothing eligible"),
    pytest.param([(1, 400, 0), (2, 600, 50)], 1000, 50, [(1, 400), (2, 600)], id="exactly covered"),
    pytest.param(
        [(1, 400, 10), (2, 600, 50), (3, 10, 60)], 1000, 60, [(1, 400), (2, 600)], id="no room left"
    ),
    pytest.param([(1, 400, 10)], 0, 60, [], id="nothing needed"),
]


@pytest.mark.parametrize(("offers", "quantity", "max_price", "expected"), CASES)
def test_select_table(
    offers: list[tuple[int, int, int]],
    quantity: int,
    max_price: int,
    expected: list[tuple[int, int]],
) -> None:
    assert select([Offer(*o) for o in offers], quantity, max_price) == expected


@pytest.mark.parametrize(
    ("offers", "quantity", "max_price"),
    [
        ([(1, 0, 10)], 100, 10),
        ([(1, 10, -1)], 100, 10),
        ([(1, 10, 1), (1, 20, 2)], 100, 10),
        ([], -1, 10),
        ([], 10, -1),
    ],
)
def test_select_refuses_malformed_input(
    offers: list[tuple[int, int, int]], quantity: int, max_price: int
) -> None:
    with pytest.raises(ValueError):
        select([Offer(*o) for o in offers], quantity, max_price)


offer_lists = st.lists(st.tuples(st.integers(1, 5_000), st.integers(0, 300)), max_size=12).map(
    lambda rows: [Offer(i + 1, q, p) for i, (q, p) in enumerate(rows)]
)


@given(
    offers=offer_lists.flatmap(lambda os: st.permutations(os)),
    quantity=st.integers(0, 20_000),
    max_price=st.integers(0, 300),
)
def test_select_properties(offers: list[Offer], quantity: int, max_price: int) -> None:
    chosen = select(offers, quantity, max_price)
    by_id = {o.id: o for o in offers}
    eligible = [o for o in offers if o.price_per_kwh <= max_price]
    selected = [by_id[i] for i, _ in chosen]
    awarded = dict(chosen)
    # never pays above the maximum price
    assert all(o.price_per_kwh <= max_price for o in selected)
    # each award is positive and within the offer; ids are not repeated
    assert len(awarded) == len(chosen)
    assert all(1 <= a <= by_id[i].quantity_wh for i, a in chosen)
    # awarded total = min(quantity, eligible total)
    assert sum(awarded.values()) == min(quantity, sum(o.quantity_wh for o in eligible))
    # selection order is (price, submission order)
    keys = [(o.price_per_kwh, o.id) for o in selected]
    assert keys == sorted(keys)
    # never a dearer offer before a cheaper one: every selected price <= every
    # unselected eligible price, and at equal price the earlier offer goes first
    unselected = [o for o in eligible if o.id not in awarded]
    for s in selected:
        for u in unselected:
            assert (s.price_per_kwh, s.id) < (u.price_per_kwh, u.id)
    # only the dearest (last) selected offer can be partial
    for i, a in chosen[:-1]:
        assert a == by_id[i].quantity_wh


@given(offers=offer_lists, quantity=st.integers(0, 20_000), max_price=st.integers(0, 300))
def test_select_is_order_independent(offers: list[Offer], quantity: int, max_price: int) -> None:
    assert select(offers, quantity, max_price) == select(offers[::-1], quantity, max_price)
