"""The registry lifecycle through the whole state machine: real signed
transactions, CheckTx, FinalizeBlock, Commit, events and queries."""

from __future__ import annotations

from typing import Any

from app.chain import TxResult
from app.pb.mgrid.registry.v1 import registry_pb2 as pb
from tests.app.registry.helpers import (
    ALICE,
    BOB,
    CAROL,
    METER_A,
    METER_NEW,
    METER_OLD,
    REGULATOR,
    UTILITY,
    RegistryNode,
)


def _event(result: TxResult, type_: str) -> dict[str, str]:
    """The attributes of the one event of ``type_`` in a tx result."""
    found = [dict(e.attributes) for e in result.events if e.type == type_]
    assert len(found) == 1, [e.type for e in result.events]
    return found[0]


def test_apply_approve_meter_suspend_reinstate_revoke(chain: RegistryNode) -> None:
    result = chain.ok(BOB, "apply", pb.MsgApply(role=pb.ROLE_CONSUMER, bus="b3"))
    applied_at = chain.node.height
    assert _event(result, "registry_apply") == {
        "participant": BOB.address,
        "role": "consumer",
        "bus": "b3",
        "status": "pending",
    }
    assert _event(result, "message") == {
        "action": "apply",
        "module": "registry",
        "sender": BOB.address,
        "index": "0",
    }
    assert chain.participant(BOB) == pb.Participant(
        address=BOB.address,
        role=pb.ROLE_CONSUMER,
        bus="b3",
        status=pb.STATUS_PENDING,
        applied_height=applied_at,
    )

    result = chain.ok(UTILITY, "approve", pb.MsgApprove(participant=BOB.address))
    approved_at = chain.node.height
    assert _event(result, "registry_approve")["status"] == "approved"
    bob = chain.participant(BOB)
    assert (bob.status, bob.applied_height, bob.decided_height) == (
        pb.STATUS_APPROVED,
        applied_at,
        approved_at,
    )

    meter_msg = pb.MsgRegisterMeter(participant=BOB.address, pub_key=METER_NEW)
    result = chain.ok(UTILITY, "register_meter", meter_msg)
    registered_at = chain.node.height
    assert _event(result, "registry_register_meter") == {
        "participant": BOB.address,
        "meter": METER_NEW.hex(),
    }
    assert chain.meter(METER_NEW) == pb.Meter(
        pub_key=METER_NEW, participant=BOB.address, registered_height=registered_at
    )

    suspend = pb.MsgSetSuspended(participant=BOB.address, suspended=True, reason="meter tampering")
    result = chain.ok(REGULATOR, "set_suspended", suspend)
    assert _event(result, "registry_suspend") == {
        "participant": BOB.address,
        "status": "suspended",
        "reason": "meter tampering",
        "by": "regulator",
    }
    bob = chain.participant(BOB)
    assert (bob.status, bob.decided_height, bob.reason) == (
        pb.STATUS_SUSPENDED,
        chain.node.height,
        "meter tampering",
    )

    reinstate = pb.MsgSetSuspended(participant=BOB.address, reason="cleared")
    result = chain.ok(UTILITY, "set_suspended", reinstate)
    assert _event(result, "registry_reinstate") == {
        "participant": BOB.address,
        "status": "approved",
        "reason": "cleared",
        "by": "utility",
    }
    assert chain.participant(BOB).status == pb.STATUS_APPROVED

    result = chain.ok(UTILITY, "revoke_meter", pb.MsgRevokeMeter(pub_key=METER_NEW))
    assert _event(result, "registry_revoke_meter") == {
        "participant": BOB.address,
        "meter": METER_NEW.hex(),
    }
    meter = chain.meter(METER_NEW)
    assert (meter.revoked, meter.revoked_height, meter.registered_height) == (
        True,
        chain.node.height,
        registered_at,
    )
    meters = chain.query("Meters", pb.QueryMetersRequest(participant=BOB.address)).meters
    assert list(meters) == [meter]


def test_a_suspended_participant_may_get_a_meter(chain: RegistryNode) -> None:
    chain.ok(
        UTILITY, "set_suspended", pb.MsgSetSuspended(participant=ALICE.address, suspended=True)
    )
    chain.ok(
        UTILITY, "register_meter", pb.MsgRegisterMeter(participant=ALICE.address, pub_key=METER_NEW)
    )
    assert chain.meter(METER_NEW).participant == ALICE.address


def test_rejected_applicant_may_apply_again_elsewhere(chain: RegistryNode) -> None:
    chain.ok(CAROL, "apply", pb.MsgApply(role=pb.ROLE_PRODUCER, bus="b1"))
    result = chain.ok(UTILITY, "reject", pb.MsgReject(participant=CAROL.address, reason="no land"))
    rejected_at = chain.node.height
    assert _event(result, "registry_reject") == {
        "participant": CAROL.address,
        "status": "rejected",
        "reason": "no land",
    }
    carol = chain.participant(CAROL)
    assert (carol.status, carol.reason, carol.decided_height) == (
        pb.STATUS_REJECTED,
        "no land",
        rejected_at,
    )

    spec = pb.StorageSpec(
        capacity_wh=50_000, max_charge_w=10_000, max_discharge_w=8_000, efficiency_ppm=900_000
    )
    chain.ok(CAROL, "apply", pb.MsgApply(role=pb.ROLE_STORAGE, bus="b2", storage=spec))
    carol = chain.participant(CAROL)
    assert carol == pb.Participant(
        address=CAROL.address,
        role=pb.ROLE_STORAGE,
        bus="b2",
        status=pb.STATUS_PENDING,
        applied_height=chain.node.height,
        decided_height=rejected_at,  # the rejection is still the last decision
        reason="",
        storage=spec,
    )
    # The bus and status indexes followed the record.
    on_b1 = chain.query("Participants", pb.QueryParticipantsRequest(bus="b1")).participants
    on_b2 = chain.query("Participants", pb.QueryParticipantsRequest(bus="b2")).participants
    assert CAROL.address not in [p.address for p in on_b1]
    assert CAROL.address in [p.address for p in on_b2]
    rejected = chain.query("Participants", pb.QueryParticipantsRequest(status=pb.STATUS_REJECTED))
    assert list(rejected.participants) == []

    chain.ok(UTILITY, "approve", pb.MsgApprove(participant=CAROL.address))
    assert chain.participant(CAROL).status == pb.STATUS_APPROVED


