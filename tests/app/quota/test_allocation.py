"""The pure allocation function: exact cases, its JSON front end's refusals, and
properties (quotas never exceed the margin, each within 1 W below beta x demand)."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.modules.quota.allocation import allocate, allocate_json, format_beta, parse_demands

# (case, margin, demands, beta, quotas)
CASES: list[tuple[str, int, list[int], Fraction, list[int]]] = [
    ("fits with room to spare", 6000, [3000, 2000], Fraction(1), [3000, 2000]),
    ("fits exactly", 5000, [3000, 2000], Fraction(1), [3000, 2000]),
    ("no demand at all", 1000, [], Fraction(1), []),
    ("only zero demands", 0, [0, 0], Fraction(1), [0, 0]),
    # 1400 > 1000: beta 5/7; 700*5/7 = 500, 400*5/7 = 285.71, 300*5/7 = 214.28
    ("does not fit, floors", 1000, [700, 400, 300], Fraction(5, 7), [500, 285, 214]),
    # 3 x 1/3 of 100: each 33.33 -> 33, one W left unallocated
    ("equal shares leave a remainder", 100, [50, 50, 50], Fraction(2, 3), [33, 33, 33]),
    ("zero margin", 0, [10, 20], Fraction(0), [0, 0]),
    ("a zero demand among others", 10, [0, 30], Fraction(1, 3), [0, 10]),
    ("one station asks too much", 7, [10], Fraction(7, 10), [7]),
]


@pytest.mark.parametrize(("case", "margin", "demands", "beta", "quotas"), CASES)
def test_allocation_table(
    case: str, margin: int, demands: list[int], beta: Fraction, quotas: list[int]
) -> None:
    named = [(f"s{i}", d) for i, d in enumerate(demands)]
    assert allocate(margin, named) == (beta, quotas)


def test_beta_always_num_over_den() -> None:
    assert format_beta(Fraction(1)) == "1/1"
    assert format_beta(Fraction(0)) == "0/1"
    assert format_beta(Fraction(10, 14)) == "5/7"


def test_json_output_in_input_order() -> None:
    data = [{"id": "z", "demand": 700}, {"id": "a", "demand": 400}, {"id": "m", "demand": 300}]
    assert allocate_json(1000, data) == {
        "beta": "5/7",
        "quotas": [{"id": "z", "quota": 500}, {"id": "a", "quota": 285}, {"id": "m", "quota": 214}],
    }
    assert allocate_json(5000, data) == {
        "beta": "1/1",
        "quotas": [{"id": "z", "quota": 700}, {"id": "a", "quota": 400}, {"id": "m", "quota": 300}],
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": "a", "demand": 1}, "expected a JSON list"),
        ("a", "expected a JSON list"),
        ([["a", 1]], "[0]: expected an object"),
        ([{"id": "a"}], "[0]: missing 'demand'"),
        ([{"demand": 1}], "[0]: missing 'id'"),
        ([{"id": "a", "demand": 1, "bus": "b1"}], "[0]: unexpected 'bus'"),
        ([{"id": 7, "demand": 1}], "[0].id: expected a string"),
        ([{"id": "a", "demand": 1}, {"id": "a", "demand": 2}], "[1].id: 'a' repeats [0].id"),
        ([{"id": "a", "demand": -1}], "[0].demand: expected a non-negative integer"),
        ([{"id": "a", "demand": 1.5}], "[0].demand: expected a non-negative integer"),
        ([{"id": "a", "demand": 2.0}], "[0].demand: expected a non-negative integer"),
        ([{"id": "a", "demand": "5"}], "[0].demand: expected a non-negative integer"),
        ([{"id": "a", "demand": True}], "[0].demand: expected a non-negative integer"),
        ([{"id": "a", "demand": None}], "[0].demand: expected a non-negative integer"),
    ],
)
def test_demands_refused(data: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_demands(data)
    assert message in str(err.value)


def test_function_refuses_bad_numbers() -> None:
    with pytest.raises(ValueError, match="margin"):
        allocate(-1, [])
    with pytest.raises(ValueError, match="margin"):
        allocate(True, [])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"demands\[1\]"):
        allocate(10, [("a", 1), ("b", -2)])


demands = st.lists(st.integers(0, 10**13), max_size=40)


@given(st.integers(0, 10**13), demands)
def test_quotas_never_exceed_the_margin_and_follow_beta(margin: int, ds: list[int]) -> None:
    beta, quotas = allocate(margin, [(str(i), d) for i, d in enumerate(ds)])
    assert len(quotas) == len(ds)
    total = sum(ds)
    if total <= margin:
        assert beta == 1 and quotas == ds
    else:
        assert beta == Fraction(margin, total)
        assert sum(quotas) <= margin
        # proportional within rounding: 0 <= beta*d - q < 1, never above the demand
        for d, q in zip(ds, quotas, strict=True):
            assert 0 <= beta * d - q < 1
            assert 0 <= q <= d
        # what the floors leave unallocated is below one W per station
        assert margin - sum(quotas) < len(ds)
    text = format_beta(beta)
    num, den = (int(x) for x in text.split("/"))
    assert Fraction(num, den) == beta and text == f"{beta.numerator}/{beta.denominator}"


@given(demands)
def test_order_of_stations_does_not_change_a_quota(ds: list[int]) -> None:
    margin = sum(ds) // 2
    named = [(str(i), d) for i, d in enumerate(ds)]
    _, forward = allocate(margin, named)
    _, backward = allocate(margin, named[::-1])
    assert forward == backward[::-1]
