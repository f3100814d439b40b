"""``mgrid tx ibc transfer``, ``mgrid tx energy offer`` and the IBC queries:
the messages the wallet builds (decoded from what reached a fake node), the
counterparty lookups of an energy offer, what is refused before signing, how
the chain's answers are shown, and (once the two in-process chains of
tests/support/ibcpair.py exist) a transfer and an energy offer end to end."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from app import crypto, router
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.tx import codec
from clients.mgrid import cmd_ibc, errors
from clients.mgrid.chain import ChainClient, ChainError, parse_block_time_ns
from clients.mgrid.cli import Env, ExitCode, run
from clients.mgrid.keyring import Keyring
from clients.mgrid.session import UsageError
from tests.clients.conftest import FakeNode, Result

UTILITY = crypto.PrivateKey(b"\x01" * 32)
RECEIVER = crypto.PrivateKey(b"\x02" * 32).address
NS = 1_000_000_000
BLOCK_TIME = "2025-01-01T00:00:00.5Z"  # the fake node's latest block time
BLOCK_TIME_NS = 1_735_689_600 * NS + NS // 2
CP_URL = "http://mg-2:26657"

Wallet = Any

CHANNEL = "/mgrid.ibc.v1.Query/Channel"
CHANNELS = "/mgrid.ibc.v1.Query/Channels"
CLIENTS = "/mgrid.ibc.v1.Query/Clients"
CLIENT_STATE = "/mgrid.ibc.v1.Query/ClientState"
CONSENSUS = "/mgrid.ibc.v1.Query/ConsensusState"
CONNECTIONS = "/mgrid.ibc.v1.Query/Connections"
COMMITMENTS = "/mgrid.ibc.v1.Query/PacketCommitments"
ACKS = "/mgrid.ibc.v1.Query/PacketAcknowledgements"
NEXT_RECV = "/mgrid.ibc.v1.Query/NextSequenceReceive"
DENOM_TRACE = "/mgrid.ibc.transfer.v1.Query/DenomTrace"
DENOM_TRACES = "/mgrid.ibc.transfer.v1.Query/DenomTraces"
ESCROW = "/mgrid.ibc.transfer.v1.Query/EscrowAddress"
TRADES = "/mgrid.ibc.energy.v1.Query/Trades"
TRADE = "/mgrid.ibc.energy.v1.Query/Trade"
SCHEDULE = "/mgrid.market.v1.Query/Schedule"
INTERVAL = "/mgrid.market.v1.Query/Interval"
MARKET_PARAMS = "/mgrid.market.v1.Query/Params"


def voucher(trace: str) -> str:
    return "ibc/" + hashlib.sha256(trace.encode()).hexdigest().upper()


@pytest.fixture(autouse=True)
def app_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Until the apps' message handlers are routed, a route that accepts any shape,
    so that the wallet's own work is tested; with the real routes, they run."""
    for name in ("transfer", "offer_energy"):
        if name not in router.MSG_ROUTES:
            monkeypatch.setitem(
                router.MSG_ROUTES,
                name,
                router.MsgRoute("test", name, lambda msg: None, lambda *args: None),
            )


class Node(FakeNode):
    """The conftest fake node with a block time in RFC 3339, as CometBFT writes it."""

    def status(self) -> dict[str, Any]:
        st = super().status()
        st["sync_info"]["latest_block_time"] = BLOCK_TIME
        return st


@pytest.fixture
def node() -> Node:
    n = Node()
    n.responses[CHANNEL] = ibc_pb2.QueryChannelResponse(channel=open_channel("transfer", "7"))
    return n


@pytest.fixture
def cp_node() -> Node:
    """The other chain's node: a market with 20 s intervals, its gate 5 s before each."""
    n = Node(chain_id="mg-2", height=50)
    n.responses[SCHEDULE] = market_pb2.QueryScheduleResponse(
        block_time=1_000_012, first_open=50_001, interval_seconds=20
    )

    def interval(data: bytes) -> Any:
        i = market_pb2.QueryIntervalRequest.FromString(data).id
        start = i * 20
        return market_pb2.QueryIntervalResponse(
            interval=market_pb2.IntervalState(
                id=i, start_time=start, end_time=start + 20, gate_closure_time=start - 5
            )
        )

    n.responses[INTERVAL] = interval
    n.responses[MARKET_PARAMS] = market_pb2.QueryParamsResponse(
        params=market_pb2.Params(
            feed_in_tariff=100, retail_tariff=300, min_order_wh=10, max_order_wh=100_000
        )
    )
    return n


def open_channel(port: str, cp_channel: str) -> ibc_pb2.Channel:
    return ibc_pb2.Channel(
        state=ibc_pb2.CHANNEL_STATE_OPEN,
        ordering=ibc_pb2.ORDER_UNORDERED,
        counterparty=ibc_pb2.ChannelCounterparty(port_id=port, channel_id=f"channel-{cp_channel}"),
        connection_hops=["connection-0"],
        version="ics20-1" if port == "transfer" else "mgrid-energy-1",
    )


