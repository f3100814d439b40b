"""``mgrid tx settlement``, ``mgrid query settlement`` and ``mgrid query
reputation``: the reading the wallet builds and who signs what (decoded from
what reached a fake node), what it refuses before opening a key, and whole
delivery intervals (bids, clearing, readings, settlement, reputation) on a
real in-process chain, with the chain's own refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import crypto
from app.modules.settlement.reading import verify_reading
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.tx import codec
from clients.mgrid.cli import ExitCode
from clients.mgrid.keyring import Keyring

METER = crypto.PrivateKey(b"\x09" * 32)
PAYER = crypto.PrivateKey(b"\x0a" * 32)
OTHER = crypto.PrivateKey(bytes(32)).address
CHAIN_ID = "mgrid-test-1"  # conftest.CHAIN_ID

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any
Microgrid = Any

SCHEDULE = "/mgrid.market.v1.Query/Schedule"
METER_QUERY = "/mgrid.registry.v1.Query/Meter"


@pytest.fixture
def keys(wallet: Wallet) -> None:
    keyring = Keyring(wallet.keyring_dir, backend="test")
    keyring.add("meter", b"\x09" * 32)
    keyring.add("payer", b"\x0a" * 32)


def _sent(node: FakeNode) -> tuple[Any, settlement_pb2.MsgMeterReading]:
    """The body and the MsgMeterReading of the one transaction broadcast to ``node``."""
    assert len(node.broadcasts) == 1
    tx = codec.decode_tx(node.broadcasts[0][1])
    (msg,) = tx.body.messages
    assert msg.WhichOneof("sum") == "meter_reading"
    return tx.body, msg.meter_reading


# -- the reading, as built -------------------------------------------------------------------


def test_reading_signed_by_the_meter_and_paid_by_from(
    wallet: Wallet, fake_node: FakeNode, keys: None
) -> None:
    fake_node.responses[SCHEDULE] = market_pb2.QueryScheduleResponse(current_interval=42)
    fake_node.responses[METER_QUERY] = registry_pb2.QueryMeterResponse(
        meter=registry_pb2.Meter(pub_key=METER.public_key, participant=OTHER)
    )
    argv = ["tx", "settlement", "reading", "--meter", "meter", "--interval", "last"]
    r = wallet(*argv, "--exported", "1.5kWh", "--imported", "20Wh", "--from", "payer")
    assert r.code == 0, r.err
    body, msg = _sent(fake_node)
    assert body.signer == PAYER.address  # --from submits and pays
    assert verify_reading(msg, METER.public_key)  # the meter signed the very bytes sent
    assert settlement_pb2.MeterReading.FromString(msg.reading) == settlement_pb2.MeterReading(
        chain_id=CHAIN_ID,
        meter=METER.public_key,
        participant=OTHER,  # the meter's registered participant
        interval=41,  # last: the interval before the current one
        exported_wh=1500,
        imported_wh=20,
        sequence=41,  # the meter's sequence defaults to the interval
    )
    asked = dict(fake_node.requests)
    assert registry_pb2.QueryMeterRequest.FromString(asked[METER_QUERY]).pub_key == (
        METER.public_key
    )


def test_reading_with_participant_and_meter_sequence(
    wallet: Wallet, fake_node: FakeNode, keys: None
) -> None:
    argv = ["tx", "settlement", "reading", "--meter", "meter", "--interval", "7"]
    r = wallet(*argv, "--exported", "0", "--imported", "2kWh", "--participant", "payer",
               "--meter-sequence", "900", "--sequence", "3", "--from", "payer")  # fmt: skip
    assert r.code == 0, r.err
    body, msg = _sent(fake_node)
    assert body.sequence == 3  # --sequence stays the account's, as on every tx command
    reading = settlement_pb2.MeterReading.FromString(msg.reading)
    assert (reading.participant, reading.interval, reading.sequence) == (PAYER.address, 7, 900)
    assert reading.imported_wh == 2000
    assert METER_QUERY not in dict(fake_node.requests) and SCHEDULE not in dict(fake_node.requests)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--interval", "0"], "sequence: meters count from 1"),  # validate_basic
        (["--interval", "5", "--meter-sequence", "0"], "sequence: meters count from 1"),
        (["--interval", "5", "--exported", str(10**15 + 1)], "exceeds"),
        (["--interval", "5", "--exported", "1.0005kWh"], "whole Wh"),
        (["--interval", "soon"], "not a whole number"),
        (["--interval", "5", "--participant", "mg1notanaddress"], "--participant"),
    ],
)
def test_reading_refused_before_any_key_is_opened(
    wallet: Wallet,
    fake_node: FakeNode,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Keys of the encrypted backend and no passphrase: opening one would fail with exit 4.
    keyring = Keyring(wallet.keyring_dir, backend="file", passphrase="correct horse")
    keyring.add("meter", b"\x09" * 32)
    keyring.add("payer", b"\x0a" * 32)
    base = ["tx", "settlement", "reading", "--meter", "meter", "--participant", OTHER]
    base += ["--exported", "1", "--imported", "0"]
    r = wallet(*base, *argv, "--from", "payer", backend="file")
    assert r.code == ExitCode.USAGE, r.err
    assert message in r.err + capsys.readouterr().err  # argparse writes to sys.stderr
    assert fake_node.broadcasts == []


def test_reading_usage_and_keyring_errors(wallet: Wallet, fake_node: FakeNode, keys: None) -> None:
    base = ["tx", "settlement", "reading", "--interval", "5", "--exported", "1", "--imported", "0"]
    assert wallet(*base, "--meter", "meter").code == ExitCode.USAGE  # no --from
    assert wallet(*base, "--from", "payer").code == ExitCode.USAGE  # no --meter
    r = wallet(*base, "--meter", "nosuchmeter", "--from", "payer")
    assert r.code == ExitCode.KEYRING and "nosuchmeter" in r.err
    r = wallet(*base, "--meter", "meter", "--participant", "nobody", "--from", "payer")
    assert r.code == ExitCode.KEYRING and "nobody" in r.err
    assert fake_node.broadcasts == []


def test_unregistered_meter_without_participant_says_how_to_register(
    wallet: Wallet, fake_node: FakeNode, keys: None
) -> None:
    fake_node.query_errors[METER_QUERY] = ("tx", 15, "not found: no meter ab")
    argv = ["tx", "settlement", "reading", "--meter", "meter", "--interval", "5"]
    r = wallet("-o", "json", *argv, "--exported", "1", "--imported", "0", "--from", "payer")
    assert r.code == ExitCode.CHAIN
    assert fake_node.broadcasts == []
    error = json.loads(r.err)
    assert (error["codespace"], error["code"]) == ("tx", 15)
    assert "register-meter ADDR --meter-key meter" in error["error"]


def test_query_usage_errors(wallet: Wallet, fake_node: FakeNode) -> None:
    for argv in (
        ["settlement", "settlements"],  # neither --interval nor --participant
        ["settlement", "settlements", "--interval", "3", "--all", "--page-key", "ab"],
        ["settlement", "reading", "--interval", "3"],
        ["settlement", "interval"],
        ["reputation", "score"],
        ["reputation", "ranking", "--limit", "x"],
    ):
        assert wallet("query", *argv).code == ExitCode.USAGE, argv
    assert fake_node.queries == []


# -- on a real chain -------------------------------------------------------------------------


def _json(w: Wallet, *argv: str) -> Any:
    r = w("-o", "json", *argv)
    assert r.code == 0, r.err
    return r.json()


def _register_meters(m: Microgrid) -> None:
    for meter, who in (("meter1", "alice"), ("meter2", "bob")):
        argv = ["tx", "registry", "register-meter", m.address(who), "--meter-key", meter]
        r = m.wallet(*argv, "--from", "utility")
        assert r.code == 0, r.err


def _trade(m: Microgrid, wh: int = 1000) -> dict[str, Any]:
    """alice sells ``wh`` at 150, bob buys ``wh`` at 250, for the first open interval;
    block time is then moved to the interval's end, where readings open. Returns the
    market's record of the cleared interval."""
    w = m.wallet
    n = _json(w, "query", "market", "schedule")["first_open"]
    for who, side, price in (("alice", "sell", "150"), ("bob", "buy", "250")):
        r = w("tx", "market", "place-order", side, "--quantity", str(wh), "--interval", str(n),
              "--price", price, "--from", who)  # fmt: skip
        assert r.code == 0, r.err
    end = _json(w, "query", "market", "interval", str(n))["interval"]["end_time"]
    m.node.advance_to(end)
    record = _json(w, "query", "market", "interval", str(n))["interval"]
    assert record["status"] == "INTERVAL_STATUS_CLEARED" and record["matched_wh"] == wh
    return record  # type: ignore[no-any-return]


