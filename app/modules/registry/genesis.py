"""Registry genesis: the authorities, the network, and participants and meters
admitted from the start.

The ``registry`` section of app_state (every field optional)::

    {"authorities": {"utility": "mg1...", "regulator": "mg1..."},
     "network": {"buses": [{"id": "pcc", "capacity_wh": 50000},
                           {"id": "b1", "parent": "pcc", "capacity_wh": 20000}]},
     "participants": [{"address": "mg1...", "role": "prosumer", "bus": "b1",
                       "technology": "solar"},
                      {"address": "mg1...", "role": "storage", "bus": "b1",
                       "storage": {"capacity_wh": 100000, "max_charge_w": 20000,
                                   "max_discharge_w": 20000, "efficiency_ppm": 900000}}],
     "meters": [{"pub_key": "<64 hex chars>", "participant": "mg1..."}]}

Without a network the microgrid is a single root bus ``pcc`` (the point of
common coupling) with no capacity limit. A bus without ``parent`` is the
root; without ``capacity_wh`` its line is unlimited; ``loss_ppm`` (default 0)
is the share of energy lost on the line to the parent, which settlement
applies to metered energy. Genesis participants
are approved at height 0; genesis meters must belong to a genesis
participant. A field given as null counts as absent. Unknown fields are
errors, so that a misspelt field is never silently ignored.
"""

from __future__ import annotations

import re
from typing import Any

from app import crypto
from app.context import Context
from app.modules.market.network import InvalidNetworkError
from app.modules.registry import keeper
from app.pb.mgrid.registry.v1 import registry_pb2

DEFAULT_ROOT_BUS = "pcc"
MAX_UINT64 = 2**64 - 1
_HEX = re.compile(r"[0-9a-fA-F]*")
ROLES_BY_NAME: dict[str, registry_pb2.Role] = {
    name: role for role, name in keeper.ROLE_NAMES.items()
}


class GenesisError(ValueError):
    """The registry section of app_state is invalid; the message names the field."""


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    """Validate the whole section, then write it (nothing is written on error)."""
    _fields(
        section,
        "registry",
        required=(),
        optional=("authorities", "network", "participants", "meters"),
    )
    authorities = _authorities(section.get("authorities"))
    network = _network(section.get("network"))
    participants = _participants(section.get("participants"), network)
    meters = _meters(section.get("meters"), {p.address for p in participants})
    keeper.set_authorities(ctx.kv, authorities)
    keeper.set_network(ctx.kv, network)
    for participant in participants:
        keeper.set_participant(ctx.kv, participant)
    for meter in meters:
        keeper.set_meter(ctx.kv, meter)


# --- shape checks ----------------------------------------------------------


