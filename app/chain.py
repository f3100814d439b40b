"""The microgrid state machine, independent of the ABCI transport.

One ``Chain`` owns the authenticated store and three views of state:
- the *block state*: a CacheKV over the last committed version, holding
  InitChain's and FinalizeBlock's writes until Commit;
- the *check state*: a CacheKV over the last committed version where CheckTx
  applies each accepted transaction, so that consecutive transactions of one
  account (sequence n, n+1, ...) are accepted within one block interval;
  it is reset at Commit and rebuilt by CheckTx Recheck. A new transaction
  runs whole (its messages too, so a wallet hears "interval closed" at
  once); a Recheck runs only the ante step (signature, already verified,
  sequence and fee), as the Cosmos SDK does: the mempool then drops what
  can no longer pay or is out of sequence, and a transaction whose message
  has meanwhile become invalid fails in its block, paying its fee;
- committed versions, read by queries (at a height, optionally proven).

A transaction runs in two steps. The *ante* step (chain id, signer,
signature, timeout, fee, sequence) must pass or nothing happens at all. The
messages then run atomically on a branch. In a block, a transaction whose
messages fail still pays its fee and uses its sequence, as in the Cosmos
SDK, so a failing transaction cannot be replayed for free; in CheckTx it is
rejected whole.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from app import coins, crypto
from app.context import Context, Event, Mode
from app.errors import (
    ABCIError,
    ErrHeightUnavailable,
    ErrInsufficientFee,
    ErrInvalidRequest,
    ErrInvalidSequence,
    ErrMemoTooLarge,
    ErrTxDecode,
    ErrTxTimeout,
    ErrTxTooLarge,
    ErrUnauthorized,
    ErrUnknownQuery,
    ErrWrongChainId,
)
from app.kv import CacheKV, PinnedView, StoreView
from app.modules.auth import keeper as auth_keeper
from app.modules.bank import genesis as bank_genesis
from app.modules.bank import keeper as bank_keeper
from app.modules.certificates import genesis as certificates_genesis
from app.modules.certificates import keeper as certificates_keeper
from app.modules.demand_response import genesis as demand_response_genesis
from app.modules.demand_response import keeper as demand_response_keeper
from app.modules.flexibility import genesis as flexibility_genesis
from app.modules.flexibility import keeper as flexibility_keeper
from app.modules.market import genesis as market_genesis
from app.modules.market import keeper as market_keeper
from app.modules.quota import genesis as quota_genesis
from app.modules.quota import keeper as quota_keeper
from app.modules.registry import genesis as registry_genesis
from app.modules.reputation import genesis as reputation_genesis
from app.modules.settlement import genesis as settlement_genesis
from app.modules.settlement import keeper as settlement_keeper
from app.modules.storage import genesis as storage_genesis
from app.modules.storage import keeper as storage_keeper
from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.router import MSG_ROUTES, QUERY_ROUTES, QueryRoute, validate_messages
from app.store import Store, StoreError
from app.store import export as store_export
from app.tx import codec
from ibc.apps.energy import genesis as energy_genesis
from ibc.apps.energy import keeper as energy_keeper

log = logging.getLogger("mgrid.chain")

META_CHAIN_ID = b"chain_id"
META_BLOCK_TIME = b"block_time_ns"
STORE_KEY_PATH = "/store/key"
TX_CACHE_BYTES = 64 * 1024 * 1024

# app_state sections, applied in this order (later modules read earlier ones).
# "auth" is accepted for Cosmos-shaped genesis files; accounts are created by
# their first transaction, so it carries nothing yet.
GENESIS_SECTIONS = (
    ("bank", bank_genesis.init_genesis),
    ("registry", registry_genesis.init_genesis),
    ("market", market_genesis.init_genesis),
    ("settlement", settlement_genesis.init_genesis),
    ("reputation", reputation_genesis.init_genesis),
    ("demand_response", demand_response_genesis.init_genesis),
    ("flexibility", flexibility_genesis.init_genesis),
    ("quota", quota_genesis.init_genesis),
    ("energy", energy_genesis.init_genesis),
    ("certificates", certificates_genesis.init_genesis),
    ("storage", storage_genesis.init_genesis),
)


class _Seen:
    """A transaction already decoded (and maybe verified) by this process."""

    __slots__ = ("sig_ok", "tx")

    def __init__(self, tx: codec.DecodedTx):
        self.tx = tx
        self.sig_ok: bool | None = None


class GenesisError(ValueError):
    """The genesis is unusable; the node must not start with it."""


class RestoreError(ValueError):
    """A state-sync snapshot's state does not hash to the trusted app hash."""


