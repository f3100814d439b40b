"""``mgrid-sim`` against a real state machine in-process: registration, orders,
readings and settlement over several intervals, with outcomes read back
from the chain's own queries.

The simulator's clock is the chain: each pause between polls commits one
block one second later (``ChainClock``), so a run of several 20 s intervals
takes a fraction of a second and is exactly reproducible.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.chain import BlockResult
from app.coins import Coin
from app.crypto import PrivateKey
from app.genesis import (
    DEMO_MARKET_PARAMS,
    DEMO_REPUTATION_PARAMS,
    DEMO_SETTLEMENT_PARAMS,
    default_app_state,
)
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from clients.mgrid import tx as txmod
from clients.mgrid.chain import ChainClient
from clients.rpc import RPCError
from clients.sim import cli as simcli
from clients.sim import display as disp
from clients.sim.household import Account, Broadcaster
from clients.sim.runner import IntervalRow, Reporter, RunResult, SimConfig, Simulator, _Slot
from tests.support.inproc import InProcessNode, _result_json

CHAIN_ID = "mg-sim-inproc"
START = 1_700_000_003  # not on an interval boundary
FAUCET = PrivateKey(bytes([0xF1]) * 32)
UTILITY = PrivateKey(bytes([0xF2]) * 32)
FAUCET_FUNDS = 10**15
UTILITY_FUNDS = 10**12


class BlockNode(InProcessNode):
    """An InProcessNode that also answers ``/block`` and ``/block_results`` in
    CometBFT's JSON shapes (the simulator follows blocks to see its transactions)."""

    def __init__(self, *args: Any, **kw: Any):
        self.block_txs: dict[int, list[bytes]] = {}
        self.results: dict[int, BlockResult] = {}
        super().__init__(*args, **kw)

    def commit_block(
        self, txs: list[bytes] | None = None, *, seconds: int | None = None
    ) -> BlockResult:
        included = list(self.mempool if txs is None else txs)
        result = super().commit_block(txs, seconds=seconds)
        self.block_txs[self.height] = included
        self.results[self.height] = result
        return result

    def block(self, height: int | None = None) -> dict[str, Any]:
        h = height or self.height
        txs = [base64.b64encode(t).decode() for t in self.block_txs.get(h, [])]
        return {"block": {"header": {"height": str(h)}, "data": {"txs": txs}}}

    def block_results(self, height: int) -> dict[str, Any]:
        return {
            "height": str(height),
            "txs_results": [_result_json(r) for r in self.results[height].tx_results],
        }


class ChainClock:
    """Time as the chain sees it: a pause is one more block, one second later."""

    def __init__(self, node: InProcessNode, interrupt_after: int | None = None):
        self.node = node
        self.now = 0.0
        self.sleeps = 0
        self.interrupt_after = interrupt_after

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        if self.interrupt_after is not None and self.sleeps > self.interrupt_after:
            raise KeyboardInterrupt
        self.node.advance(1)
        self.now += 1


class Recorder(Reporter):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.progress_lines: list[str] = []
        self.rows: list[IntervalRow] = []

    def event(self, text: str) -> None:
        self.events.append(text)

    def progress(self, key: str, text: str) -> None:
        self.progress_lines.append(text)

    def interval(self, row: IntervalRow) -> None:
        self.rows.append(row)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[BlockNode]:
    state = default_app_state(
        balances={FAUCET.address: FAUCET_FUNDS, UTILITY.address: UTILITY_FUNDS},
        utility=UTILITY.address,
        market_params=DEMO_MARKET_PARAMS,
        settlement_params=DEMO_SETTLEMENT_PARAMS,
        reputation_params=DEMO_REPUTATION_PARAMS,
    )
    home = tmp_path / "node"
    home.mkdir()
    n = BlockNode(home, state, chain_id=CHAIN_ID, start_time=START)
    try:
        yield n
    finally:
        n.close()


def simulator(
    node: BlockNode, config: SimConfig, clock: ChainClock | None = None
) -> tuple[Simulator, Recorder]:
    recorder = Recorder()
    sim = Simulator(
        node, FAUCET, UTILITY, config, reporter=recorder, clock=clock or ChainClock(node)
    )
    return sim, recorder


def supply(chain: ChainClient) -> int:
    return sum(c.amount for c in chain.total_supply() if c.denom == "ugrid")


@pytest.fixture
def run(node: BlockNode) -> tuple[RunResult, Recorder]:
    sim, recorder = simulator(node, SimConfig(households=6, intervals=5, seed=11))
    return sim.run(), recorder


