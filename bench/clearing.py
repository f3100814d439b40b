"""Benchmark of market clearing (DESIGN.md section 7: "market clearing ... benchmarked
on its own as a function of the number of orders").

For each mechanism and each order count, times ``clearing.clear`` (the very
function FinalizeBlock runs at gate closure) on a synthetic order book, with
and without a radial network, and prints one JSON document: the timings,
the rounds the network needed, and the growth exponent of each series
(the least-squares slope of log time against log orders). With
``--repeat N`` each point is the fastest of N runs (the machine's noise
only ever adds time).

    .venv/bin/python bench/clearing.py --orders 10000,100000,1000000 --buses 100

Books are drawn from a seeded generator, so every run clears the same
books: half buys, half sells, quantities 100..5000 Wh, prices 80..300 per
kWh, owners from a pool of one account per 4 orders, buses uniform. The
network is a random radial tree of ``--buses`` buses; each line's capacity
is ``--capacity-factor`` times the energy that would be offered in its
subtree if every bus offered the same, so some lines bind and the auction
re-clears (factor 0: no limits at all, only the flow check runs).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.modules.market.clearing import MECHANISMS, Mechanism, Order, Params, clear
from app.modules.market.network import Bus, Network


def book(n: int, buses: list[str] | None, seed: int) -> list[Order]:
    rng = random.Random(seed)
    owners = [f"acct{i}" for i in range(max(1, n // 4))]
    orders = []
    for i in range(n):
        orders.append(
            Order(
                id=str(i),
                side="buy" if rng.random() < 0.5 else "sell",
                quantity_wh=rng.randint(100, 5000),
                price=rng.randint(80, 300),
                bus=rng.choice(buses) if buses else None,
                owner=rng.choice(owners),
            )
        )
    return orders


def network(size: int, orders: int, factor: float, seed: int) -> Network:
    rng = random.Random(seed)
    parents: list[int | None] = [None] + [rng.randrange(i) for i in range(1, size)]
    subtree = [1] * size
    for i in range(size - 1, 0, -1):
        parent = parents[i]
        assert parent is not None
        subtree[parent] += subtree[i]
    per_bus = orders / size * 2550 / 2  # mean quantity, one side
    buses = []
    for i in range(size):
        parent = parents[i]
        cap = None if factor == 0 or parent is None else int(subtree[i] * per_bus * factor)
        buses.append(Bus(f"bus{i}", None if parent is None else f"bus{parent}", cap))
    return Network(tuple(buses))


def timed(
    orders: list[Order], mech: Mechanism, net: Network | None, params: Params, repeat: int = 1
) -> tuple[float, int]:
    """Wall-clock seconds of ``clear`` (the fastest of ``repeat`` runs) and its rounds."""
    best = math.inf
    rounds = 0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = clear(orders, mech, net, params)
        best = min(best, time.perf_counter() - start)
        rounds = result.rounds
        del result
    return best, rounds


def slope(points: list[tuple[int, float]]) -> float | None:
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    num = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    den = sum((x - mx) ** 2 for x in xs)
    return round(num / den, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--orders", default="1000,10000,100000", help="comma-separated order counts"
    )
    parser.add_argument("--mechanisms", default=",".join(MECHANISMS))
    parser.add_argument("--buses", type=int, default=100, help="network size (0: no network runs)")
    parser.add_argument("--capacity-factor", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per point; the fastest is reported"
    )
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.orders.split(",")]
    params = Params(feed_in_tariff=80, retail_tariff=300)
    rows = []
    series: dict[str, list[tuple[int, float]]] = {}
    for n in counts:
        plain = book(n, None, args.seed)
        names = [f"bus{i}" for i in range(args.buses)]
        with_net = book(n, names, args.seed) if args.buses else []
        net = network(args.buses, n, args.capacity_factor, args.seed) if args.buses else None
        for name in args.mechanisms.split(","):
            mech = Mechanism(name)
            for label, orders, grid in (
                ("no network", plain, None),
                (f"{args.buses} buses", with_net, net),
            ):
                if grid is None and label != "no network":
                    continue
                seconds, rounds = timed(orders, mech, grid, params, args.repeat)
                rows.append(
                    {
                        "mechanism": name,
                        "orders": n,
                        "network": label,
                        "seconds": round(seconds, 4),
                        "rounds": rounds,
                    }
                )
                series.setdefault(f"{name} / {label}", []).append((n, seconds))
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(
        json.dumps(
            {"runs": rows, "growth_exponent": {k: slope(v) for k, v in series.items()}}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
