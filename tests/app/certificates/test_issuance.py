"""Issuance through the real state machine: the utility cell flags generators
(MsgSetRenewable), meters report intervals, settlement settles them, and
certificates appear, one per 1000 Wh here, the rest carried to the next
interval. Chain(check_invariants=True) checks the module's invariants after
every block."""

from __future__ import annotations

import pytest

from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from tests.app.certificates.conftest import WH, Certs, events
from tests.app.market.conftest import ALICE, BOB, CAROL, EVE

CHAIN = "mgrid-inproc-1"


def period(c: Certs, first: int, last: int) -> tuple[int, int]:
    return c.interval(first).start_time, c.interval(last).end_time


def denom(c: Certs, technology: str, who: str, first: int, last: int) -> str:
    start, end = period(c, first, last)
    return f"rec/{technology}/{who}/{start}-{end}"


def test_exports_become_certificates_with_the_rest_carried(certs: Certs) -> None:
    c = certs
    c.set_renewable(CAROL, "solar")
    c.set_renewable(ALICE, "wind")
    n = c.schedule().first_open
    # BOB exports too but is not a renewable generator; EVE reads nothing.
    c.export(n, {CAROL: 2500, ALICE: 700, BOB: 3000})
    d1 = denom(c, "solar", CAROL.address, n, n)
    assert c.count(CAROL, d1) == 2 and c.supply_of(d1) == 2
    carol = c.generator(CAROL)
    assert carol == cert_pb2.Generator(
        generator=CAROL.address,
        technology="solar",
        exported_wh=2500,
        certified_wh=2 * WH,
        issued=2,
        carry_wh=500,
        carry_first_interval=n,
        last_interval=n,
    )
    alice = c.generator(ALICE)
    assert (alice.issued, alice.carry_wh, alice.carry_first_interval) == (0, 700, n)
    assert c.holdings(ALICE).total == 0 and c.holdings(BOB).total == 0
    with pytest.raises(AssertionError, match="no renewable export"):
        c.generator(BOB)
    with pytest.raises(AssertionError, match="no renewable export"):
        c.generator(EVE)

    # n+1: CAROL's carry 500 + 600 = 1100 -> 1 certificate for n..n+1, 100 carried from n+1;
    # ALICE's 700 + 300 = 1000 exactly -> 1 certificate for n..n+1, nothing carried.
    c.export(n + 1, {CAROL: 600, ALICE: 300})
    d2 = denom(c, "solar", CAROL.address, n, n + 1)
    d3 = denom(c, "wind", ALICE.address, n, n + 1)
    assert c.count(CAROL, d2) == 1 and c.count(ALICE, d3) == 1
    carol = c.generator(CAROL)
    assert (carol.exported_wh, carol.certified_wh, carol.carry_wh) == (3100, 3000, 100)
    assert carol.carry_first_interval == n + 1
    alice = c.generator(ALICE)
    assert (alice.exported_wh, alice.issued, alice.carry_wh, alice.carry_first_interval) == (
        1000,
        1,
        0,
        0,
    )
    rows = c.issuances(CAROL)
    assert [(i.interval, i.first_interval, i.count, i.denom) for i in rows] == [
        (n, n, 2, d1),
        (n + 1, n, 1, d2),
    ]
    assert [i.id for i in c.issuances()] == [1, 2, 3]
    assert c.issuances()[2].generator == ALICE.address

    holdings = c.holdings(CAROL)
    assert holdings.total == 3
    assert [(h.denom, h.count) for h in holdings.holdings] == sorted([(d1, 2), (d2, 1)])
    origin = holdings.holdings[0].origin
    assert (origin.microgrid, origin.path, origin.generator, origin.technology) == (
        CHAIN,
        "",
        CAROL.address,
        "solar",
    )


def test_issue_event_and_zero_export_changes_nothing(certs: Certs) -> None:
    c = certs
    c.set_renewable(CAROL, "small_hydro")
    n = c.schedule().first_open
    end = c.interval(n).end_time
    c.node.advance_to(end)
    assert c.read(CAROL, n, 1999, 0).code == 0
    blocks = c.node.advance_to(end + 30)
    [issued] = [e for b in blocks for e in events(b, "certificates_issue")]
    start, stop = period(c, n, n)
    assert issued == {
        "issuance_id": "1",
        "generator": CAROL.address,
        "technology": "small_hydro",
        "interval": str(n),
        "first_interval": str(n),
        "count": "1",
        "denom": f"rec/small_hydro/{CAROL.address}/{start}-{stop}",
        "period_start": str(start),
        "period_end": str(stop),
        "carry_wh": "999",
    }
    before = c.generator(CAROL)
    c.export(n + 1, {CAROL: 0, BOB: 10})  # CAROL reads 0 exported: nothing changes
    assert c.generator(CAROL) == before
    assert len(c.issuances()) == 1


