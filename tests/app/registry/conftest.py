"""Fixtures for the registry tests: in-process chains at the registry genesis
of ``helpers`` (fresh per test, or one shared cast for the rejection table)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.pb.mgrid.registry.v1 import registry_pb2
from tests.app.registry.helpers import (
    BOB,
    CAROL,
    DAVE,
    METER_OLD,
    REGULATOR,
    UTILITY,
    RegistryNode,
    app_state,
)
from tests.support.inproc import InProcessNode


def _node(home: Path, registry: dict[str, Any] | None = None) -> InProcessNode:
    home.mkdir(parents=True, exist_ok=True)
    return InProcessNode(home, app_state(registry))


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[RegistryNode]:
    """A fresh chain at the registry genesis above (ALICE and DAVE approved)."""
    node = _node(tmp_path)
    yield RegistryNode(node)
    node.close()


@pytest.fixture
def make_chain(tmp_path: Path) -> Iterator[Any]:
    """Factory for chains with another registry section."""
    nodes: list[InProcessNode] = []

    def make(registry: dict[str, Any]) -> RegistryNode:
        node = _node(tmp_path / f"node{len(nodes)}", registry)
        nodes.append(node)
        return RegistryNode(node)

    yield make
    for node in nodes:
        node.close()


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryNode]:
    """One participant in every state, shared by the rejection table.

    ALICE approved (meters METER_A active, METER_OLD revoked), BOB pending,
    CAROL rejected, DAVE suspended, EVE unknown. Rejected transactions leave
    the registry as it is, which each case asserts, so cases can share it.
    """
    node = _node(tmp_path_factory.mktemp("cast"))
    reg = RegistryNode(node)
    prosumer = registry_pb2.ROLE_PROSUMER
    reg.ok(BOB, "apply", registry_pb2.MsgApply(role=prosumer, bus="b1"))
    reg.ok(CAROL, "apply", registry_pb2.MsgApply(role=prosumer, bus="b2"))
    reg.ok(UTILITY, "reject", registry_pb2.MsgReject(participant=CAROL.address, reason="no"))
    reg.ok(
        REGULATOR,
        "set_suspended",
        registry_pb2.MsgSetSuspended(participant=DAVE.address, suspended=True),
    )
    reg.ok(UTILITY, "revoke_meter", registry_pb2.MsgRevokeMeter(pub_key=METER_OLD))
    yield reg
    node.close()
