"""Market clearing: the pure, deterministic matching function of the market module.

DESIGN.md section 2 step 3 (clearing at gate closure) and section 4
(determinism). ``clear`` takes an order snapshot, a mechanism, an optional
radial network and optional parameters, and returns trades, prices,
residuals and curtailments. It does no I/O, uses no floats, no clock, no
randomness and never iterates over a set; every ratio is exact (a
``Fraction``, or a numerator and denominator in ints) and every rounding
rule is written next to the code. The keeper validates the result and
applies it to state; the offline CLI (``app.modules.market.cli``) calls this
very function. Owners' string hashes (which Python salts per process) only
pick which owners to compare as strings, so no result depends on them; the
int64 arrays used for large books are taken only where no value can reach
2^62 (see "Speed" below).

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

import gc
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import accumulate, compress, repeat
from operator import add, attrgetter, eq, floordiv, mul, sub, truth
from typing import NamedTuple, cast, overload

import numpy as np
from numpy.typing import NDArray

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
#
# Speed (issue 7: snapshots of 10^6 orders at gate closure). Two paths
# with the same results, bit for bit (tests/app/market/test_clearing_golden.py
# runs both on every case):
# - int64 arrays (numpy) for the bulk integer work (sorting, the walk, vcg's
#   sums, money, line flows), taken only when sum(quantities) * (max(price) + 1)
#   < 2^62 (``_FITS``), which bounds every value that path computes;
# - Python ints everywhere else (quantities and prices are uint64 on the wire,
#   their products are not), with C-level passes over lists (map, compress,
#   accumulate) instead of Python loops where it can.
# Neither path uses a float. Python objects (the orders' fields in, the trades
# and remainders out) are read and made with C-level passes too.


_BUS = attrgetter("bus")


class _Book:
    """The snapshot as parallel lists indexed by submission position, books sorted once."""

    __slots__ = ("arrays", "asks", "bids", "bus", "ids", "owner", "price", "qty")

    def __init__(
        self, orders: Sequence[Order], network: Network | None, params: Params | None
    ) -> None:
        if type(orders) is not list:
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
            side = [o.side for o in orders]
            is_bid = bytes(map(truth, map(eq, side, repeat(BUY))))
            ok = (
                is_bid.count(1) + side.count(SELL) == n
                and set(map(type, ids)) <= {str}
                and "" not in ids
                and len(set(ids)) == n
                and set(map(type, qty)) <= {int}
                and set(map(type, price)) <= {int}
                and set(map(type, owner)) <= {str, type(None)}
                and "" not in owner
            )
            if ok and n:
                values = _int64(qty, price)
                if values is None:
                    q_min, p_min, p_max = min(qty), min(price), max(price)
                else:
                    q_min, p_min, p_max = (int(x) for x in values[2])
                ok = q_min > 0 and p_min >= (lo if lo is not None else 0)
                ok = ok and (hi is None or p_max <= hi)
        if ok:
            buses = list(map(_BUS, orders)) if network is not None else map(_BUS, orders)
            ok = set(map(type, buses)) <= {str, type(None)}
            if network is None:
                bus = [0] * n
            elif ok:
                where: dict[str | None, int] = {b.id: i for i, b in enumerate(network.buses)}
                where[None] = network.root_index
                bus = list(map(where.get, buses, repeat(-1)))
                ok = -1 not in bus
        if not ok:
            _check_orders(orders, network, lo, hi)
            raise AssertionError("bulk and per-order checks disagree")  # pragma: no cover
        self.ids = ids
        self.qty = qty
        self.price = price
        self.owner: list[str | None] = owner
        self.bus = bus
        # Every quantity, price, sum and product below _FITS: the numpy path (see _Arrays).
        self.arrays = None
        if n and values is not None and values[3] * (p_max + 1) < _FITS:
            self.arrays = _Arrays(is_bid, values, bus, network is not None)
            self.bids: list[int] = self.arrays.bids.tolist()
            self.asks: list[int] = self.arrays.asks.tolist()
            everyone: list[NDArray[np.int64]] = []
            self.arrays.owners = (
                _Owners(self.bids, self.arrays.bids, owner, everyone),
                _Owners(self.asks, self.arrays.asks, owner, everyone),
            )
        else:
            # Stable sorts: equal prices keep submission order (also with reverse=True).
            self.bids = sorted(compress(range(n), is_bid), key=price.__getitem__, reverse=True)
            is_ask = map(eq, side, repeat(SELL))
            self.asks = sorted(compress(range(n), is_ask), key=price.__getitem__)


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
    """Matched pairs as parallel lists (one tuple per trade would cost more).

    ``buy``/``sell`` are order indices and ``qty`` the quantities, in matching
    order. ``given`` are the quantities the walk started from and ``rem``
    what it left of them (both indexed by submission position); ``top_ask``
    is the dearest ask matched (-1 if none). ``arrays`` holds buy, sell,
    qty and the quantity matched per order as int64 arrays when the walk ran
    on numpy.
    """

    __slots__ = ("_rem", "arrays", "buy", "given", "qty", "sell", "top_ask")

    def __init__(
        self,
        out: tuple[list[int], list[int], list[int]],
        given: list[int],
        rem: list[int] | None,
        top_ask: int = -1,
        arrays: tuple[NDArray[np.int64], ...] | None = None,
    ) -> None:
        self.buy, self.sell, self.qty = out
        self.given = given
        self._rem = rem
        self.top_ask = top_ask
        self.arrays = arrays  # (buy, sell, qty, matched per order, given)

    def __len__(self) -> int:
        return len(self.qty)

    @property
    def rem(self) -> list[int]:
        if self._rem is None:
            assert self.arrays is not None
            self._rem = (self.arrays[4] - self.arrays[3]).tolist()
        return self._rem

    def matched(self) -> list[int]:
        """Quantity matched per order (submission position)."""
        if self.arrays is not None:
            return self.arrays[3].tolist()
        return list(map(sub, self.given, self.rem))


def _no_pairs(qty: list[int]) -> _Pairs:
    return _Pairs(([], [], []), qty, qty)


def _walk(
    book: _Book, qty: list[int], n_bids: int | None = None, n_asks: int | None = None
) -> _Pairs:
    """Match the sorted books (see the module docstring), or their first n_bids and n_asks.

    On numpy when the book's values allow it (``_Book.arrays``), else in
    Python ints; both give the same pairs.
    """
    bids = book.bids if n_bids is None else book.bids[:n_bids]
    asks = book.asks if n_asks is None else book.asks[:n_asks]
    if book.arrays is not None:
        return _walk_np(book, book.arrays, bids, asks, qty)
    rem = list(qty)
    out: tuple[list[int], list[int], list[int]] = ([], [], [])
    _, top_ask = _walk_py(bids, asks, qty, book.price, book.owner, rem, out)
    return _Pairs(out, qty, rem, top_ask)


class _Cursor(NamedTuple):
    """Where a walk stands: bid position (in the bid book) and what it still needs,
    frontier ask position and what is left of it (-1: the whole order)."""

    bid: int
    need: int
    ask: int
    left: int


# The walk's stand-in for a buyer without owner: equal to no ask's owner (owners are
# non-empty strings or None).
_NOBODY = ""
# What a book stream yields once exhausted: (position, order, quantity, price, owner).
_END: tuple[int, int, int, int, str | None] = (-1, -1, 0, 0, None)


def _stream(
    side: list[int], start: int, qty: list[int], price: list[int], owner: list[str | None]
) -> Iterator[tuple[int, int, int, int, str | None]]:
    """One book from position ``start`` on, read lazily: (position, order, quantity, price, owner)."""
    span = range(start, len(side))
    return zip(
        span,
        map(side.__getitem__, span),
        map(qty.__getitem__, map(side.__getitem__, span)),
        map(price.__getitem__, map(side.__getitem__, span)),
        map(owner.__getitem__, map(side.__getitem__, span)),
        strict=True,
    )


def _walk_py(
    bids: list[int],
    asks: list[int],
    qty: list[int],
    price: list[int],
    owner: list[str | None],
    rem: MutableMapping[int, int] | list[int],
    out: tuple[list[int], list[int], list[int]],
    start: _Cursor | None = None,
    resume: int = 0,
) -> tuple[_Cursor | None, int]:
    """The walk in Python ints, exactly as the module docstring says.

    The asks are read as a stream in book order; its head is the frontier.
    Behind the frontier, every ask is used up except the ``holes``: asks
    skipped because they belonged to the bidder, still alive, kept in book
    order with their remainders. A bid first takes from the holes (skipping
    its own), then from the frontier on. Without holes, every ask matched so
    far is at or behind the frontier, so "bid below the dearest matched ask"
    can only hold when "bid below the cheapest remaining ask" does: one test.
    Bids and asks past the end of the walk are never read.

    Pairs are appended to ``out`` and remainders written to ``rem``. From
    ``start`` (default: the top of both books); with ``resume`` > 0 it
    returns as soon as a bid is done with no hole open once it has seen
    ``resume`` bids: the point from which the numpy walk can go on. Returns (that point, or None when the walk is
    over; the dearest ask matched here, -1 if none).
    """
    out_b, out_a, out_q = out
    push_b, push_a, push_q = out_b.append, out_a.append, out_q.append
    first_bid, need0, fj, left0 = start if start is not None else (0, -1, 0, -1)
    stream = _stream(asks, fj, qty, price, owner)
    fj, fa, ra, pa, oa = next(stream, _END)
    if left0 >= 0:
        ra = left0
    while not ra and fa >= 0:
        fj, fa, ra, pa, oa = next(stream, _END)
    if fa < 0:
        return None, -1
    holes: list[list] = []  # [ask, remainder, price, owner], book order
    top_ask = -1
    for bj, b, need, pb, ob in _stream(bids, first_bid, qty, price, owner):
        if need0 >= 0 and bj == first_bid:
            need = need0
        if not need:
            continue
        if ob is None:
            ob = _NOBODY
        if holes:
            if pb < holes[0][2] or pb < top_ask:
                break
            need, top_ask, done = _take_holes(b, need, pb, ob, holes, top_ask, out, rem)
        elif fa < 0 or pb < pa:
            break
        else:
            done = False
        while not done and fa >= 0 and pa <= pb:
            if oa == ob:
                need, top_ask, (fj, fa, ra, pa, oa) = _skip_own(
                    b, need, pb, ob, (fj, fa, ra, pa, oa), stream, holes, top_ask, out, rem
                )
                break
            if pa > top_ask:
                top_ask = pa
            push_b(b)
            push_a(fa)
            if need < ra:
                push_q(need)
                ra -= need
                need = 0
                break
            push_q(ra)
            rem[fa] = 0
            need -= ra
            fj, fa, ra, pa, oa = next(stream, _END)
            while not ra and fa >= 0:
                fj, fa, ra, pa, oa = next(stream, _END)
            if not need:
                break
        rem[b] = need
        if resume and bj - first_bid >= resume - 1 and not holes:
            return (_Cursor(bj + 1, -1, fj, ra) if fa >= 0 else None), top_ask
    if fa >= 0:
        rem[fa] = ra
    for h in holes:
        rem[h[0]] = h[1]
    return None, top_ask


def _take_holes(
    b: int,
    need: int,
    pb: int,
    ob: str,
    holes: list[list],
    top_ask: int,
    out: tuple[list[int], list[int], list[int]],
    rem: MutableMapping[int, int] | list[int],
) -> tuple[int, int, bool]:
    """Bid b takes from the holes in book order. Returns (need, top_ask, done with b)."""
    out_b, out_a, out_q = out
    keep = []
    k = 0
    done = False
    for h in holes:
        a, ra, pa, oa = h
        if pa > pb:
            done = True
            break
        if oa == ob:
            keep.append(h)
            k += 1
            continue
        if pa > top_ask:
            top_ask = pa
        out_b.append(b)
        out_a.append(a)
        if need < ra:
            out_q.append(need)
            h[1] = ra - need
            need = 0
            break
        out_q.append(ra)
        rem[a] = 0
        need -= ra
        k += 1
        if not need:
            break
    holes[:k] = keep
    return need, top_ask, done or not need


def _skip_own(
    b: int,
    need: int,
    pb: int,
    ob: str,
    head: tuple[int, int, int, int, str | None],
    stream: Iterator[tuple[int, int, int, int, str | None]],
    holes: list[list],
    top_ask: int,
    out: tuple[list[int], list[int], list[int]],
    rem: MutableMapping[int, int] | list[int],
) -> tuple[int, int, tuple[int, int, int, int, str | None]]:
    """The frontier ask is bid b's own: go on along the stream, skipping b's asks.

    Asks skipped become holes once the frontier moves past them, or when the
    bid stops in front of them (price, end of book): either way they are
    alive and behind the new frontier. Returns (need, top_ask, new frontier).
    """
    out_b, out_a, out_q = out
    fj, fa, ra, pa, oa = head
    skipped = []
    while fa >= 0 and pa <= pb:
        if oa == ob:
            skipped.append([fa, ra, pa, oa])
        else:
            if pa > top_ask:
                top_ask = pa
            holes.extend(skipped)
            skipped = []
            out_b.append(b)
            out_a.append(fa)
            if need < ra:
                out_q.append(need)
                return 0, top_ask, (fj, fa, ra - need, pa, oa)
            out_q.append(ra)
            rem[fa] = 0
            need -= ra
            if not need:
                fj, fa, ra, pa, oa = next(stream, _END)
                while not ra and fa >= 0:
                    fj, fa, ra, pa, oa = next(stream, _END)
                return 0, top_ask, (fj, fa, ra, pa, oa)
        fj, fa, ra, pa, oa = next(stream, _END)
        while not ra and fa >= 0:
            fj, fa, ra, pa, oa = next(stream, _END)
    holes.extend(skipped)
    return need, top_ask, (fj, fa, ra, pa, oa)


# ---------------------------------------------------------------------------
# The walk on numpy
#
# Without holes, the walk is the textbook one: bid units meet ask units in
# order, so the pairs are the segments between the merged cumulative
# quantities of the two books, up to the first segment whose bid is below
# its ask (the walk ends there: every later bid is lower, every later ask
# higher) or whose bid and ask have the same owner. Segments are computed
# a window of orders at a time (doubling while nothing happens), at such an
# owner conflict the Python walk takes over until no hole is open, and the
# numpy walk goes on from where it left. Owners are compared by hash first
# (str hashes: equal strings, equal hashes; CPython's hash is never -1, the
# mark for no owner), then as strings, so a hash collision costs time only.

_WINDOW = 4096
# Bound on every int64 value of the numpy path: sum(quantities) * (max(price) + 1)
# bounds each cumulative quantity, price, money sum and product of the two, with
# room to spare for a sum or difference of two of them.
_FITS = 2**62


class _Arrays:
    """The book as int64 arrays, for a book whose values fit (see ``_FITS``).

    ``bids`` and ``asks`` are the books in the order of the lists' stable
    sorts: one stable sort of the key ~price (= -price - 1, negative) for bids
    and price for asks, or, when prices span less than 2^16, a stable sort of
    each book on its 16-bit distance from the best price (a radix sort).
    ``owners``: the owners' hashes of each book.
    """

    __slots__ = ("asks", "bids", "bus", "owners", "price", "qty")

    def __init__(
        self,
        is_bid: bytes,
        values: tuple[NDArray[np.int64], NDArray[np.int64], tuple[int, int, int], int],
        bus: list[int],
        has_network: bool,
    ) -> None:
        n = len(is_bid)
        self.qty, self.price, (_, p_min, p_max), _ = values
        self.bus = np.fromiter(bus, dtype=np.int64, count=n) if has_network else None
        bid = np.frombuffer(is_bid, dtype=np.bool_)
        if p_max - p_min < 1 << 16:
            bids, asks = np.flatnonzero(bid), np.flatnonzero(~bid)
            to_best = (p_max - self.price[bids]).astype(np.uint16)
            self.bids = bids[np.argsort(to_best, kind="stable")]
            to_best = (self.price[asks] - p_min).astype(np.uint16)
            self.asks = asks[np.argsort(to_best, kind="stable")]
        else:
            book = np.argsort(np.where(bid, ~self.price, self.price), kind="stable")
            n_bids = int(np.count_nonzero(bid))
            self.bids, self.asks = book[:n_bids], book[n_bids:]
        self.owners: tuple[_Owners, _Owners]


def _int64(
    qty: list[int], price: list[int]
) -> tuple[NDArray[np.int64], NDArray[np.int64], tuple[int, int, int], int] | None:
    """(quantities, prices, (min quantity, min price, max price), total quantity) as int64,
    or None if a value does not fit."""
    n = len(qty)
    try:
        q = np.fromiter(qty, dtype=np.int64, count=n)
        p = np.fromiter(price, dtype=np.int64, count=n)
    except OverflowError:
        return None
    q_max = int(q.max())
    # The int64 sum is exact when n * max < 2^63; else the exact one, in Python ints.
    total = int(q.sum()) if q_max * n < 2**63 else sum(qty)
    return q, p, (int(q.min()), int(p.min()), int(p.max())), total


class _Owners:
    """The owners' hashes of one book in book order (-1: no owner), computed only as
    far as a walk reads the book: order by order for the first ``_LAZY`` orders (a
    short walk, as sdr's often is), then for the whole snapshot at once (reading
    the orders in submission order is much faster than in book order)."""

    __slots__ = ("all", "done", "have", "owner", "side", "side_arr")

    def __init__(
        self,
        side: list[int],
        side_arr: NDArray[np.int64],
        owner: list[str | None],
        everyone: list[NDArray[np.int64]],
    ) -> None:
        self.side = side
        self.side_arr = side_arr
        self.owner = owner
        self.all = everyone  # shared by both books: [] or [hashes of every order]
        self.done = np.empty(len(side), dtype=np.int64)
        self.have = 0

    def upto(self, k: int) -> NDArray[np.int64]:
        """The array, filled for positions < k at least."""
        have = self.have
        if k <= have:
            return self.done
        if k > _LAZY or self.all:
            if not self.all:
                self.all.append(_hashes(self.owner))
            self.done = self.all[0][self.side_arr]
            self.have = len(self.side)
        else:
            self.done[have:k] = _hashes(list(map(self.owner.__getitem__, self.side[have:k])))
            self.have = k
        return self.done


_LAZY = 1 << 15
_NONE_HASH = hash(None)


def _hashes(owner: list[str | None]) -> NDArray[np.int64]:
    """hash(owner), -1 for None (CPython's hash is never -1)."""
    out = np.fromiter(map(hash, owner), dtype=np.int64, count=len(owner))
    # None hashes to _NONE_HASH (so may, very rarely, an owner: kept as it is).
    for e in np.flatnonzero(out == _NONE_HASH).tolist():
        if owner[e] is None:
            out[e] = -1
    return out


def _walk_np(
    book: _Book, arrays: _Arrays, bids: list[int], asks: list[int], qty: list[int]
) -> _Pairs:
    """``_walk_py``'s pairs, from windows of segments (see above) and the Python walk
    around owner conflicts."""
    price, owner = book.price, book.owner
    n_b, n_a = len(bids), len(asks)
    given = arrays.qty if qty is book.qty else np.fromiter(qty, dtype=np.int64, count=len(qty))
    b_ord, a_ord = arrays.bids[:n_b], arrays.asks[:n_a]
    bq, bp = given[b_ord], arrays.price[b_ord]
    aq, ap = given[a_ord], arrays.price[a_ord]
    owners_b, owners_a = arrays.owners
    chunks: list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]] = []
    # The state: bid position i with db of it matched, ask position j with da of it matched.
    i = j = db = da = 0
    width = _WINDOW
    stay = 1  # bids the Python walk takes at least, after an owner conflict
    while i < n_b and j < n_a:
        ib, jb = min(n_b, i + width), min(n_a, j + width)
        cb = np.cumsum(bq[i:ib]) - db  # where each bid's units end, from the state on
        ca = np.cumsum(aq[j:jb]) - da
        if cb[-1] <= 0:  # only orders with nothing left
            i, db = ib, 0
            continue
        if ca[-1] <= 0:
            j, da = jb, 0
            continue
        lim = min(int(cb[-1]), int(ca[-1]))
        ends = np.concatenate(
            (cb[: np.searchsorted(cb, lim, "right")], ca[: np.searchsorted(ca, lim, "right")])
        )
        ends.sort(kind="stable")
        ends = ends[ends > 0]
        ends = ends[np.concatenate(([True], ends[1:] != ends[:-1]))]
        kb = np.searchsorted(cb, ends) + i  # the bid and ask position of each segment
        ka = np.searchsorted(ca, ends) + j
        fail = np.flatnonzero(bp[kb] < ap[ka])
        stop = int(fail[0]) if fail.size else len(ends)
        # Owner hashes as far as the segments before the stop reach (kb, ka never decrease).
        bh = owners_b.upto(int(kb[stop - 1]) + 1 if stop else 0)
        ah = owners_a.upto(int(ka[stop - 1]) + 1 if stop else 0)
        conflict = -1
        for c in np.flatnonzero((bh[kb[:stop]] == ah[ka[:stop]]) & (bh[kb[:stop]] != -1)).tolist():
            o = owner[bids[kb[c]]]
            if o is not None and o == owner[asks[ka[c]]]:
                conflict = c
                break
        cut = conflict if conflict >= 0 else stop
        starts = np.concatenate(([0], ends[:-1]))
        if cut:
            chunks.append((b_ord[kb[:cut]], a_ord[ka[:cut]], (ends - starts)[:cut]))
        if conflict >= 0:
            at = int(starts[conflict])
            k_b, k_a = int(kb[conflict]), int(ka[conflict])
            need, left = int(cb[k_b - i]) - at, int(ca[k_a - j]) - at
            out: tuple[list[int], list[int], list[int]] = ([], [], [])
            # Owner conflicts close together: let the Python walk go on for longer.
            stay = min(2 * stay, 1 << 16) if cut < 256 else 1
            start = _Cursor(k_b, need, k_a, left)
            cursor, _ = _walk_py(bids, asks, qty, price, owner, {}, out, start, stay)
            chunks.append(tuple(np.array(x, dtype=np.int64) for x in out))  # type: ignore[arg-type]
            if cursor is None:
                break
            i, db, j, da = cursor.bid, 0, cursor.ask, int(aq[cursor.ask]) - cursor.left
            width = _WINDOW
            continue
        if stop < len(ends):
            break
        # Nothing happened: every unit up to lim is matched; move the state there.
        k = int(np.searchsorted(cb, lim, "right"))
        db = lim - (int(cb[k - 1]) if k else -db)
        i += k
        k = int(np.searchsorted(ca, lim, "right"))
        da = lim - (int(ca[k - 1]) if k else -da)
        j += k
        width *= 2
    if chunks:
        buy, sell, q = (np.concatenate(c) for c in zip(*chunks, strict=True))
    else:
        buy = sell = q = np.zeros(0, dtype=np.int64)
    matched = np.zeros(len(qty), dtype=np.int64)
    np.add.at(matched, buy, q)
    np.add.at(matched, sell, q)
    top_ask = int(arrays.price[sell].max()) if len(sell) else -1
    out_lists = (buy.tolist(), sell.tolist(), q.tolist())
    return _Pairs(out_lists, qty, None, top_ask, (buy, sell, q, matched, given))


