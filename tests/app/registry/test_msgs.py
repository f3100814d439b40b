"""Registry messages: each stateless and stateful rejection ends with its own
(codespace, code) and a log saying what was expected, in CheckTx and in a
block alike, and leaves the registry's state untouched."""

from __future__ import annotations

from typing import Any

import pytest

from app.modules.registry import msgs
from app.pb.mgrid.registry.v1 import registry_pb2 as pb
from tests.app.registry.helpers import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EVE,
    METER_A,
    METER_NEW,
    METER_OLD,
    REGULATOR,
    UTILITY,
    RegistryNode,
)

PROSUMER = pb.ROLE_PROSUMER
LONG_REASON = "x" * 257

# (id, signer, Msg oneof field, message, codespace, code, log fragment)
REJECTIONS: list[tuple[str, Any, str, Any, str, int, str]] = [
    # registry/2 unauthorized
    ("approve by a stranger", EVE, "approve", pb.MsgApprove(participant=BOB.address), "registry", 2, f"signer {EVE.address} is not the utility cell {UTILITY.address}"),
    ("approve by the regulator", REGULATOR, "approve", pb.MsgApprove(participant=BOB.address), "registry", 2, "is not the utility cell"),
    ("reject by the applicant", BOB, "reject", pb.MsgReject(participant=BOB.address), "registry", 2, "is not the utility cell"),
    ("suspend by a participant", ALICE, "set_suspended", pb.MsgSetSuspended(participant=DAVE.address, suspended=True), "registry", 2, "neither the utility cell nor the regulator"),
    ("register meter by the owner", ALICE, "register_meter", pb.MsgRegisterMeter(participant=ALICE.address, pub_key=METER_NEW), "registry", 2, "is not the utility cell"),
    ("register meter by the regulator", REGULATOR, "register_meter", pb.MsgRegisterMeter(participant=ALICE.address, pub_key=METER_NEW), "registry", 2, "is not the utility cell"),
    ("revoke meter by the owner", ALICE, "revoke_meter", pb.MsgRevokeMeter(pub_key=METER_A), "registry", 2, "is not the utility cell"),
    # registry/3 participant not found
    ("approve unknown", UTILITY, "approve", pb.MsgApprove(participant=EVE.address), "registry", 3, f"no participant {EVE.address}"),
    ("reject unknown", UTILITY, "reject", pb.MsgReject(participant=EVE.address), "registry", 3, "no participant"),
    ("suspend unknown", REGULATOR, "set_suspended", pb.MsgSetSuspended(participant=EVE.address, suspended=True), "registry", 3, "no participant"),
    ("meter for unknown", UTILITY, "register_meter", pb.MsgRegisterMeter(participant=EVE.address, pub_key=METER_NEW), "registry", 3, "no participant"),
    # registry/4 already registered
    ("apply while pending", BOB, "apply", pb.MsgApply(role=PROSUMER, bus="b1"), "registry", 4, "already registered with status pending; only a rejected applicant"),
    ("apply while approved", ALICE, "apply", pb.MsgApply(role=PROSUMER, bus="b2"), "registry", 4, "status approved"),
    ("apply while suspended", DAVE, "apply", pb.MsgApply(role=PROSUMER, bus="b2"), "registry", 4, "status suspended"),
    # registry/5 invalid status
    ("approve approved", UTILITY, "approve", pb.MsgApprove(participant=ALICE.address), "registry", 5, f"participant {ALICE.address} has status approved, expected pending"),
    ("approve rejected", UTILITY, "approve", pb.MsgApprove(participant=CAROL.address), "registry", 5, "has status rejected, expected pending"),
    ("reject approved", UTILITY, "reject", pb.MsgReject(participant=ALICE.address), "registry", 5, "has status approved, expected pending"),
    ("reject suspended", UTILITY, "reject", pb.MsgReject(participant=DAVE.address), "registry", 5, "has status suspended, expected pending"),
    ("suspend pending", UTILITY, "set_suspended", pb.MsgSetSuspended(participant=BOB.address, suspended=True), "registry", 5, "has status pending, expected approved"),
    ("suspend suspended", REGULATOR, "set_suspended", pb.MsgSetSuspended(participant=DAVE.address, suspended=True), "registry", 5, "has status suspended, expected approved"),
    ("reinstate approved", UTILITY, "set_suspended", pb.MsgSetSuspended(participant=ALICE.address), "registry", 5, "has status approved, expected suspended"),
    ("reinstate rejected", UTILITY, "set_suspended", pb.MsgSetSuspended(participant=CAROL.address), "registry", 5, "has status rejected, expected suspended"),
    ("meter for pending", UTILITY, "register_meter", pb.MsgRegisterMeter(participant=BOB.address, pub_key=METER_NEW), "registry", 5, "has status pending, expected approved or suspended"),
    ("meter for rejected", UTILITY, "register_meter", pb.MsgRegisterMeter(participant=CAROL.address, pub_key=METER_NEW), "registry", 5, "has status rejected, expected approved or suspended"),
    ("revoke revoked meter", UTILITY, "revoke_meter", pb.MsgRevokeMeter(pub_key=METER_OLD), "registry", 5, f"meter {METER_OLD.hex()} is revoked (since height"),
    # registry/6 unknown bus
    ("apply on unknown bus", EVE, "apply", pb.MsgApply(role=PROSUMER, bus="b9"), "registry", 6, "bus 'b9' is not in the network (4 buses, root 'pcc')"),
    # registry/7 invalid role (stateless)
    ("apply without role", EVE, "apply", pb.MsgApply(bus="b1"), "registry", 7, "message 0 (apply): role: expected one of ['consumer', 'producer', 'prosumer', 'storage'], got 0"),
    ("apply with unknown role", EVE, "apply", pb.MsgApply(role=9, bus="b1"), "registry", 7, "got 9"),  # type: ignore[arg-type]
    # registry/8 meter already registered
    ("register active meter again", UTILITY, "register_meter", pb.MsgRegisterMeter(participant=DAVE.address, pub_key=METER_A), "registry", 8, f"meter {METER_A.hex()} is registered to {ALICE.address} since height 0 (active)"),
    ("register revoked meter again", UTILITY, "register_meter", pb.MsgRegisterMeter(participant=ALICE.address, pub_key=METER_OLD), "registry", 8, "(revoked at height"),
    # registry/9 meter not found
    ("revoke unknown meter", UTILITY, "revoke_meter", pb.MsgRevokeMeter(pub_key=METER_NEW), "registry", 9, f"no meter {METER_NEW.hex()}"),
    # registry/10 invalid meter key (stateless)
    ("register short key", UTILITY, "register_meter", pb.MsgRegisterMeter(participant=ALICE.address, pub_key=b"\x01" * 31), "registry", 10, "pub_key: expected 32 bytes (ed25519), got 31"),
    ("register no key", UTILITY, "register_meter", pb.MsgRegisterMeter(participant=ALICE.address), "registry", 10, "got 0"),
    ("revoke long key", UTILITY, "revoke_meter", pb.MsgRevokeMeter(pub_key=b"\x01" * 33), "registry", 10, "got 33"),
    # registry/11 reason too long (stateless)
    ("reject with long reason", UTILITY, "reject", pb.MsgReject(participant=BOB.address, reason=LONG_REASON), "registry", 11, "reason: 257 chars, limit 256"),
    ("suspend with long reason", REGULATOR, "set_suspended", pb.MsgSetSuspended(participant=ALICE.address, suspended=True, reason=LONG_REASON), "registry", 11, "limit 256"),
    # registry/12 invalid bus id (stateless)
    ("apply without bus", EVE, "apply", pb.MsgApply(role=PROSUMER), "registry", 12, "bus: expected 1..64 bytes, got 0"),
    ("apply with long bus", EVE, "apply", pb.MsgApply(role=PROSUMER, bus="b" * 65), "registry", 12, "got 65"),
    # registry/13 invalid storage spec (stateless)
    ("storage without spec", EVE, "apply", pb.MsgApply(role=pb.ROLE_STORAGE, bus="b1"), "registry", 13, "role storage must state capacity_wh"),
    ("prosumer with spec", EVE, "apply", pb.MsgApply(role=PROSUMER, bus="b1", storage=pb.StorageSpec(capacity_wh=1)), "registry", 13, "only role storage states one, not prosumer"),
    ("storage zero capacity", EVE, "apply", pb.MsgApply(role=pb.ROLE_STORAGE, bus="b1", storage=pb.StorageSpec(max_charge_w=1, max_discharge_w=1, efficiency_ppm=1)), "registry", 13, "storage.capacity_wh: must be in 1..1000000000000000, got 0"),
    ("storage efficiency above 1", EVE, "apply", pb.MsgApply(role=pb.ROLE_STORAGE, bus="b1", storage=pb.StorageSpec(capacity_wh=1, max_charge_w=1, max_discharge_w=1, efficiency_ppm=1_000_001)), "registry", 13, "storage.efficiency_ppm: must be in 1..1000000"),
    # registry/14 invalid technology (stateless)
    ("technology upper case", UTILITY, "set_renewable", pb.MsgSetRenewable(participant=ALICE.address, technology="Solar"), "registry", 14, "technology: 2..16 chars of a-z, 0-9 and '_', a letter first, got 'Solar'"),
    ("technology with a slash", UTILITY, "set_renewable", pb.MsgSetRenewable(participant=ALICE.address, technology="pv/roof"), "registry", 14, "got 'pv/roof'"),
    # set_renewable: the utility only, on an approved participant
    ("renewable by non-utility", ALICE, "set_renewable", pb.MsgSetRenewable(participant=ALICE.address, technology="solar"), "registry", 2, ""),
    ("renewable for pending", UTILITY, "set_renewable", pb.MsgSetRenewable(participant=BOB.address, technology="solar"), "registry", 5, "has status pending, expected approved or suspended"),
    ("renewable for stranger", UTILITY, "set_renewable", pb.MsgSetRenewable(participant=EVE.address, technology="solar"), "registry", 3, "no participant"),
    # tx/12 invalid address (stateless)
    ("approve bad address", UTILITY, "approve", pb.MsgApprove(participant="mg1nope"), "tx", 12, "participant:"),
    ("reject empty address", UTILITY, "reject", pb.MsgReject(), "tx", 12, "participant:"),
    ("suspend bad address", REGULATOR, "set_suspended", pb.MsgSetSuspended(participant=ALICE.address[:-1] + "q", suspended=True), "tx", 12, "checksum"),
    ("meter for bad address", UTILITY, "register_meter", pb.MsgRegisterMeter(participant="x", pub_key=METER_NEW), "tx", 12, "participant:"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("signer", "name", "msg", "codespace", "code", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS],
)
def test_rejection_in_check_tx_and_in_a_block_changes_nothing(
    cast: RegistryNode,
    signer: Any,
    name: str,
    msg: Any,
    codespace: str,
    code: int,
    fragment: str,
) -> None:
    before = cast.registry_state()
    raw = cast.tx(signer, name, msg)
    checked = cast.node.chain.check_tx(raw)
    assert (checked.codespace, checked.code) == (codespace, code), checked.log
    assert fragment in checked.log
    # The same tx forced into a block (as a byzantine proposer could) fails the same way.
    result = cast.node.commit_block([raw]).tx_results[0]
    assert (result.codespace, result.code, result.log) == (codespace, code, checked.log)
    assert not any(e.type.startswith("registry_") for e in result.events)
    assert cast.registry_state() == before


def test_every_registry_code_is_exercised() -> None:
    codes = {(case[4], case[5]) for case in REJECTIONS}
    assert {("registry", code) for code in range(2, 15)} <= codes


def test_without_a_utility_nobody_can_approve(make_chain: Any) -> None:
    chain = make_chain({})
    chain.ok(BOB, "apply", pb.MsgApply(role=pb.ROLE_CONSUMER, bus="pcc"))
    before = chain.registry_state()
    result = chain.deliver(BOB, "approve", pb.MsgApprove(participant=BOB.address))
    assert (result.codespace, result.code) == ("registry", 2)
    assert "no utility cell is configured" in result.log
    assert chain.registry_state() == before


VALID: list[tuple[str, Any]] = [
    ("apply", pb.MsgApply(role=pb.ROLE_PROSUMER, bus="b" * 64)),
    (
        "apply",
        pb.MsgApply(
            role=pb.ROLE_STORAGE,
            bus="b1",
            storage=pb.StorageSpec(
                capacity_wh=1, max_charge_w=1, max_discharge_w=1, efficiency_ppm=1_000_000
            ),
        ),
    ),
    ("set_renewable", pb.MsgSetRenewable(participant=ALICE.address, technology="small_hydro")),
    ("set_renewable", pb.MsgSetRenewable(participant=ALICE.address, technology="")),
    ("approve", pb.MsgApprove(participant=ALICE.address)),
    ("reject", pb.MsgReject(participant=ALICE.address, reason="r" * 256)),
    ("set_suspended", pb.MsgSetSuspended(participant=ALICE.address.upper(), reason="")),
    ("register_meter", pb.MsgRegisterMeter(participant=ALICE.address, pub_key=METER_NEW)),
    ("revoke_meter", pb.MsgRevokeMeter(pub_key=METER_NEW)),
]


@pytest.mark.parametrize(("name", "msg"), VALID, ids=[n for n, _ in VALID])
def test_validate_basic_accepts_well_formed_messages(name: str, msg: Any) -> None:
    getattr(msgs, f"validate_{name}")(msg)
