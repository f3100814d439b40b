"""Market clearing: the pure, deterministic matching function of the market module.

DESIGN.md section 2 step 3 (clearing at gate closure) and section 4
(determinism). ``clear`` takes an order snapshot, a mechanism, an optional
radial network and optional parameters, and returns trades, prices,
residuals and curtailments. It does no I/O, uses no floats, no clock, no
randomness and never iterates over a set; every ratio is an exact
``Fraction`` and every rounding rule is written next to the code. The keeper
validates the result and applies it to state; the offline CLI
(``app.modules.market.cli``) calls this very function.

Units: energy in Wh, prices in the denom's smallest unit per kWh, money in
the smallest unit, all Python ints.

Order book. Bids are sorted by price descending, asks by price ascending,
ties by submission position (the index in the input sequence, which the
chain fills in (height, tx index, message index) order). Sorting happens once.

The walk (shared by every mechanism). Bids are taken in book order; each bid
is matched against the best remaining ask that is not owned by the same
account (an account's buy never matches its own sell), quantity = the
smaller remainder, while bid >= ask. A bid that finds no such ask stays
unmatched and the walk goes on with the next bid, so a cheaper ask that was
skipped for its owner can still go to another buyer. The walk ends when the
next bid is below the cheapest remaining ask, or below the dearest ask
already matched: so every matched bid is >= every matched ask and one price
can clear them all. Without same-owner conflicts the second condition never
ends the walk earlier than the first, and this is the textbook walk down
both curves: the matched quantity is where supply and demand cross.

Money. ONE rounding rule for every mechanism, per trade and per side:

    amount = floor(quantity_wh * unit_price / 1000)

where ``unit_price`` is the exact price per kWh that side faces (an int for
every mechanism except vcg, whose per-order prices are exact rationals).
The buyer pays ``amount``, the seller receives ``seller_amount``; where both
face the same price they are the same integer, so money is conserved trade
by trade. Where the prices differ (mcafee's trade reduction, vcg), the
difference is the market's: ``market_surplus`` when buyers pay more than
sellers receive, ``deficit`` (paid by the chain's subsidy account) when they
pay less. Exactly, for every result:

    buyers_pay + deficit == sellers_receive + market_surplus

Rounding down never makes a buyer pay more than its limit; a seller may get
up to 1 smallest unit less per trade than quantity x ask / 1000 exactly, but
never less than ``floor(quantity_wh * ask / 1000)``.

Per-kWh prices that are rational (k-split, midpoints, the SDR formula) are
rounded down to an int. Rounding down keeps them inside the interval they
came from, because that interval's lower end (an ask or a tariff) is an int.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from app.modules.market.network import Network

WH_PER_KWH = 1000
BUY = "buy"
SELL = "sell"
MECHANISMS = ("uniform", "discriminatory", "mcafee", "vcg", "sdr")
DEFAULT_K = Fraction(1, 2)

# ---------------------------------------------------------------------------
# Errors


class ClearingInputError(ValueError):
    """The clearing input is malformed; the message names the item and field."""


class InvalidOrderError(ClearingInputError):
    """An order is malformed (the message names its index and field)."""


class InvalidMechanismError(ClearingInputError):
    """Unknown mechanism name or k outside [0, 1]."""


class InvalidParamsError(ClearingInputError):
    """Parameters are malformed or missing for the mechanism."""


# ---------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True, slots=True)
class Order:
    """One order of the snapshot; its submission position is its index in the input.

    Parameters
    ----------
    id: unique within the snapshot.
    side: "buy" or "sell".
    quantity_wh: energy, Wh, > 0.
    price: limit price, smallest unit per kWh, >= 0.
    bus: the bus the order's owner is connected to (None = the root bus).
    owner: the account; an owner's buy never matches its own sell (None = no rule).
    """

    id: str
    side: str
    quantity_wh: int
    price: int
    bus: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Mechanism:
    """A clearing mechanism and its k (the buyer's share is 1 - k; price = s + k(b - s))."""

    name: str
    k: Fraction = DEFAULT_K

    def __post_init__(self) -> None:
        if self.name not in MECHANISMS:
            raise InvalidMechanismError(
                f"mechanism: unknown {self.name!r}, expected one of {', '.join(MECHANISMS)}"
            )
        k = self.k
        if type(k) is int:
            k = Fraction(k)
        if not isinstance(k, Fraction):
            raise InvalidMechanismError(
                f"mechanism.k: expected an exact Fraction, got {type(self.k).__name__}"
            )
        if not 0 <= k <= 1:
            raise InvalidMechanismError(f"mechanism.k: must be in [0, 1], got {k}")
        object.__setattr__(self, "k", k)


@dataclass(frozen=True)
class Params:
    """Market parameters the clearing uses (all optional; the chain fills them from genesis).

    feed_in_tariff, retail_tariff: smallest unit per kWh; required by ``sdr``.
    min_price, max_price: price bounds; an order outside them is an input error.
    """

    feed_in_tariff: int | None = None
    retail_tariff: int | None = None
    min_price: int | None = None
    max_price: int | None = None

    def __post_init__(self) -> None:
        for name in ("feed_in_tariff", "retail_tariff", "min_price", "max_price"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 0):
                raise InvalidParamsError(
                    f"params.{name}: expected a non-negative integer, got {value!r}"
                )
        if (
            self.feed_in_tariff is not None
            and self.retail_tariff is not None
            and self.feed_in_tariff > self.retail_tariff
        ):
            raise InvalidParamsError(
                "params: feed_in_tariff must not exceed retail_tariff "
                f"({self.feed_in_tariff} > {self.retail_tariff})"
            )
        if (
            self.min_price is not None
            and self.max_price is not None
            and self.min_price > self.max_price
        ):
            raise InvalidParamsError(
                f"params: min_price must not exceed max_price ({self.min_price} > {self.max_price})"
            )


# ---------------------------------------------------------------------------
# Outputs


class Trade(NamedTuple):
    """One matched pair. ``price``/``amount`` are the buyer's, ``seller_*`` the seller's.

    For uniform, discriminatory and sdr (and mcafee without trade reduction)
    the two sides are equal. For vcg the per-kWh prices shown are the order's
    average rounded down; the amounts are computed from the exact average.
    """

    buy_id: str
    sell_id: str
    quantity_wh: int
    price: int
    amount: int
    seller_price: int
    seller_amount: int


class Unmatched(NamedTuple):
    id: str
    quantity_wh: int


class Curtailment(NamedTuple):
    """Quantity removed from a trade crossing an overloaded line.

    ``line`` is the bus whose line to its parent was overloaded;
    ``order_id`` is the order (on the subtree side of the line) whose
    quantity was excluded before the auction ran again in round ``round + 1``.
    """

    round: int
    line: str
    buy_id: str
    sell_id: str
    quantity_wh: int
    order_id: str


@dataclass(frozen=True)
class ClearingResult:
    mechanism: str
    k: Fraction
    clearing_price: int | None
    matched_quantity: int
    trades: tuple[Trade, ...]
    unmatched: tuple[Unmatched, ...]
    market_surplus: int = 0
    deficit: int = 0
    curtailments: tuple[Curtailment, ...] = ()
    rounds: int = 1

    @property
    def buyers_pay(self) -> int:
        return sum(t.amount for t in self.trades)

    @property
    def sellers_receive(self) -> int:
        return sum(t.seller_amount for t in self.trades)


def trade_amount(quantity_wh: int, unit_price: int | Fraction) -> int:
    """Money for ``quantity_wh`` at ``unit_price`` per kWh: floor(q * p / 1000)."""
    if type(unit_price) is int:
        return quantity_wh * unit_price // WH_PER_KWH
    assert isinstance(unit_price, Fraction)
    return quantity_wh * unit_price.numerator // (unit_price.denominator * WH_PER_KWH)


def k_price(ask: int, bid: int, k: Fraction) -> int:
    """floor(s + k(b - s)) for s <= b; stays in [s, b] since s is an int."""
    return ask + (k.numerator * (bid - ask)) // k.denominator


# ---------------------------------------------------------------------------
# The book: parallel lists indexed by submission position


class _Book:
    """The snapshot as parallel lists indexed by submission position, books sorted once."""

    __slots__ = ("asks", "bids", "bus", "ids", "owner", "price", "qty")

    def __init__(
        self, orders: Sequence[Order], network: Network | None, params: Params | None
    ) -> None:
        orders = list(orders)
        n = len(orders)
        lo = params.min_price if params is not None else None
        hi = params.max_price if params is not None else None
        # Bulk checks at C speed; on any failure the per-order pass below names
        # the first bad order and field. (The sets are only tested, never iterated.)
        ok = set(map(type, orders)) <= {Order}
        if ok:
            ids = [o.id for o in orders]
            qty = [o.quantity_wh for o in orders]
            price = [o.price for o in orders]
            owner = [o.owner for o in orders]
            bids = [i for i, o in enumerate(orders) if o.side == BUY]
            asks = [i for i, o in enumerate(orders) if o.side == SELL]
            ok = (
                len(bids) + len(asks) == n
                and set(map(type, ids)) <= {str}
                and "" not in ids
                and len(set(ids)) == n
                and set(map(type, qty)) <= {int}
                and set(map(type, price)) <= {int}
                and set(map(type, owner)) <= {str, type(None)}
                and "" not in owner
            )
            if ok and n:
                ok = min(qty) > 0 and min(price) >= (lo if lo is not None else 0)
                ok = ok and (hi is None or max(price) <= hi)
        if ok:
            buses = [o.bus for o in orders]
            if network is None:
                ok = set(map(type, buses)) <= {str, type(None)}
                bus = [0] * n
            else:
                where = {b.id: i for i, b in enumerate(network.buses)}
                root = network.root_index
                ok = set(map(type, buses)) <= {str, type(None)}
                bus = [root if b is None else where.get(b, -1) for b in buses] if ok else []
                ok = ok and -1 not in bus
        if not ok:
            _check_orders(orders, network, lo, hi)
            raise AssertionError("bulk and per-order checks disagree")  # pragma: no cover
        # Stable sorts: equal prices keep submission order (also with reverse=True).
        bids.sort(key=price.__getitem__, reverse=True)
        asks.sort(key=price.__getitem__)
        self.ids = ids
        self.qty = qty
        self.price = price
        self.owner: list[str | None] = owner
        self.bus = bus
        self.bids = bids
        self.asks = asks


def _check_orders(
    orders: Sequence[object], network: Network | None, lo: int | None, hi: int | None
) -> None:
    """Raise InvalidOrderError naming the first malformed order and field."""
    seen: dict[str, int] = {}
    for i, o in enumerate(orders):
        if type(o) is not Order:
            raise InvalidOrderError(f"orders[{i}]: expected an Order, got {type(o).__name__}")
        if type(o.id) is not str or not o.id:
            raise InvalidOrderError(f"orders[{i}].id: expected a non-empty string")
        if o.id in seen:
            raise InvalidOrderError(
                f"orders[{i}].id: {o.id!r} already used by orders[{seen[o.id]}]"
            )
        seen[o.id] = i
        if o.side not in (BUY, SELL):
            raise InvalidOrderError(f"orders[{i}].side: expected 'buy' or 'sell', got {o.side!r}")
        if type(o.quantity_wh) is not int or o.quantity_wh <= 0:
            raise InvalidOrderError(
                f"orders[{i}].quantity_wh: expected a positive integer, got {o.quantity_wh!r}"
            )
        if type(o.price) is not int or o.price < 0:
            raise InvalidOrderError(
                f"orders[{i}].price: expected a non-negative integer, got {o.price!r}"
            )
        if lo is not None and o.price < lo:
            raise InvalidOrderError(f"orders[{i}].price: below min_price ({o.price} < {lo})")
        if hi is not None and o.price > hi:
            raise InvalidOrderError(f"orders[{i}].price: above max_price ({o.price} > {hi})")
        if o.owner is not None and (type(o.owner) is not str or not o.owner):
            raise InvalidOrderError(f"orders[{i}].owner: expected a non-empty string or None")
        if o.bus is not None:
            if type(o.bus) is not str:
                raise InvalidOrderError(f"orders[{i}].bus: expected a string or None")
            if network is not None and network.index_of(o.bus) is None:
                raise InvalidOrderError(f"orders[{i}].bus: unknown bus {o.bus!r}")


class _Pairs:
    """Matched pairs as parallel lists (one tuple per trade would cost more)."""

    __slots__ = ("buy", "qty", "sell")

    def __init__(self, buy: list[int], sell: list[int], qty: list[int]) -> None:
        self.buy = buy  # buy order index
        self.sell = sell  # sell order index
        self.qty = qty  # quantity_wh

    def __len__(self) -> int:
        return len(self.qty)


def _no_pairs() -> _Pairs:
    return _Pairs([], [], [])


def _walk(
    bids: Sequence[int],
    asks: Sequence[int],
    qty: Sequence[int],
    price: Sequence[int],
    owner: Sequence[str | None],
) -> tuple[_Pairs, list[int]]:
    """Match the sorted books (see the module docstring). Returns pairs and remainders.

    Linear in the book size when no owner trades against itself at the
    head of the book; exhausted asks are skipped through a path-halving
    "next alive" array, so each ask is stepped over O(1) amortised times.
    """
    rem = list(qty)
    n_a = len(asks)
    # Ask-side data in book order (position j), to save an indirection per step.
    ap = [price[a] for a in asks]
    ao = [owner[a] for a in asks]
    arem = [qty[a] for a in asks]
    # nxt[j] == j: ask j has quantity left; otherwise a pointer further right.
    nxt = [j if arem[j] else j + 1 for j in range(n_a)]
    nxt.append(n_a)
    out_b: list[int] = []
    out_a: list[int] = []
    out_q: list[int] = []
    front = 0
    top_ask = -1  # the dearest ask matched so far
    for b in bids:
        need = rem[b]
        if not need:
            continue
        while nxt[front] != front:
            front = nxt[front]
        if front == n_a:
            break
        pb = price[b]
        if pb < ap[front] or pb < top_ask:
            break
        ob = owner[b]
        j = front
        while True:
            # find the next ask with quantity left, halving paths as we go
            while nxt[j] != j:
                nxt[j] = nxt[nxt[j]]
                j = nxt[j]
            if j == n_a:
                break
            pa = ap[j]
            if pa > pb:
                break
            if ob is not None and ao[j] == ob:
                j += 1
                continue
            if pa > top_ask:
                top_ask = pa
            ra = arem[j]
            if need < ra:
                out_b.append(b)
                out_a.append(asks[j])
                out_q.append(need)
                arem[j] = ra - need
                need = 0
                break
            out_b.append(b)
            out_a.append(asks[j])
            out_q.append(ra)
            arem[j] = 0
            nxt[j] = j + 1
            j += 1
            need -= ra
            if not need:
                break
        rem[b] = need
    for j, a in enumerate(asks):
        rem[a] = arem[j]
    return _Pairs(out_b, out_a, out_q), rem


class _Outcome(NamedTuple):
    pairs: _Pairs
    buyer_price: list[int] | list[int | Fraction]  # per pair, per kWh (exact)
    seller_price: list[int] | list[int | Fraction]
    clearing_price: int | None


def _pay_as_pair(pairs: _Pairs, prices: list[int], clearing_price: int | None) -> _Outcome:
    return _Outcome(pairs, prices, prices, clearing_price)


def _marginal(pairs: _Pairs, price: list[int]) -> tuple[int, int]:
    """(b, s): the lowest matched bid and the highest matched ask price."""
    b = min(map(price.__getitem__, pairs.buy))
    s = max(map(price.__getitem__, pairs.sell))
    return b, s


# ---------------------------------------------------------------------------
# Mechanisms. Each takes the book and the quantities still offered.


def _uniform(book: _Book, qty: list[int], mech: Mechanism, params: Params | None) -> _Outcome:
    """Uniform-price k-double auction.

    The walk gives the matched quantity (where the curves cross). With b the
    lowest matched bid and s the highest matched ask, every trade is priced
    p = floor(s + k(b - s)). Every matched bid is >= b >= p >= s >= every
    matched ask, so each trade respects both limits.
    """
    pairs, _ = _walk(book.bids, book.asks, qty, book.price, book.owner)
    if not pairs:
        return _pay_as_pair(pairs, [], None)
    b, s = _marginal(pairs, book.price)
    p = k_price(s, b, mech.k)
    return _pay_as_pair(pairs, [p] * len(pairs), p)


def _discriminatory(
    book: _Book, qty: list[int], mech: Mechanism, params: Params | None
) -> _Outcome:
    """Pay-as-bid k-double auction: each pair priced floor(s + k(b - s)) from its own b and s."""
    pairs, _ = _walk(book.bids, book.asks, qty, book.price, book.owner)
    price = book.price
    num, den = mech.k.numerator, mech.k.denominator
    prices = [
        price[a] + (num * (price[b] - price[a])) // den
        for b, a in zip(pairs.buy, pairs.sell, strict=True)
    ]
    return _pay_as_pair(pairs, prices, None)


def _mcafee(book: _Book, qty: list[int], mech: Mechanism, params: Params | None) -> _Outcome:
    """McAfee's trade-reduction double auction (McAfee 1992), defined on units of 1 Wh.

    Each Wh of an order is one unit. The walk gives K matched units; b_K and
    s_K are the prices of the K-th bid and ask unit (the lowest matched bid,
    the highest matched ask); b_{K+1} and s_{K+1} those of the next units
    (the best bid and ask with quantity left). If both exist and the
    candidate p0 = (b_{K+1} + s_{K+1}) / 2 lies in [s_K, b_K], all K units
    trade at floor(p0). Otherwise (including when a (K+1)-th unit does not
    exist) the K-th unit of each side is removed (1 Wh from the last matched
    bid order and from the last matched ask order), the remaining K - 1 units
    are walked again, buyers pay b_K and sellers receive s_K per kWh, and the
    difference is the market's surplus. With single-Wh orders this is exactly
    McAfee's dominant-strategy mechanism; with multi-Wh orders (as for every
    multi-unit double auction) truthfulness is not guaranteed.
    """
    bids, asks, price = book.bids, book.asks, book.price
    pairs, rem = _walk(bids, asks, qty, price, book.owner)
    if not pairs:
        return _pay_as_pair(pairs, [], None)
    b_k, s_k = _marginal(pairs, price)
    next_bid = next((price[i] for i in bids if rem[i] > 0), None)
    next_ask = next((price[i] for i in asks if rem[i] > 0), None)
    if next_bid is not None and next_ask is not None:
        p0 = Fraction(next_bid + next_ask, 2)
        if s_k <= p0 <= b_k:
            p = p0.numerator // p0.denominator
            return _pay_as_pair(pairs, [p] * len(pairs), p)
    # Trade reduction: cap every order at what it matched, minus the K-th units.
    capped = [q - r for q, r in zip(qty, rem, strict=True)]
    last_bid = next(i for i in reversed(bids) if capped[i] > 0)
    last_ask = next(i for i in reversed(asks) if capped[i] > 0)
    capped[last_bid] -= 1
    capped[last_ask] -= 1
    reduced, _ = _walk(bids, asks, capped, price, book.owner)
    return _Outcome(reduced, [b_k] * len(reduced), [s_k] * len(reduced), None)


class _Units:
    """A sorted book of (price, quantity) entries seen as a sequence of 1-Wh units."""

    __slots__ = ("cum", "prices", "total", "val")

    def __init__(self, prices: list[int], quantities: list[int]) -> None:
        cum = [0]
        val = [0]
        for p, q in zip(prices, quantities, strict=True):
            cum.append(cum[-1] + q)
            val.append(val[-1] + p * q)
        self.prices = prices
        self.cum = cum
        self.val = val
        self.total = cum[-1]

    def unit(self, n: int) -> int:
        """Price of the n-th unit, 1 <= n <= total."""
        return self.prices[bisect_left(self.cum, n) - 1]

    def prefix(self, n: int) -> int:
        """Sum of the prices of the first n units, 0 <= n <= total."""
        if n <= 0:
            return 0
        i = bisect_left(self.cum, n) - 1
        return self.val[i] + (n - self.cum[i]) * self.prices[i]


class _Without:
    """A ``_Units`` view with one entry (an order's own remainder) left out."""

    __slots__ = ("before", "skip", "skip_val", "total", "units")

    def __init__(self, units: _Units, entry: int | None) -> None:
        self.units = units
        if entry is None:
            self.before, self.skip, self.skip_val = units.total, 0, 0
        else:
            q = units.cum[entry + 1] - units.cum[entry]
            self.before, self.skip, self.skip_val = units.cum[entry], q, q * units.prices[entry]
        self.total = units.total - self.skip

    def unit(self, n: int) -> int:
        return self.units.unit(n if n <= self.before else n + self.skip)

    def prefix(self, n: int) -> int:
        if n <= self.before:
            return self.units.prefix(n)
        return self.units.prefix(n + self.skip) - self.skip_val


def _vcg(book: _Book, qty: list[int], mech: Mechanism, params: Params | None) -> _Outcome:
    """VCG double auction on units of 1 Wh; every order is one agent.

    The allocation is the walk's (efficient: K units trade). Each order pays
    (buyer) or receives (seller) its externality, computed exactly:

    buyer i matched x units: without i, the next bids nb_1, nb_2, ... (others'
    unmatched units, best first) replace its units while nb_j >= the ask unit
    they would meet, a_{K-x+j}; the other ask units are no longer bought.
        pay_i = sum_{j=1..x} max(nb_j, a_{K-x+j})
    seller j matched y units, symmetrically with the next asks ns_t and the
    matched bid units from the margin:
        receive_j = sum_{t=1..y} min(ns_t, b_{K-y+t})
    Both sums have a single crossing (one side non-increasing, the other
    non-decreasing), found by binary search over prefix sums: O(log^2 n) per
    order. Payments are clamped to the order's limit (pay <= x * bid,
    receive >= y * ask), which only binds when the self-trade rule made the
    allocation differ from the unconstrained efficient one.

    Per trade, the buyer's exact price is pay_i / x per kWh and the seller's
    receive_j / y; the amounts follow the module's rounding rule. What
    sellers receive beyond what buyers pay is the ``deficit`` (paid by the
    subsidy account on chain).
    """
    bids, asks, price = book.bids, book.asks, book.price
    pairs, rem = _walk(bids, asks, qty, price, book.owner)
    if not pairs:
        return _pay_as_pair(pairs, [], None)
    matched = [q - r for q, r in zip(qty, rem, strict=True)]
    mb = [i for i in bids if matched[i] > 0]
    ma = [i for i in asks if matched[i] > 0]
    ub = [i for i in bids if rem[i] > 0]
    ua = [i for i in asks if rem[i] > 0]
    mb_units = _Units([price[i] for i in mb], [matched[i] for i in mb])
    ma_units = _Units([price[i] for i in ma], [matched[i] for i in ma])
    ub_units = _Units([price[i] for i in ub], [rem[i] for i in ub])
    ua_units = _Units([price[i] for i in ua], [rem[i] for i in ua])
    ub_pos = {i: e for e, i in enumerate(ub)}
    ua_pos = {i: e for e, i in enumerate(ua)}
    big_k = mb_units.total

    unit_price: dict[int, Fraction] = {}
    for i in mb:
        x = matched[i]
        nb = _Without(ub_units, ub_pos.get(i))
        lo, hi = 0, min(x, nb.total)
        while lo < hi:  # largest j with nb_j >= a_{K-x+j}
            mid = (lo + hi + 1) // 2
            if nb.unit(mid) >= ma_units.unit(big_k - x + mid):
                lo = mid
            else:
                hi = mid - 1
        pay = nb.prefix(lo) + ma_units.prefix(big_k) - ma_units.prefix(big_k - x + lo)
        pay = min(pay, x * price[i])
        unit_price[i] = Fraction(pay, x)
    for i in ma:
        y = matched[i]
        ns = _Without(ua_units, ua_pos.get(i))
        lo, hi = 0, min(y, ns.total)
        while lo < hi:  # largest t with ns_t <= b_{K-y+t}
            mid = (lo + hi + 1) // 2
            if ns.unit(mid) <= mb_units.unit(big_k - y + mid):
                lo = mid
            else:
                hi = mid - 1
        receive = ns.prefix(lo) + mb_units.prefix(big_k) - mb_units.prefix(big_k - y + lo)
        receive = max(receive, y * price[i])
        unit_price[i] = Fraction(receive, y)
    buyer: list[int | Fraction] = [unit_price[b] for b in pairs.buy]
    seller: list[int | Fraction] = [unit_price[a] for a in pairs.sell]
    return _Outcome(pairs, buyer, seller, None)


def sdr_price(supply_wh: int, demand_wh: int, feed_in: int, retail: int) -> Fraction | None:
    """Internal price from the supply-demand ratio (exact; None if there is no demand).

    Liu, Yu, Wang, Li, Ma and Lei, "Energy sharing management for microgrids
    with PV prosumers: a Stackelberg game approach", IEEE Transactions on
    Power Systems 32(5), 2017, pp. 3569-3583: with SDR = supply / demand,
    lambda_sell the feed-in tariff and lambda_buy the retail tariff, the
    internal selling price is

        P_s = (lambda_buy * lambda_sell) / ((lambda_buy - lambda_sell) * SDR + lambda_sell)
              for 0 <= SDR <= 1
        P_s = lambda_sell                                           for SDR > 1

    (retail when nobody sells, falling to feed-in as supply reaches demand).
    The paper's internal buying price, P_b = P_s * SDR + lambda_buy * (1 - SDR),
    is a buyer's average over the internal part at P_s and the rest from the
    grid at retail; inside the market every trade is at P_s.
    """
    if demand_wh == 0:
        return None
    sdr = Fraction(supply_wh, demand_wh)
    if sdr >= 1:
        return Fraction(feed_in)
    if sdr == 0:
        return Fraction(retail)
    return Fraction(retail * feed_in) / ((retail - feed_in) * sdr + feed_in)


def _sdr(book: _Book, qty: list[int], mech: Mechanism, params: Params | None) -> _Outcome:
    """Supply-demand-ratio pricing: one internal price P = floor(P_s(SDR)).

    SDR is the ratio of all offered sell quantity to all offered buy
    quantity (limit prices do not enter the ratio, as in the paper where it
    is the ratio of the prosumers' net generation to net demand). Then bids
    with price >= P and asks with price <= P are walked and every trade is at
    P, which lies in [feed-in, retail].
    """
    if params is None or params.feed_in_tariff is None or params.retail_tariff is None:
        raise InvalidParamsError("sdr: params.feed_in_tariff and params.retail_tariff are required")
    price = book.price
    supply = sum(qty[i] for i in book.asks)
    demand = sum(qty[i] for i in book.bids)
    exact = sdr_price(supply, demand, params.feed_in_tariff, params.retail_tariff)
    if exact is None:
        return _pay_as_pair(_no_pairs(), [], None)
    p = exact.numerator // exact.denominator
    bids = [i for i in book.bids if price[i] >= p]
    asks = [i for i in book.asks if price[i] <= p]
    pairs, _ = _walk(bids, asks, qty, price, book.owner)
    return _pay_as_pair(pairs, [p] * len(pairs), p)


_MECHANISMS = {
    "uniform": _uniform,
    "discriminatory": _discriminatory,
    "mcafee": _mcafee,
    "vcg": _vcg,
    "sdr": _sdr,
}


# ---------------------------------------------------------------------------
# Network limits


def _curtail(
    book: _Book, network: Network, pairs: _Pairs, qty: list[int], round_no: int
) -> list[Curtailment]:
    """Check line flows; exclude just enough quantity to relieve every overloaded line.

    Returns the curtailments made (empty = the result is secure). Lines are
    visited deepest first (ties: listing order), each against the flows left
    by the curtailments already made in this round. At an overloaded line,
    only the trades crossing it in the overloading direction count; they are
    curtailed lowest surplus first, surplus = (bid - ask) * quantity with the
    orders' limit prices and the trade's quantity still standing, ties by the
    trade's position in the result. The curtailed quantity is excluded from
    the order on the subtree side of the line (the seller when the subtree
    exports too much, the buyer when it imports too much), so the far-side
    order may still trade elsewhere when the auction runs again.
    """
    bus = book.bus
    buy, sell = pairs.buy, pairs.sell
    left = list(pairs.qty)  # what stands of each trade after this round's cuts
    injection = [0] * len(network.buses)
    for b, a, q in zip(buy, sell, left, strict=True):
        injection[bus[a]] += q
        injection[bus[b]] -= q
    flow = network.line_flows(injection)
    if network.first_violation(flow) is None:
        return []
    price = book.price
    ids = book.ids
    contains = network.contains
    out: list[Curtailment] = []
    for line in network.lines_deepest_first:
        cap = network.buses[line].capacity_wh
        if cap is None or abs(flow[line]) <= cap:
            continue
        export = flow[line] > 0
        excess = abs(flow[line]) - cap
        candidates: list[tuple[int, int, int]] = []  # (surplus, position, inside order)
        for t, q in enumerate(left):
            if not q:
                continue
            b, a = buy[t], sell[t]
            seller_in = contains(line, bus[a])
            if seller_in == contains(line, bus[b]):
                continue  # does not cross this line
            if export == seller_in:
                candidates.append(((price[b] - price[a]) * q, t, a if export else b))
        candidates.sort()
        line_id = network.buses[line].id
        for _, t, inside in candidates:
            take = left[t] if left[t] < excess else excess
            left[t] -= take
            qty[inside] -= take
            excess -= take
            network.add_to_path(flow, bus[sell[t]], -take)
            network.add_to_path(flow, bus[buy[t]], take)
            out.append(Curtailment(round_no, line_id, ids[buy[t]], ids[sell[t]], take, ids[inside]))
            if excess == 0:
                break
        assert excess == 0, "crossing trades must carry the whole overload"
    return out


# ---------------------------------------------------------------------------
# The entry point


def clear(
    orders: Sequence[Order],
    mechanism: Mechanism,
    network: Network | None = None,
    params: Params | None = None,
) -> ClearingResult:
    """Clear one delivery interval's order snapshot.

    Parameters
    ----------
    orders: the snapshot in submission order (the index is the tie-breaker).
    mechanism: which auction and its k.
    network: the radial network; if given, line limits are enforced by
        curtailment and re-clearing until no line is overloaded.
    params: tariffs (required by sdr) and optional price bounds.

    Returns
    -------
    ClearingResult with trades in matching order and unmatched remainders in
    submission order.

    Raises
    ------
    InvalidOrderError, InvalidMechanismError, InvalidParamsError
        On malformed input (before any matching).
    """
    if not isinstance(mechanism, Mechanism):
        raise InvalidMechanismError(
            f"mechanism: expected a Mechanism, got {type(mechanism).__name__}"
        )
    if params is not None and not isinstance(params, Params):
        raise InvalidParamsError(f"params: expected Params, got {type(params).__name__}")
    if network is not None and not isinstance(network, Network):
        raise ClearingInputError(f"network: expected a Network, got {type(network).__name__}")
    if mechanism.name == "sdr" and (
        params is None or params.feed_in_tariff is None or params.retail_tariff is None
    ):
        raise InvalidParamsError("sdr: params.feed_in_tariff and params.retail_tariff are required")
    book = _Book(orders, network, params)
    run = _MECHANISMS[mechanism.name]
    qty = list(book.qty)
    curtailments: list[Curtailment] = []
    rounds = 0
    while True:
        # Terminates: every round that does not return lowers sum(qty) by >= 1.
        rounds += 1
        outcome = run(book, qty, mechanism, params)
        if network is None:
            break
        cut = _curtail(book, network, outcome.pairs, qty, rounds)
        if not cut:
            break
        curtailments.extend(cut)
    return _result(book, mechanism, outcome, tuple(curtailments), rounds)


def _floor(price: int | Fraction) -> int:
    if type(price) is int:
        return price
    assert isinstance(price, Fraction)
    return price.numerator // price.denominator


def _result(
    book: _Book,
    mechanism: Mechanism,
    outcome: _Outcome,
    curtailments: tuple[Curtailment, ...],
    rounds: int,
) -> ClearingResult:
    ids = book.ids
    matched = [0] * len(ids)
    trades: list[Trade] = []
    append = trades.append
    make = tuple.__new__  # NamedTuple construction without the per-call Python wrapper
    pay = 0
    receive = 0
    if outcome.seller_price is outcome.buyer_price:
        # One int price per trade for both sides: amount = floor(q * p / 1000).
        pairs = outcome.pairs
        for b, a, q, p in zip(pairs.buy, pairs.sell, pairs.qty, outcome.buyer_price, strict=True):
            matched[b] += q
            matched[a] += q
            amount = q * p // WH_PER_KWH
            pay += amount
            append(make(Trade, (ids[b], ids[a], q, p, amount, p, amount)))
        receive = pay
    else:
        pairs = outcome.pairs
        for b, a, q, bp, sp in zip(
            pairs.buy, pairs.sell, pairs.qty, outcome.buyer_price, outcome.seller_price, strict=True
        ):
            matched[b] += q
            matched[a] += q
            amount = trade_amount(q, bp)
            seller_amount = trade_amount(q, sp)
            pay += amount
            receive += seller_amount
            append(make(Trade, (ids[b], ids[a], q, _floor(bp), amount, _floor(sp), seller_amount)))
    original = book.qty
    unmatched = tuple(
        [
            make(Unmatched, (ids[i], original[i] - m))
            for i, m in enumerate(matched)
            if original[i] > m
        ]
    )
    return ClearingResult(
        mechanism=mechanism.name,
        k=mechanism.k,
        clearing_price=outcome.clearing_price,
        matched_quantity=sum(t[2] for t in trades),
        trades=tuple(trades),
        unmatched=unmatched,
        market_surplus=max(0, pay - receive),
        deficit=max(0, receive - pay),
        curtailments=curtailments,
        rounds=rounds,
    )
