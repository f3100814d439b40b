"""Hypothesis properties of every mechanism (issue 3, "Tests").

Limits respected, money conserved exactly, energy bought = energy sold, the
same input gives the same output, no self-trades, line limits hold; plus
brute-force references on 1-Wh units for the crossing quantity and the VCG
externalities.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from app.modules.market import MECHANISMS, Bus, Mechanism, Network, Order, Params, clear
from app.modules.market.clearing import _Book, _vcg

FEED_IN, RETAIL = 5, 40
PARAMS = Params(feed_in_tariff=FEED_IN, retail_tariff=RETAIL, min_price=FEED_IN, max_price=RETAIL)


@st.composite
def books(draw, owners: bool = True, buses: tuple[str, ...] = (), max_qty: int = 3000):
    n = draw(st.integers(0, 12))
    out = []
    for i in range(n):
        out.append(
            Order(
                id=f"o{i}",
                side=draw(st.sampled_from(["buy", "sell"])),
                quantity_wh=draw(st.integers(1, max_qty)),
                price=draw(st.integers(FEED_IN, RETAIL)),
                bus=draw(st.sampled_from(buses)) if buses else None,
                owner=draw(st.sampled_from([None, "a", "b", "c"])) if owners else None,
            )
        )
    return out


@st.composite
def networks(draw):
    n = draw(st.integers(1, 6))
    buses = [Bus("n0", None, None)]
    for i in range(1, n):
        parent = draw(st.integers(0, i - 1))
        cap = draw(st.one_of(st.none(), st.integers(0, 4000)))
        buses.append(Bus(f"n{i}", f"n{parent}", cap))
    return Network(tuple(buses))


mechanisms = st.builds(
    Mechanism,
    st.sampled_from(MECHANISMS),
    st.fractions(min_value=0, max_value=1, max_denominator=12),
)


def check_result(orders, mech, result, network=None):
    by_id = {o.id: o for o in orders}
    matched = dict.fromkeys(by_id, 0)
    for t in result.trades:
        b, s = by_id[t.buy_id], by_id[t.sell_id]
        assert b.side == "buy" and s.side == "sell"
        assert t.quantity_wh > 0
        # limits: per kWh and in money (rounding down never hurts the buyer)
        assert t.price <= b.price and t.seller_price >= s.price
        assert t.amount * 1000 <= t.quantity_wh * b.price
        assert t.seller_amount >= t.quantity_wh * s.price // 1000
        # price bounds hold
        assert FEED_IN <= t.price <= RETAIL and FEED_IN <= t.seller_price <= RETAIL
        # an account's buy never matches its own sell
        assert b.owner is None or b.owner != s.owner
        matched[b.id] += t.quantity_wh
        matched[s.id] += t.quantity_wh
    # energy bought = energy sold = matched quantity; remainders add up
    bought = sum(q for i, q in matched.items() if by_id[i].side == "buy")
    sold = sum(q for i, q in matched.items() if by_id[i].side == "sell")
    assert bought == sold == result.matched_quantity
    rest = {u.id: u.quantity_wh for u in result.unmatched}
    for o in orders:
        assert matched[o.id] + rest.get(o.id, 0) == o.quantity_wh
        assert rest.get(o.id, 1) > 0
    # money conserved exactly
    assert result.buyers_pay + result.deficit == result.sellers_receive + result.market_surplus
    assert min(result.market_surplus, result.deficit) == 0
    if mech.name in ("uniform", "discriminatory", "sdr"):
        assert all(t.amount == t.seller_amount for t in result.trades)
        assert all(t.price == t.seller_price for t in result.trades)
    if mech.name == "mcafee":
        assert result.deficit == 0
    if mech.name in ("uniform", "sdr") and result.trades:
        assert {t.price for t in result.trades} == {result.clearing_price}
    if mech.name == "sdr" and result.clearing_price is not None:
        assert FEED_IN <= result.clearing_price <= RETAIL
    if network is not None:
        assert_lines_hold(orders, result, network)


def assert_lines_hold(orders, result, network):
    by_id = {o.id: o for o in orders}
    index = {b.id: i for i, b in enumerate(network.buses)}
    parent = {b.id: b.parent for b in network.buses}
    flow = dict.fromkeys(index, 0)
    for t in result.trades:
        for oid, sign in ((t.sell_id, 1), (t.buy_id, -1)):
            bus = by_id[oid].bus or network.root
            while parent[bus] is not None:  # the line above every ancestor carries it
                flow[bus] += sign * t.quantity_wh
                bus = parent[bus]
    for b in network.buses:
        if b.parent is not None and b.capacity_wh is not None:
            assert abs(flow[b.id]) <= b.capacity_wh, (b.id, flow[b.id])


@settings(max_examples=300, deadline=None)
@given(books(), mechanisms)
def test_invariants_every_mechanism(orders, mech):
    r = clear(orders, mech, params=PARAMS)
    check_result(orders, mech, r)
    assert clear(orders, mech, params=PARAMS) == r  # deterministic
    assert clear(list(orders), mech, params=PARAMS) == r


@settings(max_examples=200, deadline=None)
@given(st.data(), mechanisms)
def test_invariants_with_network(data, mech):
    network = data.draw(networks())
    names = tuple(b.id for b in network.buses)
    orders = data.draw(books(buses=names))
    r = clear(orders, mech, network=network, params=PARAMS)
    check_result(orders, mech, r, network)
    assert clear(orders, mech, network=network, params=PARAMS) == r
    for c in r.curtailments:
        assert c.quantity_wh > 0
    assert r.rounds == 1 + len({c.round for c in r.curtailments})


def units(orders, side):
    """Expand orders to 1-Wh unit prices, in book order."""
    sel = [o for o in orders if o.side == side]
    sel.sort(key=lambda o: -o.price if side == "buy" else o.price)  # stable: ties keep order
    return [o.price for o in sel for _ in range(o.quantity_wh)]


def welfare(orders):
    bids, asks = units(orders, "buy"), units(orders, "sell")
    total = 0
    for b, a in zip(bids, asks, strict=False):
        if b < a:
            break
        total += b - a
    return total


def crossing(orders):
    bids, asks = units(orders, "buy"), units(orders, "sell")
    return sum(1 for b, a in zip(bids, asks, strict=False) if b >= a)


@settings(max_examples=200, deadline=None)
@given(books(owners=False, max_qty=6))
def test_uniform_matches_where_curves_cross(orders):
    r = clear(orders, Mechanism("uniform"))
    assert r.matched_quantity == crossing(orders)
    d = clear(orders, Mechanism("discriminatory"))
    assert [(t.buy_id, t.sell_id, t.quantity_wh) for t in d.trades] == [
        (t.buy_id, t.sell_id, t.quantity_wh) for t in r.trades
    ]


@settings(max_examples=200, deadline=None)
@given(books(owners=False, max_qty=6))
def test_vcg_pays_externalities(orders):
    r = clear(orders, Mechanism("vcg"))
    w = welfare(orders)
    got: dict[str, Fraction] = {}
    qty: dict[str, int] = {}
    for t in r.trades:
        qty[t.buy_id] = qty.get(t.buy_id, 0) + t.quantity_wh
        qty[t.sell_id] = qty.get(t.sell_id, 0) + t.quantity_wh
    # The exact per-order unit prices (the trades only show them rounded down).
    book = _Book(orders, None, None)
    outcome = _vcg(book, list(book.qty), Mechanism("vcg"), None)
    for b, a, bp, sp in zip(
        outcome.pairs.buy,
        outcome.pairs.sell,
        outcome.buyer_price,
        outcome.seller_price,
        strict=True,
    ):
        got[book.ids[b]] = Fraction(bp)
        got[book.ids[a]] = Fraction(sp)
    for o in orders:
        if o.id not in qty:
            continue
        x = qty[o.id]
        others = [p for p in orders if p.id != o.id]
        if o.side == "buy":
            expected = welfare(others) - (w - o.price * x)
        else:
            expected = (w + o.price * x) - welfare(others)
        assert got[o.id] * x == expected, (o.id, got[o.id] * x, expected)
