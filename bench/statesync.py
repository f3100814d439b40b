"""How long a new node takes to join a running network by state sync, and by
replaying blocks from genesis (issue 8: "measure how long joining takes at
10,000 and 1,000,000 accounts").

    .venv/bin/python bench/statesync.py --accounts 10000 [--replay] [--history 100]
        [--validators 1] [--block-time 1] [--port-offset 4800] [--keep DIR]

1. The state: a localnet genesis (authorities, demo market, funded keys)
   plus N accounts funded by the bank keeper's own ``mint`` (the code the
   bank genesis runs, minus parsing N bech32 addresses, which costs 130 us
   each in Python), run as block 1 in process and written out by ``mgridd
   export``'s code as a genesis ``store`` section with initial height 2. Every
   validator's InitChain loads it verbatim and checks its app hash: the
   fastest honest way to a chain whose state holds N funded accounts (a
   million entries of bank genesis JSON would spend minutes in bech32 on
   every node, which is not what is measured here).
2. A localnet of ``--validators`` nodes (block time ``--block-time``) that
   takes a snapshot every ``--snapshot-interval`` blocks runs until height
   ``--history`` and has a snapshot.
3. A node is added by state sync (localnet/join.py): the time from starting
   it until its /status stops saying ``catching_up`` (CometBFT's own verdict:
   block sync is done and it follows consensus; ``synced_s``) and until its
   height is at most one block behind the validators' (``join_s``: a node
   fresh out of block sync still chases a block or two through consensus
   gossip), and the app's own restore time from its log.
4. With ``--replay`` (default at N <= 100,000), another node is added
   without state sync and replays every block from genesis: the same time.

Prints one JSON document. Timings are wall-clock on a shared machine: the
ratio of the two joins at one N is the figure that holds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import coins
from app.chain import Chain
from app.context import Context, Mode
from app.export import export, parse_time
from app.modules.bank import keeper as bank_keeper
from app.store import Store
from clients.rpc import RPC, RPCError
from localnet import network as net
from localnet.create import create_network
from localnet.join import add_node
from localnet.layout import Network, Node

CHAIN_ID = "mg-statesync-bench"
AMOUNT = 1_000_000


def log(msg: str) -> None:
    print(f"[statesync] {msg}", file=sys.stderr, flush=True)


def account(i: int) -> bytes:
    """A 20-byte address derived from a counter (nobody holds its key: it is only funded)."""
    return hashlib.sha256(b"statesync-bench" + i.to_bytes(8, "big")).digest()[:20]


def build_genesis(network: Network, accounts: int, work: Path) -> dict[str, Any]:
    """Rewrite every node's genesis.json: the localnet's state plus ``accounts``
    funded accounts, as an exported store section (see the module docstring)."""
    node0 = network.node_home(network.nodes[0])
    original = json.loads((node0 / "config" / "genesis.json").read_text())
    home = work / "builder"
    (home / "config").mkdir(parents=True)
    (home / "config" / "genesis.json").write_text(json.dumps(original))
    store = Store(str(home / "data" / "app.db"), sync=False)
    chain = Chain(store)
    t = parse_time(original["genesis_time"])
    started = time.perf_counter()
    chain.init_chain(CHAIN_ID, t, json.dumps(original["app_state"]).encode(), 1)
    # CHECK mode: the keeper's events (a bech32 address each) are not built.
    ctx = Context(chain.block_kv, 0, t, CHAIN_ID, Mode.CHECK)
    denom = bank_keeper.get_params(chain.block_kv).denom
    coin = coins.Coin(denom, AMOUNT)
    for i in range(accounts):
        bank_keeper.mint(ctx, account(i), coin)
    minted = time.perf_counter()
    chain.finalize_block(1, t, [])
    chain.commit()
    entries = sum(1 for _ in store.iterate())
    store.close()
    committed = time.perf_counter()
    out = work / "genesis.json"
    export(home, out=out, chain_id=CHAIN_ID)
    exported = time.perf_counter()
    for node in network.nodes:
        shutil.copyfile(out, network.node_home(node) / "config" / "genesis.json")
    shutil.rmtree(home)
    return {
        "entries": entries,
        "genesis_bytes": out.stat().st_size,
        "mint_s": round(minted - started, 2),
        "block1_s": round(committed - minted, 2),
        "export_s": round(exported - committed, 2),
    }


def height(node: Node) -> int | None:
    try:
        return RPC(node.rpc_url, timeout=3.0).latest_height()
    except (RPCError, KeyError, ValueError):
        return None


def wait_caught_up(
    network: Network, node: Node, started: float, timeout: float
) -> tuple[float, float, dict[str, Any]]:
    """Seconds from ``started`` until ``node`` stops catching up (CometBFT's
    own verdict: it left block sync for consensus) and until it is no more
    than a block behind the highest validator, with its last sync_info."""
    rpc = RPC(node.rpc_url, timeout=3.0)
    validators = [n for n in network.nodes if n.validator]
    deadline = time.monotonic() + timeout
    synced: float | None = None
    while True:
        try:
            sync = rpc.status()["sync_info"]
            top = max(h for v in validators if (h := height(v)) is not None)
            if not sync["catching_up"]:
                now = time.perf_counter()
                if synced is None:
                    synced = now - started
                if int(sync["latest_block_height"]) >= top - 1:
                    return synced, now - started, sync
        except (RPCError, KeyError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{node.moniker} did not catch up in {timeout:.0f} s; "
                f"read {network.log_path(node, 'cometbft')}"
            )
        time.sleep(0.25)


def snapshot_taken(network: Network) -> dict[str, Any] | None:
    """The newest snapshot validator 0 finished: height, chunks, bytes, seconds."""
    text = network.log_path(network.nodes[0], "app").read_text(errors="replace")
    found = re.findall(
        r"snapshot at height (\d+): (\d+) entries in (\d+) chunks, (\d+) bytes, hash \w+, "
        r"in ([\d.]+) s",
        text,
    )
    if not found:
        return None
    h, entries, chunks, size, seconds = found[-1]
    return {
        "height": int(h),
        "entries": int(entries),
        "chunks": int(chunks),
        "bytes": int(size),
        "take_s": float(seconds),
    }


def join(network: Network, state_sync: bool, timeout: float) -> dict[str, Any]:
    at = max(h for v in network.nodes if v.validator and (h := height(v)) is not None)
    started = time.perf_counter()
    node = add_node(network, state_sync=state_sync, log=log, timeout=timeout)
    synced, level, sync = wait_caught_up(network, node, started, timeout)
    result: dict[str, Any] = {
        "synced_s": round(synced, 2),
        "join_s": round(level, 2),
        "height_at_start": at,
        "caught_up_at": int(sync["latest_block_height"]),
        "earliest_block": int(sync["earliest_block_height"]),
    }
    app_log = network.log_path(node, "app").read_text(errors="replace")
    restored = re.search(r"restored snapshot at height (\d+): .* in ([\d.]+) s", app_log)
    if restored:
        result["snapshot_height"] = int(restored.group(1))
        result["restore_s"] = float(restored.group(2))
    net.stop_node(network, node.index)  # leave the machine to the next join
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--validators", type=int, default=1)
    p.add_argument("--block-time", type=float, default=1.0)
    p.add_argument("--snapshot-interval", type=int, default=10)
    p.add_argument("--history", type=int, default=100, help="blocks before the joins")
    p.add_argument("--port-offset", type=int, default=4800)
    replay = p.add_mutually_exclusive_group()
    replay.add_argument("--replay", dest="replay", action="store_true", default=None)
    replay.add_argument("--no-replay", dest="replay", action="store_false")
    p.add_argument("--keep", type=Path, help="leave the localnet home here (stopped)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds for each wait")
    args = p.parse_args(argv)
    do_replay = args.replay if args.replay is not None else args.accounts <= 100_000

    work = Path(tempfile.mkdtemp(prefix="mgrid-statesync-bench-"))
    home = (args.keep or work / "net").resolve()
    out: dict[str, Any] = {
        "accounts": args.accounts,
        "validators": args.validators,
        "block_time_s": args.block_time,
        "snapshot_interval": args.snapshot_interval,
    }
    network = None
    try:
        log(f"creating a {args.validators}-validator localnet in {home}")
        network = create_network(
            home,
            chain_id=CHAIN_ID,
            validators=args.validators,
            port_offset=args.port_offset,
            block_time=args.block_time,
            app="mgrid",
            snapshot_interval=args.snapshot_interval,
        )
        log(f"building the genesis with {args.accounts:,} funded accounts")
        started = time.perf_counter()
        out["genesis"] = build_genesis(network, args.accounts, work)
        out["genesis"]["build_s"] = round(time.perf_counter() - started, 2)
        log(f"genesis: {out['genesis']}")
        started = time.perf_counter()
        network, _ = net.up(net.UpOptions(home=home, timeout=args.timeout), log=log)
        out["chain_start_s"] = round(time.perf_counter() - started, 2)
        log(f"chain started in {out['chain_start_s']} s; running to height {args.history}")
        deadline = time.monotonic() + args.timeout
        while True:
            snap = snapshot_taken(network)
            top = height(network.nodes[0]) or 0
            if top >= args.history and snap and top >= snap["height"] + 2:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"no snapshot by height {top} within {args.timeout:.0f} s")
            time.sleep(1.0)
        out["snapshot"] = snap
        log(f"snapshot: {snap}")
        log("joining by state sync")
        out["state_sync"] = join(network, True, args.timeout)
        log(f"state sync: {out['state_sync']}")
        if do_replay:
            log("joining by replaying blocks from genesis")
            out["replay"] = join(network, False, args.timeout)
            log(f"replay: {out['replay']}")
            out["replay_over_state_sync"] = {
                key: round(out["replay"][key] / out["state_sync"][key], 2)
                for key in ("synced_s", "join_s")
            }
            # Replay time grows with the chain's history, state sync's does
            # not: the history at which both take as long, at this replay rate.
            replayed = out["replay"]["caught_up_at"] - out["replay"]["earliest_block"] + 1
            rate = replayed / out["replay"]["synced_s"]
            out["replay_blocks_per_s"] = round(rate, 1)
            out["break_even_history_blocks"] = round(rate * out["state_sync"]["synced_s"])
    finally:
        if network is not None:
            network.reload()
            net.down(network)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
