"""``mgrid tx registry ...`` and ``mgrid query registry ...``: who takes part
in the market, on which bus, with which meters (DESIGN.md sections 1 and 6).

    tx registry apply --role prosumer|consumer|producer|storage --bus BUS --from KEY
          [--capacity-wh WH --max-charge-w W --max-discharge-w W --efficiency PPM]  (storage)
    tx registry set-renewable ADDR TECHNOLOGY --from KEY   (utility cell; "" clears)
    tx registry approve ADDR --from KEY              (utility cell)
    tx registry reject ADDR [--reason TEXT] --from KEY
    tx registry suspend ADDR [--reason TEXT] --from KEY    (utility cell or regulator)
    tx registry reinstate ADDR [--reason TEXT] --from KEY
    tx registry register-meter ADDR (PUBKEY_HEX | --meter-key NAME) --from KEY
    tx registry revoke-meter (PUBKEY_HEX | --meter-key NAME) --from KEY

    query registry participant ADDR | participants [--status S] [--bus B]
          [--limit N] [--page-key HEX] | meter (PUBKEY_HEX | --meter-key NAME)
          | meters ADDR | network | authorities

A meter's key can be named by a key of the keyring (``--meter-key NAME``):
only its public key is read, so no passphrase is asked. Every query takes
``--height H``; its JSON is the chain's response message (render.py).
"""

from __future__ import annotations

import argparse
from typing import Any

from app.pb.mgrid.registry.v1 import registry_pb2
from clients.mgrid import render
from clients.mgrid import tx as txmod
from clients.mgrid.session import (
    ExitCode,
    Session,
    UsageError,
    add_height,
    add_page_flags,
    add_tx_flags,
    leaf,
    parse_address,
    parse_hex,
    sign_and_broadcast,
)

ROLE = registry_pb2.DESCRIPTOR.enum_types_by_name["Role"]
STATUS = registry_pb2.DESCRIPTOR.enum_types_by_name["Status"]
METER_KEY_BYTES = 32


def add_tx_commands(tx: Any) -> None:
    """``tx registry`` subcommands, under the ``tx`` group ``tx``."""
    p = leaf(tx, "apply", cmd_apply, "apply to take part in the market (the signer applies)")
    p.add_argument("--role", required=True, choices=render.enum_labels(ROLE))
    p.add_argument("--bus", required=True, help="the bus of the network the signer sits on")
    spec = p.add_argument_group("storage (role storage only)")
    spec.add_argument("--capacity-wh", type=int, help="energy it can hold, after efficiency")
    spec.add_argument("--max-charge-w", type=int, help="charging power limit")
    spec.add_argument("--max-discharge-w", type=int, help="discharging power limit")
    spec.add_argument(
        "--efficiency", type=int, metavar="PPM", help="round-trip efficiency, parts per million"
    )
    add_tx_flags(p)
    p = leaf(
        tx,
        "set-renewable",
        cmd_set_renewable,
        "register a participant as a renewable generator (utility cell)",
    )
    p.add_argument("participant", metavar="ADDR")
    p.add_argument("technology", metavar="TECHNOLOGY", help='solar, wind, ...; "" clears it')
    add_tx_flags(p)
    p = leaf(tx, "approve", cmd_approve, "approve a pending application (utility cell)")
    p.add_argument("participant", metavar="ADDR")
    add_tx_flags(p)
    for name, func, what in (
        ("reject", cmd_reject, "reject a pending application (utility cell)"),
        ("suspend", cmd_suspend, "suspend an approved participant (utility cell or regulator)"),
        ("reinstate", cmd_reinstate, "reinstate a suspended participant"),
    ):
        p = leaf(tx, name, func, what)
        p.add_argument("participant", metavar="ADDR")
        p.add_argument("--reason", default="", help="stated on chain with the decision")
        add_tx_flags(p)
    p = leaf(tx, "register-meter", cmd_register_meter, "bind a meter key to a participant")
    p.add_argument("participant", metavar="ADDR")
    _add_meter_key(p)
    add_tx_flags(p)
    p = leaf(tx, "revoke-meter", cmd_revoke_meter, "retire a meter key for good")
    _add_meter_key(p)
    add_tx_flags(p)


def add_query_commands(query: Any) -> None:
    """``query registry`` subcommands, under the ``query`` group ``query``."""
    p = leaf(query, "participant", cmd_participant, "a participant's role, bus and status")
    p.add_argument("address", metavar="ADDR")
    add_height(p)
    p = leaf(query, "participants", cmd_participants, "participants, one page at a time")
    p.add_argument("--status", choices=render.enum_labels(STATUS), help="default: all")
    p.add_argument("--bus", default="", help="default: all buses")
    add_page_flags(p)
    add_height(p)
    p = leaf(query, "meter", cmd_meter, "a meter and the participant it measures")
    _add_meter_key(p)
    add_height(p)
    p = leaf(query, "meters", cmd_meters, "the meters of a participant")
    p.add_argument("participant", metavar="ADDR")
    add_height(p)
    add_height(leaf(query, "network", cmd_network, "the buses and line capacities"))
    add_height(leaf(query, "authorities", cmd_authorities, "the utility cell and the regulator"))


def _add_meter_key(p: argparse.ArgumentParser) -> None:
    p.add_argument("pub_key", metavar="PUBKEY_HEX", nargs="?", help="the meter's ed25519 key")
    p.add_argument(
        "--meter-key", metavar="NAME", help="a keyring key whose public key is the meter's"
    )


