"""A deterministic CometBFT block producer for light client tests.

Not a mock: the headers and commits built here are what CometBFT v0.38
would build for the same fields, hashed and signed with real ed25519 keys
(``ibc.client.hashing``), so ``ibc.client.tendermint.verify_header`` checks
them exactly as it checks headers recorded from a real network.

    vals = TestValidators(4)                       # keys from sha256(b"val" || i)
    sh = make_signed_header("chain-a", 5, time_ns, app_hash, vals)
    hdr = make_header("chain-a", 7, time_ns, app_hash, vals,
                      trusted_height=5, trusted_validators=vals)

Layout rules copied from CometBFT: a validator set is sorted by voting power
(descending), then address (ascending); a commit has one CommitSig per
validator of the header's set, in set order, ``BLOCK_ID_FLAG_COMMIT`` with a
precommit signature for those who signed and ``BLOCK_ID_FLAG_ABSENT`` (no
address, no signature, Go's zero time) for the others. Hashes the light
client does not interpret (data, consensus, results, evidence, last commit)
are filled with deterministic 32-byte values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from app.crypto import PrivateKey, address_bytes
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.tendermint.types import types_pb2, validator_pb2
from ibc.client.hashing import (
    GO_ZERO_TIME_NS,
    header_hash,
    ns_to_timestamp,
    validator_set_hash,
    vote_sign_bytes,
)

BLOCK_PROTOCOL = 11  # CometBFT v0.38 version.BlockProtocol
APP_VERSION = 1
DEFAULT_POWER = 10
# Each validator's precommit is stamped this many ns after the previous one,
# starting one step after the header time (CometBFT votes follow the block).
VOTE_TIME_STEP_NS = 1_000_000


def _filler(label: str, height: int) -> bytes:
    return hashlib.sha256(f"{label}/{height}".encode()).digest()


class TestValidators:
    """A validator set with its private keys, in CometBFT's set order.

    ``TestValidators(n, seed, powers)`` derives validator i's ed25519 seed as
    ``sha256(seed || i as 4 bytes big-endian)``; ``powers[i]`` (default 10
    each) is validator i's voting power before sorting. ``keys``, ``powers``
    and ``addresses`` are in set order (power desc, then address asc).
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, n: int, seed: bytes = b"val", powers: list[int] | None = None):
        if powers is None:
            powers = [DEFAULT_POWER] * n
        if len(powers) != n:
            raise ValueError(f"{len(powers)} powers for {n} validators")
        keys = [PrivateKey(hashlib.sha256(seed + i.to_bytes(4, "big")).digest()) for i in range(n)]
        self._set(keys, powers)

    @classmethod
    def from_keys(cls, keys: list[PrivateKey], powers: list[int]) -> TestValidators:
        """A set of the given keys and powers (sorted here)."""
        if len(keys) != len(powers):
            raise ValueError(f"{len(powers)} powers for {len(keys)} keys")
        vals = cls.__new__(cls)
        vals._set(list(keys), list(powers))
        return vals

    def _set(self, keys: list[PrivateKey], powers: list[int]) -> None:
        entries = sorted(
            ((p, address_bytes(k.public_key), k) for k, p in zip(keys, powers, strict=True)),
            key=lambda e: (-e[0], e[1]),
        )
        addresses = [e[1] for e in entries]
        if len(set(addresses)) != len(addresses):
            raise ValueError("duplicate validator key")
        self.keys: list[PrivateKey] = [e[2] for e in entries]
        self.powers: list[int] = [e[0] for e in entries]
        self.addresses: list[bytes] = addresses

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def total_power(self) -> int:
        return sum(self.powers)

    def subset(self, indices: Iterable[int]) -> TestValidators:
        """The validators at these positions (in set order), same powers."""
        picked = sorted(set(indices))
        return TestValidators.from_keys(
            [self.keys[i] for i in picked], [self.powers[i] for i in picked]
        )

    def __add__(self, other: TestValidators) -> TestValidators:
        """The union of two sets with distinct keys."""
        return TestValidators.from_keys(self.keys + other.keys, self.powers + other.powers)

    def with_powers(self, powers: list[int]) -> TestValidators:
        """The same keys (in current set order) with new powers."""
        return TestValidators.from_keys(self.keys, powers)

    def key_of(self, address: bytes) -> PrivateKey | None:
        for addr, key in zip(self.addresses, self.keys, strict=True):
            if addr == address:
                return key
        return None

    def validator_set(self) -> validator_pb2.ValidatorSet:
        """The ``tendermint.types.ValidatorSet`` (proposer: the first validator)."""
        validators = [
            validator_pb2.Validator(
                address=addr,
                pub_key={"ed25519": key.public_key},
                voting_power=power,
                proposer_priority=0,
            )
            for addr, key, power in zip(self.addresses, self.keys, self.powers, strict=True)
        ]
        vs = validator_pb2.ValidatorSet(validators=validators, total_voting_power=self.total_power)
        if validators:
            vs.proposer.CopyFrom(validators[0])
        return vs

    def hash(self) -> bytes:
        return validator_set_hash(self.validator_set())


