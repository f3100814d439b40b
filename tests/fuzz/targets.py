"""Fuzz targets: one function per target, each taking the fuzzer's bytes.

This module does not import atheris: ``run.py`` drives the targets under
atheris (libFuzzer, coverage-guided), and ``test_corpus.py`` replays every
seed and regression input through every target under pytest. A target
returns normally when the code under test handled the input correctly, and
raises when it found a bug: the exception the code under test let escape,
or an AssertionError naming the broken invariant.

Targets (issue 8 item 6):

- ``tx_decode``: transaction bytes through the codec and the stateless
  checks (``app.tx.codec``, ``Chain.well_formed``, ``validate_messages``).
- ``chain_block``: up to 8 transactions (raw bytes, or a fuzzed TxBody
  signed by a funded key) through CheckTx on one node and CheckTx Recheck
  on another, then the same block through FinalizeBlock on both.
- ``abci_framing``: a byte stream cut at fuzzed points through
  ``split_frames``, checked against a reference parse.
- ``abci_request``: bytes as an ABCI ``Request`` through ``answer()`` on a
  real application.
- ``ics23_proof``: an ICS-23 proof with its spec, root, key and value
  through every verifier entry point; a verified claim must be true.
- ``light_client``: a header update, a misbehaviour or a client state
  through the ICS-07 light client; a verified header must be one a real
  validator key signed.

Input layouts are read with :class:`Reader`, which never fails: a short
input reads as zeros, so every byte string is a valid input.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from functools import cache

from google.protobuf.message import DecodeError

from app import crypto
from app.abci.adapter import ABCIApplication
from app.abci.server import (
    MAX_MESSAGE_BYTES,
    FramingError,
    answer,
    decode_uvarint,
    encode_uvarint,
    split_frames,
)
from app.chain import BlockResult, Chain, TxResult
from app.errors import ABCIError
from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.pb.tendermint.abci import types_pb2 as abci
from app.router import validate_messages
from app.tx import codec
from ibc.client import (
    ClientError,
    check_misbehaviour,
    consensus_state_from_header,
    validate_client_state,
    verify_header,
)
from ibc.client.hashing import header_hash
from ibc.commitment import (
    SPECS,
    ProofError,
    calculate_root,
    compress,
    decompress,
    verify_existence,
    verify_membership,
    verify_non_existence,
    verify_non_membership,
)
from tests.fuzz import world as w

Target = Callable[[bytes], None]


class Reader:
    """Reads structured values off fuzzer bytes; past the end everything reads as zero."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        return self.byte() << 8 | self.byte()

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def chunk(self) -> bytes:
        """A u16-length-prefixed byte string."""
        return self.take(self.u16())

    def rest(self) -> bytes:
        return self.take(self.remaining())


def chunk(data: bytes) -> bytes:
    """Encode ``data`` as :meth:`Reader.chunk` reads it (for writing seeds)."""
    return len(data).to_bytes(2, "big") + data


# ---- tx_decode ----------------------------------------------------------------------


@cache
def _stateless_chain() -> Chain:
    """A Chain for the stateless checks (decoding needs no state)."""
    return w.chain_world().chain(0)


def tx_decode(data: bytes) -> None:
    """Decoding either yields a canonical tx or raises TxDecodeError; the
    stateless checks after it raise only registered ABCI errors."""
    chain = _stateless_chain()
    try:
        tx = codec.decode_tx(data)
    except codec.TxDecodeError as exc:
        assert str(exc), "a decode error must say why"
        assert not chain.well_formed(data), "Chain.well_formed accepts what the codec rejects"
        return
    assert chain.well_formed(data), "Chain.well_formed rejects what the codec accepts"
    assert tx.raw == data
    assert tx.hash == hashlib.sha256(data).digest()
    assert codec.assemble(tx.body_bytes, tx.pub_key, tx.signature) == data, (
        "a decoded tx does not re-encode to its own bytes (canonical encoding broken)"
    )
    assert codec.encode_body(tx.body) == tx.body_bytes, "the body does not re-encode to its bytes"
    with contextlib.suppress(ABCIError):
        validate_messages(tx.body.messages, codec.MAX_MSGS_PER_TX)
    with contextlib.suppress(ABCIError):
        Chain._parse_fee(tx.body, "ugrid", 1)
    with contextlib.suppress(crypto.AddressError):
        crypto.decode_address(tx.body.signer)
    assert crypto.verify(tx.pub_key, tx.body_bytes, tx.signature) in (True, False)