class _Outcome(NamedTuple):
    pairs: _Pairs
    buyer_price: Sequence[int | Fraction]  # per pair, per kWh (exact)
    seller_price: Sequence[int | Fraction]
    clearing_price: int | None


class _Ratios(Sequence[Fraction]):
    """Exact per-kWh prices num[t] / den[t], kept as two int sequences (vcg).

    Reads as a sequence of Fractions; the result is built from num and den
    directly, which gives the same integers without normalising a Fraction
    per trade: floor(q * num / (den * 1000)) and floor(num / den). On the
    numpy path num and den are int64 arrays.
    """

    __slots__ = ("den", "num")

    def __init__(
        self, num: Sequence[int] | NDArray[np.int64], den: Sequence[int] | NDArray[np.int64]
    ) -> None:
        self.num = num
        self.den = den

    def __len__(self) -> int:
        return len(self.num)

    @overload
    def __getitem__(self, t: int) -> Fraction: ...
    @overload
    def __getitem__(self, t: slice) -> list[Fraction]: ...
    def __getitem__(self, t: int | slice) -> Fraction | list[Fraction]:
        if isinstance(t, slice):
            return [self[u] for u in range(len(self))[t]]
        return Fraction(int(self.num[t]), int(self.den[t]))


def _pay_as_pair(pairs: _Pairs, prices: list[int], clearing_price: int | None) -> _Outcome:
    return _Outcome(pairs, prices, prices, clearing_price)


