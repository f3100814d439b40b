"""Shared by the registry tests: a cast of keys, a genesis naming them, and an
in-process chain with typed helpers for registry transactions and queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.chain import TxResult
from app.context import Context, Mode
from app.genesis import default_app_state
from app.kv import CacheKV, StoreView
from app.modules import PREFIX_REGISTRY
from app.pb.mgrid.registry.v1 import registry_pb2
from tests.support.inproc import InProcessNode
from tests.support.txs import key

UTILITY, REGULATOR = key(10), key(11)
ALICE, BOB, CAROL, DAVE, EVE = key(1), key(2), key(3), key(4), key(5)
METER_A = key(101).public_key  # ALICE's meter, active
METER_OLD = key(102).public_key  # ALICE's first meter, revoked by the cast fixture
METER_NEW = key(103).public_key  # never registered

NETWORK = {
    "buses": [
        {"id": "pcc", "capacity_wh": 50_000},
        {"id": "b1", "parent": "pcc", "capacity_wh": 20_000},
        {"id": "b2", "parent": "pcc"},
        {"id": "b3", "parent": "b1", "capacity_wh": 0},
    ]
}


def registry_section() -> dict[str, Any]:
    return {
        "authorities": {"utility": UTILITY.address, "regulator": REGULATOR.address},
        "network": NETWORK,
        "participants": [
            {"address": ALICE.address, "role": "prosumer", "bus": "b1"},
            {"address": DAVE.address, "role": "producer", "bus": "b2"},
        ],
        "meters": [
            {"pub_key": METER_A.hex(), "participant": ALICE.address},
            {"pub_key": METER_OLD.hex(), "participant": ALICE.address},
        ],
    }


def app_state(registry: dict[str, Any] | None = None) -> dict[str, Any]:
    everyone = [UTILITY, REGULATOR, ALICE, BOB, CAROL, DAVE, EVE]
    state = default_app_state(balances={k.address: 1_000_000 for k in everyone})
    state["registry"] = registry_section() if registry is None else registry
    return state


class EmptyKV:
    """A parent with nothing in it, for keeper tests on a bare CacheKV."""

    def get(self, key: bytes) -> bytes | None:
        return None

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return iter(())


def bare_context(height: int = 7) -> Context:
    return Context(CacheKV(EmptyKV()), height, 0, "test-chain", Mode.DELIVER)


class RegistryNode:
    """An InProcessNode plus builders for registry transactions and queries."""

    def __init__(self, node: InProcessNode):
        self.node = node

    def tx(self, signer: Any, name: str, msg: Any) -> bytes:
        """A signed tx of one message (``name`` is the Msg oneof field)."""
        return self.tx_many(signer, [(name, msg)])

    def tx_many(self, signer: Any, messages: list[tuple[str, Any]]) -> bytes:
        """A signed tx of several messages, in order, at the signer's next sequence."""
        return self.node.sign(signer, *messages)

    def deliver(self, signer: Any, name: str, msg: Any) -> TxResult:
        """CheckTx, then a block holding the tx (or the CheckTx rejection)."""
        return self.node.deliver(self.tx(signer, name, msg))

    def ok(self, signer: Any, name: str, msg: Any) -> TxResult:
        result = self.deliver(signer, name, msg)
        assert result.code == 0, result.log
        return result

    def raw_query(self, method: str, req: Any) -> Any:
        """The chain's QueryResult (code, codespace, log, value)."""
        return self.node.chain.query(f"/mgrid.registry.v1.Query/{method}", req.SerializeToString())

    def query(self, method: str, req: Any) -> Any:
        return self.node.query(registry_pb2.DESCRIPTOR, method, req)

    def participant(self, signer: Any) -> registry_pb2.Participant:
        req = registry_pb2.QueryParticipantRequest(address=signer.address)
        return self.query("Participant", req).participant

    def meter(self, pub_key: bytes) -> registry_pb2.Meter:
        return self.query("Meter", registry_pb2.QueryMeterRequest(pub_key=pub_key)).meter

    def registry_state(self) -> list[tuple[bytes, bytes]]:
        """Every committed key and value under the registry's prefix."""
        return list(StoreView(self.node.store).iterate(PREFIX_REGISTRY))
