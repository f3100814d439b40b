"""Whole-system benchmark of one workload on a fresh localnet.

A workload is an application and the transactions it is fed:

- ``orders``: mgrid, signed ``MsgPlaceOrder`` (alternating buy and sell, one
  delivery interval well ahead, so nothing clears during the run);
- ``transfers``: mgrid, signed ``MsgSend`` of 1 ugrid;
- ``kvstore``: CometBFT's kvstore example app (``abci-cli kvstore`` over a
  socket), ``key=value`` transactions padded to the mgrid orders' size.

For each, a fresh localnet (same validators, block time and CometBFT
settings whatever the app) is created and these are measured:

1. Saturation: open-loop load at rising rates, ``duration`` seconds each, the
   mempools drained between steps. A step's committed rate is measured over
   the blocks holding its transactions (see ``committed_rate``): the offered
   rate while the chain keeps up, its capacity (working off the backlog)
   when it does not. Stepping stops at the first rate the committed rate no longer follows
   (below ``FOLLOW`` of the offered rate). The saturation throughput is the
   highest committed rate seen.
2. Latency at 25%, 50% and 90% of saturation: submit (request written) to
   commit (the BFT time of the next block's header, i.e. the median time at
   which the validators precommitted the block holding the transaction):
   p50, p95, p99.
3. Reads: a closed-loop reader of one point query (an account's balance for
   mgrid, a key for kvstore) over ``abci_query``.
4. CPU seconds and resident memory of every process, over the whole load.

Every account signs its transactions with consecutive sequences, so each
run uses accounts no earlier run touched (a dropped transaction would
otherwise invalidate every later one of its sender); genesis funds and
admits enough of them.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import loadgen
from bench.loadgen import Endpoint, percentiles
from clients.rpc import RPC

FOLLOW = 0.9  # a step "follows" while committed >= FOLLOW * offered
TXS_PER_ACCOUNT = 400  # well under the market's max_open_orders (1000 in the bench genesis)
ORDER_PRICE = 100_000
ORDER_WH = 1_000

WORKLOADS: dict[str, str] = {
    "orders": "mgrid: signed market orders (MsgPlaceOrder)",
    "transfers": "mgrid: signed transfers (MsgSend)",
    "kvstore": "CometBFT kvstore (abci-cli, socket)",
}


@dataclass
class Options:
    validators: int = 4
    duration: float = 15.0
    block_time: float = 1.0
    connections: int = 16
    read_workers: int = 8
    read_seconds: float = 10.0
    start_rate: float = 250.0
    rate_factor: float = 1.6
    max_rate: float = 20_000.0
    max_steps: int = 10
    rates: list[float] | None = None  # explicit rates instead of stepping
    fractions: tuple[float, ...] = (0.25, 0.5, 0.9)
    port_offset: int = 5000
    drain_timeout: float = 90.0


Progress = Callable[[str], None]


# -- transactions ----------------------------------------------------------------------------


class Accounts:
    """Deterministic keys handed out in blocks, each block to one run."""

    def __init__(self, count: int) -> None:
        from app.crypto import PrivateKey

        self.keys = [
            PrivateKey(hashlib.sha256(b"bench account %d" % i).digest()) for i in range(count)
        ]
        self.next = 0

    def take(self, n: int) -> list[Any]:
        if self.next + n > len(self.keys):
            raise RuntimeError(
                f"the benchmark genesis has {len(self.keys)} accounts and this run needs "
                f"{self.next + n}; lower the rates or duration"
            )
        block = self.keys[self.next : self.next + n]
        self.next += n
        return block


def planned_rates(opts: Options) -> list[float]:
    """The offered rates of the saturation steps (the explicit ones, or the rising ladder)."""
    return opts.rates or [
        min(opts.max_rate, opts.start_rate * opts.rate_factor**i) for i in range(opts.max_steps)
    ]


def accounts_needed(opts: Options) -> int:
    """Accounts for every run of one workload at the largest rates it may offer."""
    rates = planned_rates(opts)
    runs = [*rates, *(max(rates) * f for f in opts.fractions)]
    return sum(_accounts_for(r * opts.duration, opts) for r in runs)


def _accounts_for(n_txs: float, opts: Options) -> int:
    return max(opts.connections, math.ceil(n_txs / TXS_PER_ACCOUNT))


class TxSource:
    """Makes one run's transactions: (txs, connection of each)."""

    def __init__(self, workload: str, chain_id: str, accounts: Accounts | None, interval: int):
        self.workload = workload
        self.chain_id = chain_id
        self.accounts = accounts
        self.interval = interval
        self.kv_counter = 0
        self.tx_bytes = 0

    def make(self, n: int, opts: Options) -> tuple[list[bytes], list[int]]:
        if self.workload == "kvstore":
            return self._kvstore(n, opts)
        assert self.accounts is not None
        keys = self.accounts.take(_accounts_for(n, opts))
        return self._signed(n, keys, opts)

    def _signed(self, n: int, keys: list[Any], opts: Options) -> tuple[list[bytes], list[int]]:
        from app.pb.mgrid.market.v1 import market_pb2
        from app.pb.mgrid.tx.v1 import tx_pb2
        from app.tx import codec

        txs: list[bytes] = []
        conn_of: list[int] = []
        sequences = [0] * len(keys)
        sink = keys[0].address
        for i in range(n):
            a = i % len(keys)
            key = keys[a]
            body = tx_pb2.TxBody(chain_id=self.chain_id, signer=key.address, sequence=sequences[a])
            sequences[a] += 1
            msg = body.messages.add()
            if self.workload == "orders":
                order = msg.place_order
                order.side = market_pb2.SIDE_BUY if i % 2 else market_pb2.SIDE_SELL
                order.interval = self.interval
                order.quantity_wh = ORDER_WH
                order.price = ORDER_PRICE
            else:
                msg.send.to_address = sink
                msg.send.amount.add(denom="ugrid", amount="1")
            txs.append(codec.sign_tx(body, key))
            conn_of.append(a % opts.connections)
        if txs and not self.tx_bytes:
            self.tx_bytes = len(txs[0])
        return txs, conn_of

    def _kvstore(self, n: int, opts: Options) -> tuple[list[bytes], list[int]]:
        size = self.tx_bytes or 200
        txs = []
        for i in range(n):
            key = b"bench%09d" % (self.kv_counter + i)
            txs.append(key + b"=" + b"v" * max(1, size - len(key) - 1))
        self.kv_counter += n
        self.tx_bytes = len(txs[0]) if txs else size
        return txs, [i % opts.connections for i in range(n)]


