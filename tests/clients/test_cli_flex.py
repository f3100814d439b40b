"""``mgrid tx flex`` and ``mgrid query flex``: the messages the wallet builds (decoded
from what reached a fake node), what it refuses before opening a key, and a whole
flexibility auction (need, offers, award, readings, settlement) on a real
in-process chain, with the chain's own refusals."""

from __future__ import annotations

from typing import Any

import pytest

from app.crypto import PrivateKey
from app.pb.mgrid.flexibility.v1 import flexibility_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.tx import codec
from clients.mgrid.cli import ExitCode
from clients.mgrid.keyring import Keyring

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any
Microgrid = Any

SCHEDULE = "/mgrid.market.v1.Query/Schedule"
UTILITY_SEED = b"\x31" * 32
PROVIDER_SEED = b"\x32" * 32


@pytest.fixture
def keys(wallet: Wallet) -> None:
    keyring = Keyring(wallet.keyring_dir, backend="test")
    keyring.add("dso", UTILITY_SEED)
    keyring.add("prov", PROVIDER_SEED)


def _sent(node: FakeNode) -> tuple[Any, Any]:
    """The body and the one Msg of the one transaction broadcast to ``node``."""
    assert len(node.broadcasts) == 1
    tx = codec.decode_tx(node.broadcasts[0][1])
    (msg,) = tx.body.messages
    return tx.body, msg


# -- the messages, as built ------------------------------------------------------------------


def test_post_need_message(wallet: Wallet, fake_node: FakeNode, keys: None) -> None:
    fake_node.responses[SCHEDULE] = market_pb2.QueryScheduleResponse(first_open=42)
    pool = PrivateKey(b"\x33" * 32).address
    r = wallet("tx", "flex", "post-need", "--interval", "next", "--quantity", "1.5kWh",
               "--max-price", "200", "--penalty", "90", "--bus", "b2",
               "--penalty-account", pool, "--from", "dso")  # fmt: skip
    assert r.code == 0, r.err
    body, msg = _sent(fake_node)
    assert body.signer == PrivateKey(UTILITY_SEED).address
    assert msg.WhichOneof("sum") == "post_flex_need"
    assert msg.post_flex_need == flexibility_pb2.MsgPostNeed(
        interval=42,  # next: the schedule's first open interval
        bus="b2",
        quantity_wh=1500,
        max_price_per_kwh=200,
        penalty_per_kwh=90,
        penalty_account=pool,
    )


def test_offer_message(wallet: Wallet, fake_node: FakeNode, keys: None) -> None:
    r = wallet(
        "tx", "flex", "offer", "7", "--quantity", "800Wh", "--price", "120", "--from", "prov"
    )
    assert r.code == 0, r.err
    body, msg = _sent(fake_node)
    assert body.signer == PrivateKey(PROVIDER_SEED).address
    assert msg.offer_flexibility == flexibility_pb2.MsgOfferFlexibility(
        need_id=7, quantity_wh=800, price_per_kwh=120
    )
    assert fake_node.queries[0][0] != SCHEDULE  # an offer needs no schedule


@pytest.mark.parametrize(
    ("argv", "text"),
    [
        (["post-need", "--interval", "5", "--quantity", "0", "--max-price", "10"], "got 0"),
        (["post-need", "--interval", "5", "--quantity", "10", "--max-price", "0"],
         "max_price_per_kwh"),
        (["post-need", "--interval", "5", "--quantity", "10", "--max-price", "10",
          "--penalty", str(10**9 + 1)], "penalty_per_kwh"),
        (["offer", "0", "--quantity", "10", "--price", "1"], "need ids start at 1"),
        (["offer", "3", "--quantity", "10", "--price", str(10**9 + 1)], "price_per_kwh"),
    ],
)  # fmt: skip
def test_stateless_refusals_before_any_key(
    wallet: Wallet, fake_node: FakeNode, keys: None, argv: list[str], text: str
) -> None:
    r = wallet("tx", "flex", *argv, "--from", "dso")
    assert r.code == ExitCode.USAGE
    assert text in r.err
    assert fake_node.broadcasts == [] and fake_node.queries == []


def test_usage_errors(wallet: Wallet, fake_node: FakeNode) -> None:
    for argv in (
        ["tx", "flex", "post-need", "--quantity", "10", "--max-price", "1", "--from", "x"],
        ["tx", "flex", "post-need", "--interval", "soon", "--quantity", "1", "--max-price", "1",
         "--from", "x"],
        ["tx", "flex", "offer", "1", "--quantity", "1.0005kWh", "--price", "1", "--from", "x"],
        ["query", "flex", "need"],
        ["query", "flex", "needs", "--all", "--page-key", "ab"],
        ["query", "flex", "offers"],
    ):  # fmt: skip
        assert wallet(*argv).code == ExitCode.USAGE, argv
    assert fake_node.broadcasts == []