def _read(w: Wallet, meter: str, n: int | str, exported: str, imported: str, *extra: str) -> Any:
    """Submit a reading (from carol unless ``--from`` is in ``extra``); the Result."""
    sender = [] if "--from" in extra else ["--from", "carol"]
    return w("tx", "settlement", "reading", "--meter", meter, "--interval", str(n),
             "--exported", exported, "--imported", imported, *extra, *sender)  # fmt: skip


def _settle(m: Microgrid, n: int) -> dict[str, Any]:
    """Move block time to the end of n's settlement window; n's Interval query then."""
    window_end = _json(m.wallet, "query", "settlement", "interval", str(n))["window_end"]
    m.node.advance_to(window_end)
    return _json(m.wallet, "query", "settlement", "interval", str(n))  # type: ignore[no-any-return]


def _row(text: str, participant: str) -> list[str]:
    """The cells of ``participant``'s row in a text table."""
    (line,) = [line for line in text.splitlines() if participant in line.split()]
    return line.split()


def _by_address(*addresses: str) -> list[str]:
    return sorted(addresses, key=crypto.decode_address)


def test_full_interval_settled_and_ranked(microgrid: Microgrid) -> None:
    m, w = microgrid, microgrid.wallet
    alice, bob = m.address("alice"), m.address("bob")
    _register_meters(m)
    record = _trade(m)
    n = record["id"]
    window = _json(w, "query", "settlement", "params")["params"]["window_seconds"]

    r = _read(w, "meter1", n, "1kWh", "0")  # carol submits and pays for alice's meter
    assert r.code == 0, r.err
    assert "settlement_reading:" in r.out and f"  participant: {alice}" in r.out
    assert f"  interval: {n}" in r.out and "  exported_wh: 1000" in r.out
    reading = _json(w, "tx", "settlement", "reading", "--meter", "meter2", "--interval", "last",
                    "--exported", "0", "--imported", "1000Wh", "--from", "bob")  # fmt: skip
    assert reading["reading"] == {
        "meter": m.pub_key("meter2"),
        "participant": bob,
        "interval": n,
        "exported_wh": 0,
        "imported_wh": 1000,
        "sequence": n,
    }

    pending = _json(w, "query", "settlement", "interval", str(n))
    assert pending["settled"] is False and pending["settlements"] == []
    assert pending["window_end"] == record["end_time"] + window
    text = w("query", "settlement", "interval", str(n)).out
    assert f"settled: not yet; readings are taken until {pending['window_end']} (" in text

    out = _settle(m, n)
    assert out["settled"] is True
    st = out["settlement"]
    assert st["settled_time"] == out["window_end"]  # the first block at the window's end
    assert (st["participants"], st["readings"], st["missing_readings"]) == (2, 2, 0)
    for money in ("imbalance_cost", "imbalance_revenue", "penalties", "unrecovered", "rebates"):
        assert st[money] == "0", money
    price, fee = record["clearing_price"], 10  # MICROGRID_PARAMS grid_fee_per_kwh
    fit, retail = record["feed_in_tariff"], record["retail_tariff"]
    assert price == 200
    # savings against the main grid: alice would have sold at feed-in, bob bought at retail
    alice_savings, bob_savings = price - fit, retail - (price + fee)
    assert st["kpis"] == {
        "generation_wh": 1000,
        "consumption_wh": 1000,
        "locally_used_wh": 1000,
        "self_sufficiency": 1_000_000,
        "self_consumption": 1_000_000,
        "local_traded_wh": 1000,
        "local_amount": "200",
        "average_local_price": 200,
        "retail_tariff": retail,
        "feed_in_tariff": fit,
        "savings": str(alice_savings + bob_savings),
        "pcc_import_wh": 0,
        "pcc_export_wh": 0,
    }
    rows = {row["participant"]: row for row in out["settlements"]}
    assert [row["participant"] for row in out["settlements"]] == _by_address(alice, bob)
    a, b = rows[alice], rows[bob]
    assert (a["contracted_sell_wh"], a["contracted_buy_wh"], a["local_sell_wh"]) == (1000, 0, 1000)
    assert (a["exported_wh"], a["imported_wh"], a["deviation_wh"]) == (1000, 0, 0)
    assert (a["contract_received"], a["net"], a["penalty"]) == ("200", "200", "0")
    assert a["savings"] == str(alice_savings)
    assert (b["contracted_sell_wh"], b["contracted_buy_wh"]) == (0, 1000)
    assert (b["exported_wh"], b["imported_wh"], b["deviation_wh"]) == (0, 1000, 0)
    assert (b["contract_paid"], b["net"], b["savings"]) == ("210", "-210", str(bob_savings))
    # both kept their word: accuracy 1, score 1/2 -> 3/4 * 1/2 + 1/4 * 1
    for row in (a, b):
        assert (row["accuracy"], row["score_before"], row["score_after"]) == (
            1_000_000,
            500_000,
            625_000,
        )
        assert (row["meters"], row["missing_readings"], row["shortfall_wh"]) == (1, 0, 0)

    text = w("query", "settlement", "interval", str(n)).out
    assert f"settled: yes, at height {st['settled_height']}, block time {st['settled_time']} (" in (
        text
    )
    for line in (
        "participants: 2",
        "readings: 2",
        "  generation: 1 kWh",
        "  consumption: 1 kWh",
        "  locally used: 1 kWh",
        "  self-sufficiency: 100%",
        "  self-consumption: 100%",
        "  local traded: 1 kWh for 200ugrid",
        "  average local price: 200ugrid/kWh (retail 300ugrid/kWh, feed-in 100ugrid/kWh)",
        f"  savings: +{alice_savings + bob_savings}ugrid (against trading with the main grid only)",
        "  pcc import: 0 kWh",
        "  penalties: 0ugrid",
        "  rebates: 0ugrid",
        "participants (amounts in ugrid, energy in Wh):",
    ):
        assert line in text.splitlines(), line
    assert "SELL_WH  BUY_WH  EXPORT_WH  IMPORT_WH  DEVIATION_WH" in text
    assert _row(text, alice) == [alice, "1000", "0", "1000", "0", "0", "0", "0", "0", "0", "+200",
                                 "50%->62.5%"]  # fmt: skip
    assert _row(text, bob) == [bob, "0", "1000", "0", "1000", "0", "0", "0", "0", "0", "-210",
                               "50%->62.5%"]  # fmt: skip

    ranking = _json(w, "query", "reputation", "ranking")
    assert [s["participant"] for s in ranking["scores"]] == _by_address(alice, bob)  # a tie
    assert [(s["score"], s["intervals"], s["last_interval"]) for s in ranking["scores"]] == [
        (625_000, 1, n),
        (625_000, 1, n),
    ]
    text = w("query", "reputation", "ranking").out.splitlines()
    assert text[0].split() == [
        "RANK", "PARTICIPANT", "SCORE_PPM", "SCORE", "INTERVALS", "SUSPENDED_UNTIL", "REBATES"
    ]  # fmt: skip
    first, second = _by_address(alice, bob)
    assert text[1].split() == ["1", first, "625000", "62.5%", "1", "-", "0ugrid"]
    assert text[2].split() == ["2", second, "625000", "62.5%", "1", "-", "0ugrid"]

    # one page at a time: the second page knows where it ranks
    page = _json(w, "query", "reputation", "ranking", "--limit", "1")
    assert [s["participant"] for s in page["scores"]] == [first] and page["next_key"]
    r = w("query", "reputation", "ranking", "--limit", "1")
    assert f"more: --page-key {page['next_key']}" in r.out
    r = w("query", "reputation", "ranking", "--limit", "1", "--page-key", page["next_key"])
    assert _row(r.out, second)[0] == "2" and "more:" not in r.out
    walked = _json(w, "query", "reputation", "ranking", "--limit", "1", "--all")
    assert walked == {**ranking, "next_key": ""}

    kpis = _json(w, "query", "settlement", "kpis")["totals"]
    assert (kpis["intervals"], kpis["local_traded_wh"], kpis["self_sufficiency"]) == (
        1,
        1000,
        1_000_000,
    )
    assert "self-sufficiency: 100%" in w("query", "settlement", "kpis").out