# ---- chain_block --------------------------------------------------------------------

MAX_BLOCK_TXS = 8

# Kind byte of one transaction in a chain_block input:
RAW = 0x00  # high bit clear: the chunk is the transaction bytes themselves
SIGNED = 0x80  # the chunk is a TxBody, signed by KEYS[kind & 0x0F]
KEEP_ENVELOPE = 0x40  # keep the body's chain id, signer and sequence as fuzzed
NO_FEE = 0x20  # drop the body's fee


def build_tx(kind: int, body_bytes: bytes, sequences: dict[str, int]) -> bytes:
    """The transaction one (kind, chunk) pair of a chain_block input stands for.

    A SIGNED body gets its placeholders replaced (``world.substitute``), its
    meter readings signed, and unless KEEP_ENVELOPE the right chain id, signer
    and next sequence, so that mutations reach the message handlers.
    """
    if not kind & SIGNED:
        return body_bytes
    body = tx_pb2.TxBody()
    try:
        body.ParseFromString(body_bytes)
    except DecodeError:
        return body_bytes
    signer = w.KEYS[(kind & 0x0F) % len(w.KEYS)]
    w.substitute(body, w.PLACEHOLDERS, w.BLOBS)
    w.sign_meter_readings(body)
    if not kind & KEEP_ENVELOPE:
        body.chain_id = w.CHAIN_ID
        body.signer = signer.address
        body.sequence = sequences.get(signer.address, 0)
        sequences[signer.address] = body.sequence + 1
    if kind & NO_FEE:
        body.ClearField("fee")
    return codec.sign_tx(body, signer)


def block_input(data: bytes) -> tuple[int, list[bytes]]:
    """(block time in ns, transactions) of a chain_block input.

    Layout: one byte, the block's time in seconds after the base block minus
    one; then up to MAX_BLOCK_TXS times (kind byte, u16-length chunk).
    """
    world = w.chain_world()
    r = Reader(data)
    time_ns = world.base_time_ns + (1 + r.byte()) * w.NS
    sequences = dict(world.sequences)
    txs: list[bytes] = []
    while r.remaining() and len(txs) < MAX_BLOCK_TXS:
        kind = r.byte()
        txs.append(build_tx(kind, r.chunk(), sequences))
    return time_ns, txs


def _state_of(chain: Chain) -> tuple[object, ...]:
    return (
        dict(chain.check_kv.writes),
        dict(chain.block_kv.writes),
        chain.store.version,
        chain.store.root(),
    )


def _checked(chain: Chain, raw: bytes, recheck: bool) -> TxResult:
    before = _state_of(chain)
    result = chain.check_tx(raw, recheck=recheck)
    after = _state_of(chain)
    mode = "Recheck" if recheck else "CheckTx"
    if result.code:
        assert after == before, f"a failed {mode} ({result.codespace}/{result.code}) changed state"
        assert result.log, f"a failed {mode} must say why ({result.codespace}/{result.code})"
    else:
        assert after[1:] == before[1:], f"{mode} changed the block state or the store"
    return result


def _summary(result: BlockResult) -> list[tuple[object, ...]]:
    return [(r.code, r.codespace, r.log, tuple(r.events)) for r in result.tx_results]


def chain_block(data: bytes) -> None:
    """CheckTx never raises and a failed one changes nothing; FinalizeBlock gives one
    result per tx and the same results and app hash on two nodes (one had run
    CheckTx, the other Recheck); supply and escrow invariants hold (the chains run
    with check_invariants=True, which raises on a broken invariant)."""
    world = w.chain_world()
    time_ns, txs = block_input(data)
    try:
        a, b = world.chain(0), world.chain(1)
        for raw in txs:
            _checked(a, raw, recheck=False)
            _checked(b, raw, recheck=True)
            assert a.well_formed(raw) == b.well_formed(raw)
        ra = a.finalize_block(world.height + 1, time_ns, txs)
        rb = b.finalize_block(world.height + 1, time_ns, txs)
        assert len(ra.tx_results) == len(txs), f"{len(ra.tx_results)} results for {len(txs)} txs"
        assert _summary(ra) == _summary(rb), "the same block gave different tx results"
        assert ra.events == rb.events, "the same block gave different block events"
        assert ra.app_hash == rb.app_hash, (
            f"the same block gave app hashes {ra.app_hash.hex()} and {rb.app_hash.hex()}"
        )
    finally:
        world.reset()