class CLI:
    """``mgrid`` with a test keyring holding ``utility``, against named fake nodes."""

    def __init__(self, keyring_dir: str, nodes: dict[str, Any]):
        self.keyring_dir = keyring_dir
        self.nodes = nodes
        Keyring(keyring_dir, backend="test").add("utility", b"\x01" * 32)

    def __call__(self, *argv: str, node: str = "local") -> Result:
        out, err = io.StringIO(), io.StringIO()
        env = Env(rpc_factory=lambda url: self.nodes[url], stdout=out, stderr=err)
        head = ["--keyring-dir", self.keyring_dir, "--keyring-backend", "test"]
        code = run([*head, "--node", node, *argv], env)
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(tmp_path: Any, node: Node, cp_node: Node) -> CLI:
    return CLI(str(tmp_path / "keyring"), {"local": node, CP_URL: cp_node})


def sent(node: FakeNode) -> tuple[Any, Any]:
    """The body and the one message of the one transaction broadcast to ``node``."""
    assert len(node.broadcasts) == 1
    tx = codec.decode_tx(node.broadcasts[0][1])
    (msg,) = tx.body.messages
    return tx.body, getattr(msg, msg.WhichOneof("sum"))


def send_packet_event(seq: int, port: str = "transfer") -> dict[str, Any]:
    attrs = {
        "packet_sequence": str(seq),
        "packet_src_port": port,
        "packet_src_channel": "channel-0",
        "packet_dst_port": port,
        "packet_dst_channel": "channel-7",
        "packet_timeout_height": "0",
        "packet_timeout_timestamp": "123",
        "packet_data_hex": "0a01",
        "packet_channel_ordering": "ORDER_UNORDERED",
        "connection_id": "connection-0",
    }
    return {
        "code": 0,
        "log": "",
        "codespace": "",
        "events": [
            {
                "type": "send_packet",
                "attributes": [{"key": k, "value": v} for k, v in attrs.items()],
            }
        ],
    }


# -- block time --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2025-01-01T00:00:00Z", 1_735_689_600 * NS),
        ("2025-01-01T00:00:00.000000001Z", 1_735_689_600 * NS + 1),
        ("2025-01-01T00:00:00.5Z", BLOCK_TIME_NS),
        ("2025-01-01T02:00:00.123456789+02:00", 1_735_689_600 * NS + 123_456_789),
        ("2024-12-31T23:00:00-01:00", 1_735_689_600 * NS),
        ("1700000040", 1_700_000_040 * NS),  # the in-process node's plain seconds
    ],
)
def test_block_time_is_read_exactly(text: str, ns: int) -> None:
    assert parse_block_time_ns(text) == ns


@pytest.mark.parametrize("text", ["", "yesterday", "2025-13-01T00:00:00Z", "2025-01-01 00:00:00"])
def test_a_malformed_block_time_is_a_chain_error(text: str) -> None:
    with pytest.raises(ChainError):
        parse_block_time_ns(text)


# -- tx ibc transfer ---------------------------------------------------------------------------


def test_transfer_builds_the_packet_and_says_what_the_receiver_gets(cli: CLI, node: Node) -> None:
    node.broadcast_result = send_packet_event(4)
    r = cli("-o", "json", "tx", "ibc", "transfer", "channel-0", RECEIVER, "1000ugrid",
            "--from", "utility", "--packet-memo", "hi", "--memo", "tx memo")  # fmt: skip
    assert r.code == 0, r.err
    body, msg = sent(node)
    assert body.signer == UTILITY.address and body.memo == "tx memo"
    assert msg == transfer_pb2.MsgTransfer(
        source_port="transfer",
        source_channel="channel-0",
        token=coin_pb2.Coin(denom="ugrid", amount="1000"),
        receiver=RECEIVER,
        timeout_height=0,
        timeout_timestamp=BLOCK_TIME_NS + 600 * NS,  # this chain's block time + 600 s
        memo="hi",
    )
    data = r.json()
    assert data["receiver_trace"] == "transfer/channel-7/ugrid"
    assert data["receiver_denom"] == voucher("transfer/channel-7/ugrid")
    assert data["packet"]["sequence"] == 4 and data["packet"]["dst_channel"] == "channel-7"
    asked = dict(node.requests)
    req = ibc_pb2.QueryChannelRequest.FromString(asked[CHANNEL])
    assert (req.port_id, req.channel_id) == ("transfer", "channel-0")


