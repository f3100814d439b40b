"""Initial EV-charging quotas under a capacity margin: one pure function (issue 10, item 3).

The chain (keeper.py, at a margin's allocation time) and the offline
operator tool (``mgrid quota allocate``, which reads ``parse_demands``'s
JSON) call the very same ``allocate``. No floats: beta is an exact
``Fraction`` and every quota an int.

Rule. With margin M (W) and demands d_i (W), total D = sum d_i:
- D <= M (this includes D == 0): every demand fits, beta = 1 and q_i = d_i;
- otherwise beta = M / D (exact, reduced) and q_i = floor(d_i * M / D).
Rounding down means sum q_i <= floor(sum d_i * M / D) = M: the quotas never
exceed the margin, and each is within one W below beta * d_i
(0 <= beta * d_i - q_i < 1). The few W the floors leave over stay unallocated.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

DEMAND_FIELDS = ("id", "demand")


def _whole(value: Any) -> bool:
    return type(value) is int  # bools are ints to Python, not to us


def allocate(margin_w: int, demands: Sequence[tuple[str, int]]) -> tuple[Fraction, list[int]]:
    """(beta, quotas in input order) for ``demands``, a sequence of (id, demand_w).

    Raises ValueError for a margin or demand that is not a non-negative int.
    """
    if not _whole(margin_w) or margin_w < 0:
        raise ValueError(f"margin: expected a non-negative integer (W), got {margin_w!r}")
    for i, (_, d) in enumerate(demands):
        if not _whole(d) or d < 0:
            raise ValueError(f"demands[{i}]: expected a non-negative integer (W), got {d!r}")
    total = sum(d for _, d in demands)
    if total <= margin_w:
        return Fraction(1), [d for _, d in demands]
    # floor(d * M / D): the sum of floors never exceeds the floor of the sum, M.
    return Fraction(margin_w, total), [d * margin_w // total for _, d in demands]


def format_beta(beta: Fraction) -> str:
    """beta as the chain and the tool write it: always "num/den", reduced ("1/1", "3/7")."""
    return f"{beta.numerator}/{beta.denominator}"


def parse_demands(data: Any) -> list[tuple[str, int]]:
    """The tool's demands file, ``[{"id": str, "demand": int (W)}, ...]``, as (id, demand) pairs.

    Raises ValueError naming the item and field: not a list, an item that is
    not an object or has missing or extra keys, an id that is not a string or
    repeats, a demand that is not a non-negative integer (true/false are not).
    """
    if not isinstance(data, list):
        raise ValueError(
            f'expected a JSON list of {{"id": str, "demand": int}}, got {type(data).__name__}'
        )
    out: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"[{i}]: expected an object, got {type(item).__name__}")
        missing = [k for k in DEMAND_FIELDS if k not in item]
        if missing:
            raise ValueError(f"[{i}]: missing {', '.join(repr(k) for k in missing)}")
        extra = sorted(k for k in item if k not in DEMAND_FIELDS)
        if extra:
            raise ValueError(
                f"[{i}]: unexpected {', '.join(repr(k) for k in extra)} "
                f"(only {' and '.join(repr(k) for k in DEMAND_FIELDS)})"
            )
        ident, demand = item["id"], item["demand"]
        if not isinstance(ident, str):
            raise ValueError(f"[{i}].id: expected a string, got {ident!r}")
        if ident in seen:
            raise ValueError(f"[{i}].id: {ident!r} repeats [{seen[ident]}].id")
        if not _whole(demand) or demand < 0:
            raise ValueError(f"[{i}].demand: expected a non-negative integer (W), got {demand!r}")
        seen[ident] = i
        out.append((ident, demand))
    return out


def allocate_json(margin_w: int, data: Any) -> dict[str, Any]:
    """The tool's JSON answer: ``{"beta": "num/den", "quotas": [{"id", "quota"}]}``
    in input order. Raises ValueError for bad input (see ``parse_demands``)."""
    demands = parse_demands(data)
    beta, quotas = allocate(margin_w, demands)
    return {
        "beta": format_beta(beta),
        "quotas": [{"id": i, "quota": q} for (i, _), q in zip(demands, quotas, strict=True)],
    }
