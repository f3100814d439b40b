"""Malformed updates raise ClientError with a clear message, never anything
else: a table of single breakages, then random byte mutations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.tendermint.types import types_pb2, validator_pb2
from ibc.client import ClientError
from ibc.client import tendermint as tm
from tests.ibc.client.helpers import (
    BLOCK,
    T0,
    client_state,
    copy_header,
    header_at,
    now_after,
    trusted_state,
)
from tests.support.cometbft import TestValidators

VALS = TestValidators(4)
GOOD = header_at(15, VALS, 10)
TRUSTED = trusted_state(10, VALS)
NOW = now_after(GOOD)
Mutator = Callable[[ibc_pb2.Header], None]


def _sig(h: ibc_pb2.Header, i: int = 0) -> types_pb2.CommitSig:
    return h.signed_header.commit.signatures[i]


def _val(h: ibc_pb2.Header, i: int = 0) -> validator_pb2.Validator:
    return h.validator_set.validators[i]


CASES: list[tuple[str, Mutator, str]] = [
    ("no signed header", lambda h: h.ClearField("signed_header"), "no signed header"),
    ("no header", lambda h: h.signed_header.ClearField("header"), "no header"),
    ("no commit", lambda h: h.signed_header.ClearField("commit"), "no commit"),
    ("no validator set", lambda h: h.ClearField("validator_set"), "no validator set"),
    ("no trusted validators", lambda h: h.ClearField("trusted_validators"), "no trusted"),
    ("trusted height 0", lambda h: setattr(h, "trusted_height", 0), "trusted height is zero"),
    ("empty commit", lambda h: h.signed_header.commit.ClearField("signatures"), "no signatures"),
    ("empty validator set", lambda h: h.validator_set.ClearField("validators"), "empty"),
    ("31-byte pubkey", lambda h: setattr(_val(h).pub_key, "ed25519", bytes(31)), "32 bytes"),
    ("secp256k1 key", lambda h: setattr(_val(h).pub_key, "secp256k1", bytes(33)), "not ed25519"),
    ("no key", lambda h: _val(h).ClearField("pub_key"), "not ed25519"),
    ("wrong validator address", lambda h: setattr(_val(h), "address", bytes(20)), "not that of"),
    ("zero power", lambda h: setattr(_val(h), "voting_power", 0), "voting power"),
    ("negative power", lambda h: setattr(_val(h), "voting_power", -5), "voting power"),
    ("absurd power", lambda h: setattr(_val(h), "voting_power", 2**62), "total voting power"),
    (
        "duplicate validator",
        lambda h: h.validator_set.validators[1].CopyFrom(_val(h)),
        "twice",
    ),
    ("63-byte signature", lambda h: setattr(_sig(h), "signature", bytes(63)), "wrong signature"),
    ("65-byte signature", lambda h: setattr(_sig(h), "signature", bytes(65)), "1 to 64"),
    ("empty signature", lambda h: setattr(_sig(h), "signature", b""), "1 to 64"),
    ("19-byte address", lambda h: setattr(_sig(h), "validator_address", bytes(19)), "20 bytes"),
    ("unknown flag", lambda h: setattr(_sig(h), "block_id_flag", 7), "unknown block id flag"),
    ("flag 0", lambda h: setattr(_sig(h), "block_id_flag", 0), "unknown block id flag"),
    (
        "absent with signature",
        lambda h: setattr(_sig(h), "block_id_flag", validator_pb2.BLOCK_ID_FLAG_ABSENT),
        "absent",
    ),
    ("vote nanos out of range", lambda h: setattr(_sig(h).timestamp, "nanos", -1), "nanos"),
    ("vote time absurd", lambda h: setattr(_sig(h).timestamp, "seconds", 2**62), "seconds"),
    ("negative round", lambda h: setattr(h.signed_header.commit, "round", -1), "negative"),
    ("commit height", lambda h: setattr(h.signed_header.commit, "height", 16), "commit height"),
    ("nil block commit", lambda h: h.signed_header.commit.ClearField("block_id"), "nil block"),
    (
        "31-byte block hash",
        lambda h: setattr(h.signed_header.commit.block_id, "hash", bytes(31)),
        "32 bytes",
    ),
    ("header time nanos", lambda h: setattr(h.signed_header.header.time, "nanos", 10**9), "nanos"),
    (
        "header time before year 1",
        lambda h: setattr(h.signed_header.header.time, "seconds", -(2**40)),
        "seconds",
    ),
    ("height 0", lambda h: setattr(h.signed_header.header, "height", 0), "not positive"),
    ("negative height", lambda h: setattr(h.signed_header.header, "height", -3), "not positive"),
    ("block protocol", lambda h: setattr(h.signed_header.header.version, "block", 10), "protocol"),
    ("no proposer", lambda h: setattr(h.signed_header.header, "proposer_address", b""), "proposer"),
    (
        "short data hash",
        lambda h: setattr(h.signed_header.header, "data_hash", b"\x01"),
        "data hash",
    ),
    (
        "no validators hash",
        lambda h: setattr(h.signed_header.header, "validators_hash", b""),
        "validators hash",
    ),
    (
        "no next validators hash",
        lambda h: setattr(h.signed_header.header, "next_validators_hash", b""),
        "next validators hash",
    ),
    (
        "more signatures than validators",
        lambda h: h.signed_header.commit.signatures.append(_sig(h)),
        "4 validators, commit has 5 signatures",
    ),
    (
        "fewer validators than signatures",
        lambda h: h.validator_set.validators.pop(),
        "validator set hashes to",
    ),
    (
        "10001 signatures",
        lambda h: h.signed_header.commit.signatures.extend([_sig(h)] * 10_000),
        "more than 10000",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "match"), CASES, ids=[c[0] for c in CASES])
def test_malformed_update_raises_client_error(case, mutate, match):
    header = copy_header(GOOD)
    mutate(header)
    with pytest.raises(ClientError, match=match):
        tm.verify_header(client_state(), TRUSTED, header, NOW)


def test_the_unbroken_header_verifies():
    tm.verify_header(client_state(), TRUSTED, GOOD, NOW)


def test_consensus_state_from_header_refuses_missing_or_unrepresentable_time():
    with pytest.raises(ClientError):
        tm.consensus_state_from_header(ibc_pb2.Header())
    header = copy_header(GOOD)
    header.signed_header.header.time.seconds = -1
    with pytest.raises(ClientError, match="uint64"):
        tm.consensus_state_from_header(header)


def test_empty_misbehaviour_and_empty_protos():
    cs = client_state()
    for m in (
        ibc_pb2.Misbehaviour(),
        ibc_pb2.Misbehaviour(header_1=ibc_pb2.Header(), header_2=ibc_pb2.Header()),
    ):
        with pytest.raises(ClientError):
            tm.check_misbehaviour(cs, TRUSTED, TRUSTED, m, NOW)
    with pytest.raises(ClientError):
        tm.verify_header(ibc_pb2.ClientState(), ibc_pb2.ConsensusState(), ibc_pb2.Header(), 0)
    with pytest.raises(ClientError):
        tm.verify_header(cs, ibc_pb2.ConsensusState(), GOOD, NOW)


RAW = GOOD.SerializeToString()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.lists(st.tuples(st.integers(0, len(RAW) - 1), st.integers(1, 255)), min_size=1, max_size=4),
    st.booleans(),
)
def test_random_byte_mutations_never_raise_anything_but_client_error(flips, as_misbehaviour):
    data = bytearray(RAW)
    for pos, xor in flips:
        data[pos] ^= xor
    header = ibc_pb2.Header()
    try:
        header.ParseFromString(bytes(data))
    except DecodeError:
        return
    try:
        if as_misbehaviour:
            m = ibc_pb2.Misbehaviour(header_1=header, header_2=GOOD)
            tm.check_misbehaviour(client_state(), TRUSTED, TRUSTED, m, NOW)
        else:
            cons = tm.verify_header(client_state(), TRUSTED, header, NOW)
            # What verifies is the block the validators signed.
            assert cons == tm.consensus_state_from_header(GOOD)
    except ClientError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise_anything_but_client_error(blob):
    header = ibc_pb2.Header()
    try:
        header.ParseFromString(blob)
    except DecodeError:
        return
    with pytest.raises(ClientError):
        tm.verify_header(client_state(), TRUSTED, header, T0 + 20 * BLOCK)
