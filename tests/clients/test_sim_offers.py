"""``mgrid-sim --offer-channel CHANNEL --counterparty-node URL``: the utility's
offers of the households' residual supply to a neighbouring microgrid.

The rule (quantity, price, target interval) is tested as pure functions and
against a real neighbouring market in-process; the offers themselves are
decoded from what the simulator broadcast; the table, summary and records
show what became of them.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.genesis import (
    DEMO_MARKET_PARAMS,
    DEMO_REPUTATION_PARAMS,
    DEMO_SETTLEMENT_PARAMS,
    default_app_state,
)
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.tx import codec
from clients.mgrid import cmd_ibc
from clients.mgrid.chain import ChainClient
from clients.sim import cli as simcli
from clients.sim import display as disp
from clients.sim import offers
from clients.sim.offers import Offer, OfferTerms
from clients.sim.profiles import Energy
from clients.sim.runner import IntervalRow, RunResult, SimConfig, SimError, Simulator
from tests.clients.test_sim_runner import (
    CHAIN_ID,
    FAUCET,
    FAUCET_FUNDS,
    START,
    UTILITY,
    UTILITY_FUNDS,
    BlockNode,
    ChainClock,
    Recorder,
)

NEIGHBOUR_ID = "mg-neighbour"
NS = 1_000_000_000
TERMS = OfferTerms("channel-0", "ugrid", 120, min_order_wh=10, max_order_wh=5_000)


# -- the rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("forecasts", "share", "wh"),
    [
        ([Energy(3000, 1000), Energy(0, 500)], 1.0, 1500),  # generation above demand
        ([Energy(3000, 1000), Energy(0, 2500)], 1.0, 0),  # the local market absorbs it all
        ([Energy(3001, 1000)], 0.5, 1000),  # a share, rounded down to a whole Wh
        ([], 1.0, 0),
    ],
)
def test_residual_supply(forecasts: list[Energy], share: float, wh: int) -> None:
    assert offers.residual_supply_wh(forecasts, share) == wh


def test_offer_quantity_respects_the_neighbours_order_bounds() -> None:
    assert offers.offer_quantity([Energy(9000, 1000)], 1.0, TERMS) == 5_000  # clipped
    assert offers.offer_quantity([Energy(1009, 1000)], 1.0, TERMS) is None  # below 10 Wh
    assert offers.offer_quantity([Energy(1010, 1000)], 1.0, TERMS) == 10
    unbounded = OfferTerms("channel-0", "ugrid", 1, 0, 0)
    assert offers.offer_quantity([Energy(10**9, 0)], 1.0, unbounded) == 10**9
    assert offers.offer_quantity([Energy(0, 0)], 1.0, unbounded) is None


@pytest.mark.parametrize(
    ("feed_in", "low", "high", "price"),
    [(100, 50, 300, 100), (100, 150, 300, 150), (100, 100, 100, 100), (400, 50, 300, None)],
)
def test_offer_price_is_at_least_the_feed_in_tariff(
    feed_in: int, low: int, high: int, price: int | None
) -> None:
    assert offers.offer_price(feed_in, low, high) == price


def test_what_became_of_an_offer_is_read_from_the_trade() -> None:
    offer = Offer(7, 50, 1000, 1500, 120)
    trade = energy_pb2.InterTrade(
        channel_id="channel-0",
        sequence=4,
        outgoing=True,
        status=energy_pb2.OFFER_STATUS_FILLED,
        result=energy_pb2.EnergyOfferResult(filled_wh=900, price=130, amount="117"),
    )
    offers.update_from_trade(offer, trade)
    assert (offer.status, offer.sequence, offer.filled_wh, offer.fill_price, offer.amount) == (
        "filled",
        4,
        900,
        130,
        117,
    )
    assert offer.settled
    refused = Offer(8, 51, 2000, 100, 120)
    offers.update_from_trade(
        refused,
        energy_pb2.InterTrade(status=energy_pb2.OFFER_STATUS_REFUSED, error="gate closed"),
    )
    assert (refused.status, refused.error, refused.filled_wh) == ("refused", "gate closed", 0)


# -- display -----------------------------------------------------------------------------------


def _row(offer: Offer | None) -> IntervalRow:
    return IntervalRow(
        interval=12, slot=0, clock="10:00", clearing_price=150, orders=4, trades=2,
        matched_wh=2000, grid_fill_import_wh=0, grid_fill_export_wh=0, generation_wh=5000,
        consumption_wh=3000, pcc_import_wh=0, pcc_export_wh=2000, self_sufficiency=1_000_000,
        self_consumption=600_000, savings=0, penalties=0, imbalance_cost=0,
        imbalance_revenue=0, readings=4, missing_readings=0, offer=offer,
    )  # fmt: skip


def test_table_columns_for_offers() -> None:
    filled = Offer(12, 60, 1200, 1500, 120, status="filled", filled_wh=900, fill_price=130)
    assert disp.header("ugrid", offers=True).split()[-9:-5] == ["offer", "kWh", "filled", "kWh"]
    cells = disp.row_text(_row(filled), "ugrid", offers=True).split()
    assert cells[10:12] == ["1.5", "0.9"]
    assert disp.row_text(_row(None), "ugrid", offers=True).split()[10:12] == ["-", "-"]
    pending = Offer(12, 60, 1200, 1500, 120, status="pending")
    assert disp.row_text(_row(pending), "ugrid", offers=True).split()[10:12] == ["1.5", "pend"]
    # without offers the table is as it was
    assert "offer" not in disp.header("ugrid")
    assert len(disp.row_text(_row(filled), "ugrid").split()) == len(
        disp.row_text(_row(None), "ugrid").split()
    )


def test_summary_and_records_of_offers() -> None:
    result = RunResult(CHAIN_ID, "ugrid", SimConfig(offer_channel="channel-0"), [])
    result.neighbour, result.neighbour_denom = NEIGHBOUR_ID, "uother"
    result.offers = [
        Offer(12, 60, 1200, 1500, 120, status="filled", filled_wh=900, fill_price=130, amount=117),
        Offer(13, 61, 1220, 800, 120, status="refused", error="gate closed"),
        Offer(14, 62, 1240, 600, 120, status="pending"),
    ]
    lines = disp.offer_summary_lines(result)
    assert lines[0] == f"Offers to {NEIGHBOUR_ID} over channel-0 (prices and money in uother):"
    assert "3 offers, 2.9 kWh" in lines[1]
    assert "0.9 kWh in 1 offers for 117uother" in lines[2]
    assert "1 refused" in lines[2] and "1 pending" in lines[2]
    assert lines[4].endswith("refused (gate closed)")
    record = disp.interval_record(_row(result.offers[0]))
    assert {k: record[k] for k in ("offer_target_interval", "offer_wh", "offer_status")} == {
        "offer_target_interval": 60,
        "offer_wh": 1500,
        "offer_status": "filled",
    }
    assert set(disp.INTERVAL_FIELDS) == set(record)
    assert disp.interval_record(_row(None))["offer_wh"] == ""
    assert disp.result_json(result)["offers"][0]["amount"] == 117
    assert disp.offer_summary_lines(RunResult(CHAIN_ID, "ugrid", SimConfig(), [])) == []


def test_cli_offer_options(capsys: pytest.CaptureFixture[str]) -> None:
    parser = simcli.build_parser()
    args = parser.parse_args(["--offer-channel", "channel-0", "--counterparty-node", "http://x",
                              "--offer-share", "0.5", "--offer-lead", "4"])  # fmt: skip
    config = simcli.config_from(args)
    assert (config.offer_channel, config.offer_share, config.offer_lead_seconds) == (
        "channel-0",
        0.5,
        4,
    )
    for argv in (["--offer-channel", "channel-0"], ["--counterparty-node", "http://x"]):
        with pytest.raises(ValueError, match=r"--offer-channel|--counterparty-node"):
            simcli.config_from(parser.parse_args(argv))
    with pytest.raises(SystemExit):
        parser.parse_args(["--offer-share", "2"])


# -- against a real neighbouring market ----------------------------------------------------------


def _state() -> dict[str, Any]:
    return default_app_state(
        balances={FAUCET.address: FAUCET_FUNDS, UTILITY.address: UTILITY_FUNDS},
        utility=UTILITY.address,
        market_params=DEMO_MARKET_PARAMS,
        settlement_params=DEMO_SETTLEMENT_PARAMS,
        reputation_params=DEMO_REPUTATION_PARAMS,
    )


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[BlockNode, BlockNode]]:
    made = []
    for name, chain_id in (("here", CHAIN_ID), ("there", NEIGHBOUR_ID)):
        home = tmp_path / name
        home.mkdir()
        made.append(BlockNode(home, _state(), chain_id=chain_id, start_time=START))
    try:
        yield made[0], made[1]
    finally:
        for n in made:
            n.close()


class PairClock(ChainClock):
    """A pause is one more block on both chains."""

    def __init__(self, node: BlockNode, other: BlockNode):
        super().__init__(node)
        self.other = other

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.other.advance(1)


def _open_energy_channel(monkeypatch: pytest.MonkeyPatch) -> None:
    """This chain's energy channel, as the IBC channel query would answer once opened."""
    channel = ibc_pb2.Channel(state=ibc_pb2.CHANNEL_STATE_OPEN, version="mgrid-energy-1")
    monkeypatch.setattr(ChainClient, "ibc_channel", lambda self, port, ch, height=0: channel)


