"""IBC relaying on two real localnets: packet round trip and relayed packets per second.

    .venv/bin/python -m bench.ibc_relay [--block-time 0.5] [--round-trips 5] [--burst 128]
    .venv/bin/python -m bench.ibc_relay --config .localnet/relayer/config.toml \\
        --keyring-dir .localnet/mg-1/keyring            (nodes already running and linked)

Without ``--config`` it starts two 1-validator localnets of its own (mg-b1 and
mg-b2, ports offset by 3700 and 3800, under a temporary directory), links
them and stops them at the end. The relayer runs in this process (one
thread, ``Relayer.run`` as ``mgrid-relayer start`` runs it, polling every
0.1 s) unless ``--external-relayer`` says one is already running.

- Round trip: one ICS-20 transfer at a time from chain a's faucet, from the
  block that holds MsgTransfer to the block of chain a whose state no longer
  holds the packet commitment (acknowledged): in blocks of chain a and in
  seconds of wall time (send broadcast to acknowledgement seen).
- Throughput: a burst of transfers (64 per transaction, the chain's message
  limit), then the time until every one is acknowledged: relayed packets per
  second counts each packet once (its receipt and its acknowledgement are
  both needed).

Benchmarks are not tests: nothing here asserts on timings. The result is
printed as a table and, with ``--json FILE``, written as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.coins import Coin
from app.crypto import PrivateKey
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from clients.mgrid import tx as txmod
from clients.mgrid.chain import ChainClient, parse_broadcast
from clients.mgrid.keyring import Keyring
from clients.rpc import RPC
from ibc.relayer import cli as relayer_cli
from ibc.relayer import link as linkmod
from ibc.relayer.config import load_config
from ibc.relayer.relay import Relayer
from ibc.relayer.state import StateFile
from localnet import ibc as ibc_localnet

NS = 1_000_000_000
CHAINS = (("mg-b1", 3700), ("mg-b2", 3800))


class Sender:
    """Signs MsgTransfer batches from one funded key of chain a."""

    def __init__(self, rpc: RPC, chain_id: str, key: PrivateKey):
        self.rpc, self.chain_id, self.key = rpc, chain_id, key
        self.client = ChainClient(rpc)
        self.sequence = self.client.account(key.address).sequence
        self.fee = self.client.bank_params().min_fee

    def send(self, channel: str, receiver: str, count: int, amount: int = 1) -> int:
        """``count`` transfers in one transaction; returns its height."""
        block_time = _block_time_ns(self.rpc)
        msgs = [
            tx_pb2.Msg(
                transfer=transfer_pb2.MsgTransfer(
                    source_port="transfer",
                    source_channel=channel,
                    token=coin_pb2.Coin(denom=self.fee.denom, amount=str(amount)),
                    receiver=receiver,
                    timeout_timestamp=block_time + 3600 * NS,
                )
            )
            for _ in range(count)
        ]
        params = txmod.TxParams(self.chain_id, self.sequence, Coin(self.fee.denom, self.fee.amount))
        signed = txmod.sign(txmod.build_body(self.key.address, msgs, params), self.key)
        result = parse_broadcast(
            "commit", self.rpc.broadcast_tx_commit(signed.raw), signed.hash_hex
        )
        if not result.ok:
            raise SystemExit(f"transfer refused: {result.codespace}/{result.code} {result.log}")
        self.sequence += 1
        return result.height


def _block_time_ns(rpc: RPC) -> int:
    from ibc.client.hashing import timestamp_to_ns
    from ibc.client.rpc import parse_time

    return int(timestamp_to_ns(parse_time(rpc.status()["sync_info"]["latest_block_time"])))


def _pending(client: ChainClient, channel: str) -> int:
    req = ibc_pb2.QueryPacketCommitmentsRequest(port_id="transfer", channel_id=channel)
    return len(client.query(ibc_pb2.DESCRIPTOR, "PacketCommitments", req).sequences)


def _wait_until_acked(client: ChainClient, channel: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _pending(client, channel):
        if time.monotonic() > deadline:
            raise SystemExit(f"packets still pending on {channel} after {timeout:g} s")
        time.sleep(0.05)


def run(args: argparse.Namespace, config_path: Path, keyring_dir: Path) -> dict[str, Any]:
    cfg = load_config(config_path)
    state = StateFile(cfg.state_file)
    path = relayer_cli.open_path(cfg, state, None)
    linkmod.link(path, cfg.trusting_period_ns, cfg.max_clock_drift_ns)
    state.save()
    channel = path.state.channel("transfer").a
    rpc_a = RPC(cfg.chain(cfg.select_path().a).rpc)
    client_a = ChainClient(rpc_a)
    sender = Sender(rpc_a, path.a.chain_id, Keyring(keyring_dir, "test").private_key(args.key))
    receiver = path.b.address

    stop = threading.Event()
    thread = None
    if not args.external_relayer:
        relayer = Relayer(path, refresh_fraction=cfg.refresh_fraction)
        thread = threading.Thread(target=relayer.run, args=(stop, 0.1), daemon=True)
        thread.start()
    try:
        trips = []
        for _ in range(args.round_trips):
            t0 = time.monotonic()
            sent_height = sender.send(channel, receiver, 1)
            _wait_until_acked(client_a, channel, 120)
            trips.append((time.monotonic() - t0, rpc_a.latest_height() - sent_height))
        t0 = time.monotonic()
        first_height = 0
        left = args.burst
        while left:
            height = sender.send(channel, receiver, min(64, left))
            first_height = first_height or height
            left -= min(64, left)
        _wait_until_acked(client_a, channel, 600)
        burst_s = time.monotonic() - t0
        burst_blocks = rpc_a.latest_height() - first_height
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=30)
    seconds = [s for s, _ in trips]
    blocks = [b for _, b in trips]
    return {
        "block_time_s": args.block_time,
        "round_trip": {
            "n": len(trips),
            "median_s": round(statistics.median(seconds), 3),
            "min_s": round(min(seconds), 3),
            "max_s": round(max(seconds), 3),
            "median_blocks": statistics.median(blocks),
        },
        "burst": {
            "packets": args.burst,
            "seconds": round(burst_s, 3),
            "blocks": burst_blocks,
            "packets_per_s": round(args.burst / burst_s, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, help="a linked relayer config (running nodes)")
    parser.add_argument("--keyring-dir", type=Path, help="test keyring of chain a's sender")
    parser.add_argument("--key", default="faucet", help="sender key on chain a (default faucet)")
    parser.add_argument("--block-time", type=float, default=0.5, help="own localnets only")
    parser.add_argument("--round-trips", type=int, default=5)
    parser.add_argument("--burst", type=int, default=128)
    parser.add_argument("--external-relayer", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()

    if args.config:
        if not args.keyring_dir:
            parser.error("--config needs --keyring-dir (chain a's keyring with --key)")
        result = run(args, args.config, args.keyring_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="ibc-bench-") as tmp:
            options = ibc_localnet.IBCOptions(
                root=Path(tmp),
                validators=1,
                block_time=args.block_time,
                chains=CHAINS,
                metrics="",
            )
            try:
                print("starting two 1-validator localnets ...", file=sys.stderr)
                config = ibc_localnet.up(options)
                result = run(args, config, options.home(CHAINS[0][0]) / "keyring")
            finally:
                ibc_localnet.down(options)
    rt, burst = result["round_trip"], result["burst"]
    print(f"block time {result['block_time_s']} s (own localnets) or as configured")
    print(
        f"round trip (send -> acknowledged), {rt['n']} packets: median {rt['median_s']} s "
        f"(min {rt['min_s']}, max {rt['max_s']}), median {rt['median_blocks']} blocks of chain a"
    )
    print(
        f"burst of {burst['packets']} packets: all acknowledged in {burst['seconds']} s "
        f"({burst['blocks']} blocks): {burst['packets_per_s']} packets/s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
