"""The relayer on two in-process chains (tests/support/ibcpair.py), through the same
RPC interface it uses against CometBFT.

``LockstepRPC`` is the RPC face of one ``IBCNode``: everything is the node's
own CometBFT-shaped answer, except that a transaction's block (broadcast_tx_commit)
also commits a block on the other chain, and ``wait_for_height`` steps both
chains, so the two block clocks stay together as two live chains' do (a
header from one is never far ahead of the other's time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path as FsPath
from typing import Any

import pytest

from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from ibc.relayer import link as linkmod
from ibc.relayer.chain import RelayChain
from ibc.relayer.config import DEFAULT_CHANNELS
from ibc.relayer.metrics import Metrics
from ibc.relayer.path import Path
from ibc.relayer.relay import Relayer
from ibc.relayer.state import StateFile
from tests.support.ibcpair import IBCNode, IBCPair, address, key
from tests.support.inproc import NS

TRUSTING_PERIOD_NS = 14 * 86_400 * NS
MAX_CLOCK_DRIFT_NS = 10 * NS


class LockstepRPC:
    """One IBCNode of a pair as the relayer sees it (see the module docstring)."""

    def __init__(self, pair: IBCPair, node: IBCNode):
        self.pair = pair
        self.target = node
        self.node = node.node
        self.broadcasts = 0
        self.fail_next: list[dict[str, Any]] = []  # canned broadcast answers, for tests

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

    def broadcast_tx_commit(self, tx: bytes) -> dict[str, Any]:
        self.broadcasts += 1
        if self.fail_next:
            return self.fail_next.pop(0)
        result = self.target.broadcast_tx_commit(tx)
        self.pair.other(self.target).commit_block()
        return result

    def validators(
        self, height: int | None = None, page: int = 1, per_page: int = 100
    ) -> dict[str, Any]:
        # IBCNode keeps its TestValidators in an attribute of the same name, which
        # hides its /validators method on the instance: call the method itself.
        return IBCNode.validators(self.target, height, page=page, per_page=per_page)

    def wait_for_height(self, height: int) -> None:
        while self.target.height < height:
            self.pair.step()


@dataclass
class Env:
    pair: IBCPair
    path: Path
    state: StateFile
    rpc_a: LockstepRPC
    rpc_b: LockstepRPC

    @property
    def a(self) -> IBCNode:
        return self.pair.a

    @property
    def b(self) -> IBCNode:
        return self.pair.b

    def new_path(self, metrics: Metrics | None = None) -> Path:
        """A second relayer's view of the same path (its own chains' handles and state
        read back from the file)."""
        return make_path(self.pair, self.state.path, metrics, (self.rpc_a, self.rpc_b))

    def link(self) -> linkmod.LinkReport:
        return linkmod.link(self.path, TRUSTING_PERIOD_NS, MAX_CLOCK_DRIFT_NS)

    def relayer(self, path: Path | None = None) -> Relayer:
        return Relayer(path or self.path, refresh_fraction=Fraction(1, 3))

    def channel(self, port: str) -> tuple[str, str]:
        record = self.path.state.channel(port)
        return record.a, record.b

    def transfer(
        self,
        node: IBCNode,
        amount: int,
        *,
        sender: str = "alice",
        receiver: str = "bob",
        denom: str = "ugrid",
        timeout_height: int = 0,
        timeout_seconds: int = 600,
    ) -> None:
        """alice's MsgTransfer on ``node`` over the transfer channel (in one block)."""
        ch_a, ch_b = self.channel("transfer")
        msg = transfer_pb2.MsgTransfer(
            source_port="transfer",
            source_channel=ch_a if node is self.a else ch_b,
            token=coin_pb2.Coin(denom=denom, amount=str(amount)),
            receiver=address(receiver),
            timeout_height=timeout_height,
            timeout_timestamp=(node.time_ns + timeout_seconds * NS) if timeout_seconds else 0,
        )
        result = self.pair.submit(node, ("transfer", msg), signer=key(sender))
        assert result.code == 0, result.log

    def balance(self, node: IBCNode, name: str, denom: str) -> int:
        from app.pb.mgrid.bank.v1 import bank_pb2

        resp = node.query(
            bank_pb2.DESCRIPTOR,
            "Balance",
            bank_pb2.QueryBalanceRequest(address=address(name), denom=denom),
        )
        return int(resp.balance.amount or 0)

    def vouchers(self, node: IBCNode, name: str) -> dict[str, int]:
        from app.pb.mgrid.bank.v1 import bank_pb2

        resp = node.query(
            bank_pb2.DESCRIPTOR,
            "AllBalances",
            bank_pb2.QueryAllBalancesRequest(address=address(name)),
        )
        return {c.denom: int(c.amount) for c in resp.balances if c.denom.startswith("ibc/")}


def make_path(
    pair: IBCPair,
    state_path: FsPath,
    metrics: Metrics | None = None,
    rpcs: tuple[LockstepRPC, LockstepRPC] | None = None,
) -> Path:
    state = StateFile(state_path)
    rpc_a, rpc_b = rpcs or (LockstepRPC(pair, pair.a), LockstepRPC(pair, pair.b))
    chain_a = RelayChain("mg-a", rpc_a, pair.a.chain_id, key("relayer"))
    chain_b = RelayChain("mg-b", rpc_b, pair.b.chain_id, key("relayer"))
    path = Path(
        "default",
        chain_a,
        chain_b,
        state.path_state("default"),
        save=state.save,
        metrics=metrics or Metrics(),
        channels=DEFAULT_CHANNELS,
    )
    path._state_file = state  # type: ignore[attr-defined]
    return path


@pytest.fixture
def env(tmp_path: FsPath) -> Iterator[Env]:
    pair = IBCPair(tmp_path)
    rpc_a, rpc_b = LockstepRPC(pair, pair.a), LockstepRPC(pair, pair.b)
    path = make_path(pair, tmp_path / "relayer" / "state.json", rpcs=(rpc_a, rpc_b))
    yield Env(pair, path, path._state_file, rpc_a, rpc_b)  # type: ignore[attr-defined]
    pair.close()


@pytest.fixture
def linked(env: Env) -> Env:
    env.link()
    return env