@dataclass(slots=True)
class TxResult:
    code: int = 0
    codespace: str = ""
    log: str = ""
    events: list[Event] = field(default_factory=list)

    @classmethod
    def from_error(cls, err: ABCIError) -> TxResult:
        return cls(err.code, err.codespace, err.log)


@dataclass(slots=True)
class BlockResult:
    tx_results: list[TxResult]
    events: list[Event]
    app_hash: bytes


@dataclass(slots=True)
class QueryResult:
    code: int = 0
    codespace: str = ""
    log: str = ""
    key: bytes = b""
    value: bytes = b""
    height: int = 0
    proof: proofs_pb2.CommitmentProof | None = None


class Chain:
    def __init__(self, store: Store, *, check_invariants: bool = False):
        self.store = store
        self.check_invariants = check_invariants
        self.block_kv = CacheKV(PinnedView(store))
        self.check_kv = CacheKV(PinnedView(store))
        # Decoding and signature checks depend only on the tx bytes, so what
        # CheckTx or ProcessProposal learnt is reused by Recheck and
        # FinalizeBlock instead of parsing and verifying the same bytes again.
        self._seen: dict[bytes, _Seen] = {}
        self._seen_bytes = 0
        self._block_time_ns = 0
        self._pending_meta: dict[bytes, bytes] = {}
        raw_chain_id = store.get_meta(META_CHAIN_ID)
        self.chain_id = raw_chain_id.decode() if raw_chain_id else ""
        raw_time = store.get_meta(META_BLOCK_TIME)
        self.last_block_time_ns = int(raw_time) if raw_time else 0
        # Height of the first block (genesis initial_height), which is also the
        # store's first version; only used until that block is committed.
        self.initial_height = 1
        # Wall seconds of the last FinalizeBlock's phases ("txs", "clearing",
        # "end_block"), for metrics only: no clock value reaches state or results.
        self.timings: dict[str, float] = {}

    # --- lifecycle -------------------------------------------------------

    @property
    def height(self) -> int:
        """Height of the last committed block (0 before the first)."""
        return self.store.version

    def app_hash(self) -> bytes:
        return self.store.root() if self.store.version else b""

    def init_chain(
        self, chain_id: str, time_ns: int, app_state: bytes, initial_height: int
    ) -> bytes:
        """Apply genesis to the block state (persisted with the first block's Commit).

        ``initial_height`` is the genesis's (0 means 1): the first block
        has that height and is committed as the store's first version. An
        ``app_state`` holding a ``store`` section (written by ``mgridd
        export``, app/store/export.py) is that state verbatim and must hash
        to the section's app_hash; otherwise each module's section
        initialises its part of the state.

        Returns:
            The app hash after genesis.
        Raises:
            GenesisError: the genesis is unusable (the message says why).
        """
        if initial_height < 0:
            raise GenesisError(f"initial_height must be >= 1, got {initial_height}")
        if self.store.version:
            raise GenesisError(
                f"InitChain on a store already at height {self.store.version}: "
                "genesis applies only to an empty node"
            )
        try:
            state = json.loads(app_state or b"{}")
        except ValueError as exc:
            raise GenesisError(f"app_state is not JSON: {exc}") from None
        if not isinstance(state, dict):
            raise GenesisError("app_state must be a JSON object")
        self.initial_height = max(initial_height, 1)
        if store_export.SECTION in state:
            return self._import_store(chain_id, state)
        unknown = set(state) - {name for name, _ in GENESIS_SECTIONS} - {"auth"}
        if unknown:
            raise GenesisError(f"unknown app_state sections {sorted(unknown)}")
        self.chain_id = chain_id
        self.block_kv = CacheKV(PinnedView(self.store))
        ctx = Context(self.block_kv, self.initial_height - 1, time_ns, chain_id, Mode.DELIVER)
        for name, init_genesis in GENESIS_SECTIONS:
            section = state.get(name, {})
            if not isinstance(section, dict):
                raise GenesisError(f"app_state.{name} must be a JSON object")
            try:
                init_genesis(ctx, section)
            except ABCIError as exc:
                raise GenesisError(f"{name}: {exc.log}") from None
            except ValueError as exc:  # each module's GenesisError names the field
                raise GenesisError(str(exc)) from None
        self._pending_meta[META_CHAIN_ID] = chain_id.encode()
        if self.check_invariants:
            self._check_invariants()
        return self._stage_genesis()

    def _stage_genesis(self) -> bytes:
        # Transactions may arrive before the first block is committed: check
        # them against the genesis state (a copy, so the block does not leak in).
        genesis = CacheKV(PinnedView(self.store))
        genesis.writes = dict(self.block_kv.writes)
        self.check_kv = CacheKV(genesis)
        return self.store.stage(self.block_kv.writes)

    def _import_store(self, chain_id: str, state: dict[str, Any]) -> bytes:
        """InitChain from an export: the state at height H, verbatim, as the
        genesis of a chain whose first block is H + 1."""
        others = sorted(set(state) - {store_export.SECTION})
        if others:
            raise GenesisError(
                f"app_state has a store section (an export) and also sections {others}: "
                "an export is the whole state, import it alone"
            )
        try:
            section = store_export.decode_section(state[store_export.SECTION])
        except store_export.StoreSectionError as exc:
            raise GenesisError(str(exc)) from None
        if section.height != self.initial_height - 1:
            raise GenesisError(
                f"app_state.store holds height {section.height}, so the genesis initial_height "
                f"must be {section.height + 1}, not {self.initial_height}"
            )
        self.chain_id = chain_id
        self.block_kv = CacheKV(PinnedView(self.store))
        self.block_kv.writes = dict(section.writes)
        self._pending_meta[META_CHAIN_ID] = chain_id.encode()
        if self.check_invariants:
            self._check_invariants()
        root = self._stage_genesis()
        if root != section.app_hash:
            self.store.discard()
            self.block_kv = CacheKV(PinnedView(self.store))
            self.check_kv = CacheKV(PinnedView(self.store))
            self._pending_meta = {}
            raise GenesisError(
                f"app_state.store: the entries hash to {root.hex().upper()}, but the section's "
                f"app_hash is {section.app_hash.hex().upper()}; the export is damaged or edited"
            )
        log.info(
            "imported the state of height %d (%d entries, app hash %s); first block %d",
            section.height,
            len(section.writes),
            root.hex().upper(),
            self.initial_height,
        )
        return root

    def restore(
        self,
        height: int,
        writes: dict[bytes, bytes],
        *,
        chain_id: str,
        block_time_ns: int,
        app_hash: bytes,
    ) -> None:
        """Install a state-sync snapshot's state as committed height ``height``.

        The state is committed only if its root is ``app_hash`` (the app
        hash CometBFT's light client verified); otherwise nothing changes.

        Raises:
            RestoreError: the root differs from ``app_hash``, or the node is
                not empty.
        """
        if self.store.version:
            raise RestoreError(
                f"cannot restore a snapshot onto a node at height {self.store.version}"
            )
        root = self.store.stage(writes)
        if root != app_hash:
            self.store.discard()
            raise RestoreError(
                f"the snapshot's state at height {height} hashes to {root.hex().upper()}, "
                f"not the trusted app hash {app_hash.hex().upper()}"
            )
        self.store.commit(
            {META_CHAIN_ID: chain_id.encode(), META_BLOCK_TIME: str(block_time_ns).encode()},
            version=height,
        )
        self.chain_id = chain_id
        self.last_block_time_ns = block_time_ns
        self._pending_meta = {}
        self.block_kv = CacheKV(PinnedView(self.store))
        self.check_kv = CacheKV(PinnedView(self.store))

    def finalize_block(self, height: int, time_ns: int, txs: list[bytes]) -> BlockResult:
        expected = self.height + 1 if self.height else self.initial_height
        if height != expected:
            raise RuntimeError(f"block height {height} != the next height {expected}")
        ctx = Context(self.block_kv, height, time_ns, self.chain_id, Mode.DELIVER)
        started = time.perf_counter()
        results = [self._run_tx(ctx, raw) for raw in txs]
        txs_done = time.perf_counter()
        cleared = market_keeper.end_block(ctx)
        clearing_done = time.perf_counter()
        energy_keeper.end_block(ctx, cleared)  # acknowledge external orders just cleared
        settlement_keeper.note_cleared(ctx.kv, cleared)
        settled = settlement_keeper.end_block(ctx)  # storage deliveries are settled inside
        certificates_keeper.end_block(ctx, settled)  # metered export of the intervals just settled
        # Grid services after settlement: a commitment for interval n is measured
        # in the same block as n's market contracts, and an automatic
        # demand-response event follows the imbalance just settled.
        demand_response_keeper.end_block(ctx, settled)
        flexibility_keeper.end_block(ctx)
        quota_keeper.end_block(ctx)
        end_block_done = time.perf_counter()
        self.timings = {
            "txs": txs_done - started,
            "clearing": clearing_done - txs_done,
            "end_block": end_block_done - txs_done,
        }
        if self.check_invariants:
            self._check_invariants()
        self._block_time_ns = time_ns
        app_hash = self.store.stage(self.block_kv.writes)
        return BlockResult(results, ctx.events, app_hash)

    def _check_invariants(self) -> None:
        bank_keeper.check_invariants(self.block_kv)
        market_keeper.check_invariants(self.block_kv)
        energy_keeper.check_invariants(self.block_kv)
        demand_response_keeper.check_invariants(self.block_kv)
        flexibility_keeper.check_invariants(self.block_kv)
        quota_keeper.check_invariants(self.block_kv)
        certificates_keeper.check_invariants(self.block_kv)
        storage_keeper.check_invariants(self.block_kv)

    def commit(self) -> int:
        """Persist the block in one atomic batch; returns the new height."""
        meta = dict(self._pending_meta)
        meta[META_BLOCK_TIME] = str(self._block_time_ns).encode()
        # The first block of a chain with initial height N is version N.
        first = None if self.store.version else self.initial_height
        version = self.store.commit(meta, version=first)
        self._pending_meta = {}
        self.last_block_time_ns = self._block_time_ns
        self.block_kv = CacheKV(PinnedView(self.store))
        self.check_kv = CacheKV(PinnedView(self.store))
        return version

    # --- transactions ----------------------------------------------------

    def check_tx(self, raw: bytes, recheck: bool = False) -> TxResult:
        """Run a transaction on the check state; keep its effects only if it passes."""
        ctx = Context(
            self.check_kv.branch(),
            self.height + 1,
            self.last_block_time_ns,
            self.chain_id,
            Mode.RECHECK if recheck else Mode.CHECK,
        )
        try:
            tx = self._decode(raw)
            signer = self._ante(ctx, tx)
            if not recheck:
                self._run_msgs(ctx, tx, signer)
        except ABCIError as err:
            return TxResult.from_error(err)
        ctx.kv.write()
        return TxResult(events=ctx.events)

    def well_formed(self, raw: bytes) -> bool:
        """Stateless check used by Prepare/ProcessProposal: the bytes decode as a tx."""
        try:
            self._decode(raw)
        except ABCIError:
            return False
        return True

    def decoded(self, raw: bytes) -> codec.DecodedTx | None:
        """The tx ``raw`` decodes to (from the decode cache when seen), None if it
        does not decode; for observers such as metrics and logs."""
        try:
            return self._decode(raw)
        except ABCIError:
            return None

    def _run_tx(self, block: Context, raw: bytes) -> TxResult:
        ante = block.branch()
        try:
            tx = self._decode(raw)
            signer = self._ante(ante, tx)
        except ABCIError as err:
            return TxResult.from_error(err)
        ante.kv.write()  # fee and sequence stand even if the messages fail
        msgs = block.branch()
        try:
            self._run_msgs(msgs, tx, signer)
        except ABCIError as err:
            return TxResult(err.code, err.codespace, err.log, list(ante.events))
        msgs.kv.write()
        return TxResult(events=ante.events + msgs.events)

    def _decode(self, raw: bytes) -> codec.DecodedTx:
        seen = self._seen.get(raw)
        if seen is not None:
            return seen.tx
        if len(raw) > codec.MAX_TX_BYTES:
            raise ErrTxTooLarge(f"{len(raw)} bytes, limit {codec.MAX_TX_BYTES}")
        try:
            tx = codec.decode_tx(raw)
        except codec.TxDecodeError as exc:
            raise ErrTxDecode(str(exc)) from None
        self._seen[raw] = _Seen(tx)
        self._seen_bytes += len(raw)
        while self._seen_bytes > TX_CACHE_BYTES:  # forget the oldest first
            oldest = next(iter(self._seen))
            self._seen_bytes -= len(oldest)
            del self._seen[oldest]
        return tx

    def _ante(self, ctx: Context, tx: codec.DecodedTx) -> bytes:
        """Envelope checks, then fee and sequence. Returns the signer's address."""
        body = tx.body
        if body.chain_id != ctx.chain_id:
            raise ErrWrongChainId(f"tx is for chain {body.chain_id!r}, this is {ctx.chain_id!r}")
        signer = crypto.address_bytes(tx.pub_key)
        if body.signer != crypto.encode_address(signer):
            raise ErrUnauthorized(
                f"signer {body.signer!r} is not the address of the public key "
                f"({crypto.encode_address(signer)})"
            )
        if body.timeout_height and ctx.height > body.timeout_height:
            raise ErrTxTimeout(f"block height {ctx.height} > timeout height {body.timeout_height}")
        if len(body.memo) > codec.MAX_MEMO_CHARS:
            raise ErrMemoTooLarge(f"{len(body.memo)} chars, limit {codec.MAX_MEMO_CHARS}")
        validate_messages(body.messages, codec.MAX_MSGS_PER_TX)
        params = bank_keeper.get_params(ctx.kv)
        fee = self._parse_fee(body, params.denom, int(params.min_fee))
        account = auth_keeper.get_account(ctx.kv, signer)
        if body.sequence != account.sequence:
            raise ErrInvalidSequence(
                f"account {body.signer} expects sequence {account.sequence}, tx has {body.sequence}"
            )
        if not self._signature_ok(tx):
            raise ErrUnauthorized("signature does not verify over the tx body")
        if fee.amount:
            try:
                bank_keeper.send(ctx, signer, bank_keeper.FEE_COLLECTOR, [fee])
            except bank_keeper.ErrInsufficientFunds as err:
                raise ErrInsufficientFee(f"cannot pay fee {fee}: {err.detail}") from None
        account.sequence += 1
        if not account.pub_key:
            account.pub_key = tx.pub_key
        auth_keeper.set_account(ctx.kv, signer, account)
        # Not "hash" or "height": CometBFT's indexer reserves the keys tx.hash and
        # tx.height, and refuses to index a block whose events use them.
        ctx.emit("tx", signer=body.signer, sequence=body.sequence, fee=str(fee))
        return signer

    @staticmethod
    def _parse_fee(body: Any, denom: str, min_fee: int) -> coins.Coin:
        if not body.HasField("fee") or (not body.fee.denom and not body.fee.amount):
            fee = coins.Coin(denom, 0)
        else:
            try:
                fee = coins.from_proto(body.fee)
            except coins.CoinError as exc:
                raise ErrInsufficientFee(f"fee: {exc}") from None
            if fee.denom != denom:
                raise ErrInsufficientFee(f"fee must be paid in {denom}, got {fee.denom}")
        if fee.amount < min_fee:
            raise ErrInsufficientFee(
                f"fee {fee.amount}{denom} is below the minimum {min_fee}{denom}"
            )
        return fee

    def _signature_ok(self, tx: codec.DecodedTx) -> bool:
        seen = self._seen.get(tx.raw)
        if seen is None:  # evicted since decoding: verify without remembering
            return crypto.verify(tx.pub_key, tx.body_bytes, tx.signature)
        if seen.sig_ok is None:
            seen.sig_ok = crypto.verify(tx.pub_key, tx.body_bytes, tx.signature)
        return seen.sig_ok

    @staticmethod
    def _run_msgs(ctx: Context, tx: codec.DecodedTx, signer: bytes) -> None:
        for i, msg in enumerate(tx.body.messages):
            name = msg.WhichOneof("sum") or ""
            route = MSG_ROUTES[name]
            route.handle(ctx, signer, getattr(msg, name))
            ctx.emit(
                "message", action=route.action, module=route.module, sender=tx.body.signer, index=i
            )

    # --- queries ---------------------------------------------------------

    def query(self, path: str, data: bytes, height: int = 0, prove: bool = False) -> QueryResult:
        try:
            version = self._query_version(height)
            if path == STORE_KEY_PATH:
                return self._query_key(data, version, prove)
            route = QUERY_ROUTES.get(path)
            if route is None:
                raise ErrUnknownQuery(f"{path!r}; known: {STORE_KEY_PATH}, {sorted(QUERY_ROUTES)}")
            try:
                request = route.request_type.FromString(data)
            except Exception as exc:  # protobuf raises several types on garbage
                raise ErrInvalidRequest(
                    f"request does not decode as {route.request_type.__name__}: {exc}"
                ) from None
            response, _ = self.query_typed(route, request, version)
            return QueryResult(value=response.SerializeToString(deterministic=True), height=version)
        except ABCIError as err:
            return QueryResult(err.code, err.codespace, err.log, height=height)

    def query_typed(self, route: QueryRoute, request: Any, height: int = 0) -> tuple[Any, int]:
        """Answer an already-decoded request (the gRPC path); returns (response, height).

        Raises the query's ABCIError, as ``query`` reports it in a result.
        """
        version = self._query_version(height)
        return route.handle(StoreView(self.store, version), request), version

    def _query_version(self, height: int) -> int:
        latest = self.store.version
        if latest == 0:
            raise ErrHeightUnavailable("no block has been committed yet")
        if height == 0:
            return latest
        if height < 0 or height > latest:
            raise ErrHeightUnavailable(f"height {height} is not committed (latest {latest})")
        if height < self.store.earliest_version:
            raise ErrHeightUnavailable(
                f"height {height} was pruned (available {self.store.earliest_version}..{latest})"
            )
        return height

    def _query_key(self, key: bytes, version: int, prove: bool) -> QueryResult:
        if not key:
            raise ErrInvalidRequest("empty key")
        try:
            value = self.store.get(key, version)
            proof = self.store.prove(key, version) if prove else None
        except StoreError as exc:
            raise ErrHeightUnavailable(str(exc)) from None
        return QueryResult(key=key, value=value or b"", height=version, proof=proof)