# ---- abci_framing -------------------------------------------------------------------


def reference_frames(stream: bytes) -> tuple[list[bytes], int, bool]:
    """(complete frames, bytes they span, whether the stream breaks the framing),
    by the rule written out (Go's binary.ReadUvarint, then CometBFT's size check):
    a uvarint of at most 10 bytes, a length of at most
    MAX_MESSAGE_BYTES, then that many bytes."""
    frames: list[bytes] = []
    pos = 0
    while True:
        length = shift = 0
        i = pos
        while True:
            if i == len(stream):
                return frames, pos, False  # incomplete header
            byte = stream[i]
            i += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if i - pos == 10:
                return frames, pos, True  # a 10th byte that is not the last (Go: overflow)
        if length > MAX_MESSAGE_BYTES:
            return frames, pos, True
        if i + length > len(stream):
            return frames, pos, False  # incomplete body
        frames.append(stream[i : i + length])
        pos = i + length


def abci_framing(data: bytes) -> None:
    """Fed in pieces, split_frames yields exactly the reference's frames, keeps
    exactly the unfinished tail, and raises FramingError (nothing else) exactly
    when the reference says the stream is broken.

    Layout: a byte n (mod 8) of cut points, n u16 cut offsets, then the stream.
    """
    r = Reader(data)
    cuts = sorted({r.u16() for _ in range(r.byte() % 8)})
    stream = r.rest()
    expected, spans, broken = reference_frames(stream)
    buf = bytearray()
    got: list[bytes] = []
    failed = False
    start = 0
    for end in [*(c for c in cuts if c < len(stream)), len(stream)]:
        buf += stream[start:end]
        start = end
        try:
            got += split_frames(buf)
        except FramingError as exc:
            assert str(exc), "a FramingError must say why"
            failed = True
            break
    assert got == expected[: len(got)], "split_frames returned a frame the reference does not"
    assert all(len(f) <= MAX_MESSAGE_BYTES for f in got)
    if broken:
        # The frames complete before the fault may be dropped with the raise:
        # the server closes the connection then, so none of them is answered.
        assert failed, "split_frames accepted a stream the reference rejects"
    else:
        assert not failed, "split_frames rejected a stream the reference accepts"
        assert got == expected, "split_frames missed a complete frame"
        assert bytes(buf) == stream[spans:], "split_frames kept something other than the tail"
    # the varint decoder on its own: a value decoded re-encodes to a decodable value
    with contextlib.suppress(FramingError):
        header = decode_uvarint(stream, 0)
        if header is not None:
            value, end = header
            assert 0 < end <= 10 and end <= len(stream)
            assert decode_uvarint(encode_uvarint(value), 0) == (value, len(encode_uvarint(value)))


# ---- abci_request -------------------------------------------------------------------

# Requests that never fail on a well-formed request of their kind: whatever the
# fields hold, the answer is of the same kind, not ResponseException.
NEVER_FAIL = frozenset(
    {
        "echo",
        "flush",
        "info",
        "query",
        "check_tx",
        "prepare_proposal",
        "process_proposal",
        "extend_vote",
        "verify_vote_extension",
        "list_snapshots",
        "load_snapshot_chunk",
        "offer_snapshot",
        "apply_snapshot_chunk",
    }
)


def abci_request(data: bytes) -> None:
    """A Request decodes or raises DecodeError; answer() returns a Response that
    serialises; requests in NEVER_FAIL get an answer of their own kind.

    Commit is not sent: it would persist the input's effects into the base
    state every later input starts from (the chain_block target covers it
    through FinalizeBlock, and integration tests through CometBFT).
    """
    try:
        request = abci.Request.FromString(data)
    except DecodeError:
        return
    kind = request.WhichOneof("value")
    if kind == "commit":
        return
    world = w.chain_world()
    try:
        app = ABCIApplication(world.chain(0))
        response = answer(app.handle, request)
        assert isinstance(response, abci.Response)
        response.SerializeToString()
        if kind in NEVER_FAIL:
            got = response.WhichOneof("value")
            assert got == kind, (
                f"{kind} was answered with {got}: {response.exception.error}"
                if got == "exception"
                else f"{kind} was answered with {got}"
            )
    finally:
        world.reset()


