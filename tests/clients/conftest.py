"""Fixtures for the wallet tests: a fake node speaking the RPC subset the
wallet uses, and a runner for the CLI with captured output."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from app import crypto
from app.genesis import default_app_state
from app.pb.mgrid.auth.v1 import auth_pb2
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.base.v1 import coin_pb2
from app.tx import codec
from clients.mgrid.cli import Env, run
from clients.mgrid.keyring import Keyring
from tests.support.inproc import InProcessNode

CHAIN_ID = "mgrid-test-1"
DENOM = "ugrid"
FEE_COLLECTOR = crypto.encode_address(b"\xfe" * 20)


@dataclass
class FakeNode:
    """Answers status, ABCI queries and broadcasts from in-memory state.

    It is not a chain: it records what is broadcast and answers with
    ``broadcast_result`` (or code 0), so tests look at exactly what the
    wallet produced.
    """

    node: str = "http://fake:26657"
    chain_id: str = CHAIN_ID
    height: int = 7
    min_fee: int = 0
    sequences: dict[str, int] = field(default_factory=dict)
    balances: dict[str, dict[str, int]] = field(default_factory=dict)
    query_errors: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    # Canned answers by query path, before the bank/auth handlers below: a
    # message, or a function of the request bytes returning one.
    responses: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, bytes]] = field(default_factory=list)
    broadcast_result: dict[str, Any] | None = None
    broadcasts: list[tuple[str, bytes]] = field(default_factory=list)
    queries: list[tuple[str, int]] = field(default_factory=list)
    status_calls: int = 0

    def status(self) -> dict[str, Any]:
        self.status_calls += 1
        return {
            "node_info": {"network": self.chain_id, "moniker": "fake"},
            "sync_info": {
                "latest_block_height": str(self.height),
                "latest_block_time": "2025-01-01T00:00:00Z",
                "catching_up": False,
            },
        }

    def validators(self) -> dict[str, Any]:
        return {"block_height": str(self.height), "validators": [{}], "count": "1", "total": "1"}

    def abci_query(
        self, path: str, data: bytes = b"", height: int = 0, prove: bool = False
    ) -> dict[str, Any]:
        self.queries.append((path, height))
        self.requests.append((path, data))
        if path in self.query_errors:
            codespace, code, log = self.query_errors[path]
            return {"code": code, "codespace": codespace, "log": log, "value": b""}
        if path in self.responses:
            answer = self.responses[path]
            answer = answer(data) if callable(answer) else answer
            return {"code": 0, "log": "", "value": answer.SerializeToString()}
        handler: Callable[[bytes], Any] = getattr(self, "_q_" + path.rsplit("/", 1)[1])
        return {"code": 0, "log": "", "value": handler(data).SerializeToString()}

    def _q_Account(self, data: bytes) -> Any:
        req = auth_pb2.QueryAccountRequest.FromString(data)
        return auth_pb2.QueryAccountResponse(
            account=auth_pb2.Account(
                address=req.address, sequence=self.sequences.get(req.address, 0)
            )
        )

    def _q_Params(self, data: bytes) -> Any:
        return bank_pb2.QueryParamsResponse(
            denom=DENOM,
            min_fee=coin_pb2.Coin(denom=DENOM, amount=str(self.min_fee)),
            fee_collector=FEE_COLLECTOR,
        )

    def _q_Balance(self, data: bytes) -> Any:
        req = bank_pb2.QueryBalanceRequest.FromString(data)
        amount = self.balances.get(req.address, {}).get(req.denom, 0)
        return bank_pb2.QueryBalanceResponse(
            balance=coin_pb2.Coin(denom=req.denom, amount=str(amount))
        )

    def _q_AllBalances(self, data: bytes) -> Any:
        req = bank_pb2.QueryAllBalancesRequest.FromString(data)
        held = sorted(self.balances.get(req.address, {}).items())
        return bank_pb2.QueryAllBalancesResponse(
            balances=[coin_pb2.Coin(denom=d, amount=str(a)) for d, a in held if a]
        )

    def _q_TotalSupply(self, data: bytes) -> Any:
        total: dict[str, int] = {}
        for held in self.balances.values():
            for denom, amount in held.items():
                total[denom] = total.get(denom, 0) + amount
        return bank_pb2.QueryTotalSupplyResponse(
            supply=[coin_pb2.Coin(denom=d, amount=str(a)) for d, a in sorted(total.items())]
        )

    def _result(self, tx: bytes) -> dict[str, Any]:
        return self.broadcast_result or {"code": 0, "log": "", "codespace": ""}

    def broadcast_tx_sync(self, tx: bytes) -> dict[str, Any]:
        self.broadcasts.append(("sync", tx))
        return {**self._result(tx), "hash": codec.tx_hash(tx).hex().upper()}

    def broadcast_tx_commit(self, tx: bytes) -> dict[str, Any]:
        self.broadcasts.append(("commit", tx))
        result = self._result(tx)
        if result.get("code"):
            return {"check_tx": result, "tx_result": {}, "hash": "", "height": "0"}
        return {
            "check_tx": {"code": 0},
            "tx_result": result,
            "hash": codec.tx_hash(tx).hex().upper(),
            "height": str(self.height + 1),
        }


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Wallet:
    """Runs ``mgrid`` against a keyring directory and a fake node."""

    keyring_dir: str
    node: Any  # a FakeNode, or an InProcessNode for end-to-end tests
    interactive: bool = False
    answers: list[str] = field(default_factory=list)
    confirm_answer: bool = True
    prompts: list[str] = field(default_factory=list)

    def __call__(self, *argv: str, backend: str = "test", node: str | None = None) -> Result:
        out, err = io.StringIO(), io.StringIO()

        def getpass(prompt: str) -> str:
            self.prompts.append(prompt)
            return self.answers.pop(0)

        def confirm(prompt: str) -> bool:
            self.prompts.append(prompt)
            return self.confirm_answer

        env = Env(
            rpc_factory=lambda url: self.node,
            stdout=out,
            stderr=err,
            interactive=self.interactive,
            getpass=getpass,
            confirm=confirm,
        )
        head = ["--keyring-dir", self.keyring_dir, "--keyring-backend", backend]
        if node is not None:
            head += ["--node", node]
        code = run([*head, *argv], env)
        return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def fake_node() -> FakeNode:
    return FakeNode()


@pytest.fixture
def wallet(tmp_path: Any, fake_node: FakeNode) -> Wallet:
    return Wallet(str(tmp_path / "keyring"), fake_node)


# -- a real in-process chain for end-to-end wallet tests ---------------------------------------

MICROGRID_START = 1_700_000_040  # a boundary of 60 s intervals
MICROGRID_FUNDS = 1_000_000
MICROGRID_PARAMS: dict[str, Any] = {
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
MICROGRID_NETWORK: dict[str, Any] = {
    "buses": [
        {"id": "pcc"},
        {"id": "b1", "parent": "pcc", "capacity_wh": 5_000},
        {"id": "b2", "parent": "pcc"},
    ]
}
# Keyring name -> seed byte. alice and bob are approved participants from
# genesis, carol is funded but not registered, meter1 and meter2 are meter keys.
MICROGRID_KEYS = {
    "utility": 1,
    "regulator": 2,
    "alice": 3,
    "bob": 4,
    "carol": 5,
    "meter1": 6,
    "meter2": 7,
}


@dataclass
class Microgrid:
    """An InProcessNode (a real Chain) and a wallet whose test keyring holds its keys."""

    node: InProcessNode
    wallet: Wallet

    def address(self, name: str) -> str:
        return crypto.PrivateKey(bytes([MICROGRID_KEYS[name]]) * 32).address

    def pub_key(self, name: str) -> str:
        return crypto.PrivateKey(bytes([MICROGRID_KEYS[name]]) * 32).public_key.hex()


@pytest.fixture
def microgrid(tmp_path: Any) -> Iterator[Microgrid]:
    keyring = Keyring(str(tmp_path / "keyring"), backend="test")
    for name, n in MICROGRID_KEYS.items():
        keyring.add(name, bytes([n]) * 32)
    address = {info.name: info.address for info in keyring.list()}
    funded = ("utility", "regulator", "alice", "bob", "carol")
    state = default_app_state(
        balances={address[name]: MICROGRID_FUNDS for name in funded},
        utility=address["utility"],
        regulator=address["regulator"],
        network=MICROGRID_NETWORK,
        market_params=MICROGRID_PARAMS,
    )
    state["registry"]["participants"] = [
        {"address": address["alice"], "role": "prosumer", "bus": "b1"},
        {"address": address["bob"], "role": "consumer", "bus": "b2"},
    ]
    home = tmp_path / "node"
    home.mkdir()
    node = InProcessNode(home, state, chain_id=CHAIN_ID, start_time=MICROGRID_START)
    try:
        yield Microgrid(node, Wallet(keyring.directory.as_posix(), node))
    finally:
        node.close()
