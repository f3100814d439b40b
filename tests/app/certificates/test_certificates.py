"""MsgRetire: each refusal code, the retire flow (burned, recorded, never to move
again), and the queries over what was issued and retired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import crypto
from app.genesis import default_app_state
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from tests.app.certificates.conftest import Certs, events
from tests.app.market.conftest import ALICE, BOB, CAROL, DAVE
from tests.support.inproc import InProcessNode

VOUCHER = "ibc/" + "AB" * 32


@pytest.fixture
def issued(certs: Certs) -> tuple[Certs, str]:
    """CAROL holds 3 certificates of one class (3500 Wh exported, 500 carried)."""
    certs.set_renewable(CAROL, "solar")
    n = certs.schedule().first_open
    certs.export(n, {CAROL: 3500})
    [holding] = certs.holdings(CAROL).holdings
    assert holding.count == 3
    return certs, holding.denom


def snapshot(c: Certs, denom: str) -> tuple[Any, ...]:
    return (
        c.count(CAROL, denom),
        c.count(BOB, denom),
        c.supply_of(denom),
        len(c.retirements()),
        c.holdings(CAROL).total,
    )


def _cases(denom: str) -> list[tuple[str, dict[str, Any], str, int, str]]:
    """(case, MsgRetire fields over a valid one, codespace, code, text in the log)."""
    head, times = denom.rsplit("/", 1)
    start, end = times.split("-")
    return [
        ("chain denom", {"denom": "ugrid"}, "certificates", 3, "is not rec/"),
        (
            "upper-case technology",
            {"denom": denom.replace("/solar/", "/Solar/")},
            "certificates",
            3,
            "not a technology name",
        ),
        (
            "bad generator",
            {"denom": denom.replace("/mg1", "/mg2")},
            "certificates",
            3,
            "generator",
        ),
        ("empty period", {"denom": f"{head}/{end}-{end}"}, "certificates", 3, "is not before"),
        ("leading zero", {"denom": f"{head}/0{start}-{end}"}, "certificates", 3, "is not rec/"),
        ("short voucher", {"denom": "ibc/ABCD"}, "certificates", 3, "64 hex digits"),
        ("zero count", {"count": 0}, "certificates", 4, "at least 1"),
        ("no beneficiary", {"beneficiary": ""}, "certificates", 5, "1..128"),
        ("blank beneficiary", {"beneficiary": "   "}, "certificates", 5, "not blank"),
        ("long beneficiary", {"beneficiary": "x" * 129}, "certificates", 5, "got 129"),
        ("control character", {"beneficiary": "a\nb"}, "certificates", 5, "printable"),
        ("long reason", {"reason": "r" * 257}, "certificates", 6, "got 257"),
        ("reason with a tab", {"reason": "a\tb"}, "certificates", 6, "printable"),
        ("unknown voucher", {"denom": VOUCHER}, "certificates", 7, "not a voucher known"),
        ("more than held", {"count": 4}, "bank", 2, "has 3"),
        (
            "a class never issued",
            {"denom": f"{head}/{start}-{int(end) + 60}"},
            "bank",
            2,
            "has 0",
        ),
    ]


def test_refusals_change_nothing(issued: tuple[Certs, str]) -> None:
    c, denom = issued
    before = snapshot(c, denom)
    for case, fields, codespace, code, text in _cases(denom):
        msg = {"denom": denom, "count": 1, "beneficiary": "household 12", "reason": ""}
        msg.update(fields)
        r = c.tx(CAROL, retire_certificates=cert_pb2.MsgRetire(**msg))
        assert (r.codespace, r.code) == (codespace, code), f"{case}: {r.log}"
        assert text in r.log, f"{case}: {r.log}"
        assert snapshot(c, denom) == before, case
    assert [(case, code) for case, *_, code, _ in _cases(denom)]  # the table is not empty
    codes = {(cs, code) for _, _, cs, code, _ in _cases(denom)}
    assert codes == {("certificates", n) for n in range(3, 8)} | {("bank", 2)}


def test_retired_certificates_cannot_move(issued: tuple[Certs, str]) -> None:
    c, denom = issued
    assert c.send(CAROL, BOB, denom, 1).code == 0  # a transfer is a bank send
    assert (c.count(CAROL, denom), c.count(BOB, denom)) == (2, 1)
    r = c.retire(CAROL, denom, 2, "Acme Ltd", reason="2024 scope 2")
    assert r.code == 0, r.log
    [event] = events(r, "certificates_retire")
    assert event["retirement_id"] == "1" and event["count"] == "2"
    assert (event["beneficiary"], event["microgrid"], event["path"]) == (
        "Acme Ltd",
        c.node.chain_id,
        "",
    )
    assert (c.count(CAROL, denom), c.supply_of(denom)) == (0, 1)
    [record] = c.retirements(CAROL)
    assert (record.id, record.owner, record.beneficiary, record.reason) == (
        1,
        CAROL.address,
        "Acme Ltd",
        "2024 scope 2",
    )
    assert (record.denom, record.count, record.height) == (denom, 2, c.node.height)
    assert record.time == c.node.block_time
    assert record.origin.microgrid == c.node.chain_id and record.origin.base_denom == denom
    assert record.origin.technology == "solar" and record.origin.generator == CAROL.address

    # The retired two no longer exist: CAROL cannot send them, BOB's one is untouched.
    before = snapshot(c, denom)
    r = c.send(CAROL, ALICE, denom, 1)
    assert (r.codespace, r.code) == ("bank", 2), r.log
    assert snapshot(c, denom) == before
    # BOB retires the last one: the class has no supply left, and nothing can move.
    assert c.retire(BOB, denom, 1, "BOB's flat").code == 0
    assert c.supply_of(denom) == 0 and c.holdings(BOB).total == 0
    for who in (CAROL, BOB):
        r = c.send(who, ALICE, denom, 1)
        assert r.code != 0 and r.codespace == "bank", r.log
    assert [x.owner for x in c.retirements()] == [CAROL.address, BOB.address]
    assert [x.id for x in c.retirements(BOB)] == [2]
    resp = c.cq("Origin", cert_pb2.QueryOriginRequest(denom=denom))
    assert (resp.supply.denom, resp.supply.amount) == (denom, "0")
    # Retiring again what was retired fails: there is nothing left to burn.
    r = c.retire(CAROL, denom, 1)
    assert (r.codespace, r.code) == ("bank", 2)


def test_queries(issued: tuple[Certs, str]) -> None:
    c, denom = issued
    c.set_renewable(ALICE, "wind")
    n = c.schedule().first_open
    c.export(n, {ALICE: 4000, CAROL: 600})
    # one interval's generators issue in address order
    both = sorted([ALICE.address, CAROL.address], key=crypto.decode_address)
    assert [i.generator for i in c.issuances()] == [CAROL.address, *both]
    first = c.cq("Issuances", cert_pb2.QueryIssuancesRequest(limit=2))
    assert [i.id for i in first.issuances] == [1, 2] and first.next_key
    rest = c.cq("Issuances", cert_pb2.QueryIssuancesRequest(limit=2, page_key=first.next_key))
    assert [i.id for i in rest.issuances] == [3] and not rest.next_key
    mine = c.cq("Issuances", cert_pb2.QueryIssuancesRequest(generator=CAROL.address, limit=1))
    assert [i.id for i in mine.issuances] == [1] and mine.next_key
    resp = c.cq("Origin", cert_pb2.QueryOriginRequest(denom=denom))
    assert resp.supply.amount == "3" and resp.origin.path == ""
    start, end = (int(x) for x in denom.rsplit("/", 1)[1].split("-"))
    assert (resp.origin.period_start, resp.origin.period_end) == (start, end)
    assert c.retirements() == [] and c.retirements(CAROL) == []
    bad = [
        ("Origin", cert_pb2.QueryOriginRequest(denom="ugrid"), "is not rec/"),
        ("Origin", cert_pb2.QueryOriginRequest(denom=VOUCHER), "not a voucher known"),
        ("Origin", cert_pb2.QueryOriginRequest(), "denom is empty"),
        ("Origin", cert_pb2.QueryOriginRequest(denom=f"rec/wind/{BOB.address}/60-120"), "no cert"),
        ("Holdings", cert_pb2.QueryHoldingsRequest(owner="mg1nope"), "owner"),
        ("Generator", cert_pb2.QueryGeneratorRequest(generator=DAVE.address), "no renewable"),
        ("Issuances", cert_pb2.QueryIssuancesRequest(generator="x"), "generator"),
        ("Retirements", cert_pb2.QueryRetirementsRequest(limit=5000), "exceeds"),
        ("Retirements", cert_pb2.QueryRetirementsRequest(page_key=b"\x01"), "page_key"),
    ]
    for method, req, text in bad:
        with pytest.raises(AssertionError, match=text):
            c.cq(method, req)


def test_without_a_market_the_module_is_off(tmp_path: Path) -> None:
    state = default_app_state(balances={CAROL.address: 1000})
    node = InProcessNode(tmp_path, state)
    try:
        c = Certs(node)
        r = c.retire(CAROL, VOUCHER, 1)
        assert (r.codespace, r.code) == ("certificates", 8), r.log
        with pytest.raises(AssertionError, match="certificates/8"):
            c.cq("Params", cert_pb2.QueryParamsRequest())
        node.advance(5)  # end_block does nothing, invariants hold
    finally:
        node.close()
