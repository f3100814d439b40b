"""CometBFT hashes and sign bytes against CometBFT's own vectors, the blocks
recorded from a real localnet, and Python protobuf's encoding."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from app.pb.tendermint.types import canonical_pb2, types_pb2
from ibc.client import hashing, rpc
from tests.ibc.client.helpers import (
    TESTDATA,
    golden,
    golden_heights,
    golden_signed_header,
    golden_validators,
)
from tests.support.cometbft import TestValidators, make_signed_header

VECTORS = json.loads((TESTDATA / "cometbft_vectors.json").read_text())
GOLDEN_SETS = [("golden-1", h) for h in golden_heights("golden-1")] + [
    ("golden-1-absent", h) for h in golden_heights("golden-1-absent")
]


@pytest.mark.parametrize("case", VECTORS["vote_sign_bytes"], ids=lambda c: c["name"])
def test_vote_sign_bytes_vectors(case):
    got = hashing.canonical_vote_bytes(
        case["chain_id"],
        case["type"],
        case["height"],
        case["round"],
        types_pb2.BlockID(),
        hashing.GO_ZERO_TIME_NS,
    )
    assert got.hex() == case["want"]


def test_vote_sign_bytes_is_a_precommit():
    case = VECTORS["vote_sign_bytes"][1]
    got = hashing.vote_sign_bytes("", 1, 1, types_pb2.BlockID(), hashing.GO_ZERO_TIME_NS)
    assert got.hex() == case["want"]


def _vector_bytes(text: str) -> bytes:
    if text.startswith("sha256:"):
        return hashlib.sha256(text[7:].encode()).digest()
    if text.startswith("addr:"):
        return hashlib.sha256(text[5:].encode()).digest()[:20]
    return bytes.fromhex(text)


def _vector_header() -> types_pb2.Header:
    f = VECTORS["header_hash"]["header"]
    bid = f["last_block_id"]
    return types_pb2.Header(
        version=f["version"],
        chain_id=f["chain_id"],
        height=f["height"],
        time=rpc.parse_time(f["time"]),
        last_block_id={
            "hash": bytes.fromhex(bid["hash"]),
            "part_set_header": {
                "total": bid["parts_total"],
                "hash": bytes.fromhex(bid["parts_hash"]),
            },
        },
        **{
            k: _vector_bytes(v)
            for k, v in f.items()
            if k.endswith("_hash") or k == "proposer_address"
        },
    )


def test_header_hash_vector():
    assert hashing.header_hash(_vector_header()).hex().upper() == VECTORS["header_hash"]["want"]


def test_header_without_validators_hash_has_no_hash():
    h = _vector_header()
    h.validators_hash = b""
    assert hashing.header_hash(h) == b""


def test_header_hash_covers_every_field():
    base = hashing.header_hash(_vector_header())
    for name in (
        "chain_id",
        "last_commit_hash",
        "data_hash",
        "next_validators_hash",
        "consensus_hash",
        "app_hash",
        "last_results_hash",
        "evidence_hash",
        "proposer_address",
    ):
        h = _vector_header()
        value = getattr(h, name)
        setattr(h, name, value + (b"x" if isinstance(value, bytes) else "x"))
        assert hashing.header_hash(h) != base, name
    for mutate in (
        lambda h: setattr(h, "height", 4),
        lambda h: setattr(h.version, "app", 3),
        lambda h: setattr(h.time, "nanos", 1),
        lambda h: setattr(h.last_block_id.part_set_header, "total", 7),
    ):
        h = _vector_header()
        mutate(h)
        assert hashing.header_hash(h) != base


@pytest.mark.parametrize("case", VECTORS["merkle"], ids=lambda c: c["name"])
def test_merkle_vectors(case):
    items = [bytes.fromhex(i) for i in case["items"]]
    assert hashing.merkle_root(items).hex() == case["want"]


def _reference_root(items: list[bytes]) -> bytes:
    """RFC 6962 written straight from its definition, for comparison."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    k = 1
    while k * 2 < len(items):
        k *= 2
    left, right = _reference_root(items[:k]), _reference_root(items[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=40))
