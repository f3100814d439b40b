"""CheckTx throughput of one app process next to PyNaCl's raw ed25519 verify rate.

    .venv/bin/python bench/checktx.py [--txs 20000] [--accounts 200]

Both figures are taken in the same run on the same core, so their ratio is
what to quote. Transactions are signed MsgSend, pre-signed before timing,
from many accounts with consecutive sequences, checked against a fresh
check-state as CometBFT's mempool would deliver them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nacl.signing

from app.chain import Chain
from app.crypto import PrivateKey
from app.genesis import default_app_state
from app.store import Store
from tests.support.txs import send_tx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=20000)
    parser.add_argument("--accounts", type=int, default=200)
    args = parser.parse_args()

    keys = [PrivateKey(i.to_bytes(32, "big")) for i in range(1, args.accounts + 1)]
    state = default_app_state(balances={k.address: 10**12 for k in keys})
    per = args.txs // len(keys)
    txs = [
        send_tx(k, keys[0].address, 1, sequence=s, chain_id="bench")
        for s in range(per)
        for k in keys
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "db"))
        chain = Chain(store)
        chain.init_chain("bench", 0, json.dumps(state).encode(), 1)
        chain.finalize_block(1, 0, [])
        chain.commit()
        start = time.perf_counter()
        codes = [chain.check_tx(tx).code for tx in txs]
        checktx_s = time.perf_counter() - start
        store.close()
    assert not any(codes), f"{sum(1 for c in codes if c)} txs rejected"

    sk = nacl.signing.SigningKey(bytes(32))
    vk = sk.verify_key
    signed = [sk.sign(i.to_bytes(8, "big") * 20) for i in range(len(txs))]
    start = time.perf_counter()
    for sm in signed:
        vk.verify(sm)
    verify_s = time.perf_counter() - start

    checktx_rate = len(txs) / checktx_s
    verify_rate = len(signed) / verify_s
    print(
        json.dumps(
            {
                "txs": len(txs),
                "checktx_per_s": round(checktx_rate),
                "ed25519_verify_per_s": round(verify_rate),
                "ratio_checktx_to_verify": round(checktx_rate / verify_rate, 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