def test_a_run_settles_every_interval_and_penalises_the_over_promiser(
    node: BlockNode, run: tuple[RunResult, Recorder]
) -> None:
    result, recorder = run
    chain = ChainClient(node)
    assert result.complete and result.settled == 5 and not result.interrupted
    assert [r.interval for r in recorder.rows] == [r.interval for r in result.rows]
    intervals = [r.interval for r in result.rows]
    assert intervals == list(range(intervals[0], intervals[0] + 5))

    # Registered through the utility cell: approved, one meter each, funded.
    for h in result.households:
        p = chain.participant(h.address)
        assert p.status == registry_pb2.STATUS_APPROVED and p.bus == h.bus
        assert [m.pub_key for m in chain.meters(h.address)] == [h.meter_key.public_key]

    # Every interval settled on the chain, with a reading of every meter
    # (sequence = interval number) and local trades in some of them.
    for n in intervals:
        answer = chain.settlement(n)
        assert answer.settled and answer.settlement.readings == 6
        assert answer.settlement.missing_readings == 0
        for h in result.households:
            assert chain.reading(h.meter_key.public_key, n).sequence == n
    assert sum(r.trades for r in result.rows) > 0
    assert sum(r.matched_wh for r in result.rows) > 0
    assert any(chain.interval(n).trade_count for n in intervals)
    assert any(r.pcc_import_wh for r in result.rows) and any(r.pcc_export_wh for r in result.rows)

    # The over-promiser: penalised, below every honest household, suspended,
    # and its later orders refused by the chain.
    bad = next(h for h in result.households if h.misbehaving)
    honest = [h for h in result.households if not h.misbehaving]
    first = chain.settlements(interval=intervals[0], participant=bad.address).settlements[0]
    assert first.contracted_sell_wh > 3 * first.exported_wh
    assert first.shortfall_wh > 0 and int(first.penalty) > 0 and first.score_after < 500_000
    bad_score = chain.score(bad.address).score
    assert bad_score.suspensions >= 1
    assert all(bad_score.score < chain.score(h.address).score.score for h in honest)
    refused = [r.interval for r in result.rows if bad.label in r.refused]
    assert refused, "the suspended household's orders should have been refused"
    placed = {o.interval for o in chain.orders(owner=bad.address).orders}
    assert placed and placed.isdisjoint(refused)
    assert result.ranking[-1]["household"] == bad.name
    history = result.histories[bad.name]  # oldest first
    assert history[0]["score_before"] == 500_000
    assert history[0]["score_after"] < 500_000
    assert history[-1]["score_after"] < 350_000  # the localnet's suspension threshold
    assert any(f"{bad.label} falls to" in e for e in recorder.events)

    # The simulator's rows are the chain's numbers.
    row = result.rows[0]
    kp = chain.settlement(row.interval).settlement.kpis
    assert (row.pcc_import_wh, row.pcc_export_wh) == (kp.pcc_import_wh, kp.pcc_export_wh)
    assert row.matched_wh == chain.interval(row.interval).matched_wh
    assert int(result.totals["intervals"]) >= 5

    # Money moved between accounts, none was created or destroyed.
    assert supply(chain) == FAUCET_FUNDS + UTILITY_FUNDS


def test_the_same_seed_gives_the_same_run(tmp_path: Path, node: BlockNode) -> None:
    first, _ = simulator(node, SimConfig(households=4, intervals=2, seed=5))
    a = first.run()
    state = default_app_state(
        balances={FAUCET.address: FAUCET_FUNDS, UTILITY.address: UTILITY_FUNDS},
        utility=UTILITY.address,
        market_params=DEMO_MARKET_PARAMS,
        settlement_params=DEMO_SETTLEMENT_PARAMS,
        reputation_params=DEMO_REPUTATION_PARAMS,
    )
    home = tmp_path / "again"
    home.mkdir()
    other = BlockNode(home, state, chain_id=CHAIN_ID, start_time=START)
    try:
        second, _ = simulator(other, SimConfig(households=4, intervals=2, seed=5))
        b = second.run()
    finally:
        other.close()
    assert disp.household_records(a) == disp.household_records(b)
    assert [disp.interval_record(r) for r in a.rows] == [disp.interval_record(r) for r in b.rows]


