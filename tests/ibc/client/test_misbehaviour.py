"""check_misbehaviour: conflicting headers that both verify freeze a client;
anything else is refused."""

from __future__ import annotations

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.client import (
    ClientError,
    ErrExpired,
    ErrFrozen,
    ErrInsufficientPower,
    ErrInvalidSignature,
    ErrMisbehaviour,
)
from ibc.client import tendermint as tm
from tests.ibc.client.helpers import (
    BLOCK,
    CHAIN,
    T0,
    TRUSTING_PERIOD,
    app_hash,
    client_state,
    copy_header,
    golden_client_state,
    golden_header,
    golden_trusted,
    now_after,
    trusted_state,
)
from tests.support.cometbft import TestValidators, make_header

VALS = TestValidators(4)
TRUSTED = trusted_state(10, VALS)


def fork(height: int, app: bytes, time_ns: int | None = None, **kw) -> ibc_pb2.Header:
    return make_header(
        CHAIN,
        height,
        T0 + height * BLOCK if time_ns is None else time_ns,
        app,
        kw.pop("validators", VALS),
        kw.pop("trusted_height", 10),
        kw.pop("trusted_validators", VALS),
        **kw,
    )


def check(h1: ibc_pb2.Header, h2: ibc_pb2.Header, **kw) -> None:
    m = ibc_pb2.Misbehaviour(header_1=h1, header_2=h2)
    now = kw.pop("now", now_after(h1, 60 * 1_000_000_000))
    tm.check_misbehaviour(
        kw.pop("cs", client_state()), kw.pop("t1", TRUSTED), kw.pop("t2", TRUSTED), m, now
    )


def test_same_height_different_app_hash_is_misbehaviour():
    check(fork(15, app_hash(15)), fork(15, b"\xbb" * 32))


def test_same_height_fork_from_different_trusted_heights():
    trusted_12 = trusted_state(12, VALS)
    h2 = fork(15, b"\xbb" * 32, trusted_height=12)
    check(fork(15, app_hash(15)), h2, t2=trusted_12)


def test_adjacent_fork_is_misbehaviour():
    check(fork(11, app_hash(11)), fork(11, b"\xbb" * 32))


def test_identical_headers_are_not_misbehaviour():
    h = fork(15, app_hash(15))
    with pytest.raises(ErrMisbehaviour, match="no misbehaviour"):
        check(h, copy_header(h))


def test_same_block_with_different_signer_subsets_is_not_misbehaviour():
    h1 = fork(15, app_hash(15), signing_fraction=(2, 3))
    h2 = fork(15, app_hash(15))
    with pytest.raises(ErrMisbehaviour, match="no misbehaviour"):
        check(h1, h2)


def test_one_invalid_header_is_rejected():
    h2 = fork(15, b"\xbb" * 32)
    sig = h2.signed_header.commit.signatures[0]
    sig.signature = bytes(64)
    with pytest.raises(ErrInvalidSignature, match="header_2"):
        check(fork(15, app_hash(15)), h2)


def test_fork_by_untrusted_keys_is_rejected():
    forger = TestValidators(4, seed=b"forger")
    h2 = fork(15, b"\xbb" * 32, validators=forger)
    with pytest.raises(ErrInsufficientPower, match="header_2"):
        check(fork(15, app_hash(15)), h2)


def test_fork_signed_by_too_few_is_rejected():
    h2 = fork(15, b"\xbb" * 32, signing_fraction=(1, 2))
    with pytest.raises(ErrInsufficientPower):
        check(fork(15, app_hash(15)), h2)


def test_time_monotonicity_violation_is_misbehaviour():
    # header_1 is higher but not later than header_2.
    h1 = fork(16, app_hash(16), time_ns=T0 + 15 * BLOCK)
    h2 = fork(15, app_hash(15))
    check(h1, h2)


def test_consistent_headers_at_different_heights_are_not_misbehaviour():
    with pytest.raises(ErrMisbehaviour, match="no misbehaviour"):
        check(fork(16, app_hash(16)), fork(15, app_hash(15)))


def test_header_1_must_not_be_lower():
    with pytest.raises(ErrMisbehaviour, match="below"):
        check(fork(15, app_hash(15)), fork(16, app_hash(16), time_ns=T0 + 14 * BLOCK))


def test_misbehaviour_headers_may_be_older_than_now_allows_for_updates():
    """Unlike updates, misbehaviour headers are not checked against the clock
    (only the trusted state's expiry is)."""
    h1, h2 = fork(15, app_hash(15)), fork(15, b"\xbb" * 32)
    check(h1, h2, now=TRUSTED.timestamp_ns + TRUSTING_PERIOD - 1)
    with pytest.raises(ErrExpired, match="header_1"):
        check(h1, h2, now=TRUSTED.timestamp_ns + TRUSTING_PERIOD)


def test_frozen_client_refuses_misbehaviour():
    with pytest.raises(ErrFrozen):
        check(fork(15, app_hash(15)), fork(15, b"\xbb" * 32), cs=client_state(frozen_height=1))


def test_missing_header_is_rejected():
    m = ibc_pb2.Misbehaviour(header_1=fork(15, app_hash(15)))
    with pytest.raises(ErrMisbehaviour, match="two headers"):
        tm.check_misbehaviour(client_state(), TRUSTED, TRUSTED, m, T0 + 100 * BLOCK)


def test_wrong_trusted_state_for_a_header_is_rejected():
    other = trusted_state(10, TestValidators(4, seed=b"x"))
    with pytest.raises(ClientError, match="header_2"):
        check(fork(15, app_hash(15)), fork(15, b"\xbb" * 32), t2=other)


def test_recorded_header_against_a_forged_twin():
    """A real header and a self-signed twin by other keys: not misbehaviour
    of the real validators, so it must be refused."""
    real = golden_header(9, 2)
    forger = TestValidators(4, seed=b"forger")
    twin = make_header(
        "golden-1", 9, now_after(real, 0), b"\xcc" * 32, forger, 2, TestValidators(1)
    )
    twin.trusted_validators.CopyFrom(real.trusted_validators)
    m = ibc_pb2.Misbehaviour(header_1=real, header_2=twin)
    with pytest.raises(ClientError, match="header_2"):
        tm.check_misbehaviour(
            golden_client_state(), golden_trusted(2), golden_trusted(2), m, now_after(real)
        )
