"""The thin ABCI adapter: translates CometBFT's requests into calls on the
``Chain`` state machine and its results back into responses.

When CometBFT calls each method (v0.38, ABCI 2.0):
- Info: at start-up (handshake); we report the last committed height and
  app hash so CometBFT replays any block the app has not committed.
- InitChain: once, at genesis; returns the app hash after genesis.
- CheckTx (New/Recheck): on the mempool connection for each incoming
  transaction, and again for every remaining one after each Commit.
- PrepareProposal / ProcessProposal: when this node proposes / receives a
  proposal; only stateless, deterministic checks, so honest validators
  always agree.
- ExtendVote / VerifyVoteExtension: only if vote extensions are enabled
  (they are not); answered with an empty extension / accept-if-empty.
- FinalizeBlock: executes a decided block and returns per-tx results and
  the app hash; nothing is persisted.
- Commit: persists the block atomically.
- Query: reads committed state, optionally with an ICS-23 proof.
- Snapshot methods (state sync): ListSnapshots / LoadSnapshotChunk serve
  the snapshots this node took; OfferSnapshot / ApplySnapshotChunk restore
  one on a new node (app/snapshots.py). Without a snapshot store there are
  no snapshots and offers are rejected.

Observability: with an ``app.metrics.AppMetrics`` the adapter reports each
CheckTx, FinalizeBlock and Commit to it after computing the answer (an
error there is logged, never answered to CometBFT). Log lines about a block
carry its height, lines about a transaction its height and hash
(``app/logs.py``): each failed transaction at info with its code and log,
each successful one at debug.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from app import __version__
from app.chain import Chain, TxResult
from app.context import Event
from app.logs import block_context, tx_hash
from app.metrics import AppMetrics
from app.pb.tendermint.abci import types_pb2 as abci
from app.pb.tendermint.crypto import proof_pb2

log = logging.getLogger("mgrid.abci")

APP_VERSION = 1
PROOF_OP_TYPE = "ics23:smt"


def _time_ns(ts: Any) -> int:
    return int(ts.seconds) * 1_000_000_000 + int(ts.nanos)


def _add_events(target: Any, events: list[Event]) -> None:
    """Append ``events`` to a repeated Event field, every attribute indexed.

    ``add()`` on the repeated fields builds the messages in place, about
    twice as fast as constructing each message and passing lists.
    """
    for e in events:
        add = target.add(type=e.type).attributes.add
        for k, v in e.attributes:
            add(key=k, value=v, index=True)


def _exec_result(r: TxResult) -> abci.ExecTxResult:
    out = abci.ExecTxResult(code=r.code, codespace=r.codespace, log=r.log)
    _add_events(out.events, r.events)
    return out


def _log_txs(height: int, txs: list[bytes], results: list[TxResult]) -> int:
    """Log each failed tx at info and each successful one at debug; returns the failed count."""
    debug = log.isEnabledFor(logging.DEBUG)
    failed = 0
    for raw, r in zip(txs, results, strict=True):
        if r.code:
            failed += 1
            extra = {
                "height": height,
                "tx_hash": tx_hash(raw),
                "code": r.code,
                "codespace": r.codespace,
            }
            log.info("tx failed: %s %d: %s", r.codespace, r.code, r.log, extra=extra)
        elif debug:
            log.debug("tx ok", extra={"height": height, "tx_hash": tx_hash(raw)})
    return failed


def _observe(method: Callable[..., None], *args: Any) -> None:
    """Report to metrics; a failure there is logged and never reaches CometBFT,
    since metrics only observe."""
    try:
        method(*args)
    except Exception:
        log.exception("metrics: %s failed", getattr(method, "__name__", method))


def _proto_size(tx: bytes) -> int:
    """Bytes a tx takes inside a block's Data (tag + uvarint length + tx)."""
    n, size = len(tx), 1
    while True:
        size += 1
        n >>= 7
        if not n:
            return size + len(tx)


