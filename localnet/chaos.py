"""``python -m localnet chaos``: a soak under faults that must lose nothing (issue 8, item 5).

The run has four phases.

1. **Network.** A 4-validator network under ``--home`` is brought up (or
   reused): in network namespaces when this machine allows them, so that
   partitions are real cuts of the links (:mod:`localnet.netns`), else on
   loopback without the partition faults (the report says so). Every node's
   app checks the chain's invariants after each block (``check_invariants``
   in its app.toml; a node whose invariant breaks halts, and is then found
   stuck). The load accounts are funded from the faucet and registered as
   market participants (:func:`localnet.chaos_load.prepare_accounts`).
2. **Chaos.** For ``--duration`` minutes the load generator
   (:class:`~localnet.chaos_load.LoadGenerator`) sends ``--rate``
   transfers, orders and cancellations per second while faults are
   injected one at a time from a seeded schedule
   (:func:`~localnet.chaos_model.fault_schedule`): SIGKILL of an app (its
   CometBFT exits too; both restart), SIGKILL of a CometBFT, a graceful
   stop and start of a node, one node partitioned away, a 2-2 split, and a
   restart of the whole network. Each fault holds for a while, is undone,
   and the next one waits until the faulted nodes (all of them after a
   network fault) have committed past the height the network had when the
   fault ended: that wait is the fault's recovery time.
3. **Settling.** Faults stop, links are healed, stopped processes started;
   the generator sends nothing new and follows the chain until every
   transaction it sent has a known fate (in a block, or past its timeout
   height) and every order it placed has ended, then stops at a height H
   every node has reached.
4. **Checks** at H, on every node: (a) the header app hash agrees at every
   height 1..H; (b) each transaction the generator saw committed is in the
   node's blocks exactly once at the same height with the same result code,
   and no transaction is in two blocks; (c) each load account's balance and
   sequence equal the model, and each order exists as placed with the
   status the model expects (cancelled, or unmatched: the load's orders
   never cross) and no account has orders the model does not know; (d) the
   bank's total supply equals the genesis supply, and, read from each
   node's store while the node is briefly stopped, the sum of all balances
   equals the supply and the market's escrow invariant holds, under the
   app hash the chain committed; (e) every node advanced after the last
   fault and the nodes are within one block of each other.

The report (printed; ``--report FILE`` writes it as JSON) gives the run's
duration, the faults with their times and recovery times, blocks committed,
the longest stall, transactions sent / committed / rejected / expired /
lost, divergent app hashes, and PASS or FAIL with the reasons. Exit status
0 on PASS only. Everything is decided by ``--seed`` except real timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.kv import StoreView
from app.modules import PREFIX_BANK
from app.modules.bank import keeper as bank_keeper
from app.modules.market import keeper as market_keeper
from app.pb.mgrid.market.v1 import market_pb2
from app.store import Store, StoreError
from clients.mgrid.chain import ChainClient, ChainError, QueryError
from clients.rpc import RPC, RPCError
from localnet import chaos_model as model
from localnet import netns, tomledit
from localnet import network as net
from localnet.chaos_load import (
    READ_TIMEOUT,
    HeightMonitor,
    LoadConfig,
    LoadGenerator,
    count_orders,
    prepare_accounts,
    read_block_txs,
)
from localnet.cli import positive_float
from localnet.errors import HomeError, LocalnetError
from localnet.layout import STATE_FILE, Network, default_home
from localnet.status import app_hash_history, header_app_hash

DEFAULT_CHAIN_ID = "mg-chaos"
DEFAULT_SUBNET = "10.77.8.0/24"
DEFAULT_PORT_OFFSET = 4900
DEFAULT_BLOCK_TIME = 1.0
DEFAULT_RATE = 3.0
DEFAULT_ACCOUNTS = 16
DEFAULT_GAP = (10.0, 30.0)
DEFAULT_HOLD = (3.0, 10.0)
RECOVERY_TIMEOUT = 120.0
SPLIT_SETTLE_S = 2.0  # after a split, the block whose votes were already out may still land
MIN_SPLIT_HOLD_S = 4.0
MAJORITY_BLOCKS = 2  # while one node is cut off, the others must commit at least this many
BALANCE_PREFIX = PREFIX_BANK + b"\x01"  # bank keeper: 0x02 0x01 | address(20) | denom
ADDRESS_LEN = 20


@dataclass(frozen=True)
class ChaosOptions:
    """Options of ``python -m localnet chaos`` (see :func:`add_parser`)."""

    duration_s: float
    home: Path | None = None
    chain_id: str = DEFAULT_CHAIN_ID
    seed: int = 1
    validators: int = 4
    netns: bool | None = None  # None: namespaces when this machine allows them
    subnet: str = DEFAULT_SUBNET
    port_offset: int = DEFAULT_PORT_OFFSET
    block_time: float = DEFAULT_BLOCK_TIME
    rate: float = DEFAULT_RATE
    accounts: int = DEFAULT_ACCOUNTS
    fault_gap: tuple[float, float] = DEFAULT_GAP
    fault_hold: tuple[float, float] = DEFAULT_HOLD
    recovery_timeout: float = RECOVERY_TIMEOUT
    report: Path | None = None
    down: bool = False

    def resolved_home(self) -> Path:
        return (self.home or default_home(self.chain_id)).resolve()


Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the network -------------------------------------------------------------------------------


def bring_up(options: ChaosOptions, log: Log) -> tuple[Network, bool, str]:
    """Start (creating if needed) the network; return it, whether partitions are
    real (netns), and a note for the report.

    Raises:
        LocalnetError: namespaces asked for but unusable, or the network does not start.
    """
    home = options.resolved_home()
    existing = Network.load(home) if (home / STATE_FILE).is_file() else None
    reason = netns.available()
    if existing is not None:
        use_netns = existing.netns is not None
        if options.netns is not None and options.netns != use_netns:
            kind = "network-namespace" if use_netns else "loopback"
            raise HomeError(
                f"{home} holds a {kind} network; drop --netns/--no-netns or choose another --home"
            )
    elif options.netns is None:
        use_netns = reason is None
    else:
        use_netns = options.netns
    if use_netns and reason is not None:
        raise LocalnetError(f"--netns: network namespaces are not usable here: {reason}")
    if existing is not None and existing.app != "mgrid":
        raise HomeError(f"{home} runs the {existing.app} app; chaos needs mgrid")
    if use_netns:
        settings = netns.NetnsOptions(
            home=home,
            chain_id=options.chain_id,
            validators=options.validators,
            subnet=options.subnet,
            block_time=options.block_time,
            app="mgrid",
        )
        if existing is not None and existing.netns is not None:
            # Reused as recorded: the options of a new network do not apply.
            settings = netns.NetnsOptions(
                home=home,
                chain_id=existing.chain_id,
                validators=len(existing.nodes),
                subnet=existing.netns.subnet,
                block_time=existing.block_time,
                app="mgrid",
            )
        network = netns.up(settings, log=log)
        netns.heal(network)  # a reused network may have been left split
        subnet = network.netns.subnet if network.netns is not None else "?"
        note = f"network namespaces on {subnet}: partitions cut real links"
    else:
        network, _ = net.up(
            net.UpOptions(
                home=home,
                chain_id=None if existing else options.chain_id,
                validators=None if existing else options.validators,
                port_offset=None if existing else options.port_offset,
                block_time=None if existing else options.block_time,
                app="mgrid",
            ),
            log=log,
        )
        why = "--no-netns" if options.netns is False else f"namespaces unavailable: {reason}"
        note = f"loopback network ({why}): partition and split faults disabled"
    if len(network.nodes) < model.MIN_VALIDATORS:
        raise HomeError(
            f"{home} has {len(network.nodes)} validators; chaos needs {model.MIN_VALIDATORS}+"
        )
    return network, use_netns, note


def enable_invariants(network: Network, log: Log) -> None:
    """Have every node's app check the invariants after each block; restart the
    network if that setting had to be turned on."""
    changed = []
    for node in network.nodes:
        path = network.node_home(node) / "config" / "app.toml"
        if path.is_file():
            with path.open("rb") as f:
                if tomllib.load(f).get("check_invariants") is True:
                    continue
            tomledit.edit_file(path, {("", "check_invariants"): True})
        else:
            path.write_text("check_invariants = true\n", encoding="utf-8")
        changed.append(node.moniker)
    if changed:
        log(f"turning on check_invariants in {', '.join(changed)}: restarting the network")
        net.down(network)
        with net.locked(network):
            net.start_all_and_wait(network, net.UP_TIMEOUT, commits=True)


def genesis_supply(network: Network, denom: str) -> int:
    """The supply of ``denom`` the genesis creates: the sum of its bank balances."""
    path = network.node_home(network.nodes[0]) / "config" / "genesis.json"
    genesis = json.loads(path.read_text(encoding="utf-8"))
    total = 0
    for entry in genesis.get("app_state", {}).get("bank", {}).get("balances", []):
        for coin in entry.get("coins", []):
            if coin.get("denom") == denom:
                total += int(coin["amount"])
    return total


# -- faults ------------------------------------------------------------------------------------


@dataclass
class FaultRecord:
    """What happened when one fault was injected (times relative to the chaos start)."""

    index: int
    spec: model.FaultSpec
    start_s: float = 0.0
    end_s: float = 0.0
    recovered_s: float | None = None
    height_at_start: int = 0
    height_at_end: int = 0
    error: str = ""
    expectation: str = ""
    expectation_met: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def recovery_s(self) -> float | None:
        return None if self.recovered_s is None else self.recovered_s - self.end_s

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            **self.spec.to_json(),
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "recovery_s": None if self.recovery_s is None else round(self.recovery_s, 3),
            "recovered": self.recovered_s is not None,
            "height_at_start": self.height_at_start,
            "height_at_end": self.height_at_end,
            "error": self.error,
            "expectation": self.expectation,
            "expectation_met": self.expectation_met,
            **self.details,
        }


class FaultInjector:
    """Injects one fault at a time and measures the recovery."""

    def __init__(
        self,
        network: Network,
        monitor: HeightMonitor,
        use_netns: bool,
        recovery_timeout: float,
        log: Log,
    ):
        self.network = network
        self.monitor = monitor
        self.use_netns = use_netns
        self.recovery_timeout = recovery_timeout
        self.log = log

    def inject(self, spec: model.FaultSpec, index: int, t0: float) -> FaultRecord:
        rec = FaultRecord(index, spec)
        everyone = tuple(range(len(self.network.nodes)))
        faulted = everyone if spec.kind in model.NETWORK_KINDS else spec.nodes
        rec.height_at_start = self.monitor.max_height
        rec.start_s = time.monotonic() - t0
        where = (
            " / ".join(",".join(map(str, g)) for g in spec.groups)
            if spec.groups
            else ",".join(map(str, spec.nodes))
        )
        self.log(f"fault {index}: {spec.kind} on {where}, holding {spec.hold_s:.1f} s")
        try:
            self._begin(spec)
            self._hold(spec, rec)
        except LocalnetError as exc:
            rec.error = f"injecting: {exc}"
        rec.height_at_end = self.monitor.max_height
        rec.end_s = time.monotonic() - t0
        try:
            self._end(spec)
        except LocalnetError as exc:
            rec.error = (rec.error + "; " if rec.error else "") + f"undoing: {exc}"
            self.restore()
        target = rec.height_at_end + 1
        if self.monitor.wait_until(
            lambda hs: all((hs[i] or 0) >= target for i in faulted),
            self.recovery_timeout,
        ):
            rec.recovered_s = time.monotonic() - t0
            self.log(f"fault {index}: recovered in {rec.recovery_s:.1f} s (height {target})")
        else:
            self.log(f"fault {index}: NOT recovered within {self.recovery_timeout:.0f} s")
        return rec

    def _begin(self, spec: model.FaultSpec) -> None:
        network = self.network
        if spec.kind == model.KILL_APP:
            net.kill_app(network, spec.nodes[0])
        elif spec.kind == model.KILL_COMETBFT:
            net.kill_process(network, spec.nodes[0], "cometbft")
        elif spec.kind == model.RESTART_NODE:
            net.stop_node(network, spec.nodes[0])
        elif spec.kind in model.PARTITION_KINDS:
            netns.partition(network, [list(g) for g in spec.groups])
        elif spec.kind == model.RESTART_NETWORK:
            net.down(network)
        else:
            raise LocalnetError(f"unknown fault kind {spec.kind!r}")

    def _hold(self, spec: model.FaultSpec, rec: FaultRecord) -> None:
        if spec.kind == model.SPLIT:
            time.sleep(SPLIT_SETTLE_S)
            frozen = self.monitor.max_height
            time.sleep(max(spec.hold_s, MIN_SPLIT_HOLD_S) - SPLIT_SETTLE_S)
            after = self.monitor.max_height
            rec.expectation = "no block is committed while the network is split 2-2"
            rec.expectation_met = after == frozen
            rec.details["split_commits"] = after - frozen
            return
        if spec.kind == model.PARTITION_NODE:
            node = spec.nodes[0]
            others = [i for i in range(len(self.network.nodes)) if i != node]
            time.sleep(SPLIT_SETTLE_S)
            settled = self.monitor.heights()
            isolated_then = settled[node]
            majority_then = max((settled[i] or 0) for i in others)
            time.sleep(max(0.0, spec.hold_s - SPLIT_SETTLE_S))

            def majority_ahead(hs: list[int | None]) -> bool:
                return max((hs[i] or 0) for i in others) >= majority_then + MAJORITY_BLOCKS

            met = self.monitor.wait_until(majority_ahead, self.recovery_timeout)
            heights = self.monitor.heights()
            isolated = heights[node]
            rec.expectation = (
                f"the other nodes commit at least {MAJORITY_BLOCKS} blocks while node {node} "
                "is cut off, and it commits none of its own"
            )
            rec.details["isolated_heights"] = [isolated_then, isolated]
            rec.details["majority_heights"] = [
                majority_then,
                max((heights[i] or 0) for i in others),
            ]
            # The host still reaches a cut-off node; should it not, its height is unknown.
            alone_idle = isolated_then is None or isolated is None or isolated == isolated_then
            rec.expectation_met = met and alone_idle
            return
        time.sleep(spec.hold_s)

    def _end(self, spec: model.FaultSpec) -> None:
        network = self.network
        if spec.kind in (model.KILL_APP, model.KILL_COMETBFT, model.RESTART_NODE):
            net.start_node(network, spec.nodes[0])
        elif spec.kind in model.PARTITION_KINDS:
            netns.heal(network)
        elif spec.kind == model.RESTART_NETWORK:
            with net.locked(network):
                net.start_nodes(network, network.nodes)

    def restore(self) -> None:
        """Heal every link and start every stopped process (errors are logged)."""
        if self.use_netns:
            try:
                netns.heal(self.network)
            except LocalnetError as exc:
                self.log(f"healing the network failed: {exc}")
        try:
            with net.locked(self.network):
                net.start_nodes(self.network, self.network.nodes)
        except LocalnetError as exc:
            self.log(f"starting the stopped processes failed: {exc}")


# -- final checks ------------------------------------------------------------------------------


def scan_node(rpc: RPC, first: int, last: int) -> dict[str, list[tuple[int, int]]]:
    """Every transaction in the node's blocks ``first..last``: hash -> [(height, code)]."""
    found: dict[str, list[tuple[int, int]]] = {}
    high = last
    while high >= first:
        low = max(first, high - 19)  # /blockchain returns at most 20 metas
        metas = rpc.call("blockchain", minHeight=str(low), maxHeight=str(high))["block_metas"]
        for meta in metas:
            if int(meta.get("num_txs") or 0) == 0:
                continue
            height = int(meta["header"]["height"])
            for btx in read_block_txs(rpc, height):
                found.setdefault(btx.txhash, []).append((height, btx.code))
        high = low - 1
    for places in found.values():
        places.sort()
    return found