def _meter_pub_key(s: Session) -> bytes:
    """The meter key given as PUBKEY_HEX or --meter-key NAME (exactly one of them)."""
    a = s.args
    if (a.pub_key is None) == (a.meter_key is None):
        raise UsageError("give the meter's key as PUBKEY_HEX or as --meter-key NAME (one of them)")
    if a.meter_key is not None:
        return s.keyring().get(a.meter_key).pub_key
    pub_key = parse_hex(a.pub_key, "PUBKEY_HEX")
    if len(pub_key) != METER_KEY_BYTES:
        raise UsageError(
            f"PUBKEY_HEX: expected {METER_KEY_BYTES} bytes (64 hex digits), got {len(pub_key)}"
        )
    return pub_key


# -- transactions ---------------------------------------------------------------------------


_SPEC_FLAGS = (
    ("capacity_wh", "--capacity-wh"),
    ("max_charge_w", "--max-charge-w"),
    ("max_discharge_w", "--max-discharge-w"),
    ("efficiency", "--efficiency"),
)


def cmd_apply(s: Session) -> int:
    a = s.args
    role = render.enum_number(ROLE, a.role)
    given = [flag for name, flag in _SPEC_FLAGS if getattr(a, name) is not None]
    spec = None
    if role == registry_pb2.ROLE_STORAGE:
        missing = [flag for name, flag in _SPEC_FLAGS if getattr(a, name) is None]
        if missing:
            raise UsageError(f"role storage states its storage: missing {', '.join(missing)}")
        spec = registry_pb2.StorageSpec(
            capacity_wh=a.capacity_wh,
            max_charge_w=a.max_charge_w,
            max_discharge_w=a.max_discharge_w,
            efficiency_ppm=a.efficiency,
        )
    elif given:
        raise UsageError(f"{', '.join(given)}: only for --role storage")
    return sign_and_broadcast(s, a.from_key, [txmod.msg_apply(role, a.bus, spec)])


def cmd_set_renewable(s: Session) -> int:
    participant = parse_address(s.args.participant, "ADDR")
    msg = txmod.msg_set_renewable(participant, s.args.technology)
    return sign_and_broadcast(s, s.args.from_key, [msg])


def cmd_approve(s: Session) -> int:
    participant = parse_address(s.args.participant, "ADDR")
    return sign_and_broadcast(s, s.args.from_key, [txmod.msg_approve(participant)])


def cmd_reject(s: Session) -> int:
    participant = parse_address(s.args.participant, "ADDR")
    msg = txmod.msg_reject(participant, s.args.reason)
    return sign_and_broadcast(s, s.args.from_key, [msg])


def cmd_suspend(s: Session) -> int:
    participant = parse_address(s.args.participant, "ADDR")
    msg = txmod.msg_set_suspended(participant, True, s.args.reason)
    return sign_and_broadcast(s, s.args.from_key, [msg])


def cmd_reinstate(s: Session) -> int:
    participant = parse_address(s.args.participant, "ADDR")
    msg = txmod.msg_set_suspended(participant, False, s.args.reason)
    return sign_and_broadcast(s, s.args.from_key, [msg])


def cmd_register_meter(s: Session) -> int:
    participant = parse_address(s.args.participant, "ADDR")
    msg = txmod.msg_register_meter(participant, _meter_pub_key(s))
    return sign_and_broadcast(s, s.args.from_key, [msg])


def cmd_revoke_meter(s: Session) -> int:
    msg = txmod.msg_revoke_meter(_meter_pub_key(s))
    return sign_and_broadcast(s, s.args.from_key, [msg])


# -- queries --------------------------------------------------------------------------------


def cmd_participant(s: Session) -> int:
    address = parse_address(s.args.address, "ADDR")
    participant = s.chain.participant(address, s.args.height)
    s.emit({"participant": render.proto_json(participant)}, render.record_text(participant))
    return ExitCode.OK


def cmd_participants(s: Session) -> int:
    a = s.args
    status = render.enum_number(STATUS, a.status) if a.status else 0
    resp = s.chain.participants(
        status=status,
        bus=a.bus,
        page_key=parse_hex(a.page_key, "--page-key"),
        limit=a.limit,
        height=a.height,
    )
    columns = (
        "address",
        "role",
        "bus",
        "status",
        "technology",
        "applied_height",
        "decided_height",
        "reason",
    )
    text = render.rows_text(resp.participants, columns, "no participants", resp.next_key)
    s.emit(render.proto_json(resp), text)
    return ExitCode.OK


def cmd_meter(s: Session) -> int:
    meter = s.chain.meter(_meter_pub_key(s), s.args.height)
    s.emit({"meter": render.proto_json(meter)}, render.record_text(meter))
    return ExitCode.OK


def cmd_meters(s: Session) -> int:
    participant = parse_address(s.args.participant, "ADDR")
    meters = s.chain.meters(participant, s.args.height)
    columns = ("pub_key", "registered_height", "revoked", "revoked_height")
    text = render.rows_text(meters, columns, f"no meters registered to {participant}")
    s.emit({"meters": [render.proto_json(m) for m in meters]}, text)
    return ExitCode.OK


def cmd_network(s: Session) -> int:
    network = s.chain.network(s.args.height)
    rows = [
        [b.id, b.parent or "(root)", render.field_text(b, "capacity_wh", "unlimited")]
        for b in network.buses
    ]
    text = render.table(("bus", "parent", "capacity_wh"), rows) if rows else "no buses"
    s.emit({"network": render.proto_json(network)}, text)
    return ExitCode.OK


def cmd_authorities(s: Session) -> int:
    authorities = s.chain.authorities(s.args.height)
    s.emit({"authorities": render.proto_json(authorities)}, render.record_text(authorities))
    return ExitCode.OK