def test_a_voucher_going_home_arrives_as_the_native_coin(cli: CLI, node: Node) -> None:
    node.responses[DENOM_TRACE] = transfer_pb2.QueryDenomTraceResponse(
        denom_trace=transfer_pb2.DenomTrace(path="transfer/channel-0", base_denom="uother")
    )
    home = voucher("transfer/channel-0/uother")
    r = cli("tx", "ibc", "transfer", "channel-0", RECEIVER, f"5{home}", "--from", "utility",
            "--timeout-seconds", "30", "--packet-timeout-height", "900")  # fmt: skip
    assert r.code == 0, r.err
    assert "the receiver gets: 5uother" in r.out
    _, msg = sent(node)
    assert msg.token.denom == home
    assert (msg.timeout_height, msg.timeout_timestamp) == (900, BLOCK_TIME_NS + 30 * NS)
    assert transfer_pb2.QueryDenomTraceRequest.FromString(
        dict(node.requests)[DENOM_TRACE]
    ).hash == (home)


def test_transfer_generate_only_with_a_height_timeout_asks_no_node(cli: CLI, node: Node) -> None:
    r = cli("tx", "ibc", "transfer", "channel-3", RECEIVER, "7ugrid", "--from", "utility",
            "--packet-timeout-height", "1234", "--generate-only", "--chain-id", "mg-1",
            "--sequence", "2", "--fees", "0ugrid")  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    (msg,) = doc["body"]["messages"]
    assert msg["transfer"]["source_channel"] == "channel-3"
    assert msg["transfer"]["timeout_height"] == "1234"
    assert "timeout_timestamp" not in msg["transfer"]
    assert node.requests == [] and node.status_calls == 0 and node.broadcasts == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["1000ugrid", "--timeout-seconds", "0"], "needs a timeout"),
        (["0ugrid"], "moves nothing"),
        (["1000"], "AMOUNT"),
        (["1000ugrid,5uother"], "AMOUNT"),
    ],
)
def test_transfer_refused_before_signing(
    cli: CLI, node: Node, argv: list[str], message: str
) -> None:
    r = cli("tx", "ibc", "transfer", "channel-0", RECEIVER, *argv, "--from", "utility")
    assert r.code == ExitCode.USAGE, r.err
    assert message in r.err and node.broadcasts == []


def test_transfer_on_a_channel_that_is_not_open(cli: CLI, node: Node) -> None:
    channel = open_channel("transfer", "7")
    channel.state = ibc_pb2.CHANNEL_STATE_INIT
    node.responses[CHANNEL] = ibc_pb2.QueryChannelResponse(channel=channel)
    r = cli("tx", "ibc", "transfer", "channel-0", RECEIVER, "1ugrid", "--from", "utility")
    assert r.code == ExitCode.CHAIN and "is init, not open" in r.err
    assert node.broadcasts == []


def test_transfer_on_an_unknown_channel_says_what_to_do(cli: CLI, node: Node) -> None:
    node.query_errors[CHANNEL] = ("ibc", 14, "channel not found: transfer/channel-9")
    r = cli("tx", "ibc", "transfer", "channel-9", RECEIVER, "1ugrid", "--from", "utility")
    assert r.code == ExitCode.CHAIN
    assert "mgrid query ibc channels" in r.err and "channel-9" in r.err


# -- tx energy offer ---------------------------------------------------------------------------


@pytest.fixture
def energy_channel(node: Node) -> None:
    node.responses[CHANNEL] = ibc_pb2.QueryChannelResponse(channel=open_channel("energy", "2"))


def test_offer_for_the_counterpartys_next_interval(
    cli: CLI, node: Node, cp_node: Node, energy_channel: None
) -> None:
    node.broadcast_result = send_packet_event(1, "energy")
    r = cli("-o", "json", "tx", "energy", "offer", "channel-0", "--side", "sell",
            "--quantity", "1.5kWh", "--price", "120", "--counterparty-node", CP_URL,
            "--from", "utility")  # fmt: skip
    assert r.code == 0, r.err
    _, msg = sent(node)
    # first open is 50001 (gate at 1000015, 3 s after its block time 1000012): too close for
    # the default 10 s lead, so the next one, 50002 (gate 1000035)
    assert msg == energy_pb2.MsgOfferEnergy(
        source_channel="channel-0",
        side=market_pb2.SIDE_SELL,
        delivery_start=50_002 * 20,
        quantity_wh=1500,
        limit_price=120,
        timeout_timestamp=(50_002 * 20 - 5) * NS,  # the interval's gate closure
        denom="ugrid",  # the counterparty's bank denom
    )
    data = r.json()
    assert data["delivery_start"] == 1_000_040 and data["packet"]["sequence"] == 1
    assert cp_node.broadcasts == []


def test_offer_with_a_short_lead_and_an_explicit_timeout(
    cli: CLI, node: Node, energy_channel: None
) -> None:
    r = cli("tx", "energy", "offer", "channel-0", "--side", "sell", "--quantity", "100",
            "--price", "100", "--counterparty-node", CP_URL, "--lead-seconds", "2",
            "--timeout-seconds", "60", "--denom", "uother", "--from", "utility")  # fmt: skip
    assert r.code == 0, r.err
    _, msg = sent(node)
    assert msg.delivery_start == 50_001 * 20
    assert msg.timeout_timestamp == BLOCK_TIME_NS + 60 * NS
    assert msg.denom == "uother"


