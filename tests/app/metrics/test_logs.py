"""Structured logs: lines about a block carry its height, lines about a transaction
its height and hash (CometBFT's upper-case hex SHA-256), in JSON and in text."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.logs import BlockContextFilter, JSONFormatter, TextFormatter, block_context, tx_hash
from tests.app.metrics.conftest import BANK_GENESIS, GARBAGE, AdapterNode, send


@pytest.fixture
def capture() -> Iterator[Any]:
    """``capture(fmt, level)`` -> a buffer receiving the "mgrid" loggers' lines."""
    logger = logging.getLogger("mgrid")
    added: list[logging.Handler] = []
    old_level = logger.level

    def attach(fmt: str, level: int = logging.INFO) -> io.StringIO:
        buf = io.StringIO()
        handler = logging.StreamHandler(buf)
        handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
        handler.addFilter(BlockContextFilter())
        logger.addHandler(handler)
        logger.setLevel(level)
        added.append(handler)
        return buf

    yield attach
    for handler in added:
        logger.removeHandler(handler)
    logger.setLevel(old_level)


def json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_tx_hash_is_cometbfts() -> None:
    raw = b"some tx bytes"
    assert tx_hash(raw) == hashlib.sha256(raw).hexdigest().upper()


def test_json_lines_carry_height_and_tx_hash(make_node: Any, capture: Any) -> None:
    node: AdapterNode = make_node(BANK_GENESIS)
    buf = capture("json")
    ok, too_much = send(node, 1, 0), send(node, 10**9, 1)
    node.commit_block([ok, too_much, GARBAGE])
    height = node.height
    lines = json_lines(buf)
    failed = [line for line in lines if line["msg"].startswith("tx failed")]
    assert [(f["tx_hash"], f["codespace"], f["code"]) for f in failed] == [
        (tx_hash(too_much), "bank", 2),
        (tx_hash(GARBAGE), "tx", 2),
    ]
    assert all(f["height"] == height and f["level"] == "info" for f in failed)
    assert "insufficient funds" in failed[0]["msg"]
    [finalized] = [line for line in lines if line["msg"].startswith("finalized height")]
    assert finalized["height"] == height and "tx_hash" not in finalized
    assert not any(tx_hash(ok) == line.get("tx_hash") for line in lines), "ok txs log at debug"


def test_successful_txs_log_at_debug(make_node: Any, capture: Any) -> None:
    node: AdapterNode = make_node(BANK_GENESIS)
    buf = capture("json", logging.DEBUG)
    ok = send(node, 1, 0)
    node.commit_block([ok])
    [line] = [line for line in json_lines(buf) if line.get("tx_hash") == tx_hash(ok)]
    assert (line["level"], line["msg"], line["height"]) == ("debug", "tx ok", node.height)


def test_text_lines_end_with_height_and_tx(make_node: Any, capture: Any) -> None:
    node: AdapterNode = make_node(BANK_GENESIS)
    buf = capture("text")
    node.commit_block([GARBAGE])
    text = buf.getvalue()
    assert f"height={node.height} tx={tx_hash(GARBAGE)} code=2 codespace=tx" in text
    finalized = [line for line in text.splitlines() if "finalized height" in line]
    assert finalized and finalized[0].endswith(f"height={node.height}")


def test_lines_logged_inside_a_block_get_its_height(capture: Any) -> None:
    buf = capture("json")
    module_log = logging.getLogger("mgrid.market")
    with block_context(41):
        module_log.info("inside")
        module_log.info("names its own", extra={"height": 7})
    module_log.info("outside")
    inside, own, outside = json_lines(buf)
    assert inside["height"] == 41
    assert own["height"] == 7
    assert "height" not in outside