def test_flag_cleared_stops_issuance_and_the_carry_waits(certs: Certs) -> None:
    c = certs
    c.set_renewable(CAROL, "solar")
    n = c.schedule().first_open
    c.export(n, {CAROL: 800})
    c.set_renewable(CAROL, "")
    c.export(n + 1, {CAROL: 5000})  # not a generator now: not counted
    assert c.generator(CAROL).exported_wh == 800 and c.holdings(CAROL).total == 0
    c.set_renewable(CAROL, "wind")  # the carry is the generator's: certified as wind
    c.export(n + 2, {CAROL: 300})
    [issuance] = c.issuances(CAROL)
    assert (issuance.technology, issuance.first_interval, issuance.interval) == ("wind", n, n + 2)
    assert issuance.denom == denom(c, "wind", CAROL.address, n, n + 2)
    g = c.generator(CAROL)
    assert (g.exported_wh, g.issued, g.carry_wh, g.technology) == (1100, 1, 100, "wind")


def test_default_is_one_certificate_per_mwh(make_market) -> None:  # type: ignore[no-untyped-def]
    from tests.app.certificates.conftest import cert_state

    c = Certs(make_market(cert_state(None)).node)
    params = c.cq("Params", cert_pb2.QueryParamsRequest()).params
    assert params.wh_per_certificate == 1_000_000
    c.set_renewable(CAROL, "solar")
    n = c.schedule().first_open
    c.export(n, {CAROL: 999_999})
    assert c.holdings(CAROL).total == 0
    c.export(n + 1, {CAROL: 1_000_000})  # the line's limit per interval
    g = c.generator(CAROL)
    assert (g.issued, g.carry_wh) == (1, 999_999)
    assert c.holdings(CAROL).holdings[0].denom == denom(c, "solar", CAROL.address, n, n + 1)


def test_genesis_flag_counts_and_storage_discharge_is_not_certified(make_market) -> None:  # type: ignore[no-untyped-def]
    from tests.app.certificates.conftest import cert_state
    from tests.support.txs import key

    battery, battery_meter = key(71), key(72)
    state = cert_state()
    registry = state["registry"]
    for p in registry["participants"]:
        if p["address"] == EVE.address:
            p["technology"] = "biogas"
    registry["participants"].append(
        {
            "address": battery.address,
            "role": "storage",
            "bus": "b2",
            "technology": "solar",  # flagged, but a battery only gives back stored energy
            "storage": {
                "capacity_wh": 100_000,
                "max_charge_w": 20_000,
                "max_discharge_w": 20_000,
                "efficiency_ppm": 900_000,
            },
        }
    )
    registry["meters"].append(
        {"pub_key": battery_meter.public_key.hex(), "participant": battery.address}
    )
    c = Certs(make_market(state).node)
    n = c.schedule().first_open
    end = c.interval(n).end_time
    c.node.advance_to(end)
    assert c.read(EVE, n, 2100, 0).code == 0
    r = c.read(battery, n, 5000, 0, meter=battery_meter)
    assert r.code == 0, r.log
    c.node.advance_to(end + 30)
    assert c.generator(EVE).issued == 2
    assert c.holdings(battery).total == 0
    with pytest.raises(AssertionError, match="no renewable export"):
        c.generator(battery)


def test_worked_example_of_the_docs(certs: Certs) -> None:
    """docs/certificates.md: 2500, 600, 0, 950 Wh at 1000 Wh per certificate."""
    c = certs
    c.set_renewable(CAROL, "solar")
    n = c.schedule().first_open
    for k, wh in enumerate([2500, 600, 0, 950]):
        c.export(n + k, {CAROL: wh, BOB: 5})  # BOB's reading makes every interval settle
    rows = [(i.interval, i.count, i.denom) for i in c.issuances(CAROL)]
    assert rows == [
        (n, 2, denom(c, "solar", CAROL.address, n, n)),
        (n + 1, 1, denom(c, "solar", CAROL.address, n, n + 1)),
        (n + 3, 1, denom(c, "solar", CAROL.address, n + 1, n + 3)),
    ]
    g = c.generator(CAROL)
    assert (g.exported_wh, g.certified_wh, g.carry_wh, g.carry_first_interval) == (
        4050,
        4000,
        50,
        n + 3,
    )
