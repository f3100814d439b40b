"""Benchmark of the authenticated store's commit (DESIGN.md section 7: "store
commit is benchmarked on its own as a function of the number of keys").

Builds a store holding ``--existing`` keys (in batches of ``--batch``), then
measures, ``--runs`` times, staging ``--changed`` writes (the app hash
computation FinalizeBlock does) and committing them (ABCI Commit), and
prints the medians and every run as JSON.

    .venv/bin/python bench/store_commit.py --existing 1000000 --changed 10000

Keys and values are derived from counters with SHA-256, so every run of the
benchmark writes the same data.  Timings are wall-clock and belong to the
benchmark only; the store itself never reads a clock.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.store import Store


def key_of(i: int) -> bytes:
    """A key shaped like the app's: a module prefix and a 20-byte address."""
    return b"bank/balances/" + hashlib.sha256(b"k" + i.to_bytes(8, "big")).digest()[:20]


def value_of(i: int, generation: int) -> bytes:
    return hashlib.sha256(b"v" + i.to_bytes(8, "big") + generation.to_bytes(4, "big")).digest()


def changes_for(run: int, existing: int, changed: int, mix: str) -> dict[bytes, bytes | None]:
    """The writes of one measured run.

    ``update`` rewrites existing keys; ``mixed`` is half updates, a quarter
    new keys and a quarter deletes (deleted keys are not rewritten later).
    """
    writes: dict[bytes, bytes | None] = {}
    generation = run + 1
    # A stride coprime with `existing` spreads the touched keys over the
    # key space without randomness; each run starts elsewhere.
    stride = 7919
    base = run * changed
    if mix == "update":
        for j in range(changed):
            i = ((base + j) * stride) % existing
            writes[key_of(i)] = value_of(i, generation)
        return writes
    updates, inserts = changed // 2, changed // 4
    deletes = changed - updates - inserts
    for j in range(updates):
        i = ((base + j) * stride) % existing
        writes[key_of(i)] = value_of(i, generation)
    for j in range(inserts):
        i = existing + run * inserts + j
        writes[key_of(i)] = value_of(i, generation)
    for j in range(deletes):
        i = ((base + updates + j) * stride) % existing
        writes.setdefault(key_of(i), None)
    return writes


def du(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).iterdir() if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--existing", type=int, default=1_000_000, help="keys in the store")
    parser.add_argument(
        "--changed",
        default="10000",
        help="writes per measured commit; a comma-separated list measures each in turn",
    )
    parser.add_argument("--runs", type=int, default=5, help="measured commits")
    parser.add_argument("--batch", type=int, default=100_000, help="writes per build commit")
    parser.add_argument("--mix", choices=["update", "mixed"], default="update")
    parser.add_argument("--keep-recent", type=int, default=100, help="Store keep_recent")
    parser.add_argument("--page-cache-mb", type=int, default=64, help="Store page_cache_bytes")
    parser.add_argument("--dir", help="store directory (default: a temporary one, removed)")
    args = parser.parse_args()

    workdir = args.dir or tempfile.mkdtemp(prefix="store-bench-")
    path = os.path.join(workdir, "store")
    shutil.rmtree(path, ignore_errors=True)
    store = Store(path, keep_recent=args.keep_recent, page_cache_bytes=args.page_cache_mb << 20)
    try:
        t0 = time.perf_counter()
        for lo in range(0, args.existing, args.batch):
            hi = min(lo + args.batch, args.existing)
            store.stage({key_of(i): value_of(i, 0) for i in range(lo, hi)})
            store.commit()
        build_s = time.perf_counter() - t0
        print(
            f"built {args.existing} keys in {build_s:.1f} s ({store.version} commits)",
            file=sys.stderr,
        )

        results = []
        offset = 0
        for changed in [int(x) for x in args.changed.split(",")]:
            stage_s: list[float] = []
            commit_s: list[float] = []
            for run in range(offset, offset + args.runs):
                writes = changes_for(run, args.existing, changed, args.mix)
                t0 = time.perf_counter()
                store.stage(writes)
                t1 = time.perf_counter()
                store.commit()
                t2 = time.perf_counter()
                stage_s.append(t1 - t0)
                commit_s.append(t2 - t1)
                print(
                    f"{changed} changed, run {run}: stage {t1 - t0:.3f} s, commit {t2 - t1:.3f} s",
                    file=sys.stderr,
                )
            offset += args.runs
            totals = [a + b for a, b in zip(stage_s, commit_s, strict=True)]
            results.append(
                {
                    "benchmark": "store_commit",
                    "existing_keys": args.existing,
                    "changed_keys": changed,
                    "mix": args.mix,
                    "runs": args.runs,
                    "keep_recent": args.keep_recent,
                    "page_cache_mb": args.page_cache_mb,
                    "build_s": round(build_s, 3),
                    "stage_s_median": round(statistics.median(stage_s), 4),
                    "commit_s_median": round(statistics.median(commit_s), 4),
                    "total_s_median": round(statistics.median(totals), 4),
                    "stage_s": [round(x, 4) for x in stage_s],
                    "commit_s": [round(x, 4) for x in commit_s],
                    "db_bytes": du(path),
                    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                    "python": sys.version.split()[0],
                }
            )
        result = results[0] if len(results) == 1 else results
        print(json.dumps(result, indent=2))
    finally:
        store.close()
        if not args.dir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