def _order_json(order: Any) -> dict[str, Any]:
    return {
        "owner": order.owner,
        "side": market_pb2.Side.Name(order.side).removeprefix("SIDE_").lower(),
        "interval": int(order.interval),
        "quantity_wh": int(order.quantity_wh),
        "price": int(order.price) if order.HasField("price") else None,
        "status": market_pb2.OrderStatus.Name(order.status).removeprefix("ORDER_STATUS_"),
    }


def node_state(
    rpc: RPC, ledger: model.Ledger, denom: str, height: int
) -> tuple[dict[str, tuple[int, int]], dict[int, dict[str, Any] | None], dict[str, int], int]:
    """Accounts, orders, order counts per owner and the total supply of ``denom``
    on one node, all at ``height``."""
    client = ChainClient(rpc)
    accounts = {
        a: (client.balance(a, denom, height).amount, client.account(a, height).sequence)
        for a in sorted(ledger.accounts)
    }
    orders: dict[int, dict[str, Any] | None] = {}
    for order_id in sorted(ledger.orders):
        try:
            orders[order_id] = _order_json(client.order(order_id, height))
        except QueryError:
            orders[order_id] = None
    counts = {a: count_orders(client, a, height) for a in sorted(ledger.accounts)}
    supply = sum(c.amount for c in client.total_supply(height) if c.denom == denom)
    return accounts, orders, counts, supply