def test_buy_offer_escrows_vouchers_of_this_channel(
    cli: CLI, node: Node, energy_channel: None
) -> None:
    pay = voucher("energy/channel-0/ugrid")
    r = cli("tx", "energy", "offer", "channel-0", "--side", "buy", "--quantity", "2000",
            "--price", "250", "--delivery-start", "1000040", "--denom", "ugrid",
            "--max-payment", f"700{pay}", "--from", "utility")  # fmt: skip
    assert r.code == 0, r.err
    _, msg = sent(node)
    assert msg.side == market_pb2.SIDE_BUY and msg.delivery_start == 1_000_040
    assert msg.max_payment == coin_pb2.Coin(denom=pay, amount="700")
    assert msg.timeout_timestamp == 1_000_040 * NS  # without the other node: the start


def test_buy_offer_reads_the_denom_from_the_vouchers_trace(
    cli: CLI, node: Node, energy_channel: None
) -> None:
    pay = voucher("energy/channel-0/uother")
    node.responses[DENOM_TRACE] = transfer_pb2.QueryDenomTraceResponse(
        denom_trace=transfer_pb2.DenomTrace(path="energy/channel-0", base_denom="uother")
    )
    r = cli("tx", "energy", "offer", "channel-0", "--side", "buy", "--quantity", "100",
            "--price", "250", "--delivery-start", "1000040", "--max-payment", f"90{pay}",
            "--from", "utility")  # fmt: skip
    assert r.code == 0, r.err
    _, msg = sent(node)
    assert msg.denom == "uother" and msg.max_payment.denom == pay
    node.responses[DENOM_TRACE] = transfer_pb2.QueryDenomTraceResponse(
        denom_trace=transfer_pb2.DenomTrace(path="transfer/channel-0", base_denom="uother")
    )
    r = cli("tx", "energy", "offer", "channel-0", "--side", "buy", "--quantity", "100",
            "--price", "250", "--delivery-start", "1000040", "--max-payment", f"90{pay}",
            "--from", "utility")  # fmt: skip
    assert r.code == ExitCode.USAGE and "not a voucher that came over energy/channel-0" in r.err


def test_offer_generate_only_asks_no_node(cli: CLI, node: Node, cp_node: Node) -> None:
    r = cli("tx", "energy", "offer", "channel-4", "--side", "sell", "--quantity", "500",
            "--price", "90", "--delivery-start", "1000040", "--denom", "ugrid",
            "--from", "utility", "--generate-only", "--chain-id", "mg-1", "--sequence", "0",
            "--fees", "0ugrid")  # fmt: skip
    assert r.code == 0, r.err
    (msg,) = json.loads(r.out)["body"]["messages"]
    offer = msg["offer_energy"]
    assert offer["source_channel"] == "channel-4" and offer["denom"] == "ugrid"
    assert offer["timeout_timestamp"] == str(1_000_040 * NS)
    for n in (node, cp_node):
        assert n.requests == [] and n.status_calls == 0 and n.broadcasts == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--side", "buy", "--delivery-start", "100", "--denom", "ugrid"], "--max-payment"),
        (
            [
                "--side",
                "sell",
                "--delivery-start",
                "100",
                "--denom",
                "ugrid",
                "--max-payment",
                "5ugrid",
            ],
            "a SELL escrows nothing",
        ),
        (["--side", "sell", "--delivery-start", "100"], "--denom"),
        (
            ["--side", "sell", "--delivery-start", "100", "--denom", "ugrid", "--interval", "3"],
            "--interval needs --counterparty-node",
        ),
        (["--side", "sell", "--counterparty-node", CP_URL, "--price", "99"], "[100, 300]"),
        (["--side", "sell", "--counterparty-node", CP_URL, "--quantity", "200kWh"], "at most"),
        (["--side", "sell", "--counterparty-node", CP_URL, "--interval", "50000"], "closed"),
        (
            [
                "--side",
                "buy",
                "--delivery-start",
                "100",
                "--denom",
                "ugrid",
                "--max-payment",
                "5" + voucher("energy/channel-9/ugrid"),
            ],
            "energy/channel-0/ugrid",
        ),
        (
            [
                "--side",
                "sell",
                "--delivery-start",
                "100",
                "--denom",
                "ugrid",
                "--timeout-seconds",
                "0",
            ],
            "needs a timeout",
        ),
    ],
)
def test_offer_refused_before_signing(
    cli: CLI, node: Node, energy_channel: None, argv: list[str], message: str
) -> None:
    base = ["tx", "energy", "offer", "channel-0", "--from", "utility"]
    defaults = {"--quantity": "1000", "--price": "150"}
    extra = [x for k, v in defaults.items() if k not in argv for x in (k, v)]
    r = cli(*base, *argv, *extra)
    assert r.code == ExitCode.USAGE, (r.out, r.err)
    assert message in r.err and node.broadcasts == []


