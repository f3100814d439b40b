"""verify_header on headers built by tests.support.cometbft: sets of 4 and
100 validators, validator-set changes, power distributions, client states."""

from __future__ import annotations

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.tendermint.types import validator_pb2
from ibc.client import (
    DEFAULT_TRUST_LEVEL,
    ClientError,
    ErrExpired,
    ErrFrozen,
    ErrInsufficientPower,
    ErrInvalidClientState,
    ErrInvalidHeader,
    ErrInvalidSignature,
)
from ibc.client import tendermint as tm
from ibc.client.hashing import timestamp_to_ns
from tests.ibc.client.helpers import (
    BLOCK,
    CHAIN,
    DAY,
    T0,
    TRUSTING_PERIOD,
    absent_sig,
    app_hash,
    client_state,
    header_at,
    now_after,
    trusted_state,
)
from tests.support.cometbft import TestValidators, make_signed_header

VALS_4 = TestValidators(4)
VALS_100 = TestValidators(100)
SETS = {"4": VALS_4, "100": VALS_100}


@pytest.fixture(params=["4", "100"])
def vals(request) -> TestValidators:
    return SETS[request.param]


def verify(header: ibc_pb2.Header, trusted: ibc_pb2.ConsensusState, **kw) -> ibc_pb2.ConsensusState:
    cs = kw.pop("cs", client_state())
    return tm.verify_header(cs, trusted, header, kw.pop("now", now_after(header)))


# ---- the test producer itself ----


def test_test_validators_are_deterministic_and_sorted():
    a, b = TestValidators(5), TestValidators(5)
    assert a.addresses == b.addresses and a.hash() == b.hash()
    assert TestValidators(5, seed=b"other").hash() != a.hash()
    assert a.addresses == sorted(a.addresses)
    weighted = TestValidators(5, powers=[1, 5, 3, 5, 2])
    assert weighted.powers == [5, 5, 3, 2, 1]
    assert weighted.addresses[0] < weighted.addresses[1]  # tie broken by address
    vs = weighted.validator_set()
    assert vs.total_voting_power == 16
    assert [v.voting_power for v in vs.validators] == [5, 5, 3, 2, 1]


def test_commit_layout_is_one_sig_per_validator_in_set_order():
    sh = make_signed_header(CHAIN, 5, T0, app_hash(5), VALS_4, signing_fraction=(2, 3))
    flags = [s.block_id_flag for s in sh.commit.signatures]
    assert flags == [validator_pb2.BLOCK_ID_FLAG_COMMIT] * 3 + [validator_pb2.BLOCK_ID_FLAG_ABSENT]
    assert [s.validator_address for s in sh.commit.signatures[:3]] == VALS_4.addresses[:3]
    assert sh.commit.signatures[3] == absent_sig()


# ---- valid updates ----


@pytest.mark.parametrize("gap", [1, 2, 50])
def test_update_verifies(vals, gap):
    trusted = trusted_state(10, vals)
    header = header_at(10 + gap, vals, 10)
    cons = verify(header, trusted)
    assert cons == ibc_pb2.ConsensusState(
        timestamp_ns=T0 + (10 + gap) * BLOCK,
        root=app_hash(10 + gap),
        next_validators_hash=vals.hash(),
    )
    assert cons == tm.consensus_state_from_header(header)


def test_update_with_just_over_two_thirds(vals):
    # 4 equal: 3 sign (30 > 26); 100 equal: 67 sign (670 > 666).
    header = header_at(12, vals, 10, signing_fraction=(2, 3))
    verify(header, trusted_state(10, vals))


def test_update_with_two_thirds_exactly_fails():
    vals = TestValidators(3)  # 2 of 3 sign: 20 is not more than 20
    header = header_at(11, vals, 10, signing_fraction=(2, 3))
    with pytest.raises(ErrInsufficientPower, match="more than 20"):
        verify(header, trusted_state(10, vals))