def _fields(
    value: Any, where: str, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    """``value`` as an object with exactly the known fields, the required ones non-null."""
    if not isinstance(value, dict):
        raise GenesisError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise GenesisError(f"{where}: unknown fields {unknown}")
    for name in required:
        if value.get(name) is None:
            raise GenesisError(f"{where}.{name}: missing")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise GenesisError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise GenesisError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _address(value: Any, where: str) -> str:
    """A valid bech32 ``mg`` address, returned in canonical (lower-case) form."""
    try:
        return crypto.encode_address(crypto.decode_address(_string(value, where)))
    except crypto.AddressError as exc:
        raise GenesisError(f"{where}: {exc}") from None


# --- sections --------------------------------------------------------------


def _authorities(value: Any) -> registry_pb2.Authorities:
    if value is None:
        return registry_pb2.Authorities()
    _fields(value, "registry.authorities", required=(), optional=("utility", "regulator"))
    authorities = registry_pb2.Authorities()
    if value.get("utility") is not None:
        authorities.utility = _address(value["utility"], "registry.authorities.utility")
    if value.get("regulator") is not None:
        authorities.regulator = _address(value["regulator"], "registry.authorities.regulator")
    return authorities


def _network(value: Any) -> registry_pb2.Network:
    if value is None:
        return registry_pb2.Network(buses=[registry_pb2.Bus(id=DEFAULT_ROOT_BUS)])
    _fields(value, "registry.network", required=("buses",), optional=())
    entries = _list(value["buses"], "registry.network.buses")
    if not entries:
        raise GenesisError("registry.network.buses: at least one bus (the root) is required")
    network = registry_pb2.Network()
    for i, entry in enumerate(entries):
        where = f"registry.network.buses[{i}]"
        _fields(entry, where, required=("id",), optional=("parent", "capacity_wh", "loss_ppm"))
        bus = network.buses.add(id=_bus_id(entry["id"], f"{where}.id"))
        if entry.get("parent") is not None:
            bus.parent = _bus_id(entry["parent"], f"{where}.parent")
        capacity = entry.get("capacity_wh")
        if capacity is not None:
            if type(capacity) is not int or not 0 <= capacity <= MAX_UINT64:
                raise GenesisError(
                    f"{where}.capacity_wh: expected an integer in 0..{MAX_UINT64} or null, "
                    f"got {capacity!r}"
                )
            bus.capacity_wh = capacity
        loss = entry.get("loss_ppm", 0)
        if type(loss) is not int or not 0 <= loss < 1_000_000:
            raise GenesisError(
                f"{where}.loss_ppm: expected an integer in 0..999999 (parts per million), "
                f"got {loss!r}"
            )
        bus.loss_ppm = loss
    try:
        keeper.network_from_proto(network)
    except InvalidNetworkError as exc:
        message = str(exc)
        if message.startswith("network:"):  # about the whole network, not one bus
            raise GenesisError(f"registry.{message}") from None
        raise GenesisError(f"registry.network.{message}") from None
    return network


def _bus_id(value: Any, where: str) -> str:
    bus = _string(value, where)
    if not 0 < len(bus.encode()) <= keeper.MAX_BUS_ID_BYTES:
        raise GenesisError(
            f"{where}: expected 1..{keeper.MAX_BUS_ID_BYTES} bytes, got {len(bus.encode())}"
        )
    return bus


def _participants(value: Any, network: registry_pb2.Network) -> list[registry_pb2.Participant]:
    bus_ids = [bus.id for bus in network.buses]
    seen: dict[str, int] = {}
    out: list[registry_pb2.Participant] = []
    for i, entry in enumerate(_list(value, "registry.participants")):
        where = f"registry.participants[{i}]"
        _fields(
            entry,
            where,
            required=("address", "role", "bus"),
            optional=("technology", "storage"),
        )
        address = _address(entry["address"], f"{where}.address")
        if address in seen:
            raise GenesisError(
                f"{where}.address: {address} already listed at registry.participants[{seen[address]}]"
            )
        seen[address] = i
        role = ROLES_BY_NAME.get(_string(entry["role"], f"{where}.role"))
        if role is None:
            raise GenesisError(
                f"{where}.role: expected one of {sorted(ROLES_BY_NAME)}, got {entry['role']!r}"
            )
        bus = _string(entry["bus"], f"{where}.bus")
        if bus not in bus_ids:
            raise GenesisError(f"{where}.bus: {bus!r} is not a bus of the network {bus_ids}")
        participant = registry_pb2.Participant(
            address=address,
            role=role,
            bus=bus,
            status=registry_pb2.STATUS_APPROVED,
            applied_height=0,
            decided_height=0,
        )
        if entry.get("technology") is not None:
            try:
                participant.technology = keeper.check_technology(
                    _string(entry["technology"], f"{where}.technology")
                )
            except keeper.ErrInvalidTechnology as exc:
                raise GenesisError(f"{where}.{exc.detail}") from None
        spec = _storage_spec(entry.get("storage"), f"{where}.storage")
        try:
            keeper.check_storage_spec(role, spec)
        except keeper.ErrInvalidStorageSpec as exc:
            raise GenesisError(f"{where}.{exc.detail}") from None
        if spec is not None:
            participant.storage.CopyFrom(spec)
        out.append(participant)
    return out


_SPEC_FIELDS = ("capacity_wh", "max_charge_w", "max_discharge_w", "efficiency_ppm")


def _storage_spec(value: Any, where: str) -> registry_pb2.StorageSpec | None:
    if value is None:
        return None
    _fields(value, where, required=_SPEC_FIELDS, optional=())
    for name in _SPEC_FIELDS:
        if type(value[name]) is not int or not 0 <= value[name] <= MAX_UINT64:
            raise GenesisError(f"{where}.{name}: expected an integer, got {value[name]!r}")
    return registry_pb2.StorageSpec(**{name: value[name] for name in _SPEC_FIELDS})


def _meters(value: Any, participants: set[str]) -> list[registry_pb2.Meter]:
    seen: dict[bytes, int] = {}
    out: list[registry_pb2.Meter] = []
    for i, entry in enumerate(_list(value, "registry.meters")):
        where = f"registry.meters[{i}]"
        _fields(entry, where, required=("pub_key", "participant"), optional=())
        text = _string(entry["pub_key"], f"{where}.pub_key")
        if not _HEX.fullmatch(text) or len(text) % 2:
            raise GenesisError(f"{where}.pub_key: expected hexadecimal digits, got {text!r}")
        pub_key = bytes.fromhex(text)
        if len(pub_key) != keeper.METER_KEY_LEN:
            raise GenesisError(
                f"{where}.pub_key: expected {keeper.METER_KEY_LEN} bytes "
                f"({2 * keeper.METER_KEY_LEN} hex digits), got {len(pub_key)}"
            )
        if pub_key in seen:
            raise GenesisError(
                f"{where}.pub_key: {text} already listed at registry.meters[{seen[pub_key]}]"
            )
        seen[pub_key] = i
        participant = _address(entry["participant"], f"{where}.participant")
        if participant not in participants:
            raise GenesisError(
                f"{where}.participant: {participant} is not listed in registry.participants"
            )
        out.append(registry_pb2.Meter(pub_key=pub_key, participant=participant))
    return out
