"""A real ``Chain`` behind the RPC subset the wallet uses, in one process.

``InProcessNode`` is not a mock of CometBFT (integration tests use the real
binary): it is the application's own state machine with a minimal block
producer, so wallet and module tests run real transactions through CheckTx,
FinalizeBlock and Commit, with block time under the test's control.

    node = InProcessNode(tmp_path, app_state, start_time=1_700_000_000)
    node.deliver(tx_bytes)          # CheckTx, then a block holding it
    node.advance(seconds=30)        # empty blocks until block time moved 30 s
    node.query(market_pb2.DESCRIPTOR, "Interval", req)  # typed, latest height

It answers ``status``, ``abci_query``, ``broadcast_tx_sync`` (CheckTx, the
tx waits for the next block) and ``broadcast_tx_commit`` (CheckTx and a
block), in the JSON shapes CometBFT's RPC uses, so ``clients.mgrid`` runs
unchanged against it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from google.protobuf import message_factory
from google.protobuf.message import Message

from app import crypto
from app.chain import BlockResult, Chain, TxResult
from app.context import Event
from app.crypto import PrivateKey
from app.modules.auth import keeper as auth_keeper
from app.pb.mgrid.tx.v1 import tx_pb2
from app.store import Store
from app.tx import codec

NS = 1_000_000_000


def _events_json(events: list[Event]) -> list[dict[str, Any]]:
    return [
        {"type": e.type, "attributes": [{"key": k, "value": v} for k, v in e.attributes]}
        for e in events
    ]


def _result_json(r: TxResult) -> dict[str, Any]:
    return {
        "code": r.code,
        "codespace": r.codespace,
        "log": r.log,
        "events": _events_json(r.events),
    }


class InProcessNode:
    def __init__(
        self,
        home: Path,
        app_state: dict[str, Any],
        *,
        chain_id: str = "mgrid-inproc-1",
        start_time: int = 1_700_000_000,
        block_seconds: int = 1,
    ):
        self.node = "inproc://" + chain_id
        self.chain_id = chain_id
        self.block_seconds = block_seconds
        self.store = Store(str(home / "app.db"), sync=False)
        self.chain = Chain(self.store, check_invariants=True)
        self.time_ns = start_time * NS
        self.chain.init_chain(chain_id, self.time_ns, json.dumps(app_state).encode(), 1)
        self.mempool: list[bytes] = []
        self.blocks: list[BlockResult] = []
        self.txs: dict[str, dict[str, Any]] = {}  # hash -> {height, tx_result}
        self.commit_block()  # block 1: genesis applied, so queries work

    # --- block production ------------------------------------------------

    @property
    def height(self) -> int:
        return self.chain.height

    @property
    def block_time(self) -> int:
        """Unix seconds of the last committed block."""
        return self.time_ns // NS

    def commit_block(
        self, txs: list[bytes] | None = None, *, seconds: int | None = None
    ) -> BlockResult:
        """One block holding ``txs`` (default: the mempool), ``seconds`` after the last."""
        if txs is None:
            txs, self.mempool = self.mempool, []
        if self.chain.height:
            self.time_ns += (self.block_seconds if seconds is None else seconds) * NS
        result = self.chain.finalize_block(self.chain.height + 1, self.time_ns, txs)
        self.chain.commit()
        for raw, r in zip(txs, result.tx_results, strict=True):
            self.txs[hashlib.sha256(raw).hexdigest().upper()] = {
                "hash": hashlib.sha256(raw).hexdigest().upper(),
                "height": str(self.height),
                "tx_result": _result_json(r),
            }
        for raw in list(self.mempool):  # Recheck, as CometBFT does after Commit
            if self.chain.check_tx(raw, recheck=True).code:
                self.mempool.remove(raw)
        self.blocks.append(result)
        return result

    def advance(self, seconds: int) -> list[BlockResult]:
        """Empty blocks (mempool included) until block time has moved ``seconds``."""
        target = self.time_ns + seconds * NS
        out = []
        while self.time_ns < target:
            step = min(self.block_seconds * NS, target - self.time_ns)
            out.append(self.commit_block(seconds=max(1, step // NS)))
        return out

    def advance_to(self, unix_seconds: int) -> list[BlockResult]:
        return self.advance(max(0, unix_seconds - self.block_time))

    def deliver(self, raw: bytes) -> TxResult:
        """CheckTx, then (if it passed) a block holding only this tx; returns the block result
        (or the CheckTx rejection)."""
        checked = self.chain.check_tx(raw)
        if checked.code:
            return checked
        return self.commit_block([raw]).tx_results[0]

    def sign(self, signer: PrivateKey, *messages: tuple[str, Message]) -> bytes:
        """A tx of ``messages`` ((Msg oneof field, message) pairs) at the signer's next
        sequence: the check state's, so it follows txs still in the mempool."""
        account = auth_keeper.get_account(
            self.chain.check_kv, crypto.decode_address(signer.address)
        )
        body = tx_pb2.TxBody(
            chain_id=self.chain_id, signer=signer.address, sequence=account.sequence
        )
        for name, msg in messages:
            getattr(body.messages.add(), name).CopyFrom(msg)
        return codec.sign_tx(body, signer)

    def query(self, file_descriptor: Any, method: str, request: Any, height: int = 0) -> Any:
        service = file_descriptor.services_by_name["Query"]
        path = f"/{service.full_name}/{method}"
        result = self.chain.query(path, request.SerializeToString(), height)
        if result.code:
            raise AssertionError(
                f"query {path} failed: {result.codespace}/{result.code} {result.log}"
            )
        out_type = service.methods_by_name[method].output_type
        return message_factory.GetMessageClass(out_type).FromString(result.value)

    def close(self) -> None:
        self.store.close()

    # --- the RPC subset (clients.mgrid.chain.RPCLike) --------------------

    def status(self) -> dict[str, Any]:
        return {
            "node_info": {"network": self.chain_id, "moniker": "inproc"},
            "sync_info": {
                "latest_block_height": str(self.height),
                "latest_app_hash": self.chain.app_hash().hex().upper(),
                "latest_block_time": f"{self.block_time}",
                "catching_up": False,
            },
        }

    def abci_query(
        self, path: str, data: bytes = b"", height: int = 0, prove: bool = False
    ) -> dict[str, Any]:
        r = self.chain.query(path, data, height, prove)
        return {
            "code": r.code,
            "codespace": r.codespace,
            "log": r.log,
            "key": r.key,
            "value": r.value,
            "height": str(r.height),
        }

    def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]:
        checked = self.chain.check_tx(tx)
        if not checked.code:
            self.mempool.append(tx)
        return {**_result_json(checked), "hash": hashlib.sha256(tx).hexdigest().upper()}

    def broadcast_tx_commit(self, tx: bytes) -> dict[str, Any]:
        txhash = hashlib.sha256(tx).hexdigest().upper()
        checked = self.chain.check_tx(tx)
        if checked.code:
            return {"check_tx": _result_json(checked), "hash": txhash, "height": "0"}
        block = self.commit_block([*self.mempool, tx])
        self.mempool = []
        return {
            "check_tx": _result_json(checked),
            "tx_result": _result_json(block.tx_results[-1]),
            "hash": txhash,
            "height": str(self.height),
        }

    def tx(self, tx_hash_hex: str) -> dict[str, Any]:
        """The committed tx (CometBFT's /tx shape); KeyError when not in a block."""
        return self.txs[tx_hash_hex.upper()]