def test_a_rerun_on_the_same_chain_reuses_the_registration(node: BlockNode) -> None:
    config = SimConfig(households=4, intervals=1, seed=3)
    first, _ = simulator(node, config)
    assert first.run().complete
    second, recorder = simulator(node, config)
    result = second.run()
    assert result.complete
    assert not any(("funds" in e or "apply" in e or "approves" in e) for e in recorder.events)
    assert result.rows[0].interval > first.result.rows[0].interval  # type: ignore[union-attr]


def test_ctrl_c_stops_with_what_was_settled(node: BlockNode) -> None:
    sim, _ = simulator(node, SimConfig(households=3, intervals=5, seed=2))
    sim.clock = ChainClock(node, interrupt_after=60)
    result = sim.run()
    assert result.interrupted and not result.complete
    assert result.settled < 5
    assert any("interrupted" in e for e in result.events)
    # Orders still before their gate are withdrawn, so nobody is left promising.
    assert any("open orders cancelled" in e for e in result.events)
    node.advance(2)
    chain = ChainClient(node)
    for h in result.households:
        assert not chain.orders(owner=h.address, open_only=True).orders


def test_progress_names_the_phases(run: tuple[RunResult, Recorder]) -> None:
    _, recorder = run
    text = "\n".join(recorder.progress_lines)
    for phase in ("waiting for gate", "delivering", "reading"):
        assert phase in text
    assert "settled]" in recorder.progress_lines[-1]


def test_missed_readings_are_penalised(node: BlockNode) -> None:
    sim, recorder = simulator(
        node, SimConfig(households=4, intervals=2, seed=4, missing_reading_rate=0.5)
    )
    result = sim.run()
    assert result.complete
    chain = ChainClient(node)
    missing = 0
    for row in result.rows:
        skipped = [hr for hr in row.households if hr.reading == "skipped"]
        answer = chain.settlement(row.interval).settlement
        assert answer.readings == len(row.households) - len(skipped)
        missing += answer.missing_readings
        for hr in skipped:
            if hr.contracted_buy_wh or hr.contracted_sell_wh:
                assert hr.penalty > 0
    assert missing > 0
    assert any("miss the window" in e for e in recorder.events)


def test_an_interval_with_nothing_to_settle_is_not_counted(node: BlockNode) -> None:
    sim, recorder = simulator(node, SimConfig(households=2, intervals=1, seed=1))
    sim.setup()
    node.advance(60)
    n = int(ChainClient(node).schedule().current_interval) - 2
    state = ChainClient(node).interval(n)
    slot = _Slot(n, 0, state.start_time, state.end_time, state.gate_closure_time, 0, read=True)
    slot.window_end = state.end_time + 10
    sim._check_settled(slot, int(ChainClient(node).schedule().block_time))
    assert slot.done and sim.result is not None and not sim.result.rows
    assert any("nothing to settle" in e for e in recorder.events)


# -- the broadcaster ----------------------------------------------------------------------------


def test_a_stale_sequence_is_read_again_and_a_refusal_reported(node: BlockNode) -> None:
    clock = ChainClock(node)
    tx = Broadcaster(node, CHAIN_ID, Coin("ugrid", 0), clock)
    faucet = Account("faucet", FAUCET, sequence=7)  # the chain expects 0
    sent = tx.send(faucet, [txmod.msg_send(UTILITY.address, [Coin("ugrid", 5)])], what="send")
    assert sent.status == "pending" and faucet.sequence == 1
    tx.wait([sent], 1)
    assert sent.ok and 0 < sent.height <= node.height
    assert ChainClient(node).balance(UTILITY.address).amount == UTILITY_FUNDS + 5
    # An order from an account that never registered: refused by CheckTx, sequence kept.
    stranger = Account("stranger", PrivateKey(bytes([9]) * 32))
    order = txmod.msg_place_order(market_pb2.SIDE_BUY, 10**9, 1000, 100_000, False)
    refused = tx.send(stranger, [order], what="order", household="x")
    assert refused.status == "refused" and refused.codespace == "market"
    assert stranger.sequence == 0 and not tx.pending


def test_results_not_yet_available_are_read_at_the_next_poll(node: BlockNode) -> None:
    clock = ChainClock(node)
    tx = Broadcaster(node, CHAIN_ID, Coin("ugrid", 0), clock)
    sent = tx.send(
        Account("faucet", FAUCET), [txmod.msg_send(UTILITY.address, [Coin("ugrid", 1)])], what="s"
    )
    node.advance(1)
    real = node.block_results
    node.block_results = lambda height: (_ for _ in ()).throw(RPCError("not yet"))  # type: ignore[method-assign]
    assert tx.poll() == [] and not sent.done
    node.block_results = real  # type: ignore[method-assign]
    assert tx.poll() == [sent] and sent.ok


