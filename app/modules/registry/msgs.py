"""Registry messages: stateless checks (shared by CheckTx and the wallet) and handlers.

The participant lifecycle (DESIGN.md section 1)::

    apply -> PENDING --approve--> APPROVED <--suspend/reinstate--> SUSPENDED
                     --reject---> REJECTED --apply--> PENDING

Applying is open to anyone; approving, rejecting and managing meters is for
the utility cell; suspending and reinstating for the utility cell or the
regulator. A meter key, once registered, is bound to its participant for
good: revoking retires it, and it can never be registered again, so an old
reading can never be attributed to someone else.

Each handler parses its message, checks everything against state and only
then writes, so a rejected message changes nothing even outside a branch.
"""

from __future__ import annotations

from app import crypto
from app.context import Context
from app.kv import KV
from app.modules.common import parse_address
from app.modules.registry import keeper
from app.modules.registry.keeper import (
    ErrAlreadyRegistered,
    ErrInvalidBus,
    ErrInvalidMeterKey,
    ErrInvalidRole,
    ErrInvalidStatus,
    ErrMeterAlreadyRegistered,
    ErrMeterNotFound,
    ErrParticipantNotFound,
    ErrReasonTooLong,
    ErrUnknownBus,
)
from app.pb.mgrid.registry.v1 import registry_pb2

PENDING = registry_pb2.STATUS_PENDING
APPROVED = registry_pb2.STATUS_APPROVED
REJECTED = registry_pb2.STATUS_REJECTED
SUSPENDED = registry_pb2.STATUS_SUSPENDED


# --- field parsers (stateless; each raises the error naming the field) -----


def _role(role: registry_pb2.Role) -> registry_pb2.Role:
    if role not in keeper.ROLE_NAMES:
        raise ErrInvalidRole(
            f"role: expected one of {sorted(keeper.ROLE_NAMES.values())}, got {role}"
        )
    return role


def _bus(bus: str) -> str:
    size = len(bus.encode())
    if not 0 < size <= keeper.MAX_BUS_ID_BYTES:
        raise ErrInvalidBus(f"bus: expected 1..{keeper.MAX_BUS_ID_BYTES} bytes, got {size}")
    return bus


def _reason(reason: str) -> str:
    if len(reason) > keeper.MAX_REASON_CHARS:
        raise ErrReasonTooLong(f"reason: {len(reason)} chars, limit {keeper.MAX_REASON_CHARS}")
    return reason


def _meter_key(pub_key: bytes) -> bytes:
    if len(pub_key) != keeper.METER_KEY_LEN:
        raise ErrInvalidMeterKey(
            f"pub_key: expected {keeper.METER_KEY_LEN} bytes (ed25519), got {len(pub_key)}"
        )
    return pub_key


def _participant(kv: KV, address: bytes) -> registry_pb2.Participant:
    participant = keeper.get_participant(kv, address)
    if participant is None:
        raise ErrParticipantNotFound(f"no participant {crypto.encode_address(address)}")
    return participant


def _require_status(participant: registry_pb2.Participant, *allowed: registry_pb2.Status) -> None:
    if participant.status not in allowed:
        wanted = " or ".join(keeper.status_name(s) for s in allowed)
        raise ErrInvalidStatus(
            f"participant {participant.address} has status "
            f"{keeper.status_name(participant.status)}, expected {wanted}"
        )


# --- apply -----------------------------------------------------------------


def _storage_spec(msg: registry_pb2.MsgApply) -> registry_pb2.StorageSpec | None:
    spec = msg.storage if msg.HasField("storage") else None
    keeper.check_storage_spec(msg.role, spec)
    return spec


def validate_apply(msg: registry_pb2.MsgApply) -> None:
    _role(msg.role)
    _bus(msg.bus)
    _storage_spec(msg)


def handle_apply(ctx: Context, signer: bytes, msg: registry_pb2.MsgApply) -> None:
    """The signer applies as ``role`` on ``bus``; a rejected applicant may apply again."""
    role, bus, spec = _role(msg.role), _bus(msg.bus), _storage_spec(msg)
    network = keeper.get_network(ctx.kv)
    if network.index_of(bus) is None:
        raise ErrUnknownBus(
            f"bus {bus!r} is not in the network ({len(network.buses)} buses, root {network.root!r})"
        )
    address = crypto.encode_address(signer)
    existing = keeper.get_participant(ctx.kv, signer)
    if existing is not None and existing.status != REJECTED:
        raise ErrAlreadyRegistered(
            f"{address} is already registered with status "
            f"{keeper.status_name(existing.status)}; only a rejected applicant may apply again"
        )
    participant = registry_pb2.Participant(
        address=address,
        role=role,
        bus=bus,
        status=PENDING,
        applied_height=ctx.height,
        # A re-application keeps the height of the rejection, the last decision.
        decided_height=existing.decided_height if existing is not None else 0,
        storage=spec,
    )
    keeper.set_participant(ctx.kv, participant)
    ctx.emit(
        "registry_apply",
        participant=address,
        role=keeper.role_name(role),
        bus=bus,
        status=keeper.status_name(PENDING),
    )


# --- approve / reject ------------------------------------------------------


def validate_approve(msg: registry_pb2.MsgApprove) -> None:
    parse_address(msg.participant, "participant")


def handle_approve(ctx: Context, signer: bytes, msg: registry_pb2.MsgApprove) -> None:
    """The utility cell approves a pending application."""
    address = parse_address(msg.participant, "participant")
    keeper.require_utility(ctx.kv, signer)
    participant = _participant(ctx.kv, address)
    _require_status(participant, PENDING)
    participant.status = APPROVED
    participant.decided_height = ctx.height
    participant.reason = ""
    keeper.set_participant(ctx.kv, participant)
    ctx.emit(
        "registry_approve",
        participant=participant.address,
        role=keeper.role_name(participant.role),
        bus=participant.bus,
        status=keeper.status_name(APPROVED),
    )