def test_several_registry_messages_in_one_tx_run_in_order(chain: RegistryNode) -> None:
    chain.ok(BOB, "apply", pb.MsgApply(role=pb.ROLE_PROSUMER, bus="b1"))
    body_msgs: list[tuple[str, Any]] = [
        ("approve", pb.MsgApprove(participant=BOB.address)),
        ("register_meter", pb.MsgRegisterMeter(participant=BOB.address, pub_key=METER_NEW)),
    ]
    raw = chain.tx_many(UTILITY, body_msgs)
    assert chain.node.deliver(raw).code == 0
    assert chain.participant(BOB).status == pb.STATUS_APPROVED
    assert chain.meter(METER_NEW).participant == BOB.address


def test_a_failing_message_undoes_the_earlier_ones_of_its_tx(chain: RegistryNode) -> None:
    chain.ok(BOB, "apply", pb.MsgApply(role=pb.ROLE_PROSUMER, bus="b1"))
    before = chain.registry_state()
    body_msgs: list[tuple[str, Any]] = [
        ("approve", pb.MsgApprove(participant=BOB.address)),
        ("register_meter", pb.MsgRegisterMeter(participant=BOB.address, pub_key=METER_A)),
    ]
    result = chain.node.commit_block([chain.tx_many(UTILITY, body_msgs)]).tx_results[0]
    assert (result.codespace, result.code) == ("registry", 8)
    assert chain.registry_state() == before
    assert chain.participant(BOB).status == pb.STATUS_PENDING


def test_point_queries(chain: RegistryNode) -> None:
    auth = chain.query("Authorities", pb.QueryAuthoritiesRequest()).authorities
    assert (auth.utility, auth.regulator) == (UTILITY.address, REGULATOR.address)
    network = chain.query("Network", pb.QueryNetworkRequest()).network
    assert [(b.id, b.parent) for b in network.buses] == [
        ("pcc", ""),
        ("b1", "pcc"),
        ("b2", "pcc"),
        ("b3", "b1"),
    ]
    assert not network.buses[2].HasField("capacity_wh")
    assert network.buses[3].HasField("capacity_wh") and network.buses[3].capacity_wh == 0
    meters = chain.query("Meters", pb.QueryMetersRequest(participant=ALICE.address)).meters
    assert sorted(m.pub_key for m in meters) == [m.pub_key for m in meters]
    assert {m.pub_key for m in meters} == {METER_A, METER_OLD}
    assert list(chain.query("Meters", pb.QueryMetersRequest(participant=BOB.address)).meters) == []


BAD_QUERIES: list[tuple[str, Any, int, str]] = [
    ("Participant", pb.QueryParticipantRequest(address=BOB.address), 15, f"no participant {BOB.address}"),
    ("Participant", pb.QueryParticipantRequest(address="mg1bad"), 12, "invalid address"),
    ("Meter", pb.QueryMeterRequest(pub_key=METER_NEW), 15, f"no meter {METER_NEW.hex()}"),
    ("Meter", pb.QueryMeterRequest(pub_key=b"\x01"), 9, "pub_key: expected 32 bytes, got 1"),
    ("Meters", pb.QueryMetersRequest(participant=""), 12, "participant:"),
    ("Participants", pb.QueryParticipantsRequest(limit=1001), 9, "limit 1001 exceeds the maximum page size 1000"),
    ("Participants", pb.QueryParticipantsRequest(status=7), 9, "status: expected 0 (all) or one of"),  # type: ignore[arg-type]
    ("Participants", pb.QueryParticipantsRequest(bus="x" * 65), 9, "bus: bus id must be 1..64 bytes"),
    ("Participants", pb.QueryParticipantsRequest(page_key=b"\x03\x20"), 9, "page_key does not belong to this query"),
]  # fmt: skip


def test_bad_queries_are_rejected_with_the_field_at_fault(chain: RegistryNode) -> None:
    for method, req, code, fragment in BAD_QUERIES:
        result = chain.raw_query(method, req)
        assert (result.codespace, result.code) == ("tx", code), (method, result.log)
        assert fragment in result.log, (method, result.log)


def test_the_utility_registers_and_clears_a_renewable_generator(chain: RegistryNode) -> None:
    chain.ok(CAROL, "apply", pb.MsgApply(role=pb.ROLE_PRODUCER, bus="b1"))
    chain.ok(UTILITY, "approve", pb.MsgApprove(participant=CAROL.address))
    assert chain.participant(CAROL).technology == ""
    result = chain.ok(
        UTILITY, "set_renewable", pb.MsgSetRenewable(participant=CAROL.address, technology="wind")
    )
    assert _event(result, "registry_set_renewable") == {
        "participant": CAROL.address,
        "technology": "wind",
    }
    assert chain.participant(CAROL).technology == "wind"
    chain.ok(UTILITY, "set_renewable", pb.MsgSetRenewable(participant=CAROL.address))
    assert chain.participant(CAROL).technology == ""
