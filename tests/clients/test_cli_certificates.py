"""``mgrid tx certificates`` and ``mgrid query certificates``: the messages the
wallet builds (decoded from what reached a fake node), what it refuses before
signing, how holdings with a foreign origin render, and a whole life on a real
in-process chain (flag, meter reading, settlement, issuance, transfer,
retirement, the chain's refusal to move a retired certificate, queries), plus
``mgrid tx ibc transfer`` taking a certificate denom."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app import crypto
from app.genesis import default_app_state
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from app.tx import codec
from clients.mgrid.cli import ExitCode
from clients.mgrid.keyring import Keyring
from tests.clients.conftest import (
    CHAIN_ID,
    MICROGRID_FUNDS,
    MICROGRID_KEYS,
    MICROGRID_NETWORK,
    MICROGRID_PARAMS,
    MICROGRID_START,
    Microgrid,
    Wallet,
)
from tests.support.inproc import InProcessNode

FakeNode = Any
OWNER = crypto.PrivateKey(b"\x0b" * 32)
GEN = crypto.PrivateKey(b"\x0c" * 32).address
DENOM = f"rec/solar/{GEN}/1700000040-1700000160"
VOUCHER = "ibc/" + "C0" * 32
HOLDINGS = "/mgrid.certificates.v1.Query/Holdings"
ISSUANCES = "/mgrid.certificates.v1.Query/Issuances"


@pytest.fixture
def owner(wallet: Wallet) -> None:
    Keyring(wallet.keyring_dir, backend="test").add("owner", b"\x0b" * 32)


def _sent(node: FakeNode) -> Any:
    assert len(node.broadcasts) == 1
    (msg,) = codec.decode_tx(node.broadcasts[0][1]).body.messages
    return msg


def test_messages_as_built(wallet: Wallet, fake_node: FakeNode, owner: None) -> None:
    r = wallet("tx", "certificates", "retire", DENOM, "3", "--beneficiary", "household 12",
               "--reason", "2025 claim", "--from", "owner")  # fmt: skip
    assert r.code == 0, r.err
    assert _sent(fake_node).retire_certificates == cert_pb2.MsgRetire(
        denom=DENOM, count=3, beneficiary="household 12", reason="2025 claim"
    )
    fake_node.broadcasts.clear()
    r = wallet("tx", "certificates", "transfer", GEN, "2", VOUCHER, "--from", "owner")
    assert r.code == 0, r.err
    send = _sent(fake_node).send
    assert send.to_address == GEN and [(c.denom, c.amount) for c in send.amount] == [(VOUCHER, "2")]
    fake_node.broadcasts.clear()
    r = wallet("tx", "certificates", "transfer", "owner", "1", DENOM, "--from", "owner")
    assert r.code == 0 and _sent(fake_node).send.to_address == OWNER.address  # a key's name


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["retire", "ugrid", "1", "--beneficiary", "x"], "DENOM: 'ugrid' is not rec/"),
        (["retire", DENOM.replace("solar", "So"), "1", "--beneficiary", "x"], "technology"),
        (["retire", "ibc/XYZ", "1", "--beneficiary", "x"], "64 hex digits"),
        (["retire", DENOM, "0", "--beneficiary", "x"], "COUNT: at least 1"),
        (["retire", DENOM, "-1", "--beneficiary", "x"], "outside 0..2^64-1"),
        (["retire", DENOM, "1", "--beneficiary", "  "], "not blank"),
        (["retire", DENOM, "1", "--beneficiary", "b" * 129], "got 129"),
        (["retire", DENOM, "1", "--beneficiary", "x", "--reason", "r" * 257], "got 257"),
        (["retire", DENOM, "1"], "--beneficiary"),
        (["transfer", GEN, "1", "ugrid"], "DENOM: 'ugrid' is not rec/"),
        (["transfer", GEN, "0", DENOM], "COUNT: at least 1"),
    ],
)
def test_refused_before_signing(
    wallet: Wallet,
    fake_node: FakeNode,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = wallet("tx", "certificates", *argv, "--from", "nobody")
    assert r.code == ExitCode.USAGE
    assert message in r.err + capsys.readouterr().err
    assert fake_node.broadcasts == []


def test_holdings_text_names_the_origin(wallet: Wallet, fake_node: FakeNode) -> None:
    fake_node.responses[HOLDINGS] = cert_pb2.QueryHoldingsResponse(
        holdings=[
            cert_pb2.Holding(
                denom=VOUCHER,
                count=4,
                origin=cert_pb2.Origin(
                    microgrid="mg-a",
                    generator=GEN,
                    technology="wind",
                    period_start=1700000040,
                    period_end=1700000160,
                    path="transfer/channel-0",
                    base_denom=DENOM,
                ),
            ),
            cert_pb2.Holding(
                denom="ibc/" + "D1" * 32,
                count=1,
                origin=cert_pb2.Origin(
                    generator=GEN,
                    technology="solar",
                    period_start=1700000040,
                    period_end=1700000100,
                    path="transfer/channel-0/transfer/channel-3",
                ),
            ),
        ],
        total=5,
    )
    r = wallet("query", "certificates", "holdings", OWNER.address)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[:2] == [f"owner: {OWNER.address}", "total: 5 certificates"]
    assert lines[2].split() == [
        "DENOM", "COUNT", "MICROGRID", "TECHNOLOGY", "GENERATOR", "PERIOD", "PATH"
    ]  # fmt: skip
    assert lines[3].split() == [
        VOUCHER, "4", "mg-a", "wind", GEN, "2023-11-14T22:14:00Z/2023-11-14T22:16:00Z",
        "transfer/channel-0",
    ]  # fmt: skip
    assert lines[4].split()[2] == "?"  # more than one hop: the path says where it came over
    r = wallet("-o", "json", "query", "certificates", "holdings", OWNER.address)
    assert r.json()["total"] == 5 and r.json()["holdings"][0]["origin"]["microgrid"] == "mg-a"
    asked = cert_pb2.QueryHoldingsRequest.FromString(dict(fake_node.requests)[HOLDINGS])
    assert asked.owner == OWNER.address


def test_issuances_all_walks_the_pages(wallet: Wallet, fake_node: FakeNode) -> None:
    def answer(data: bytes) -> cert_pb2.QueryIssuancesResponse:
        req = cert_pb2.QueryIssuancesRequest.FromString(data)
        first = int(req.page_key.decode() or "1")
        more = str(first + 1).encode() if first < 3 else b""
        rows = [cert_pb2.Issuance(id=first, generator=req.generator, count=first, denom=DENOM,
                                  period_start=1700000040, period_end=1700000160)]  # fmt: skip
        return cert_pb2.QueryIssuancesResponse(issuances=rows, next_key=more)

    fake_node.responses[ISSUANCES] = answer
    r = wallet("-o", "json", "query", "certificates", "issuances", "--generator", GEN, "--all")
    assert r.code == 0, r.err
    assert [i["id"] for i in r.json()["issuances"]] == [1, 2, 3]
    assert {i["generator"] for i in r.json()["issuances"]} == {GEN}
    r = wallet("query", "certificates", "issuances", "--limit", "1")
    assert r.out.splitlines()[-1] == "more: --page-key 32"  # b"2"
    r = wallet("query", "certificates", "issuances", "--all", "--page-key", "32")
    assert r.code == ExitCode.USAGE


# -- on a real chain --------------------------------------------------------------------------


@pytest.fixture
def grid(tmp_path: Any) -> Iterator[Microgrid]:
    """The wallet tests' microgrid (conftest.microgrid) with 1000 Wh per certificate."""
    keyring = Keyring(str(tmp_path / "keyring"), backend="test")
    for name, n in MICROGRID_KEYS.items():
        keyring.add(name, bytes([n]) * 32)
    address = {info.name: info.address for info in keyring.list()}
    state = default_app_state(
        balances={address[n]: MICROGRID_FUNDS for n in ("utility", "alice", "bob", "carol")},
        utility=address["utility"],
        regulator=address["regulator"],
        network=MICROGRID_NETWORK,
        market_params=MICROGRID_PARAMS,
        settlement_params={"window_seconds": 30},
    )
    state["registry"]["participants"] = [
        {"address": address["alice"], "role": "prosumer", "bus": "b1"},
        {"address": address["bob"], "role": "consumer", "bus": "b2"},
    ]
    state["certificates"] = {"wh_per_certificate": 1000}
    home = tmp_path / "node"
    home.mkdir()
    node = InProcessNode(home, state, chain_id=CHAIN_ID, start_time=MICROGRID_START)
    try:
        yield Microgrid(node, Wallet(keyring.directory.as_posix(), node))
    finally:
        node.close()