def _marginal(pairs: _Pairs, price: list[int]) -> tuple[int, int]:
    """(b, s): the lowest matched bid and the highest matched ask price.

    Pairs come in bid book order, so the last one has the lowest bid; the
    walk keeps the dearest ask it matched.
    """
    return price[pairs.buy[-1]], pairs.top_ask


# ---------------------------------------------------------------------------
# Mechanisms. Each takes the book and the quantities still offered.


def _uniform(book: _Book, qty: list[int], mech: Mechanism, params: Params | None) -> _Outcome:
    """Uniform-price k-double auction.

    The walk gives the matched quantity (where the curves cross). With b the
    lowest matched bid and s the highest matched ask, every trade is priced
    p = floor(s + k(b - s)). Every matched bid is >= b >= p >= s >= every
    matched ask, so each trade respects both limits.
    """
    pairs = _walk(book, qty)
    if not pairs:
        return _pay_as_pair(pairs, [], None)
    b, s = _marginal(pairs, book.price)
    p = k_price(s, b, mech.k)
    return _pay_as_pair(pairs, [p] * len(pairs), p)


def _discriminatory(
    book: _Book, qty: list[int], mech: Mechanism, params: Params | None
) -> _Outcome:
    """Pay-as-bid k-double auction: each pair priced floor(s + k(b - s)) from its own b and s."""
    pairs = _walk(book, qty)
    price = book.price
    num, den = mech.k.numerator, mech.k.denominator
    asks = list(map(price.__getitem__, pairs.sell))
    if num == 0:
        prices = asks
    else:
        bids = map(price.__getitem__, pairs.buy)
        if num == den:
            prices = list(bids)
        else:
            # s + (num * (b - s)) // den, pair by pair
            split = map(floordiv, map(mul, repeat(num), map(sub, bids, asks)), repeat(den))
            prices = list(map(add, asks, split))
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
    pairs = _walk(book, qty)
    if not pairs:
        return _pay_as_pair(pairs, [], None)
    b_k, s_k = _marginal(pairs, price)
    arrays, walked = book.arrays, pairs.arrays
    if arrays is not None and walked is not None:
        matched, given = walked[3], walked[4]
        left_b = np.flatnonzero(matched[arrays.bids] < given[arrays.bids])
        left_a = np.flatnonzero(matched[arrays.asks] < given[arrays.asks])
        next_bid = int(arrays.price[arrays.bids[left_b[0]]]) if len(left_b) else None
        next_ask = int(arrays.price[arrays.asks[left_a[0]]]) if len(left_a) else None
    else:
        # The first order of each book with quantity left (rem is never negative).
        rem = pairs.rem
        next_bid = next(compress(map(price.__getitem__, bids), map(rem.__getitem__, bids)), None)
        next_ask = next(compress(map(price.__getitem__, asks), map(rem.__getitem__, asks)), None)
    if next_bid is not None and next_ask is not None:
        p0 = Fraction(next_bid + next_ask, 2)
        if s_k <= p0 <= b_k:
            p = p0.numerator // p0.denominator
            return _pay_as_pair(pairs, [p] * len(pairs), p)
    # Trade reduction: cap every order at what it matched, minus the K-th units.
    capped = pairs.matched()
    if arrays is not None and walked is not None:
        last_bid = int(arrays.bids[np.flatnonzero(walked[3][arrays.bids])[-1]])
        last_ask = int(arrays.asks[np.flatnonzero(walked[3][arrays.asks])[-1]])
    else:
        last_bid = next(compress(reversed(bids), map(capped.__getitem__, reversed(bids))))
        last_ask = next(compress(reversed(asks), map(capped.__getitem__, reversed(asks))))
    capped[last_bid] -= 1
    capped[last_ask] -= 1
    reduced = _walk(book, capped)
    return _Outcome(reduced, [b_k] * len(reduced), [s_k] * len(reduced), None)