def test_update_with_half_fails(vals):
    header = header_at(11, vals, 10, signing_fraction=(1, 2))
    with pytest.raises(ErrInsufficientPower):
        verify(header, trusted_state(10, vals))


def test_one_heavy_validator_alone_commits():
    vals = TestValidators(4, powers=[70, 10, 10, 10])
    header = header_at(15, vals, 10, signers=vals.subset([0]))
    verify(header, trusted_state(10, vals))
    light = header_at(15, vals, 10, signers=vals.subset([1, 2, 3]))
    with pytest.raises(ErrInsufficientPower):
        verify(light, trusted_state(10, vals))


def test_next_validators_become_trusted():
    old, new = VALS_4, TestValidators(4, seed=b"next")
    # Header 11 announces the change; header 12 is signed by the new set.
    h11 = header_at(11, old, 10, next_validators=new)
    cons11 = verify(h11, trusted_state(10, old))
    assert cons11.next_validators_hash == new.hash()
    h12 = header_at(12, new, 11, trusted_validators=new)
    verify(h12, cons11)
    # Skipping from 10 to 12 must rely on the old set, which did not sign.
    h12_skip = header_at(12, new, 10, trusted_validators=old)
    with pytest.raises(ErrInsufficientPower, match="trusted validators"):
        verify(h12_skip, trusted_state(10, old))


def _changed_set(overlap: int) -> tuple[TestValidators, TestValidators]:
    old = TestValidators(100, seed=b"old")
    new = old.subset(range(overlap)) + TestValidators(100 - overlap, seed=b"new")
    return old, new


def test_skipping_with_more_than_one_third_overlap_passes():
    old, new = _changed_set(34)  # 340 of the old 1000 > 333
    header = header_at(20, new, 10, trusted_validators=old)
    assert verify(header, trusted_state(10, old)).next_validators_hash == new.hash()


def test_skipping_with_one_third_overlap_fails():
    old, new = _changed_set(33)  # 330 of the old 1000 is not > 333
    header = header_at(20, new, 10, trusted_validators=old)
    with pytest.raises(ErrInsufficientPower, match="trusted validators signed with 330 of 1000"):
        verify(header, trusted_state(10, old))


def test_higher_trust_level_needs_more_overlap():
    old, new = _changed_set(60)
    header = header_at(20, new, 10, trusted_validators=old)
    verify(header, trusted_state(10, old), cs=client_state(trust=(1, 2)))
    with pytest.raises(ErrInsufficientPower):
        verify(header, trusted_state(10, old), cs=client_state(trust=(2, 3)))


def test_adjacent_header_with_a_changed_set_fails():
    old, new = _changed_set(90)
    header = header_at(11, new, 10, trusted_validators=old)
    with pytest.raises(ErrInvalidHeader, match="adjacent"):
        verify(header, trusted_state(10, old))


def test_skipping_counts_only_trusted_signers_that_signed():
    # 100 validators, all trusted, but only the last 30 sign: 300 is not > 333
    # (and not > 2/3 either; the trust check comes first).
    header = header_at(20, VALS_100, 10, signers=VALS_100.subset(range(70, 100)))
    with pytest.raises(ErrInsufficientPower, match="trusted validators"):
        verify(header, trusted_state(10, VALS_100))


def test_double_vote_in_trusting_check_is_rejected():
    header = header_at(20, VALS_4, 10)
    sigs = header.signed_header.commit.signatures
    sigs[1].CopyFrom(sigs[0])
    with pytest.raises(ErrInvalidHeader, match="double vote"):
        verify(header, trusted_state(10, VALS_4))


def test_commit_signature_out_of_set_order_is_rejected():
    header = header_at(11, VALS_4, 10)
    sigs = header.signed_header.commit.signatures
    first, second = type(sigs[0])(), type(sigs[0])()
    first.CopyFrom(sigs[0])
    second.CopyFrom(sigs[1])
    sigs[0].CopyFrom(second)
    sigs[1].CopyFrom(first)
    with pytest.raises(ErrInvalidHeader, match="address mismatch"):
        verify(header, trusted_state(10, VALS_4))