# ---- ics23_proof --------------------------------------------------------------------

SPEC_NAMES = sorted(SPECS)  # ["iavl", "smt", "tendermint"]


def ics23_case(data: bytes) -> tuple[str, bytes, bytes, bytes, bytes]:
    """(spec name, root, key, value, proof bytes) of an ics23_proof input.

    Layout: spec byte (index into SPEC_NAMES), root, key and value as u16
    chunks, then the CommitmentProof bytes.
    """
    r = Reader(data)
    spec = SPEC_NAMES[r.byte() % len(SPEC_NAMES)]
    root, key, value = r.chunk(), r.chunk(), r.chunk()
    return spec, root, key, value, r.rest()


def ics23_input(spec: str, root: bytes, key: bytes, value: bytes, proof: bytes) -> bytes:
    return bytes([SPEC_NAMES.index(spec)]) + chunk(root) + chunk(key) + chunk(value) + proof


def ics23_facts(data: bytes) -> list[tuple[bytes, bytes, bytes]]:
    """The (root, key, value) pairs a (valid) ics23_proof input shows present."""
    spec_name, root, key, value, raw = ics23_case(data)
    proof = proofs_pb2.CommitmentProof.FromString(raw)
    spec = SPECS[spec_name]
    facts = []
    if verify_membership(spec, root, proof, key, value):
        facts.append((root, key, value))
    if proof.WhichOneof("proof") == "nonexist" and verify_non_membership(spec, root, proof, key):
        for side in (proof.nonexist.left, proof.nonexist.right):
            if side.key:
                facts.append((root, side.key, side.value))
    return facts


def _verified(
    spec: proofs_pb2.ProofSpec,
    root: bytes,
    proof: proofs_pb2.CommitmentProof,
    key: bytes,
    value: bytes,
) -> tuple[bool, bool]:
    member = verify_membership(spec, root, proof, key, value)
    absent = verify_non_membership(spec, root, proof, key)
    assert type(member) is bool and type(absent) is bool
    return member, absent


def ics23_proof(data: bytes) -> None:
    """Verification returns a bool (the lower-level calls raise only ProofError);
    under a root we know (our store's, the public vectors'), a verified membership
    or non-membership is true of its contents; a compressed proof and its
    decompressed form verify alike."""
    world = w.proof_world()
    spec_name, root, key, value, raw = ics23_case(data)
    try:
        proof = proofs_pb2.CommitmentProof.FromString(raw)
    except DecodeError:
        return
    spec = SPECS[spec_name]
    member, absent = _verified(spec, root, proof, key, value)
    known = world.present.get(root)
    # Under a root of its own making (the fuzzer learns computed roots from the
    # verifier's comparisons) an input may prove anything about its own tree,
    # even an unsorted one; a claim is a forgery only under a root we trust.
    if known is not None:
        if member:
            assert known.get(key) == value, (
                f"{spec_name} proof verified {key.hex()} = {value.hex()} under root "
                f"{root.hex()}, which the tree does not hold (it holds "
                f"{known.get(key, b'(nothing)').hex()})"
            )
        if absent:
            assert key not in known, (
                f"{spec_name} proof verified {key.hex()} absent under root {root.hex()}, "
                "where it is present"
            )
        assert not (member and absent), "one proof verified both membership and absence"
    try:
        plain = decompress(proof)
    except ProofError:
        assert not member and not absent, "a proof that does not decompress verified"
    else:
        assert _verified(spec, root, plain, key, value) == (member, absent), (
            "decompressing changed what the proof verifies"
        )
        # An empty batch entry is skipped in a plain batch but rejects a compressed
        # one (as in the reference), so compression is exact only without them.
        if all(e.WhichOneof("proof") for e in plain.batch.entries):
            assert _verified(spec, root, compress(plain), key, value) == (member, absent), (
                "compressing changed what the proof verifies"
            )
    kind = proof.WhichOneof("proof")
    with contextlib.suppress(ProofError):
        if kind == "exist":
            calculate_root(proof.exist)
    with contextlib.suppress(ProofError):
        if kind == "exist":
            verify_existence(spec, root, proof.exist, key, value)
            assert member, "verify_existence accepted what verify_membership rejects"
    with contextlib.suppress(ProofError):
        if kind == "nonexist":
            verify_non_existence(spec, root, proof.nonexist, key)
            assert absent, "verify_non_existence accepted what verify_non_membership rejects"