class _Units:
    """A sorted book of (price, quantity) entries seen as a sequence of 1-Wh units."""

    __slots__ = ("cum", "prices", "total", "val")

    def __init__(self, prices: list[int], quantities: list[int]) -> None:
        self.prices = prices
        self.cum = list(accumulate(quantities, initial=0))
        self.val = list(accumulate(map(mul, prices, quantities), initial=0))
        self.total = self.cum[-1]

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


def _buyer_pays(nb: _Units | _Without, ma: _Units, x: int) -> int:
    """sum_{j=1..x} max(nb_j, a_{K-x+j}) for a buyer of x units (see ``_vcg``)."""
    big_k = ma.total
    lo, hi = 0, min(x, nb.total)
    while lo < hi:  # largest j with nb_j >= a_{K-x+j}
        mid = (lo + hi + 1) // 2
        if nb.unit(mid) >= ma.unit(big_k - x + mid):
            lo = mid
        else:
            hi = mid - 1
    return nb.prefix(lo) + ma.prefix(big_k) - ma.prefix(big_k - x + lo)


def _seller_gets(ns: _Units | _Without, mb: _Units, y: int) -> int:
    """sum_{t=1..y} min(ns_t, b_{K-y+t}) for a seller of y units (see ``_vcg``)."""
    big_k = mb.total
    lo, hi = 0, min(y, ns.total)
    while lo < hi:  # largest t with ns_t <= b_{K-y+t}
        mid = (lo + hi + 1) // 2
        if ns.unit(mid) <= mb.unit(big_k - y + mid):
            lo = mid
        else:
            hi = mid - 1
    return ns.prefix(lo) + mb.prefix(big_k) - mb.prefix(big_k - y + lo)