def test_offer_needs_a_delivery_interval(cli: CLI, capsys: pytest.CaptureFixture[str]) -> None:
    r = cli("tx", "energy", "offer", "channel-0", "--side", "sell", "--quantity", "1",
            "--price", "1", "--from", "utility")  # fmt: skip
    assert r.code == ExitCode.USAGE and "--delivery-start" in capsys.readouterr().err


def test_counterparty_interval_by_number_and_next(cp_node: Node) -> None:
    cp = ChainClient(cp_node)
    assert cmd_ibc.counterparty_interval(cp, "next", 0).id == 50_001
    assert cmd_ibc.counterparty_interval(cp, "next", 10).id == 50_002
    assert cmd_ibc.counterparty_interval(cp, "next", 30).id == 50_003
    assert cmd_ibc.counterparty_interval(cp, 50_007).start_time == 50_007 * 20
    with pytest.raises(UsageError, match="closed that interval's gate"):
        cmd_ibc.counterparty_interval(cp, 50_000)


# -- ibc queries ---------------------------------------------------------------------------------


def client_state(chain_id: str, frozen: int = 0) -> ibc_pb2.ClientState:
    return ibc_pb2.ClientState(
        chain_id=chain_id,
        trust_level=ibc_pb2.Fraction(numerator=1, denominator=3),
        trusting_period_ns=14 * 86400 * NS,
        max_clock_drift_ns=10 * NS,
        latest_height=77,
        frozen_height=frozen,
    )


def test_clients_show_active_frozen_and_expired(cli: CLI, node: Node) -> None:
    node.responses[CLIENTS] = ibc_pb2.QueryClientsResponse(
        clients=[
            ibc_pb2.IdentifiedClientState(client_id=f"07-tendermint-{i}", client_state=cs)
            for i, cs in enumerate(
                [client_state("mg-2"), client_state("mg-3", frozen=1), client_state("mg-4")]
            )
        ]
    )

    def consensus(data: bytes) -> Any:
        req = ibc_pb2.QueryConsensusStateRequest.FromString(data)
        age_days = 20 if req.client_id == "07-tendermint-2" else 1
        return ibc_pb2.QueryConsensusStateResponse(
            consensus_state=ibc_pb2.ConsensusState(
                timestamp_ns=BLOCK_TIME_NS - age_days * 86400 * NS, root=b"\xab" * 32
            ),
            height=77,
        )

    node.responses[CONSENSUS] = consensus
    r = cli("query", "ibc", "clients")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == [
        "CLIENT_ID",
        "CHAIN_ID",
        "LATEST_HEIGHT",
        "STATUS",
        "TRUSTING_PERIOD",
    ]
    assert lines[1].split() == ["07-tendermint-0", "mg-2", "77", "active", "14d"]
    assert lines[2].split()[3] == "frozen" and lines[3].split()[3] == "expired"
    data = cli("-o", "json", "query", "ibc", "clients").json()
    assert data["clients"][0]["client_state"]["trusting_period_ns"] == 14 * 86400 * NS


def test_one_client_with_its_latest_consensus_state(cli: CLI, node: Node) -> None:
    node.responses[CLIENT_STATE] = ibc_pb2.QueryClientStateResponse(
        client_state=client_state("mg-2")
    )
    node.responses[CONSENSUS] = ibc_pb2.QueryConsensusStateResponse(
        consensus_state=ibc_pb2.ConsensusState(timestamp_ns=BLOCK_TIME_NS, root=b"\x01" * 32),
        height=77,
    )
    r = cli("query", "ibc", "client", "07-tendermint-0")
    assert r.code == 0, r.err
    assert "status: active" in r.out and "chain_id: mg-2" in r.out
    assert "root (app hash): " + "01" * 32 in r.out
    data = cli("-o", "json", "query", "ibc", "client", "07-tendermint-0").json()
    assert data["consensus_height"] == 77 and data["consensus_state"]["root"] == "01" * 32


def test_consensus_state_height_names_the_other_chains_height(cli: CLI, node: Node) -> None:
    node.responses[CONSENSUS] = ibc_pb2.QueryConsensusStateResponse(
        consensus_state=ibc_pb2.ConsensusState(timestamp_ns=5 * NS), height=40
    )
    r = cli("-o", "json", "query", "ibc", "consensus-state", "07-tendermint-0", "--height", "40")
    assert r.code == 0, r.err
    _, data = node.requests[-1]
    req = ibc_pb2.QueryConsensusStateRequest.FromString(data)
    assert (req.client_id, req.height) == ("07-tendermint-0", 40)
    assert node.queries[-1] == (CONSENSUS, 0)  # read at this chain's latest height
    assert r.json()["height"] == 40


