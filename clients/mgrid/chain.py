"""Typed access to a chain for the wallet: ABCI queries and broadcast results.

Queries go through CometBFT's ``abci_query`` with the module's gRPC full
method name as the path (``/mgrid.bank.v1.Query/Balance``) and the serialised
request as data, exactly as app/router.py routes them; paths and response
types are read from the generated descriptors, never typed by hand. A
non-zero response code becomes a QueryError carrying codespace, code and log.

Broadcasting returns a TxResult, the same record for ``sync`` (CheckTx only)
and ``commit`` (CheckTx, then the result in a block) modes; in commit mode it
keeps the events of the executed transaction (the market's
``market_place_order`` carries the new order's id).

List queries answer one page at a time; ``pages`` walks them to the end.

``TxWatcher`` finds a transaction's result once it is in a block (for
``mgrid tx wait``): through the node's transaction index (``/tx``) and,
because a node may run without one (``indexer = "null"``) or fail to index a
block, also by reading the blocks themselves (``/block`` and
``/block_results``) from a little before the wait started. ``validator_count``
reads the size of the validator set from ``/validators`` (for ``mgrid
status``); ``block_time_ns`` the latest block time of ``/status`` in Unix
nanoseconds (IBC timeouts are counted from it). These RPC methods are optional for an RPCLike, so a client
without them still serves everything else.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import message_factory
from google.protobuf.message import DecodeError, Message

from app import coins
from app.coins import Coin
from app.pb.mgrid.auth.v1 import auth_pb2
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.reputation.v1 import reputation_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from clients.rpc import NodeUnreachable, RPCError

BROADCAST_MODES = ("sync", "commit")
# How many blocks before the first poll TxWatcher reads: a transaction
# broadcast in sync mode a little while before the wait began is still found.
TX_LOOKBACK_BLOCKS = 50
COMMIT_LAG_SECONDS = 5.0  # how long a query waits for the app to commit the newest block


class RPCLike(Protocol):
    """What the wallet needs of clients/rpc.py's RPC (tests substitute a fake)."""

    node: str

    def status(self) -> dict[str, Any]: ...

    def abci_query(
        self, path: str, data: bytes = b"", height: int = 0, prove: bool = False
    ) -> dict[str, Any]: ...

    def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]: ...

    def broadcast_tx_commit(self, tx: bytes) -> dict[str, Any]: ...


class ChainError(Exception):
    """The node answered, but not with what was asked for."""


class QueryError(ChainError):
    """The application answered a query with a non-zero code."""

    def __init__(self, path: str, codespace: str, code: int, log: str):
        super().__init__(f"query {path} failed: codespace={codespace} code={code}: {log}")
        self.path = path
        self.codespace = codespace
        self.code = code
        self.log = log


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """An account as the auth module reports it (sequence 0, no key: never signed)."""

    address: str
    pub_key: bytes
    sequence: int


@dataclass(frozen=True, slots=True)
class BankParams:
    denom: str
    min_fee: Coin
    fee_collector: str


@dataclass(frozen=True, slots=True)
class TxEvent:
    """An ABCI event of an executed transaction: a type and ordered attributes."""

    type: str
    attributes: tuple[tuple[str, str], ...] = ()

    def get(self, key: str) -> str | None:
        """The value of the first attribute named ``key``, or None."""
        return next((v for k, v in self.attributes if k == key), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "attributes": [{"key": k, "value": v} for k, v in self.attributes],
        }


