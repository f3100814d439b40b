"""Two in-process microgrid chains joined by IBC, with real light clients.

Each chain is an ``IBCNode``: an ``InProcessNode`` (the real ``Chain`` with a
minimal block producer) that also plays the part of CometBFT for IBC. For
every committed block it can produce the signed header CometBFT would have
produced, signed by its own ``TestValidators`` (real ed25519 precommits):
header H carries app_hash = the app hash after block H-1 (``chain.app_hash()``
after that commit) and time = block H's time. So a MsgUpdateClient built from
it verifies for real on the other chain, and a proof read at store height
H-1 verifies against the consensus state at H.

``IBCNode`` methods, besides InProcessNode's (``deliver``, ``sign``,
``query``, ``commit_block``, ``advance``, ``abci_query``, ``broadcast_*``):

- ``signed_header(height) -> SignedHeader``: the header and commit of a block.
- ``header(height, trusted_height) -> ibc_pb2.Header``: an ICS-07 update.
- ``consensus_state(height) -> ibc_pb2.ConsensusState``: what a client of
  this chain stores for ``height``.
- ``client_state(**overrides) -> ibc_pb2.ClientState``: a client state of
  this chain at its latest height (trust 1/3, 14 days, 10 s drift).
- ``in_next_block(fn)``: run ``fn(ctx)`` inside the next block (for code that
  applications call, such as ``send_packet``, without a message of their own).
- ``prove(key, height) -> (value, proof bytes)``: ``/store/key`` with
  prove=True at store height ``height`` (verified at proof height + 1).
- RPC shapes of CometBFT v0.38 (for the relayer): ``status()`` (with an
  RFC 3339 ``latest_block_time``), ``commit(height=None)`` (``/commit``),
  ``validators(height=None, page=1, per_page=100)`` (``/validators``),
  ``block(height=None)`` (``/block``, header only), ``block_results(height)``
  (``txs_results`` and ``finalize_block_events``), and ``abci_query`` with
  ``proofOps`` (``{"ops": [{"type", "key", "data"}]}``, base64) when prove.

``IBCPair(tmp_path)`` builds two such chains ("mg-a" and "mg-b", same
genesis time, 1 s blocks, a market with a utility, a funded relayer and
users) and drives them in lockstep: ``step()`` commits one block on each,
``submit(node, *msgs)`` puts a tx in a block of ``node`` and steps the other
too. Helpers do what a relayer does, one tx per step with the client update
first: ``create_clients()``, ``update_client(src, dst)``,
``open_connection()``, ``open_channel(port, order, version)``,
``close_channel(node, port, channel)``, ``relay_packets()``,
``timeout_packet(src, packet)``, ``proof(node, key, height)``.

    pair = IBCPair(tmp_path)
    pair.create_clients(); pair.open_connection()
    ch_a, ch_b = pair.open_channel("transfer", ibc_pb2.ORDER_UNORDERED, "ics20-1")
    ... a tx on pair.a that sends a packet ...
    pair.relay_packets()        # receive on b, then acknowledge on a
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import message_factory
from google.protobuf.message import Message

from app.chain import STORE_KEY_PATH, TxResult
from app.context import Context, Event, Mode
from app.crypto import PrivateKey
from app.genesis import default_app_state
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.tendermint.types import types_pb2
from ibc import host
from ibc.client import rpc
from ibc.client.hashing import ns_to_timestamp
from tests.support.cometbft import TestValidators, make_header, make_signed_header
from tests.support.inproc import NS, InProcessNode

DAY_NS = 86_400 * NS
TRUSTING_PERIOD_NS = 14 * DAY_NS
MAX_CLOCK_DRIFT_NS = 10 * NS
PROOF_OP_TYPE = "ics23:smt"

START = 1_700_000_040  # a boundary of 60 s intervals
FUNDS = 10**12
# Keys by name -> seed byte; the same keys exist (and are funded) on both chains.
KEYS = {"utility": 1, "regulator": 2, "alice": 3, "bob": 4, "carol": 5, "relayer": 9}
MARKET_PARAMS: dict[str, Any] = {
    "interval_seconds": 60,
    "gate_closure_seconds": 10,
    "max_intervals_ahead": 10,
    "mechanism": "uniform",
    "k": "1/2",
    "retail_tariff": 300,
    "feed_in_tariff": 100,
    "grid_fee_per_kwh": 10,
    "tax_rate": "0",
    "seller_collateral_rate": "1/10",
    "max_open_orders": 5,
    "min_order_wh": 10,
    "max_order_wh": 1_000_000,
}
NETWORK: dict[str, Any] = {
    "buses": [
        {"id": "pcc"},
        {"id": "b1", "parent": "pcc", "capacity_wh": 5_000},
        {"id": "b2", "parent": "pcc"},
    ]
}


def key(name: str) -> PrivateKey:
    return PrivateKey(bytes([KEYS[name]]) * 32)


def address(name: str) -> str:
    return key(name).address


def microgrid_app_state(denom: str = "ugrid") -> dict[str, Any]:
    """Genesis of one microgrid: every key of KEYS funded, alice (b1) and bob (b2)
    approved participants, the market on with MARKET_PARAMS."""
    state = default_app_state(
        balances={address(name): FUNDS for name in KEYS},
        denom=denom,
        utility=address("utility"),
        regulator=address("regulator"),
        network=NETWORK,
        market_params=MARKET_PARAMS,
    )
    state["registry"]["participants"] = [
        {"address": address("alice"), "role": "prosumer", "bus": "b1"},
        {"address": address("bob"), "role": "consumer", "bus": "b2"},
    ]
    return state


def _events_json(events: Iterable[Event]) -> list[dict[str, Any]]:
    return [
        {
            "type": e.type,
            "attributes": [{"key": k, "value": v, "index": True} for k, v in e.attributes],
        }
        for e in events
    ]


def event_attrs(event: Event) -> dict[str, str]:
    return dict(event.attributes)


def packet_from_event(event: Event) -> ibc_pb2.Packet:
    """The packet described by a send_packet / recv_packet / write_acknowledgement event."""
    a = event_attrs(event)
    return ibc_pb2.Packet(
        sequence=int(a["packet_sequence"]),
        source_port=a["packet_src_port"],
        source_channel=a["packet_src_channel"],
        destination_port=a["packet_dst_port"],
        destination_channel=a["packet_dst_channel"],
        data=bytes.fromhex(a["packet_data_hex"]),
        timeout_height=int(a["packet_timeout_height"]),
        timeout_timestamp=int(a["packet_timeout_timestamp"]),
    )


class IBCNode(InProcessNode):
    """An InProcessNode that also produces the CometBFT headers of its blocks."""

    def __init__(
        self,
        home: Path,
        app_state: dict[str, Any],
        *,
        validators: TestValidators,
        chain_id: str,
        start_time: int = START,
        block_seconds: int = 1,
    ):
        self.test_validators = validators
        # height -> (block time ns, app hash in that block's header)
        self.block_meta: dict[int, tuple[int, bytes]] = {}
        self._headers: dict[int, types_pb2.SignedHeader] = {}
        self._last_app_hash = b""
        self._hooks: list[Callable[[Context], Any]] = []
        super().__init__(
            home, app_state, chain_id=chain_id, start_time=start_time, block_seconds=block_seconds
        )

    # --- blocks and headers ------------------------------------------------

    def in_next_block(self, fn: Callable[[Context], Any]) -> None:
        """Run ``fn(ctx)`` at the start of the next block, as module code in FinalizeBlock
        would (its writes and events belong to that block). For tests of code that
        applications call (send_packet, write_acknowledgement) without a message."""
        self._hooks.append(fn)

    def commit_block(self, txs: list[bytes] | None = None, *, seconds: int | None = None) -> Any:
        header_app_hash = self._last_app_hash
        hook_events: list[Event] = []
        if self._hooks:
            step = self.block_seconds if seconds is None else seconds
            ctx = Context(
                self.chain.block_kv,
                self.height + 1,
                self.time_ns + step * NS,
                self.chain_id,
                Mode.DELIVER,
            )
            hooks, self._hooks = self._hooks, []
            for fn in hooks:
                fn(ctx)
            hook_events = ctx.events
        result = super().commit_block(txs, seconds=seconds)
        result.events[:0] = hook_events
        self.block_meta[self.height] = (self.time_ns, header_app_hash)
        self._last_app_hash = self.chain.app_hash()
        return result

    def signed_header(self, height: int) -> types_pb2.SignedHeader:
        if height not in self.block_meta:
            raise KeyError(f"{self.chain_id} has no block {height} (height {self.height})")
        cached = self._headers.get(height)
        if cached is None:
            time_ns, app_hash = self.block_meta[height]
            cached = make_signed_header(
                self.chain_id, height, time_ns, app_hash, self.test_validators
            )
            self._headers[height] = cached
        return cached

    def header(self, height: int, trusted_height: int) -> ibc_pb2.Header:
        """An update to ``height`` from ``trusted_height`` (same validators throughout)."""
        return ibc_pb2.Header(
            signed_header=self.signed_header(height),
            validator_set=self.test_validators.validator_set(),
            trusted_height=trusted_height,
            trusted_validators=self.test_validators.validator_set(),
        )

    def forged_header(self, height: int, trusted_height: int, **kw: Any) -> ibc_pb2.Header:
        """``make_header`` with this block's fields and keyword overrides (app_hash,
        chain_id, validators, signers, signing_fraction, time_ns ...)."""
        time_ns, app_hash = self.block_meta[height]
        args: dict[str, Any] = {
            "chain_id": self.chain_id,
            "height": height,
            "time_ns": time_ns,
            "app_hash": app_hash,
            "validators": self.test_validators,
            "trusted_height": trusted_height,
            "trusted_validators": self.test_validators,
        }
        args.update(kw)
        return make_header(**args)

    def consensus_state(self, height: int) -> ibc_pb2.ConsensusState:
        time_ns, app_hash = self.block_meta[height]
        return ibc_pb2.ConsensusState(
            timestamp_ns=time_ns, root=app_hash, next_validators_hash=self.test_validators.hash()
        )

    def client_state(self, **overrides: Any) -> ibc_pb2.ClientState:
        fields: dict[str, Any] = {
            "chain_id": self.chain_id,
            "trust_level": ibc_pb2.Fraction(numerator=1, denominator=3),
            "trusting_period_ns": TRUSTING_PERIOD_NS,
            "max_clock_drift_ns": MAX_CLOCK_DRIFT_NS,
            "latest_height": self.height,
        }
        fields.update(overrides)
        return ibc_pb2.ClientState(**fields)

    def prove(self, key: bytes, height: int) -> tuple[bytes, bytes]:
        """(value, serialised CommitmentProof) of ``key`` at store height ``height``."""
        r = self.chain.query(STORE_KEY_PATH, key, height, prove=True)
        if r.code or r.proof is None:
            raise AssertionError(f"proof of {key!r} at {height} failed: {r.log}")
        return r.value, r.proof.SerializeToString(deterministic=True)

    # --- CometBFT RPC shapes -------------------------------------------------

    def _height(self, height: int | None) -> int:
        h = int(height) if height else self.height
        if h not in self.block_meta:
            raise KeyError(f"{self.chain_id}: height {h} is not available (latest {self.height})")
        return h

    def status(self) -> dict[str, Any]:
        out = super().status()
        out["sync_info"]["latest_block_time"] = rpc.format_time(ns_to_timestamp(self.time_ns))
        return out

    def commit(self, height: int | None = None) -> dict[str, Any]:
        h = self._height(height)
        return {
            "signed_header": rpc.signed_header_to_json(self.signed_header(h)),
            "canonical": True,
        }

    def validators(
        self, height: int | None = None, page: int = 1, per_page: int = 100
    ) -> dict[str, Any]:
        h = self._height(height)
        entries = rpc.validator_set_to_json(self.test_validators.validator_set())
        start = (int(page) - 1) * int(per_page)
        chunk = entries[start : start + int(per_page)]
        return {
            "block_height": str(h),
            "validators": chunk,
            "count": str(len(chunk)),
            "total": str(len(entries)),
        }

    def block(self, height: int | None = None) -> dict[str, Any]:
        h = self._height(height)
        sh = self.signed_header(h)
        return {
            "block_id": {"hash": sh.commit.block_id.hash.hex().upper()},
            "block": {"header": rpc.header_to_json(sh.header)},
        }

    def block_results(self, height: int) -> dict[str, Any]:
        h = self._height(height)
        result = self.blocks[h - 1]
        return {
            "height": str(h),
            "txs_results": [
                {
                    "code": r.code,
                    "codespace": r.codespace,
                    "log": r.log,
                    "events": _events_json(r.events),
                }
                for r in result.tx_results
            ],
            "finalize_block_events": _events_json(result.events),
            "app_hash": base64.b64encode(result.app_hash).decode(),
        }

    def abci_query(
        self, path: str, data: bytes = b"", height: int = 0, prove: bool = False
    ) -> dict[str, Any]:
        out = super().abci_query(path, data, height, prove)
        if prove and path == STORE_KEY_PATH and not out["code"]:
            r = self.chain.query(path, data, height, prove=True)
            assert r.proof is not None
            out["proofOps"] = {
                "ops": [
                    {
                        "type": PROOF_OP_TYPE,
                        "key": base64.b64encode(r.key).decode(),
                        "data": base64.b64encode(
                            r.proof.SerializeToString(deterministic=True)
                        ).decode(),
                    }
                ]
            }
        return out

    # --- reading IBC state ----------------------------------------------------

    def q(self, method: str, **fields: Any) -> Any:
        """A mgrid.ibc.v1.Query call at the latest height."""
        req_type = ibc_pb2.DESCRIPTOR.services_by_name["Query"].methods_by_name[method].input_type
        request = message_factory.GetMessageClass(req_type)(**fields)
        return self.query(ibc_pb2.DESCRIPTOR, method, request)

    def events(self, since_height: int = 0) -> list[tuple[int, Event]]:
        """(height, event) of every tx and block event above ``since_height``."""
        out: list[tuple[int, Event]] = []
        for h in range(since_height + 1, self.height + 1):
            block = self.blocks[h - 1]
            for r in block.tx_results:
                out.extend((h, e) for e in r.events)
            out.extend((h, e) for e in block.events)
        return out


@dataclass
class Side:
    """One chain's identifiers on the path (filled as the pair links them)."""

    node: IBCNode
    client_id: str = ""  # this chain's client of the other chain
    connection_id: str = ""
    scanned: int = 0  # events above this height not yet relayed


