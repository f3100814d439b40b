"""Property tests where structured generation beats byte mutation.

Coverage-guided fuzzing (run.py) is good at wandering into odd corners of a
parser; hypothesis is better when the input must be well-formed to mean
anything: whole frame streams cut anywhere, a valid signed transaction with
exactly one byte changed, and sequences of blocks of valid transactions
replayed on two fresh nodes. (ICS-23 proofs and light client headers have
their hypothesis tests beside their code: tests/ibc/commitment/
test_ics23_fuzz.py and tests/ibc/client/test_malformed.py.)
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path
from typing import Any

from google.protobuf import message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.abci.adapter import ABCIApplication
from app.abci.server import (
    MAX_MESSAGE_BYTES,
    FramingError,
    answer,
    encode_uvarint,
    frame,
    split_frames,
)
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.pb.tendermint.abci import types_pb2 as abci
from app.router import QUERY_ROUTES
from app.tx import codec
from tests.app.market.conftest import START, Market
from tests.app.storage.conftest import storage_state
from tests.fuzz import targets
from tests.fuzz import world as w
from tests.support.inproc import InProcessNode

CORPUS = Path(__file__).resolve().parent / "corpus"
EXAMPLES = int(os.environ.get("MGRID_FUZZ_EXAMPLES", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


# ---- ABCI framing ----------------------------------------------------------------------


@SETTINGS
@given(
    messages=st.lists(st.binary(max_size=300), max_size=8),
    cuts=st.lists(st.integers(0, 3000), max_size=10),
)
def test_frames_survive_any_cuts(messages: list[bytes], cuts: list[int]) -> None:
    """However the stream is cut into reads, the frames come out whole and in order."""
    stream = b"".join(frame(m) for m in messages)
    buf = bytearray()
    got: list[bytes] = []
    start = 0
    for end in [*sorted(c for c in set(cuts) if c < len(stream)), len(stream)]:
        buf += stream[start:end]
        start = end
        got += split_frames(buf)
    assert got == messages
    assert buf == bytearray()


@SETTINGS
@given(
    length=st.one_of(
        st.integers(MAX_MESSAGE_BYTES + 1, 2**64 - 1), st.integers(2**20, MAX_MESSAGE_BYTES)
    ),
    body=st.binary(max_size=64),
)
def test_a_length_header_allocates_nothing_ahead(length: int, body: bytes) -> None:
    """A header announcing a huge frame is refused (above the limit) or waited on
    (below it) without allocating for the announced size."""
    buf = bytearray(encode_uvarint(length) + body)
    tracemalloc.start()
    try:
        try:
            frames = split_frames(buf)
        except FramingError:
            assert length > MAX_MESSAGE_BYTES
        else:
            assert length <= MAX_MESSAGE_BYTES and frames == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024, f"split_frames allocated {peak} bytes for a {len(buf)}-byte buffer"


# ---- transactions ----------------------------------------------------------------------


def _valid_txs() -> list[bytes]:
    """The signed txs of the chain_block seeds that pass CheckTx on the base state."""
    world = w.chain_world()
    out = []
    for path in sorted((CORPUS / "chain_block").glob("*")):
        _, txs = targets.block_input(path.read_bytes())
        try:
            chain = world.chain(0)
            out += [tx for tx in txs if chain.check_tx(tx).code == 0]
        finally:
            world.reset()
    assert len(out) > 20
    return out


VALID_TXS = _valid_txs()


@SETTINGS
@given(tx=st.sampled_from(VALID_TXS), where=st.integers(min_value=0), flip=st.integers(1, 255))
def test_one_changed_byte_never_passes_checktx(tx: bytes, where: int, flip: int) -> None:
    """A valid signed tx with any one byte changed is rejected and changes nothing:
    the signature covers the body, the signer is bound to the key, and the
    encoding is canonical."""
    world = w.chain_world()
    mutated = bytearray(tx)
    mutated[where % len(tx)] ^= flip
    try:
        chain = world.chain(0)
        before = dict(chain.check_kv.writes)
        result = chain.check_tx(bytes(mutated))
        assert result.code != 0, f"a tx with byte {where % len(tx)} changed passed CheckTx"
        assert chain.check_kv.writes == before
    finally:
        world.reset()


# ---- blocks on two fresh nodes ---------------------------------------------------------

SENDERS = (w.KEYS[2], w.KEYS[3], w.KEYS[4], w.KEYS[6])  # ALICE, BOB, CAROL, EVE: funded, registered

tx_specs = st.one_of(
    st.tuples(
        st.just("send"), st.sampled_from(range(4)), st.sampled_from(range(10)),
        st.integers(0, 500_000),
    ),
    st.tuples(
        st.just("order"), st.sampled_from(range(4)), st.booleans(), st.integers(0, 3),
        st.integers(1, 3000), st.one_of(st.none(), st.integers(0, 400)),
    ),
    st.tuples(st.just("cancel"), st.sampled_from(range(4)), st.integers(0, 12)),
)  # fmt: skip
blocks = st.lists(
    st.tuples(st.integers(1, 90), st.lists(tx_specs, max_size=4)), min_size=1, max_size=4
)


def _sign(spec: tuple, sequences: dict[str, int], first_open: int) -> bytes:  # type: ignore[type-arg]
    signer = SENDERS[spec[1]]
    body = tx_pb2.TxBody(
        chain_id=w.CHAIN_ID, signer=signer.address, sequence=sequences[signer.address]
    )
    sequences[signer.address] += 1
    msg = body.messages.add()
    if spec[0] == "send":
        msg.send.to_address = w.KEYS[spec[2]].address
        msg.send.amount.append(coin_pb2.Coin(denom="ugrid", amount=str(spec[3])))
    elif spec[0] == "order":
        _, _, sell, ahead, wh, price = spec
        msg.place_order.side = market_pb2.SIDE_SELL if sell else market_pb2.SIDE_BUY
        msg.place_order.interval = first_open + ahead
        msg.place_order.quantity_wh = wh
        if price is not None:
            msg.place_order.price = price
    else:
        msg.cancel_order.order_id = spec[2]
    return codec.sign_tx(body, signer)


@settings(
    max_examples=max(4, EXAMPLES // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=blocks)
def test_blocks_agree_on_two_fresh_nodes(tmp_path_factory, plan) -> None:  # type: ignore[no-untyped-def]
    """The same blocks of sends, orders and cancels, through intervals' gate closures,
    give the same tx results and app hash at every height on two fresh nodes
    (each runs with check_invariants=True: supply and escrow are checked per block)."""
    nodes = [
        InProcessNode(tmp_path_factory.mktemp("node"), storage_state(), start_time=START)
        for _ in range(2)
    ]
    try:
        first_open = Market(nodes[0]).schedule().first_open
        sequences = {k.address: 0 for k in SENDERS}
        for seconds, specs in plan:
            txs = [_sign(spec, sequences, first_open) for spec in specs]
            a, b = (n.commit_block(list(txs), seconds=seconds) for n in nodes)
            assert [(r.code, r.log, r.events) for r in a.tx_results] == [
                (r.code, r.log, r.events) for r in b.tx_results
            ]
            assert a.events == b.events
            assert a.app_hash == b.app_hash
        assert nodes[0].chain.app_hash() == nodes[1].chain.app_hash()
    finally:
        for n in nodes:
            n.close()


# ---- any message, any field values, through a block --------------------------------------

_INT_EDGES = {
    "uint64": [0, 1, 2, 59, 60, 1000, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1],
    "int64": [0, 1, -1, 60, 2**31, -(2**31), 2**63 - 1, -(2**63)],
    "uint32": [0, 1, 2, 7, 2**31, 2**32 - 1],
    "int32": [0, 1, -1, 2**31 - 1, -(2**31)],
}
_NUMERIC_STRINGS = ["0", "1", "-1", "10", "1e3", "1/3", "3/0", "0/0", "1/2", " 5", "", "x",
                    "99999999999999999999999999999999", "ugrid", "b1", "b2", "pcc", "uniform",
                    "vcg", "mcafee", "discriminatory"]  # fmt: skip
_ID_FIELDS = ("interval", "order_id", "event_id", "need_id", "margin_id")


@st.composite
def message_of(draw: st.DrawFn, descriptor: Any, depth: int = 0) -> Any:
    """A message of ``descriptor``'s type with every field drawn from values that
    matter: edges of its integer type, placeholders and numeric strings, meter keys,
    unknown enum numbers, nested messages; the chain world's interval numbers and
    small ids for fields named like them."""
    world = w.chain_world()
    cls = message_factory.GetMessageClass(descriptor)
    msg = cls()
    intervals = [world.settling_interval, world.open_interval, world.open_interval + 2]
    for field in descriptor.fields:
        if field.containing_oneof is not None and draw(st.booleans()):
            continue
        if not draw(st.integers(0, 3)):
            continue  # leave it unset
        if field.message_type is not None:
            if depth >= 3 or field.message_type.GetOptions().map_entry:
                continue
            count = draw(st.integers(1, 2)) if field.is_repeated else 1
            for _ in range(count):
                sub = draw(message_of(field.message_type, depth + 1))
                target = getattr(msg, field.name)
                (target.add() if field.is_repeated else target).CopyFrom(sub)
            continue
        kind = field.type
        values: st.SearchStrategy[Any]
        if kind == field.TYPE_STRING:
            values = st.sampled_from([*w.PLACEHOLDERS, *_NUMERIC_STRINGS]) | st.text(max_size=8)
        elif kind == field.TYPE_BYTES:
            blobs: list[bytes] = [*w.BLOBS, b"", b"\x00" * 32]
            values = st.sampled_from(blobs) | st.binary(max_size=40)
        elif kind == field.TYPE_BOOL:
            values = st.booleans()
        elif kind == field.TYPE_ENUM:
            values = st.sampled_from([v.number for v in field.enum_type.values] + [99])
        else:
            name = {
                field.TYPE_UINT64: "uint64", field.TYPE_FIXED64: "uint64",
                field.TYPE_INT64: "int64", field.TYPE_SINT64: "int64",
                field.TYPE_SFIXED64: "int64", field.TYPE_UINT32: "uint32",
                field.TYPE_FIXED32: "uint32",
            }.get(kind, "int32")  # fmt: skip
            edges = _INT_EDGES[name]
            if field.name in _ID_FIELDS or field.name.endswith("_id"):
                edges = [*intervals, 0, 1, 2, 3, 5, 6]
            # plausible quantities and prices too, so that some messages pass
            values = st.sampled_from(edges) | st.sampled_from([10, 100, 150, 250, 1000, 5000])
        if field.is_repeated:
            getattr(msg, field.name).extend(draw(st.lists(values, max_size=3)))
        else:
            setattr(msg, field.name, draw(values))
    return msg


# IBC messages are most of the Msg oneof, but need a client and a connection to get
# anywhere: the market-side ones are drawn more often.
_IBC_FIELDS = [f for f in tx_pb2.Msg.DESCRIPTOR.fields if 60 <= f.number < 100]
_LOCAL_FIELDS = [f for f in tx_pb2.Msg.DESCRIPTOR.fields if f not in _IBC_FIELDS]


@st.composite
def any_tx(draw: st.DrawFn) -> tuple[int, bytes]:
    field = draw(st.sampled_from(_LOCAL_FIELDS) | st.sampled_from(_IBC_FIELDS))
    inner = draw(message_of(field.message_type))
    body = tx_pb2.TxBody()
    getattr(body.messages.add(), field.name).CopyFrom(inner)
    signer = draw(st.integers(0, len(w.KEYS) - 1))
    return targets.SIGNED | signer, body.SerializeToString(deterministic=True)


@SETTINGS
@given(offset=st.integers(0, 255), txs=st.lists(any_tx(), min_size=1, max_size=4))
def test_any_message_through_a_block(offset: int, txs: list[tuple[int, bytes]]) -> None:
    """Every message kind, with edge values in every field, signed by any key, through
    CheckTx, Recheck and FinalizeBlock on two nodes (the chain_block target's checks)."""
    data = bytes([offset]) + b"".join(bytes([k]) + targets.chunk(b) for k, b in txs)
    targets.chain_block(data)


def _scalar_fields(msg: Any, depth: int = 0) -> list[tuple[Any, Any]]:
    """(message, scalar field) pairs reachable in ``msg``: its own scalar fields and
    those of its set sub-messages (depth <= 3)."""
    out = []
    for field in msg.DESCRIPTOR.fields:
        if field.message_type is None:
            out.append((msg, field))
        elif depth < 3 and not field.message_type.GetOptions().map_entry:
            if field.is_repeated:
                for item in getattr(msg, field.name):
                    out += _scalar_fields(item, depth + 1)
            elif msg.HasField(field.name):
                out += _scalar_fields(getattr(msg, field.name), depth + 1)
    return out


def _seed_bodies() -> list[tuple[int, int, bytes]]:
    """(block offset, kind, body) of every signed tx in the chain_block seeds."""
    out = []
    for path in sorted((CORPUS / "chain_block").glob("*")):
        r = targets.Reader(path.read_bytes())
        offset = r.byte()
        while r.remaining():
            kind, body = r.byte(), r.chunk()
            if kind & targets.SIGNED:
                out.append((offset, kind, body))
    return out


SEED_BODIES = _seed_bodies()


@st.composite
def mutated_seed_tx(draw: st.DrawFn) -> tuple[int, int, bytes]:
    """A seed's tx body with one to three scalar fields set to an edge value."""
    offset, kind, raw = draw(st.sampled_from(SEED_BODIES))
    body = tx_pb2.TxBody.FromString(raw)
    for _ in range(draw(st.integers(1, 3))):
        fields = [pair for m in body.messages for pair in _scalar_fields(m)]
        msg, field = draw(st.sampled_from(fields))
        probe = draw(message_of(msg.DESCRIPTOR))  # a value of the right type
        if probe.HasField(field.name) if field.has_presence else True:
            value = getattr(probe, field.name)
            if field.is_repeated:
                getattr(msg, field.name)[:] = list(value)
            else:
                setattr(msg, field.name, value)
    return offset, kind, body.SerializeToString(deterministic=True)


@SETTINGS
@given(txs=st.lists(mutated_seed_tx(), min_size=1, max_size=3), later=st.integers(0, 60))
def test_seed_messages_with_edge_values_through_a_block(
    txs: list[tuple[int, int, bytes]], later: int
) -> None:
    """The seeds' messages, each with a few fields at an edge of their type, through
    CheckTx, Recheck and FinalizeBlock on two nodes (the chain_block target's checks)."""
    offset = min(255, txs[0][0] + later)
    data = bytes([offset]) + b"".join(bytes([k]) + targets.chunk(b) for _, k, b in txs)
    targets.chain_block(data)


# ---- any query ---------------------------------------------------------------------------

_ROUTES = sorted(QUERY_ROUTES.values(), key=lambda r: r.path)


@st.composite
def any_query(draw: st.DrawFn) -> tuple[str, bytes]:
    route = draw(st.sampled_from(_ROUTES))
    request = draw(message_of(route.request_type.DESCRIPTOR))
    w.substitute(request, w.PLACEHOLDERS, w.BLOBS)
    return route.path, request.SerializeToString(deterministic=True)


@SETTINGS
@given(
    query=any_query(),
    height=st.sampled_from([0, 1, 2, -1, 10**12, 2**63 - 1]),
    prove=st.booleans(),
)
def test_any_query_is_answered(query: tuple[str, bytes], height: int, prove: bool) -> None:
    """Every query route, with edge values in every request field, at any height:
    ABCI Query answers with a result (a code and a log when it fails), never an
    exception (anyone can send these through CometBFT's RPC)."""
    world = w.chain_world()
    path, data = query
    request = abci.Request(
        query=abci.RequestQuery(path=path, data=data, height=height, prove=prove)
    )
    try:
        response = answer(ABCIApplication(world.chain(0)).handle, request)
    finally:
        world.reset()
    kind = response.WhichOneof("value")
    assert kind == "query", f"{path} answered with {kind}: {response.exception.error}"
    assert response.query.code == 0 or response.query.log