# -- on a real chain -------------------------------------------------------------------------


def _json(w: Wallet, *argv: str) -> Any:
    r = w("-o", "json", *argv)
    assert r.code == 0, r.err
    return r.json()


def _balance(w: Wallet, address: str) -> int:
    return int(_json(w, "query", "bank", "balance", address)["amount"])


def _row(text: str, first: str) -> list[str]:
    """The cells of the table row starting with ``first``."""
    (line,) = [line for line in text.splitlines() if line.split()[:1] == [first]]
    return line.split()


def test_auction_from_the_cli(microgrid: Microgrid) -> None:
    m, w = microgrid, microgrid.wallet
    alice, bob, utility = m.address("alice"), m.address("bob"), m.address("utility")
    for meter, who in (("meter1", "alice"), ("meter2", "bob")):
        argv = ["tx", "registry", "register-meter", m.address(who), "--meter-key", meter]
        assert w(*argv, "--from", "utility").code == 0
    n = _json(w, "query", "market", "schedule")["first_open"]
    start = _balance(w, utility)

    # reserve floor(1500 * 200 / 1000) = 300
    r = _json(w, "tx", "flex", "post-need", "--interval", "next", "--quantity", "1.5kWh",
              "--max-price", "200", "--penalty", "100", "--from", "utility")  # fmt: skip
    assert r["need_id"] == 1 and r["code"] == 0
    r = w("tx", "flex", "offer", "1", "--quantity", "1kWh", "--price", "150", "--from", "alice")
    assert r.code == 0, r.err
    assert "offer id: 1" in r.out.splitlines()
    r = _json(w, "tx", "flex", "offer", "1", "--quantity", "1000", "--price", "120",
              "--from", "bob")  # fmt: skip
    assert r["offer_id"] == 2

    need = _json(w, "query", "flex", "need", "1")
    assert need["need"]["status"] == "NEED_STATUS_OPEN"
    assert (need["need"]["interval"], need["need"]["bus"], need["need"]["reserve"]) == (
        n,
        "",
        "300",
    )
    assert need["need"]["buyer"] == utility and need["need"]["offers"] == 2
    assert [(o["id"], o["provider"], o["collateral"]) for o in need["offers"]] == [
        (1, alice, "100"),
        (2, bob, "100"),
    ]
    text = w("query", "flex", "need", "1").out
    assert "  bus: (whole microgrid)" in text.splitlines() and "  status: open" in text
    assert _row(text, "1") == ["1", "1", alice, "1000", "150", "100", "no", "0", "-", "-", "-"]

    # the chain's own refusals
    r = w("tx", "flex", "offer", "1", "--quantity", "10", "--price", "201", "--from", "alice")
    assert r.code == ExitCode.CHAIN and "above need 1's maximum 200" in r.err
    r = w("tx", "flex", "offer", "1", "--quantity", "10", "--price", "1", "--from", "carol")
    assert r.code == ExitCode.CHAIN and "has not applied to the registry" in r.err
    r = w("tx", "flex", "post-need", "--interval", str(n), "--quantity", "10", "--max-price", "1",
          "--bus", "nowhere", "--from", "utility")  # fmt: skip
    assert r.code == ExitCode.CHAIN and "'nowhere' is not in the network" in r.err

    # lists
    listed = _json(w, "query", "flex", "needs")
    assert [x["id"] for x in listed["needs"]] == [1] and listed["next_key"] == ""
    assert _json(w, "query", "flex", "needs", "--interval", str(n + 1))["needs"] == []
    assert "no needs for interval" in w("query", "flex", "needs", "--interval", str(n + 1)).out
    offers = _json(w, "query", "flex", "offers", "alice")  # a key name
    assert [o["id"] for o in offers["offers"]] == [1]
    assert _json(w, "query", "flex", "offers", bob)["offers"][0]["price_per_kwh"] == 120

    # the award at gate closure: bob 1000 @120 first, alice 500 of 1000 @150;
    # award cost 120 + 75 = 195, the utility gets 300 - 195 = 105 back
    gate = _json(w, "query", "market", "interval", str(n))["interval"]["gate_closure_time"]
    m.node.advance_to(gate)
    need = _json(w, "query", "flex", "need", "1")
    assert need["need"]["status"] == "NEED_STATUS_AWARDED"
    assert (need["need"]["awarded_wh"], need["need"]["award_cost"]) == (1500, "195")
    assert [(o["selected"], o["awarded_wh"], o["collateral"]) for o in need["offers"]] == [
        (True, 500, "50"),
        (True, 1000, "100"),
    ]

    # readings: baselines from n-1 (alice 2000, bob 3000 imported), then n
    end = _json(w, "query", "market", "interval", str(n))["interval"]["end_time"]
    m.node.advance_to(end)
    for k, alice_in, bob_in in ((n - 1, "2000", "3000"), (n, "1000", "2500")):
        for meter, imported, who in (("meter1", alice_in, "alice"), ("meter2", bob_in, "bob")):
            r = w("tx", "settlement", "reading", "--meter", meter, "--interval", str(k),
                  "--exported", "0", "--imported", imported, "--from", who)  # fmt: skip
            assert r.code == 0, r.err
    window_end = _json(w, "query", "settlement", "interval", str(n))["window_end"]
    m.node.advance_to(window_end)

    # alice: delivered 1000, credited 500, reward floor(500*150/1000) = 75
    # bob: delivered 500 of 1000, reward floor(500*120/1000) = 60, penalty floor(500*100/1000) = 50
    need = _json(w, "query", "flex", "need", "1")
    assert need["need"]["status"] == "NEED_STATUS_SETTLED"
    assert (need["need"]["payments"], need["need"]["penalties"]) == ("135", "50")
    assert (need["need"]["credited_wh"], need["need"]["shortfall_wh"]) == (1000, 500)
    a, b = (o["delivery"] for o in need["offers"])
    assert (a["baseline_wh"], a["metered_wh"], a["credited_wh"], a["reward"]) == (
        2000,
        1000,
        500,
        "75",
    )
    assert (b["credited_wh"], b["shortfall_wh"], b["reward"], b["penalty"]) == (
        500,
        500,
        "60",
        "50",
    )
    assert start - _balance(w, utility) == 135  # the utility paid exactly the payments
    text = w("query", "flex", "needs").out
    assert text.splitlines()[0].split() == [h.upper() for h in (
        "id", "interval", "bus", "quantity_wh", "max_price", "penalty", "status", "offers",
        "awarded_wh", "award_cost", "credited_wh", "payments", "penalties")]  # fmt: skip
    assert _row(text, "1") == ["1", str(n), "(all)", "1500", "200", "100", "settled", "2",
                               "1500", "195", "1000", "135", "50"]  # fmt: skip
    text = w("query", "flex", "offers", "bob").out
    assert _row(text, "2") == ["2", "1", bob, "1000", "120", "100", "yes", "1000", "500", "60",
                               "50"]  # fmt: skip