def test_a_transaction_never_included_is_lost_and_the_sequence_read_again(
    node: BlockNode,
) -> None:
    clock = ChainClock(node)
    tx = Broadcaster(node, CHAIN_ID, Coin("ugrid", 0), clock, inclusion_timeout=3)
    faucet = Account("faucet", FAUCET)
    sent = tx.send(faucet, [txmod.msg_send(UTILITY.address, [Coin("ugrid", 1)])], what="s")
    node.mempool.clear()  # dropped, as a recheck would
    finished = tx.wait([sent], 1)
    assert finished == [sent] and sent.status == "lost" and "not in a block" in sent.describe()
    assert faucet.sequence is None  # read from the chain before its next use
    again = tx.send(faucet, [txmod.msg_send(UTILITY.address, [Coin("ugrid", 1)])], what="s")
    tx.wait([again], 1)
    assert again.ok


# -- what a person sees, and the files --------------------------------------------------------


def test_table_summary_json_and_csv(tmp_path: Path, run: tuple[RunResult, Recorder]) -> None:
    result, _ = run
    out = io.StringIO()
    d = disp.Display(out, result.denom, tty=False)
    for row in result.rows:
        d.interval(row)
    d.summary(result)
    text = out.getvalue()
    assert text.splitlines()[0].startswith("  interval")
    assert "reputation movers" in text and "SUSPENDED" in text
    assert "Summary: 5 of 5 intervals settled" in text
    assert "Over-promising" in text and "Reputation ranking" in text
    json.dumps(disp.result_json(result))  # serialisable as is

    intervals_csv = tmp_path / "intervals.csv"
    households_csv = tmp_path / "households.csv"
    simcli.write_csv(
        str(intervals_csv), disp.INTERVAL_FIELDS, [disp.interval_record(r) for r in result.rows]
    )
    simcli.write_csv(str(households_csv), disp.HOUSEHOLD_FIELDS, disp.household_records(result))
    rows = list(csv.DictReader(intervals_csv.open()))
    assert [int(r["interval"]) for r in rows] == [r.interval for r in result.rows]
    assert int(rows[0]["pcc_import_wh"]) == result.rows[0].pcc_import_wh
    per_household = list(csv.DictReader(households_csv.open()))
    assert len(per_household) == 5 * 6


def test_tty_progress_is_redrawn_in_place() -> None:
    out = io.StringIO()
    d = disp.Display(out, tty=True)
    d.progress("a", "first")
    d.progress("a", "second")
    d.event("something happened")
    d.close()
    assert out.getvalue() == "\r\x1b[Kfirst\r\x1b[Ksecond\r\x1b[K* something happened\n"


def test_plain_progress_is_written_once_per_phase() -> None:
    out = io.StringIO()
    d = disp.Display(out, tty=False)
    for key, text in [("a", "one 3s"), ("a", "one 2s"), ("b", "two")]:
        d.progress(key, text)
    assert out.getvalue() == "  one 3s\n  two\n"


@pytest.mark.parametrize(
    ("amount", "denom", "shown"),
    [(1_500_000, "ugrid", "1.500"), (-2_345, "ugrid", "-0.002"), (42, "stake", "42")],
)
def test_money(amount: int, denom: str, shown: str) -> None:
    assert disp.money(amount, denom) == shown


# -- the command line -------------------------------------------------------------------------


def test_cli_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert simcli.main(["--households", "2", "--misbehave", "2"]) == simcli.EXIT_USAGE
    assert "honest" in capsys.readouterr().err
    assert simcli.main(["--forecast-error", "0.5", "--start-hour", "25"]) == simcli.EXIT_USAGE
    with pytest.raises(SystemExit):
        simcli.main(["--households", "0"])


def test_cli_keyring_and_node_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clients.mgrid.keyring import Keyring

    ring = tmp_path / "ring"
    head = ["--keyring-dir", str(ring), "--keyring-backend", "test"]
    assert simcli.main([*head, "--node", "http://127.0.0.1:1"]) == simcli.EXIT_KEYRING
    assert "faucet" in capsys.readouterr().err
    keyring = Keyring(ring, "test")
    keyring.add("faucet", FAUCET.seed)
    keyring.add("utility", UTILITY.seed)
    assert simcli.main([*head, "--node", "http://127.0.0.1:1"]) == simcli.EXIT_NODE
    assert "no node" in capsys.readouterr().err