# -- the network -----------------------------------------------------------------------------


def admit_accounts(state: dict[str, Any], keys: list[Any]) -> None:
    """Fund ``keys`` in ``state`` (an app_state), admit them as prosumers, and make
    delivery intervals 15 minutes long so that nothing clears during a run."""
    denom = state["bank"]["params"]["denom"]
    balances = state["bank"]["balances"]
    balances.extend(
        {"address": k.address, "coins": [{"denom": denom, "amount": str(10**13)}]} for k in keys
    )
    balances.sort(key=lambda b: b["address"])
    state["registry"]["participants"] = [
        {"address": k.address, "role": "prosumer", "bus": "pcc"} for k in keys
    ]
    state["market"]["params"].update(
        interval_seconds=900, gate_closure_seconds=300, max_intervals_ahead=96, max_open_orders=1000
    )


def bench_app_state(network: Any, keys: list[Any]) -> dict[str, Any]:
    """The localnet's genesis with the benchmark accounts admitted (``admit_accounts``)."""
    from localnet.create import build_genesis

    genesis = build_genesis(network, datetime.now(UTC))
    admit_accounts(genesis["app_state"], keys)
    return genesis


def start_network(
    workload: str, home: Path, opts: Options, n_accounts: int, progress: Progress
) -> tuple[Any, Accounts | None]:
    from localnet import network as ln
    from localnet.create import create_network, write_genesis

    app = "kvstore" if workload == "kvstore" else "mgrid"
    progress(f"creating a {opts.validators}-validator {app} localnet in {home}")
    net = create_network(
        home,
        chain_id="mg-bench",
        validators=opts.validators,
        port_offset=opts.port_offset,
        block_time=opts.block_time,
        app=app,
    )
    accounts = None
    if app == "mgrid":
        accounts = Accounts(n_accounts)
        genesis = bench_app_state(net, accounts.keys)
        for node in net.nodes:
            write_genesis(net.node_home(node) / "config" / "genesis.json", genesis)
    ln.up(ln.UpOptions(home=home, timeout=180))
    return ln.load(home), accounts


