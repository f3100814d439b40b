"""The fixed worlds the fuzz targets run against, built once per process.

A fuzz input must mean the same thing every time it is replayed, so every
target starts each input from the same state: a chain that the world built
and committed once, whose staged (uncommitted) changes are discarded after
each input; a store of known contents for ICS-23 proofs; a header chain
signed by known validator keys for the light client. Nothing here reads a
clock or a random source: a world is a pure function of the code.

- :class:`ChainWorld`: two independent nodes (separate LevelDB stores) with
  the market tests' microgrid (tests/app/market/conftest.py, two storages
  added), driven through one cleared interval that now waits for its meter
  readings and one open interval with orders. The fuzz block's time decides
  how far past that it goes (readings window closing, gate closure).
- :class:`ProofWorld`: a committed SMT store whose every key and value are
  known, so a verified proof can be checked against the truth; plus the
  facts of the public ICS-23 vectors kept as seeds in corpus/ics23_proof.
- :class:`LightClientWorld`: synthetic headers signed by real ed25519 keys
  (a 4-validator set, a changed set and a fork) and the blocks recorded from
  a real 4-validator localnet (tests/ibc/client/testdata/golden-1.json), with
  the client states and trusted consensus states that verify them.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from google.protobuf.message import DecodeError

from app import crypto
from app.chain import Chain
from app.crypto import PrivateKey
from app.kv import StoreView
from app.modules.auth import keeper as auth_keeper
from app.modules.settlement.reading import sign_bytes
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.store import Store
from app.tx import codec
from ibc.client.hashing import header_hash, timestamp_to_ns
from tests.app.market.conftest import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EVE,
    FEES,
    REGULATOR,
    START,
    UTILITY,
    Market,
)
from tests.app.storage.conftest import ALL_METERS, STORE, STORE2, storage_state
from tests.ibc.client import helpers as lc
from tests.support.cometbft import TestValidators, make_header
from tests.support.inproc import NS, InProcessNode

FUZZ_DIR = Path(__file__).resolve().parent
CORPUS_DIR = FUZZ_DIR / "corpus"

# Accounts a fuzzed transaction can sign with (and "@<i>" placeholders name).
KEYS: tuple[PrivateKey, ...] = (
    UTILITY,
    REGULATOR,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EVE,
    STORE,
    STORE2,
    FEES,
)
# Meter keys ("@m<i>" placeholders in bytes fields), in a fixed order.
METER_KEYS: tuple[PrivateKey, ...] = tuple(ALL_METERS[k] for k in sorted(ALL_METERS))
CHAIN_ID = "mgrid-inproc-1"  # InProcessNode's default


def _scratch_dir(prefix: str) -> str:
    """A private directory for LevelDB files, in memory when /dev/shm exists, removed at exit."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix=prefix, dir=base)
    atexit.register(shutil.rmtree, path, True)
    return path


# ---- chain ----------------------------------------------------------------------


class ChainWorld:
    """Two nodes with the same history; each input runs on fresh Chain objects over them."""

    def __init__(self) -> None:
        root = Path(_scratch_dir("mgrid-fuzz-chain-"))
        self.nodes: list[InProcessNode] = []
        for i in range(2):
            home = root / f"node{i}"
            home.mkdir()
            self.nodes.append(self._build(home))
        hashes = {n.chain.app_hash() for n in self.nodes}
        if len(hashes) != 1:
            raise AssertionError(f"the two fuzz nodes disagree after the same setup: {hashes}")
        node = self.nodes[0]
        self.height = node.height
        self.base_time_ns = node.time_ns
        view = StoreView(node.store)
        self.sequences = {
            k.address: auth_keeper.get_account(view, crypto.decode_address(k.address)).sequence
            for k in KEYS
        }
        self.settling_interval, self.open_interval = self._intervals

    def _build(self, home: Path) -> InProcessNode:
        node = InProcessNode(home, storage_state(), start_time=START)
        m = Market(node)
        n = m.schedule().first_open
        for who, side, wh, price in (
            (CAROL, "sell", 2000, 150),
            (ALICE, "sell", 500, 120),
            (BOB, "buy", 1500, 250),
            (EVE, "buy", 800, None),
        ):
            result = m.place(who, side, wh, price, interval=n)
            assert result.code == 0, result.log
        m.clear(n)
        node.advance_to(m.interval(n).end_time)
        n2 = m.schedule().first_open
        for who, side, wh, price in ((CAROL, "sell", 1000, 140), (BOB, "buy", 700, 260)):
            result = m.place(who, side, wh, price, interval=n2)
            assert result.code == 0, result.log
        self._intervals = (n, n2)
        return node

    def chain(self, i: int) -> Chain:
        """A fresh state machine over node i's committed base state."""
        return Chain(self.nodes[i].store, check_invariants=True)

    def reset(self) -> None:
        """Drop whatever an input staged, so the next input starts from the base state."""
        for node in self.nodes:
            node.store.discard()