def _vcg_side(
    orders: list[int],
    left: list[int],
    matched: list[int],
    rem: list[int],
    price: list[int],
    others: tuple[_Units, _Units],
    externality: Callable[[_Units | _Without, _Units, int], int],
    limit: Callable[[int, int], int],
) -> tuple[list[int], list[int]]:
    """Exact VCG sums of one side's matched ``orders``: (sums, units matched), book order.

    ``others`` are the side's unmatched units (entries ``left``) and the other
    side's matched units. An order with nothing left over sees all of the
    unmatched units, so its sum depends only on its matched units x: it is
    computed once per distinct x. An order with a remainder sees them without
    its own (few such orders: the walk leaves at most one partial order per
    side, plus those the self-trade rule stopped).
    """
    own, other = others
    units = list(map(matched.__getitem__, orders))
    by_units = {x: externality(own, other, x) for x in dict.fromkeys(units)}
    sums = list(map(by_units.__getitem__, units))
    entry = dict(zip(left, range(len(left)), strict=True))
    for e in compress(range(len(orders)), map(rem.__getitem__, orders)):
        sums[e] = externality(_Without(own, entry[orders[e]]), other, units[e])
    # Clamp to the order's limit: pay <= x * bid, receive >= y * ask.
    sums = list(map(limit, sums, map(mul, units, map(price.__getitem__, orders))))
    return sums, units


