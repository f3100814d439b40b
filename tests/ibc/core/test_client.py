"""The client keeper on two in-process chains: creation, updates, forged headers,
misbehaviour, frozen and expired clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pb.mgrid.ibc.v1 import ibc_pb2
from ibc.client import keeper as client_keeper
from tests.ibc.core.helpers import ECHO_VERSION, count, rejected, send
from tests.support.cometbft import TestValidators
from tests.support.ibcpair import NS, IBCPair

CLIENT = "07-tendermint-0"


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[IBCPair]:
    p = IBCPair(tmp_path)
    p.create_clients()
    try:
        yield p
    finally:
        p.close()


def update(pair: IBCPair, header: ibc_pb2.Header) -> tuple[str, ibc_pb2.MsgUpdateClient]:
    return "update_client", ibc_pb2.MsgUpdateClient(client_id=CLIENT, header=header)


def client_state(pair: IBCPair) -> ibc_pb2.ClientState:
    return pair.a.q("ClientState", client_id=CLIENT).client_state


def test_create_client_stores_state_and_emits(clients: IBCPair) -> None:
    cs = client_state(clients)
    assert cs.chain_id == "mg-b" and cs.frozen_height == 0
    cons = clients.a.q("ConsensusState", client_id=CLIENT).consensus_state
    assert cons == clients.b.consensus_state(cs.latest_height)
    events = [dict(e.attributes) for _, e in clients.a.events() if e.type == "create_client"]
    assert events == [
        {
            "client_id": CLIENT,
            "client_type": "07-tendermint",
            "consensus_height": str(cs.latest_height),
        }
    ]
    assert [c.client_id for c in clients.a.q("Clients").clients] == [CLIENT]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"trust_level": ibc_pb2.Fraction(numerator=1, denominator=4)}, 4),
        ({"trusting_period_ns": 0}, 4),
        ({"chain_id": ""}, 4),
        ({"frozen_height": 1}, 4),
        ({"trusting_period_ns": 1}, 4),  # already expired
    ],
)
def test_create_client_refusals(clients: IBCPair, change: dict[str, object], code: int) -> None:
    msg = ibc_pb2.MsgCreateClient(
        client_state=clients.b.client_state(**change),
        # an older consensus state, so that period 1 ns has passed in CheckTx too
        consensus_state=clients.b.consensus_state(clients.b.height - 1),
    )
    assert rejected(clients.a, ("create_client", msg)) == ("ibc", code)


def test_update_adjacent_and_skipping(clients: IBCPair) -> None:
    trusted = client_state(clients).latest_height
    clients.step()
    adjacent = trusted + 1
    clients.must(clients.a, update(clients, clients.b.header(adjacent, trusted)))
    clients.step(5)
    skipping = clients.b.height
    r = clients.must(clients.a, update(clients, clients.b.header(skipping, adjacent)))
    assert [dict(e.attributes) for e in r.events if e.type == "update_client"] == [
        {"client_id": CLIENT, "client_type": "07-tendermint", "consensus_height": str(skipping)}
    ]
    assert client_state(clients).latest_height == skipping
    heights = client_keeper.consensus_heights(clients.a.chain.block_kv, CLIENT)
    assert heights == [trusted, adjacent, skipping]
    # filling in an older height between two known ones is allowed
    clients.must(clients.a, update(clients, clients.b.header(skipping - 2, adjacent)))
    assert client_state(clients).latest_height == skipping
    assert client_keeper.consensus_heights(clients.a.chain.block_kv, CLIENT) == [
        trusted,
        adjacent,
        skipping - 2,
        skipping,
    ]


def test_identical_update_is_a_noop(clients: IBCPair) -> None:
    trusted = client_state(clients).latest_height
    clients.step(2)
    h = clients.b.height
    clients.must(clients.a, update(clients, clients.b.header(h, trusted)))
    before = list(clients.a.chain.block_kv.iterate(b"ibc/"))
    r = clients.must(clients.a, update(clients, clients.b.header(h, trusted)))
    assert [e.type for e in r.events] == ["tx", "message"]
    assert list(clients.a.chain.block_kv.iterate(b"ibc/")) == before


@pytest.mark.parametrize(
    "forgery",
    [
        "too_little_power",
        "too_little_power_skipping",
        "other_chain_id",
        "forged_validator_set",
        "changed_app_hash",
        "unknown_trusted_height",
        "future_time",
    ],
)
def test_forged_headers_are_refused(clients: IBCPair, forgery: str) -> None:
    b = clients.b
    trusted = client_state(clients).latest_height
    clients.step(3)
    h = b.height
    evil = TestValidators(4, b"evil")
    header = {
        "too_little_power": lambda: b.forged_header(h, trusted, signing_fraction=(1, 2)),
        "too_little_power_skipping": lambda: b.forged_header(
            h, trusted, signers=b.test_validators.subset([0])
        ),
        "other_chain_id": lambda: b.forged_header(h, trusted, chain_id="mg-evil"),
        "forged_validator_set": lambda: b.forged_header(
            h, trusted, validators=evil, trusted_validators=evil
        ),
        "changed_app_hash": lambda: _tampered(b.header(h, trusted)),
        "unknown_trusted_height": lambda: b.header(h, trusted + 1),
        "future_time": lambda: b.forged_header(h, trusted, time_ns=clients.a.time_ns + 60 * NS),
    }[forgery]()
    code = 8 if forgery == "unknown_trusted_height" else 7
    assert rejected(clients.a, update(clients, header)) == ("ibc", code)
    assert client_state(clients).latest_height == trusted


def _tampered(header: ibc_pb2.Header) -> ibc_pb2.Header:
    """A real signed header whose app hash was changed afterwards."""
    out = ibc_pb2.Header()
    out.CopyFrom(header)
    out.signed_header.header.app_hash = b"\x42" * 32
    return out


def test_conflicting_update_freezes_the_client(clients: IBCPair) -> None:
    """B's validators sign two different blocks at one height: the second update
    succeeds and freezes the client (evidence kept), as ibc-go does."""
    trusted = client_state(clients).latest_height
    clients.step(2)
    h = clients.b.height
    clients.must(clients.a, update(clients, clients.b.header(h, trusted)))
    other = clients.b.forged_header(h, trusted, app_hash=b"\x13" * 32)
    r = clients.must(clients.a, update(clients, other))
    assert [e.type for e in r.events if e.type.startswith("client")] == ["client_misbehaviour"]
    assert client_state(clients).frozen_height == 1
    assert client_keeper.status(clients.a.chain.block_kv, CLIENT, clients.a.time_ns) == "Frozen"


def test_time_reversal_freezes_the_client(clients: IBCPair) -> None:
    """A header between two known heights whose time is not between theirs."""
    trusted = client_state(clients).latest_height
    clients.step(4)
    h = clients.b.height
    clients.must(clients.a, update(clients, clients.b.header(h, trusted)))
    t_h = clients.b.block_meta[h][0]
    odd = clients.b.forged_header(h - 1, trusted, time_ns=t_h + 1)
    clients.must(clients.a, update(clients, odd))
    assert client_state(clients).frozen_height == 1


def _misbehaviour(pair: IBCPair) -> ibc_pb2.MsgSubmitMisbehaviour:
    trusted = client_state(pair).latest_height
    pair.step(2)
    h = pair.b.height
    return ibc_pb2.MsgSubmitMisbehaviour(
        client_id=CLIENT,
        misbehaviour=ibc_pb2.Misbehaviour(
            header_1=pair.b.header(h, trusted),
            header_2=pair.b.forged_header(h, trusted, app_hash=b"\x66" * 32),
        ),
    )


def test_misbehaviour_freezes_and_frozen_client_refuses_everything(pair: IBCPair) -> None:
    ch_a, _ = pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    p = send(pair.b, "channel-0", b"before the fork", pair=pair)
    msg = _misbehaviour(pair)
    r = pair.must(pair.a, ("submit_misbehaviour", msg))
    assert [dict(e.attributes) for e in r.events if e.type == "client_misbehaviour"] == [
        {"client_id": CLIENT, "client_type": "07-tendermint"}
    ]
    assert client_state(pair).frozen_height == 1
    # no update, no proof, no second misbehaviour, no send
    pair.step()
    h = pair.b.height
    assert rejected(pair.a, update(pair, pair.b.header(h, client_state(pair).latest_height))) == (
        "ibc",
        5,
    )
    assert rejected(pair.a, pair.recv_msg(pair.b, p)) == ("ibc", 5)
    assert rejected(pair.a, ("submit_misbehaviour", msg)) == ("ibc", 5)
    assert count(pair.a, "recv") == 0
    with pytest.raises(Exception, match="frozen"):
        send(pair.a, ch_a, b"after", pair=pair)


def test_identical_headers_are_not_misbehaviour(clients: IBCPair) -> None:
    trusted = client_state(clients).latest_height
    clients.step(2)
    h = clients.b.height
    msg = ibc_pb2.MsgSubmitMisbehaviour(
        client_id=CLIENT,
        misbehaviour=ibc_pb2.Misbehaviour(
            header_1=clients.b.header(h, trusted), header_2=clients.b.header(h, trusted)
        ),
    )
    assert rejected(clients.a, ("submit_misbehaviour", msg)) == ("ibc", 9)
    assert client_state(clients).frozen_height == 0


def test_misbehaviour_with_an_invalid_header_is_refused(clients: IBCPair) -> None:
    trusted = client_state(clients).latest_height
    clients.step(2)
    h = clients.b.height
    evil = TestValidators(4, b"evil")
    msg = ibc_pb2.MsgSubmitMisbehaviour(
        client_id=CLIENT,
        misbehaviour=ibc_pb2.Misbehaviour(
            header_1=clients.b.header(h, trusted),
            header_2=clients.b.forged_header(
                h, trusted, app_hash=b"\x66" * 32, validators=evil, trusted_validators=evil
            ),
        ),
    )
    assert rejected(clients.a, ("submit_misbehaviour", msg)) == ("ibc", 9)
    assert client_state(clients).frozen_height == 0


def test_expired_client_refuses_updates_and_proofs(tmp_path: Path) -> None:
    pair = IBCPair(tmp_path)
    period = 30 * NS
    for src, dst in ((pair.b, pair.a), (pair.a, pair.b)):
        msg = ibc_pb2.MsgCreateClient(
            client_state=src.client_state(trusting_period_ns=period),
            consensus_state=src.consensus_state(src.height),
        )
        r = pair.must(dst, ("create_client", msg))
        pair.side(dst).client_id = CLIENT
        assert r.code == 0
    pair.open_connection()
    pair.open_channel("echo", ibc_pb2.ORDER_UNORDERED, ECHO_VERSION)
    p = send(pair.b, "channel-0", b"too late", pair=pair)
    pair.step()
    recv = pair.recv_msg(pair.b, p)
    pair.advance(40)  # no update for longer than the trusting period
    assert client_keeper.status(pair.a.chain.block_kv, CLIENT, pair.a.time_ns) == "Expired"
    h = pair.b.height
    assert rejected(pair.a, update(pair, pair.b.header(h, client_state(pair).latest_height))) == (
        "ibc",
        6,
    )
    assert rejected(pair.a, recv) == ("ibc", 6)
    pair.close()


def test_expired_consensus_states_are_pruned(tmp_path: Path) -> None:
    pair = IBCPair(tmp_path)
    period = 30 * NS
    msg = ibc_pb2.MsgCreateClient(
        client_state=pair.b.client_state(trusting_period_ns=period),
        consensus_state=pair.b.consensus_state(pair.b.height),
    )
    pair.must(pair.a, ("create_client", msg))
    pair.side(pair.a).client_id = CLIENT
    first = client_state(pair).latest_height
    for _ in range(4):
        pair.advance(12)
        pair.update_client(pair.b, pair.a)
    heights = client_keeper.consensus_heights(pair.a.chain.block_kv, CLIENT)
    assert first not in heights
    assert heights[-1] == client_state(pair).latest_height
    assert client_keeper.get_consensus_state(pair.a.chain.block_kv, CLIENT, first) is None
    pair.close()