def test_shortfall_penalised_and_ranked_below(microgrid: Microgrid) -> None:
    m, w = microgrid, microgrid.wallet
    alice, bob = m.address("alice"), m.address("bob")
    _register_meters(m)
    record = _trade(m)
    n = record["id"]
    penalty_per_kwh = _json(w, "query", "settlement", "params")["params"]["shortfall_penalty"]
    assert _read(w, "meter1", n, "800", "0", "--from", "alice").code == 0  # 200 Wh short
    assert _read(w, "meter2", n, "0", "1kWh", "--from", "bob").code == 0
    out = _settle(m, n)

    rows = {row["participant"]: row for row in out["settlements"]}
    a = rows[alice]
    retail = record["retail_tariff"]
    cost = 200 * retail // 1000
    penalty = 200 * penalty_per_kwh // 1000
    assert (a["contracted_sell_wh"], a["exported_wh"], a["deviation_wh"]) == (1000, 800, -200)
    assert (a["shortfall_wh"], a["imbalance_bought_wh"], a["imbalance_cost"]) == (
        200,
        200,
        str(cost),
    )
    assert a["penalty"] == str(penalty) and penalty > 0
    assert a["net"] == str(200 - cost - penalty)  # paid for 1 kWh, bought 200 Wh, penalised
    # net: what the whole interval did to her balance (her collateral came back)
    funds = [int(_json(w, "query", "bank", "balance", alice, *h)["amount"])
             for h in (["--height", "1"], [])]  # fmt: skip
    assert funds[1] - funds[0] == int(a["net"]) and a["collateral_released"] != "0"
    # accuracy 1 - 200/1000; score 3/4 * 1/2 + 1/4 * 4/5
    assert (a["accuracy"], a["score_after"]) == (800_000, 575_000)
    assert rows[bob]["score_after"] == 625_000 and rows[bob]["penalty"] == "0"
    st = out["settlement"]
    assert (st["penalties"], st["imbalance_cost"]) == (str(penalty), str(cost))
    k = st["kpis"]
    assert (k["generation_wh"], k["consumption_wh"], k["locally_used_wh"]) == (800, 1000, 800)
    assert (k["self_sufficiency"], k["self_consumption"], k["pcc_import_wh"]) == (
        800_000,
        1_000_000,
        200,
    )

    text = w("query", "settlement", "interval", str(n)).out
    assert _row(text, alice) == [alice, "1000", "0", "800", "0", "-200", "200", "-200",
                                 f"-{cost}", str(penalty), str(200 - cost - penalty),
                                 "50%->57.5%"]  # fmt: skip
    assert f"  penalties: {penalty}ugrid" in text.splitlines()
    assert "  self-sufficiency: 80%" in text.splitlines()
    assert "  pcc import: 0.2 kWh" in text.splitlines()

    score = _json(w, "query", "reputation", "score", "alice")
    assert score["score"]["score"] == 575_000 and score["rank"] == 2
    assert _json(w, "query", "reputation", "score", bob)["rank"] == 1
    text = w("query", "reputation", "score", "alice").out
    assert "score: 575000 ppm (57.5%)" in text and "rank: 2" in text.splitlines()
    assert [s["participant"] for s in _json(w, "query", "reputation", "ranking")["scores"]] == [
        bob,
        alice,
    ]
    history = _json(w, "query", "reputation", "history", "alice")["entries"]
    assert history == [
        {
            "interval": n,
            "accuracy": 800_000,
            "score_before": 500_000,
            "score_after": 575_000,
            "contracted_wh": 1000,
            "deviation_wh": -200,
            "suspended": False,
            "source": "",
        }
    ]
    rows_text = w("query", "reputation", "history", alice).out.splitlines()
    assert rows_text[1].split() == [str(n), "80%", "50%->57.5%", "1000", "-200", "no"]

    mine = _json(w, "query", "settlement", "settlements", "--participant", "alice")
    assert mine["settlements"] == [a]
    one = _json(w, "query", "settlement", "settlements", "--participant", alice,
                "--interval", str(n))  # fmt: skip
    assert one["settlements"] == [a]
    every = _json(w, "query", "settlement", "settlements", "--interval", str(n), "--limit", "1",
                  "--all")  # fmt: skip
    assert every == {"settlements": out["settlements"], "next_key": ""}
    text = w("query", "settlement", "settlements", "--participant", "alice").out
    assert _row(text, alice)[:2] == [str(n), alice]  # one participant: the interval first
    totals = _json(w, "query", "settlement", "kpis")["totals"]
    assert totals["penalties"] == str(penalty)
    assert (totals["peak_import_wh"], totals["peak_import_interval"]) == (200, n)
    text = w("query", "settlement", "kpis").out.splitlines()
    assert f"penalties: {penalty}ugrid" in text and f"peak import: 0.2 kWh in interval {n}" in text