class ABCIApplication:
    """Answers every ABCI request; one instance serves all four connections."""

    def __init__(self, chain: Chain, snapshots: Any = None, metrics: AppMetrics | None = None):
        """``snapshots`` (an ``app.snapshots.SnapshotStore``) takes, serves and
        restores state-sync snapshots; None offers none and rejects offers.
        ``metrics`` receives what each block did (None: no metrics)."""
        self.chain = chain
        self.snapshots = snapshots
        self.metrics = metrics
        if metrics is not None:
            metrics.set_app_info(__version__, APP_VERSION)
        self._handlers: dict[str, Callable[[Any], abci.Response]] = {
            "echo": lambda r: abci.Response(echo=abci.ResponseEcho(message=r.message)),
            "flush": lambda r: abci.Response(flush=abci.ResponseFlush()),
            "info": self.info,
            "init_chain": self.init_chain,
            "query": self.query,
            "check_tx": self.check_tx,
            "commit": self.commit,
            "list_snapshots": self.list_snapshots,
            "offer_snapshot": self.offer_snapshot,
            "load_snapshot_chunk": self.load_snapshot_chunk,
            "apply_snapshot_chunk": self.apply_snapshot_chunk,
            "prepare_proposal": self.prepare_proposal,
            "process_proposal": self.process_proposal,
            "extend_vote": lambda r: abci.Response(extend_vote=abci.ResponseExtendVote()),
            "verify_vote_extension": self.verify_vote_extension,
            "finalize_block": self.finalize_block,
        }

    def handle(self, request: abci.Request) -> abci.Response:
        """Dispatch one request. Exceptions propagate to the server, which
        answers them with ResponseException."""
        kind = request.WhichOneof("value")
        handler = self._handlers.get(kind or "")
        if handler is None:
            raise ValueError(f"unknown ABCI request {kind!r}")
        return handler(getattr(request, kind))  # type: ignore[arg-type]

    def info(self, req: abci.RequestInfo) -> abci.Response:
        # Debug: besides the handshake, every /abci_info (`localnet status`) asks.
        log.debug(
            "info: cometbft %s, abci %s; app at height %d",
            req.version,
            req.abci_version,
            self.chain.height,
        )
        return abci.Response(
            info=abci.ResponseInfo(
                data="mgrid",
                version=__version__,
                app_version=APP_VERSION,
                last_block_height=self.chain.height,
                last_block_app_hash=self.chain.app_hash(),
            )
        )

    def init_chain(self, req: abci.RequestInitChain) -> abci.Response:
        app_hash = self.chain.init_chain(
            req.chain_id, _time_ns(req.time), req.app_state_bytes, req.initial_height
        )
        log.info("init_chain %s: app hash %s", req.chain_id, app_hash.hex().upper())
        return abci.Response(init_chain=abci.ResponseInitChain(app_hash=app_hash))

    def check_tx(self, req: abci.RequestCheckTx) -> abci.Response:
        recheck = req.type == abci.RECHECK
        r = self.chain.check_tx(req.tx, recheck=recheck)
        if self.metrics is not None:
            _observe(self.metrics.observe_check_tx, recheck, r.code, r.codespace)
        return abci.Response(
            check_tx=abci.ResponseCheckTx(code=r.code, codespace=r.codespace, log=r.log)
        )

    def prepare_proposal(self, req: abci.RequestPrepareProposal) -> abci.Response:
        txs: list[bytes] = []
        total = 0
        for tx in req.txs:
            size = _proto_size(tx)
            if total + size > req.max_tx_bytes:
                break
            if self.chain.well_formed(tx):
                txs.append(tx)
                total += size
        return abci.Response(prepare_proposal=abci.ResponsePrepareProposal(txs=txs))

    def process_proposal(self, req: abci.RequestProcessProposal) -> abci.Response:
        ok = all(self.chain.well_formed(tx) for tx in req.txs)
        status = abci.ResponseProcessProposal.ACCEPT if ok else abci.ResponseProcessProposal.REJECT
        if not ok:
            log.warning(
                "rejecting proposal at height %d: a tx does not decode",
                req.height,
                extra={"height": req.height},
            )
        return abci.Response(process_proposal=abci.ResponseProcessProposal(status=status))

    def verify_vote_extension(self, req: abci.RequestVerifyVoteExtension) -> abci.Response:
        ok = not req.vote_extension
        status = (
            abci.ResponseVerifyVoteExtension.ACCEPT
            if ok
            else abci.ResponseVerifyVoteExtension.REJECT
        )
        return abci.Response(verify_vote_extension=abci.ResponseVerifyVoteExtension(status=status))

    def finalize_block(self, req: abci.RequestFinalizeBlock) -> abci.Response:
        # Wall and CPU time go to the log and metrics only (operators read
        # them); the state machine itself never reads a clock.
        start, cpu = time.perf_counter(), time.process_time()
        height, time_ns, txs = req.height, _time_ns(req.time), list(req.txs)
        with block_context(height):
            result = self.chain.finalize_block(height, time_ns, txs)
            response = abci.Response(
                finalize_block=abci.ResponseFinalizeBlock(
                    tx_results=[_exec_result(r) for r in result.tx_results],
                    app_hash=result.app_hash,
                )
            )
            _add_events(response.finalize_block.events, result.events)
            seconds = time.perf_counter() - start
            failed = _log_txs(height, txs, result.tx_results)
            log.info(
                "finalized height %d: %d txs (%d failed) in %.0f ms (%.0f ms CPU), app hash %s",
                height,
                len(txs),
                failed,
                seconds * 1000,
                (time.process_time() - cpu) * 1000,
                result.app_hash.hex().upper(),
            )
            if self.metrics is not None:
                _observe(
                    self.metrics.observe_block, self.chain, height, time_ns, txs, result, seconds
                )
        return response

    def commit(self, req: abci.RequestCommit) -> abci.Response:
        with block_context(self.chain.height + 1):
            start = time.perf_counter()
            height = self.chain.commit()
            seconds = time.perf_counter() - start
            if self.metrics is not None:
                _observe(self.metrics.observe_commit, self.chain, height, seconds)
            if self.snapshots is not None:
                self.snapshots.after_commit(self.chain, height)
        return abci.Response(commit=abci.ResponseCommit(retain_height=0))

    # --- state sync ------------------------------------------------------

    def list_snapshots(self, req: abci.RequestListSnapshots) -> abci.Response:
        out = abci.ResponseListSnapshots()
        if self.snapshots is not None:
            out.snapshots.extend(self.snapshots.list())
        return abci.Response(list_snapshots=out)

    def load_snapshot_chunk(self, req: abci.RequestLoadSnapshotChunk) -> abci.Response:
        chunk = b""
        if self.snapshots is not None:
            chunk = self.snapshots.load_chunk(req.height, req.format, req.chunk)
        return abci.Response(load_snapshot_chunk=abci.ResponseLoadSnapshotChunk(chunk=chunk))

    def offer_snapshot(self, req: abci.RequestOfferSnapshot) -> abci.Response:
        if self.snapshots is None:
            result = abci.ResponseOfferSnapshot.REJECT
        else:
            result = self.snapshots.offer(self.chain, req.snapshot, req.app_hash)
        return abci.Response(offer_snapshot=abci.ResponseOfferSnapshot(result=result))

    def apply_snapshot_chunk(self, req: abci.RequestApplySnapshotChunk) -> abci.Response:
        if self.snapshots is None:
            out = abci.ResponseApplySnapshotChunk(result=abci.ResponseApplySnapshotChunk.ABORT)
        else:
            out = self.snapshots.apply_chunk(self.chain, req.index, req.chunk, req.sender)
        return abci.Response(apply_snapshot_chunk=out)

    def query(self, req: abci.RequestQuery) -> abci.Response:
        r = self.chain.query(req.path, req.data, req.height, req.prove)
        resp = abci.ResponseQuery(
            code=r.code, codespace=r.codespace, log=r.log, key=r.key, value=r.value, height=r.height
        )
        if r.proof is not None:
            resp.proof_ops.CopyFrom(
                proof_pb2.ProofOps(
                    ops=[
                        proof_pb2.ProofOp(
                            type=PROOF_OP_TYPE,
                            key=r.key,
                            data=r.proof.SerializeToString(deterministic=True),
                        )
                    ]
                )
            )
        return abci.Response(query=resp)