def _record_broadcasts(node: BlockNode, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every transaction broadcast to ``node``, whether CheckTx takes it or not."""
    raws: list[bytes] = []
    original = node.broadcast_tx_sync

    def record(tx: bytes) -> dict[str, Any]:
        raws.append(tx)
        return original(tx)

    monkeypatch.setattr(node, "broadcast_tx_sync", record)
    return raws


def _offers_in(raws: list[bytes]) -> list[energy_pb2.MsgOfferEnergy]:
    found = []
    for raw in raws:
        tx = codec.decode_tx(raw)
        for msg in tx.body.messages:
            if msg.WhichOneof("sum") == "offer_energy":
                assert tx.body.signer == UTILITY.address  # the utility cell offers
                found.append(msg.offer_energy)
    return found


def test_offers_go_to_the_neighbours_next_interval(
    nodes: tuple[BlockNode, BlockNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = nodes
    _open_energy_channel(monkeypatch)
    raws = _record_broadcasts(here, monkeypatch)
    there.advance(7)  # the neighbour's clock is ahead: its schedule, not ours, decides
    config = SimConfig(
        households=4, intervals=2, seed=4, misbehave=0, start_hour=12.0, prosumer_share=1.0,
        offer_channel="channel-0", offer_wait_seconds=0,
    )  # fmt: skip
    recorder = Recorder()
    sim = Simulator(
        here, FAUCET, UTILITY, config, reporter=recorder, clock=PairClock(here, there),
        counterparty=there,
    )  # fmt: skip
    result = sim.run()
    assert result.complete
    assert result.neighbour == NEIGHBOUR_ID and result.neighbour_denom == "ugrid"
    assert result.offers, recorder.events
    sent = _offers_in(raws)
    assert len(sent) == len(result.offers)
    feed_in = ChainClient(here).market_params().params.feed_in_tariff
    neighbour = ChainClient(there)
    for msg, offer in zip(sent, result.offers, strict=True):
        assert msg.source_channel == "channel-0" and msg.side == market_pb2.SIDE_SELL
        assert msg.denom == "ugrid" and not msg.HasField("max_payment")
        assert msg.limit_price == feed_in == offer.price  # the default min price: feed-in
        # the start of one of the neighbour's intervals, and the packet lives until its gate
        state = neighbour.interval(offer.target_interval)
        assert msg.delivery_start == state.start_time == offer.delivery_start
        assert msg.timeout_timestamp == state.gate_closure_time * NS
        assert msg.quantity_wh == offer.quantity_wh > 0
    # one offer per neighbour interval
    assert len({o.target_interval for o in result.offers}) == len(result.offers)
    # without a channel on the chain, CheckTx refuses the offers and the table says so
    assert all(o.status == "failed" and "channel" in o.error for o in result.offers)
    shown = [r.offer for r in result.rows if r.offer is not None]
    assert shown and all(o in result.offers for o in shown)
    out = io.StringIO()
    d = disp.Display(out, offers=True, tty=False)
    d.interval(result.rows[0])
    d.summary(result)
    assert "offer kWh" in out.getvalue() and f"Offers to {NEIGHBOUR_ID}" in out.getvalue()


def test_offers_need_an_open_energy_channel(nodes: tuple[BlockNode, BlockNode]) -> None:
    here, there = nodes
    config = SimConfig(households=2, intervals=1, offer_channel="channel-0")
    sim = Simulator(here, FAUCET, UTILITY, config, reporter=Recorder(), clock=ChainClock(here),
                    counterparty=there)  # fmt: skip
    with pytest.raises(SimError, match="no energy channel channel-0"):
        sim.setup()
    no_neighbour = Simulator(here, FAUCET, UTILITY, config, clock=ChainClock(here))
    with pytest.raises(SimError, match="--counterparty-node"):
        no_neighbour.setup()


def test_no_offer_when_the_feed_in_tariff_is_above_the_neighbours_prices(
    nodes: tuple[BlockNode, BlockNode], monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = nodes
    _open_energy_channel(monkeypatch)
    monkeypatch.setattr(offers, "offer_price", lambda feed_in, low, high: None)
    config = SimConfig(households=2, intervals=1, offer_channel="channel-0")
    sim = Simulator(here, FAUCET, UTILITY, config, clock=ChainClock(here), counterparty=there)
    with pytest.raises(SimError, match="would not beat the main grid"):
        sim.setup()


# -- over a real energy channel between two in-process chains ---------------------------------


class WithTxs:
    """An IBCNode as the simulator's RPC: ``/block`` also lists the block's transactions
    (the simulator follows its own transactions through them)."""

    def __init__(self, node: Any):
        self.node = node
        self.txs: dict[int, list[bytes]] = {}
        commit = node.commit_block

        def recording(txs: list[bytes] | None = None, *, seconds: int | None = None) -> Any:
            included = list(node.mempool if txs is None else txs)
            result = commit(txs, seconds=seconds)
            self.txs[node.height] = included
            return result

        node.commit_block = recording

    def block(self, height: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = self.node.block(height)
        h = int(height or self.node.height)
        out["block"]["data"] = {"txs": [base64.b64encode(t).decode() for t in self.txs.get(h, [])]}
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)


class RelayingClock:
    """A pause is one block on both chains, then a relay of everything pending; bob
    bids on the neighbour for every interval an offer reached."""

    def __init__(self, pair: Any, bob: Any):
        self.pair = pair
        self.bob = bob
        self.now = 0.0
        self.bid_for: set[int] = set()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 1
        self.pair.step()
        self.pair.relay_packets()
        b = ChainClient(self.pair.b)
        first = int(b.schedule().first_open)
        for t in b.energy_trades():
            if t.status != energy_pb2.OFFER_STATUS_PENDING:
                continue
            n = next((i for i in range(first, first + 5)
                      if b.interval(i).start_time == t.offer.delivery_start), None)  # fmt: skip
            if n is None or n in self.bid_for:
                continue
            bid = market_pb2.MsgPlaceOrder(
                side=market_pb2.SIDE_BUY, interval=n, quantity_wh=1000, price=250
            )
            self.pair.b.mempool.append(self.pair.b.sign(self.bob, ("place_order", bid)))
            self.bid_for.add(n)


def test_offers_filled_by_the_neighbour_over_a_real_channel(tmp_path: Path) -> None:
    ibcpair = pytest.importorskip("tests.support.ibcpair")

    def state(denom: str) -> dict[str, Any]:
        s = ibcpair.microgrid_app_state(denom)
        s["market"]["params"].update(DEMO_MARKET_PARAMS)
        s["settlement"]["params"] = dict(DEMO_SETTLEMENT_PARAMS)
        s["reputation"]["params"] = dict(DEMO_REPUTATION_PARAMS)
        return s

    pair = ibcpair.IBCPair(tmp_path, app_state_a=state("ugrida"), app_state_b=state("ugridb"))
    try:
        pair.create_clients()
        pair.open_connection()
        ch_a, _ = pair.open_channel("energy", ibc_pb2.ORDER_UNORDERED, "mgrid-energy-1")
        config = SimConfig(
            households=4, intervals=2, seed=4, misbehave=0, start_hour=12.0,
            prosumer_share=1.0, funding=10**9, offer_channel=ch_a, offer_wait_seconds=60,
        )  # fmt: skip
        recorder = Recorder()
        sim = Simulator(
            WithTxs(pair.a), ibcpair.key("carol"), ibcpair.key("utility"), config,
            reporter=recorder, clock=RelayingClock(pair, ibcpair.key("bob")),
            counterparty=pair.b,
        )  # fmt: skip
        result = sim.run()
        assert result.complete, recorder.events
        assert result.neighbour == "mg-b" and result.neighbour_denom == "ugridb"
        assert result.offers and all(o.status == "filled" for o in result.offers), result.offers
        assert any(o.filled_wh for o in result.offers)
        a = ChainClient(pair.a)
        for o in result.offers:
            trade = a.energy_trade(ch_a, o.sequence, True)
            assert trade.result.filled_wh == o.filled_wh
            assert trade.result.filled_wh == min(o.quantity_wh, 1000)  # bob's bid
        paid = cmd_ibc.voucher_denom(f"energy/{ch_a}/ugridb")
        assert (
            a.balance(ibcpair.address("utility"), paid).amount
            == sum(o.amount for o in result.offers)
            > 0
        )
        assert any(e.startswith("offer to mg-b") and "filled" in e for e in recorder.events)
        lines = disp.offer_summary_lines(result)
        assert "filled" in lines[2] and "ugridb" in lines[0]
    finally:
        pair.close()
