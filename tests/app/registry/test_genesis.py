"""Registry genesis: a valid section is stored as given; every invalid one is
refused with the field at fault, before anything is written."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from app import chain as chain_mod
from app import crypto
from app.modules.registry import genesis, keeper
from app.pb.mgrid.registry.v1 import registry_pb2
from tests.app.registry.helpers import (
    ALICE,
    BOB,
    DAVE,
    METER_A,
    UTILITY,
    app_state,
    bare_context,
    registry_section,
)
from tests.support.inproc import InProcessNode


def test_valid_section_is_stored() -> None:
    ctx = bare_context()
    genesis.init_genesis(ctx, registry_section())
    alice = keeper.get_participant(ctx.kv, crypto.decode_address(ALICE.address))
    assert alice == registry_pb2.Participant(
        address=ALICE.address,
        role=registry_pb2.ROLE_PROSUMER,
        bus="b1",
        status=registry_pb2.STATUS_APPROVED,
        applied_height=0,
        decided_height=0,
    )
    meter = keeper.get_meter(ctx.kv, METER_A)
    assert meter == registry_pb2.Meter(pub_key=METER_A, participant=ALICE.address)
    assert [b.id for b in keeper.get_network_proto(ctx.kv).buses] == ["pcc", "b1", "b2", "b3"]


def test_technology_and_storage_spec_are_stored() -> None:
    section = copy.deepcopy(registry_section())
    section["participants"][0]["technology"] = "solar"
    spec = {
        "capacity_wh": 80_000,
        "max_charge_w": 9_000,
        "max_discharge_w": 7_000,
        "efficiency_ppm": 850_000,
    }
    section["participants"].append(
        {"address": BOB.address, "role": "storage", "bus": "b2", "storage": spec}
    )
    ctx = bare_context()
    genesis.init_genesis(ctx, section)
    alice = keeper.get_participant(ctx.kv, crypto.decode_address(ALICE.address))
    bob = keeper.get_participant(ctx.kv, crypto.decode_address(BOB.address))
    assert alice is not None and bob is not None
    assert alice.technology == "solar" and not alice.HasField("storage")
    assert bob.storage == registry_pb2.StorageSpec(**spec)


def test_empty_section_gives_defaults_and_nothing_else() -> None:
    ctx = bare_context()
    genesis.init_genesis(ctx, {})
    assert keeper.get_network(ctx.kv).root == genesis.DEFAULT_ROOT_BUS
    assert list(ctx.kv.iterate(keeper.PARTICIPANT_PREFIX)) == []
    assert list(ctx.kv.iterate(keeper.METER_PREFIX)) == []


def test_addresses_are_stored_in_canonical_form() -> None:
    section = {"authorities": {"utility": UTILITY.address.upper()}}
    ctx = bare_context()
    genesis.init_genesis(ctx, section)
    assert keeper.get_authorities(ctx.kv).utility == UTILITY.address


def test_nulls_count_as_absent() -> None:
    section: dict[str, Any] = {
        "authorities": {"utility": None},
        "network": {"buses": [{"id": "pcc", "parent": None, "capacity_wh": None}]},
        "participants": None,
        "meters": None,
    }
    ctx = bare_context()
    genesis.init_genesis(ctx, section)
    assert keeper.get_authorities(ctx.kv).utility == ""
    assert not keeper.get_network_proto(ctx.kv).buses[0].HasField("capacity_wh")


Edit = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets ``value`` at a dotted path ("network.buses.1.parent")."""

    def edit(section: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = section
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def _append(path: str, value: Any) -> Edit:
    def edit(section: dict[str, Any]) -> None:
        section[path].append(value)

    return edit


def _delete(path: str, field: str) -> Edit:
    def edit(section: dict[str, Any]) -> None:
        node: Any = section
        for part in path.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[field]

    return edit


BAD_ADDRESS = "mg1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
COSMOS_ADDRESS = crypto.bech32_encode("cosmos", b"\x01" * 20)

GENESIS_ERRORS: list[tuple[str, Edit, str]] = [
    ("unknown top field", _set("params", {}), r"registry: unknown fields \['params'\]"),
    ("authorities not an object", _set("authorities", []), "registry.authorities: expected an object"),
    ("unknown authority", _set("authorities.operator", UTILITY.address), r"unknown fields \['operator'\]"),
    ("bad utility", _set("authorities.utility", BAD_ADDRESS), "registry.authorities.utility: bad bech32 checksum"),
    ("empty utility", _set("authorities.utility", ""), "registry.authorities.utility: bad bech32 length"),
    ("utility not a string", _set("authorities.utility", 5), "registry.authorities.utility: expected a string"),
    ("regulator other chain", _set("authorities.regulator", COSMOS_ADDRESS), "registry.authorities.regulator: address prefix is 'cosmos'"),
    ("network without buses", _delete("network", "buses"), "registry.network.buses: missing"),
    ("unknown network field", _set("network.lines", []), r"registry.network: unknown fields \['lines'\]"),
    ("no buses", _set("network.buses", []), "registry.network.buses: at least one bus"),
    ("buses not a list", _set("network.buses", {}), "registry.network.buses: expected a list"),
    ("bus not an object", _set("network.buses.1", "b1"), r"registry.network.buses\[1\]: expected an object"),
    ("unknown bus field", _set("network.buses.1.voltage", 230), r"registry.network.buses\[1\]: unknown fields \['voltage'\]"),
    ("bus without id", _delete("network.buses.1", "id"), r"registry.network.buses\[1\].id: missing"),
    ("empty bus id", _set("network.buses.1.id", ""), r"registry.network.buses\[1\].id: expected 1..64 bytes, got 0"),
    ("long bus id", _set("network.buses.1.id", "x" * 65), r"registry.network.buses\[1\].id: expected 1..64 bytes, got 65"),
    ("numeric bus id", _set("network.buses.1.id", 1), r"registry.network.buses\[1\].id: expected a string"),
    ("empty parent", _set("network.buses.1.parent", ""), r"registry.network.buses\[1\].parent: expected 1..64 bytes"),
    ("unknown parent", _set("network.buses.1.parent", "nowhere"), r"registry.network.buses\[1\].parent: unknown bus 'nowhere'"),
    ("duplicate bus", _set("network.buses.2.id", "b1"), r"registry.network.buses\[2\].id: bus 'b1' already listed"),
    ("two roots", _delete("network.buses.1", "parent"), "registry.network: expected exactly one root"),
    ("cycle", _set("network.buses.0.parent", "b3"), "registry.network: expected exactly one root"),
    ("negative capacity", _set("network.buses.1.capacity_wh", -1), r"registry.network.buses\[1\].capacity_wh: expected an integer"),
    ("bool capacity", _set("network.buses.1.capacity_wh", True), r"registry.network.buses\[1\].capacity_wh: expected an integer"),
    ("float capacity", _set("network.buses.1.capacity_wh", 10.0), r"registry.network.buses\[1\].capacity_wh: expected an integer"),
    ("string capacity", _set("network.buses.1.capacity_wh", "10"), r"registry.network.buses\[1\].capacity_wh: expected an integer"),
    ("capacity above uint64", _set("network.buses.1.capacity_wh", 2**64), r"registry.network.buses\[1\].capacity_wh: expected an integer"),
    ("participants not a list", _set("participants", {}), "registry.participants: expected a list"),
    ("unknown participant field", _set("participants.0.status", "approved"), r"registry.participants\[0\]: unknown fields \['status'\]"),
    ("participant without role", _delete("participants.0", "role"), r"registry.participants\[0\].role: missing"),
    ("participant without bus", _delete("participants.0", "bus"), r"registry.participants\[0\].bus: missing"),
    ("bad participant address", _set("participants.1.address", BAD_ADDRESS), r"registry.participants\[1\].address: bad bech32"),
    ("unknown role", _set("participants.0.role", "miner"), r"registry.participants\[0\].role: expected one of \['consumer', 'producer', 'prosumer', 'storage'\], got 'miner'"),
    ("numeric role", _set("participants.0.role", 1), r"registry.participants\[0\].role: expected a string"),
    ("unknown participant bus", _set("participants.0.bus", "b9"), r"registry.participants\[0\].bus: 'b9' is not a bus"),
    ("duplicate participant", _append("participants", {"address": ALICE.address, "role": "consumer", "bus": "b2"}), r"registry.participants\[2\].address: .* already listed at registry.participants\[0\]"),
    ("duplicate participant, other case", _append("participants", {"address": ALICE.address.upper(), "role": "consumer", "bus": "b2"}), r"registry.participants\[2\].address: .* already listed"),
    ("bad technology", _set("participants.0.technology", "Solar PV"), r"registry.participants\[0\].technology: 2..16 chars"),
    ("storage spec on a prosumer", _set("participants.0.storage", {"capacity_wh": 1, "max_charge_w": 1, "max_discharge_w": 1, "efficiency_ppm": 1}), r"registry.participants\[0\].storage: only role storage states one, not prosumer"),
    ("storage without spec", _set("participants.0.role", "storage"), r"registry.participants\[0\].storage: role storage must state"),
    ("storage spec missing a field", _append("participants", {"address": BOB.address, "role": "storage", "bus": "b2", "storage": {"capacity_wh": 1}}), r"registry.participants\[2\].storage.max_charge_w: missing"),
    ("storage efficiency zero", _append("participants", {"address": BOB.address, "role": "storage", "bus": "b2", "storage": {"capacity_wh": 1, "max_charge_w": 1, "max_discharge_w": 1, "efficiency_ppm": 0}}), r"registry.participants\[2\].storage.efficiency_ppm: must be in 1..1000000"),
    ("unknown meter field", _set("meters.0.active", True), r"registry.meters\[0\]: unknown fields \['active'\]"),
    ("meter without key", _delete("meters.0", "pub_key"), r"registry.meters\[0\].pub_key: missing"),
    ("meter key not hex", _set("meters.0.pub_key", "zz" * 32), r"registry.meters\[0\].pub_key: expected hexadecimal digits"),
    ("meter key with spaces", _set("meters.0.pub_key", "ab " * 32), r"registry.meters\[0\].pub_key: expected hexadecimal digits"),
    ("meter key odd length", _set("meters.0.pub_key", "a" * 63), r"registry.meters\[0\].pub_key: expected hexadecimal digits"),
    ("meter key short", _set("meters.0.pub_key", "ab" * 31), r"registry.meters\[0\].pub_key: expected 32 bytes \(64 hex digits\), got 31"),
    ("meter key as bytes list", _set("meters.0.pub_key", [1, 2]), r"registry.meters\[0\].pub_key: expected a string"),
    ("duplicate meter", _set("meters.1.pub_key", METER_A.hex().upper()), r"registry.meters\[1\].pub_key: .* already listed at registry.meters\[0\]"),
    ("meter of a non-participant", _set("meters.1.participant", BOB.address), r"registry.meters\[1\].participant: .* is not listed in registry.participants"),
    ("meter of a bad address", _set("meters.1.participant", "nobody"), r"registry.meters\[1\].participant: bad bech32 length"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "message"),
    [pytest.param(edit, message, id=name) for name, edit, message in GENESIS_ERRORS],
)
def test_invalid_section_is_refused_before_any_write(edit: Edit, message: str) -> None:
    section = copy.deepcopy(registry_section())
    edit(section)
    ctx = bare_context()
    with pytest.raises(genesis.GenesisError, match=message):
        genesis.init_genesis(ctx, section)
    assert ctx.kv.writes == {}


def test_section_must_be_an_object() -> None:
    with pytest.raises(genesis.GenesisError, match="registry: expected an object"):
        genesis.init_genesis(bare_context(), [])  # type: ignore[arg-type]


def test_the_chain_refuses_to_start_with_a_bad_section(tmp_path) -> None:  # type: ignore[no-untyped-def]
    section = registry_section()
    section["participants"][1]["bus"] = "b9"
    with pytest.raises(chain_mod.GenesisError, match=r"registry.participants\[1\].bus"):
        InProcessNode(tmp_path, app_state(section))


def test_genesis_participants_are_approved_at_height_zero(tmp_path) -> None:  # type: ignore[no-untyped-def]
    node = InProcessNode(tmp_path, app_state())
    try:
        req = registry_pb2.QueryParticipantRequest(address=DAVE.address)
        dave = node.query(registry_pb2.DESCRIPTOR, "Participant", req).participant
        assert (dave.status, dave.applied_height, dave.decided_height) == (
            registry_pb2.STATUS_APPROVED,
            0,
            0,
        )
    finally:
        node.close()
