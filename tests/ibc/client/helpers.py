"""Builders shared by the light client tests: client states, trusted
consensus states, the recorded localnet blocks, and small mutators."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.tendermint.types import types_pb2, validator_pb2
from ibc.client import rpc
from ibc.client.hashing import GO_ZERO_TIME_NS, ns_to_timestamp, timestamp_to_ns
from tests.support.cometbft import TestValidators, make_header

TESTDATA = Path(__file__).resolve().parent / "testdata"
S = 1_000_000_000
DAY = 86_400 * S
T0 = 1_700_000_000 * S  # genesis time of the synthetic chains
BLOCK = 5 * S
TRUSTING_PERIOD = 14 * DAY
MAX_DRIFT = 10 * S
CHAIN = "chain-b"


def client_state(
    chain_id: str = CHAIN,
    latest_height: int = 1,
    trust: tuple[int, int] = (1, 3),
    trusting_period: int = TRUSTING_PERIOD,
    max_drift: int = MAX_DRIFT,
    frozen_height: int = 0,
) -> ibc_pb2.ClientState:
    return ibc_pb2.ClientState(
        chain_id=chain_id,
        trust_level={"numerator": trust[0], "denominator": trust[1]},
        trusting_period_ns=trusting_period,
        max_clock_drift_ns=max_drift,
        latest_height=latest_height,
        frozen_height=frozen_height,
    )


def trusted_state(
    height: int, next_validators: TestValidators, time_ns: int | None = None
) -> ibc_pb2.ConsensusState:
    """A consensus state as an update at ``height`` of the synthetic chain stored it."""
    return ibc_pb2.ConsensusState(
        timestamp_ns=T0 + height * BLOCK if time_ns is None else time_ns,
        root=app_hash(height),
        next_validators_hash=next_validators.hash(),
    )


def app_hash(height: int) -> bytes:
    return height.to_bytes(32, "big")


def header_at(
    height: int,
    validators: TestValidators,
    trusted_height: int,
    trusted_validators: TestValidators | None = None,
    chain_id: str = CHAIN,
    **kw: Any,
) -> ibc_pb2.Header:
    """An update at ``height`` of the synthetic chain (time T0 + height * BLOCK)."""
    return make_header(
        chain_id,
        height,
        T0 + height * BLOCK,
        app_hash(height),
        validators,
        trusted_height,
        trusted_validators if trusted_validators is not None else validators,
        **kw,
    )


def now_after(header: ibc_pb2.Header, delta: int = S) -> int:
    return timestamp_to_ns(header.signed_header.header.time) + delta


def absent_sig() -> types_pb2.CommitSig:
    return types_pb2.CommitSig(
        block_id_flag=validator_pb2.BLOCK_ID_FLAG_ABSENT,
        timestamp=ns_to_timestamp(GO_ZERO_TIME_NS),
    )


def copy_header(header: ibc_pb2.Header) -> ibc_pb2.Header:
    out = ibc_pb2.Header()
    out.CopyFrom(header)
    return out


# ---- the blocks recorded from a real 4-validator localnet ----


@cache
def golden(name: str = "golden-1") -> dict[str, Any]:
    with open(TESTDATA / f"{name}.json") as f:
        data: dict[str, Any] = json.load(f)
    return data


def golden_heights(name: str = "golden-1") -> list[int]:
    return sorted(int(h) for h in golden(name)["blocks"])


def golden_signed_header(height: int, name: str = "golden-1") -> types_pb2.SignedHeader:
    return rpc.signed_header_from_json(golden(name)["blocks"][str(height)]["signed_header"])


def golden_validators(height: int, name: str = "golden-1") -> validator_pb2.ValidatorSet:
    return rpc.validator_set_from_json(golden(name)["blocks"][str(height)]["validators"])


def golden_header(height: int, trusted_height: int, name: str = "golden-1") -> ibc_pb2.Header:
    """An update to ``height`` trusting ``trusted_height`` (trusted validators:
    the set at trusted_height + 1, i.e. the trusted header's next validators)."""
    return ibc_pb2.Header(
        signed_header=golden_signed_header(height, name),
        validator_set=golden_validators(height, name),
        trusted_height=trusted_height,
        trusted_validators=golden_validators(trusted_height + 1, name),
    )


def golden_trusted(height: int, name: str = "golden-1") -> ibc_pb2.ConsensusState:
    """The consensus state an earlier update stored for ``height``."""
    h = golden_signed_header(height, name).header
    return ibc_pb2.ConsensusState(
        timestamp_ns=timestamp_to_ns(h.time),
        root=h.app_hash,
        next_validators_hash=h.next_validators_hash,
    )


def golden_client_state(name: str = "golden-1", **kw: Any) -> ibc_pb2.ClientState:
    kw.setdefault("chain_id", golden(name)["chain_id"])
    return client_state(**kw)