def stop_network(home: Path) -> None:
    from localnet import network as ln

    ln.down(ln.load(home))


# -- measuring -------------------------------------------------------------------------------


def parse_time(text: str) -> float:
    """Unix seconds of an RFC 3339 timestamp with up to nanoseconds ("...T12:00:00.123456789Z")."""
    base, _, frac = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return seconds + (float("0." + frac) if frac else 0.0)


@dataclass
class Block:
    height: int
    time: float  # header time (BFT time): when the previous block was committed
    tx_hashes: list[bytes]


class Chain:
    """Reads blocks once and remembers them."""

    def __init__(self, rpc_url: str) -> None:
        self.rpc = RPC(rpc_url, timeout=60)
        self.blocks: dict[int, Block] = {}

    def height(self) -> int:
        return self.rpc.latest_height()

    def block(self, height: int) -> Block:
        if height not in self.blocks:
            data = self.rpc.block(height)["block"]
            hashes = [hashlib.sha256(base64.b64decode(tx)).digest() for tx in data["data"]["txs"]]
            self.blocks[height] = Block(height, parse_time(data["header"]["time"]), hashes)
        return self.blocks[height]

    def commit_time(self, height: int) -> float:
        """When block ``height`` was committed: the time in the header of ``height + 1``."""
        return self.block(height + 1).time

    def wait_for_height(self, height: int, timeout: float = 60.0) -> None:
        until = time.time() + timeout
        while self.height() < height:
            if time.time() > until:
                raise RuntimeError(f"the chain did not reach height {height} in {timeout:.0f} s")
            time.sleep(0.2)

    def mempool_size(self) -> int:
        return int(self.rpc.call("num_unconfirmed_txs")["n_txs"])


@dataclass
class RunResult:
    offered: float
    sent: int
    committed: int
    committed_rate: float
    duration_s: float
    latencies_s: list[float]
    errors: int

    def to_json(self) -> dict[str, Any]:
        return {
            "offered": round(self.offered, 1),
            "sent": self.sent,
            "committed": self.committed,
            "committed_rate": round(self.committed_rate, 1),
            "duration_s": round(self.duration_s, 2),
            "rejected": self.sent - self.committed,  # mempool full, or out of sequence after that
            "latency_ms": {k: round(v * 1000, 1) for k, v in percentiles(self.latencies_s).items()},
        }


def drain(chains: list[Chain], timeout: float) -> None:
    until = time.time() + timeout
    while any(c.mempool_size() for c in chains):
        if time.time() > until:
            return
        time.sleep(0.25)


def committed_rate(chain: Chain, holding: list[Block]) -> float:
    """Transactions per second the chain committed while working through a run.

    Over the blocks holding the run's transactions, the first and the last
    excepted (the first holds what arrived before it was proposed, the last
    whatever was left): their transactions over the time from the first
    block's commit to the last counted one's. That is the offered rate while
    the chain keeps up, and its capacity (working off a backlog) when it
    does not. With fewer than three blocks the last one counts too.
    """
    if len(holding) < 2:
        return 0.0
    counted = holding[1:-1] if len(holding) >= 3 else holding[1:]
    txs = sum(len(b.tx_hashes) for b in counted)
    span = chain.commit_time(counted[-1].height) - chain.commit_time(holding[0].height)
    return txs / span if span > 0 else 0.0