class _UnitsNp:
    """``_Units`` on int64 arrays, asked for many unit counts at once."""

    __slots__ = ("cum", "prices", "total", "val")

    def __init__(self, prices: NDArray[np.int64], quantities: NDArray[np.int64]) -> None:
        self.prices = prices
        self.cum = np.concatenate(([0], np.cumsum(quantities)))
        self.val = np.concatenate(([0], np.cumsum(prices * quantities)))
        self.total = int(self.cum[-1])

    def unit(self, n: NDArray[np.int64]) -> NDArray[np.int64]:
        """Price of the n-th unit, 1 <= n <= total."""
        return self.prices[np.searchsorted(self.cum, n) - 1]

    def prefix(self, n: NDArray[np.int64]) -> NDArray[np.int64]:
        """Sum of the prices of the first n units, 0 <= n <= total."""
        if not len(self.prices):
            return np.zeros_like(n)
        i = np.maximum(np.searchsorted(self.cum, n) - 1, 0)
        return np.where(n > 0, self.val[i] + (n - self.cum[i]) * self.prices[i], 0)


def _vcg_side_np(
    orders: NDArray[np.int64],
    left: NDArray[np.int64],
    matched: NDArray[np.int64],
    rem: NDArray[np.int64],
    price: NDArray[np.int64],
    own: _UnitsNp,
    other: _UnitsNp,
    buyer: bool,
) -> NDArray[np.int64]:
    """``_vcg_side`` on arrays: every binary search at once, one per distinct
    matched quantity of the orders without remainder and one per order with one."""
    units = matched[orders]
    partial = rem[orders] > 0
    distinct, which = np.unique(units[~partial], return_inverse=True)
    # The remainder of each partial order in ``own`` (``_Without``): units after
    # ``before`` are shifted by ``skip``.
    entry = np.full(len(matched), -1, dtype=np.int64)
    entry[left] = np.arange(len(left), dtype=np.int64)
    e = entry[orders[partial]]
    x = np.concatenate((distinct, units[partial]))
    before = np.concatenate((np.full(len(distinct), own.total, dtype=np.int64), own.cum[e]))
    none = np.zeros(len(distinct), dtype=np.int64)
    skip = np.concatenate((none, own.cum[e + 1] - own.cum[e]))
    skip_val = np.concatenate((none, (own.cum[e + 1] - own.cum[e]) * own.prices[e]))
    big_k = other.total
    lo = np.zeros_like(x)
    hi = np.minimum(x, own.total - skip)
    active = np.flatnonzero(lo < hi)
    while len(active):
        mid = (lo[active] + hi[active] + 1) // 2
        s = active
        mine = own.unit(np.where(mid <= before[s], mid, mid + skip[s]))
        theirs = other.unit(big_k - x[s] + mid)
        ok = mine >= theirs if buyer else mine <= theirs
        lo[s] = np.where(ok, mid, lo[s])
        hi[s] = np.where(ok, hi[s], mid - 1)
        active = s[lo[s] < hi[s]]
    shifted = lo > before
    mine = own.prefix(np.where(shifted, lo + skip, lo)) - np.where(shifted, skip_val, 0)
    sums = mine + int(other.val[-1]) - other.prefix(big_k - x + lo)
    out = np.empty(len(orders), dtype=np.int64)
    out[~partial] = sums[: len(distinct)][which]
    out[partial] = sums[len(distinct) :]
    # Clamp to the order's limit: pay <= x * bid, receive >= y * ask.
    limit = units * price[orders]
    return np.minimum(out, limit) if buyer else np.maximum(out, limit)


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
    pairs = _walk(book, qty)
    if not pairs:
        return _pay_as_pair(pairs, [], None)
    if book.arrays is not None and pairs.arrays is not None:
        return _vcg_np(book.arrays, pairs, pairs.arrays)
    rem = pairs.rem
    matched = pairs.matched()
    # Book order; both lists are never negative, so compress keeps the non-zero ones.
    mb, ub = (
        list(compress(bids, map(matched.__getitem__, bids))),
        list(compress(bids, map(rem.__getitem__, bids))),
    )
    ma, ua = (
        list(compress(asks, map(matched.__getitem__, asks))),
        list(compress(asks, map(rem.__getitem__, asks))),
    )

    def units(entries: list[int], amount: list[int]) -> _Units:
        return _Units(list(map(price.__getitem__, entries)), list(map(amount.__getitem__, entries)))

    mb_units, ma_units = units(mb, matched), units(ma, matched)
    ub_units, ua_units = units(ub, rem), units(ua, rem)
    pay, x = _vcg_side(mb, ub, matched, rem, price, (ub_units, ma_units), _buyer_pays, min)
    receive, y = _vcg_side(ma, ua, matched, rem, price, (ua_units, mb_units), _seller_gets, max)
    pay_of, x_of = dict(zip(mb, pay, strict=True)), dict(zip(mb, x, strict=True))
    get_of, y_of = dict(zip(ma, receive, strict=True)), dict(zip(ma, y, strict=True))
    buyer = _Ratios(
        list(map(pay_of.__getitem__, pairs.buy)), list(map(x_of.__getitem__, pairs.buy))
    )
    seller = _Ratios(
        list(map(get_of.__getitem__, pairs.sell)), list(map(y_of.__getitem__, pairs.sell))
    )
    return _Outcome(pairs, buyer, seller, None)


