"""The relayer's handle on one chain: typed IBC queries, proven store reads, light-client
headers, block events and transactions, all over CometBFT's RPC.

``RelayChain`` needs of its RPC object only what clients/rpc.py's ``RPC`` offers
(``status``, ``abci_query``, ``commit``, ``validators``/``all_validators``,
``block_results``, ``broadcast_tx_commit``), so the same code drives a real
node and an in-process test chain that answers in CometBFT's JSON shapes.

Proofs: a value and its ICS-23 proof come from the ABCI query ``/store/key``
with ``prove=true`` at store height H (the response's ``proofOps.ops[0].data``
is a serialised ``cosmos.ics23.v1.CommitmentProof``). The store at height H is
committed by the app hash in the header of block H+1, so such a proof is
checked on the counterparty at proof height H+1 (as in ibc-go).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import DecodeError

from app.coins import Coin
from app.crypto import PrivateKey
from app.errors import ErrInvalidSequence
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.pb.tendermint.types import types_pb2, validator_pb2
from app.tx import codec
from clients.mgrid.chain import ChainClient, ChainError, QueryError, TxResult, parse_broadcast
from clients.rpc import RPCError
from ibc import host
from ibc.errors import ErrClientNotFound, ErrConsensusStateNotFound
from ibc.relayer.events import IBCEvent, block_events

NS = 1_000_000_000
# Room left in a transaction for the envelope around the messages (signer,
# chain id, fee, sequence, public key, signature and their tags).
TX_ENVELOPE_BYTES = 512
STORE_KEY_PATH = "/store/key"
_NOT_FOUND = {(e.codespace, e.code) for e in (ErrClientNotFound, ErrConsensusStateNotFound)}

log = logging.getLogger("mgrid-relayer")


class RelayerError(Exception):
    """Something the relayer cannot do now; the message says what and where."""


class ChainBehind(RelayerError):
    """The node has not reached the height needed yet (retry later)."""


class RPCLike(Protocol):
    node: str

    def status(self) -> dict[str, Any]: ...

    def abci_query(
        self, path: str, data: bytes = b"", height: int = 0, prove: bool = False
    ) -> dict[str, Any]: ...

    def broadcast_tx_commit(self, tx: bytes) -> dict[str, Any]: ...

    def commit(self, height: int | None = None) -> dict[str, Any]: ...

    def block_results(self, height: int) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Proven:
    """A value of the counterparty's store and its proof, read at store height ``height``."""

    key: bytes
    value: bytes  # b"" when absent (the proof then proves absence)
    proof: bytes  # serialised CommitmentProof
    height: int

    @property
    def proof_height(self) -> int:
        """The header height whose app hash commits this store height."""
        return self.height + 1


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    height: int
    time_ns: int
    app_hash: bytes
    next_validators_hash: bytes


def timestamp_ns(ts: Any) -> int:
    return int(ts.seconds) * NS + int(ts.nanos)


def extract_proof(response: dict[str, Any]) -> bytes:
    """The serialised CommitmentProof of an abci_query response (CometBFT's JSON shape)."""
    ops_holder = response.get("proofOps") or response.get("proof_ops") or {}
    ops = ops_holder.get("ops") if isinstance(ops_holder, dict) else None
    if not ops:
        raise RelayerError("the node answered a proven query without a proof")
    data = ops[0].get("data") if isinstance(ops[0], dict) else None
    if isinstance(data, bytes):
        return data
    if not isinstance(data, str):
        raise RelayerError("the node's proof op carries no data")
    try:
        return base64.b64decode(data, validate=True)
    except ValueError:
        raise RelayerError("the node's proof op data is not base64") from None


