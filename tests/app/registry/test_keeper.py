"""Registry keeper: the read API other modules use, and indexes that follow
their records."""

from __future__ import annotations

import pytest

from app import crypto
from app.modules.market.network import Bus, InvalidNetworkError, Network
from app.modules.registry import genesis, keeper
from app.pb.mgrid.registry.v1 import registry_pb2
from tests.app.registry.helpers import (
    ALICE,
    BOB,
    DAVE,
    EVE,
    METER_A,
    METER_OLD,
    REGULATOR,
    UTILITY,
    bare_context,
    registry_section,
)

addr = crypto.decode_address


def _ctx():  # type: ignore[no-untyped-def]
    ctx = bare_context()
    genesis.init_genesis(ctx, registry_section())
    return ctx


def test_authorities_and_their_checks() -> None:
    kv = _ctx().kv
    auth = keeper.get_authorities(kv)
    assert (auth.utility, auth.regulator) == (UTILITY.address, REGULATOR.address)
    keeper.require_utility(kv, addr(UTILITY.address))
    assert keeper.require_authority(kv, addr(UTILITY.address)) == "utility"
    assert keeper.require_authority(kv, addr(REGULATOR.address)) == "regulator"
    with pytest.raises(keeper.ErrUnauthorized, match="not the utility cell") as info:
        keeper.require_utility(kv, addr(REGULATOR.address))
    assert (info.value.codespace, info.value.code) == ("registry", 2)
    with pytest.raises(keeper.ErrUnauthorized, match="neither the utility cell nor"):
        keeper.require_authority(kv, addr(EVE.address))


def test_without_authorities_nobody_is_authorised() -> None:
    ctx = bare_context()
    genesis.init_genesis(ctx, {})
    auth = keeper.get_authorities(ctx.kv)
    assert (auth.utility, auth.regulator) == ("", "")
    with pytest.raises(keeper.ErrUnauthorized, match="no utility cell is configured"):
        keeper.require_utility(ctx.kv, addr(UTILITY.address))
    with pytest.raises(keeper.ErrUnauthorized, match="none configured"):
        keeper.require_authority(ctx.kv, addr(UTILITY.address))


def test_regulator_alone_may_suspend_but_not_act_as_utility() -> None:
    ctx = bare_context()
    genesis.init_genesis(ctx, {"authorities": {"regulator": REGULATOR.address}})
    assert keeper.require_authority(ctx.kv, addr(REGULATOR.address)) == "regulator"
    with pytest.raises(keeper.ErrUnauthorized, match="no utility cell"):
        keeper.require_utility(ctx.kv, addr(REGULATOR.address))


def test_network_parses_presence_of_capacity() -> None:
    network = keeper.get_network(_ctx().kv)
    assert network.buses == (
        Bus("pcc", None, 50_000),
        Bus("b1", "pcc", 20_000),
        Bus("b2", "pcc", None),  # absent = unlimited
        Bus("b3", "b1", 0),  # zero is a limit, not "absent"
    )
    assert network.root == "pcc"


def test_default_network_is_one_unlimited_root() -> None:
    ctx = bare_context()
    genesis.init_genesis(ctx, {})
    assert keeper.get_network(ctx.kv) == Network((Bus("pcc"),))
    proto = keeper.get_network_proto(ctx.kv)
    assert [b.id for b in proto.buses] == ["pcc"] and not proto.buses[0].HasField("capacity_wh")


def test_network_cache_returns_the_same_object_and_stays_bounded() -> None:
    kv = _ctx().kv
    assert keeper.get_network(kv) is keeper.get_network(kv)
    for i in range(2 * keeper._NETWORK_CACHE_SIZE):
        keeper.set_network(kv, registry_pb2.Network(buses=[registry_pb2.Bus(id=f"root{i}")]))
        assert keeper.get_network(kv).root == f"root{i}"
        assert len(keeper._NETWORK_CACHE) <= keeper._NETWORK_CACHE_SIZE


def test_set_network_refuses_a_malformed_tree() -> None:
    kv = _ctx().kv
    two_roots = registry_pb2.Network(buses=[registry_pb2.Bus(id="a"), registry_pb2.Bus(id="b")])
    with pytest.raises(InvalidNetworkError, match="exactly one root"):
        keeper.set_network(kv, two_roots)
    with pytest.raises(ValueError, match="at most 64 bytes"):
        keeper.set_network(kv, registry_pb2.Network(buses=[registry_pb2.Bus(id="x" * 65)]))
    assert keeper.get_network(kv).root == "pcc"


