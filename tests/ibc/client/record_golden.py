"""Record golden light-client vectors from a running CometBFT localnet.

    .venv/bin/python -m localnet up --chain-id golden-1 --home /tmp/golden-net --port-offset 4100
    .venv/bin/python tests/ibc/client/record_golden.py http://127.0.0.1:30757 3 8 > out.json
    .venv/bin/python -m localnet down --home /tmp/golden-net

Writes {"chain_id", "blocks": {height: {"signed_header", "validators"}}} with
the ``signed_header`` object of ``/commit?height=H`` and the ``validators``
list of ``/validators?height=H`` (all pages), exactly as CometBFT served them.
"""

from __future__ import annotations

import json
import sys
import urllib.request


def _get(rpc: str, path: str) -> dict:
    with urllib.request.urlopen(f"{rpc}{path}", timeout=10) as resp:
        return json.load(resp)["result"]


def record(rpc: str, heights: list[int]) -> dict:
    blocks = {}
    chain_id = ""
    for h in heights:
        commit = _get(rpc, f"/commit?height={h}")
        validators: list[dict] = []
        page = 1
        while True:
            res = _get(rpc, f"/validators?height={h}&page={page}&per_page=100")
            validators += res["validators"]
            if len(validators) >= int(res["total"]):
                break
            page += 1
        chain_id = commit["signed_header"]["header"]["chain_id"]
        blocks[str(h)] = {"signed_header": commit["signed_header"], "validators": validators}
    return {"chain_id": chain_id, "blocks": blocks}


if __name__ == "__main__":
    rpc, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    json.dump(record(rpc, list(range(lo, hi + 1))), sys.stdout, indent=1)
    sys.stdout.write("\n")
