"""``mgrid tx registry`` and ``mgrid query registry``: what the wallet builds
(decoded from what reached a fake node), what it refuses before signing, and
the whole participant lifecycle against a real in-process chain."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.pb.mgrid.registry.v1 import registry_pb2
from app.tx import codec
from clients.mgrid.cli import ExitCode
from clients.mgrid.keyring import Keyring

SEED = bytes(range(32))
KEY = crypto.PrivateKey(SEED)
OTHER = crypto.PrivateKey(bytes(32)).address
METER = crypto.PrivateKey(b"\x09" * 32).public_key

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any
Microgrid = Any


@pytest.fixture
def utility(wallet: Wallet) -> str:
    keyring = Keyring(wallet.keyring_dir, backend="test")
    keyring.add("utility", SEED)
    keyring.add("meter", b"\x09" * 32)
    return KEY.address


def _msg(node: FakeNode) -> Any:
    """The one message of the one transaction broadcast to ``node``."""
    assert len(node.broadcasts) == 1
    tx = codec.decode_tx(node.broadcasts[0][1])
    assert tx.body.signer == KEY.address
    (msg,) = tx.body.messages
    return getattr(msg, msg.WhichOneof("sum"))


# -- transactions, as built ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["apply", "--role", "producer", "--bus", "b7"],
            registry_pb2.MsgApply(role=registry_pb2.ROLE_PRODUCER, bus="b7"),
        ),
        (
            [
                "apply",
                "--role",
                "storage",
                "--bus",
                "b7",
                "--capacity-wh",
                "100000",
                "--max-charge-w",
                "20000",
                "--max-discharge-w",
                "15000",
                "--efficiency",
                "900000",
            ],
            registry_pb2.MsgApply(
                role=registry_pb2.ROLE_STORAGE,
                bus="b7",
                storage=registry_pb2.StorageSpec(
                    capacity_wh=100_000,
                    max_charge_w=20_000,
                    max_discharge_w=15_000,
                    efficiency_ppm=900_000,
                ),
            ),
        ),
        (
            ["set-renewable", OTHER, "wind"],
            registry_pb2.MsgSetRenewable(participant=OTHER, technology="wind"),
        ),
        (["approve", OTHER], registry_pb2.MsgApprove(participant=OTHER)),
        (
            ["reject", OTHER, "--reason", "no meter yet"],
            registry_pb2.MsgReject(participant=OTHER, reason="no meter yet"),
        ),
        (
            ["suspend", OTHER, "--reason", "tampering"],
            registry_pb2.MsgSetSuspended(participant=OTHER, suspended=True, reason="tampering"),
        ),
        (
            ["reinstate", OTHER],
            registry_pb2.MsgSetSuspended(participant=OTHER, suspended=False),
        ),
        (
            ["register-meter", OTHER, METER.hex()],
            registry_pb2.MsgRegisterMeter(participant=OTHER, pub_key=METER),
        ),
        (
            ["register-meter", OTHER, "--meter-key", "meter"],
            registry_pb2.MsgRegisterMeter(participant=OTHER, pub_key=METER),
        ),
        (["revoke-meter", "0x" + METER.hex()], registry_pb2.MsgRevokeMeter(pub_key=METER)),
        (["revoke-meter", "--meter-key", "meter"], registry_pb2.MsgRevokeMeter(pub_key=METER)),
    ],
)
def test_tx_builds_the_message(
    wallet: Wallet, fake_node: FakeNode, utility: str, argv: list[str], expected: Any
) -> None:
    r = wallet("tx", "registry", *argv, "--from", "utility")
    assert r.code == 0, r.err
    assert _msg(fake_node) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["approve", "mg1bogus"], "ADDR"),
        (["register-meter", OTHER], "PUBKEY_HEX or as --meter-key"),
        (["register-meter", OTHER, METER.hex(), "--meter-key", "meter"], "one of them"),
        (["revoke-meter", "zz"], "not hex"),
        (["revoke-meter", "abcd"], "expected 32 bytes"),
        # stateless checks of the registry's own validate_basic, run before signing
        (["apply", "--role", "prosumer", "--bus", ""], "bus"),
        (["reject", OTHER, "--reason", "x" * 10_000], "reason"),
    ],
)
def test_tx_refused_before_signing_exits_2(
    wallet: Wallet, fake_node: FakeNode, utility: str, argv: list[str], message: str
) -> None:
    r = wallet("tx", "registry", *argv, "--from", "utility")
    assert r.code == ExitCode.USAGE, r.err
    assert message in r.err
    assert fake_node.broadcasts == []


@pytest.mark.parametrize(
    "argv",
    [
        ["apply", "--role", "miner", "--bus", "b1", "--from", "utility"],
        ["apply", "--bus", "b1", "--from", "utility"],
        ["approve", OTHER],  # --from is required
    ],
)
def test_tx_usage_errors(wallet: Wallet, utility: str, argv: list[str]) -> None:
    assert wallet("tx", "registry", *argv).code == ExitCode.USAGE


def test_unknown_meter_key_exits_4(wallet: Wallet, fake_node: FakeNode, utility: str) -> None:
    r = wallet("tx", "registry", "revoke-meter", "--meter-key", "nope", "--from", "utility")
    assert r.code == ExitCode.KEYRING and "'nope'" in r.err
    assert fake_node.broadcasts == []


def test_bank_send_also_takes_from(wallet: Wallet, fake_node: FakeNode, utility: str) -> None:
    r = wallet("tx", "bank", "send", "--from", "utility", OTHER, "5ugrid", "--yes")
    assert r.code == 0, r.err
    r = wallet("tx", "bank", "send", OTHER, "6ugrid", "--from=utility")
    assert r.code == 0, r.err
    amounts = [codec.decode_tx(raw).body.messages[0].send.amount[0].amount for _, raw in
               fake_node.broadcasts]  # fmt: skip
    assert amounts == ["5", "6"]


# -- queries, as rendered --------------------------------------------------------------------

PARTICIPANTS = "/mgrid.registry.v1.Query/Participants"


def test_participants_query_request_json_and_table(wallet: Wallet, fake_node: FakeNode) -> None:
    fake_node.responses[PARTICIPANTS] = registry_pb2.QueryParticipantsResponse(
        participants=[
            registry_pb2.Participant(
                address=OTHER,
                role=registry_pb2.ROLE_PRODUCER,
                bus="b1",
                status=registry_pb2.STATUS_APPROVED,
                applied_height=3,
                decided_height=4,
                technology="wind",
            )
        ],
        next_key=b"\x01\xff",
    )
    argv = ["query", "registry", "participants", "--status", "approved", "--bus", "b1"]
    r = wallet("-o", "json", *argv, "--limit", "5", "--page-key", "00ab", "--height", "9")
    assert r.code == 0, r.err
    path, data = fake_node.requests[-1]
    assert path == PARTICIPANTS and fake_node.queries[-1] == (PARTICIPANTS, 9)
    assert registry_pb2.QueryParticipantsRequest.FromString(
        data
    ) == registry_pb2.QueryParticipantsRequest(
        status=registry_pb2.STATUS_APPROVED, bus="b1", limit=5, page_key=b"\x00\xab"
    )
    assert r.json() == {
        "participants": [
            {
                "address": OTHER,
                "role": "ROLE_PRODUCER",
                "bus": "b1",
                "status": "STATUS_APPROVED",
                "applied_height": 3,
                "decided_height": 4,
                "reason": "",
                "technology": "wind",
            }
        ],
        "next_key": "01ff",
    }
    text = wallet(*argv).out
    assert text.splitlines()[0].split() == [
        "ADDRESS",
        "ROLE",
        "BUS",
        "STATUS",
        "TECHNOLOGY",
        "APPLIED_HEIGHT",
        "DECIDED_HEIGHT",
        "REASON",
    ]
    assert text.splitlines()[1].split() == [OTHER, "producer", "b1", "approved", "wind", "3", "4"]
    assert "more: --page-key 01ff" in text


def test_query_usage_errors(wallet: Wallet, fake_node: FakeNode) -> None:
    assert wallet("query", "registry", "participants", "--status", "happy").code == 2
    assert wallet("query", "registry", "participants", "--page-key", "xyz").code == 2
    assert wallet("query", "registry", "participant", "cosmos1abc").code == 2
    assert wallet("query", "registry", "meter").code == 2
    assert fake_node.queries == []


def test_query_error_exits_1(wallet: Wallet, fake_node: FakeNode) -> None:
    path = "/mgrid.registry.v1.Query/Participant"
    fake_node.query_errors[path] = ("registry", 5, f"no participant {OTHER}")
    r = wallet("query", "registry", "participant", OTHER)
    assert r.code == ExitCode.CHAIN and f"no participant {OTHER}" in r.err


# -- the lifecycle on a real chain -----------------------------------------------------------


def test_participant_lifecycle_end_to_end(microgrid: Microgrid) -> None:
    w, carol = microgrid.wallet, microgrid.address("carol")

    def participant(height: int = 0) -> dict[str, Any]:
        argv = ["-o", "json", "query", "registry", "participant", carol, "--height", str(height)]
        r = w(*argv)
        assert r.code == 0, r.err
        return r.json()["participant"]  # type: ignore[no-any-return]

    assert (
        w("tx", "registry", "apply", "--role", "producer", "--bus", "b2", "--from", "carol").code
        == 0
    )
    applied = microgrid.node.height
    assert participant()["status"] == "STATUS_PENDING"

    # Only the utility cell approves: the chain says so, exit 1 with its codespace.
    r = w("tx", "registry", "approve", carol, "--from", "bob")
    assert r.code == ExitCode.CHAIN and "codespace=registry" in r.err

    assert w("tx", "registry", "approve", carol, "--from", "utility").code == 0
    assert participant()["status"] == "STATUS_APPROVED"
    assert participant(applied)["status"] == "STATUS_PENDING"  # --height reads the past

    argv = ["tx", "registry", "register-meter", carol, "--meter-key", "meter1", "--from", "utility"]
    assert w(*argv).code == 0
    argv = ["tx", "registry", "register-meter", carol, microgrid.pub_key("meter2")]
    assert w(*argv, "--from", "utility").code == 0
    meters = w("-o", "json", "query", "registry", "meters", carol).json()["meters"]
    assert {m["pub_key"] for m in meters} == {microgrid.pub_key(m) for m in ("meter1", "meter2")}
    r = w("query", "registry", "meter", "--meter-key", "meter1")
    assert f"participant: {carol}" in r.out and "revoked: no" in r.out

    argv = ["tx", "registry", "suspend", carol, "--reason", "meter offline", "--from", "regulator"]
    assert w(*argv).code == 0
    assert participant()["status"] == "STATUS_SUSPENDED"
    assert participant()["reason"] == "meter offline"
    assert w("tx", "registry", "reinstate", carol, "--from", "utility").code == 0
    assert participant()["status"] == "STATUS_APPROVED"

    argv = ["tx", "registry", "revoke-meter", "--meter-key", "meter1", "--from", "utility"]
    assert w(*argv).code == 0
    meter = w("-o", "json", "query", "registry", "meter", microgrid.pub_key("meter1")).json()
    assert meter["meter"]["revoked"] is True and meter["meter"]["participant"] == carol

    listed = w("-o", "json", "query", "registry", "participants", "--bus", "b2").json()
    assert {p["address"] for p in listed["participants"]} == {carol, microgrid.address("bob")}


def test_reject_end_to_end(microgrid: Microgrid) -> None:
    w, carol = microgrid.wallet, microgrid.address("carol")
    assert (
        w("tx", "registry", "apply", "--role", "consumer", "--bus", "b1", "--from", "carol").code
        == 0
    )
    argv = ["tx", "registry", "reject", carol, "--reason", "bus full", "--from", "utility"]
    assert w(*argv).code == 0
    r = w("query", "registry", "participant", carol)
    assert "status: rejected" in r.out and "reason: bus full" in r.out
    listed = w("-o", "json", "query", "registry", "participants", "--status", "rejected").json()
    assert [p["address"] for p in listed["participants"]] == [carol]


def test_network_and_authorities_end_to_end(microgrid: Microgrid) -> None:
    w = microgrid.wallet
    network = w("-o", "json", "query", "registry", "network").json()["network"]
    assert network == {
        "buses": [
            {"id": "pcc", "parent": "", "loss_ppm": 0},
            {"id": "b1", "parent": "pcc", "capacity_wh": 5000, "loss_ppm": 0},
            {"id": "b2", "parent": "pcc", "loss_ppm": 0},
        ]
    }
    text = w("query", "registry", "network").out.splitlines()
    assert [line.split() for line in text] == [
        ["BUS", "PARENT", "CAPACITY_WH"],
        ["pcc", "(root)", "unlimited"],
        ["b1", "pcc", "5000"],
        ["b2", "pcc", "unlimited"],
    ]
    authorities = w("-o", "json", "query", "registry", "authorities").json()["authorities"]
    assert authorities == {
        "utility": microgrid.address("utility"),
        "regulator": microgrid.address("regulator"),
    }


def test_offline_signing_asks_the_node_nothing(
    wallet: Wallet, fake_node: FakeNode, utility: str
) -> None:
    argv = ["--chain-id", "mgrid-test-1", "tx", "registry", "revoke-meter", "--meter-key", "meter"]
    r = wallet(*argv, "--sequence", "3", "--fees", "0ugrid", "--from", "utility")
    assert r.code == 0, r.err
    assert fake_node.queries == [] and fake_node.status_calls == 0
    assert codec.decode_tx(fake_node.broadcasts[0][1]).body.sequence == 3
