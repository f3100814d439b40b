"""Registry keeper: participants, meters, the network and the authorities.

Keys (prefix 0x03):
    0x03 0x00                                      -> Authorities (protobuf)
    0x03 0x01                                      -> Network (protobuf)
    0x03 0x10 | address(20)                        -> Participant (protobuf)
    0x03 0x11 | busref | address(20)               -> 0x01  participants by bus
    0x03 0x12 | status(1) | busref | address(20)   -> 0x01  participants by status, bus
    0x03 0x20 | meter pub_key(32)                  -> Meter (protobuf)
    0x03 0x21 | address(20) | meter pub_key(32)    -> 0x01  meters by participant
where busref = len(bus id)(1) | bus id (UTF-8).

Every filter of the Participants query is one contiguous key range: all
(0x10), one bus (0x11 | busref), one status (0x12 | status) or one status
on one bus (0x12 | status | busref); the address is always the last 20
bytes of an index key. The bus id is length-prefixed so that one bus's
range never contains another's ("b1" and "b10" differ in the length byte);
ids are at most ``MAX_BUS_ID_BYTES`` bytes of UTF-8 for that reason.
Participant records change only through ``set_participant`` and meters only
through ``set_meter``, which keep the indexes in step with the records.

The utility cell and the regulator (the *authorities*) are fixed in
genesis. Which of them may do what is decided by the message handlers
(``msgs``) through ``require_utility`` and ``require_authority``; the market
module uses the same checks for its own utility-only messages.
"""

from __future__ import annotations

import re

from app import crypto
from app.errors import register
from app.kv import KV, CacheKV
from app.modules import PREFIX_REGISTRY
from app.modules.market.network import Bus, Network
from app.pb.mgrid.registry.v1 import registry_pb2

ErrUnauthorized = register("registry", 2, "unauthorized")
ErrParticipantNotFound = register("registry", 3, "participant not found")
ErrAlreadyRegistered = register("registry", 4, "already registered")
ErrInvalidStatus = register("registry", 5, "invalid status")
ErrUnknownBus = register("registry", 6, "unknown bus")
ErrInvalidRole = register("registry", 7, "invalid role")
ErrMeterAlreadyRegistered = register("registry", 8, "meter already registered")
ErrMeterNotFound = register("registry", 9, "meter not found")
ErrInvalidMeterKey = register("registry", 10, "invalid meter key")
ErrReasonTooLong = register("registry", 11, "reason too long")
ErrInvalidBus = register("registry", 12, "invalid bus id")
ErrInvalidStorageSpec = register("registry", 13, "invalid storage spec")
ErrInvalidTechnology = register("registry", 14, "invalid technology")

MAX_BUS_ID_BYTES = 64
MAX_REASON_CHARS = 256
METER_KEY_LEN = crypto.PUBKEY_LEN
PPM = 1_000_000
MAX_STORAGE_WH = 10**15  # 1 TWh: far above any community battery, far below overflow
TECHNOLOGY_RE = re.compile(r"[a-z][a-z0-9_]{1,15}")

_AUTHORITIES = PREFIX_REGISTRY + b"\x00"
_NETWORK = PREFIX_REGISTRY + b"\x01"
PARTICIPANT_PREFIX = PREFIX_REGISTRY + b"\x10"
BY_BUS_PREFIX = PREFIX_REGISTRY + b"\x11"
BY_STATUS_PREFIX = PREFIX_REGISTRY + b"\x12"
METER_PREFIX = PREFIX_REGISTRY + b"\x20"
METERS_OF_PREFIX = PREFIX_REGISTRY + b"\x21"
_INDEX_VALUE = b"\x01"

# Names used in genesis, events and error messages.
ROLE_NAMES: dict[registry_pb2.Role, str] = {
    registry_pb2.ROLE_PROSUMER: "prosumer",
    registry_pb2.ROLE_CONSUMER: "consumer",
    registry_pb2.ROLE_PRODUCER: "producer",
    registry_pb2.ROLE_STORAGE: "storage",
}
STATUS_NAMES: dict[registry_pb2.Status, str] = {
    registry_pb2.STATUS_PENDING: "pending",
    registry_pb2.STATUS_APPROVED: "approved",
    registry_pb2.STATUS_REJECTED: "rejected",
    registry_pb2.STATUS_SUSPENDED: "suspended",
}


def role_name(role: registry_pb2.Role) -> str:
    return ROLE_NAMES.get(role, f"unknown role {role}")


def status_name(status: registry_pb2.Status) -> str:
    return STATUS_NAMES.get(status, f"unknown status {status}")


