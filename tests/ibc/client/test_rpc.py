"""CometBFT RPC JSON <-> protos: exact round trips on recorded and produced
blocks, time formats, and clean errors on malformed JSON."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from ibc.client import ClientError, rpc
from ibc.client.errors import ErrInvalidHeader
from ibc.client.hashing import GO_ZERO_TIME_SECONDS, header_hash
from tests.ibc.client.helpers import (
    T0,
    app_hash,
    golden,
    golden_heights,
)
from tests.support.cometbft import TestValidators, make_signed_header

RECORDED = [("golden-1", h) for h in golden_heights("golden-1")] + [
    ("golden-1-absent", h) for h in golden_heights("golden-1-absent")
]


@pytest.mark.parametrize(("name", "height"), RECORDED)
def test_recorded_json_round_trips_exactly(name, height):
    block = golden(name)["blocks"][str(height)]
    sh = rpc.signed_header_from_json(block["signed_header"])
    assert rpc.signed_header_to_json(sh) == block["signed_header"]
    vs = rpc.validator_set_from_json(block["validators"])
    assert rpc.validator_set_to_json(vs) == block["validators"]
    assert vs.total_voting_power == 40


def test_absent_signature_json_shape():
    block = golden("golden-1-absent")["blocks"]["30"]
    absent = block["signed_header"]["commit"]["signatures"][1]
    assert absent == {
        "block_id_flag": 1,
        "validator_address": "",
        "timestamp": "0001-01-01T00:00:00Z",
        "signature": None,
    }
    sig = rpc.signed_header_from_json(block["signed_header"]).commit.signatures[1]
    assert (sig.timestamp.seconds, sig.timestamp.nanos) == (GO_ZERO_TIME_SECONDS, 0)
    assert sig.signature == b"" and sig.validator_address == b""


@pytest.mark.parametrize("n", [1, 4, 100])
def test_produced_headers_round_trip(n):
    vals = TestValidators(n, powers=list(range(1, n + 1)))
    sh = make_signed_header(
        "chain-x", 7, T0 + 123_456_789, app_hash(7), vals, signing_fraction=(3, 4)
    )
    obj = rpc.signed_header_to_json(sh)
    assert json.loads(json.dumps(obj)) == obj  # plain JSON
    assert rpc.signed_header_from_json(obj) == sh
    vs = vals.validator_set()
    back = rpc.validator_set_from_json(
        rpc.validator_set_to_json(vs), proposer_address=vs.proposer.address.hex().upper()
    )
    assert back == vs


def test_proposer_must_be_in_the_set():
    vs = TestValidators(2).validator_set()
    with pytest.raises(ErrInvalidHeader, match="proposer"):
        rpc.validator_set_from_json(rpc.validator_set_to_json(vs), proposer_address="AB" * 20)


@pytest.mark.parametrize(
    ("text", "seconds", "nanos"),
    [
        ("1970-01-01T00:00:00Z", 0, 0),
        ("2026-11-21T09:59:02.723515941Z", 1795255142, 723515941),
        ("2019-10-13T16:14:44.5Z", 1570983284, 500_000_000),
        ("2019-10-13T18:14:44.000000001+02:00", 1570983284, 1),
        ("0001-01-01T00:00:00Z", GO_ZERO_TIME_SECONDS, 0),
        ("9999-12-31T23:59:59.999999999Z", 253402300799, 999_999_999),
    ],
)
def test_parse_time(text, seconds, nanos):
    ts = rpc.parse_time(text)
    assert (ts.seconds, ts.nanos) == (seconds, nanos)


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        12,
        "2019-13-01T00:00:00Z",
        "2019-02-30T00:00:00Z",
        "2019-10-13T24:00:00Z",
        "2019-10-13T16:14:44.1234567890Z",
        "2019-10-13 16:14:44Z",
        "2019-10-13T16:14:44",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_bad_times(text):
    with pytest.raises(ErrInvalidHeader):
        rpc.parse_time(text)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(GO_ZERO_TIME_SECONDS, 253402300799),
    st.integers(0, 999_999_999),
)
def test_time_format_round_trips(seconds, nanos):
    ts = Timestamp(seconds=seconds, nanos=nanos)
    text = rpc.format_time(ts)
    assert rpc.parse_time(text) == ts
    assert not text.endswith("0Z") or nanos == 0 or "." not in text


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple, value: Any) -> Any:
    obj = copy.deepcopy(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return obj


JUNK: list[Any] = [None, 1, -1, 2**70, True, "", "zz", "12345678901234567890123", [], {}, 1.5]


def test_every_field_replaced_by_junk_gives_a_proto_or_a_client_error():
    """No JSON value anywhere in a /commit or /validators answer makes the
    parser raise anything but ClientError; whatever parses re-hashes
    consistently or is caught by verification later."""
    block = golden("golden-1")["blocks"]["3"]
    sh_json, vals_json = block["signed_header"], block["validators"]
    for path in _paths(sh_json):
        for junk in JUNK:
            try:
                sh = rpc.signed_header_from_json(_replace(sh_json, path, junk))
            except ClientError:
                continue
            header_hash(sh.header)
    for path in _paths(vals_json):
        for junk in JUNK:
            try:
                rpc.validator_set_from_json(_replace(vals_json, path, junk))
            except ClientError:
                continue


@pytest.mark.parametrize("bad", [None, [], "x", {}, {"header": {}}, {"commit": {}}])
def test_missing_parts_of_signed_header_json(bad):
    with pytest.raises(ClientError):
        rpc.signed_header_from_json(bad)


@pytest.mark.parametrize("bad", [None, {}, "x", [1], [{"pub_key": {"type": "x", "value": ""}}]])
def test_bad_validator_lists(bad):
    with pytest.raises(ClientError):
        rpc.validator_set_from_json(bad)
