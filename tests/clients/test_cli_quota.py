"""``mgrid quota allocate`` (offline: exact JSON, text, every usage error) and
``mgrid tx quota`` / ``mgrid query quota`` on a real in-process chain: a margin
announced, demands, allocation, quota trading, settlement with penalties."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from app import crypto
from app.pb.mgrid.quota.v1 import quota_pb2
from app.tx import codec
from clients.mgrid.cli import Env, ExitCode, run

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any
Microgrid = Any

DEMANDS = [{"id": "z", "demand": 700}, {"id": "a", "demand": 400}, {"id": "m", "demand": 300}]


def _allocate(
    tmp_path: Path, margin: str, demands: Any, *extra: str, raw: str | None = None
) -> tuple[int, str, str]:
    path = tmp_path / "demands.json"
    path.write_text(raw if raw is not None else json.dumps(demands), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    argv = ["quota", "allocate", "--capacity-margin", margin, "--demands", str(path), *extra]
    code = run(argv, Env(stdout=out, stderr=err, interactive=False))
    return code, out.getvalue(), err.getvalue()


# -- offline ----------------------------------------------------------------------------------


def test_allocate_json_exact(tmp_path: Path) -> None:
    code, out, err = _allocate(tmp_path, "1000", DEMANDS, "--output", "json")
    assert code == 0, err
    assert json.loads(out) == {
        "beta": "5/7",
        "quotas": [{"id": "z", "quota": 500}, {"id": "a", "quota": 285}, {"id": "m", "quota": 214}],
    }
    code, out, _ = _allocate(tmp_path, "1400", DEMANDS, "-o", "json")
    assert json.loads(out)["beta"] == "1/1"
    assert [q["quota"] for q in json.loads(out)["quotas"]] == [700, 400, 300]
    code, out, _ = _allocate(tmp_path, "0", [], "-o", "json")
    assert (code, json.loads(out)) == (0, {"beta": "1/1", "quotas": []})


def test_allocate_text(tmp_path: Path) -> None:
    code, out, _ = _allocate(tmp_path, "1kW", DEMANDS)
    assert code == 0
    assert out.splitlines() == [
        "capacity margin: 1000 W",
        "total demand:    1400 W",
        "beta:            5/7",
        "allocated:       999 W (1 W of the margin unallocated)",
        "ID  DEMAND_W  QUOTA_W",
        "z   700       500",
        "a   400       285",
        "m   300       214",
    ]
    code, out, _ = _allocate(tmp_path, "5000", DEMANDS)
    assert "total demand:    1400 W (fits: every quota equals its demand)" in out
    assert "beta:            1/1" in out


def test_allocate_reads_stdin() -> None:
    out, err = io.StringIO(), io.StringIO()
    env = Env(stdout=out, stderr=err, interactive=False, stdin=io.StringIO(json.dumps(DEMANDS)))
    argv = ["-o", "json", "quota", "allocate", "--capacity-margin", "700", "--demands", "-"]
    assert run(argv, env) == 0, err.getvalue()
    assert json.loads(out.getvalue())["beta"] == "1/2"


@pytest.mark.parametrize(
    ("margin", "demands", "raw", "message"),
    [
        ("-5", DEMANDS, None, "--capacity-margin: power must be a non-negative number"),
        ("lots", DEMANDS, None, "--capacity-margin: not a power"),
        ("1.5", DEMANDS, None, "--capacity-margin: 1.5 is 1.5 W"),
        ("10", None, "[{", "--demands: "),  # not JSON
        ("10", None, "\udcff", "--demands: "),  # not UTF-8
        ("10", {"id": "a", "demand": 1}, None, "--demands: expected a JSON list"),
        ("10", [{"id": "a"}], None, "--demands: [0]: missing 'demand'"),
        ("10", [{"demand": 3}], None, "--demands: [0]: missing 'id'"),
        ("10", [{"id": "a", "demand": 1, "w": 2}], None, "--demands: [0]: unexpected 'w'"),
        ("10", [{"id": 1, "demand": 1}], None, "--demands: [0].id: expected a string"),
        ("10", [{"id": "a", "demand": 1.5}], None, "[0].demand: expected a non-negative integer"),
        ("10", [{"id": "a", "demand": "7"}], None, "[0].demand: expected a non-negative integer"),
        ("10", [{"id": "a", "demand": True}], None, "[0].demand: expected a non-negative integer"),
        ("10", [{"id": "a", "demand": -1}], None, "[0].demand: expected a non-negative integer"),
        ("10", [{"id": "a", "demand": 1}, {"id": "a", "demand": 2}], None, "[1].id: 'a' repeats"),
    ],
)
def test_allocate_usage_errors(
    tmp_path: Path, margin: str, demands: Any, raw: str | None, message: str
) -> None:
    if raw == "\udcff":
        path = tmp_path / "demands.json"
        path.write_bytes(b"\xff\xfe[")
        out, err = io.StringIO(), io.StringIO()
        argv = ["quota", "allocate", "--capacity-margin", margin, "--demands", str(path)]
        code = run(argv, Env(stdout=out, stderr=err, interactive=False))
        result = (code, out.getvalue(), err.getvalue())
    else:
        result = _allocate(tmp_path, margin, demands, raw=raw)
    code, out, err = result
    assert code == ExitCode.USAGE
    assert message in err and out == ""


def test_allocate_unreadable_file_and_json_errors(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["-o", "json", "quota", "allocate", "--capacity-margin", "10"]
    code = run([*argv, "--demands", str(tmp_path / "missing.json")], Env(stdout=out, stderr=err))
    assert code == ExitCode.USAGE
    error = json.loads(err.getvalue())
    assert error["exit_code"] == 2 and "--demands: cannot read" in error["error"]
    err = io.StringIO()
    assert run(["quota", "allocate", "--demands", "x"], Env(stdout=out, stderr=err)) == 2


# -- against a fake node: what the wallet builds ----------------------------------------------


def _sent(node: FakeNode) -> Any:
    assert len(node.broadcasts) == 1
    (msg,) = codec.decode_tx(node.broadcasts[0][1]).body.messages
    return getattr(msg, msg.WhichOneof("sum"))


def test_messages_as_built(wallet: Wallet, fake_node: FakeNode) -> None:
    from clients.mgrid.keyring import Keyring

    keyring = Keyring(wallet.keyring_dir, backend="test")
    keyring.add("op", b"\x0b" * 32)
    pool = crypto.PrivateKey(b"\x0c" * 32).address
    r = wallet("tx", "quota", "announce", "--bus", "f1", "--interval", "42", "--margin", "7.4kW",
               "--trading-seconds", "30", "--penalty", "900", "--penalty-account", pool,
               "--from", "op")  # fmt: skip
    assert r.code == 0, r.err
    assert _sent(fake_node) == quota_pb2.MsgAnnounceMargin(
        bus="f1", interval=42, margin_w=7400, penalty_per_kwh=900, trading_seconds=30,
        penalty_account=pool,
    )  # fmt: skip
    fake_node.broadcasts.clear()
    assert wallet("tx", "quota", "demand", "3", "--demand", "11kW", "--from", "op").code == 0
    assert _sent(fake_node) == quota_pb2.MsgSubmitDemand(margin_id=3, demand_w=11_000)
    fake_node.broadcasts.clear()
    argv = ["tx", "quota", "order", "3", "--side", "sell", "--quantity", "2kW", "--price", "40"]
    assert wallet(*argv, "--from", "op").code == 0
    sent = _sent(fake_node)
    assert (sent.margin_id, sent.side, sent.quantity_w, sent.price_per_kw) == (3, 2, 2000, 40)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["announce", "--bus", "f1", "--interval", "4", "--margin", "0", "--trading-seconds", "9"],
         "margin_w must be 1.."),
        (["announce", "--bus", "f1", "--interval", "4", "--margin", "5", "--trading-seconds", "0"],
         "trading_seconds must be at least 1"),
        (["announce", "--bus", "f1", "--interval", "4", "--margin", "1.5W",
          "--trading-seconds", "9"], "whole W"),
        (["demand", "0", "--demand", "5"], "margin ids start at 1"),
        (["demand", "1", "--demand", "0"], "demand_w must be 1.."),
        (["order", "1", "--side", "buy", "--quantity", "0", "--price", "1"], "quantity_w must be"),
        (["order", "1", "--side", "buy", "--quantity", "1", "--price", str(10**9 + 1)], "exceeds"),
        (["order", "1", "--side", "hold", "--quantity", "1", "--price", "1"], "invalid choice"),
    ],
)  # fmt: skip
def test_refused_before_signing(
    wallet: Wallet,
    fake_node: FakeNode,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = wallet("tx", "quota", *argv, "--from", "nobody")
    assert r.code == ExitCode.USAGE
    assert message in r.err + capsys.readouterr().err
    assert fake_node.broadcasts == []


# -- on a real chain --------------------------------------------------------------------------


def _json(w: Wallet, *argv: str) -> Any:
    r = w("-o", "json", *argv)
    assert r.code == 0, r.err
    return r.json()


def test_a_margin_from_announcement_to_penalties(microgrid: Microgrid) -> None:
    """Margin 1 kW on pcc: alice asks 700 W, bob 600 W; beta 10/13 gives 538 W and
    461 W. alice sells 100 W at 100, bob buys at 300: 200 per kW, 20 for 100 W.
    Final 438 W and 561 W allow 7 and 9 Wh in 60 s; alice meters 10 Wh (3 over),
    bob sends no reading (600 W for 60 s: 10 Wh, 1 over); 2000 per kWh."""
    m, w = microgrid, microgrid.wallet
    alice, bob, carol = m.address("alice"), m.address("bob"), m.address("carol")
    for meter, who in (("meter1", alice), ("meter2", bob)):
        r = w("tx", "registry", "register-meter", who, "--meter-key", meter, "--from", "utility")
        assert r.code == 0, r.err
    n = _json(w, "query", "market", "schedule")["first_open"]
    out = _json(w, "tx", "quota", "announce", "--bus", "pcc", "--interval", "next",
                "--margin", "1kW", "--trading-seconds", "20", "--penalty", "2000",
                "--penalty-account", "carol", "--from", "utility")  # fmt: skip
    gate = _json(w, "query", "market", "interval", str(n))["interval"]["gate_closure_time"]
    assert (out["margin_id"], out["interval"]) == (1, n)
    assert (out["allocation_time"], out["trading_close_time"]) == (gate - 20, gate)
    r = w("tx", "quota", "announce", "--bus", "b2", "--interval", str(n), "--margin", "5",
          "--trading-seconds", "20", "--from", "utility")  # fmt: skip
    assert r.code == 0 and "margin id: 2" in r.out.splitlines()

    assert w("tx", "quota", "demand", "1", "--demand", "700", "--from", "alice").code == 0
    assert w("tx", "quota", "demand", "1", "--demand", "600W", "--from", "bob").code == 0
    r = w("tx", "quota", "demand", "1", "--demand", "5", "--from", "carol")
    assert r.code == ExitCode.CHAIN and "codespace: quota" in r.out and "code: 8" in r.out

    margin = _json(w, "query", "quota", "margin", "1")
    assert margin["margin"]["status"] == "MARGIN_STATUS_COLLECTING"
    assert margin["margin"]["penalty_account"] == carol
    assert [s["station"] for s in margin["stations"]] == sorted(
        [alice, bob], key=crypto.decode_address
    )
    m.node.advance_to(gate - 20)
    margin = _json(w, "query", "quota", "margin", "1")["margin"]
    assert (margin["status"], margin["beta"], margin["allocated_w"]) == (
        "MARGIN_STATUS_TRADING",
        "10/13",
        999,
    )
    station = _json(w, "query", "quota", "station", "1", "alice")["station"]
    assert (station["demand_w"], station["initial_quota_w"]) == (700, 538)

    sell = _json(w, "tx", "quota", "order", "1", "--side", "sell", "--quantity", "100",
                 "--price", "100", "--from", "alice")  # fmt: skip
    buy = _json(w, "tx", "quota", "order", "1", "--side", "buy", "--quantity", "0.1kW",
                "--price", "300", "--from", "bob")  # fmt: skip
    assert (sell["order_id"], buy["order_id"], buy["escrow"]) == (1, 2, "30")
    r = w("tx", "quota", "order", "1", "--side", "sell", "--quantity", "500", "--price", "1",
          "--from", "alice")  # fmt: skip
    assert r.code == ExitCode.CHAIN and "not enough free quota to sell" in r.out

    m.node.advance_to(gate)
    resp = _json(w, "query", "quota", "margin", "1")
    assert resp["margin"]["status"] == "MARGIN_STATUS_CLEARED"
    assert resp["trades"] == [
        {"margin_id": 1, "buy_order": 2, "sell_order": 1, "buyer": bob, "seller": alice,
         "quantity_w": 100, "price_per_kw": 200, "amount": "20"}
    ]  # fmt: skip
    finals = {s["station"]: s["final_quota_w"] for s in resp["stations"]}
    assert finals == {alice: 438, bob: 561}
    text = w("query", "quota", "margin", "1").out
    assert "status: cleared" in text.splitlines() and "beta: 10/13" in text.splitlines()
    assert any(line.split()[:3] == ["2", "1", bob] for line in text.splitlines())

    end = _json(w, "query", "market", "interval", str(n))["interval"]["end_time"]
    m.node.advance_to(end)
    r = w("tx", "settlement", "reading", "--meter", "meter1", "--interval", str(n),
          "--exported", "0", "--imported", "10", "--from", "alice")  # fmt: skip
    assert r.code == 0, r.err
    carol_before = int(_json(w, "query", "bank", "balance", carol)["amount"])
    window_end = _json(w, "query", "settlement", "interval", str(n))["window_end"]
    m.node.advance_to(window_end)

    a = _json(w, "query", "quota", "station", "1", alice)["station"]
    b = _json(w, "query", "quota", "station", "1", "bob")["station"]
    assert (a["metered_wh"], a["missing_reading"], a["allowed_wh"], a["over_quota_wh"]) == (
        10, False, 7, 3)  # fmt: skip
    assert (a["penalty"], a["unrecovered"], a["received"]) == ("6", "0", "20")
    assert (b["metered_wh"], b["missing_reading"], b["allowed_wh"], b["over_quota_wh"]) == (
        0, True, 9, 1)  # fmt: skip
    assert (b["penalty"], b["paid"], b["settled"]) == ("2", "20", True)
    assert int(_json(w, "query", "bank", "balance", carol)["amount"]) == carol_before + 8
    text = w("query", "quota", "station", "1", "alice").out
    assert "over_quota_wh: 3" in text.splitlines() and "missing_reading: no" in text.splitlines()

    listed = _json(w, "query", "quota", "margins", "--interval", str(n))
    assert [(x["id"], x["status"]) for x in listed["margins"]] == [
        (1, "MARGIN_STATUS_SETTLED"),
        (2, "MARGIN_STATUS_SETTLED"),
    ]
    page = _json(w, "query", "quota", "margins", "--limit", "1")
    assert [x["id"] for x in page["margins"]] == [1] and page["next_key"]
    rest = _json(w, "query", "quota", "margins", "--limit", "1", "--page-key", page["next_key"])
    assert [x["id"] for x in rest["margins"]] == [2] and rest["next_key"] == ""
    walked = _json(w, "query", "quota", "margins", "--limit", "1", "--all")
    assert walked == {**listed, "next_key": ""}
    text = w("query", "quota", "margins", "--limit", "1").out
    assert text.splitlines()[0].split()[:5] == ["ID", "BUS", "INTERVAL", "MARGIN_W", "STATUS"]
    assert f"more: --page-key {page['next_key']}" in text
    assert w("query", "quota", "margins", "--interval", "7").out.strip() == (
        "no margins for interval 7"
    )


def test_query_errors(microgrid: Microgrid) -> None:
    w = microgrid.wallet
    r = w("query", "quota", "margin", "9")
    assert r.code == ExitCode.CHAIN and "no margin 9" in r.err
    r = w("query", "quota", "station", "1", "nobody")
    assert r.code == ExitCode.KEYRING
    r = w("query", "quota", "margins", "--all", "--page-key", "ab")
    assert r.code == ExitCode.USAGE and "drop --page-key" in r.err


@pytest.mark.parametrize("trading_seconds", [1, 50, 130])
def test_next_leaves_stations_time_to_ask(microgrid: Microgrid, trading_seconds: int) -> None:
    """``--interval next`` skips intervals whose allocation would come within 10 s,
    and takes the earliest after them."""
    w = microgrid.wallet
    sched = _json(w, "query", "market", "schedule")
    out = _json(w, "tx", "quota", "announce", "--bus", "pcc", "--interval", "next",
                "--margin", "1kW", "--trading-seconds", str(trading_seconds),
                "--from", "utility")  # fmt: skip
    n, allocation = out["interval"], out["allocation_time"]
    assert n >= sched["first_open"]
    assert allocation >= sched["block_time"] + 10
    assert n == sched["first_open"] or allocation - sched["interval_seconds"] < (
        sched["block_time"] + 10
    )