def test_readings_the_chain_refuses(microgrid: Microgrid) -> None:
    m, w = microgrid, microgrid.wallet
    alice = m.address("alice")
    _register_meters(m)
    n = _json(w, "query", "market", "schedule")["first_open"]

    def refused(r: Any, code: int, log: str) -> None:
        assert r.code == ExitCode.CHAIN, r.out
        assert f"codespace=settlement code={code}: {log}" in r.err, r.err

    # Too early: the interval has not ended.
    refused(_read(w, "meter1", n, "1", "0"), 8, "outside the settlement window")
    end = _json(w, "query", "market", "interval", str(n))["interval"]["end_time"]
    m.node.advance_to(end)
    # meter1 measures alice, not bob.
    refused(_read(w, "meter1", n, "1", "0", "--participant", "bob"), 7,
            "meter measures another participant")  # fmt: skip
    # carol's key is no meter.
    refused(_read(w, "carol", n, "1", "0", "--participant", alice), 5, "unknown meter")
    r = _read(w, "carol", n, "1", "0")  # and the wallet cannot tell whom it measures
    assert r.code == ExitCode.CHAIN and "is not registered" in r.err
    assert _json(w, "query", "settlement", "readings", "--interval", str(n))["readings"] == []

    assert _read(w, "meter1", n, "500", "0").code == 0
    stored = _json(w, "query", "settlement", "reading", "--meter", "meter1", "--interval", str(n))
    # A second reading for the same meter and interval, as JSON: the tx result says why.
    r = w("-o", "json", "tx", "settlement", "reading", "--meter", "meter1", "--interval", str(n),
          "--exported", "900", "--imported", "0", "--from", "carol")  # fmt: skip
    assert r.code == ExitCode.CHAIN
    assert (r.json()["codespace"], r.json()["code"]) == ("settlement", 9)
    assert "reading already submitted" in r.json()["log"]
    # nothing changed
    again = _json(w, "query", "settlement", "reading", "--meter", m.pub_key("meter1"),
                  "--interval", str(n))  # fmt: skip
    assert again == stored and stored["reading"]["exported_wh"] == 500
    readings = _json(w, "query", "settlement", "readings", "--interval", str(n))["readings"]
    assert [x["meter"] for x in readings] == [m.pub_key("meter1")]

    # After the window: too late.
    m.node.advance_to(_json(w, "query", "settlement", "interval", str(n))["window_end"])
    refused(_read(w, "meter2", n, "0", "1"), 8, "outside the settlement window")