@cache
def chain_world() -> ChainWorld:
    return ChainWorld()


def substitute(msg: object, placeholders: dict[str, str], blobs: dict[bytes, bytes]) -> None:
    """Replace placeholder strings and bytes in ``msg`` (a protobuf message), in place.

    Seeds write "@3" where a bech32 address goes and b"@m2" where a meter key
    goes; mutations of the surrounding fields then keep reaching the handlers
    instead of failing on a mangled address.
    """
    for field, value in msg.ListFields():  # type: ignore[attr-defined]
        if field.message_type is not None:
            if field.message_type.GetOptions().map_entry:
                continue
            items = value if field.is_repeated else [value]
            for item in items:
                substitute(item, placeholders, blobs)
        elif field.type == field.TYPE_STRING:
            if field.is_repeated:
                value[:] = [placeholders.get(v, v) for v in value]
            elif value in placeholders:
                setattr(msg, field.name, placeholders[value])
        elif field.type == field.TYPE_BYTES:
            if field.is_repeated:
                value[:] = [blobs.get(v, v) for v in value]
            elif value in blobs:
                setattr(msg, field.name, blobs[value])


PLACEHOLDERS = {f"@{i}": k.address for i, k in enumerate(KEYS)} | {"@c": CHAIN_ID}
BLOBS = {f"@m{i}".encode(): k.public_key for i, k in enumerate(METER_KEYS)}
_METER_BY_PUB = {k.public_key: k for k in METER_KEYS}


def sign_meter_readings(body: tx_pb2.TxBody) -> None:
    """Sign every meter reading whose signature is empty with the meter it names."""
    for m in body.messages:
        if m.WhichOneof("sum") != "meter_reading" or m.meter_reading.signature:
            continue
        reading = settlement_pb2.MeterReading()
        try:
            reading.ParseFromString(m.meter_reading.reading)
        except DecodeError:
            continue  # garbage stays garbage (and unsigned)
        substitute(reading, PLACEHOLDERS, BLOBS)
        raw = reading.SerializeToString(deterministic=True)
        meter = _METER_BY_PUB.get(reading.meter, METER_KEYS[0])
        m.meter_reading.reading = raw
        m.meter_reading.signature = meter.sign(sign_bytes(raw))


def signed_tx(body: tx_pb2.TxBody, signer: PrivateKey) -> bytes:
    return codec.sign_tx(body, signer)


# ---- ICS-23 -----------------------------------------------------------------------


@dataclass
class ProofWorld:
    """Roots whose contents are known: a verified claim must be true of them."""

    # root -> key -> value, for every root (complete only for our own store's roots)
    present: dict[bytes, dict[bytes, bytes]]
    complete: set[bytes]  # roots whose every key is in ``present``
    store: Store
    store_root: bytes


STORE_KEYS: tuple[bytes, ...] = (
    *(f"commitments/ports/transfer/channels/channel-0/sequences/{i}".encode() for i in range(1, 9)),
    *(f"receipts/ports/energy/channels/channel-1/sequences/{i}".encode() for i in (1, 3, 7)),
    b"clients/07-tendermint-0/clientState",
    b"connections/connection-0",
    b"\x00",
    b"\xff" * 40,
    *(bytes([0x42, i]) for i in range(16)),
)