def test_connections_and_channels_tables(cli: CLI, node: Node) -> None:
    node.responses[CONNECTIONS] = ibc_pb2.QueryConnectionsResponse(
        connections=[
            ibc_pb2.IdentifiedConnection(
                connection_id="connection-0",
                connection=ibc_pb2.ConnectionEnd(
                    client_id="07-tendermint-0",
                    versions=[ibc_pb2.Version(identifier="1", features=["ORDER_ORDERED"])],
                    state=ibc_pb2.CONNECTION_STATE_OPEN,
                    counterparty=ibc_pb2.ConnectionCounterparty(
                        client_id="07-tendermint-3", connection_id="connection-1", prefix=b"ibc"
                    ),
                ),
            )
        ]
    )
    node.responses[CHANNELS] = ibc_pb2.QueryChannelsResponse(
        channels=[
            ibc_pb2.IdentifiedChannel(
                port_id="energy", channel_id="channel-1", channel=open_channel("energy", "4")
            )
        ]
    )
    r = cli("query", "ibc", "connections")
    assert r.code == 0, r.err
    row = r.out.splitlines()[1].split()
    assert row[:5] == ["connection-0", "07-tendermint-0", "open", "07-tendermint-3", "connection-1"]
    r = cli("query", "ibc", "channels")
    row = r.out.splitlines()[1].split()
    assert row == ["energy", "channel-1", "open", "unordered", "energy/channel-4", "connection-0",
                   "mgrid-energy-1"]  # fmt: skip
    assert (
        cli("-o", "json", "query", "ibc", "channels").json()["channels"][0]["channel"]["state"]
        == "CHANNEL_STATE_OPEN"
    )


def test_packets_of_a_channel(cli: CLI, node: Node) -> None:
    node.responses[COMMITMENTS] = ibc_pb2.QueryPacketCommitmentsResponse(sequences=[1, 2, 3, 7])
    node.responses[ACKS] = ibc_pb2.QueryPacketAcknowledgementsResponse(sequences=[5])
    node.responses[NEXT_RECV] = ibc_pb2.QueryNextSequenceReceiveResponse(next_sequence_receive=6)
    r = cli("query", "ibc", "packets", "transfer", "channel-0")
    assert r.code == 0, r.err
    assert "not yet acknowledged or timed out (4): 1-3, 7" in r.out
    assert "acknowledgement written (1): 5" in r.out and "mgrid-relayer clear" in r.out
    data = cli("-o", "json", "query", "ibc", "packets", "transfer", "channel-0").json()
    assert data["pending_commitments"] == [1, 2, 3, 7] and data["next_sequence_receive"] == 6


def test_a_query_error_is_translated(cli: CLI, node: Node) -> None:
    node.query_errors[CLIENT_STATE] = ("ibc", 3, "client not found: 07-tendermint-9")
    r = cli("query", "ibc", "client", "07-tendermint-9")
    assert r.code == ExitCode.CHAIN and "mgrid query ibc clients" in r.err


# -- transfer and energy queries ---------------------------------------------------------------


def test_denom_traces_show_the_voucher_denoms(cli: CLI, node: Node) -> None:
    node.responses[DENOM_TRACES] = transfer_pb2.QueryDenomTracesResponse(
        denom_traces=[transfer_pb2.DenomTrace(path="transfer/channel-0", base_denom="uother")]
    )
    r = cli("query", "transfer", "denom-traces")
    assert r.code == 0, r.err
    assert r.out.splitlines()[1].split() == [
        voucher("transfer/channel-0/uother"),
        "transfer/channel-0",
        "uother",
    ]
    data = cli("-o", "json", "query", "transfer", "denom-traces").json()
    assert data["denom_traces"][0]["denom"] == voucher("transfer/channel-0/uother")


def test_escrow_address(cli: CLI, node: Node) -> None:
    node.responses[ESCROW] = transfer_pb2.QueryEscrowAddressResponse(escrow_address=RECEIVER)
    r = cli("query", "transfer", "escrow-address", "channel-2")
    assert r.code == 0 and r.out.strip() == RECEIVER
    req = transfer_pb2.QueryEscrowAddressRequest.FromString(dict(node.requests)[ESCROW])
    assert (req.port_id, req.channel_id) == ("transfer", "channel-2")


def inter_trade(status: int, outgoing: bool = True) -> energy_pb2.InterTrade:
    return energy_pb2.InterTrade(
        port_id="energy",
        channel_id="channel-0",
        sequence=3,
        outgoing=outgoing,
        offer=energy_pb2.EnergyOfferPacketData(
            offerer=UTILITY.address,
            side=market_pb2.SIDE_SELL,
            delivery_start=1_000_040,
            quantity_wh=1500,
            limit_price=120,
            denom="ugrid",
            max_payment="0",
        ),
        status=status,  # type: ignore[arg-type]
        result=energy_pb2.EnergyOfferResult(
            interval=50_002, order_id=9, filled_wh=1000, price=150, amount="150"
        )
        if status == energy_pb2.OFFER_STATUS_FILLED
        else None,
        error="interval closed" if status == energy_pb2.OFFER_STATUS_REFUSED else "",
        height=88,
    )


