"""The wallet's typed queries and broadcast results, against the fake node."""

from __future__ import annotations

from typing import Any

import pytest

from app.coins import Coin
from app.crypto import encode_address
from app.pb.mgrid.auth.v1 import auth_pb2
from app.pb.mgrid.bank.v1 import bank_pb2
from clients.mgrid.chain import ChainClient, QueryError, TxResult, parse_broadcast, query_path

DENOM = "ugrid"
ADDR = encode_address(b"\x01" * 20)
FakeNode = Any  # the fixture's class lives in conftest.py


def test_paths_are_grpc_method_names() -> None:
    assert query_path(bank_pb2.DESCRIPTOR, "Balance") == "/mgrid.bank.v1.Query/Balance"
    assert query_path(auth_pb2.DESCRIPTOR, "Account") == "/mgrid.auth.v1.Query/Account"


def test_typed_queries(fake_node: FakeNode) -> None:
    fake_node.sequences[ADDR] = 4
    fake_node.balances[ADDR] = {DENOM: 250, "uwatt": 3}
    fake_node.min_fee = 5
    chain = ChainClient(fake_node)
    assert chain.account(ADDR).sequence == 4
    assert chain.account("mg1other").sequence == 0
    assert chain.balance(ADDR, DENOM) == Coin(DENOM, 250)
    assert chain.balance(ADDR, "uother") == Coin("uother", 0)
    assert chain.all_balances(ADDR) == [Coin(DENOM, 250), Coin("uwatt", 3)]
    assert chain.total_supply() == [Coin(DENOM, 250), Coin("uwatt", 3)]
    params = chain.bank_params()
    assert (params.denom, params.min_fee) == (DENOM, Coin(DENOM, 5))
    chain.balance(ADDR, DENOM, height=3)
    assert fake_node.queries[-1] == ("/mgrid.bank.v1.Query/Balance", 3)


def test_query_error_carries_codespace_code_and_log(fake_node: FakeNode) -> None:
    fake_node.query_errors["/mgrid.bank.v1.Query/AllBalances"] = ("tx", 12, "invalid address")
    with pytest.raises(QueryError) as info:
        ChainClient(fake_node).all_balances("bad")
    err = info.value
    assert (err.codespace, err.code, err.log) == ("tx", 12, "invalid address")
    assert "codespace=tx code=12: invalid address" in str(err)


class _CommittingNode:
    """Answers a query at ``height`` as the app would while block ``height`` is being
    committed: ``lag`` refusals first, then the answer."""

    def __init__(self, log: str, lag: int):
        self.log, self.lag, self.calls = log, lag, 0

    def abci_query(self, path: str, data: bytes = b"", height: int = 0, prove: bool = False) -> Any:
        self.calls += 1
        if self.calls <= self.lag:
            return {"code": 16, "codespace": "tx", "log": self.log}
        return {"code": 0, "value": bank_pb2.QueryBalanceResponse().SerializeToString()}


def test_a_query_at_the_block_being_committed_waits_for_the_commit() -> None:
    node = _CommittingNode("height not available: height 8 is not committed (latest 7)", lag=2)
    ChainClient(node).balance(ADDR, DENOM, height=8)  # type: ignore[arg-type]
    assert node.calls == 3


@pytest.mark.parametrize(
    "log",
    [
        "height not available: height 8 is not committed (latest 5)",  # further ahead
        "height not available: height 8 was pruned (available 9..20)",
    ],
)
def test_other_unavailable_heights_fail_at_once(log: str) -> None:
    node = _CommittingNode(log, lag=1)
    with pytest.raises(QueryError):
        ChainClient(node).balance(ADDR, DENOM, height=8)  # type: ignore[arg-type]
    assert node.calls == 1


def test_query_rejects_a_request_of_the_wrong_type(fake_node: FakeNode) -> None:
    with pytest.raises(TypeError):
        ChainClient(fake_node).query(bank_pb2.DESCRIPTOR, "Balance", bank_pb2.QueryParamsRequest())


# CometBFT v0.38 result shapes, trimmed to what the wallet reads.
COMMIT_OK = {
    "check_tx": {"code": 0, "log": ""},
    "tx_result": {"code": 0, "log": "", "codespace": ""},
    "hash": "ab12",
    "height": "42",
}
COMMIT_CHECK_FAIL = {
    "check_tx": {"code": 3, "codespace": "tx", "log": "invalid sequence: expected 1, got 0"},
    "tx_result": {},
    "hash": "AB12",
    "height": "0",
}
COMMIT_BLOCK_FAIL = {
    "check_tx": {"code": 0},
    "tx_result": {"code": 5, "codespace": "bank", "log": "insufficient funds"},
    "hash": "AB12",
    "height": "43",
}


@pytest.mark.parametrize(
    ("mode", "result", "expected"),
    [
        ("commit", COMMIT_OK, TxResult("AB12", 42, 0, "", "", "block")),
        (
            "commit",
            COMMIT_CHECK_FAIL,
            TxResult("AB12", 0, 3, "tx", "invalid sequence: expected 1, got 0", "check"),
        ),
        (
            "commit",
            COMMIT_BLOCK_FAIL,
            TxResult("AB12", 43, 5, "bank", "insufficient funds", "block"),
        ),
        ("sync", {"code": 0, "log": "", "hash": "AB12"}, TxResult("AB12", 0, 0, "", "", "check")),
        (
            "sync",
            {"code": 6, "codespace": "tx", "log": "wrong chain id"},
            TxResult("LOCAL", 0, 6, "tx", "wrong chain id", "check"),
        ),
    ],
)
def test_parse_broadcast(mode: str, result: dict[str, object], expected: TxResult) -> None:
    assert parse_broadcast(mode, result, "local") == expected
