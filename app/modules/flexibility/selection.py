"""The flexibility auction's selection: which offers cover a need, and how much of each.

A pure function (no state, no I/O), like the market's ``clearing.clear``:
the keeper takes the offers out of state, calls ``select`` and applies the
result. The rule (issue 10, item 2):

- offers priced above the need's maximum price are never selected;
- the others are taken cheapest first, equal prices in submission order
  (the offer id, a counter in state);
- each is taken whole while the need has room, the last one partly, until
  the need is covered or the offers run out.

Hence every selected price <= every unselected eligible price, only the
dearest selected offer can be partial, and the awarded total is
min(quantity, sum of eligible quantities). Each selected offer is paid its
own price (discriminatory pricing), which the keeper computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as the selection sees it; ``id`` is its submission order."""

    id: int
    quantity_wh: int
    price_per_kwh: int


def select(offers: Sequence[Offer], quantity_wh: int, max_price: int) -> list[tuple[int, int]]:
    """Cover ``quantity_wh`` from ``offers`` priced at most ``max_price``.

    Returns (offer id, awarded Wh) in selection order, cheapest first; every
    awarded amount is >= 1 and at most the offer's quantity.

    Raises ValueError for a non-positive offer quantity, a negative need
    quantity or price, or two offers with the same id.
    """
    if quantity_wh < 0 or max_price < 0:
        raise ValueError(f"need quantity {quantity_wh} and max price {max_price} must be >= 0")
    ids = [o.id for o in offers]
    if len(set(ids)) != len(ids):
        raise ValueError("offer ids must be distinct")
    for o in offers:
        if o.quantity_wh < 1 or o.price_per_kwh < 0:
            raise ValueError(f"offer {o.id}: quantity {o.quantity_wh}, price {o.price_per_kwh}")
    eligible = sorted(
        (o for o in offers if o.price_per_kwh <= max_price),
        key=lambda o: (o.price_per_kwh, o.id),
    )
    room = quantity_wh
    out: list[tuple[int, int]] = []
    for o in eligible:
        if room == 0:
            break
        take = min(o.quantity_wh, room)
        out.append((o.id, take))
        room -= take
    return out