def test_energy_trades_table_and_json(cli: CLI, node: Node) -> None:
    node.responses[TRADES] = energy_pb2.QueryTradesResponse(
        trades=[
            inter_trade(energy_pb2.OFFER_STATUS_FILLED),
            inter_trade(energy_pb2.OFFER_STATUS_REFUSED, outgoing=False),
        ]
    )
    r = cli("query", "energy", "trades", "--channel", "channel-0")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[1].split() == ["channel-0", "3", "out", "sell", "1000040", "1500", "120ugrid",
                                "filled", "1000", "150", "150ugrid"]  # fmt: skip
    assert lines[2].split()[7:] == ["refused", "-", "-", "-"]
    assert energy_pb2.QueryTradesRequest.FromString(dict(node.requests)[TRADES]).channel_id == (
        "channel-0"
    )
    data = cli("-o", "json", "query", "energy", "trades").json()
    assert data["trades"][0]["status"] == "OFFER_STATUS_FILLED"
    assert data["trades"][0]["result"]["filled_wh"] == 1000


def test_energy_trade_record(cli: CLI, node: Node) -> None:
    node.responses[TRADE] = energy_pb2.QueryTradeResponse(
        trade=inter_trade(energy_pb2.OFFER_STATUS_FILLED)
    )
    r = cli("query", "energy", "trade", "channel-0", "3", "--outgoing")
    assert r.code == 0, r.err
    assert "status: filled" in r.out and "filled: 1000 Wh (1 kWh)" in r.out
    assert "price: 150ugrid/kWh" in r.out
    req = energy_pb2.QueryTradeRequest.FromString(dict(node.requests)[TRADE])
    assert (req.channel_id, req.sequence, req.outgoing) == ("channel-0", 3, True)


# -- errors and completion ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codespace", "code", "hint"),
    [
        ("ibc", 6, "expired"),
        ("ibc", 15, "not open"),
        ("ibc", 19, "later --timeout-seconds"),
        ("transfer", 7, "RECEIVER"),
        ("energy", 7, "--denom"),
        ("energy", 8, "--interval next"),
    ],
)
def test_ibc_errors_say_what_to_do(codespace: str, code: int, hint: str) -> None:
    text = errors.explain(codespace, code, "the chain's log")
    assert text is not None and hint in text and "the chain's log" in text


def test_explained_codes_are_registered_by_the_modules() -> None:
    """Every code explained for the IBC codespaces exists in the chain's registry."""
    registered = _registered_codes()
    for codespace, code in errors.EXPLAINERS:
        if codespace in registered:
            assert code in registered[codespace], (codespace, code)


def _registered_codes() -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    try:
        from ibc import errors as ibc_errors
        from ibc.apps.energy import errors as energy_errors
        from ibc.apps.transfer import errors as transfer_errors
    except ImportError:  # pragma: no cover - before the modules land
        return out
    for module in (ibc_errors, transfer_errors, energy_errors):
        for value in vars(module).values():
            if isinstance(value, type) and hasattr(value, "codespace") and hasattr(value, "code"):
                out.setdefault(value.codespace, set()).add(int(value.code))
    return out


def test_completion_knows_the_ibc_commands(cli: CLI) -> None:
    r = cli("completion", "bash")
    assert r.code == 0
    for word in ("transfer", "offer", "denom-traces", "consensus-state", "--counterparty-node"):
        assert word in r.out


# -- end to end on two in-process chains with real light clients ------------------------------

DENOM_A, DENOM_B = "ugrida", "ugridb"


@pytest.fixture
def pair(tmp_path: Any) -> Iterator[Any]:
    """Chains "a" (ugrida) and "b" (ugridb) with clients and a connection
    (tests/support/ibcpair.py), and ``cli`` holding their keys."""
    ibcpair = pytest.importorskip("tests.support.ibcpair")
    p = ibcpair.IBCPair(
        tmp_path,
        app_state_a=ibcpair.microgrid_app_state(DENOM_A),
        app_state_b=ibcpair.microgrid_app_state(DENOM_B),
    )
    try:
        p.create_clients()
        p.open_connection()
        p.cli = CLI(str(tmp_path / "keyring"), {"a": p.a, "b": p.b})
        keyring = Keyring(p.cli.keyring_dir, backend="test")
        for name in ("alice", "bob"):
            keyring.add(name, ibcpair.key(name).seed)
        p.address = ibcpair.address
        yield p
    finally:
        p.close()


def balances(cli: CLI, node: str, address: str) -> dict[str, int]:
    r = cli("-o", "json", "query", "bank", "balances", address, node=node)
    assert r.code == 0, r.err
    return {c["denom"]: int(c["amount"]) for c in r.json()["balances"]}


