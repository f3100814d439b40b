"""Fixtures: the test applications bound to their ports, two linked chains."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc import ports
from tests.ibc.core.helpers import ECHO_VERSION, EchoApp, RefusingApp
from tests.support.ibcpair import IBCPair


@pytest.fixture(autouse=True)
def test_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ports.ROUTES, "echo", EchoApp())
    monkeypatch.setitem(ports.ROUTES, "closed-shop", RefusingApp())


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[IBCPair]:
    """Two chains with clients of each other and an OPEN connection."""
    p = IBCPair(tmp_path)
    try:
        p.create_clients()
        p.open_connection()
        yield p
    finally:
        p.close()


@pytest.fixture
def echo(pair: IBCPair) -> tuple[IBCPair, str, str]:
    """``pair`` with an OPEN unordered echo channel; (pair, A's channel, B's channel)."""
    ch_a, ch_b = pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    return pair, ch_a, ch_b