def validate_reject(msg: registry_pb2.MsgReject) -> None:
    parse_address(msg.participant, "participant")
    _reason(msg.reason)


def handle_reject(ctx: Context, signer: bytes, msg: registry_pb2.MsgReject) -> None:
    """The utility cell rejects a pending application, stating why."""
    address = parse_address(msg.participant, "participant")
    reason = _reason(msg.reason)
    keeper.require_utility(ctx.kv, signer)
    participant = _participant(ctx.kv, address)
    _require_status(participant, PENDING)
    participant.status = REJECTED
    participant.decided_height = ctx.height
    participant.reason = reason
    keeper.set_participant(ctx.kv, participant)
    ctx.emit(
        "registry_reject",
        participant=participant.address,
        status=keeper.status_name(REJECTED),
        reason=reason,
    )


# --- suspend / reinstate ---------------------------------------------------


def validate_set_suspended(msg: registry_pb2.MsgSetSuspended) -> None:
    parse_address(msg.participant, "participant")
    _reason(msg.reason)


def handle_set_suspended(ctx: Context, signer: bytes, msg: registry_pb2.MsgSetSuspended) -> None:
    """The utility cell or the regulator suspends an approved participant
    (``suspended`` true) or reinstates a suspended one (false)."""
    address = parse_address(msg.participant, "participant")
    reason = _reason(msg.reason)
    by = keeper.require_authority(ctx.kv, signer)
    participant = _participant(ctx.kv, address)
    if msg.suspended:
        _require_status(participant, APPROVED)
        participant.status, event = SUSPENDED, "registry_suspend"
    else:
        _require_status(participant, SUSPENDED)
        participant.status, event = APPROVED, "registry_reinstate"
    participant.decided_height = ctx.height
    participant.reason = reason
    keeper.set_participant(ctx.kv, participant)
    ctx.emit(
        event,
        participant=participant.address,
        status=keeper.status_name(participant.status),
        reason=reason,
        by=by,
    )


# --- renewable generators --------------------------------------------------


def validate_set_renewable(msg: registry_pb2.MsgSetRenewable) -> None:
    parse_address(msg.participant, "participant")
    keeper.check_technology(msg.technology)


def handle_set_renewable(ctx: Context, signer: bytes, msg: registry_pb2.MsgSetRenewable) -> None:
    """The utility cell registers an approved participant as a renewable generator
    of ``technology`` (certificates are issued for its metered export from the
    next settled interval), or clears the flag with an empty technology."""
    address = parse_address(msg.participant, "participant")
    technology = keeper.check_technology(msg.technology)
    keeper.require_utility(ctx.kv, signer)
    participant = _participant(ctx.kv, address)
    _require_status(participant, APPROVED, SUSPENDED)
    participant.technology = technology
    keeper.set_participant(ctx.kv, participant)
    ctx.emit("registry_set_renewable", participant=participant.address, technology=technology)


# --- meters ----------------------------------------------------------------


def validate_register_meter(msg: registry_pb2.MsgRegisterMeter) -> None:
    parse_address(msg.participant, "participant")
    _meter_key(msg.pub_key)


def handle_register_meter(ctx: Context, signer: bytes, msg: registry_pb2.MsgRegisterMeter) -> None:
    """The utility cell binds a new meter key to an approved (or suspended) participant."""
    address = parse_address(msg.participant, "participant")
    pub_key = _meter_key(msg.pub_key)
    keeper.require_utility(ctx.kv, signer)
    participant = _participant(ctx.kv, address)
    _require_status(participant, APPROVED, SUSPENDED)
    existing = keeper.get_meter(ctx.kv, pub_key)
    if existing is not None:
        state = f"revoked at height {existing.revoked_height}" if existing.revoked else "active"
        raise ErrMeterAlreadyRegistered(
            f"meter {pub_key.hex()} is registered to {existing.participant} "
            f"since height {existing.registered_height} ({state}); keys are never reused"
        )
    meter = registry_pb2.Meter(
        pub_key=pub_key, participant=participant.address, registered_height=ctx.height
    )
    keeper.set_meter(ctx.kv, meter)
    ctx.emit("registry_register_meter", participant=participant.address, meter=pub_key.hex())


def validate_revoke_meter(msg: registry_pb2.MsgRevokeMeter) -> None:
    _meter_key(msg.pub_key)


def handle_revoke_meter(ctx: Context, signer: bytes, msg: registry_pb2.MsgRevokeMeter) -> None:
    """The utility cell retires a meter key for good.

    Revoking an already revoked meter is ErrInvalidStatus (the meter exists,
    but is in the wrong state for the transition), not ErrMeterNotFound.
    """
    pub_key = _meter_key(msg.pub_key)
    keeper.require_utility(ctx.kv, signer)
    meter = keeper.get_meter(ctx.kv, pub_key)
    if meter is None:
        raise ErrMeterNotFound(f"no meter {pub_key.hex()}")
    if meter.revoked:
        raise ErrInvalidStatus(
            f"meter {pub_key.hex()} is revoked (since height {meter.revoked_height}), "
            "expected active"
        )
    meter.revoked = True
    meter.revoked_height = ctx.height
    keeper.set_meter(ctx.kv, meter)
    ctx.emit("registry_revoke_meter", participant=meter.participant, meter=pub_key.hex())