def test_transfer_there_and_back_with_the_wallet(pair: Any) -> None:
    ch_a, ch_b = pair.open_channel("transfer", ibc_pb2.ORDER_UNORDERED, "ics20-1")
    cli, alice, bob = pair.cli, pair.address("alice"), pair.address("bob")
    before = balances(cli, "a", alice)[DENOM_A]
    r = cli("-o", "json", "tx", "ibc", "transfer", ch_a, bob, f"1000{DENOM_A}",
            "--from", "alice", node="a")  # fmt: skip
    assert r.code == 0, r.err
    sent = r.json()
    want = voucher(f"transfer/{ch_b}/{DENOM_A}")
    assert sent["receiver_denom"] == want and sent["packet"]["dst_channel"] == ch_b
    seq = sent["packet"]["sequence"]
    pending = cli("-o", "json", "query", "ibc", "packets", "transfer", ch_a, node="a").json()
    assert pending["pending_commitments"] == [seq]

    relayed = pair.relay_packets()
    assert (relayed.received, relayed.acknowledged) == (1, 1)
    assert balances(cli, "b", bob)[want] == 1000
    assert balances(cli, "a", alice)[DENOM_A] == before - 1000  # the fee is 0 here
    done = cli("-o", "json", "query", "ibc", "packets", "transfer", ch_a, node="a").json()
    assert done["pending_commitments"] == []
    traces = cli("query", "transfer", "denom-traces", node="b").out
    assert want in traces and f"transfer/{ch_b}" in traces
    escrow = cli("query", "transfer", "escrow-address", ch_a, node="a").out.strip()
    assert balances(cli, "a", escrow)[DENOM_A] == 1000

    # back home: the voucher is burned on b and the escrow released on a
    r = cli("tx", "ibc", "transfer", ch_b, alice, f"400{want}", "--from", "bob", node="b")
    assert r.code == 0, r.err
    assert f"the receiver gets: 400{DENOM_A}" in r.out
    pair.relay_packets()
    assert balances(cli, "b", bob)[want] == 600
    assert balances(cli, "a", alice)[DENOM_A] == before - 600
    assert balances(cli, "a", escrow)[DENOM_A] == 600

    text = cli("query", "ibc", "channels", node="a").out
    assert f"transfer  {ch_a}" in text and "open" in text
    assert "active" in cli("query", "ibc", "clients", node="a").out


def test_energy_offer_filled_and_seen_on_both_chains(pair: Any) -> None:
    ch_a, ch_b = pair.open_channel("energy", ibc_pb2.ORDER_UNORDERED, "mgrid-energy-1")
    cli = pair.cli
    r = cli("-o", "json", "tx", "energy", "offer", ch_a, "--side", "sell", "--quantity", "2kWh",
            "--price", "150", "--counterparty-node", "b", "--from", "utility", node="a")  # fmt: skip
    assert r.code == 0, r.err
    sent = r.json()
    assert sent["denom"] == DENOM_B and sent["packet"]["dst_channel"] == ch_b
    start = sent["delivery_start"]
    b = ChainClient(pair.b)
    n = next(i for i in range(b.schedule().first_open, b.schedule().first_open + 5)
             if b.interval(i).start_time == start)  # fmt: skip
    assert pair.relay_packets().received == 1

    # bob buys on b for that interval, with the wallet
    r = cli("tx", "market", "place-order", "buy", "--quantity", "1500", "--interval", str(n),
            "--price", "250", "--from", "bob", node="b")  # fmt: skip
    assert r.code == 0, r.err
    pending = cli("-o", "json", "query", "energy", "trades", node="b").json()["trades"]
    assert [t["status"] for t in pending] == ["OFFER_STATUS_PENDING"]

    gate = b.interval(n).gate_closure_time
    pair.advance(max(0, gate - pair.b.block_time) + 1)  # b clears and acknowledges
    assert pair.relay_packets().acknowledged == 1

    mine = cli("-o", "json", "query", "energy", "trades", "--channel", ch_a, node="a").json()
    theirs = cli("-o", "json", "query", "energy", "trades", "--channel", ch_b, node="b").json()
    [out_trade], [in_trade] = mine["trades"], theirs["trades"]
    assert out_trade["outgoing"] and not in_trade["outgoing"]
    assert out_trade["status"] == in_trade["status"] == "OFFER_STATUS_FILLED"
    assert out_trade["result"] == in_trade["result"]
    assert out_trade["result"]["filled_wh"] == 1500
    seq = out_trade["sequence"]
    text = cli("query", "energy", "trade", ch_a, str(seq), "--outgoing", node="a").out
    assert "status: filled" in text and "filled: 1500 Wh" in text
    paid = voucher(f"energy/{ch_a}/{DENOM_B}")
    utility = UTILITY.address
    assert balances(cli, "a", utility)[paid] == int(out_trade["result"]["amount"]) > 0