def check_storage_spec(role: registry_pb2.Role, spec: registry_pb2.StorageSpec | None) -> None:
    """A storage participant states a spec; no other role may.

    Raises ErrInvalidStorageSpec naming the field: capacity and both power
    limits in 1..MAX_STORAGE_WH, efficiency in 1..10^6 ppm.
    """
    if role != registry_pb2.ROLE_STORAGE:
        if spec is not None:
            raise ErrInvalidStorageSpec(
                f"storage: only role storage states one, not {role_name(role)}"
            )
        return
    if spec is None:
        raise ErrInvalidStorageSpec(
            "storage: role storage must state capacity_wh, max_charge_w, max_discharge_w "
            "and efficiency_ppm"
        )
    for name in ("capacity_wh", "max_charge_w", "max_discharge_w"):
        value = getattr(spec, name)
        if not 1 <= value <= MAX_STORAGE_WH:
            raise ErrInvalidStorageSpec(
                f"storage.{name}: must be in 1..{MAX_STORAGE_WH}, got {value}"
            )
    if not 1 <= spec.efficiency_ppm <= PPM:
        raise ErrInvalidStorageSpec(
            f"storage.efficiency_ppm: must be in 1..{PPM} (parts per million), "
            f"got {spec.efficiency_ppm}"
        )


def check_technology(technology: str) -> str:
    """A renewable technology name (``solar``, ``wind``, ``small_hydro``), or empty to clear."""
    if technology and not TECHNOLOGY_RE.fullmatch(technology):
        raise ErrInvalidTechnology(
            f"technology: 2..16 chars of a-z, 0-9 and '_', a letter first, got {technology[:40]!r}"
        )
    return technology


# --- keys ------------------------------------------------------------------


def participant_key(address: bytes) -> bytes:
    return PARTICIPANT_PREFIX + address


def _busref(bus: str) -> bytes:
    raw = bus.encode()
    if not 0 < len(raw) <= MAX_BUS_ID_BYTES:
        raise ValueError(f"bus id must be 1..{MAX_BUS_ID_BYTES} bytes, got {len(raw)}")
    return bytes([len(raw)]) + raw


def bus_index_prefix(bus: str) -> bytes:
    """Prefix of the index entries of the participants on ``bus``.

    Raises ValueError for a bus id that is empty or above MAX_BUS_ID_BYTES.
    """
    return BY_BUS_PREFIX + _busref(bus)


def status_index_prefix(status: registry_pb2.Status, bus: str | None = None) -> bytes:
    """Prefix of the index entries of the participants with ``status`` (on ``bus``)."""
    prefix = BY_STATUS_PREFIX + bytes([status])
    return prefix if bus is None else prefix + _busref(bus)


def meter_key(pub_key: bytes) -> bytes:
    return METER_PREFIX + pub_key


def meters_of_prefix(address: bytes) -> bytes:
    return METERS_OF_PREFIX + address


# --- authorities -----------------------------------------------------------


def get_authorities(kv: KV) -> registry_pb2.Authorities:
    """The utility cell and the regulator; empty strings for those genesis did not name."""
    raw = kv.get(_AUTHORITIES)
    return (
        registry_pb2.Authorities.FromString(raw) if raw is not None else registry_pb2.Authorities()
    )


def set_authorities(kv: CacheKV, authorities: registry_pb2.Authorities) -> None:
    """Store the authorities; with neither named there is nothing to store
    (an empty message serialises to no bytes, which the store refuses)."""
    raw = authorities.SerializeToString(deterministic=True)
    if raw:
        kv.set(_AUTHORITIES, raw)
    else:
        kv.delete(_AUTHORITIES)


def require_utility(kv: KV, signer: bytes) -> None:
    """Raise ErrUnauthorized unless ``signer`` is the utility cell.

    Raises
    ------
    ErrUnauthorized
        No utility cell is configured, or the signer is someone else.
    """
    utility = get_authorities(kv).utility
    if not utility:
        raise ErrUnauthorized("no utility cell is configured in genesis")
    if crypto.decode_address(utility) != signer:
        raise ErrUnauthorized(
            f"signer {crypto.encode_address(signer)} is not the utility cell {utility}"
        )


def require_authority(kv: KV, signer: bytes) -> str:
    """Require the utility cell or the regulator; returns which one signed.

    Returns "utility" when the signer is the utility cell (also when it is
    the regulator too), else "regulator".

    Raises
    ------
    ErrUnauthorized
        The signer is neither (or neither is configured).
    """
    authorities = get_authorities(kv)
    if authorities.utility and crypto.decode_address(authorities.utility) == signer:
        return "utility"
    if authorities.regulator and crypto.decode_address(authorities.regulator) == signer:
        return "regulator"
    configured = [
        f"{name} {addr}"
        for name, addr in (("utility", authorities.utility), ("regulator", authorities.regulator))
        if addr
    ]
    raise ErrUnauthorized(
        f"signer {crypto.encode_address(signer)} is neither the utility cell nor the "
        f"regulator ({', '.join(configured) if configured else 'none configured in genesis'})"
    )


# --- network ---------------------------------------------------------------

# Parsed networks by their stored bytes: get_network runs at every clearing,
# and the network changes rarely. Bounded, oldest entry evicted first. The
# cache only saves work: the same bytes always parse to an equal Network.
_NETWORK_CACHE: dict[bytes, Network] = {}
_NETWORK_CACHE_SIZE = 4