# ---- light_client -------------------------------------------------------------------

UPDATE, MISBEHAVIOUR, CLIENT_STATE = 0, 1, 2


def light_client(data: bytes) -> None:
    """The light client raises only ClientError; an update it accepts is a header a
    real validator key signed, and the consensus state it returns is that header's;
    a misbehaviour it accepts is two signed, conflicting headers.

    Layout: mode byte (UPDATE, MISBEHAVIOUR, CLIENT_STATE; mod 3), scenario
    byte, then an ibc Header, Misbehaviour or ClientState.
    """
    world = w.light_client_world()
    r = Reader(data)
    mode = r.byte() % 3
    scenario = world.scenarios[r.byte() % len(world.scenarios)]
    raw = r.rest()
    try:
        if mode == UPDATE:
            header = ibc_pb2.Header.FromString(raw)
        elif mode == MISBEHAVIOUR:
            misbehaviour = ibc_pb2.Misbehaviour.FromString(raw)
        else:
            client_state = ibc_pb2.ClientState.FromString(raw)
    except DecodeError:
        return
    if mode == UPDATE:
        _update(world, scenario, scenario.client_state, header)
    elif mode == MISBEHAVIOUR:
        t1 = scenario.trusted.get(misbehaviour.header_1.trusted_height)
        t2 = scenario.trusted.get(misbehaviour.header_2.trusted_height)
        if t1 is None or t2 is None:
            return  # the keeper finds no consensus state and rejects it before
        try:
            check_misbehaviour(scenario.client_state, t1, t2, misbehaviour, scenario.now_ns)
        except ClientError as exc:
            assert str(exc)
            return
        h1 = misbehaviour.header_1.signed_header.header
        h2 = misbehaviour.header_2.signed_header.header
        for h in (h1, h2):
            assert header_hash(h) in world.genuine, (
                f"misbehaviour accepted with a header no validator signed (height {h.height})"
            )
        assert header_hash(h1) != header_hash(h2) or h1.height != h2.height
    else:
        try:
            validate_client_state(client_state)
        except ClientError as exc:
            assert str(exc)
            return
        for header in world.updates.values():
            _update(world, scenario, client_state, header)


def _update(
    world: w.LightClientWorld,
    scenario: w.Scenario,
    client_state: ibc_pb2.ClientState,
    header: ibc_pb2.Header,
) -> None:
    trusted = scenario.trusted.get(header.trusted_height)
    if trusted is None:
        return  # the keeper finds no consensus state and rejects it before
    try:
        consensus = verify_header(client_state, trusted, header, scenario.now_ns)
    except ClientError as exc:
        assert str(exc), "a ClientError must say why"
        return
    h = header.signed_header.header
    assert header_hash(h) in world.genuine, (
        f"update accepted a header no validator signed (height {h.height}, "
        f"hash {header_hash(h).hex()})"
    )
    assert consensus == consensus_state_from_header(header)
    assert consensus.root == h.app_hash and consensus.next_validators_hash == h.next_validators_hash


TARGETS: dict[str, Target] = {
    "tx_decode": tx_decode,
    "chain_block": chain_block,
    "abci_framing": abci_framing,
    "abci_request": abci_request,
    "ics23_proof": ics23_proof,
    "light_client": light_client,
}

# What each target's world costs to build, done before fuzzing starts so the
# first execution is not mistaken for a slow input.
WORLDS: dict[str, Callable[[], object]] = {
    "tx_decode": _stateless_chain,
    "chain_block": w.chain_world,
    "abci_framing": lambda: None,
    "abci_request": w.chain_world,
    "ics23_proof": w.proof_world,
    "light_client": w.light_client_world,
}