@dataclass
class Relayed:
    received: int = 0
    acknowledged: int = 0
    results: list[TxResult] = field(default_factory=list)
    timed_out: list[ibc_pb2.Packet] = field(default_factory=list)  # left for timeout_packet


class TxFailed(AssertionError):
    def __init__(self, result: TxResult, what: str):
        super().__init__(f"{what}: {result.codespace}/{result.code} {result.log}")
        self.result = result


class IBCPair:
    def __init__(
        self,
        tmp_path: Path,
        *,
        app_state_a: dict[str, Any] | None = None,
        app_state_b: dict[str, Any] | None = None,
        chain_ids: tuple[str, str] = ("mg-a", "mg-b"),
        validators: tuple[TestValidators, TestValidators] | None = None,
        start_time: int = START,
    ):
        vals = validators or (TestValidators(4, b"val-a"), TestValidators(4, b"val-b"))
        nodes = []
        for i, (chain_id, state) in enumerate(
            zip(chain_ids, (app_state_a, app_state_b), strict=True)
        ):
            home = tmp_path / chain_id
            home.mkdir(parents=True, exist_ok=True)
            nodes.append(
                IBCNode(
                    home,
                    state if state is not None else microgrid_app_state(),
                    validators=vals[i],
                    chain_id=chain_id,
                    start_time=start_time,
                )
            )
        self.a, self.b = nodes
        self.sides = {id(self.a): Side(self.a), id(self.b): Side(self.b)}
        self.relayer = key("relayer")
        # Header 1 carries the genesis app hash, which InProcessNode does not keep:
        # start at height 2, whose header commits to block 1's state.
        self.step()

    def close(self) -> None:
        self.a.close()
        self.b.close()

    def side(self, node: IBCNode) -> Side:
        return self.sides[id(node)]

    def other(self, node: IBCNode) -> IBCNode:
        return self.b if node is self.a else self.a

    # --- blocks ---------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Commit ``n`` blocks on each chain (mempools included)."""
        for _ in range(n):
            self.a.commit_block()
            self.b.commit_block()

    def advance(self, seconds: int) -> None:
        """Step both chains until ``seconds`` of block time have passed."""
        target = self.a.time_ns + seconds * NS
        while self.a.time_ns < target:
            self.step()

    def submit(
        self, node: IBCNode, *msgs: tuple[str, Message], signer: PrivateKey | None = None
    ) -> TxResult:
        """One tx of ``msgs`` in the next block of ``node`` (the other chain steps too).

        Returns the DeliverTx result, or the CheckTx rejection (nothing committed on
        ``node`` then, but both chains still step).
        """
        raw = node.sign(signer or self.relayer, *msgs)
        checked = node.chain.check_tx(raw)
        if checked.code:
            self.step()
            return checked
        block = node.commit_block([*node.mempool, raw])
        node.mempool = []
        self.other(node).commit_block()
        return block.tx_results[-1]

    def must(self, node: IBCNode, *msgs: tuple[str, Message], what: str = "tx") -> TxResult:
        result = self.submit(node, *msgs)
        if result.code:
            raise TxFailed(result, f"{what} on {node.chain_id}")
        return result

    # --- proofs and updates -----------------------------------------------------

    def proof(self, node: IBCNode, key: bytes, height: int) -> tuple[bytes, bytes]:
        """(value, proof) of ``key`` on ``node`` at store height ``height``; verify it at
        proof height ``height + 1``."""
        return node.prove(key, height)

    def client_height(self, node: IBCNode) -> int:
        """The latest height of ``node``'s client of the other chain."""
        cs = node.q("ClientState", client_id=self.side(node).client_id).client_state
        return int(cs.latest_height)

    def update_msg(self, src: IBCNode, dst: IBCNode, height: int | None = None) -> tuple[str, Any]:
        """MsgUpdateClient for ``dst``'s client of ``src`` to ``height`` (default: src's latest)."""
        h = height or src.height
        trusted = self.client_height(dst)
        return (
            "update_client",
            ibc_pb2.MsgUpdateClient(
                client_id=self.side(dst).client_id, header=src.header(h, trusted)
            ),
        )

    def update_client(self, src: IBCNode, dst: IBCNode) -> int:
        """Update ``dst``'s client of ``src`` to src's latest height; returns that height."""
        h = src.height
        if self.client_height(dst) < h:
            self.must(dst, self.update_msg(src, dst, h), what="update_client")
        return h

    def _proven(self, src: IBCNode, path: str) -> tuple[int, bytes, bytes]:
        """(proof height, value, proof) of ``path`` on src at its latest header."""
        proof_height = src.height
        value, proof = src.prove(host.key(path), proof_height - 1)
        return proof_height, value, proof

    def _relay_tx(self, src: IBCNode, dst: IBCNode, *msgs: tuple[str, Any], what: str) -> TxResult:
        """Client update to src's latest height, then ``msgs``, in one tx on dst."""
        updates = []
        if self.client_height(dst) < src.height:
            updates.append(self.update_msg(src, dst))
        return self.must(dst, *updates, *msgs, what=what)

    # --- clients, connections, channels -----------------------------------------------

    def create_client(self, src: IBCNode, dst: IBCNode) -> str:
        """A client of ``src`` on ``dst`` at src's latest height."""
        msg = ibc_pb2.MsgCreateClient(
            client_state=src.client_state(), consensus_state=src.consensus_state(src.height)
        )
        result = self.must(dst, ("create_client", msg), what="create_client")
        client_id = _attr(result, "create_client", "client_id")
        self.side(dst).client_id = client_id
        return client_id

    def create_clients(self) -> tuple[str, str]:
        return self.create_client(self.b, self.a), self.create_client(self.a, self.b)

    def open_connection(self) -> tuple[str, str]:
        a, b = self.side(self.a), self.side(self.b)
        init = ibc_pb2.MsgConnectionOpenInit(
            client_id=a.client_id,
            counterparty=ibc_pb2.ConnectionCounterparty(
                client_id=b.client_id, prefix=host.STORE_PREFIX
            ),
        )
        r = self.must(self.a, ("connection_open_init", init), what="conn_open_init")
        a.connection_id = _attr(r, "connection_open_init", "connection_id")
        self.step()
        h, value, proof = self._proven(self.a, host.connection_path(a.connection_id))
        conn_a = ibc_pb2.ConnectionEnd.FromString(value)
        try_ = ibc_pb2.MsgConnectionOpenTry(
            client_id=b.client_id,
            counterparty=ibc_pb2.ConnectionCounterparty(
                client_id=a.client_id, connection_id=a.connection_id, prefix=host.STORE_PREFIX
            ),
            counterparty_versions=conn_a.versions,
            proof_init=proof,
            proof_height=h,
        )
        r = self._relay_tx(self.a, self.b, ("connection_open_try", try_), what="conn_open_try")
        b.connection_id = _attr(r, "connection_open_try", "connection_id")
        self.step()
        h, value, proof = self._proven(self.b, host.connection_path(b.connection_id))
        conn_b = ibc_pb2.ConnectionEnd.FromString(value)
        ack = ibc_pb2.MsgConnectionOpenAck(
            connection_id=a.connection_id,
            counterparty_connection_id=b.connection_id,
            version=conn_b.versions[0],
            proof_try=proof,
            proof_height=h,
        )
        self._relay_tx(self.b, self.a, ("connection_open_ack", ack), what="conn_open_ack")
        self.step()
        h, _, proof = self._proven(self.a, host.connection_path(a.connection_id))
        confirm = ibc_pb2.MsgConnectionOpenConfirm(
            connection_id=b.connection_id, proof_ack=proof, proof_height=h
        )
        self._relay_tx(
            self.a, self.b, ("connection_open_confirm", confirm), what="conn_open_confirm"
        )
        return a.connection_id, b.connection_id

    def open_channel(
        self,
        port: str,
        order: ibc_pb2.Order = ibc_pb2.ORDER_UNORDERED,
        version: str = "",
        *,
        counterparty_port: str | None = None,
        init_on: IBCNode | None = None,
    ) -> tuple[str, str]:
        """Open a channel between ``port`` on A and ``counterparty_port`` (default the same)
        on B, initiated on ``init_on`` (default A); returns (A's channel id, B's)."""
        src = init_on or self.a
        dst = self.other(src)
        src_port = port if src is self.a else (counterparty_port or port)
        dst_port = (counterparty_port or port) if src is self.a else port
        s, d = self.side(src), self.side(dst)
        init = ibc_pb2.MsgChannelOpenInit(
            port_id=src_port,
            channel=ibc_pb2.Channel(
                state=ibc_pb2.CHANNEL_STATE_INIT,
                ordering=order,
                counterparty=ibc_pb2.ChannelCounterparty(port_id=dst_port),
                connection_hops=[s.connection_id],
                version=version,
            ),
        )
        r = self.must(src, ("channel_open_init", init), what="chan_open_init")
        src_channel = _attr(r, "channel_open_init", "channel_id")
        self.step()
        h, value, proof = self._proven(src, host.channel_path(src_port, src_channel))
        chan_src = ibc_pb2.Channel.FromString(value)
        try_ = ibc_pb2.MsgChannelOpenTry(
            port_id=dst_port,
            channel=ibc_pb2.Channel(
                state=ibc_pb2.CHANNEL_STATE_TRYOPEN,
                ordering=order,
                counterparty=ibc_pb2.ChannelCounterparty(port_id=src_port, channel_id=src_channel),
                connection_hops=[d.connection_id],
                version=chan_src.version,
            ),
            counterparty_version=chan_src.version,
            proof_init=proof,
            proof_height=h,
        )
        r = self._relay_tx(src, dst, ("channel_open_try", try_), what="chan_open_try")
        dst_channel = _attr(r, "channel_open_try", "channel_id")
        self.step()
        h, value, proof = self._proven(dst, host.channel_path(dst_port, dst_channel))
        chan_dst = ibc_pb2.Channel.FromString(value)
        ack = ibc_pb2.MsgChannelOpenAck(
            port_id=src_port,
            channel_id=src_channel,
            counterparty_channel_id=dst_channel,
            counterparty_version=chan_dst.version,
            proof_try=proof,
            proof_height=h,
        )
        self._relay_tx(dst, src, ("channel_open_ack", ack), what="chan_open_ack")
        self.step()
        h, _, proof = self._proven(src, host.channel_path(src_port, src_channel))
        confirm = ibc_pb2.MsgChannelOpenConfirm(
            port_id=dst_port, channel_id=dst_channel, proof_ack=proof, proof_height=h
        )
        self._relay_tx(src, dst, ("channel_open_confirm", confirm), what="chan_open_confirm")
        if src is self.a:
            return src_channel, dst_channel
        return dst_channel, src_channel

    def close_channel(self, node: IBCNode, port: str, channel: str) -> None:
        """ChanCloseInit on ``node``, then ChanCloseConfirm on the other chain."""
        self.must(
            node,
            ("channel_close_init", ibc_pb2.MsgChannelCloseInit(port_id=port, channel_id=channel)),
            what="chan_close_init",
        )
        self.close_confirm(node, port, channel)

    def close_confirm(self, node: IBCNode, port: str, channel: str) -> TxResult:
        """ChanCloseConfirm on the other chain of ``node``'s closed channel."""
        other = self.other(node)
        chan = node.q("Channel", port_id=port, channel_id=channel).channel
        self.step()
        h, _, proof = self._proven(node, host.channel_path(port, channel))
        confirm = ibc_pb2.MsgChannelCloseConfirm(
            port_id=chan.counterparty.port_id,
            channel_id=chan.counterparty.channel_id,
            proof_init=proof,
            proof_height=h,
        )
        return self._relay_tx(
            node, other, ("channel_close_confirm", confirm), what="chan_close_confirm"
        )

    # --- packets -------------------------------------------------------------------------

    def recv_msg(self, src: IBCNode, packet: ibc_pb2.Packet) -> tuple[str, Any]:
        """MsgRecvPacket proving ``packet``'s commitment on src at its latest header."""
        h, _, proof = self._proven(
            src,
            host.packet_commitment_path(packet.source_port, packet.source_channel, packet.sequence),
        )
        return (
            "recv_packet",
            ibc_pb2.MsgRecvPacket(packet=packet, proof_commitment=proof, proof_height=h),
        )

    def ack_msg(self, src: IBCNode, packet: ibc_pb2.Packet, ack: bytes) -> tuple[str, Any]:
        """MsgAcknowledgement proving src's (the receiver's) ack of ``packet``."""
        h, _, proof = self._proven(
            src,
            host.packet_ack_path(
                packet.destination_port, packet.destination_channel, packet.sequence
            ),
        )
        return (
            "acknowledgement",
            ibc_pb2.MsgAcknowledgement(
                packet=packet, acknowledgement=ack, proof_acked=proof, proof_height=h
            ),
        )

    def timeout_msg(
        self, receiver: IBCNode, packet: ibc_pb2.Packet, *, on_close: bool = False
    ) -> tuple[str, Any]:
        """MsgTimeout (or MsgTimeoutOnClose) proving on ``receiver`` that ``packet`` was not
        received: absence of its receipt (unordered) or nextSequenceRecv (ordered)."""
        dst_port, dst_chan = packet.destination_port, packet.destination_channel
        chan = receiver.q("Channel", port_id=dst_port, channel_id=dst_chan).channel
        h = receiver.height
        if chan.ordering == ibc_pb2.ORDER_ORDERED:
            path = host.next_sequence_recv_path(dst_port, dst_chan)
        else:
            path = host.packet_receipt_path(dst_port, dst_chan, packet.sequence)
        value, proof = receiver.prove(host.key(path), h - 1)
        next_recv = int.from_bytes(value, "big") if chan.ordering == ibc_pb2.ORDER_ORDERED else 0
        if on_close:
            _, close_proof = receiver.prove(host.key(host.channel_path(dst_port, dst_chan)), h - 1)
            return (
                "timeout_on_close",
                ibc_pb2.MsgTimeoutOnClose(
                    packet=packet,
                    proof_unreceived=proof,
                    proof_close=close_proof,
                    proof_height=h,
                    next_sequence_recv=next_recv,
                ),
            )
        return (
            "timeout",
            ibc_pb2.MsgTimeout(
                packet=packet, proof_unreceived=proof, proof_height=h, next_sequence_recv=next_recv
            ),
        )

    def timeout_packet(
        self, sender: IBCNode, packet: ibc_pb2.Packet, *, on_close: bool = False
    ) -> TxResult:
        """Relay a timeout of ``packet`` (sent by ``sender``) after one step."""
        receiver = self.other(sender)
        self.step()
        return self._relay_tx(
            receiver,
            sender,
            self.timeout_msg(receiver, packet, on_close=on_close),
            what="timeout",
        )

    def pending(self, node: IBCNode) -> tuple[list[ibc_pb2.Packet], list[tuple[Any, bytes]]]:
        """Packets sent by ``node`` and acknowledgements written on ``node`` since the last
        scan (send_packet / write_acknowledgement events); marks them scanned."""
        side = self.side(node)
        sent: list[ibc_pb2.Packet] = []
        acks: list[tuple[Any, bytes]] = []
        for _, event in node.events(side.scanned):
            if event.type == "send_packet":
                sent.append(packet_from_event(event))
            elif event.type == "write_acknowledgement":
                ack = bytes.fromhex(event_attrs(event)["packet_ack_hex"])
                acks.append((packet_from_event(event), ack))
        side.scanned = node.height
        return sent, acks

    def relay_packets(self, max_rounds: int = 10) -> Relayed:
        """Relay every packet sent and every acknowledgement written since the last call,
        both ways, until nothing is left (async acks written later need another call)."""
        done = Relayed()
        todo: dict[int, tuple[list[Any], list[Any]]] = {}
        for _ in range(max_rounds):
            for node in (self.a, self.b):
                sent, acks = self.pending(node)
                queued = todo.setdefault(id(node), ([], []))
                queued[0].extend(sent)
                queued[1].extend(acks)
            if not any(s or a for s, a in todo.values()):
                return done
            self.step()  # the header that commits the last block's state
            for src in (self.a, self.b):
                dst = self.other(src)
                sent, acks = todo[id(src)]
                late = [p for p in sent if _timed_out(dst, p)]
                done.timed_out.extend(late)
                sent = [p for p in sent if not _timed_out(dst, p)]
                msgs = [self.recv_msg(src, p) for p in sent]
                msgs += [self.ack_msg(src, p, ack) for p, ack in acks]
                todo[id(src)] = ([], [])
                if not msgs:
                    continue
                result = self._relay_tx(src, dst, *msgs, what="relay")
                done.results.append(result)
                done.received += len(sent)
                done.acknowledged += len(acks)
        raise AssertionError(f"packets still pending after {max_rounds} rounds")


def _timed_out(dst: IBCNode, packet: ibc_pb2.Packet) -> bool:
    """Whether ``packet`` would be past its timeout in dst's next block."""
    next_height, next_time = dst.height + 1, dst.time_ns + dst.block_seconds * NS
    return bool(
        (packet.timeout_height and next_height >= packet.timeout_height)
        or (packet.timeout_timestamp and next_time >= packet.timeout_timestamp)
    )


def _attr(result: TxResult, event_type: str, key: str) -> str:
    for e in result.events:
        if e.type == event_type:
            return dict(e.attributes)[key]
    raise AssertionError(f"no {event_type} event in {[e.type for e in result.events]}")


__all__ = [
    "KEYS",
    "IBCNode",
    "IBCPair",
    "Side",
    "TxFailed",
    "address",
    "key",
    "microgrid_app_state",
    "packet_from_event",
]