def _json(w: Wallet, *argv: str) -> Any:
    r = w("-o", "json", *argv)
    assert r.code == 0, r.err + r.out
    return r.json()


def test_a_certificate_from_meter_to_retirement(grid: Microgrid) -> None:
    m, w = grid, grid.wallet
    alice, bob = m.address("alice"), m.address("bob")
    assert w("tx", "registry", "set-renewable", alice, "solar", "--from", "utility").code == 0
    r = w("tx", "registry", "register-meter", alice, "--meter-key", "meter1", "--from", "utility")
    assert r.code == 0, r.err
    n = _json(w, "query", "market", "schedule")["first_open"]
    interval = _json(w, "query", "market", "interval", str(n))["interval"]
    m.node.advance_to(interval["end_time"])
    r = w("tx", "settlement", "reading", "--meter", "meter1", "--interval", str(n),
          "--exported", "2.5kWh", "--imported", "0", "--from", "alice")  # fmt: skip
    assert r.code == 0, r.err + r.out
    m.node.advance_to(interval["end_time"] + 30)

    denom = f"rec/solar/{alice}/{interval['start_time']}-{interval['end_time']}"
    generator = _json(w, "query", "certificates", "generator", "alice")["generator"]
    assert (generator["issued"], generator["carry_wh"], generator["exported_wh"]) == (2, 500, 2500)
    text = w("query", "certificates", "holdings", "alice").out.splitlines()
    assert text[1] == "total: 2 certificates"
    assert text[3].split()[:5] == [denom, "2", CHAIN_ID, "solar", alice]
    assert text[3].split()[6] == "-"  # native
    assert w("query", "certificates", "params").out.strip() == "wh_per_certificate: 1000 (1 kWh)"
    [issuance] = _json(w, "query", "certificates", "issuances", "--all")["issuances"]
    assert (issuance["denom"], issuance["count"], issuance["interval"]) == (denom, 2, n)

    r = w("tx", "certificates", "transfer", "bob", "1", denom, "--from", "alice")
    assert r.code == 0, r.err + r.out
    out = _json(w, "tx", "certificates", "retire", denom, "1", "--beneficiary", "household 12",
                "--reason", "2025", "--from", "alice")  # fmt: skip
    assert out["retirement_id"] == 1
    r = w("tx", "certificates", "transfer", "carol", "1", denom, "--from", "alice")
    assert r.code == ExitCode.CHAIN and "codespace: bank" in r.out and "code: 2" in r.out
    [retired] = _json(w, "query", "certificates", "retirements", "--owner", "alice")["retirements"]
    assert (retired["beneficiary"], retired["count"], retired["origin"]["microgrid"]) == (
        "household 12",
        1,
        CHAIN_ID,
    )
    text = w("query", "certificates", "retirements").out.splitlines()
    assert text[1].split()[:4] == ["1", alice, "household", "12"]
    origin = w("query", "certificates", "origin", denom).out.splitlines()
    assert origin[0] == f"microgrid:  {CHAIN_ID}" and origin[-1] == f"supply:     1 ({denom})"
    balance = m.node.query(
        bank_pb2.DESCRIPTOR, "Balance", bank_pb2.QueryBalanceRequest(address=bob, denom=denom)
    )
    assert balance.balance.amount == "1"
    r = w("tx", "certificates", "retire", denom, "1", "--beneficiary", "x", "--from", "alice")
    assert r.code == ExitCode.CHAIN and "insufficient funds" in r.out

    # Certificates cross to a neighbouring microgrid with the ICS-20 command as it is.
    doc = _json(w, "tx", "ibc", "transfer", "channel-0", bob, f"1{denom}", "--from", "bob",
                "--generate-only")  # fmt: skip
    [msg] = doc["body"]["messages"]
    assert msg["transfer"]["token"] == {"denom": denom, "amount": "1"}