def audit_store(path: Path) -> dict[str, Any]:
    """Read a stopped node's app store: its version, app hash, supply, the sum of
    every balance per denom, and whether the bank's and market's invariants hold."""
    store = Store(str(path), create=False)
    try:
        view = StoreView(store)
        sums: dict[str, int] = {}
        for key, value in store.iterate(BALANCE_PREFIX):
            denom = key[len(BALANCE_PREFIX) + ADDRESS_LEN :].decode()
            sums[denom] = sums.get(denom, 0) + int(value)
        supply = {c.denom: c.amount for c in bank_keeper.all_supply(view)}
        problems = []
        for name, check in (
            ("bank", bank_keeper.check_invariants),
            ("market", market_keeper.check_invariants),
        ):
            try:
                check(view)
            except AssertionError as exc:
                problems.append(f"{name}: {exc}")
        return {
            "version": store.version,
            "app_hash": store.root().hex().upper(),
            "supply": supply,
            "sum_of_balances": sums,
            "invariants": problems,
        }
    finally:
        store.close()


def audit_node(network: Network, index: int, log: Log) -> dict[str, Any]:
    """Stop node ``index``, audit its store against the chain, start it again."""
    node = network.node(index)
    others = [n.rpc_url for n in network.nodes if n.index != index]
    net.stop_node(network, index)
    try:
        audit = audit_store(network.node_home(node) / "data" / "app.db")
        # The header of block v+1 commits the app hash after block v.
        committed = _header_hash_from_any(others, audit["version"] + 1)
        audit["committed_app_hash"] = committed
        errors = list(audit["invariants"])
        if committed != audit["app_hash"]:
            errors.append(
                f"store root {audit['app_hash']} at version {audit['version']} != app hash "
                f"{committed} in the header of block {audit['version'] + 1}"
            )
        if audit["sum_of_balances"] != audit["supply"]:
            errors.append(f"sum of balances {audit['sum_of_balances']} != supply {audit['supply']}")
        audit["ok"] = not errors
        audit["error"] = "; ".join(errors)
    except (StoreError, RPCError, ChainError, OSError, ValueError) as exc:
        audit = {"ok": False, "error": f"cannot audit {node.moniker}'s store: {exc}"}
    finally:
        net.start_node(network, index)
    log(f"{node.moniker}: store audit {'ok' if audit['ok'] else 'FAILED: ' + audit['error']}")
    return audit