def test_merkle_matches_rfc6962_definition(items):
    assert hashing.merkle_root(items) == _reference_root(items)


@pytest.mark.parametrize(("name", "height"), GOLDEN_SETS)
def test_recorded_header_hash_is_its_commit_block_hash(name, height):
    sh = golden_signed_header(height, name)
    assert hashing.header_hash(sh.header) == sh.commit.block_id.hash


@pytest.mark.parametrize(("name", "height"), GOLDEN_SETS)
def test_recorded_validator_set_hash_is_validators_hash(name, height):
    sh = golden_signed_header(height, name)
    assert hashing.validator_set_hash(golden_validators(height, name)) == sh.header.validators_hash


def test_recorded_last_block_id_links_consecutive_headers():
    heights = golden_heights()
    for lower, upper in itertools.pairwise(heights):
        assert (
            golden_signed_header(upper).header.last_block_id.hash
            == golden_signed_header(lower).commit.block_id.hash
        )


def test_recorded_data_is_what_the_network_served():
    data = golden()
    assert data["chain_id"] == "golden-1"
    assert len(data["blocks"]["2"]["validators"]) == 4


# ---- the hand-written encoding agrees with Python protobuf where both apply ----


@settings(max_examples=80, deadline=None)
@given(
    chain_id=st.text(max_size=20),
    height=st.integers(1, 2**63 - 1),
    round_=st.integers(0, 2**31 - 1),
    block_hash=st.binary(min_size=32, max_size=32),
    total=st.integers(1, 2**32 - 1),
    ns=st.integers(0, 2**63 - 1),
)
def test_vote_sign_bytes_match_canonical_vote_proto(
    chain_id, height, round_, block_hash, total, ns
):
    part_hash = hashlib.sha256(block_hash).digest()
    bid = types_pb2.BlockID(hash=block_hash, part_set_header={"total": total, "hash": part_hash})
    cv = canonical_pb2.CanonicalVote(
        type=types_pb2.SIGNED_MSG_TYPE_PRECOMMIT,
        height=height,
        round=round_,
        block_id={"hash": block_hash, "part_set_header": {"total": total, "hash": part_hash}},
        timestamp=hashing.ns_to_timestamp(ns),
        chain_id=chain_id,
    )
    body = cv.SerializeToString(deterministic=True)
    got = hashing.vote_sign_bytes(chain_id, height, round_, bid, ns)
    assert got == hashing._uvarint(len(body)) + body


@pytest.mark.parametrize("n", [1, 4, 7, 100])
def test_validator_set_hash_matches_simple_validator_proto(n):
    from app.pb.tendermint.types import validator_pb2

    vs = TestValidators(n, powers=[i + 1 for i in range(n)]).validator_set()
    leaves = [
        validator_pb2.SimpleValidator(
            pub_key=v.pub_key, voting_power=v.voting_power
        ).SerializeToString(deterministic=True)
        for v in vs.validators
    ]
    assert hashing.validator_set_hash(vs) == hashing.merkle_root(leaves)


def test_timestamp_helpers_round_trip_go_zero_time():
    ts = hashing.ns_to_timestamp(hashing.GO_ZERO_TIME_NS)
    assert (ts.seconds, ts.nanos) == (hashing.GO_ZERO_TIME_SECONDS, 0)
    assert hashing.timestamp_to_ns(ts) == hashing.GO_ZERO_TIME_NS
    assert (
        hashing.timestamp_bytes(-1) == Timestamp(seconds=-1, nanos=999_999_999).SerializeToString()
    )


def test_test_producer_headers_hash_like_cometbft():
    vals = TestValidators(4)
    sh = make_signed_header("c-1", 1, 10**18, b"\x01" * 32, vals)
    # Height 1 has an empty last block id, still hashed as CometBFT does
    # (an empty BlockID with its non-nullable part set header: 0x12 0x00).
    assert hashing.block_id_bytes(sh.header.last_block_id) == b"\x12\x00"
    assert hashing.header_hash(sh.header) == sh.commit.block_id.hash
    assert sh.header.validators_hash == vals.hash()
