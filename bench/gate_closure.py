"""Benchmark of the block that closes a gate: FinalizeBlock clearing an interval
with N open orders and applying the result to state (orders, trades, escrow
payouts), next to ``clearing.clear`` alone on the same book.

    .venv/bin/python bench/gate_closure.py --orders 10000

Genesis approves N/2 participants on a 100-bus network (no line limits, so
the figures are about state, not re-clearing); each places two orders, one
buy and one sell, in blocks of 1000 transactions. Prints JSON: the time of
the gate-closure FinalizeBlock, of its Commit, of the clearing function on
the chain's own snapshot, and the ratio of state work to clearing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.chain import Chain
from app.crypto import PrivateKey
from app.kv import StoreView
from app.modules.market import clearing
from app.modules.market import keeper as market_keeper
from app.modules.registry import keeper as registry_keeper
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.store import Store
from app.tx import codec

NS = 1_000_000_000
START = 1_700_000_400  # an interval boundary for 900 s intervals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--mechanism", default="uniform")
    args = parser.parse_args(argv)
    rng = random.Random(3)
    n_keys = max(1, args.orders // 2)
    keys = [PrivateKey(i.to_bytes(32, "big")) for i in range(1, n_keys + 1)]
    utility = PrivateKey(b"\xee" * 32)
    buses = [{"id": "pcc"}] + [{"id": f"b{i}", "parent": "pcc"} for i in range(99)]
    state = {
        "bank": {
            "params": {"denom": "ugrid", "min_fee": "0"},
            "balances": [
                {"address": k.address, "coins": [{"denom": "ugrid", "amount": "1000000000"}]}
                for k in keys
            ],
        },
        "registry": {
            "authorities": {"utility": utility.address},
            "network": {"buses": buses},
            "participants": [
                {"address": k.address, "role": "prosumer", "bus": f"b{i % 99}"}
                for i, k in enumerate(keys)
            ],
        },
        "market": {
            "params": {"mechanism": args.mechanism, "max_open_orders": 4},
        },
    }
    with tempfile.TemporaryDirectory() as home:
        store = Store(str(Path(home) / "app.db"), sync=False)
        chain = Chain(store)
        t = START * NS
        chain.init_chain("bench-1", t, json.dumps(state).encode(), 1)
        chain.finalize_block(1, t, [])
        chain.commit()
        interval = market_keeper.first_open(
            market_keeper.get_state(chain.block_kv),
            market_keeper.get_params(chain.block_kv)[0],
            START,
        )
        txs = []
        for k in keys:
            body = tx_pb2.TxBody(chain_id="bench-1", signer=k.address, sequence=0)
            for side in (market_pb2.SIDE_BUY, market_pb2.SIDE_SELL):
                msg = body.messages.add().place_order
                msg.side = side
                msg.interval = interval
                msg.quantity_wh = rng.randint(100, 5000)
                msg.price = rng.randint(80_000, 250_000)
            txs.append(codec.sign_tx(body, k))
        height = 1
        for i in range(0, len(txs), 1000):
            height += 1
            t += NS
            result = chain.finalize_block(height, t, txs[i : i + 1000])
            assert all(r.code == 0 for r in result.tx_results), result.tx_results[0].log
            chain.commit()
        view = StoreView(store)
        orders = list(market_keeper.orders_of_interval(view, interval))
        record = market_keeper.get_interval(view, interval)
        snapshot = [market_keeper.clearing_order(o) for o in orders]
        network = registry_keeper.get_network(view)
        start = time.perf_counter()
        cleared = clearing.clear(
            snapshot,
            clearing.Mechanism(args.mechanism),
            network,
            market_keeper.clearing_params(record),
        )
        clear_s = time.perf_counter() - start
        gate = record.gate_closure_time * NS
        height += 1
        start = time.perf_counter()
        chain.finalize_block(height, gate, [])
        finalize_s = time.perf_counter() - start
        start = time.perf_counter()
        chain.commit()
        commit_s = time.perf_counter() - start
        after = market_keeper.get_interval(StoreView(store), interval)
        assert after.status == market_pb2.INTERVAL_STATUS_CLEARED
        assert after.trade_count == len(cleared.trades)
        store.close()
    print(
        json.dumps(
            {
                "orders": len(orders),
                "trades": len(cleared.trades),
                "mechanism": args.mechanism,
                "clear_function_s": round(clear_s, 4),
                "gate_closure_finalize_block_s": round(finalize_s, 4),
                "commit_s": round(commit_s, 4),
                "finalize_over_clear": round(finalize_s / clear_s, 1),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
