"""verify_header on blocks recorded from a real 4-validator CometBFT localnet.

golden-1.json: heights 2-10, every validator signed. golden-1-absent.json:
heights 28-31 with node3 stopped from 29 on (its CommitSig is absent).
Each forgery breaks one thing of a valid update and must be rejected.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.tendermint.types import validator_pb2
from ibc.client import (
    ClientError,
    ErrExpired,
    ErrInsufficientPower,
    ErrInvalidHeader,
    ErrInvalidSignature,
)
from ibc.client import tendermint as tm
from ibc.client.hashing import timestamp_to_ns
from tests.ibc.client.helpers import (
    MAX_DRIFT,
    TRUSTING_PERIOD,
    S,
    absent_sig,
    copy_header,
    golden_client_state,
    golden_header,
    golden_signed_header,
    golden_trusted,
    now_after,
)
from tests.support.cometbft import TestValidators, make_header

ADJACENT = (2, 3)
SKIPPING = (2, 9)


def _verify(trusted_height: int, height: int, name: str = "golden-1", **kw):
    header = golden_header(height, trusted_height, name)
    now = kw.pop("now", now_after(header))
    cs = kw.pop("cs", golden_client_state(name))
    trusted = kw.pop("trusted", golden_trusted(trusted_height, name))
    return tm.verify_header(cs, trusted, kw.pop("header", header), now)


@pytest.mark.parametrize(
    ("trusted_height", "height"),
    [(2, 3), (3, 4), (9, 10), (2, 4), (2, 9), (3, 10), (2, 10)],
)
def test_recorded_updates_verify(trusted_height, height):
    cons = _verify(trusted_height, height)
    h = golden_signed_header(height).header
    assert cons.timestamp_ns == timestamp_to_ns(h.time)
    assert cons.root == h.app_hash
    assert cons.next_validators_hash == h.next_validators_hash


def test_recorded_chain_of_adjacent_updates():
    cs = golden_client_state()
    trusted = golden_trusted(2)
    for height in range(3, 11):
        header = golden_header(height, height - 1)
        trusted = tm.verify_header(cs, trusted, header, now_after(header))
    assert trusted.root == golden_signed_header(10).header.app_hash


@pytest.mark.parametrize(("trusted_height", "height"), [(28, 29), (29, 30), (28, 31), (29, 31)])
def test_recorded_updates_with_an_absent_validator_verify(trusted_height, height):
    name = "golden-1-absent"
    flags = [s.block_id_flag for s in golden_signed_header(height, name).commit.signatures]
    assert validator_pb2.BLOCK_ID_FLAG_ABSENT in flags
    _verify(trusted_height, height, name)


def _flip_signature(h: ibc_pb2.Header) -> None:
    sig = h.signed_header.commit.signatures[0]
    sig.signature = bytes([sig.signature[0] ^ 1]) + sig.signature[1:]


def _change_app_hash(h: ibc_pb2.Header) -> None:
    h.signed_header.header.app_hash = b"\x00" * 32


def _change_chain_id(h: ibc_pb2.Header) -> None:
    h.signed_header.header.chain_id = "golden-2"


def _forged_validator_set(h: ibc_pb2.Header) -> None:
    h.validator_set.CopyFrom(TestValidators(4, seed=b"forger").validator_set())


def _drop_signatures(keep: int) -> Callable[[ibc_pb2.Header], None]:
    def mutate(h: ibc_pb2.Header) -> None:
        sigs = h.signed_header.commit.signatures
        for i in range(keep, len(sigs)):
            sigs[i].CopyFrom(absent_sig())

    return mutate


def _foreign_trusted_validators(h: ibc_pb2.Header) -> None:
    h.trusted_validators.CopyFrom(TestValidators(4, seed=b"forger").validator_set())


def _signature_moved_to_other_validator(h: ibc_pb2.Header) -> None:
    sigs = h.signed_header.commit.signatures
    sigs[0].signature, sigs[1].signature = sigs[1].signature, sigs[0].signature


def _vote_time_changed(h: ibc_pb2.Header) -> None:
    h.signed_header.commit.signatures[0].timestamp.nanos ^= 1


def _commit_round_changed(h: ibc_pb2.Header) -> None:
    h.signed_header.commit.round = 1


FORGERIES = [
    ("flipped signature byte", _flip_signature, ErrInvalidSignature),
    ("signatures swapped", _signature_moved_to_other_validator, ErrInvalidSignature),
    ("vote time changed", _vote_time_changed, ErrInvalidSignature),
    ("commit round changed", _commit_round_changed, ErrInvalidSignature),
    ("changed app hash", _change_app_hash, ErrInvalidHeader),
    ("header of another chain id", _change_chain_id, ErrInvalidHeader),
    ("forged validator set", _forged_validator_set, ErrInvalidHeader),
    ("2 of 4 signatures", _drop_signatures(2), ErrInsufficientPower),
    ("trusted validators do not match", _foreign_trusted_validators, ErrInvalidHeader),
]


@pytest.mark.parametrize("span", [ADJACENT, SKIPPING], ids=["adjacent", "skipping"])
@pytest.mark.parametrize(("case", "mutate", "error"), FORGERIES, ids=[f[0] for f in FORGERIES])
def test_forgeries_fail(span, case, mutate, error):
    trusted_height, height = span
    header = golden_header(height, trusted_height)
    now = now_after(header)
    mutate(header)
    with pytest.raises(error):
        _verify(trusted_height, height, header=header, now=now)


def test_one_signature_is_below_the_trust_level_when_skipping():
    header = golden_header(9, 2)
    _drop_signatures(1)(header)
    with pytest.raises(ErrInsufficientPower, match="trusted validators"):
        _verify(2, 9, header=header)


def test_three_of_four_signatures_are_enough():
    for span in (ADJACENT, SKIPPING):
        header = golden_header(span[1], span[0])
        _drop_signatures(3)(header)
        _verify(*span, header=header)


def test_client_of_another_chain_rejects_the_header():
    with pytest.raises(ErrInvalidHeader, match="belongs to chain"):
        _verify(2, 3, cs=golden_client_state(chain_id="golden-2"))


def test_whole_header_forged_by_other_keys_fails():
    """A self-consistent chain of another validator set (same count, same chain
    id, valid signatures) is rejected for not being trusted."""
    forger = TestValidators(4, seed=b"forger")
    real = golden_signed_header(3).header
    for height in (3, 9):
        forged = make_header(
            "golden-1",
            height,
            timestamp_to_ns(real.time),
            b"\xee" * 32,
            forger,
            2,
            forger,
        )
        forged.trusted_validators.CopyFrom(golden_header(3, 2).trusted_validators)
        error = ErrInvalidHeader if height == 3 else ErrInsufficientPower
        with pytest.raises(error):
            _verify(2, height, header=forged)


def test_expired_trusted_state_fails():
    trusted = golden_trusted(2)
    header = golden_header(3, 2)
    with pytest.raises(ErrExpired):
        _verify(2, 3, header=header, now=trusted.timestamp_ns + TRUSTING_PERIOD)
    _verify(2, 3, header=header, now=trusted.timestamp_ns + TRUSTING_PERIOD - 1)


def test_header_from_the_future_fails():
    header = golden_header(3, 2)
    header_ns = timestamp_to_ns(header.signed_header.header.time)
    with pytest.raises(ErrInvalidHeader, match="future"):
        _verify(2, 3, header=header, now=header_ns - MAX_DRIFT)
    _verify(2, 3, header=header, now=header_ns - MAX_DRIFT + 1)


@pytest.mark.parametrize(("trusted_height", "height"), [(3, 3), (4, 3), (9, 3)])
def test_non_increasing_height_fails(trusted_height, height):
    header = golden_header(height, trusted_height)
    with pytest.raises(ErrInvalidHeader, match="not above the trusted height"):
        tm.verify_header(
            golden_client_state(), golden_trusted(trusted_height), header, now_after(header)
        )


def test_header_not_after_trusted_time_fails():
    trusted = golden_trusted(2)
    trusted.timestamp_ns = timestamp_to_ns(golden_signed_header(3).header.time)
    with pytest.raises(ErrInvalidHeader, match="not after the trusted time"):
        _verify(2, 3, trusted=trusted)


def test_trusted_state_with_other_next_validators_fails():
    trusted = golden_trusted(2)
    trusted.next_validators_hash = TestValidators(4).hash()
    with pytest.raises(ErrInvalidHeader, match="trusted validators hash"):
        _verify(2, 3, trusted=trusted)


def test_every_mutation_of_a_recorded_header_is_rejected_cleanly():
    """Flip each byte of the recorded update (one at a time, a sample of
    positions): the result is either the same consensus state (the byte was
    not covered, e.g. the proposer priority) or a ClientError."""
    header = golden_header(9, 2)
    now = now_after(header)
    raw = header.SerializeToString()
    expected = _verify(2, 9)
    for pos in range(0, len(raw), 7):
        mutated = bytearray(raw)
        mutated[pos] ^= 0x5A
        h = ibc_pb2.Header()
        try:
            h.ParseFromString(bytes(mutated))
        except Exception:
            continue
        try:
            got = _verify(2, 9, header=h, now=now)
        except ClientError:
            continue
        assert got == expected, pos


def test_recorded_header_with_a_nil_vote_is_counted_as_not_signed():
    header = golden_header(3, 2)
    sig = header.signed_header.commit.signatures[3]
    sig.block_id_flag = validator_pb2.BLOCK_ID_FLAG_NIL
    _verify(2, 3, header=header)  # 3 of 4 commit votes remain
    sig2 = header.signed_header.commit.signatures[2]
    sig2.block_id_flag = validator_pb2.BLOCK_ID_FLAG_NIL
    with pytest.raises(ErrInsufficientPower):
        _verify(2, 3, header=copy_header(header))


def test_clock_drift_window_is_relative_to_now():
    header = golden_header(3, 2)
    header_ns = timestamp_to_ns(header.signed_header.header.time)
    # Verifying chain a little behind the counterparty: within drift is fine.
    _verify(2, 3, header=header, now=header_ns - 5 * S)