def run_load(
    rate: float,
    source: TxSource,
    endpoints: list[Endpoint],
    chains: list[Chain],
    opts: Options,
    progress: Progress,
) -> RunResult:
    n = max(1, round(rate * opts.duration))
    txs, conn_of = source.make(n, opts)
    chain = chains[0]
    first = chain.height() + 1
    progress(f"  {rate:,.0f} tx/s for {opts.duration:g} s ({n:,} txs)")
    sent = loadgen.send(txs, conn_of, endpoints, rate)
    drain(chains, opts.drain_timeout)
    # Every mempool is empty, so every transaction is in a committed block of
    # the most advanced node; node 0 may still be a block behind.
    last = max(c.height() for c in chains)
    chain.wait_for_height(last + 1)
    due = {hashlib.sha256(tx).digest(): sent.sent_at[i] for i, tx in enumerate(txs)}
    latencies = []
    holding: list[Block] = []  # the blocks holding this run's transactions
    for h in range(first, last + 1):
        block = chain.block(h)
        committed_at = chain.commit_time(h)
        mine = [due[x] for x in block.tx_hashes if x in due]
        latencies.extend(committed_at - at for at in mine)
        if mine:
            holding.append(block)
    rate_seen = committed_rate(chain, holding)
    result = RunResult(
        offered=rate,
        sent=sent.sent,
        committed=len(latencies),
        committed_rate=rate_seen,
        duration_s=sent.finished - sent.started,
        latencies_s=latencies,
        errors=sent.errors,
    )
    p = percentiles(latencies)
    progress(
        f"    committed {result.committed:,}/{result.sent:,} at {rate_seen:,.0f} tx/s, "
        f"latency p50 {p.get('p50', 0) * 1000:,.0f} ms p95 {p.get('p95', 0) * 1000:,.0f} ms"
        + (f", {sent.errors} RPC errors: {sent.error_samples[0]}" if sent.errors else "")
    )
    return result


# -- processes -------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_mem(pid: int) -> tuple[float, float]:
    rss = hwm = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024
    return rss, hwm


class ProcessMeter:
    def __init__(self, network: Any) -> None:
        self.procs: list[tuple[str, int]] = []
        for node in network.nodes:
            for kind in ("cometbft", "app"):
                proc = node.processes.get(kind)
                if proc is not None:
                    self.procs.append((f"{node.moniker} {kind}", proc.pid))
        self.procs.append(("load generator", os.getpid()))
        self.start = time.time()
        self.cpu0 = {pid: _proc_cpu(pid) for _, pid in self.procs}

    def finish(self) -> list[dict[str, Any]]:
        wall = time.time() - self.start
        out = []
        for name, pid in self.procs:
            try:
                cpu = _proc_cpu(pid) - self.cpu0[pid]
                rss, hwm = _proc_mem(pid)
            except OSError:
                continue
            out.append(
                {
                    "name": name,
                    "cpu_s": round(cpu, 1),
                    "cpu_percent": round(100 * cpu / wall, 1),
                    "rss_mib": round(rss, 1),
                    "peak_rss_mib": round(hwm, 1),
                }
            )
        return out


# -- reads -----------------------------------------------------------------------------------


def read_targets(
    workload: str, accounts: Accounts | None, source: TxSource
) -> tuple[str, list[str]]:
    if workload == "kvstore":
        keys = [b"bench%09d" % i for i in range(0, max(1, source.kv_counter), 97)][:1000]
        return "value of a key (abci_query)", [f"/abci_query?data=0x{k.hex()}" for k in keys]
    from app.pb.mgrid.bank.v1 import bank_pb2

    assert accounts is not None
    path = quote('"/mgrid.bank.v1.Query/Balance"')
    targets = []
    for key in accounts.keys[:1000]:
        data = bank_pb2.QueryBalanceRequest(address=key.address, denom="ugrid").SerializeToString()
        targets.append(f"/abci_query?path={path}&data=0x{data.hex()}")
    return "bank balance of an account (abci_query)", targets


def measure_reads(
    workload: str,
    accounts: Accounts | None,
    source: TxSource,
    endpoints: list[Endpoint],
    opts: Options,
) -> dict[str, Any]:
    what, targets = read_targets(workload, accounts, source)
    result = loadgen.read(endpoints, targets, opts.read_workers, opts.read_seconds)
    if result.errors:
        raise RuntimeError(f"{result.errors} read queries failed, e.g. {result.error_samples[0]}")
    return {
        "what": what,
        "workers": opts.read_workers,
        "queries": result.queries,
        "qps": round(result.queries / result.seconds, 1),
        "latency_ms": {k: round(v * 1000, 2) for k, v in percentiles(result.latencies_s).items()},
    }