def _vcg_np(arrays: _Arrays, pairs: _Pairs, walked: tuple[NDArray[np.int64], ...]) -> _Outcome:
    """``_vcg`` on arrays (the same sums, see ``_vcg_side_np``)."""
    buy, sell, _, matched, given = walked
    rem = given - matched
    price, bids, asks = arrays.price, arrays.bids, arrays.asks
    mb, ub = bids[matched[bids] > 0], bids[rem[bids] > 0]
    ma, ua = asks[matched[asks] > 0], asks[rem[asks] > 0]
    mb_units, ma_units = _UnitsNp(price[mb], matched[mb]), _UnitsNp(price[ma], matched[ma])
    ub_units, ua_units = _UnitsNp(price[ub], rem[ub]), _UnitsNp(price[ua], rem[ua])
    pay = np.zeros(len(matched), dtype=np.int64)
    pay[mb] = _vcg_side_np(mb, ub, matched, rem, price, ub_units, ma_units, True)
    pay[ma] = _vcg_side_np(ma, ua, matched, rem, price, ua_units, mb_units, False)
    buyer = _Ratios(pay[buy], matched[buy])
    seller = _Ratios(pay[sell], matched[sell])
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
    supply = sum(map(qty.__getitem__, book.asks))
    demand = sum(map(qty.__getitem__, book.bids))
    exact = sdr_price(supply, demand, params.feed_in_tariff, params.retail_tariff)
    if exact is None:
        return _pay_as_pair(_no_pairs(qty), [], None)
    p = exact.numerator // exact.denominator
    # The books are sorted, so the orders that may trade at p are a prefix of each.
    n_bids = bisect_right(book.bids, -p, key=lambda i: -price[i])
    n_asks = bisect_right(book.asks, p, key=price.__getitem__)
    pairs = _walk(book, qty, n_bids, n_asks)
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
    arrays = book.arrays
    if arrays is not None and arrays.bus is not None and pairs.arrays is not None:
        return _curtail_np(
            book, arrays.bus, arrays.price, network, pairs, pairs.arrays, qty, round_no
        )
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
    # Bus b lies below the line of bus v iff first[v] <= first[b] < end[v].
    first, end = network.subtree_spans()
    sell_at = [first[bus[a]] for a in sell]
    buy_at = [first[bus[b]] for b in buy]
    out: list[Curtailment] = []
    for line in network.lines_deepest_first:
        cap = network.buses[line].capacity_wh
        if cap is None or abs(flow[line]) <= cap:
            continue
        export = flow[line] > 0
        excess = abs(flow[line]) - cap
        lo, hi = first[line], end[line]
        candidates: list[tuple[int, int, int]] = []  # (surplus, position, inside order)
        for t, (q, s_at, b_at) in enumerate(zip(left, sell_at, buy_at, strict=True)):
            if not q:
                continue
            seller_in = lo <= s_at < hi
            if seller_in == (lo <= b_at < hi):
                continue  # does not cross this line
            if export == seller_in:
                b, a = buy[t], sell[t]
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


