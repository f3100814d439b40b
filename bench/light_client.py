"""Median time of one ICS-07 ``verify_header`` for 4 and 100 validators.

    .venv/bin/python -m bench.light_client [--runs 20]

Headers are built and signed by ``tests.support.cometbft`` before timing
(all validators sign, equal power); each case verifies the same update
``--runs`` times. "adjacent" checks the header's set only (> 2/3 of it);
"skipping" (trusted height 10 heights below) also checks the trusted set's
signatures (> 1/3), so it verifies about 1/3 more signatures. Signature
checking stops once enough power is tallied, as CometBFT's light client does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.client.tendermint import verify_header
from tests.support.cometbft import TestValidators, make_header

S = 1_000_000_000
T0 = 1_700_000_000 * S
BLOCK = 5 * S
TRUSTED_HEIGHT = 100


def _case(n: int, gap: int) -> tuple[ibc_pb2.ClientState, ibc_pb2.ConsensusState, ibc_pb2.Header]:
    vals = TestValidators(n, seed=b"bench")
    height = TRUSTED_HEIGHT + gap
    header = make_header(
        "bench-1", height, T0 + height * BLOCK, b"\x01" * 32, vals, TRUSTED_HEIGHT, vals
    )
    cs = ibc_pb2.ClientState(
        chain_id="bench-1",
        trust_level={"numerator": 1, "denominator": 3},
        trusting_period_ns=14 * 86_400 * S,
        max_clock_drift_ns=10 * S,
        latest_height=TRUSTED_HEIGHT,
    )
    trusted = ibc_pb2.ConsensusState(
        timestamp_ns=T0 + TRUSTED_HEIGHT * BLOCK,
        root=b"\x00" * 32,
        next_validators_hash=vals.hash(),
    )
    return cs, trusted, header


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    results = {}
    for n in (4, 100):
        for name, gap in (("adjacent", 1), ("skipping", 10)):
            cs, trusted, header = _case(n, gap)
            now = T0 + (TRUSTED_HEIGHT + gap + 1) * BLOCK
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                verify_header(cs, trusted, header, now)
                times.append(time.perf_counter() - start)
            results[f"{n}_validators_{name}_ms"] = round(statistics.median(times) * 1000, 3)
    print(json.dumps({"runs": args.runs, **results}, indent=2))


if __name__ == "__main__":
    main()