# -- one workload ----------------------------------------------------------------------------


@dataclass
class LoadTarget:
    """Where a workload's load goes: its transactions, connections and chains."""

    source: TxSource
    nodes: list[Endpoint]  # one RPC endpoint per node
    endpoints: list[Endpoint]  # one per connection, round-robin over the nodes
    chains: list[Chain]

    @classmethod
    def of(
        cls, workload: str, network: Any, accounts: Accounts | None, opts: Options
    ) -> LoadTarget:
        nodes = [Endpoint.parse(node.rpc_url) for node in network.nodes]
        interval = 0
        if workload != "kvstore":
            from clients.mgrid.chain import ChainClient

            # Two intervals ahead: its gate closes well after any run ends.
            interval = ChainClient(RPC(network.nodes[0].rpc_url)).schedule().first_open + 1
        return cls(
            source=TxSource(workload, network.chain_id, accounts, interval),
            nodes=nodes,
            endpoints=[nodes[c % len(nodes)] for c in range(opts.connections)],
            chains=[Chain(node.rpc_url) for node in network.nodes],
        )


def run_workload(
    workload: str, home: Path, opts: Options, progress: Progress, tx_bytes: int = 0
) -> dict[str, Any]:
    network, accounts = start_network(workload, home, opts, accounts_needed(opts), progress)
    try:
        target = LoadTarget.of(workload, network, accounts, opts)
        source, endpoints, chains = target.source, target.endpoints, target.chains
        source.tx_bytes = tx_bytes
        meter = ProcessMeter(network)
        steps: list[RunResult] = []
        progress(f"[{workload}] stepping the offered rate until commits stop following")
        for rate in planned_rates(opts):
            step = run_load(rate, source, endpoints, chains, opts, progress)
            steps.append(step)
            if not opts.rates and step.committed_rate < FOLLOW * rate:
                break
        saturation = max(s.committed_rate for s in steps)
        progress(f"[{workload}] saturation {saturation:,.0f} tx/s; latency at fractions of it")
        latency = []
        for fraction in opts.fractions:
            run = run_load(saturation * fraction, source, endpoints, chains, opts, progress)
            latency.append(
                {
                    "load_fraction": fraction,
                    "offered": round(run.offered, 1),
                    "committed_rate": round(run.committed_rate, 1),
                    "samples": run.committed,
                    "latency_ms": run.to_json()["latency_ms"],
                }
            )
        processes = meter.finish()
        progress(
            f"[{workload}] reads: {opts.read_workers} closed-loop readers, {opts.read_seconds:g} s"
        )
        reads = measure_reads(workload, accounts, source, target.nodes, opts)
        progress(f"    {reads['qps']:,.0f} queries/s, p50 {reads['latency_ms'].get('p50', 0)} ms")
        return {
            "label": WORKLOADS[workload],
            "tx_bytes": source.tx_bytes,
            "steps": [s.to_json() for s in steps],
            "saturation_tps": round(saturation, 1),
            "latency": latency,
            "reads": reads,
            "processes": processes,
        }
    finally:
        stop_network(home)


def ratios(system: dict[str, Any]) -> dict[str, Any]:
    """App / kvstore for each app workload: throughput, p50 latency at half load, reads."""
    base = system.get("kvstore")
    out: dict[str, Any] = {}
    if not base:
        return out

    def p50_half(w: dict[str, Any]) -> float | None:
        for row in w.get("latency", []):
            if row["load_fraction"] == 0.5:
                return row["latency_ms"].get("p50")
        return None

    for name, w in system.items():
        if name == "kvstore":
            continue
        row: dict[str, Any] = {}
        if base.get("saturation_tps"):
            row["saturation_tps"] = round(w["saturation_tps"] / base["saturation_tps"], 3)
        a, b = p50_half(w), p50_half(base)
        if a and b:
            row["p50_at_half"] = round(a / b, 3)
        if base.get("reads", {}).get("qps"):
            row["read_qps"] = round(w["reads"]["qps"] / base["reads"]["qps"], 3)
        out[name] = row
    return out