def _curtail_np(
    book: _Book,
    bus_of: NDArray[np.int64],
    price_of: NDArray[np.int64],
    network: Network,
    pairs: _Pairs,
    walked: tuple[NDArray[np.int64], ...],
    qty: list[int],
    round_no: int,
) -> list[Curtailment]:
    """``_curtail`` on arrays: the same flows, candidates and order of cuts."""
    buy, sell, q = walked[0], walked[1], walked[2]
    n_bus = len(network.buses)
    sell_bus, buy_bus = bus_of[sell], bus_of[buy]
    injection = np.zeros(n_bus, dtype=np.int64)
    np.add.at(injection, sell_bus, q)
    np.subtract.at(injection, buy_bus, q)
    flow = network.line_flows(injection.tolist())
    if network.first_violation(flow) is None:
        return []
    first, end = (np.array(x, dtype=np.int64) for x in network.subtree_spans())
    sell_at, buy_at = first[sell_bus], first[buy_bus]
    surplus_per_wh = price_of[buy] - price_of[sell]
    left = q.copy()  # what stands of each trade after this round's cuts
    ids, bus = book.ids, book.bus
    out: list[Curtailment] = []
    for line in network.lines_deepest_first:
        cap = network.buses[line].capacity_wh
        if cap is None or abs(flow[line]) <= cap:
            continue
        export = flow[line] > 0
        excess = abs(flow[line]) - cap
        seller_in = (first[line] <= sell_at) & (sell_at < end[line])
        buyer_in = (first[line] <= buy_at) & (buy_at < end[line])
        # Trades crossing the line in the overloading direction, with something left.
        crossing = np.flatnonzero((seller_in != buyer_in) & (seller_in == export) & (left > 0))
        # Lowest surplus first, ties by position (lexsort: last key is the primary one).
        order = crossing[np.lexsort((crossing, surplus_per_wh[crossing] * left[crossing]))]
        line_id = network.buses[line].id
        for t in order.tolist():
            b, a = pairs.buy[t], pairs.sell[t]
            inside = a if export else b
            stands = int(left[t])
            take = stands if stands < excess else excess
            left[t] = stands - take
            qty[inside] -= take
            excess -= take
            network.add_to_path(flow, bus[a], -take)
            network.add_to_path(flow, bus[b], take)
            out.append(Curtailment(round_no, line_id, ids[b], ids[a], take, ids[inside]))
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
    # Clearing allocates about one container per order (the result's trades and
    # remainders are tuple subclasses, which the cycle collector never untracks)
    # and frees none of them while it runs; none can be part of a cycle. Left on,
    # the collector would walk the whole heap several times over for nothing.
    # Results do not depend on it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _clear(orders, mechanism, network, params)
    finally:
        if collecting:
            gc.enable()


def _clear(
    orders: Sequence[Order], mechanism: Mechanism, network: Network | None, params: Params | None
) -> ClearingResult:
    book = _Book(orders, network, params)
    run = _MECHANISMS[mechanism.name]
    qty = book.qty  # copied before the first curtailment changes it
    curtailments: list[Curtailment] = []
    rounds = 0
    while True:
        # Terminates: every round that does not return lowers sum(qty) by >= 1.
        rounds += 1
        outcome = run(book, qty, mechanism, params)
        if network is None:
            break
        if qty is book.qty:
            qty = list(qty)
        cut = _curtail(book, network, outcome.pairs, qty, rounds)
        if not cut:
            break
        curtailments.extend(cut)
    return _result(book, mechanism, outcome, tuple(curtailments), rounds)


def _money(pairs: _Pairs, prices: Sequence[int | Fraction]) -> tuple[list[int], list[int]]:
    """Per trade: (per-kWh price shown, amount = floor(q * unit_price / 1000)).

    On int64 arrays when the walk ran on numpy and the largest product fits,
    else in Python ints.
    """
    q = pairs.arrays[2] if pairs.arrays is not None else None
    top_q = int(q.max()) if q is not None and len(q) else 0
    if isinstance(prices, _Ratios):
        num, den = prices.num, prices.den
        if isinstance(num, np.ndarray) and isinstance(den, np.ndarray):
            if (
                q is not None
                and top_q * (int(num.max(initial=0)) + int(den.max(initial=0))) * WH_PER_KWH < _FITS
            ):
                return (num // den).tolist(), (q * num // (den * WH_PER_KWH)).tolist()
            num, den = num.tolist(), den.tolist()
        shown = list(map(floordiv, num, den))
        scaled = map(mul, den, repeat(WH_PER_KWH))
        return shown, list(map(floordiv, map(mul, pairs.qty, num), scaled))
    ints = cast(list[int], prices)  # every mechanism but vcg prices in ints
    if q is not None and ints and top_q * max(ints) < _FITS:
        if ints.count(ints[0]) == len(ints):  # one price (uniform, sdr, mcafee)
            return ints, (q * ints[0] // WH_PER_KWH).tolist()
        p = np.fromiter(ints, dtype=np.int64, count=len(ints))
        return ints, (q * p // WH_PER_KWH).tolist()
    return ints, list(map(floordiv, map(mul, pairs.qty, ints), repeat(WH_PER_KWH)))


def _result(
    book: _Book,
    mechanism: Mechanism,
    outcome: _Outcome,
    curtailments: tuple[Curtailment, ...],
    rounds: int,
) -> ClearingResult:
    ids = book.ids
    pairs = outcome.pairs
    qty = pairs.qty
    price, amount = _money(pairs, outcome.buyer_price)
    if outcome.seller_price is outcome.buyer_price:
        seller_price, seller_amount = price, amount
    else:
        seller_price, seller_amount = _money(pairs, outcome.seller_price)
    pay = sum(amount)
    receive = sum(seller_amount)
    make = tuple.__new__  # NamedTuple construction without the per-call Python wrapper
    rows = zip(
        map(ids.__getitem__, pairs.buy),
        map(ids.__getitem__, pairs.sell),
        qty,
        price,
        amount,
        seller_price,
        seller_amount,
        strict=True,
    )
    trades: tuple[Trade, ...] = tuple(map(make, repeat(Trade), rows))
    # Unmatched: what the walk did not match of each order's original quantity.
    if book.arrays is not None and pairs.arrays is not None:
        left_np = book.arrays.qty - pairs.arrays[3]
        which = np.flatnonzero(left_np)
        rows_left = zip(map(ids.__getitem__, which.tolist()), left_np[which].tolist(), strict=True)
    else:
        left = list(map(sub, book.qty, pairs.matched()))
        rows_left = zip(compress(ids, left), compress(left, left), strict=True)
    unmatched: tuple[Unmatched, ...] = tuple(map(make, repeat(Unmatched), rows_left))
    return ClearingResult(
        mechanism=mechanism.name,
        k=mechanism.k,
        clearing_price=outcome.clearing_price,
        matched_quantity=sum(qty),
        trades=trades,
        unmatched=unmatched,
        market_surplus=max(0, pay - receive),
        deficit=max(0, receive - pay),
        curtailments=curtailments,
        rounds=rounds,
    )