def test_lists_page_by_page(microgrid: Microgrid) -> None:
    w = microgrid.wallet
    n = _json(w, "query", "market", "schedule")["first_open"]
    for k in (n, n + 1, n):
        r = w("tx", "flex", "post-need", "--interval", str(k), "--quantity", "100",
              "--max-price", "10", "--from", "utility")  # fmt: skip
        assert r.code == 0, r.err
    page = _json(w, "query", "flex", "needs", "--limit", "2")
    assert [x["id"] for x in page["needs"]] == [1, 2] and page["next_key"]
    assert f"more: --page-key {page['next_key']}" in w("query", "flex", "needs", "--limit", "2").out
    rest = _json(w, "query", "flex", "needs", "--limit", "2", "--page-key", page["next_key"])
    assert [x["id"] for x in rest["needs"]] == [3] and rest["next_key"] == ""
    walked = _json(w, "query", "flex", "needs", "--limit", "1", "--all")
    assert [x["id"] for x in walked["needs"]] == [1, 2, 3] and walked["next_key"] == ""
    assert [x["id"] for x in _json(w, "query", "flex", "needs", "--interval", str(n))["needs"]] == [
        1,
        3,
    ]
    for k in (1, 3):  # needs 1 and 3 are both for interval n: one offer per interval
        assert w("tx", "flex", "offer", str(k), "--quantity", "50", "--price", "5",
                 "--from", "alice").code == (0 if k == 1 else ExitCode.CHAIN)  # fmt: skip
    r = w("tx", "flex", "offer", "2", "--quantity", "50", "--price", "5", "--from", "bob")
    assert r.code == 0, r.err
    assert "no offers from" in w("query", "flex", "offers", "carol").out
    r = w("query", "flex", "need", "9")
    assert r.code == ExitCode.CHAIN and "no need 9" in r.err