def network_from_proto(proto: registry_pb2.Network) -> Network:
    """The validated network model of a stored Network.

    Raises
    ------
    InvalidNetworkError
        The topology is malformed (see ``market.network.Network``).
    """
    return Network(
        tuple(
            Bus(
                bus.id,
                bus.parent or None,
                bus.capacity_wh if bus.HasField("capacity_wh") else None,
            )
            for bus in proto.buses
        )
    )


def _network_bytes(kv: KV) -> bytes:
    raw = kv.get(_NETWORK)
    if raw is None:
        raise RuntimeError("registry network missing from state: genesis was not applied")
    return raw


def get_network_proto(kv: KV) -> registry_pb2.Network:
    """The network as stored (what the Network query returns)."""
    return registry_pb2.Network.FromString(_network_bytes(kv))


def get_network(kv: KV) -> Network:
    """The microgrid's radial network, parsed from state (cached by its bytes)."""
    raw = _network_bytes(kv)
    network = _NETWORK_CACHE.get(raw)
    if network is None:
        network = network_from_proto(registry_pb2.Network.FromString(raw))
        if len(_NETWORK_CACHE) >= _NETWORK_CACHE_SIZE:
            del _NETWORK_CACHE[next(iter(_NETWORK_CACHE))]
        _NETWORK_CACHE[raw] = network
    return network


def has_bus(kv: KV, bus: str) -> bool:
    return any(b.id == bus for b in get_network_proto(kv).buses)


def bus_within(kv: KV, bus: str, area: str) -> bool:
    """Whether ``bus`` is ``area`` or below it; an empty ``area`` is the whole
    microgrid. Grid services name such an area (a bus and everything it feeds)."""
    if not area:
        return True
    parents = {b.id: b.parent for b in get_network_proto(kv).buses}
    for _ in range(len(parents) + 1):  # a validated tree: the walk ends at the root
        if bus == area:
            return True
        if not bus:
            return False
        bus = parents.get(bus, "")
    return False


def set_network(kv: CacheKV, proto: registry_pb2.Network) -> None:
    """Store the network after checking it: a valid tree with indexable bus ids.

    Raises
    ------
    InvalidNetworkError
        The topology is malformed.
    ValueError
        A bus id is longer than ``MAX_BUS_ID_BYTES``.
    """
    for i, bus in enumerate(proto.buses):
        if len(bus.id.encode()) > MAX_BUS_ID_BYTES:
            raise ValueError(
                f"buses[{i}].id: at most {MAX_BUS_ID_BYTES} bytes, got {len(bus.id.encode())}"
            )
    network_from_proto(proto)
    kv.set(_NETWORK, proto.SerializeToString(deterministic=True))


# --- participants ----------------------------------------------------------


def get_participant(kv: KV, address: bytes) -> registry_pb2.Participant | None:
    raw = kv.get(participant_key(address))
    return registry_pb2.Participant.FromString(raw) if raw is not None else None


def set_participant(kv: CacheKV, participant: registry_pb2.Participant) -> None:
    """Write a participant record and move its index entries with it.

    The record's ``address`` (bech32) decides the key; a previous record at
    that address has its bus and status index entries replaced.
    """
    address = crypto.decode_address(participant.address)
    old = get_participant(kv, address)
    if old is not None:
        kv.delete(bus_index_prefix(old.bus) + address)
        kv.delete(status_index_prefix(old.status, old.bus) + address)
    kv.set(participant_key(address), participant.SerializeToString(deterministic=True))
    kv.set(bus_index_prefix(participant.bus) + address, _INDEX_VALUE)
    kv.set(status_index_prefix(participant.status, participant.bus) + address, _INDEX_VALUE)


# --- meters ----------------------------------------------------------------


def get_meter(kv: KV, pub_key: bytes) -> registry_pb2.Meter | None:
    raw = kv.get(meter_key(pub_key))
    return registry_pb2.Meter.FromString(raw) if raw is not None else None


def set_meter(kv: CacheKV, meter: registry_pb2.Meter) -> None:
    """Write a meter record and its entry in the participant's meter index.

    A meter never moves to another participant (keys are never re-registered),
    so the index entry only ever needs adding.
    """
    address = crypto.decode_address(meter.participant)
    kv.set(meter_key(meter.pub_key), meter.SerializeToString(deterministic=True))
    kv.set(meters_of_prefix(address) + meter.pub_key, _INDEX_VALUE)


def meters_of(kv: KV, address: bytes) -> list[registry_pb2.Meter]:
    """Every meter ever registered to ``address``, revoked ones included, in key order."""
    prefix = meters_of_prefix(address)
    out = []
    for key, _ in kv.iterate(prefix):
        meter = get_meter(kv, key[len(prefix) :])
        if meter is None:
            raise RuntimeError(f"meter index entry {key.hex()} has no meter record")
        out.append(meter)
    return out