def test_missing_network_is_a_loud_error() -> None:
    with pytest.raises(RuntimeError, match="genesis was not applied"):
        keeper.get_network(bare_context().kv)


def test_participants_and_meters_read_api() -> None:
    kv = _ctx().kv
    alice = keeper.get_participant(kv, addr(ALICE.address))
    assert alice is not None
    assert (alice.role, alice.bus, alice.status) == (
        registry_pb2.ROLE_PROSUMER,
        "b1",
        registry_pb2.STATUS_APPROVED,
    )
    assert keeper.get_participant(kv, addr(EVE.address)) is None
    meter = keeper.get_meter(kv, METER_A)
    assert meter is not None and meter.participant == ALICE.address and not meter.revoked
    assert keeper.get_meter(kv, b"\x00" * 32) is None
    assert [m.pub_key for m in keeper.meters_of(kv, addr(ALICE.address))] == sorted(
        [METER_A, METER_OLD]
    )
    assert keeper.meters_of(kv, addr(DAVE.address)) == []


def _index(kv, prefix: bytes) -> list[bytes]:  # type: ignore[no-untyped-def]
    """The addresses in an index range (the last 20 bytes of each key)."""
    return [k[-20:] for k, _ in kv.iterate(prefix)]


def test_set_participant_moves_its_index_entries() -> None:
    kv = _ctx().kv
    bob = registry_pb2.Participant(
        address=BOB.address,
        role=registry_pb2.ROLE_CONSUMER,
        bus="b1",
        status=registry_pb2.STATUS_PENDING,
    )
    keeper.set_participant(kv, bob)
    bob_raw = addr(BOB.address)
    assert bob_raw in _index(kv, keeper.bus_index_prefix("b1"))
    assert _index(kv, keeper.status_index_prefix(registry_pb2.STATUS_PENDING)) == [bob_raw]
    bob.bus, bob.status = "b3", registry_pb2.STATUS_REJECTED
    keeper.set_participant(kv, bob)
    assert bob_raw not in _index(kv, keeper.bus_index_prefix("b1"))
    assert _index(kv, keeper.bus_index_prefix("b3")) == [bob_raw]
    assert _index(kv, keeper.status_index_prefix(registry_pb2.STATUS_PENDING)) == []
    assert _index(kv, keeper.status_index_prefix(registry_pb2.STATUS_REJECTED)) == [bob_raw]
    assert _index(kv, keeper.status_index_prefix(registry_pb2.STATUS_REJECTED, "b3")) == [bob_raw]
    assert _index(kv, keeper.status_index_prefix(registry_pb2.STATUS_REJECTED, "b1")) == []


def test_bus_index_prefixes_never_overlap() -> None:
    # "b1" must not be a prefix of "b10": the length byte tells them apart.
    assert not keeper.bus_index_prefix("b10").startswith(keeper.bus_index_prefix("b1"))
    pending = registry_pb2.STATUS_PENDING
    assert not keeper.status_index_prefix(pending, "b10").startswith(
        keeper.status_index_prefix(pending, "b1")
    )
    with pytest.raises(ValueError):
        keeper.bus_index_prefix("")
    with pytest.raises(ValueError):
        keeper.bus_index_prefix("é" * 33)  # 66 bytes of UTF-8


def test_error_codes_are_stable() -> None:
    table = {
        keeper.ErrUnauthorized: 2,
        keeper.ErrParticipantNotFound: 3,
        keeper.ErrAlreadyRegistered: 4,
        keeper.ErrInvalidStatus: 5,
        keeper.ErrUnknownBus: 6,
        keeper.ErrInvalidRole: 7,
        keeper.ErrMeterAlreadyRegistered: 8,
        keeper.ErrMeterNotFound: 9,
        keeper.ErrInvalidMeterKey: 10,
        keeper.ErrReasonTooLong: 11,
        keeper.ErrInvalidBus: 12,
    }
    for cls, code in table.items():
        assert (cls.codespace, cls.code) == ("registry", code)
