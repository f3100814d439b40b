"""Where one transaction's time goes inside one app process, per stage.

    python -m bench.tx_path [--txs 5000] [--block 500] [--profile orders]

For signed market orders and signed transfers, from the benchmark's own
genesis (funded, admitted accounts), times in one process with no CometBFT:
CheckTx of new transactions (signatures verified here, once), Recheck of
the same transactions after a commit that did not include them,
ProcessProposal (decoding), FinalizeBlock in blocks of ``--block`` and
Commit. Prints CPU microseconds of this process per transaction for each
stage as JSON (CPU time, so that other load on the machine matters less); with
``--profile WORKLOAD`` also a cProfile of its FinalizeBlock and CheckTx,
sorted by own time, on stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from app.abci.adapter import ABCIApplication
from app.chain import Chain
from app.kv import CacheKV, PinnedView
from app.modules.market import keeper as market_keeper
from app.pb.tendermint.abci import types_pb2 as abci
from app.store import Store
from bench import system

T0 = 1_800_000_000 * 10**9
CHAIN_ID = "mg-bench"


def _genesis(keys: list[Any]) -> dict[str, Any]:
    """A localnet-like app_state (utility, demo market) with the bench accounts admitted."""
    from app.crypto import PrivateKey
    from app.genesis import DEMO_MARKET_PARAMS, default_app_state

    state = default_app_state(
        balances={}, utility=PrivateKey(b"\x01" * 32).address, market_params=DEMO_MARKET_PARAMS
    )
    system.admit_accounts(state, keys)
    return state


def measure(workload: str, n: int, block: int, profile: bool) -> dict[str, float]:
    accounts = system.Accounts(max(1, n // 100))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "db"))
        chain = Chain(store)
        app = ABCIApplication(chain)
        chain.init_chain(CHAIN_ID, T0, json.dumps(_genesis(accounts.keys)).encode(), 1)
        chain.finalize_block(1, T0, [])
        chain.commit()
        state = market_keeper.get_state(chain.check_kv)
        params, _ = market_keeper.get_params(chain.check_kv)
        interval = market_keeper.first_open(state, params, T0 // 10**9) + 1
        source = system.TxSource(workload, CHAIN_ID, accounts, interval)
        txs, _ = source.make(n, system.Options(connections=1))
        requests = [abci.Request(check_tx=abci.RequestCheckTx(tx=tx)) for tx in txs]
        rechecks = [
            abci.Request(check_tx=abci.RequestCheckTx(tx=tx, type=abci.RECHECK)) for tx in txs
        ]
        prof = cProfile.Profile() if profile else None

        def timed(fn: Any) -> float:
            if prof:
                prof.enable()
            start = time.process_time()
            fn()
            seconds = time.process_time() - start
            if prof:
                prof.disable()
            return seconds

        out: dict[str, float] = {}
        codes: list[int] = []
        out["check_tx"] = timed(lambda: codes.extend(app.handle(r).check_tx.code for r in requests))
        if any(codes):
            raise RuntimeError(f"{sum(1 for c in codes if c)} of {n} txs rejected by CheckTx")
        # What CometBFT does after a commit that left them in the mempool.
        chain.check_kv = CacheKV(PinnedView(store))
        out["recheck_tx"] = timed(lambda: [app.handle(r) for r in rechecks])
        blocks = [txs[i : i + block] for i in range(0, n, block)]
        out["process_proposal"] = timed(
            lambda: [
                app.handle(abci.Request(process_proposal=abci.RequestProcessProposal(txs=b)))
                for b in blocks
            ]
        )
        finalize = commit = 0.0
        failed = 0
        for h, b in enumerate(blocks, start=2):
            req = abci.Request(finalize_block=abci.RequestFinalizeBlock(height=h, txs=b))
            req.finalize_block.time.seconds = T0 // 10**9 + h
            resp: list[Any] = []
            finalize += timed(lambda req=req, resp=resp: resp.append(app.handle(req)))
            failed += sum(1 for r in resp[0].finalize_block.tx_results if r.code)
            commit += timed(lambda: app.handle(abci.Request(commit=abci.RequestCommit())))
        if failed:
            raise RuntimeError(f"{failed} of {n} txs failed in FinalizeBlock")
        out["finalize_block"] = finalize
        out["commit"] = commit
        store.close()
        if prof:
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    us = {f"{k}_us": round(v / n * 1e6, 1) for k, v in out.items()}
    us["total_us"] = round(sum(out.values()) / n * 1e6, 1)
    return us


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--txs", type=int, default=5000)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--profile", choices=["orders", "transfers"])
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"txs": args.txs, "block": args.block}
    for workload in ("orders", "transfers"):
        result[workload] = measure(workload, args.txs, args.block, args.profile == workload)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