@cache
def proof_world() -> ProofWorld:
    store = Store(os.path.join(_scratch_dir("mgrid-fuzz-proofs-"), "app.db"), sync=False)
    contents = {k: hashlib.sha256(k).digest()[: 1 + len(k) % 40] for k in STORE_KEYS}
    store.stage(contents)
    store.commit()
    root = store.root()
    world = ProofWorld({root: dict(contents)}, {root}, store, root)
    seeds = CORPUS_DIR / "ics23_proof"
    if seeds.is_dir():
        from tests.fuzz.targets import ics23_facts  # the seeds' own claims, verified

        for path in sorted(seeds.glob("seed-*")):
            for r, k, v in ics23_facts(path.read_bytes()):
                world.present.setdefault(r, {})[k] = v
    return world


# Absent keys our store proves non-membership of (beside and between present ones).
ABSENT_KEYS: tuple[bytes, ...] = (
    b"commitments/ports/transfer/channels/channel-0/sequences/9",
    b"receipts/ports/energy/channels/channel-1/sequences/2",
    b"\x01",
    b"\x42\x10",
)


# ---- light client ------------------------------------------------------------------


@dataclass
class Scenario:
    """A client and the consensus states it trusts, at a block time ``now_ns``."""

    client_state: ibc_pb2.ClientState
    trusted: dict[int, ibc_pb2.ConsensusState]
    now_ns: int


@dataclass
class LightClientWorld:
    scenarios: list[Scenario]
    genuine: set[bytes]  # hashes of every header a real validator key signed
    updates: dict[str, ibc_pb2.Header]  # named valid updates (seeds)
    misbehaviours: dict[str, ibc_pb2.Misbehaviour]


VALS = TestValidators(4)
NEW_VALS = VALS.subset([0, 1, 2]) + TestValidators(1, seed=b"joiner")


@cache
def light_client_world() -> LightClientWorld:
    updates: dict[str, ibc_pb2.Header] = {
        "adjacent": lc.header_at(11, VALS, 10),
        "skipping": lc.header_at(15, VALS, 10),
        # a validator set change: 3 of the 4 trusted validators sign with a joiner
        "changed-set": lc.header_at(20, NEW_VALS, 10, trusted_validators=VALS),
    }
    fork = make_header(lc.CHAIN, 15, lc.T0 + 15 * lc.BLOCK, b"\x66" * 32, VALS, 10, VALS)
    misbehaviours = {
        "fork": ibc_pb2.Misbehaviour(header_1=updates["skipping"], header_2=fork),
        # header_1 higher but not later: time monotonicity broken
        "time": ibc_pb2.Misbehaviour(
            header_1=make_header(
                lc.CHAIN, 16, lc.T0 + 12 * lc.BLOCK, lc.app_hash(16), VALS, 10, VALS
            ),
            header_2=updates["skipping"],
        ),
    }
    synthetic = Scenario(
        lc.client_state(latest_height=10),
        {10: lc.trusted_state(10, VALS), 5: lc.trusted_state(5, VALS)},
        lc.now_after(updates["changed-set"]),
    )
    heights = lc.golden_heights()
    low, high = heights[0], heights[-2]
    golden_updates = {
        "golden-adjacent": lc.golden_header(low + 1, low),
        "golden-skipping": lc.golden_header(high, low),
    }
    updates.update(golden_updates)
    latest = lc.golden_signed_header(heights[-1]).header
    golden = Scenario(
        lc.golden_client_state(latest_height=low),
        {h: lc.golden_trusted(h) for h in heights},
        timestamp_to_ns(latest.time) + lc.S,
    )
    genuine = {header_hash(h.signed_header.header) for h in updates.values()}
    genuine |= {header_hash(m.header_1.signed_header.header) for m in misbehaviours.values()} | {
        header_hash(m.header_2.signed_header.header) for m in misbehaviours.values()
    }
    genuine |= {header_hash(lc.golden_signed_header(h).header) for h in heights}
    return LightClientWorld([synthetic, golden], genuine, updates, misbehaviours)


__all__ = [
    "BLOBS",
    "CHAIN_ID",
    "CORPUS_DIR",
    "KEYS",
    "METER_KEYS",
    "NS",
    "PLACEHOLDERS",
    "ChainWorld",
    "LightClientWorld",
    "ProofWorld",
    "chain_world",
    "light_client_world",
    "proof_world",
    "sign_meter_readings",
    "substitute",
]