def test_meter_sequence_and_the_readings_list(microgrid: Microgrid) -> None:
    m, w = microgrid, microgrid.wallet
    _register_meters(m)
    n = _trade(m)["id"]
    assert _read(w, "meter1", n, "1kWh", "0").code == 0  # sequence n
    assert _read(w, "meter2", n, "0", "1kWh", "--meter-sequence", "7").code == 0

    listed = _json(w, "query", "settlement", "readings", "--interval", str(n))
    by_meter = {x["meter"]: x for x in listed["readings"]}
    assert set(by_meter) == {m.pub_key("meter1"), m.pub_key("meter2")}
    one, two = by_meter[m.pub_key("meter1")], by_meter[m.pub_key("meter2")]
    assert (one["sequence"], one["participant"], one["exported_wh"]) == (
        n,
        m.address("alice"),
        1000,
    )
    assert (two["sequence"], two["participant"], two["imported_wh"]) == (7, m.address("bob"), 1000)
    assert one["submitter"] == two["submitter"] == m.address("carol")
    text = w("query", "settlement", "readings", "--interval", str(n)).out.splitlines()
    assert text[0].split() == ["METER", "PARTICIPANT", "EXPORTED_WH", "IMPORTED_WH", "SEQUENCE",
                               "HEIGHT", "SUBMITTER"]  # fmt: skip
    assert _row("\n".join(text), m.pub_key("meter2"))[1:5] == [m.address("bob"), "0", "1000", "7"]
    page = _json(w, "query", "settlement", "readings", "--interval", str(n), "--limit", "1")
    assert len(page["readings"]) == 1 and page["next_key"]
    r = w("query", "settlement", "readings", "--interval", str(n + 1))
    assert r.code == 0 and r.out.strip() == f"no readings for interval {n + 1}"

    # The next interval: the default (n + 1) is above both meters' sequences...
    end = _json(w, "query", "market", "interval", str(n + 1))["interval"]["end_time"]
    m.node.advance_to(end)
    assert _read(w, "meter2", "last", "0", "5").code == 0
    # ...but an explicit sequence must still go up.
    r = _read(w, "meter1", n + 1, "0", "5", "--meter-sequence", str(n))
    assert r.code == ExitCode.CHAIN and "codespace=settlement code=10" in r.err
    last = _json(w, "query", "settlement", "reading", "--meter", "meter2", "--interval",
                 str(n + 1))["reading"]  # fmt: skip
    assert (last["interval"], last["sequence"]) == (n + 1, n + 1)


def test_an_interval_with_nothing_to_settle(microgrid: Microgrid) -> None:
    m, w = microgrid, microgrid.wallet
    n = _json(w, "query", "market", "schedule")["current_interval"]
    out = _settle(m, n)
    assert out["settled"] is True and out["settlements"] == []
    assert out["settlement"]["settled_height"] == 0  # no settlement block ran
    text = w("query", "settlement", "interval", str(n)).out
    assert "settled: nothing to settle (no contracts and no readings)" in text
    r = w("query", "reputation", "ranking")
    assert r.code == 0 and "nobody is ranked yet" in r.out
    score = _json(w, "query", "reputation", "score", "carol")
    assert score["rank"] == 0 and score["score"]["score"] == 500_000  # the initial score
    assert "rank: not ranked yet" in w("query", "reputation", "score", "carol").out
    totals = _json(w, "query", "settlement", "kpis")["totals"]
    assert totals["intervals"] == 0 and totals["penalties"] == "0"
    params = _json(w, "query", "reputation", "params")["params"]
    assert params["initial_score"] == 500_000 and params["weight"] == "1/4"
    assert "window_seconds: " in w("query", "settlement", "params").out
