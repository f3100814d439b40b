"""Golden fingerprints of market clearing (issue 7: clearing made fast, results unchanged).

``clear`` is consensus code: a faster implementation must give, for every
input, bit-for-bit the result of the one it replaces. Each case below clears
a book drawn from a seeded generator (or written out by hand) and compares
the sha256 of a canonical serialisation of the whole ``ClearingResult``
(every trade in order, prices, amounts, unmatched remainders, curtailments,
rounds, surplus and deficit, and the exact type of every field) with a
constant recorded from the reference implementation (commit 645eaa3, before
the speed-up). Bad inputs are fingerprinted by exception class and message.

The books cover: random books like the benchmark's, every mechanism, k = 0,
1/2, 1 and odd fractions (one with a numerator beyond 2^64); radial networks
with binding line limits (several rounds of re-clearing); books with few
owners and many price ties (the walk's self-trade skips); 1-3 Wh orders
(mcafee's and vcg's unit-level rules); prices spread wider than 2^16;
quantities and prices near 2^64 and beyond, whose products exceed any
fixed-width integer; and edge cases. Each case runs on each path of the
implementation (int64 arrays, Python ints, arrays with tiny windows: see
``PATHS``).

To record the constants again (only when a change of results is intended):

    .venv/bin/python tests/app/market/test_clearing_golden.py
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections.abc import Callable
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest

if __name__ == "__main__":  # run as a script to print the fingerprints
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from app.modules.market import clearing
from app.modules.market.clearing import (
    MECHANISMS,
    ClearingInputError,
    ClearingResult,
    Curtailment,
    Mechanism,
    Order,
    Params,
    Trade,
    Unmatched,
    clear,
)
from app.modules.market.network import Bus, Network

U64 = 2**64 - 1
TARIFFS = Params(feed_in_tariff=80, retail_tariff=300)
ODD_K = Fraction(7, 13)
HUGE_K = Fraction(2**64 + 13, 2**65 + 1)
KS = (Fraction(0), Fraction(1, 2), Fraction(1), ODD_K)

# ---------------------------------------------------------------------------
# Canonical serialisation


def _plain(value: object) -> object:
    """A field as a plain value; anything but an exact int, str or None is an error."""
    if value is None or type(value) is int or type(value) is str:
        return value
    raise AssertionError(f"unexpected field type {type(value).__name__}: {value!r}")


def _rows(kind: type, rows: tuple[object, ...]) -> list[tuple[object, ...]]:
    assert type(rows) is tuple, type(rows)
    out = []
    for row in rows:
        assert type(row) is kind, (type(row), kind)
        out.append(tuple(_plain(x) for x in row))  # type: ignore[attr-defined]
    return out


def canonical(r: ClearingResult) -> bytes:
    assert type(r) is ClearingResult
    assert type(r.k) is Fraction
    doc = (
        _plain(r.mechanism),
        (_plain(r.k.numerator), _plain(r.k.denominator)),
        _plain(r.clearing_price),
        _plain(r.matched_quantity),
        _rows(Trade, r.trades),
        _rows(Unmatched, r.unmatched),
        _plain(r.market_surplus),
        _plain(r.deficit),
        _rows(Curtailment, r.curtailments),
        _plain(r.rounds),
    )
    return repr(doc).encode()


def fingerprint(case: Callable[[], tuple]) -> str:
    orders, mech, net, params = case()
    try:
        data = canonical(clear(orders, mech, net, params))
    except ClearingInputError as exc:
        data = f"{type(exc).__name__}: {exc}".encode()
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------
# Seeded books and networks (cached: every case of a kind clears the same book; clear
# never changes its input)


@cache
def book(
    n: int,
    seed: int,
    *,
    buses: int = 0,
    owners: int | None = None,
    prices: tuple[int, int] = (80, 300),
    qty: tuple[int, int] = (100, 5000),
    none_share: float = 0.0,
) -> list[Order]:
    """n orders: half buys, half sells; owners from a pool; None owners/buses at none_share."""
    rng = random.Random(seed)
    pool = [f"acct{i}" for i in range(owners if owners is not None else max(1, n // 4))]
    out = []
    for i in range(n):
        bus = f"bus{rng.randrange(buses)}" if buses else None
        owner: str | None = rng.choice(pool)
        if none_share and rng.random() < none_share:
            owner = None
        if none_share and rng.random() < none_share:
            bus = None
        out.append(
            Order(
                id=f"o{i}",
                side="buy" if rng.random() < 0.5 else "sell",
                quantity_wh=rng.randint(*qty),
                price=rng.randint(*prices),
                bus=bus,
                owner=owner,
            )
        )
    return out


@cache
def network(size: int, per_bus: int, factor: Fraction, seed: int) -> Network:
    """A random radial tree; line capacity = factor x subtree size x per_bus (root unlimited)."""
    rng = random.Random(seed)
    parents = [-1] + [rng.randrange(i) for i in range(1, size)]
    subtree = [1] * size
    for i in range(size - 1, 0, -1):
        subtree[parents[i]] += subtree[i]
    buses = []
    for i in range(size):
        p = parents[i]
        cap = None if p < 0 else int(subtree[i] * per_bus * factor)
        buses.append(Bus(f"bus{i}", None if p < 0 else f"bus{p}", cap))
    return Network(tuple(buses))


@cache
def huge_book(n: int, seed: int, *, buses: int = 0, owners: int = 5) -> list[Order]:
    """Quantities and prices near 2^64 and beyond (products far beyond 2^64)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if rng.random() < 0.5:
            q, p = U64 - rng.randrange(1000), U64 - rng.randrange(1000)
        else:
            q, p = rng.randrange(1, 2**70), rng.randrange(2**62, 2**70)
        out.append(
            Order(
                id=f"h{i}",
                side="buy" if rng.random() < 0.5 else "sell",
                quantity_wh=q,
                price=p,
                bus=f"bus{rng.randrange(buses)}" if buses else None,
                owner=f"acct{rng.randrange(owners)}",
            )
        )
    return out


# ---------------------------------------------------------------------------
# The cases: name -> () -> (orders, mechanism, network, params)

Case = Callable[[], tuple]
CASES: dict[str, Case] = {}


def _k(k: Fraction) -> str:
    return f"{k.numerator}/{k.denominator}"


def _add(name: str, case: Case) -> None:
    assert name not in CASES, name
    CASES[name] = case


