"""``mgrid tx dr``, ``mgrid query dr`` and ``mgrid query settlement baseline``: the
messages the wallet builds (decoded from what reached a fake node), what it refuses
before opening a key, and a whole demand-response event (issued, joined, metered,
settled, queried) on a real in-process chain, with the chain's own refusals."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.tx import codec
from clients.mgrid.cli import ExitCode
from clients.mgrid.keyring import Keyring

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any
Microgrid = Any

UTILITY = crypto.PrivateKey(b"\x0b" * 32)
POOLKEY = crypto.PrivateKey(b"\x0c" * 32)
SCHEDULE = "/mgrid.market.v1.Query/Schedule"


@pytest.fixture
def keys(wallet: Wallet) -> None:
    keyring = Keyring(wallet.keyring_dir, backend="test")
    keyring.add("utility", b"\x0b" * 32)
    keyring.add("pool", b"\x0c" * 32)


def _sent(node: FakeNode) -> tuple[Any, Any]:
    """The body and the one Msg of the one transaction broadcast to ``node``."""
    assert len(node.broadcasts) == 1
    tx = codec.decode_tx(node.broadcasts[0][1])
    (msg,) = tx.body.messages
    return tx.body, msg


# -- the messages, as built ------------------------------------------------------------------


def test_create_event_message(wallet: Wallet, fake_node: FakeNode, keys: None) -> None:
    fake_node.responses[SCHEDULE] = market_pb2.QueryScheduleResponse(first_open=77)
    r = wallet("tx", "dr", "create-event", "--interval", "next", "--requested", "1.5kWh",
               "--reward", "200", "--penalty", "100", "--bus", "b2", "--penalty-account",
               "pool", "--from", "utility")  # fmt: skip
    assert r.code == 0, r.err
    body, msg = _sent(fake_node)
    assert body.signer == UTILITY.address
    assert msg.WhichOneof("sum") == "create_dr_event"
    assert msg.create_dr_event == dr_pb2.MsgCreateEvent(
        interval=77,  # next: the first open interval
        bus="b2",
        requested_wh=1500,
        reward_per_kwh=200,
        penalty_per_kwh=100,
        penalty_account=POOLKEY.address,  # a key name, resolved to its address
    )


def test_create_event_with_a_number_and_no_penalty_account(
    wallet: Wallet, fake_node: FakeNode, keys: None
) -> None:
    r = wallet("tx", "dr", "create-event", "--interval", "12", "--requested", "300",
               "--reward", "0", "--penalty", "0", "--from", "utility")  # fmt: skip
    assert r.code == 0, r.err
    _, msg = _sent(fake_node)
    assert msg.create_dr_event == dr_pb2.MsgCreateEvent(interval=12, requested_wh=300)
    assert SCHEDULE not in dict(fake_node.requests)


def test_opt_in_message(wallet: Wallet, fake_node: FakeNode, keys: None) -> None:
    r = wallet("tx", "dr", "opt-in", "5", "--commit", "0.25kWh", "--from", "pool")
    assert r.code == 0, r.err
    body, msg = _sent(fake_node)
    assert body.signer == POOLKEY.address
    assert msg.dr_opt_in == dr_pb2.MsgOptIn(event_id=5, committed_wh=250)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["create-event", "--interval", "3", "--requested", "0", "--reward", "1",
          "--penalty", "1"], "requested_wh must be 1..1000000000000 Wh, got 0"),
        (["create-event", "--interval", "3", "--requested", "10", "--reward", "1000000001",
          "--penalty", "1"], "reward_per_kwh must be at most 1000000000"),
        (["create-event", "--interval", "3", "--requested", "10", "--reward", "1",
          "--penalty", "1", "--penalty-account", "mg1nope"], "--penalty-account"),
        (["create-event", "--interval", "soon", "--requested", "10", "--reward", "1",
          "--penalty", "1"], "not a whole number"),
        (["create-event", "--interval", "3", "--requested", "1.0005kWh", "--reward", "1",
          "--penalty", "1"], "whole Wh"),
        (["opt-in", "0", "--commit", "10"], "event ids start at 1"),
        (["opt-in", "3", "--commit", "0"], "committed_wh must be 1.."),
        (["opt-in", "3"], "--commit"),
    ],
)  # fmt: skip
def test_refused_before_any_key_is_opened(
    wallet: Wallet,
    fake_node: FakeNode,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Keys of the encrypted backend and no passphrase: opening one would fail with exit 4.
    keyring = Keyring(wallet.keyring_dir, backend="file", passphrase="correct horse")
    keyring.add("utility", b"\x0b" * 32)
    r = wallet("tx", "dr", *argv, "--from", "utility", backend="file")
    assert r.code == ExitCode.USAGE, r.err
    assert message in r.err + capsys.readouterr().err  # argparse writes to sys.stderr
    assert fake_node.broadcasts == []


def test_query_usage_errors(wallet: Wallet, fake_node: FakeNode) -> None:
    for argv in (
        ["dr", "event"],
        ["dr", "event", "x"],
        ["dr", "events", "--all", "--page-key", "ab"],
        ["dr", "opt-ins"],
        ["settlement", "baseline", "mg1x"],  # no --interval
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


def _read(w: Wallet, meter: str, n: int, exported: str, imported: str) -> None:
    r = w("tx", "settlement", "reading", "--meter", meter, "--interval", str(n),
          "--exported", exported, "--imported", imported, "--from", "carol")  # fmt: skip
    assert r.code == 0, r.err


def _row(text: str, first: str) -> list[str]:
    (line,) = [line for line in text.splitlines() if line.split()[:1] == [first]]
    return line.split()


def _balance(w: Wallet, who: str, *height: str) -> int:
    return int(_json(w, "query", "bank", "balance", who, *height)["amount"])


def test_an_event_end_to_end(microgrid: Microgrid) -> None:
    m, w = microgrid, microgrid.wallet
    alice, bob, utility = m.address("alice"), m.address("bob"), m.address("utility")
    carol = m.address("carol")
    _register_meters(m)
    first = _json(w, "query", "market", "schedule")["first_open"]
    n = first + 1  # the interval before it gives the baselines
    start = {who: _balance(w, who) for who in (alice, bob, utility, carol)}

    created = _json(w, "tx", "dr", "create-event", "--interval", str(n), "--requested", "2kWh",
                    "--reward", "300", "--penalty", "100", "--penalty-account", "carol",
                    "--from", "utility")  # fmt: skip
    assert created["code"] == 0
    event_id = created["event_id"]
    assert (created["interval"], created["reserve"]) == (n, "600")
    r = w("tx", "dr", "create-event", "--interval", "next", "--requested", "500", "--reward",
          "10", "--penalty", "10", "--bus", "b1", "--from", "utility")  # fmt: skip
    assert r.code == 0, r.err
    assert f"event id: {event_id + 1}" in r.out.splitlines()
    assert f"interval: {first}" in r.out.splitlines()

    joined = _json(w, "tx", "dr", "opt-in", str(event_id), "--commit", "1kWh", "--from", "alice")
    assert (joined["event_id"], joined["collateral"]) == (event_id, "100")
    r = w("tx", "dr", "opt-in", str(event_id), "--commit", "500", "--from", "bob")
    assert r.code == 0 and "collateral: 50" in r.out.splitlines(), r.out

    # Refused by the chain: not a participant; more than remains; outside the bus.
    r = w("tx", "dr", "opt-in", str(event_id), "--commit", "10", "--from", "carol")
    assert r.code == ExitCode.CHAIN and "codespace=demand_response code=9" in r.err, r.err
    r = w("tx", "dr", "opt-in", str(event_id), "--commit", "501", "--from", "alice")
    assert "code=12" in r.err  # already opted in
    r = w("-o", "json", "tx", "dr", "opt-in", str(event_id + 1), "--commit", "10", "--from", "bob")
    assert r.code == ExitCode.CHAIN
    assert (r.json()["codespace"], r.json()["code"]) == ("demand_response", 11)
    r = w("tx", "dr", "create-event", "--interval", str(n), "--requested", "1", "--reward", "1",
          "--penalty", "1", "--from", "alice")  # fmt: skip
    assert r.code == ExitCode.CHAIN and "codespace=registry code=2" in r.err

    # Open, as JSON (the Event response) and as text.
    open_event = _json(w, "query", "dr", "event", str(event_id))
    assert open_event["event"]["status"] == "EVENT_STATUS_OPEN"
    assert (open_event["event"]["committed_wh"], open_event["event"]["opt_ins"]) == (1500, 2)
    assert [o["participant"] for o in open_event["opt_ins"]] == sorted(
        (alice, bob), key=crypto.decode_address
    )
    text = w("query", "dr", "event", str(event_id)).out
    assert "status: open" in text.splitlines() and "committed_wh: 1500" in text.splitlines()
    assert "opt_ins: 2" in text.splitlines()
    assert _row(text, alice) == [alice, "1000", "100", *["-"] * 7]

    listed = _json(w, "query", "dr", "events")
    assert [e["id"] for e in listed["events"]] == [event_id, event_id + 1]
    assert _json(w, "query", "dr", "events", "--interval", str(n))["events"] == [
        open_event["event"]
    ]
    page = _json(w, "query", "dr", "events", "--limit", "1")
    assert len(page["events"]) == 1 and page["next_key"]
    walked = _json(w, "query", "dr", "events", "--limit", "1", "--all")
    assert walked == {**listed, "next_key": ""}
    text = w("query", "dr", "events").out
    assert text.splitlines()[0].split() == [
        "ID", "INTERVAL", "BUS", "REQUESTED_WH", "COMMITTED_WH", "OPT_INS", "REWARD_PER_KWH",
        "PENALTY_PER_KWH", "STATUS", "AUTO",
    ]  # fmt: skip
    assert _row(text, str(event_id)) == [str(event_id), str(n), "(all)", "2000", "1500", "2",
                                         "300", "100", "open", "no"]  # fmt: skip
    assert _row(text, str(event_id + 1))[2] == "b1"
    assert w("query", "dr", "events", "--interval", "5").out.strip() == "no events for interval 5"

    # Meters: baselines from interval n - 1 (alice 3 kWh, bob 1 kWh), then interval n.
    end = _json(w, "query", "market", "interval", str(n))["interval"]["end_time"]
    m.node.advance_to(end)
    assert _json(w, "query", "dr", "event", str(event_id))["event"]["status"] == (
        "EVENT_STATUS_CLOSED"
    )
    _read(w, "meter1", n - 1, "0", "3kWh")
    _read(w, "meter2", n - 1, "0", "1kWh")
    _read(w, "meter1", n, "0", "2.2kWh")  # 800 of 1000 delivered
    _read(w, "meter2", n, "0", "400")  # 600 delivered, 500 committed
    baseline = _json(w, "query", "settlement", "baseline", "alice", "--interval", str(n))
    assert baseline == {
        "baseline_wh": 3000,
        "samples": 1,
        "intervals": [n - 1, n - 2, n - 3, n - 4],
    }
    text = w("query", "settlement", "baseline", alice, "--interval", str(n)).out.splitlines()
    assert "baseline_wh: 3000" in text and "samples: 1 of 4 intervals had a reading" in text
    assert f"compared intervals: {n - 1}, {n - 2}, {n - 3}, {n - 4}" in text
    nothing = w("query", "settlement", "baseline", carol, "--interval", str(n)).out
    assert "samples: 0 of 4 intervals had a reading (baseline 0)" in nothing

    window_end = _json(w, "query", "settlement", "interval", str(n))["window_end"]
    m.node.advance_to(window_end)
    settled = _json(w, "query", "dr", "event", str(event_id))
    ev = settled["event"]
    assert ev["status"] == "EVENT_STATUS_SETTLED"
    # alice: 800 credited (reward 240), 200 short (penalty 20); bob: 500 (150), 0
    assert (ev["credited_wh"], ev["shortfall_wh"], ev["rewards"], ev["penalties"]) == (
        1300,
        200,
        "390",
        "20",
    )
    rows = {o["participant"]: o for o in settled["opt_ins"]}
    a = rows[alice]["delivery"]
    assert (a["baseline_wh"], a["metered_wh"], a["delivered_wh"], a["credited_wh"]) == (
        3000,
        2200,
        800,
        800,
    )
    assert (a["reward"], a["penalty"], rows[alice]["settled"]) == ("240", "20", True)
    assert rows[bob]["delivery"]["credited_wh"] == 500
    text = w("query", "dr", "event", str(event_id)).out
    assert "status: settled" in text.splitlines() and "refund: 210" in text.splitlines()
    assert _row(text, alice)[:9] == [alice, "1000", "100", "3000", "2200", "800", "200", "240",
                                     "20"]  # fmt: skip
    # penalties to carol, the named account; the utility cell paid the rewards only
    # (fees are 0 here; the second event, for an earlier interval, settled with no opt-ins
    # and returned its whole reserve)
    assert _balance(w, carol) - start[carol] == 20
    assert _balance(w, utility) - start[utility] == -390
    second = _json(w, "query", "dr", "event", str(event_id + 1))["event"]
    assert (second["status"], second["rewards"]) == ("EVENT_STATUS_SETTLED", "0")

    mine = _json(w, "query", "dr", "opt-ins", "alice")
    assert [o["event_id"] for o in mine["opt_ins"]] == [event_id]
    assert mine["opt_ins"][0]["delivery"]["reward"] == "240"
    text = w("query", "dr", "opt-ins", "bob").out
    assert _row(text, str(event_id)) == [str(event_id), "500", "50", "yes", "500", "0", "150",
                                         "0"]  # fmt: skip
    assert w("query", "dr", "opt-ins", "carol").out.strip() == f"no opt-ins of {carol}"
    params = _json(w, "query", "dr", "params")["params"]
    assert params["max_opt_ins"] == 1000 and params["auto_threshold_wh"] == 0
    assert "max_opt_ins: 1000" in w("query", "dr", "params").out.splitlines()