@dataclass(frozen=True, slots=True)
class TxResult:
    """The outcome of a broadcast.

    ``phase`` says where ``code`` comes from: ``check`` (CheckTx: the mempool
    refused it, or accepted it in sync mode) or ``block`` (the result of its
    execution in block ``height``). ``height`` is 0 when not yet in a block.
    ``events`` are those of the execution in the block (none before).
    """

    txhash: str
    height: int
    code: int
    codespace: str
    log: str
    phase: str
    events: tuple[TxEvent, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 0

    def attribute(self, event_type: str, key: str) -> list[str]:
        """Values of attribute ``key`` in every event of ``event_type``, in order."""
        values = (e.get(key) for e in self.events if e.type == event_type)
        return [v for v in values if v is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "txhash": self.txhash,
            "height": self.height,
            "code": self.code,
            "codespace": self.codespace,
            "log": self.log,
            "phase": self.phase,
            "events": [e.to_json() for e in self.events],
        }


def query_path(file_descriptor: Any, method: str, service: str = "Query") -> str:
    """ABCI query path of a gRPC method: ``/<package>.<Service>/<Method>``."""
    svc = file_descriptor.services_by_name[service]
    return f"/{svc.full_name}/{svc.methods_by_name[method].name}"


class ChainClient:
    """Typed queries of the chain's modules over an RPC connection."""

    def __init__(self, rpc: RPCLike):
        self.rpc = rpc

    def query(self, file_descriptor: Any, method: str, request: Message, height: int = 0) -> Any:
        """Run ``Query/<method>`` of the service in ``file_descriptor``; returns its response."""
        descriptor = file_descriptor.services_by_name["Query"].methods_by_name[method]
        if request.DESCRIPTOR is not descriptor.input_type:
            raise TypeError(
                f"{method} takes {descriptor.input_type.full_name}, "
                f"got {request.DESCRIPTOR.full_name}"
            )
        path = query_path(file_descriptor, method)
        response = self.rpc.abci_query(path, request.SerializeToString(), height=height)
        # CometBFT stores block H (and reports it as the latest height) a moment
        # before the app has committed it: a query at that height waits for the commit.
        deadline = time.monotonic() + COMMIT_LAG_SECONDS
        while _not_committed_yet(response, height) and time.monotonic() < deadline:
            time.sleep(0.1)
            response = self.rpc.abci_query(path, request.SerializeToString(), height=height)
        code = int(response.get("code") or 0)
        if code:
            raise QueryError(
                path, str(response.get("codespace") or ""), code, str(response.get("log") or "")
            )
        out = message_factory.GetMessageClass(descriptor.output_type)()
        try:
            out.ParseFromString(response.get("value") or b"")
        except DecodeError as exc:
            raise ChainError(f"cannot decode the node's answer to {path}: {exc}") from None
        return out

    # -- auth ------------------------------------------------------------------------------

    def account(self, address: str, height: int = 0) -> AccountInfo:
        resp = self.query(
            auth_pb2.DESCRIPTOR, "Account", auth_pb2.QueryAccountRequest(address=address), height
        )
        acc = resp.account
        return AccountInfo(address, bytes(acc.pub_key), int(acc.sequence))

    # -- bank ------------------------------------------------------------------------------

    def bank_params(self, height: int = 0) -> BankParams:
        resp = self.query(bank_pb2.DESCRIPTOR, "Params", bank_pb2.QueryParamsRequest(), height)
        denom = resp.denom
        min_fee = _coin(resp.min_fee, denom) if resp.HasField("min_fee") else Coin(denom, 0)
        return BankParams(denom, min_fee, resp.fee_collector)

    def balance(self, address: str, denom: str = "", height: int = 0) -> Coin:
        """Balance of one denom ("" asks for the chain's denom)."""
        resp = self.query(
            bank_pb2.DESCRIPTOR,
            "Balance",
            bank_pb2.QueryBalanceRequest(address=address, denom=denom),
            height,
        )
        return _coin(resp.balance, denom)

    def all_balances(self, address: str, height: int = 0) -> list[Coin]:
        resp = self.query(
            bank_pb2.DESCRIPTOR,
            "AllBalances",
            bank_pb2.QueryAllBalancesRequest(address=address),
            height,
        )
        return [_coin(c) for c in resp.balances]

    def total_supply(self, height: int = 0) -> list[Coin]:
        resp = self.query(
            bank_pb2.DESCRIPTOR, "TotalSupply", bank_pb2.QueryTotalSupplyRequest(), height
        )
        return [_coin(c) for c in resp.supply]

    # -- registry --------------------------------------------------------------------------

    def participant(self, address: str, height: int = 0) -> Any:
        """The registry's record of ``address`` (a ``registry.v1.Participant``)."""
        req = registry_pb2.QueryParticipantRequest(address=address)
        return self.query(registry_pb2.DESCRIPTOR, "Participant", req, height).participant

    def participants(
        self,
        *,
        status: int = 0,
        bus: str = "",
        page_key: bytes = b"",
        limit: int = 0,
        height: int = 0,
    ) -> Any:
        """One page of participants (a ``QueryParticipantsResponse``: participants, next_key)."""
        req = registry_pb2.QueryParticipantsRequest(
            status=status,  # type: ignore[arg-type]
            bus=bus,
            page_key=page_key,
            limit=limit,
        )
        return self.query(registry_pb2.DESCRIPTOR, "Participants", req, height)

    def meter(self, pub_key: bytes, height: int = 0) -> Any:
        req = registry_pb2.QueryMeterRequest(pub_key=pub_key)
        return self.query(registry_pb2.DESCRIPTOR, "Meter", req, height).meter

    def meters(self, participant: str, height: int = 0) -> list[Any]:
        req = registry_pb2.QueryMetersRequest(participant=participant)
        return list(self.query(registry_pb2.DESCRIPTOR, "Meters", req, height).meters)

    def network(self, height: int = 0) -> Any:
        """The radial distribution network (a ``registry.v1.Network``)."""
        req = registry_pb2.QueryNetworkRequest()
        return self.query(registry_pb2.DESCRIPTOR, "Network", req, height).network

    def authorities(self, height: int = 0) -> Any:
        req = registry_pb2.QueryAuthoritiesRequest()
        return self.query(registry_pb2.DESCRIPTOR, "Authorities", req, height).authorities

    # -- market ----------------------------------------------------------------------------

    def market_params(self, height: int = 0) -> Any:
        """Params, bounds, a pending update and the module accounts (``QueryParamsResponse``)."""
        req = market_pb2.QueryParamsRequest()
        return self.query(market_pb2.DESCRIPTOR, "Params", req, height)

    def schedule(self, height: int = 0) -> Any:
        """Where block time stands among the delivery intervals (``QueryScheduleResponse``)."""
        req = market_pb2.QueryScheduleRequest()
        return self.query(market_pb2.DESCRIPTOR, "Schedule", req, height)

    def order(self, order_id: int, height: int = 0) -> Any:
        req = market_pb2.QueryOrderRequest(id=order_id)
        return self.query(market_pb2.DESCRIPTOR, "Order", req, height).order

    def orders(
        self,
        *,
        owner: str = "",
        interval: int = 0,
        open_only: bool = False,
        page_key: bytes = b"",
        limit: int = 0,
        height: int = 0,
    ) -> Any:
        """One page of the orders of ``owner``, or of ``interval`` when no owner is given."""
        req = market_pb2.QueryOrdersRequest(
            owner=owner, interval=interval, open_only=open_only, page_key=page_key, limit=limit
        )
        return self.query(market_pb2.DESCRIPTOR, "Orders", req, height)

    def interval(self, interval_id: int, height: int = 0) -> Any:
        """An interval's state and, once cleared, its results (``IntervalState``)."""
        req = market_pb2.QueryIntervalRequest(id=interval_id)
        return self.query(market_pb2.DESCRIPTOR, "Interval", req, height).interval

    def trades(
        self,
        *,
        interval: int = 0,
        address: str = "",
        page_key: bytes = b"",
        limit: int = 0,
        height: int = 0,
    ) -> Any:
        """One page of the trades of ``interval``, or of ``address`` when one is given."""
        req = market_pb2.QueryTradesRequest(
            interval=interval, address=address, page_key=page_key, limit=limit
        )
        return self.query(market_pb2.DESCRIPTOR, "Trades", req, height)

    def grid_position(self, height: int = 0) -> Any:
        req = market_pb2.QueryGridPositionRequest()
        return self.query(market_pb2.DESCRIPTOR, "GridPosition", req, height)

    def forecast(self, interval: int, height: int = 0) -> Any:
        req = market_pb2.QueryForecastRequest(interval=interval)
        return self.query(market_pb2.DESCRIPTOR, "Forecast", req, height).forecast

    # -- settlement and reputation --------------------------------------------------------

    def settlement_params(self, height: int = 0) -> Any:
        req = settlement_pb2.QueryParamsRequest()
        return self.query(settlement_pb2.DESCRIPTOR, "Params", req, height).params

    def reading(self, meter: bytes, interval: int, height: int = 0) -> Any:
        req = settlement_pb2.QueryReadingRequest(meter=meter, interval=interval)
        return self.query(settlement_pb2.DESCRIPTOR, "Reading", req, height).reading

    def readings(
        self, interval: int, *, page_key: bytes = b"", limit: int = 0, height: int = 0
    ) -> Any:
        """One page of the readings of ``interval``."""
        req = settlement_pb2.QueryReadingsRequest(interval=interval, page_key=page_key, limit=limit)
        return self.query(settlement_pb2.DESCRIPTOR, "Readings", req, height)

    def settlement(self, interval: int, height: int = 0) -> Any:
        """``QueryIntervalResponse``: settled?, the window's end, and the IntervalSettlement."""
        req = settlement_pb2.QueryIntervalRequest(interval=interval)
        return self.query(settlement_pb2.DESCRIPTOR, "Interval", req, height)

    def settlements(
        self,
        *,
        interval: int = 0,
        participant: str = "",
        page_key: bytes = b"",
        limit: int = 0,
        height: int = 0,
    ) -> Any:
        """One page of ParticipantSettlements: of ``interval``, of ``participant`` (newest
        first), or the one of both."""
        req = settlement_pb2.QuerySettlementsRequest(
            interval=interval, participant=participant, page_key=page_key, limit=limit
        )
        return self.query(settlement_pb2.DESCRIPTOR, "Settlements", req, height)

    def kpis(self, height: int = 0) -> Any:
        """Cumulative KPIs since genesis (``Totals``)."""
        req = settlement_pb2.QueryKpisRequest()
        return self.query(settlement_pb2.DESCRIPTOR, "Kpis", req, height).totals

    def reputation_params(self, height: int = 0) -> Any:
        req = reputation_pb2.QueryParamsRequest()
        return self.query(reputation_pb2.DESCRIPTOR, "Params", req, height).params

    def score(self, participant: str, height: int = 0) -> Any:
        """``QueryScoreResponse``: the Score and the rank (0 = unranked)."""
        req = reputation_pb2.QueryScoreRequest(participant=participant)
        return self.query(reputation_pb2.DESCRIPTOR, "Score", req, height)

    def reputation_history(
        self, participant: str, *, page_key: bytes = b"", limit: int = 0, height: int = 0
    ) -> Any:
        req = reputation_pb2.QueryHistoryRequest(
            participant=participant, page_key=page_key, limit=limit
        )
        return self.query(reputation_pb2.DESCRIPTOR, "History", req, height)

    def ranking(self, *, page_key: bytes = b"", limit: int = 0, height: int = 0) -> Any:
        req = reputation_pb2.QueryRankingRequest(page_key=page_key, limit=limit)
        return self.query(reputation_pb2.DESCRIPTOR, "Ranking", req, height)

    # -- ibc core (mgrid.ibc.v1.Query) ------------------------------------------------------

    def ibc_clients(self, height: int = 0) -> list[Any]:
        """Every light client on this chain (``IdentifiedClientState``s, by id)."""
        req = ibc_pb2.QueryClientsRequest()
        return list(self.query(ibc_pb2.DESCRIPTOR, "Clients", req, height).clients)

    def ibc_client_state(self, client_id: str, height: int = 0) -> Any:
        req = ibc_pb2.QueryClientStateRequest(client_id=client_id)
        return self.query(ibc_pb2.DESCRIPTOR, "ClientState", req, height).client_state

    def ibc_consensus_state(
        self, client_id: str, consensus_height: int = 0, height: int = 0
    ) -> Any:
        """``QueryConsensusStateResponse`` (consensus_state, height) of ``client_id`` at
        counterparty height ``consensus_height`` (0: the client's latest)."""
        req = ibc_pb2.QueryConsensusStateRequest(client_id=client_id, height=consensus_height)
        return self.query(ibc_pb2.DESCRIPTOR, "ConsensusState", req, height)

    def ibc_connections(self, height: int = 0) -> list[Any]:
        req = ibc_pb2.QueryConnectionsRequest()
        return list(self.query(ibc_pb2.DESCRIPTOR, "Connections", req, height).connections)

    def ibc_connection(self, connection_id: str, height: int = 0) -> Any:
        req = ibc_pb2.QueryConnectionRequest(connection_id=connection_id)
        return self.query(ibc_pb2.DESCRIPTOR, "Connection", req, height).connection

    def ibc_channels(self, height: int = 0) -> list[Any]:
        req = ibc_pb2.QueryChannelsRequest()
        return list(self.query(ibc_pb2.DESCRIPTOR, "Channels", req, height).channels)

    def ibc_channel(self, port_id: str, channel_id: str, height: int = 0) -> Any:
        req = ibc_pb2.QueryChannelRequest(port_id=port_id, channel_id=channel_id)
        return self.query(ibc_pb2.DESCRIPTOR, "Channel", req, height).channel

    def packet_commitments(self, port_id: str, channel_id: str, height: int = 0) -> list[int]:
        """Sequences sent on the channel and not yet acknowledged or timed out."""
        req = ibc_pb2.QueryPacketCommitmentsRequest(port_id=port_id, channel_id=channel_id)
        return list(self.query(ibc_pb2.DESCRIPTOR, "PacketCommitments", req, height).sequences)

    def packet_acknowledgements(self, port_id: str, channel_id: str, height: int = 0) -> list[int]:
        """Sequences received on the channel whose acknowledgement is written here."""
        req = ibc_pb2.QueryPacketAcknowledgementsRequest(port_id=port_id, channel_id=channel_id)
        resp = self.query(ibc_pb2.DESCRIPTOR, "PacketAcknowledgements", req, height)
        return list(resp.sequences)

    def next_sequence_receive(self, port_id: str, channel_id: str, height: int = 0) -> int:
        req = ibc_pb2.QueryNextSequenceReceiveRequest(port_id=port_id, channel_id=channel_id)
        resp = self.query(ibc_pb2.DESCRIPTOR, "NextSequenceReceive", req, height)
        return int(resp.next_sequence_receive)

    def unreceived_packets(
        self, port_id: str, channel_id: str, sequences: list[int], height: int = 0
    ) -> list[int]:
        """Of ``sequences`` (sent by the counterparty), those with no receipt here."""
        req = ibc_pb2.QueryUnreceivedPacketsRequest(
            port_id=port_id, channel_id=channel_id, sequences=sequences
        )
        return list(self.query(ibc_pb2.DESCRIPTOR, "UnreceivedPackets", req, height).sequences)

    def unreceived_acks(
        self, port_id: str, channel_id: str, sequences: list[int], height: int = 0
    ) -> list[int]:
        """Of ``sequences`` (sent here), those whose commitment is still stored."""
        req = ibc_pb2.QueryUnreceivedAcksRequest(
            port_id=port_id, channel_id=channel_id, sequences=sequences
        )
        return list(self.query(ibc_pb2.DESCRIPTOR, "UnreceivedAcks", req, height).sequences)

    # -- ICS-20 transfer (mgrid.ibc.transfer.v1.Query) --------------------------------------

    def denom_trace(self, denom_hash: str, height: int = 0) -> Any:
        """The DenomTrace of a voucher: ``hash`` as hex or as ``ibc/<hex>``."""
        req = transfer_pb2.QueryDenomTraceRequest(hash=denom_hash)
        return self.query(transfer_pb2.DESCRIPTOR, "DenomTrace", req, height).denom_trace

    def denom_traces(self, height: int = 0) -> list[Any]:
        req = transfer_pb2.QueryDenomTracesRequest()
        return list(self.query(transfer_pb2.DESCRIPTOR, "DenomTraces", req, height).denom_traces)

    def escrow_address(self, port_id: str, channel_id: str, height: int = 0) -> str:
        req = transfer_pb2.QueryEscrowAddressRequest(port_id=port_id, channel_id=channel_id)
        return str(self.query(transfer_pb2.DESCRIPTOR, "EscrowAddress", req, height).escrow_address)

    # -- inter-microgrid energy trades (mgrid.ibc.energy.v1.Query) --------------------------

    def energy_trades(self, channel_id: str = "", height: int = 0) -> list[Any]:
        """``InterTrade``s of one channel ("" : of every channel)."""
        req = energy_pb2.QueryTradesRequest(channel_id=channel_id)
        return list(self.query(energy_pb2.DESCRIPTOR, "Trades", req, height).trades)

    def energy_trade(self, channel_id: str, sequence: int, outgoing: bool, height: int = 0) -> Any:
        req = energy_pb2.QueryTradeRequest(
            channel_id=channel_id, sequence=sequence, outgoing=outgoing
        )
        return self.query(energy_pb2.DESCRIPTOR, "Trade", req, height).trade


def pages(fetch: Callable[[bytes], Any], items: str) -> Iterator[Any]:
    """Every item of a paginated list query, page after page.

    ``fetch(page_key)`` returns one page; ``items`` names its repeated field.
    A node that hands back a key it already gave would loop for ever: that is
    a ChainError.
    """
    page_key, seen = b"", set()
    while True:
        page = fetch(page_key)
        yield from getattr(page, items)
        page_key = bytes(page.next_key)
        if not page_key:
            return
        if page_key in seen:
            raise ChainError(f"the node repeats page key {page_key.hex()} of {items}")
        seen.add(page_key)


def _coin(proto: Any, default_denom: str = "") -> Coin:
    """A Coin from the chain; an empty amount is zero, as proto3 omits it."""
    denom = proto.denom or default_denom
    try:
        return Coin(coins.validate_denom(denom), coins.parse_amount(proto.amount or "0"))
    except coins.CoinError as exc:
        raise ChainError(f"the node returned a malformed coin: {exc}") from None


def parse_broadcast(mode: str, result: dict[str, Any], local_hash: str) -> TxResult:
    """Turn a ``broadcast_tx_sync`` / ``broadcast_tx_commit`` result into a TxResult."""
    txhash = str(result.get("hash") or local_hash).upper()
    if mode == "sync":
        return TxResult(txhash, 0, *_code_log(result), phase="check")
    check = result.get("check_tx") or {}
    code, codespace, log = _code_log(check)
    if code:
        return TxResult(txhash, 0, code, codespace, log, phase="check")
    # CometBFT v0.38 calls it tx_result; v0.34/0.37 said deliver_tx.
    executed = result.get("tx_result") or result.get("deliver_tx") or {}
    return TxResult(
        txhash,
        int(result.get("height") or 0),
        *_code_log(executed),
        phase="block",
        events=_events(executed.get("events") or []),
    )


def _events(raw: list[dict[str, Any]]) -> tuple[TxEvent, ...]:
    """Events as CometBFT v0.38 renders them: ``{type, attributes: [{key, value, index}]}``."""
    try:
        return tuple(
            TxEvent(
                str(e["type"]),
                tuple(
                    (str(a.get("key") or ""), str(a.get("value") or ""))
                    for a in e.get("attributes") or []
                ),
            )
            for e in raw
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ChainError(f"the node returned malformed events: {exc!r}") from None


def _code_log(part: dict[str, Any]) -> tuple[int, str, str]:
    return int(part.get("code") or 0), str(part.get("codespace") or ""), str(part.get("log") or "")


def parse_tx_lookup(result: dict[str, Any]) -> TxResult:
    """A CometBFT ``/tx`` result (a transaction in a block) as a TxResult."""
    executed = result.get("tx_result") or {}
    return TxResult(
        str(result.get("hash") or "").upper(),
        int(result.get("height") or 0),
        *_code_log(executed),
        phase="block",
        events=_events(executed.get("events") or []),
    )


def lookup_tx(rpc: Any, txhash: str) -> TxResult | None:
    """The result of transaction ``txhash`` (hex) from the node's index; None while
    the index does not have it.

    CometBFT answers ``/tx`` for an unknown hash with an error whose data
    says "tx (HASH) not found": that is the only error read as "not yet".
    """
    lookup = getattr(rpc, "tx", None)
    if lookup is None:
        raise ChainError(f"the RPC client of {rpc.node} cannot look transactions up (/tx)")
    try:
        result = lookup(txhash)
    except NodeUnreachable:
        raise
    except RPCError as exc:
        if "not found" in str(exc):
            return None
        raise
    return parse_tx_lookup(result)


def find_tx_in_blocks(rpc: Any, txhash: str, first: int, last: int) -> TxResult | None:
    """Read blocks ``first..last`` for transaction ``txhash`` (SHA-256 of its bytes, hex);
    its result comes from the same height's ``/block_results``."""
    txhash = txhash.upper()
    for height in range(first, last + 1):
        block = rpc.block(height)
        try:
            txs = block["block"]["data"]["txs"] or []
        except (KeyError, TypeError):
            raise ChainError(f"the node's block {height} is malformed") from None
        for index, encoded in enumerate(txs):
            raw = base64.b64decode(encoded)
            if hashlib.sha256(raw).hexdigest().upper() != txhash:
                continue
            results = rpc.block_results(height).get("txs_results") or []
            if index >= len(results):
                raise ChainError(f"block {height} has no result for its transaction {index}")
            return parse_tx_lookup({"hash": txhash, "height": height, "tx_result": results[index]})
    return None


class TxWatcher:
    """Polls for one transaction until it is in a block (see the module docstring).

    Each ``poll`` asks the index, then reads the blocks committed since the
    previous poll (on the first, from ``since_height``, or from
    TX_LOOKBACK_BLOCKS below the latest height).
    """

    def __init__(self, rpc: Any, txhash: str, since_height: int | None = None):
        self.rpc = rpc
        self.txhash = txhash.upper()
        self.next_height = since_height
        self.use_index = getattr(rpc, "tx", None) is not None
        self.read_blocks = all(
            getattr(rpc, name, None) is not None for name in ("block", "block_results")
        )
        if not (self.use_index or self.read_blocks):
            raise ChainError(f"the RPC client of {rpc.node} can look no transaction up")

    def poll(self) -> TxResult | None:
        if self.use_index:
            try:
                found = lookup_tx(self.rpc, self.txhash)
            except NodeUnreachable:
                raise
            except RPCError:  # e.g. indexing disabled: the blocks still tell
                self.use_index = False
                found = None
            if found is not None:
                return found
        if not self.read_blocks:
            return None
        latest = int(self.rpc.status()["sync_info"]["latest_block_height"])
        if self.next_height is None:
            self.next_height = max(1, latest - TX_LOOKBACK_BLOCKS)
        first, self.next_height = self.next_height, max(self.next_height, latest + 1)
        return find_tx_in_blocks(self.rpc, self.txhash, first, latest)


_NOT_COMMITTED = re.compile(r"height (\d+) is not committed \(latest (\d+)\)")


def _not_committed_yet(response: dict[str, Any], height: int) -> bool:
    """The app refused ``height`` as the block after its last commit (app.chain's
    ErrHeightUnavailable, tx/16): the commit is under way. Not for a pruned height,
    nor one further ahead."""
    if height <= 0 or int(response.get("code") or 0) != 16 or response.get("codespace") != "tx":
        return False
    m = _NOT_COMMITTED.search(str(response.get("log") or ""))
    return m is not None and int(m.group(1)) == height == int(m.group(2)) + 1


def validator_count(rpc: Any) -> int | None:
    """How many validators the node's latest validator set has (None if not asked)."""
    validators = getattr(rpc, "validators", None)
    if validators is None:
        return None
    result = validators()
    try:
        return int(result.get("total") or len(result.get("validators") or []))
    except (TypeError, ValueError, AttributeError):
        raise ChainError(f"the node's /validators answer is malformed: {result!r:.200}") from None


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
NS_PER_S = 1_000_000_000


def parse_block_time_ns(text: str) -> int:
    """A block time as CometBFT's /status writes it (RFC 3339 with up to nanoseconds,
    ``2025-01-01T00:00:00.123456789Z``) or as Unix seconds, in Unix nanoseconds.

    Exact: integers only. Raises ChainError for anything else.
    """
    text = text.strip()
    if text.isdigit():
        return int(text) * NS_PER_S
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ChainError(f"the node's block time {text!r:.60} is not RFC 3339")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (ValueError, OverflowError):
        raise ChainError(f"the node's block time {text!r:.60} is not a date") from None
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return seconds * NS_PER_S + int((m.group(7) or "").ljust(9, "0"))


def block_time_ns(rpc: Any) -> int:
    """The latest block time of the node behind ``rpc`` (``/status``), Unix nanoseconds."""
    try:
        text = rpc.status()["sync_info"]["latest_block_time"]
    except (KeyError, TypeError):
        raise ChainError("the node's /status has no latest_block_time") from None
    return parse_block_time_ns(str(text))