def _cases() -> None:
    net20 = network(20, 2000 // 20 * 2550 // 2, Fraction(1, 20), 3)
    net8 = network(8, 2000 // 8 * 25 // 2, Fraction(1, 60), 5)
    for mech in MECHANISMS:
        for k in KS:
            m = Mechanism(mech, k)
            _add(f"random/{mech}/{_k(k)}", lambda m=m: (book(2000, 1), m, None, TARIFFS))
            _add(
                f"random-net/{mech}/{_k(k)}",
                lambda m=m: (book(2000, 2, buses=20), m, net20, TARIFFS),
            )
        for k in (Fraction(1, 2), ODD_K, HUGE_K):
            m = Mechanism(mech, k)
            # Few owners, narrow prices, small quantities: many ties and self-trade skips.
            _add(
                f"conflicts/{mech}/{_k(k)}",
                lambda m=m: (
                    book(2000, 3, owners=3, prices=(10, 20), qty=(1, 50), none_share=0.1),
                    m,
                    None,
                    Params(feed_in_tariff=10, retail_tariff=20),
                ),
            )
            _add(
                f"conflicts-net/{mech}/{_k(k)}",
                lambda m=m: (
                    book(2000, 4, buses=8, owners=4, prices=(10, 20), qty=(1, 50), none_share=0.1),
                    m,
                    net8,
                    Params(feed_in_tariff=10, retail_tariff=20),
                ),
            )
            _add(
                f"one-owner/{mech}/{_k(k)}",
                lambda m=m: (
                    book(300, 5, owners=1, prices=(1, 9), qty=(1, 9), none_share=0.2),
                    m,
                    None,
                    Params(feed_in_tariff=1, retail_tariff=9),
                ),
            )
        m = Mechanism(mech, ODD_K)
        # 1-3 Wh orders: unit-level rules (mcafee's reduction, vcg's externalities).
        for seed in (6, 7, 8):
            _add(
                f"units/{seed}/{mech}",
                lambda m=m, seed=seed: (
                    book(500, seed, owners=60, prices=(1, 12), qty=(1, 3), none_share=0.05),
                    m,
                    None,
                    Params(feed_in_tariff=1, retail_tariff=12),
                ),
            )
        for seed in (9, 10):
            _add(
                f"huge/{seed}/{mech}",
                lambda m=m, seed=seed: (
                    huge_book(400, seed),
                    m,
                    None,
                    Params(feed_in_tariff=2**63, retail_tariff=2**69),
                ),
            )
        _add(
            f"huge-k/{mech}",
            lambda mech=mech: (
                huge_book(400, 11),
                Mechanism(mech, HUGE_K),
                None,
                Params(feed_in_tariff=U64, retail_tariff=2**70),
            ),
        )
        _add(
            f"huge-net/{mech}",
            lambda m=m: (
                huge_book(400, 12, buses=6),
                m,
                network(6, 2**72, Fraction(1, 3), 13),
                Params(feed_in_tariff=2**63, retail_tariff=2**69),
            ),
        )
        for name, orders in EDGE_BOOKS.items():
            for k in (Fraction(1, 2), ODD_K):
                _add(
                    f"edge/{name}/{mech}/{_k(k)}",
                    lambda mech=mech, k=k, orders=orders: (
                        orders,
                        Mechanism(mech, k),
                        None,
                        Params(feed_in_tariff=100, retail_tariff=250),
                    ),
                )
        _add(
            f"edge-net/{mech}",
            lambda m=m: (
                EDGE_BOOKS["ties"],
                m,
                Network((Bus("r"), Bus("x", "r", 150), Bus("y", "x", 40))),
                Params(feed_in_tariff=100, retail_tariff=250),
            ),
        )
        # Prices spread over more than 2^16 (sorted otherwise than narrow ones).
        _add(
            f"wide-prices/{mech}",
            lambda m=m: (
                book(2000, 20, owners=50, prices=(1, 10**9), qty=(1, 10**4), none_share=0.05),
                m,
                None,
                Params(feed_in_tariff=10**8, retail_tariff=9 * 10**8),
            ),
        )
        _add(
            f"wide-prices-net/{mech}",
            lambda m=m: (
                book(2000, 21, buses=20, prices=(0, 2**30), qty=(1, 10**4)),
                m,
                net20,
                Params(feed_in_tariff=2**28, retail_tariff=2**29),
            ),
        )
        # ~50,000 orders: long walks, many rounds with the network.
        _add(f"large/{mech}", lambda m=m: (book(50_000, 14), m, None, TARIFFS))
    net100 = network(100, 50_000 // 100 * 2550 // 2, Fraction(1, 20), 15)
    for mech in ("uniform", "mcafee", "vcg"):
        _add(
            f"large-net/{mech}",
            lambda mech=mech: (book(50_000, 16, buses=100), Mechanism(mech), net100, TARIFFS),
        )
    _add(
        "large-conflicts/discriminatory",
        lambda: (
            book(50_000, 17, owners=7, prices=(1, 40), qty=(1, 100), none_share=0.05),
            Mechanism("discriminatory", ODD_K),
            None,
            None,
        ),
    )
    _add(
        "params-bounds/uniform",
        lambda: (book(2000, 18), Mechanism("uniform"), None, Params(min_price=80, max_price=300)),
    )
    for name, case in ERRORS.items():
        _add(f"error/{name}", case)


def _o(i: str, side: str, q: int, p: int, owner: str | None = None, bus: str | None = None):
    return Order(i, side, q, p, bus, owner)


EDGE_BOOKS: dict[str, list[Order]] = {
    "empty": [],
    "bids-only": [_o("b1", "buy", 100, 200), _o("b2", "buy", 50, 150)],
    "asks-only": [_o("s1", "sell", 100, 120), _o("s2", "sell", 50, 150)],
    "one-pair": [_o("b", "buy", 100, 200), _o("s", "sell", 100, 150)],
    "no-cross": [_o("b", "buy", 100, 100), _o("s", "sell", 100, 150)],
    "equal-cum": [
        _o("b1", "buy", 100, 200),
        _o("s1", "sell", 60, 100),
        _o("b2", "buy", 50, 190),
        _o("s2", "sell", 90, 110),
        _o("b3", "buy", 70, 180),
        _o("s3", "sell", 70, 120),
        _o("s4", "sell", 10, 250),
    ],
    "ties": [
        _o("b1", "buy", 100, 150, "x", "x"),
        _o("s1", "sell", 100, 150, "x", "y"),
        _o("b2", "buy", 100, 150, "y", "y"),
        _o("s2", "sell", 100, 150, "y", "x"),
        _o("b3", "buy", 100, 150, None, "r"),
        _o("s3", "sell", 100, 150, None, None),
        _o("s4", "sell", 100, 150, "z", "y"),
    ],
    "self-only": [
        _o("b1", "buy", 100, 200, "x"),
        _o("s1", "sell", 100, 100, "x"),
        _o("b2", "buy", 30, 190, "x"),
        _o("s2", "sell", 20, 110, "x"),
    ],
    "self-skip": [
        _o("s1", "sell", 100, 100, "x"),
        _o("b1", "buy", 100, 200, "x"),
        _o("s2", "sell", 100, 190, "y"),
        _o("b2", "buy", 100, 150, "y"),
        _o("b3", "buy", 100, 120, "z"),
    ],
    "top-ask-stop": [
        _o("s1", "sell", 50, 100, "x"),
        _o("s2", "sell", 50, 140, "y"),
        _o("b1", "buy", 50, 200, "x"),
        _o("b2", "buy", 80, 130, "x"),
        _o("b3", "buy", 80, 120, "z"),
    ],
    "mcafee-p0": [
        _o("b1", "buy", 10, 300),
        _o("b2", "buy", 10, 250),
        _o("b3", "buy", 10, 160),
        _o("s1", "sell", 10, 100),
        _o("s2", "sell", 10, 150),
        _o("s3", "sell", 10, 155),
    ],
    "sdr-oversupply": [_o("b", "buy", 10, 300), _o("s", "sell", 100, 80)],
    "zero-price": [_o("b", "buy", 7, 0), _o("s", "sell", 3, 0), _o("s2", "sell", 5, 0)],
    "single-wh": [_o("b", "buy", 1, 999), _o("s", "sell", 1, 1)],
}

_NET = Network((Bus("r"), Bus("x", "r", 10)))
ERRORS: dict[str, Case] = {
    "duplicate-id": lambda: (
        [_o("a", "buy", 1, 1), _o("a", "sell", 1, 1)],
        Mechanism("uniform"),
        None,
        None,
    ),
    "empty-id": lambda: ([_o("", "buy", 1, 1)], Mechanism("uniform"), None, None),
    "bad-side": lambda: ([_o("a", "bid", 1, 1)], Mechanism("uniform"), None, None),
    "zero-qty": lambda: (
        [_o("a", "buy", 1, 1), _o("b", "sell", 0, 1)],
        Mechanism("uniform"),
        None,
        None,
    ),
    "negative-price": lambda: ([_o("a", "buy", 1, -1)], Mechanism("vcg"), None, None),
    "float-qty": lambda: ([_o("a", "buy", 1.0, 1)], Mechanism("uniform"), None, None),  # type: ignore[arg-type]
    "bool-price": lambda: ([_o("a", "buy", 1, True)], Mechanism("uniform"), None, None),  # type: ignore[arg-type]
    "below-min": lambda: (
        [_o("a", "buy", 1, 5)],
        Mechanism("uniform"),
        None,
        Params(min_price=6),
    ),
    "above-max": lambda: (
        [_o("a", "buy", 1, 5), _o("b", "sell", 1, 9)],
        Mechanism("uniform"),
        None,
        Params(max_price=8),
    ),
    "empty-owner": lambda: ([_o("a", "buy", 1, 1, "")], Mechanism("uniform"), None, None),
    "unknown-bus": lambda: ([_o("a", "buy", 1, 1, None, "q")], Mechanism("uniform"), _NET, None),
    "int-bus": lambda: ([_o("a", "buy", 1, 1, None, 3)], Mechanism("uniform"), None, None),  # type: ignore[arg-type]
    "not-an-order": lambda: ([("a", "buy", 1, 1)], Mechanism("uniform"), None, None),
    "sdr-no-tariffs": lambda: ([_o("a", "buy", 1, 1)], Mechanism("sdr"), None, None),
    "bad-mechanism": lambda: ([], "uniform", None, None),
    "bad-params": lambda: ([], Mechanism("uniform"), None, {"min_price": 1}),
    "bad-network": lambda: ([], Mechanism("uniform"), [Bus("r")], None),
}


_cases()

# sha256 of canonical(clear(...)) per case, recorded from the reference implementation.
GOLDEN: dict[str, str] = {
    "random/uniform/0/1": "027ff87e276186b6f174155f8c9bf4decce9767fba27e60c4c72822579173ee0",
    "random-net/uniform/0/1": "5a071959a2a5727b272f9688d26cd3ca4c6dd3315b6ee4c54716a0a1b11f308f",
    "random/uniform/1/2": "83785902511a9568a7a3974fee1a206c1e4885a21e656799e19ddc47d1f03a4f",
    "random-net/uniform/1/2": "728eda9b8342b102132962f9e6e05d9430dbb05ab95bd769ba2544189684db2f",
    "random/uniform/1/1": "d1d7be66715c0990406220c7cfe5f59192d9bd7242947a7ffe6a3b0b2146b28b",
    "random-net/uniform/1/1": "511b81f06f4544f50e72598f150a9cd834a24f8e1596087bee4dd93d3f3859fb",
    "random/uniform/7/13": "1054f0a9f20885ab7ce51d1f4633c2debf5904b56cf90db642bde5efe536cfc3",
    "random-net/uniform/7/13": "b154f8cef5c2b0620441d04c0bd4947fb3dea31efe18ce96166c0aa206ba288e",
    "conflicts/uniform/1/2": "4afebdeec3fde2e88a9f979d6e977795fabcb9ca467ac6162cda9245738aae61",
    "conflicts-net/uniform/1/2": "ff6112d888676bd569ba2fb76ccfcf8318e8e8bab5f12c659fe2f185816bc0d8",
    "one-owner/uniform/1/2": "427f43d4cd62f849085b192d840a8720ddd01920096494c0f2f4edb84cdd62cc",
    "conflicts/uniform/7/13": "c9d3fc17af9e4ce11d58d4f7846e2527b9e2dd32245298e4fe5498b21e25a217",
    "conflicts-net/uniform/7/13": "ff605a3f3613e7a982ffcecdd91d05b9ac388b53df143c850373389c5169483e",
    "one-owner/uniform/7/13": "08651271dacf18c0ef2ffd9adb9cbeb05bcce98d4c7a6456ea9baf3ba7e9b27f",
    "conflicts/uniform/18446744073709551629/36893488147419103233": "2b6cf8294c80127cc20806736fca5a755ba515a5d0a297bb30d5c777999ecf3a",
    "conflicts-net/uniform/18446744073709551629/36893488147419103233": "f7cc6af31ca45ef2c339eeac57a70c778a6992fd51158f7843b40ea76bf62409",
    "one-owner/uniform/18446744073709551629/36893488147419103233": "2ab709901e81a337959c46857dd7797021ea3b4c833ab9b44b8db85d8f0a4474",
    "units/6/uniform": "18d163d46d0916243ea5101e2e9b59db86e8137894704c9d914e7e4b17550555",
    "units/7/uniform": "39c544cdadc2629c963310569b5e5c17ceeae9d474da0c5c5f284b57f091da08",
    "units/8/uniform": "14993ab149c096161ef32b8514a0e15142bd4bc4cad88236301fc5a2bd2d7c8c",
    "huge/9/uniform": "816b011ab9cd65795182291d3d7ca7d6efe611f293336fe1d01083499b11fe05",
    "huge/10/uniform": "98d11335cedb48bc0d4285f861b966d930fea2d88a260b53774a75094b70f527",
    "huge-k/uniform": "07ac1a9b2d85020541b5b927126a60946a1cd8ee40dd4a1f02a4fb964b94264d",
    "huge-net/uniform": "fae15d55b1d8e8f6964b8ca638e54a6786eedc69938e17a56b87963dca2739a3",
    "edge/empty/uniform/1/2": "749b4f08e9d6c6c160c1696b6d4c8ae7e2888bf907d90155bf7080f9532ea317",
    "edge/empty/uniform/7/13": "6217b25a8e4e5e6d30d4fd4ba5ebb29069072411584d15fa4a0e098c7561ee67",
    "edge/bids-only/uniform/1/2": "98b36055b73ddcca2b9d9abadc76890d13c7ebd6483b275a1d9af0d419ec913a",
    "edge/bids-only/uniform/7/13": "9cdc4aeb81d61a1f64bd87e31e2c0579123db6bb9c22f6ff98eed27da9bcc043",
    "edge/asks-only/uniform/1/2": "fdc472e0714a71a59c8f61ffd1ad7bbcb59d8682e9d1be87c16b12f80acf7b40",
    "edge/asks-only/uniform/7/13": "657d38491a026b0cda5e116c41e9727ec08582655d536adcf57736efa371f739",
    "edge/one-pair/uniform/1/2": "a791562354aafc35d7d0aa9671dea8352aec0c084c27f42ffd8c9b98e99d2982",
    "edge/one-pair/uniform/7/13": "2bad1b0b3d31a4e51ddb31d58f5cd885c56ef71aedd90c17d66e6ef3fdcefa2c",
    "edge/no-cross/uniform/1/2": "ff1b6b8b192eebcb0cbed4a44f944acbebb5e18fd0ef39f04c957e322bd9ef6f",
    "edge/no-cross/uniform/7/13": "561829360e618b9adee748c33761927cc977665cf383cc083bea6bd4f33d1bb5",
    "edge/equal-cum/uniform/1/2": "f3f33895506154649218a901f480e203fe7054db38bc379d0f2851e022d812dc",
    "edge/equal-cum/uniform/7/13": "7a2da1252384a8fd5f47ab0710fcc587921226397e55d638e76278c9e6dc4b96",
    "edge/ties/uniform/1/2": "bb980babe7d38ddfb933a89224a4b535f6df663ceee335c8d9ef9d8e7517b49b",
    "edge/ties/uniform/7/13": "ddf13e86e5575426d194e1b44951c1458cfc7e6c65c61e4b8308e1acd74877d2",
    "edge/self-only/uniform/1/2": "d87933e279d36e26ddd614cdfb9074f89c1c07a67ff3f917bbd09b321cefa59f",
    "edge/self-only/uniform/7/13": "e1dc929f49885c48d16e3f2a50ea6b97722031e6e124e3c53160f881ed97959c",
    "edge/self-skip/uniform/1/2": "32570532b425af18636651d7681bb88d539306710c7988696207cfd66528c605",
    "edge/self-skip/uniform/7/13": "bdd26272ece7b1e352f6ec3acff51a9e6c341b0468aab1cabfceca27c3ffd6dd",
    "edge/top-ask-stop/uniform/1/2": "ac307a29f65caa875439c8df79c8de657872e5add4b7d289296bdf01eea8fbcd",
    "edge/top-ask-stop/uniform/7/13": "e638074001b79cf6d0ecee3e6fc57304d62c9d3ae87f29e6147b79caa4c2052a",
    "edge/mcafee-p0/uniform/1/2": "6483b36576519f763ea667ac734eaf4cdcddd8b0aa8582bd504c7b07bb69a5de",
    "edge/mcafee-p0/uniform/7/13": "dcd2d51e17ab71e170af32af0cd6398716f9e15fc2fa3bc4ae7f2561dcbfe91f",
    "edge/sdr-oversupply/uniform/1/2": "6da51e1fe3bb278969087fa4f9bcbe97c6c2d62329e9a243545d7da59a50fd6c",
    "edge/sdr-oversupply/uniform/7/13": "a4c26db01c420d653a3951ff440997f2cfb35469a1dda59f1c339090f4a92721",
    "edge/zero-price/uniform/1/2": "89a16114247e6ccf1ec2e77468beece2b5226c3561c7f560f078fbf0a1c14b32",
    "edge/zero-price/uniform/7/13": "7b7a7faa0e51e7d835ec56ceb3f30342679fdafa0c052acab300ce40618890e5",
    "edge/single-wh/uniform/1/2": "a8ec0f49d6255facfcf7d3339682f9e2e8c7c96334933543b518c7f140855028",
    "edge/single-wh/uniform/7/13": "a4425234d8147d81e0c4abb17b1a41e131947459fa4a67a719292af38a70edf6",
    "edge-net/uniform": "ddf13e86e5575426d194e1b44951c1458cfc7e6c65c61e4b8308e1acd74877d2",
    "wide-prices/uniform": "722658882d3295a6b7df387fadaa1232c004d5d3e94536765368cdee9e669296",
    "wide-prices-net/uniform": "a1f7542c4e4ce1c6029aab11a3c274b6dddcf21d7aed780261c59640c572f765",
    "large/uniform": "732b8682cd39d8292f8b273ce2969cecbe9192dbd9e1c43d504b9f457774baaf",
    "random/discriminatory/0/1": "8c24216d9a77bca80e5abd5b16cf8a3592cbb58d3039e4be0034572cb8e25127",
    "random-net/discriminatory/0/1": "af57177880c25556c3fa718002dedac63d9b8b88b08e58710c8aa6743eee4e3f",
    "random/discriminatory/1/2": "2f4bb8bd318a1746f55028f9b4180d456c92dacd69ffda6d297858b9a3bcd323",
    "random-net/discriminatory/1/2": "ac99d8e5509efe9d05819cbec6f28edf0a69c70df3bc26bb9850114d900a4c7a",
    "random/discriminatory/1/1": "06f6b785eea17aa9fb96d8738c0573fa473a436d8f39a28580766200581cc680",
    "random-net/discriminatory/1/1": "a6188fd88c02f4799047bd6e98dcea87b88807186f00cbf03b2258864e0c29f0",
    "random/discriminatory/7/13": "577425954007940edb5ebc1f0745d22a416d311331c2a129c5803fb111b1e628",
    "random-net/discriminatory/7/13": "2183ea2ce24259d6091b16001deedd7ba4dd6f6567007ead47b3865cdd7a0a9b",
    "conflicts/discriminatory/1/2": "bbcf8a66dce5391b60def9a1114fa687d59a598564c960fbfe819b0a51706b9c",
    "conflicts-net/discriminatory/1/2": "23dd430f03a76964f143713287b23b02a6ea4003729d706c89f02c2450d2fe2f",
    "one-owner/discriminatory/1/2": "ce8b070b877bad5c37fc07042b24a5490f2163a90ceae252ae1b93a87b75872e",
    "conflicts/discriminatory/7/13": "c3a755092a2ade4e7484f3dfb6e1bbb7cca51af33e5c6b63c99e059616c0ad1c",
    "conflicts-net/discriminatory/7/13": "93ae28e914f91b28513214f73a7490b4eadf0a7ea64491fd2bbf9f1b420428da",
    "one-owner/discriminatory/7/13": "a36683c2024ebd865b604a484275bf770f25c936e0f2048988ed008187f5d497",
    "conflicts/discriminatory/18446744073709551629/36893488147419103233": "38b8e60248f0d5067bbefb6dc56c2de694aa4b951aacf6c6979428cc860df960",
    "conflicts-net/discriminatory/18446744073709551629/36893488147419103233": "e7975c3ea68c4240006325d05fb12a27ca7eb0fa5af9c954263b99c09e1466b7",
    "one-owner/discriminatory/18446744073709551629/36893488147419103233": "75296dff733573b81f2e104daef7dfbc812934b82fee08d6313951a7257c815e",
    "units/6/discriminatory": "7c3b36bb2a9ed5f0b5e6995782dc4700b7121391b4d2e488e31972617811cb16",
    "units/7/discriminatory": "ae40eacdf42e0a8e8dcd5a86b752fecec9fa614ac92ed71e63973e0d7a71285e",
    "units/8/discriminatory": "268d1d3969ce6848f8613a8815994225f857c71513804fa46316d6c908614b3f",
    "huge/9/discriminatory": "43c7ade5a6416f4791de53986a101667ddca3d14423d36b97faabca941ecd631",
    "huge/10/discriminatory": "6ad5fc428816fe713e980340f23a20b7b9695ad19a6948cd365583bb54c4c620",
    "huge-k/discriminatory": "26b37a196685fd9b3ecd14fb51cb99453d654d48ce48bdb691f110d71f5e4f8e",
    "huge-net/discriminatory": "f4cdb9164e89e42f4b744c864702baf906dd5f403fffcab966dc7851dac165f1",
    "edge/empty/discriminatory/1/2": "90569b00b1a1904adc3a4dc3b4a221a625e0872719ae9d917eb3d20d323d16e9",
    "edge/empty/discriminatory/7/13": "e9778c7a84f75d3cf16464a11ffb977e888a6920332e3549a7f1863f337fad70",
    "edge/bids-only/discriminatory/1/2": "2ac133ff0a0bc6d8ffcf301baa37a26e3ab567543f2a4396fe1cf300d9513c0e",
    "edge/bids-only/discriminatory/7/13": "b883e3454f3f634f66e0ee8c0a899d586e6bebcc3f03f9f4358c9b4c98815721",
    "edge/asks-only/discriminatory/1/2": "cb19c090b87236b1560be25165d1719715881e1c2dd7ef32e625df204993e4ec",
    "edge/asks-only/discriminatory/7/13": "6fffa4314c5997aa506ea5b468b41f66f095585d840b8956fd9733741e3141cb",
    "edge/one-pair/discriminatory/1/2": "8a5593d5d71b66520f575bfc12b70f5948662265b9c085029f119a4867810dc7",
    "edge/one-pair/discriminatory/7/13": "a41c93b0959cf0f4ba9826b7a07ab9a923e8eda4bdcd1d2181e410c7e1e568d0",
    "edge/no-cross/discriminatory/1/2": "2bab9bfa2c19ab1d06d63ab9bc7ae737f905550ab2196c98b232eaeba8cca4e9",
    "edge/no-cross/discriminatory/7/13": "89f949ebd6c2d8b590e6577a3c017f1e5ea9d7a9c38da80226b4ffc3e0495213",
    "edge/equal-cum/discriminatory/1/2": "4f6f1c411259ada5f7de18c9d36cffc11322dd9e4b4fbf7077976b293aa684f0",
    "edge/equal-cum/discriminatory/7/13": "233727300e5d7f0708c620976657ae750198ff8e481fceb4e7885515a3d74628",
    "edge/ties/discriminatory/1/2": "2ee119f2a1248d6c5feaca8b9898a8ac92b6e1ca2d8845720b2beea8d252fc8a",
    "edge/ties/discriminatory/7/13": "e44aafae9c61c53be03396a137bec0faf6a478b9fdad1ba36bdd9f212f331a50",
    "edge/self-only/discriminatory/1/2": "bab4774fb21403b39c690d10e5bfe061a000b7fc6bdf820507c82778dbf9ee5b",
    "edge/self-only/discriminatory/7/13": "311ed5f0fcbfe02f15474e39183e7a5f7030ed3466b6ac7ef45bc88ab8b5c232",
    "edge/self-skip/discriminatory/1/2": "6f86c2db9b5c4d21ce876aede3ae15e493fbfb349a2ec2783970a83ca22a2f30",
    "edge/self-skip/discriminatory/7/13": "5a712173312abebf51f406043dc9074df1b1f41558424088d972ce3474fb8e6a",
    "edge/top-ask-stop/discriminatory/1/2": "b8d3cdef553e870602c261f371b59e4b62fbcc50dc0481e29aa1747a482de671",
    "edge/top-ask-stop/discriminatory/7/13": "84983437d0f737317a8d7af769fcca57d2d139be51cd3de4e1bf03e27372c8f7",
    "edge/mcafee-p0/discriminatory/1/2": "96d5e37971ec2c0ca623fe41a15efdd2e39fc86cbff47bd41e4907e0ae0cb6dd",
    "edge/mcafee-p0/discriminatory/7/13": "66ec721981e9f30ad040bac3be62f5de3adf499341c22760ede1705dd2415058",
    "edge/sdr-oversupply/discriminatory/1/2": "219eb5dd2c3f600faf2702a57faeb17bc3ecb966067555141ada192290b7f4fb",
    "edge/sdr-oversupply/discriminatory/7/13": "d9392f41ca77ccca2956cdea441262bf5a63916919b17884173924444a801cc0",
    "edge/zero-price/discriminatory/1/2": "f33105f962cbf165c3c3531a946b92b2f31decad5c0a7af30caaa434153eaa7b",
    "edge/zero-price/discriminatory/7/13": "0a70e3ae921bfce5e757e3893133fedcc5c9ccca937398a8ce2286396c2a0391",
    "edge/single-wh/discriminatory/1/2": "3c20b7f067d08acfabf13d1d00e09ec94bcdaf40bda0b542ad63426d09249b34",
    "edge/single-wh/discriminatory/7/13": "4c001b47b5b462b7762fd3e24ed2ae6e7263630c0468690d3918ee29f49f56c6",
    "edge-net/discriminatory": "e44aafae9c61c53be03396a137bec0faf6a478b9fdad1ba36bdd9f212f331a50",
    "wide-prices/discriminatory": "a16b0b65c49040fac9d8fbb295129990964b3a9f96f1a9fa73d4e477deec5fc6",
    "wide-prices-net/discriminatory": "5b60dbafc554f46a2f2cc20d6ea8be00e00deca2548647867feaf3cfb5caf5cb",
    "large/discriminatory": "74f6a7ea89eb6a78e8e3035fd3c793f3fb79cd928b04a36824020907438853b5",
    "random/mcafee/0/1": "ed273e60bb7910e13f906f386ebe686b6965f361e7e4985954e13d8b6191b8fe",
    "random-net/mcafee/0/1": "2edf9838f7ffaf53ea54d37f6ddf08096779d69f9d3925b957ae8253fcbe574a",
    "random/mcafee/1/2": "42232b6fc1e4f527764355cf5598878f51dbed1e4780b09ccb762552dd4b28da",
    "random-net/mcafee/1/2": "bdec50e04557a7faa74a6984aa8cfb3255d2d49a51b16b8e1263f7f8ee711de3",
    "random/mcafee/1/1": "d38451bbfd8ada78c70b8fd9e18a87bcd017a9a4bdec9bceac897c864d325f64",
    "random-net/mcafee/1/1": "e24bee207bdf863c3f8053b832ca25b3e29eb964ff08eb4343548144e5777dab",
    "random/mcafee/7/13": "9c513b1b1fa9375dfaf4ff2a1a4d4212d036d3f2649ce679a5b57213792a0c36",
    "random-net/mcafee/7/13": "6fe723e6c769a6e4fbe3e777d7992ef3ca871cb59f58be3f2e0de0250af8c4bb",
    "conflicts/mcafee/1/2": "6e8a7fbf32bf857b76fd6357d19c693088661ba46135875c2a4c332a2a0b0356",
    "conflicts-net/mcafee/1/2": "98faeae75e19a6402f7692bfa190fcdfac6f8e306345092ad6a8468a9bbe3999",
    "one-owner/mcafee/1/2": "221989032c08c73c5ce221b8e83e60d39a73f58d8744833393b848969dc65849",
    "conflicts/mcafee/7/13": "f92fbd23611b93b5d758abedbc314975a7075c61d1e30610369f440a1c2babb0",
    "conflicts-net/mcafee/7/13": "edf6f37feda33cf7e901328cf86333570a476d8732252fd944822c74350270fd",
    "one-owner/mcafee/7/13": "8bd342c6cde204923c22c12fb4a5490fff9d81af63cfb34031d4bc888fed8c4c",
    "conflicts/mcafee/18446744073709551629/36893488147419103233": "4d18c4a7dfba24db73400bf8492afaf5c5852c490021ca1077c32be9fc073be5",
    "conflicts-net/mcafee/18446744073709551629/36893488147419103233": "836b25eba0a21f647d0de518dc60d323d6c4a7b331f4d8c581241aa355f1f9f9",
    "one-owner/mcafee/18446744073709551629/36893488147419103233": "530ab335ebbe37a4a79d5da8382857f62f6e11506126facfcf3d13c0e026a71d",
    "units/6/mcafee": "3ee95e546bbb4dfbe5f67bec94a30e6a7a601eee413d735c6ede1fb63f6562d1",
    "units/7/mcafee": "8535a9cf5afc40e40e897dcf4711e0436a891db82a334ec837aea6ea379b2332",
    "units/8/mcafee": "6d329a502ae7e7918383b0c5824d1539b9509b346a0f7493356d69439bda6dd6",
    "huge/9/mcafee": "4ac6e97e08e725bf9b9658dcd3b74424207b2490a439ac7bdf7d646372598e56",
    "huge/10/mcafee": "09395f1be1c18003635afcf0092ee81ced98d2c18013ca066236155d7218126b",
    "huge-k/mcafee": "b45b627c96adf59833c508635dd246c440cca8ac153c00f2b95a64adf3f87221",
    "huge-net/mcafee": "0903daffbf8ffd932fe5b49f1d8a2af4a7e7642b93c46164d086bc2f2bab7015",
    "edge/empty/mcafee/1/2": "c48d334e8d794dfbcaabcfb79307ce671d53059f9b61e7730b896216e47b3f0c",
    "edge/empty/mcafee/7/13": "b59fd165a6587b35362fb97a7ce7b2c48fc36a0867b464b826208f98765dead3",
    "edge/bids-only/mcafee/1/2": "f5c30cc1b09c88417bfc2133ba4cfe105be0fb9d132a8f1b361318850f8aef84",
    "edge/bids-only/mcafee/7/13": "d8c74dec1f7c915e4ca6a5d6a72ebce06e43617861a84b574cb8006de16cf420",
    "edge/asks-only/mcafee/1/2": "cb22fe1e138f15d9d927778b73206c0f3349a138f4d094b4470d5f011c54bd73",
    "edge/asks-only/mcafee/7/13": "092acc21f1008fd3320850e074111acfd9c7f1c8d6d5b83e740c3e5d57de3861",
    "edge/one-pair/mcafee/1/2": "9843480f8d228359a4c402eff6caea27b8fae01ddf6fa1d438560a6d9ec75e02",
    "edge/one-pair/mcafee/7/13": "1c1ee92739671540ad12c05eb1b8eaa9227c986686bd93ece0f39d7ed923dca1",
    "edge/no-cross/mcafee/1/2": "4b3a230eccbceeb64d3d391d79fb59770e32592e8d9c1a46fd01e1f11907fb70",
    "edge/no-cross/mcafee/7/13": "83bfa256bc4f642d5c2f669727ab8396c074f9654cb57638539c65bec3c4ff83",
    "edge/equal-cum/mcafee/1/2": "d91f5d90479013ae52ca843371946aac92d3415fe3f5d469a1efc5744d9e8261",
    "edge/equal-cum/mcafee/7/13": "ea4630a41101909a7011b21b799143deac087d8bfb0ba0c05213a886511bd289",
    "edge/ties/mcafee/1/2": "8b85f9d034fa9455563a838e145454d0ff810ecee56f6a821b4ed4d464e287c8",
    "edge/ties/mcafee/7/13": "0d2b65d9153b714553ad09be20ec3175d988c7effa37b554fbe582fca184587d",
    "edge/self-only/mcafee/1/2": "f0ea0e93e205b2da974a08649363ab01e79850a13a07a619b67d793a32462fa7",
    "edge/self-only/mcafee/7/13": "56e2ad40c847bc937be7e7284d3743b2de9a8e3059ad29f52d3ce638f67bf292",
    "edge/self-skip/mcafee/1/2": "5bd9e4a2cfa9083241d5ef1be71bf4d8afb0e97ba564889651062214af7f3e75",
    "edge/self-skip/mcafee/7/13": "ce2d22149c6dc8289d4f99058ff976183aa372d07fd645fe7561ea0b6632cfa9",
    "edge/top-ask-stop/mcafee/1/2": "e6522bd002972b4b06e9de776f844908f5d83a4974b551f53d9e6e049fd3e767",
    "edge/top-ask-stop/mcafee/7/13": "e9c08b59500b543ebab79ba630e9eeabe6a66fccd39ff677a25a932d348c7c53",
    "edge/mcafee-p0/mcafee/1/2": "c6f41b515a50a324c337e5690a0cb77ed3eda3bdd23abeeb64d16cc92c4fae20",
    "edge/mcafee-p0/mcafee/7/13": "84763fbf35206ce3d372844e0d80a4e571515781ddf303b58d8f4028c5b0308f",
    "edge/sdr-oversupply/mcafee/1/2": "43c8946363bbc4e46539c1c994a6554936e54721e973700a694a7a98ff1fca55",
    "edge/sdr-oversupply/mcafee/7/13": "ac765e2e103e939e67c7df889b5a940b27d991ac73982156d430a9d78e7e8ca9",
    "edge/zero-price/mcafee/1/2": "b7ffd9c14596f716290a2d7174eab118fa7e874fed3938c7e278ba0fc368d386",
    "edge/zero-price/mcafee/7/13": "d2e4bda2ec1a5a42bbff6f7d3a6504af068507f7a9ccec93df0f3fd9a9879fed",
    "edge/single-wh/mcafee/1/2": "f7e62ade1e7295aee9fc052bb96f966a35894c1483bb82b778666105aabf0f59",
    "edge/single-wh/mcafee/7/13": "80479460b4a09eae245b9adbc5c3d2393ead8bf0ded14a7845d7a5cc28b9eba4",
    "edge-net/mcafee": "0d2b65d9153b714553ad09be20ec3175d988c7effa37b554fbe582fca184587d",
    "wide-prices/mcafee": "d0fd01326bb41f7970956a6fb7b906cc4fa1db22ce0bbdc33077465fdb93892f",
    "wide-prices-net/mcafee": "3a10b1115f7ae4f37923885e46d375da3542a7e54f3c2ee00d820df0d3d7bb24",
    "large/mcafee": "152dfc7cd3cc8f0a332a6f1e4553de95fcb5ac0464dced521dffe23fa30283a5",
    "random/vcg/0/1": "bc2f5a3b597e336ff6ca30bc004adf18316eb691bf07dda5e7094ba1b4796669",
    "random-net/vcg/0/1": "127e591b6f03518ebc416bfc688e82391901b1402c7a369d519eb4fd57d36f43",
    "random/vcg/1/2": "cf465b40069ab545ee5b41d0a24013b2c4484bf3a90a8b2ac4883c7ded76c958",
    "random-net/vcg/1/2": "94b1b5e507bab9a0a227fdd828fdbf1928b478787b08ee79f0ac813eb39c208f",
    "random/vcg/1/1": "b80f27933d9a479de5d7a3bd55f7cc09a1e608d1be54826a82e9cb8b899a5b20",
    "random-net/vcg/1/1": "f890217913968bb4670253f82a2d320bfc2806f191f515a55bafd51c906ccf4c",
    "random/vcg/7/13": "2540574d382c71df6a040ce6380da671a86539af34c9cafd83934b435f292259",
    "random-net/vcg/7/13": "2454ec10887e74682f7b973752ff0903ca3a1902d720175b351853b664c875d1",
    "conflicts/vcg/1/2": "f289f9e2e5065ee63148cb7210f0e73ba88be9b0a011ca6179c7bbfb755d1328",
    "conflicts-net/vcg/1/2": "948b409549b3bffe5f113240a1e2bf353d5c53d3c196673bee6fbe1f9884d6b3",
    "one-owner/vcg/1/2": "fb906b075f0e7aaa70aba7f501393f35290ef6ae555aa0e21316ca246e86e707",
    "conflicts/vcg/7/13": "9d40d5633138dbd38c36820d5b3b77104ad6a299aae660f053262bcef690ec98",
    "conflicts-net/vcg/7/13": "793f44ed54ba961c47214ab10bb546bbea65a1416b63527571d0ba0318154b9e",
    "one-owner/vcg/7/13": "c565640464930dc0b4c9ae1e0b3a0bb89df774fc51d2a44bd1b2e24f16fad05c",
    "conflicts/vcg/18446744073709551629/36893488147419103233": "794d4836a92c8eb4c04f6021244b063b3815c77d3a835137d39fa3e4375e5465",
    "conflicts-net/vcg/18446744073709551629/36893488147419103233": "0509425e9f09ecb5587a45cac3b15385296208b1574680f47bba5488e0b0beac",
    "one-owner/vcg/18446744073709551629/36893488147419103233": "81f77b759749b3d0d4e06a812b1c141de7120100688e339d6254035bf3dee58c",
    "units/6/vcg": "b7642dcdb0b5d9cc5a9971d9a3d8dcad3fb3c69c5a96c8c8aa9a3670b35b1c9d",
    "units/7/vcg": "21067c62049480393bad49d0174ffe902896d3280924712c46396edb4b24258f",
    "units/8/vcg": "e69c58b0bf121fc8aae6af7fc50c56f07366cb3a4392818039fd8ee82f68e4a0",
    "huge/9/vcg": "75d49c5a516010a58c6e6de194c91247734353fdb3383d75c9610b0ba9175211",
    "huge/10/vcg": "effd507b0efaf87f9066028d8aa98cf3f4ca32053f9ad7172a4bb7f4582e195a",
    "huge-k/vcg": "e8392345c8a192052b1180d66b654bafff84fb7a1d9abbdf3c17dc5e594652b0",
    "huge-net/vcg": "395dd230ef8221f96c3cc332eef33ca6cbbf7df252c798890c4a3b3d2b661cc5",
    "edge/empty/vcg/1/2": "479cf428cc407b80383eb3c53f837ba79906bbe61288892fc160c61a24daab28",
    "edge/empty/vcg/7/13": "a1be66ceaa2404cf37c2dd1250583f234757085551feec2e6c9d44f102a249d7",
    "edge/bids-only/vcg/1/2": "67e5a7cfb75a4894df365ee04aee54ae49864be83a1966c2408655359412ba8a",
    "edge/bids-only/vcg/7/13": "9cfca144bf502fc4adc25143d33dbe8e967ea1a606493bd1dfff9b150f2216b5",
    "edge/asks-only/vcg/1/2": "c7e64796db278318174f6bb8497d8c315568b197d4ba902f1bc6d2bae110251e",
    "edge/asks-only/vcg/7/13": "318e1d0cbb85766a3c19b4b1e45ba95f08e8ead756e4e9bbfb8e08b93cdef9b9",
    "edge/one-pair/vcg/1/2": "0672bce7e7e9cf618cc766797394c4d9e590c9fafa3f271d02531e71f14e32c0",
    "edge/one-pair/vcg/7/13": "397863466f0202863433c84352f818811471bb5bbd44f0f066a7d8991ceb514a",
    "edge/no-cross/vcg/1/2": "443ad6c6f01a6a541816340861062a3df798818dee6d0c85e6ce8bf596c2b985",
    "edge/no-cross/vcg/7/13": "3033f6b43ff04986922f9cffdfaad71b0ffa67e7f6af9e6356a15381fdfb3acc",
    "edge/equal-cum/vcg/1/2": "27cd2da71c7f348aeb4737f9df65e21de77dcea13bd747a97e73061a027f6f9e",
    "edge/equal-cum/vcg/7/13": "434b5aea0864276b81c94aa632827ea0e3daa598b29d3b36f62568ae32f22c43",
    "edge/ties/vcg/1/2": "70f7c5c014e8d528bde49866e989e04d40be8b9ff62cfdac81f554601f5b295b",
    "edge/ties/vcg/7/13": "cc2773d88ecc5226b37ea4f2155691f000830dab77d30beac0475753471347e2",
    "edge/self-only/vcg/1/2": "07b776cf1fc2753ab2db2f4207abc4109e4170eb0783fa62fcbba7fa131009d5",
    "edge/self-only/vcg/7/13": "fc904c52a9407533841813faf79e019aa04c6591650e05884e7243bb7ce16df1",
    "edge/self-skip/vcg/1/2": "f1fcb2fdd28f80bef21395a5fa26f6ea2b2bddae45c71e4b39ea0a9816ef5ce7",
    "edge/self-skip/vcg/7/13": "02a5a60e221823124aac21887f80367d45d104a99c22f0f1d5ff01d3adbbeeb1",
    "edge/top-ask-stop/vcg/1/2": "c85c021b97fb0032fa579d128da6863d9075fc09579403d508052233c14f4937",
    "edge/top-ask-stop/vcg/7/13": "807ec65769a16a1824909e8600b5e0d8c82539407cd08b4c4587cc86b74d3c56",
    "edge/mcafee-p0/vcg/1/2": "d6e594c7a5a41d3e3e4a9b35b53ab1514c3b38a918b607e8da769b445898a04b",
    "edge/mcafee-p0/vcg/7/13": "cfcc19362f836400cf12a1d4af0cfcd682f6e3f2d28a4bfa426278f66c6bba3a",
    "edge/sdr-oversupply/vcg/1/2": "346f4fc8a85c066a838e825af1e7e1358fbd34d8dc87cd6ae9cf9de33227f0de",
    "edge/sdr-oversupply/vcg/7/13": "ae06ae6f4ad24573016655dad4983ac9205e85c4884814f98215178e49675ee8",
    "edge/zero-price/vcg/1/2": "982ee1c11703458c22858dca0f3dddefb7302215779efbf2eac6f07bd7cba3f4",
    "edge/zero-price/vcg/7/13": "a71866fc67671485c1b1f700f9ec12b2b429773eec5fff067966d124668a6a99",
    "edge/single-wh/vcg/1/2": "f72d09d5bebffb2385975a097638654221139cc323a09c5692b71b84fc55838e",
    "edge/single-wh/vcg/7/13": "62d387257ec0f451d9a92e4ef231777ca6ee1ad081686a3b9bf6162c46bcd8d4",
    "edge-net/vcg": "cc2773d88ecc5226b37ea4f2155691f000830dab77d30beac0475753471347e2",
    "wide-prices/vcg": "5eec3efed63c8744539e5f1b77a32844df6e13d45115460f4f40081f62ba91e3",
    "wide-prices-net/vcg": "d3bafab1bd682a78aa7370b68b1f4ac7979597f479517eb0c98056c331316817",
    "large/vcg": "96f2b80ad0238f92c96efb9afd827b9a2cdde30775dbef773a80ea853c6bbd81",
    "random/sdr/0/1": "22b74916e2cbf3caced4bb472182d022dca51a6bf2db562f10e4a36b36bae42c",
    "random-net/sdr/0/1": "ce1d57cabb5cc3089c9d3b179b13f7e9c07d12db0de687dab9ab5743420ecc67",
    "random/sdr/1/2": "ddb6df1a2d477c0181dc35d668107adc2052d421ae4ed7c5f5867a7164c03f61",
    "random-net/sdr/1/2": "c21bb81accf242c6afe289b3cd6b84ab8f6be36ba0e8432317e606c8da311d02",
    "random/sdr/1/1": "837494715eab8139e88a28893cb52db6ac10f9c543a6e434aa1aabbf6f391df2",
    "random-net/sdr/1/1": "0120617f61ba76aed10bad097af5e1d8e833e774839144e70fad020ae1825b48",
    "random/sdr/7/13": "ad978995f1c0731ada445c1895279d2e785793ebf02dd37d80400356e1b5e040",
    "random-net/sdr/7/13": "5bc7bc52cb8aa53e48295a95f47c04888fdfadff5489d91461a5c55c8a379939",
    "conflicts/sdr/1/2": "86518506f523c58d312ec424b9605b82a0e73cf19c3417c3a358db0f6aff799c",
    "conflicts-net/sdr/1/2": "0ed916842241c0fe91ead28d88270472a1aa704795c66b20558b8fa4f6565b8d",
    "one-owner/sdr/1/2": "8d527a11b4c3d22cb4a519f3a805b6de1f7539331ce414a1aad328f59c8b3e40",
    "conflicts/sdr/7/13": "6e522273df2740b9205ed55c122e59f9e7307fc563673792043a7e484018d3c9",
    "conflicts-net/sdr/7/13": "e41f2b2826455aa9867f9b86c85c4b3ce94a0f50e752fff8ff799ea9b6b59261",
    "one-owner/sdr/7/13": "02f13743a97ced3b1fbc3df6467eaa60cc3012bbcfdf38abc84a7cd4af57e6f6",
    "conflicts/sdr/18446744073709551629/36893488147419103233": "7707d6123a2c77adc0f791c8d0e882a5917cb2a960ea8785eeea5779d152302f",
    "conflicts-net/sdr/18446744073709551629/36893488147419103233": "954f7647599d4dc348c93966d8ec33e4177dcc975258e7c8a677a124713d8be7",
    "one-owner/sdr/18446744073709551629/36893488147419103233": "dc1cb1e800686479108204b042a79481729d11e5567e1da9a2ebf7ed99a1617a",
    "units/6/sdr": "a1af6ac67f7f5ba683e58a3f257304b8b62edd349a759369d5de480bffd76737",
    "units/7/sdr": "8e5fc729e48a9d59d1fd41d1a2e9fbd8f3bd499d2b36270cfa390d0d943143fb",
    "units/8/sdr": "aa9954f223731985716e3727f86b10672bb1e26f867d2f3f54bc1005264d953e",
    "huge/9/sdr": "bc1400f14c456018b61c355669d9d64cd1e21c2582ec6932c1dfea46b83397ed",
    "huge/10/sdr": "d22d30d5c7662e22f524b07997ba3b0056e32850d1ffeecd2016232f3a475857",
    "huge-k/sdr": "3b75b96391451377274aca825b3ff1f1cfb10efb6e566be5f3559ae5fd0cbf68",
    "huge-net/sdr": "0bd658926c5c159974d5d78b87a3228944ffe2026f703e0c803c56173ca684ff",
    "edge/empty/sdr/1/2": "babc56bea7b3b4a65a27f0801674ff82d3f685b145460e3530f396ed4a2b17a0",
    "edge/empty/sdr/7/13": "1b916e60b2a8326ff980c8b352911dcf8675dbb98dfbf2a738a0b728afa15143",
    "edge/bids-only/sdr/1/2": "9178f913316b19558dc36e862c186dd1528f5d5dffcc99497476540a85719975",
    "edge/bids-only/sdr/7/13": "a02d55acd1d430252c94612c001659ef8e7573c22e3a2b7492ccca52f50e0b01",
    "edge/asks-only/sdr/1/2": "1581f87fd792f2a1331679f664ab9d1f6a85ad07958e0d13f0065812d0b414a8",
    "edge/asks-only/sdr/7/13": "2ee88d49861be252b8f97e3a55acd6b6142a7887f9fa9d123c5ffd79518e6586",
    "edge/one-pair/sdr/1/2": "bee51c9906cde496bffd35006ddd9cffb2627183de9e0b2d7fcb7f5c03e562f0",
    "edge/one-pair/sdr/7/13": "6d7368210ff04a00285aa703c12aea7e3605644e452387b483c322f19bbe55bb",
    "edge/no-cross/sdr/1/2": "bee51c9906cde496bffd35006ddd9cffb2627183de9e0b2d7fcb7f5c03e562f0",
    "edge/no-cross/sdr/7/13": "6d7368210ff04a00285aa703c12aea7e3605644e452387b483c322f19bbe55bb",
    "edge/equal-cum/sdr/1/2": "0edb7e86fb7523707ae1aaebbdf5eda30a88b6cc3801f6485c455047a153c812",
    "edge/equal-cum/sdr/7/13": "c917815bcf376af3067337bce414e0abe55d4575650ed3a44bd4413f45d794c8",
    "edge/ties/sdr/1/2": "5c505a27def34a9271bab4bf5e63662a827f1a276f35f1fe9c8de9eb5e40f655",
    "edge/ties/sdr/7/13": "74100c121a951829b79abdffc06852aaa80d7ac25715aac8109867c0158dbd1b",
    "edge/self-only/sdr/1/2": "091e1de8973aba42c1dbeab6a75d13fd1a35f3da0f1d65ceac33cc43ce75e4b0",
    "edge/self-only/sdr/7/13": "007f9b67c2777f8f6ce8a2bceba16fb0ab6b1f641a8f7ce22ae0a99430ea1c53",
    "edge/self-skip/sdr/1/2": "21d871ff6905cc139ab117f11414ed523878d060aa4b4ee76e2bf78de01cc7cd",
    "edge/self-skip/sdr/7/13": "ac1bb3d4324aeb6fd8ce335f82be91033fd5a4bb3855534efa4bea20e237fa4d",
    "edge/top-ask-stop/sdr/1/2": "bc3733b2ba2dd52920ffa60c08db8b0ce6b8199cadea9202612fec08cd4e23eb",
    "edge/top-ask-stop/sdr/7/13": "f63128340bfc848231b24a8b715126985324aed4e2cdc464edad665859482060",
    "edge/mcafee-p0/sdr/1/2": "aca6202f99c8b493187bcc0a33918ffba2b1ec969db978c0a27636fd29fdb503",
    "edge/mcafee-p0/sdr/7/13": "24302da114e0995b6e3f371ac9905b5cba5c267b48676f38451e1672ba57c7b2",
    "edge/sdr-oversupply/sdr/1/2": "2a8786ea8eda14f4e7efe29501b9becff3174ef38aee511cf4633d03a4753eb6",
    "edge/sdr-oversupply/sdr/7/13": "5c76ea24b9c4685c4598cbf736cff1b9325288a34c3051c6bc6e9bde967e01fc",
    "edge/zero-price/sdr/1/2": "8ea068982f872f9540fe5f6aed0eb5aeda11576988cb44bdbcf8b9e37a059002",
    "edge/zero-price/sdr/7/13": "6f5dcf46bf1f8e3799f7dcf13216233d8cca16ff0513d25926628b068475cffb",
    "edge/single-wh/sdr/1/2": "2e869b0ee56b7f1bb297125a16ddab7805063f6a818e4c27e80ee978a82b0717",
    "edge/single-wh/sdr/7/13": "58cddb64fa88f18bd6ec4d33ecd227556fc346fa49bbb52ddd2c98d62459d8f4",
    "edge-net/sdr": "74100c121a951829b79abdffc06852aaa80d7ac25715aac8109867c0158dbd1b",
    "wide-prices/sdr": "dfed07c132dac2e80c4c9a8b605c85e82142c8ad10fc57dac80e7678b1cf2259",
    "wide-prices-net/sdr": "0da250fbb3393e6ed11e2aae134a40e96638b0af63fa7407907b6847e8e380bf",
    "large/sdr": "e7df2efcaf1b4201021389916f120653d62f8ceebfd4687b6f54a727b3b3b8ba",
    "large-net/uniform": "a44ea6a7ce350ba1abda406bfd175bda48defdd77896b690a7a93280c884853c",
    "large-net/mcafee": "b821a67edcc1feb98fa94e1918a9a645cadf6a6722354cd46d11b1e2066f3e94",
    "large-net/vcg": "e877016cafa346a7ad870d8460acdd16a90ffaae39f9a174a793cf42f5ffe670",
    "large-conflicts/discriminatory": "632b8fb1500dc1eb42f83995930fb19592c73779c3b882c48e2da15d866c79f5",
    "params-bounds/uniform": "e46a723658d765d8bdd030cbf3885fdca46a04aac4c803af87658f07de42faa4",
    "error/duplicate-id": "d4b6496e4891d964d4bee9c743a8f44abc0a6843a5941f15d50fff94e6bed0a8",
    "error/empty-id": "318b72a6af4d524b71538617c09dd5ad384e473a2acad5a757c9f38b746d7088",
    "error/bad-side": "6362c83ae8df00e7183d08ef99efb2151361425658fd0d93a3a9d86da99ed15c",
    "error/zero-qty": "2e36ad8a9232fafe56ed9e09b9dc4576d8190d82c05c4528c95e9f245a8d2f0e",
    "error/negative-price": "d2cea39a019c6c28d43c635f7ad328137e56274c49627bc7c4032f872c69581b",
    "error/float-qty": "ea2be7aa77ef905be3107b9cacedba729cf6622a714c16bdfb29273f4fd023be",
    "error/bool-price": "eecbbe1302c9f71534d3527c6668baec5a98ec3db39fce52d88975e4f77a8e58",
    "error/below-min": "bf034ea9f7a008fcc2ddac3dec5d33dfa94c77ac6b9b0f4dc31671bd054db864",
    "error/above-max": "c62eb75c9ef07576f503cb9a6e7549e67d4c589843e894b96a57fb9ea45a61b8",
    "error/empty-owner": "80c7e46bcd6b49a42538eba434d4e73143866300ef867cd1dc00a715c29ee0a3",
    "error/unknown-bus": "41f335393ce1927901657b4be725c0c1d35b6903897b3f355319086c104a5ee1",
    "error/int-bus": "97c92d9ed9589236c06b396f31043a1b12518e4fbfcf6d39585e9dafa9205b23",
    "error/not-an-order": "b57a9cff2e207a2458855c575fddd1724b701efe8a7f15fca2300bf5cd01d67e",
    "error/sdr-no-tariffs": "45c97ebaa7d621d48cf159d96cc6f1a98227aa37e1010135a7d854063e1cec60",
    "error/bad-mechanism": "a93d0f14b9f068e0843f70ce1248846e13d0f5e36e1900efdaae336cd4ff7c82",
    "error/bad-params": "b4422ebe65dbf6dc1c3752de36d6106aeac9c14a1155378be55d6a21f43c9a57",
    "error/bad-network": "a1d6b547a73c65dbb0fb44a46c36e2d6d588dbdfe6d27b2e6d7505b69e729403",
}


# Both paths of the implementation: int64 arrays where the values allow, Python ints
# everywhere ("python": the bound below which arrays are used set to 0). "windows": the
# array walk from windows of one order on and owners hashed for the whole book at once,
# so that window edges and the hand-overs to the Python walk fall everywhere. The
# 50,000-order cases and the ones with hundreds of rounds are slow that way (and the
# network ones in Python ints); the other network cases cover those paths.
SLOW_IN_PYTHON = ("large-net/", "wide-prices-net/")
SLOW_IN_WINDOWS = ("large", "wide-prices-net/")
PATHS = (
    [(name, "numpy") for name in CASES]
    + [(name, "python") for name in CASES if not name.startswith(SLOW_IN_PYTHON)]
    + [(name, "windows") for name in CASES if not name.startswith(SLOW_IN_WINDOWS)]
)


@pytest.mark.parametrize(("name", "path"), PATHS)
def test_golden(name: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if path == "python":
        monkeypatch.setattr(clearing, "_FITS", 0)
    if path == "windows":
        monkeypatch.setattr(clearing, "_WINDOW", 1)
        monkeypatch.setattr(clearing, "_LAZY", 0)
    assert GOLDEN[name] == fingerprint(CASES[name])


def test_both_paths_are_taken() -> None:
    """Books of ordinary values clear on arrays, books near 2^64 in Python ints."""
    orders, _, net, params = CASES["random-net/vcg/1/2"]()
    assert clearing._Book(orders, net, params).arrays is not None
    orders, _, net, params = CASES["huge/9/vcg"]()
    assert clearing._Book(orders, net, params).arrays is None


def test_network_cases_re_clear() -> None:
    """The network cases do bind: several rounds of curtailment and re-clearing."""
    orders, mech, net, params = CASES["random-net/uniform/1/2"]()
    assert clear(orders, mech, net, params).rounds >= 3
    orders, mech, net, params = CASES["large-net/vcg"]()
    assert clear(orders, mech, net, params).rounds >= 3


if __name__ == "__main__":
    print("GOLDEN: dict[str, str] = {")
    for case_name, case in CASES.items():
        print(f'    "{case_name}": "{fingerprint(case)}",')
    print("}")