def _fraction_prefix(vals: TestValidators, positions: list[int], frac: tuple[int, int]) -> set[int]:
    """The shortest prefix of positions whose power reaches num/den of the total."""
    num, den = frac
    total = vals.total_power
    chosen: set[int] = set()
    power = 0
    for i in positions:
        if power * den >= total * num:
            break
        chosen.add(i)
        power += vals.powers[i]
    return chosen


def make_signed_header(
    chain_id: str,
    height: int,
    time_ns: int,
    app_hash: bytes,
    validators: TestValidators,
    next_validators: TestValidators | None = None,
    *,
    signers: TestValidators | None = None,
    signing_fraction: tuple[int, int] | None = None,
    last_block_id: types_pb2.BlockID | None = None,
    round_: int = 0,
) -> types_pb2.SignedHeader:
    """A header at ``height`` and its commit, signed as CometBFT would.

    ``signers`` (default: all of ``validators``) are the members of
    ``validators`` who sign; with ``signing_fraction=(num, den)`` only the
    shortest prefix of them (in set order) whose power reaches num/den of
    the set's total signs (so (2, 3) on 4 equal validators means 3 sign).
    ``last_block_id`` defaults to a deterministic filler block id.
    """
    if next_validators is None:
        next_validators = validators
    if last_block_id is None:
        if height > 1:
            last_hash = _filler("block", height - 1)
            last_block_id = types_pb2.BlockID(
                hash=last_hash,
                part_set_header={"total": 1, "hash": _filler("parts", height - 1)},
            )
        else:
            last_block_id = types_pb2.BlockID()
    header = types_pb2.Header(
        version={"block": BLOCK_PROTOCOL, "app": APP_VERSION},
        chain_id=chain_id,
        height=height,
        time=ns_to_timestamp(time_ns),
        last_block_id=last_block_id,
        last_commit_hash=_filler("last_commit", height),
        data_hash=_filler("data", height),
        validators_hash=validators.hash(),
        next_validators_hash=next_validators.hash(),
        consensus_hash=_filler("consensus", 0),
        app_hash=app_hash,
        last_results_hash=_filler("results", height),
        evidence_hash=hashlib.sha256(b"").digest(),
        proposer_address=validators.addresses[0] if len(validators) else b"",
    )
    block_hash = header_hash(header)
    block_id = types_pb2.BlockID(
        hash=block_hash,
        part_set_header={"total": 1, "hash": hashlib.sha256(b"parts" + block_hash).digest()},
    )

    signing = set(signers.addresses) if signers is not None else set(validators.addresses)
    positions = [i for i, a in enumerate(validators.addresses) if a in signing]
    chosen = (
        _fraction_prefix(validators, positions, signing_fraction)
        if signing_fraction is not None
        else set(positions)
    )
    signatures = []
    for i, (addr, key) in enumerate(zip(validators.addresses, validators.keys, strict=True)):
        if i in chosen:
            vote_ns = time_ns + (i + 1) * VOTE_TIME_STEP_NS
            sig = key.sign(vote_sign_bytes(chain_id, height, round_, block_id, vote_ns))
            signatures.append(
                types_pb2.CommitSig(
                    block_id_flag=validator_pb2.BLOCK_ID_FLAG_COMMIT,
                    validator_address=addr,
                    timestamp=ns_to_timestamp(vote_ns),
                    signature=sig,
                )
            )
        else:
            signatures.append(
                types_pb2.CommitSig(
                    block_id_flag=validator_pb2.BLOCK_ID_FLAG_ABSENT,
                    timestamp=ns_to_timestamp(GO_ZERO_TIME_NS),
                )
            )
    commit = types_pb2.Commit(height=height, round=round_, block_id=block_id, signatures=signatures)
    return types_pb2.SignedHeader(header=header, commit=commit)


def make_header(
    chain_id: str,
    height: int,
    time_ns: int,
    app_hash: bytes,
    validators: TestValidators,
    trusted_height: int,
    trusted_validators: TestValidators,
    next_validators: TestValidators | None = None,
    **kw,
) -> ibc_pb2.Header:
    """An ICS-07 update: the signed header, its validator set, and the trusted
    height with the validators trusted there (``next_validators`` of the
    trusted header). Extra keywords go to :func:`make_signed_header`."""
    sh = make_signed_header(chain_id, height, time_ns, app_hash, validators, next_validators, **kw)
    return ibc_pb2.Header(
        signed_header=sh,
        validator_set=validators.validator_set(),
        trusted_height=trusted_height,
        trusted_validators=trusted_validators.validator_set(),
    )