class RelayChain:
    """One chain as the relayer sees it (see the module docstring).

    ``signer`` may be None for read-only uses (``status``).
    """

    def __init__(
        self,
        name: str,
        rpc: Any,
        chain_id: str,
        signer: PrivateKey | None = None,
        fee: Coin | None = None,
        batch_size: int = codec.MAX_MSGS_PER_TX,
    ):
        self.name = name
        self.rpc = rpc
        self.chain_id = chain_id
        self.signer = signer
        self.fee = fee
        self.batch_size = min(batch_size, codec.MAX_MSGS_PER_TX)
        self.client = ChainClient(rpc)
        self._sequence: int | None = None
        self._headers: dict[int, types_pb2.SignedHeader] = {}
        self._valsets: dict[int, validator_pb2.ValidatorSet] = {}

    def __repr__(self) -> str:
        return f"RelayChain({self.name}, {self.chain_id})"

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return self.rpc.status()

    def latest_height(self) -> int:
        return int(self.rpc.status()["sync_info"]["latest_block_height"])

    def wait_for_height(self, height: int, timeout: float = 60.0, poll: float = 0.1) -> int:
        """Block until the node reports ``height`` or more; returns the height reached.

        An RPC object with its own ``wait_for_height`` (an in-process test
        chain, which only moves when told to) is asked to get there instead.
        """
        hook = getattr(self.rpc, "wait_for_height", None)
        if hook is not None:
            hook(height)
            return self.latest_height()
        deadline = time.monotonic() + timeout
        while True:
            latest = self.latest_height()
            if latest >= height:
                return latest
            if time.monotonic() > deadline:
                raise ChainBehind(f"{self.name} did not reach height {height} in {timeout:g} s")
            time.sleep(poll)

    def check_chain_id(self) -> None:
        network = str(self.rpc.status()["node_info"]["network"])
        if network != self.chain_id:
            raise RelayerError(
                f"{self.name}: the node at {self.rpc.node} serves chain {network!r}, "
                f"the configuration says {self.chain_id!r}"
            )

    # -- typed queries ---------------------------------------------------------------------

    def query(self, method: str, request: Any, height: int = 0) -> Any:
        return self.client.query(ibc_pb2.DESCRIPTOR, method, request, height)

    def client_state(self, client_id: str) -> ibc_pb2.ClientState | None:
        """The client's state, or None when the chain has no such client."""
        try:
            resp = self.query("ClientState", ibc_pb2.QueryClientStateRequest(client_id=client_id))
        except QueryError as exc:
            if _not_found(exc):
                return None
            raise
        return resp.client_state if resp.HasField("client_state") else None

    def consensus_state(
        self, client_id: str, height: int = 0
    ) -> tuple[ibc_pb2.ConsensusState, int] | None:
        """(consensus state, its height): at ``height``, or the client's latest (0)."""
        try:
            resp = self.query(
                "ConsensusState",
                ibc_pb2.QueryConsensusStateRequest(client_id=client_id, height=height),
            )
        except QueryError as exc:
            if _not_found(exc):
                return None
            raise
        if not resp.HasField("consensus_state"):
            return None
        return resp.consensus_state, int(resp.height)

    def connection(self, connection_id: str) -> ibc_pb2.ConnectionEnd | None:
        raw = self.read(host.key(host.connection_path(connection_id)))
        return _parse(ibc_pb2.ConnectionEnd, raw, connection_id) if raw else None

    def channel(self, port: str, channel_id: str) -> ibc_pb2.Channel | None:
        raw = self.read(host.key(host.channel_path(port, channel_id)))
        return _parse(ibc_pb2.Channel, raw, f"{port}/{channel_id}") if raw else None

    def packet_commitments(self, port: str, channel_id: str) -> list[int]:
        resp = self.query(
            "PacketCommitments",
            ibc_pb2.QueryPacketCommitmentsRequest(port_id=port, channel_id=channel_id),
        )
        return sorted(int(s) for s in resp.sequences)

    def unreceived_packets(self, port: str, channel_id: str, sequences: Sequence[int]) -> set[int]:
        """Of ``sequences`` (sent by the counterparty to ``port/channel_id`` here), those
        not received here."""
        if not sequences:
            return set()
        resp = self.query(
            "UnreceivedPackets",
            ibc_pb2.QueryUnreceivedPacketsRequest(
                port_id=port, channel_id=channel_id, sequences=sorted(sequences)
            ),
        )
        return {int(s) for s in resp.sequences}

    def unreceived_acks(self, port: str, channel_id: str, sequences: Sequence[int]) -> set[int]:
        """Of ``sequences`` (sent here), those whose commitment is still stored here."""
        if not sequences:
            return set()
        resp = self.query(
            "UnreceivedAcks",
            ibc_pb2.QueryUnreceivedAcksRequest(
                port_id=port, channel_id=channel_id, sequences=sorted(sequences)
            ),
        )
        return {int(s) for s in resp.sequences}

    # -- store reads -----------------------------------------------------------------------

    def read(self, key: bytes, height: int = 0) -> bytes:
        """The raw value at ``key`` (b"" when absent), unproven."""
        resp = self.rpc.abci_query(STORE_KEY_PATH, key, height=height, prove=False)
        _check_query(resp, key)
        value = resp.get("value") or b""
        return value if isinstance(value, bytes) else base64.b64decode(value)

    def prove(self, key: bytes, height: int) -> Proven:
        """``key``'s value (or absence) at store height ``height`` with its ICS-23 proof."""
        resp = self.rpc.abci_query(STORE_KEY_PATH, key, height=height, prove=True)
        _check_query(resp, key)
        got = int(resp.get("height") or 0)
        if got != height:
            raise ChainBehind(f"{self.name}: asked for a proof at height {height}, got {got}")
        value = resp.get("value") or b""
        if not isinstance(value, bytes):
            value = base64.b64decode(value)
        return Proven(key, value, extract_proof(resp), height)

    # -- headers ---------------------------------------------------------------------------

    def signed_header(self, height: int) -> types_pb2.SignedHeader:
        from ibc.client.rpc import signed_header_from_json

        cached = self._headers.get(height)
        if cached is not None:
            return cached
        result = self.rpc.commit(height)
        try:
            sh = signed_header_from_json(result["signed_header"])
        except (KeyError, TypeError) as exc:
            raise RelayerError(
                f"{self.name}: malformed /commit answer at {height}: {exc!r}"
            ) from None
        except ValueError as exc:  # ibc.client.errors.ClientError
            raise RelayerError(f"{self.name}: /commit at {height}: {exc}") from None
        if int(sh.header.height) != height:
            raise RelayerError(
                f"{self.name}: /commit?height={height} returned height {sh.header.height}"
            )
        self._remember(self._headers, height, sh)
        return sh

    def header_info(self, height: int) -> HeaderInfo:
        h = self.signed_header(height).header
        return HeaderInfo(
            height, timestamp_ns(h.time), bytes(h.app_hash), bytes(h.next_validators_hash)
        )

    def validator_set(
        self, height: int, proposer_address: bytes | None = None
    ) -> validator_pb2.ValidatorSet:
        from ibc.client.rpc import validator_set_from_json

        cached = self._valsets.get(height) if proposer_address is None else None
        if cached is not None:
            return cached
        all_validators = getattr(self.rpc, "all_validators", None)
        if all_validators is not None:
            entries = all_validators(height)
        else:
            entries = self.rpc.validators(height)["validators"]
        try:
            vs = validator_set_from_json(
                entries, proposer_address.hex().upper() if proposer_address else None
            )
        except (KeyError, TypeError) as exc:
            raise RelayerError(f"{self.name}: malformed /validators at {height}: {exc!r}") from None
        except ValueError as exc:
            raise RelayerError(f"{self.name}: /validators at {height}: {exc}") from None
        if proposer_address is None:
            self._remember(self._valsets, height, vs)
        return vs

    def build_header(self, height: int, trusted_height: int) -> ibc_pb2.Header:
        """The update from ``trusted_height`` to ``height``: signed header and validators of
        ``height``, and the validators of ``trusted_height + 1`` (those the trusted
        consensus state names as next)."""
        sh = self.signed_header(height)
        return ibc_pb2.Header(
            signed_header=sh,
            validator_set=self.validator_set(height, bytes(sh.header.proposer_address)),
            trusted_height=trusted_height,
            trusted_validators=self.validator_set(trusted_height + 1),
        )

    @staticmethod
    def _remember(cache: dict[int, Any], height: int, value: Any) -> None:
        cache[height] = value
        if len(cache) > 64:
            del cache[min(cache)]

    # -- events ----------------------------------------------------------------------------

    def events(self, height: int) -> list[IBCEvent]:
        """The IBC events of block ``height``: its successful transactions' and FinalizeBlock's."""
        return block_events(self.rpc.block_results(height), height)

    # -- transactions ----------------------------------------------------------------------

    @property
    def address(self) -> str:
        if self.signer is None:
            raise RelayerError(f"{self.name}: no signing key configured")
        return self.signer.address

    def _fee(self) -> Coin:
        if self.fee is None:
            self.fee = self.client.bank_params().min_fee
        return self.fee

    def chunk(self, msgs: Sequence[tx_pb2.Msg]) -> list[list[tx_pb2.Msg]]:
        """Split ``msgs`` into transactions within the chain's limits (message count and
        64 KiB), keeping their order. A message too large on its own gets a tx alone
        (the chain will refuse it, and the error is logged)."""
        out: list[list[tx_pb2.Msg]] = []
        current: list[tx_pb2.Msg] = []
        size = 0
        for m in msgs:
            msg_size = m.ByteSize() + 4  # field tag and length prefix
            if current and (
                len(current) >= self.batch_size
                or size + msg_size > codec.MAX_TX_BYTES - TX_ENVELOPE_BYTES
            ):
                out.append(current)
                current, size = [], 0
            current.append(m)
            size += msg_size
        if current:
            out.append(current)
        return out

    def submit(self, msgs: Sequence[tx_pb2.Msg], memo: str = "") -> TxResult:
        """Sign and broadcast one transaction holding ``msgs``; return its result in a block
        (or the CheckTx refusal). A refusal for a wrong sequence (another process used
        the key) is retried once with the account's current sequence. Raises RPCError /
        NodeUnreachable when the node fails."""
        result = self._submit_once(msgs, memo)
        if (result.codespace, result.code) == (
            ErrInvalidSequence.codespace,
            ErrInvalidSequence.code,
        ):
            log.warning("%s: %s; retrying with the account's sequence", self.name, result.log)
            self._sequence = None
            result = self._submit_once(msgs, memo)
        return result

    def _submit_once(self, msgs: Sequence[tx_pb2.Msg], memo: str) -> TxResult:
        from clients.mgrid import tx as txmod

        if self.signer is None:
            raise RelayerError(f"{self.name}: no signing key configured")
        if self._sequence is None:
            self._sequence = self.client.account(self.signer.address).sequence
        params = txmod.TxParams(
            chain_id=self.chain_id, sequence=self._sequence, fee=self._fee(), memo=memo
        )
        try:
            body = txmod.build_body(self.signer.address, list(msgs), params)
            signed = txmod.sign(body, self.signer)
        except txmod.TxBuildError as exc:
            return TxResult("", 0, 1, "relayer", f"cannot build the transaction: {exc}", "build")
        try:
            raw = self.rpc.broadcast_tx_commit(signed.raw)
        except RPCError:
            self._sequence = None  # the tx may or may not have landed: ask again next time
            raise
        result = parse_broadcast("commit", raw, hashlib.sha256(signed.raw).hexdigest().upper())
        if result.phase == "block" and result.height:
            self._sequence += 1  # a tx in a block uses its sequence even if its messages fail
        return result


def _check_query(resp: dict[str, Any], key: bytes) -> None:
    code = int(resp.get("code") or 0)
    if code:
        log_text = str(resp.get("log") or "")
        if "not committed" in log_text or "height" in log_text:
            raise ChainBehind(f"store query of {key!r}: {log_text}")
        raise ChainError(f"store query of {key!r} failed: code {code}: {log_text}")


def _not_found(exc: QueryError) -> bool:
    return (exc.codespace, exc.code) in _NOT_FOUND


def _parse(cls: Any, raw: bytes, what: str) -> Any:
    try:
        return cls.FromString(raw)
    except DecodeError as exc:
        raise RelayerError(f"cannot decode {what} ({cls.__name__}): {exc}") from None