def test_signature_for_another_round_fails():
    header = header_at(11, VALS_4, 10, round_=2)
    verify(header, trusted_state(10, VALS_4))
    header.signed_header.commit.round = 0
    with pytest.raises(ErrInvalidSignature):
        verify(header, trusted_state(10, VALS_4))


def test_signature_from_another_chain_fails():
    """Signed by the right keys for the same block fields on chain "other"."""
    other = header_at(11, VALS_4, 10, chain_id="other")
    header = header_at(11, VALS_4, 10)
    for sig, theirs in zip(
        header.signed_header.commit.signatures, other.signed_header.commit.signatures, strict=True
    ):
        sig.signature = theirs.signature
    with pytest.raises(ErrInvalidSignature):
        verify(header, trusted_state(10, VALS_4))


# ---- time and status ----


def test_expiry_boundary():
    cs = client_state()
    cons = trusted_state(10, VALS_4)
    assert not tm.is_expired(cs, cons, cons.timestamp_ns + TRUSTING_PERIOD - 1)
    assert tm.is_expired(cs, cons, cons.timestamp_ns + TRUSTING_PERIOD)
    header = header_at(11, VALS_4, 10)
    with pytest.raises(ErrExpired):
        verify(header, cons, now=cons.timestamp_ns + TRUSTING_PERIOD)


def test_future_header_fails():
    header = header_at(11, VALS_4, 10)
    header_ns = timestamp_to_ns(header.signed_header.header.time)
    cs = client_state(max_drift=3 * BLOCK)
    verify(header, trusted_state(10, VALS_4), cs=cs, now=header_ns - 3 * BLOCK + 1)
    with pytest.raises(ErrInvalidHeader, match="future"):
        verify(header, trusted_state(10, VALS_4), cs=cs, now=header_ns - 3 * BLOCK)


def test_frozen_client_refuses_updates():
    header = header_at(11, VALS_4, 10)
    with pytest.raises(ErrFrozen):
        verify(header, trusted_state(10, VALS_4), cs=client_state(frozen_height=1))


def test_header_time_must_increase():
    header = header_at(11, VALS_4, 10)
    trusted = trusted_state(10, VALS_4, time_ns=T0 + 11 * BLOCK)
    with pytest.raises(ErrInvalidHeader, match="not after the trusted time"):
        verify(header, trusted)


# ---- client state ----


def test_default_trust_level():
    assert DEFAULT_TRUST_LEVEL == (1, 3)
    tm.validate_client_state(client_state(trust=DEFAULT_TRUST_LEVEL))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"chain_id": ""}, "chain id is empty"),
        ({"chain_id": " "}, "chain id is empty"),
        ({"chain_id": "x" * 51}, "too long"),
        ({"trust": (1, 4)}, "trust level"),
        ({"trust": (4, 3)}, "trust level"),
        ({"trust": (0, 0)}, "trust level"),
        ({"trust": (1, 0)}, "trust level"),
        ({"trusting_period": 0}, "trusting period"),
        ({"max_drift": 0}, "clock drift"),
        ({"latest_height": 0}, "latest height"),
    ],
)
def test_invalid_client_states(kw, match):
    with pytest.raises(ErrInvalidClientState, match=match):
        tm.validate_client_state(client_state(**kw))


@pytest.mark.parametrize("trust", [(1, 3), (2, 3), (1, 1), (99, 100)])
def test_valid_client_states(trust):
    tm.validate_client_state(client_state(trust=trust, trusting_period=DAY))


def test_invalid_trust_level_also_stops_verification():
    header = header_at(11, VALS_4, 10)
    with pytest.raises(ErrInvalidClientState):
        verify(header, trusted_state(10, VALS_4), cs=client_state(trust=(1, 5)))


def test_all_client_errors_are_value_errors():
    for exc in (ErrExpired, ErrFrozen, ErrInsufficientPower, ErrInvalidHeader, ErrInvalidSignature):
        assert issubclass(exc, ClientError) and issubclass(exc, ValueError)