def _header_hash_from_any(urls: Sequence[str], height: int, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        for url in urls:
            try:
                return header_app_hash(url, height)
            except (RPCError, KeyError, TypeError):
                continue
        if time.monotonic() > deadline:
            raise RPCError(f"no node served the header of block {height} within {timeout:.0f} s")
        time.sleep(0.5)


# -- the run -----------------------------------------------------------------------------------


def _wait(condition: Callable[[], bool], timeout: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def _sleep_while_ok(seconds: float, gen: LoadGenerator) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and gen.error is None:
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def run(options: ChaosOptions, log: Log = _stderr) -> dict[str, Any]:
    """Run the soak and return its report (see the module docstring).

    Raises:
        LocalnetError: the network could not be brought up or the load set up.
    """
    if options.duration_s <= 0:
        raise LocalnetError(f"--duration must be > 0 minutes, got {options.duration_s / 60:g}")
    if options.rate <= 0:
        raise LocalnetError(f"--rate must be > 0 transactions per second, got {options.rate:g}")
    if options.accounts < 2:
        raise LocalnetError(f"--accounts must be >= 2, got {options.accounts}")
    try:
        model.check_range("--fault-gap", options.fault_gap)
        model.check_range("--fault-hold", options.fault_hold)
    except ValueError as exc:
        raise LocalnetError(str(exc)) from None
    t_begin = time.monotonic()
    network, use_netns, note = bring_up(options, log)
    kinds = (
        model.FAULT_KINDS
        if use_netns
        else tuple(k for k in model.FAULT_KINDS if k not in model.PARTITION_KINDS)
    )
    try:
        schedule = model.fault_schedule(
            options.seed, len(network.nodes), kinds, options.fault_gap, options.fault_hold
        )
        first_spec = next(schedule)
    except ValueError as exc:
        raise LocalnetError(str(exc)) from None
    enable_invariants(network, log)
    keys, ledger, terms, denom = prepare_accounts(network, options.seed, options.accounts, log)
    supply_at_genesis = genesis_supply(network, denom)
    monitor = HeightMonitor([n.rpc_url for n in network.nodes])
    monitor.start()
    gen = LoadGenerator(
        monitor,
        keys,
        ledger,
        LoadConfig(network.chain_id, denom, options.seed, options.rate, terms),
    )
    injector = FaultInjector(network, monitor, use_netns, options.recovery_timeout, log)
    faults: list[FaultRecord] = []
    try:
        monitor.wait_until(lambda hs: all(h is not None for h in hs), 30)
        gen.start()
        gen.start_sending()
        t0 = time.monotonic()
        log(
            f"chaos for {options.duration_s / 60:g} min on {network.chain_id} "
            f"({len(network.nodes)} validators, seed {options.seed}, {options.rate:g} tx/s; {note})"
        )
        for index, spec in enumerate(_chain(first_spec, schedule)):
            if time.monotonic() + spec.gap_s >= t0 + options.duration_s:
                break
            _sleep_while_ok(spec.gap_s, gen)
            if gen.error is not None:
                break
            record = injector.inject(spec, index, t0)
            faults.append(record)
            if record.recovered_s is None or record.error:
                break  # the network is not in a state to take more faults
        _sleep_while_ok(t0 + options.duration_s - time.monotonic(), gen)
        t_chaos_end = time.monotonic()
        log("chaos over: healing, then settling every transaction and order")
        gen.stop_sending()
        injector.restore()
        report = _settle_and_check(
            options, network, monitor, gen, faults, note, use_netns,
            supply_at_genesis, denom, t0, t_chaos_end, log,
        )  # fmt: skip
    except KeyboardInterrupt:
        # Do not leave a node killed or a partition in place behind an interrupted run.
        log("interrupted: healing the network and starting every node")
        injector.restore()
        raise
    finally:
        if gen.is_alive():
            gen.stop()
        monitor.stop()
    report["total_s"] = round(time.monotonic() - t_begin, 3)
    if options.down:
        log(f"taking {network.chain_id} down")
        if use_netns:
            netns.down(network)
        else:
            net.down(network)
    return report


def _chain(first: model.FaultSpec, rest: Iterator[model.FaultSpec]) -> Iterator[model.FaultSpec]:
    yield first
    yield from rest


def _settle_and_check(
    options: ChaosOptions,
    network: Network,
    monitor: HeightMonitor,
    gen: LoadGenerator,
    faults: list[FaultRecord],
    note: str,
    use_netns: bool,
    supply_at_genesis: int,
    denom: str,
    t0: float,
    t_chaos_end: float,
    log: Log,
) -> dict[str, Any]:
    failures_early: list[str] = []
    everyone_up = monitor.wait_until(
        lambda hs: all(h is not None for h in hs), options.recovery_timeout
    )
    if not everyone_up:
        failures_early.append(f"not every node answered after the chaos: {monitor.heights()}")

    def settled() -> bool:
        if gen.error is not None:
            return True  # nothing more will settle; reported below
        with gen.locked() as ledger:
            return not ledger.pending() and gen.next_to_clear > ledger.last_order_interval()

    # Long enough for every timeout height to pass and the last order's interval to clear.
    settle_timeout = options.recovery_timeout + 60 * network.block_time + 90
    if not _wait(settled, settle_timeout):
        with gen.locked() as ledger:
            failures_early.append(
                f"not settled within {settle_timeout:.0f} s: {len(ledger.pending())} transaction(s) "
                f"pending, last order interval {ledger.last_order_interval()}, "
                f"next to clear {gen.next_to_clear}"
            )
    # The state that cleared the last interval is at or below the height seen now.
    target = monitor.max_height
    _wait(lambda: gen.ledger.height >= target, options.recovery_timeout)
    monitor.wait_until(
        lambda hs: all(h is not None and h >= target for h in hs), options.recovery_timeout
    )
    gen.stop()
    if gen.error is not None:
        failures_early.append(f"the load generator failed: {gen.error!r}")
    ledger = gen.ledger
    height = max(target, ledger.height)
    monitor.wait_until(
        lambda hs: all(h is not None and h >= height for h in hs), options.recovery_timeout
    )
    log(f"checking every node at height {height}")

    nodes = {n.moniker: RPC(n.rpc_url, timeout=READ_TIMEOUT * 2) for n in network.nodes}
    histories: dict[str, dict[int, str]] = {}
    scans: dict[str, dict[str, list[tuple[int, int]]]] = {}
    states: dict[str, dict[str, tuple[int, int]]] = {}
    orders: dict[str, dict[int, dict[str, Any] | None]] = {}
    counts: dict[str, dict[str, int]] = {}
    supplies: dict[str, int | None] = {}
    for name, rpc in nodes.items():
        try:
            histories[name] = app_hash_history(rpc.node, 1, height)
            scans[name] = scan_node(rpc, ledger.start_height + 1, height)
            states[name], orders[name], counts[name], supplies[name] = node_state(
                rpc, ledger, denom, height
            )
        except (RPCError, ChainError) as exc:
            failures_early.append(f"{name}: cannot read its chain at height {height}: {exc}")
            supplies.setdefault(name, None)
    divergent = model.divergent_heights(histories)
    tx_problems = model.chain_tx_problems(ledger, scans)

    last_fault_height = max((f.height_at_end for f in faults), default=ledger.start_height)
    final_heights, within_one = _final_heights(monitor)
    stuck = [f"node{i}" for i, h in enumerate(final_heights) if h is None or h <= last_fault_height]
    audits = {n.moniker: audit_node(network, n.index, log) for n in network.nodes}

    first_seen = monitor.first_seen()
    windows = [
        (t0 + f.start_s, t0 + (f.recovered_s if f.recovered_s is not None else f.end_s))
        for f in faults
        if f.spec.kind in model.NETWORK_KINDS
    ]
    stalls = model.stall_summary(first_seen, t0, t_chaos_end, windows)
    start_height = ledger.start_height
    summary = ledger.summary()
    by_kind: dict[str, int] = {}
    for f in faults:
        by_kind[f.spec.kind] = by_kind.get(f.spec.kind, 0) + 1
    recoveries: dict[str, dict[str, float]] = {}
    for kind in by_kind:
        times = [f.recovery_s for f in faults if f.spec.kind == kind and f.recovery_s is not None]
        if times:
            recoveries[kind] = {
                "min_s": round(min(times), 3),
                "mean_s": round(sum(times) / len(times), 3),
                "max_s": round(max(times), 3),
            }
    report: dict[str, Any] = {
        "chain_id": network.chain_id,
        "home": str(network.home),
        "seed": options.seed,
        "validators": len(network.nodes),
        "netns": use_netns,
        "partition_faults": use_netns,
        "network": note,
        "rate_tx_per_s": options.rate,
        "fault_gap_s": list(options.fault_gap),
        "fault_hold_s": list(options.fault_hold),
        "accounts": {"count": len(ledger.accounts), "mismatches": []},
        "duration_s": round(t_chaos_end - t0, 3),
        "faults": [f.to_json() for f in faults],
        "faults_by_kind": dict(sorted(by_kind.items())),
        "recovery_s_by_kind": dict(sorted(recoveries.items())),
        "height": {"start": start_height, "checked": height},
        "commits": height - start_height,
        **stalls,
        "txs": {
            **summary,
            "lost": len({p["txhash"] for p in tx_problems["lost"]}),
            "duplicates": len({p["txhash"] for p in tx_problems["duplicates"]})
            + summary["duplicates_seen"],
            "unexpected": len({p["txhash"] for p in tx_problems["unexpected"]})
            + summary["resurrected"],
            "problems": {k: v[:20] for k, v in tx_problems.items()},
        },
        "app_hashes": {
            "heights_checked": height,
            "nodes": sorted(histories),
            "divergent": len(divergent),
            "divergent_heights": divergent[:20],
        },
        "orders": {"checked": len(ledger.orders), "mismatches": []},
        "supply": {
            "denom": denom,
            "genesis": supply_at_genesis,
            "per_node": supplies,
            "conserved": all(s == supply_at_genesis for s in supplies.values()),
            "state_audit": audits,
        },
        "nodes": {
            "final_heights": final_heights,
            "height_after_last_fault": last_fault_height,
            "all_advanced": not stuck,
            "stuck": stuck,
            "within_one_block": within_one,
        },
        "anomalies": ledger.anomalies[:20],
        "load_read_errors": gen.read_errors,  # block and schedule reads retried on another node
    }
    report["accounts"]["mismatches"] = model.account_problems(ledger, states)[:50]
    report["orders"]["mismatches"] = model.order_problems(ledger, orders, counts)[:50]
    failures = failures_early + model.verdict(report)
    report["failures"] = failures
    report["verdict"] = "PASS" if not failures else "FAIL"
    return report


def _final_heights(monitor: HeightMonitor, tries: int = 20) -> tuple[list[int | None], bool]:
    """Every node's height, read together; whether they are within one block (a
    reading may catch one node mid-commit, so several are tried)."""
    heights: list[int | None] = []
    for _ in range(tries):
        heights = monitor.heights()
        known = [h for h in heights if h is not None]
        if len(known) == len(heights) and max(known) - min(known) <= 1:
            return heights, True
        time.sleep(0.5)
    return heights, False


# -- the report for people ---------------------------------------------------------------------


def render(report: dict[str, Any]) -> str:
    """The report as a terminal summary."""
    txs = report["txs"]
    lines = [
        f"chaos soak of {report['chain_id']}: {report['verdict']}",
        f"  network    {report['validators']} validators; {report['network']}",
        f"  duration   {report['duration_s'] / 60:.1f} min of chaos (seed {report['seed']}, "
        f"{report['rate_tx_per_s']:g} tx/s), {report['total_s'] / 60:.1f} min in all",
        f"  blocks     {report['commits']} committed (heights {report['height']['start']}.."
        f"{report['height']['checked']}); longest stall {report['max_stall_s']:.1f} s "
        f"({report['max_stall_outside_network_faults_s']:.1f} s outside splits and restarts)",
        f"  txs        {txs['sent']} sent, {txs['committed']} committed "
        f"({txs['committed_failed']} failed in their block), {txs['rejected_checktx']} refused "
        f"by CheckTx, {txs['undelivered']} undelivered, {txs['expired']} expired, "
        f"{txs['rebroadcasts']} re-sent",
        f"  lost       {txs['lost']} lost, {txs['duplicates']} committed twice, "
        f"{report['app_hashes']['divergent']} heights with divergent app hashes",
        f"  state      {report['accounts']['count']} accounts and "
        f"{report['orders']['checked']} orders checked: "
        f"{len(report['accounts']['mismatches'])} + {len(report['orders']['mismatches'])} "
        f"mismatches; supply {'conserved' if report['supply']['conserved'] else 'CHANGED'} "
        f"({report['supply']['genesis']}{report['supply']['denom']})",
        f"  faults     {len(report['faults'])}: "
        + ", ".join(f"{k} x{v}" for k, v in report["faults_by_kind"].items()),
    ]
    for f in report["faults"]:
        target = (
            " / ".join(",".join(map(str, g)) for g in f["groups"])
            if f["groups"]
            else ",".join(map(str, f["nodes"]))
        )
        recovery = "NOT RECOVERED" if f["recovery_s"] is None else f"{f['recovery_s']:.1f} s"
        extra = ""
        if f["expectation_met"] is not None:
            extra = "  expectation " + ("met" if f["expectation_met"] else "NOT MET")
        lines.append(
            f"    #{f['index']:<3} {f['kind']:<16} {target:<9} at {f['start_s']:7.1f} s "
            f"held {f['end_s'] - f['start_s']:5.1f} s  recovery {recovery}{extra}"
        )
    for failure in report["failures"]:
        lines.append(f"  FAIL: {failure}")
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------------


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN:MAX seconds, got {text!r}") from None
    if not 0 <= low <= high:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, got {text!r}")
    return low, high


def _show(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g}:{bounds[1]:g}"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``chaos`` command of ``python -m localnet``."""
    p = sub.add_parser(
        "chaos",
        help="a soak under load and faults; checks that nothing was lost (exit 0 on PASS)",
        description="Bring up (or reuse) a 4-validator network, drive transfers and market "
        "orders at --rate while killing, stopping, partitioning and restarting nodes from a "
        "seeded schedule, then check app hashes, committed transactions, account state and "
        "supply on every node. See docs/chaos.md.",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        required=True,
        metavar="MINUTES",
        help="minutes of load and faults (the settling and checks come after)",
    )
    p.add_argument("--home", type=Path, help="network home (default .localnet/<chain-id>)")
    p.add_argument(
        "--chain-id",
        default=DEFAULT_CHAIN_ID,
        help=f"chain id of a new network (default {DEFAULT_CHAIN_ID})",
    )
    p.add_argument(
        "--seed", type=int, default=1, help="decides faults, targets and load (default 1)"
    )
    p.add_argument("--validators", type=int, default=4, help="validators of a new network (>= 4)")
    p.add_argument(
        "--netns",
        dest="netns",
        action="store_true",
        default=None,
        help="run in network namespaces (real partitions; needs root)",
    )
    p.add_argument(
        "--no-netns",
        dest="netns",
        action="store_false",
        help="run on loopback without partition faults (default: netns if usable)",
    )
    p.add_argument(
        "--subnet",
        default=DEFAULT_SUBNET,
        help=f"subnet of a new netns network (default {DEFAULT_SUBNET})",
    )
    p.add_argument(
        "--port-offset",
        type=int,
        default=DEFAULT_PORT_OFFSET,
        help=f"port offset of a new loopback network (default {DEFAULT_PORT_OFFSET})",
    )
    p.add_argument(
        "--block-time",
        type=positive_float,
        default=DEFAULT_BLOCK_TIME,
        help=f"seconds between blocks of a new network (default {DEFAULT_BLOCK_TIME:g})",
    )
    p.add_argument(
        "--rate",
        type=positive_float,
        default=DEFAULT_RATE,
        metavar="TX_PER_S",
        help=f"transactions per second (default {DEFAULT_RATE:g})",
    )
    p.add_argument(
        "--accounts",
        type=int,
        default=DEFAULT_ACCOUNTS,
        help=f"load accounts (default {DEFAULT_ACCOUNTS})",
    )
    p.add_argument(
        "--fault-gap",
        type=_range,
        default=DEFAULT_GAP,
        metavar="MIN:MAX",
        help=f"seconds of quiet before each fault (default {_show(DEFAULT_GAP)})",
    )
    p.add_argument(
        "--fault-hold",
        type=_range,
        default=DEFAULT_HOLD,
        metavar="MIN:MAX",
        help=f"seconds each fault lasts (default {_show(DEFAULT_HOLD)})",
    )
    p.add_argument(
        "--recovery-timeout",
        type=positive_float,
        default=RECOVERY_TIMEOUT,
        help=f"seconds a fault may take to recover (default {RECOVERY_TIMEOUT:g})",
    )
    p.add_argument("--report", type=Path, metavar="FILE.json", help="also write the report as JSON")
    p.add_argument("--down", action="store_true", help="take the network down at the end")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    """Run ``chaos`` from parsed arguments; 0 on PASS, 1 on FAIL."""
    options = ChaosOptions(
        duration_s=args.duration * 60,
        home=args.home,
        chain_id=args.chain_id,
        seed=args.seed,
        validators=args.validators,
        netns=args.netns,
        subnet=args.subnet,
        port_offset=args.port_offset,
        block_time=args.block_time,
        rate=args.rate,
        accounts=args.accounts,
        fault_gap=args.fault_gap,
        fault_hold=args.fault_hold,
        recovery_timeout=args.recovery_timeout,
        report=args.report,
        down=args.down,
    )
    report = run(options)
    if options.report is not None:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        options.report.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(render(report))
    return 0 if report["verdict"] == "PASS" else 1
