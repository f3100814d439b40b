"""``mgrid tx storage`` / ``mgrid query storage``: the messages the wallet builds
(against a fake node), refusals before signing, the explanation of a chain
refusal, the text of each query, and a storage's life on a real in-process
chain: registered, deposited into, settled, redeemed and sold, transferred."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.storage.v1 import storage_pb2
from app.tx import codec
from clients.mgrid.cli import ExitCode
from clients.mgrid.keyring import Keyring

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any
Microgrid = Any

STORE = crypto.PrivateKey(b"\x0c" * 32).address
HOLDER = crypto.PrivateKey(b"\x0d" * 32).address
SCHEDULE = "/mgrid.market.v1.Query/Schedule"


def _sent(node: FakeNode) -> list[Any]:
    assert len(node.broadcasts) == 1
    messages = codec.decode_tx(node.broadcasts[0][1]).body.messages
    return [getattr(m, m.WhichOneof("sum")) for m in messages]


def _op(wallet: Wallet) -> None:
    Keyring(wallet.keyring_dir, backend="test").add("op", b"\x0b" * 32)


# -- against a fake node: what the wallet builds ----------------------------------------------


def test_messages_as_built(wallet: Wallet, fake_node: FakeNode) -> None:
    _op(wallet)
    fake_node.responses[SCHEDULE] = market_pb2.QueryScheduleResponse(first_open=9)
    r = wallet("tx", "storage", "deposit", STORE, "1.5kWh", "--interval", "42", "--from", "op")
    assert r.code == 0, r.err
    assert _sent(fake_node) == [storage_pb2.MsgDeposit(storage=STORE, interval=42, wh=1500)]
    fake_node.broadcasts.clear()
    r = wallet("tx", "storage", "redeem", STORE, "700", "--interval", "next", "--from", "op")
    assert r.code == 0, r.err
    assert _sent(fake_node) == [storage_pb2.MsgRedeem(storage=STORE, interval=9, wh=700)]
    fake_node.broadcasts.clear()
    r = wallet("tx", "storage", "transfer", STORE, HOLDER, "2kWh", "--from", "op")
    assert r.code == 0, r.err
    assert _sent(fake_node) == [storage_pb2.MsgTransferCredits(storage=STORE, to=HOLDER, wh=2000)]
    fake_node.broadcasts.clear()
    r = wallet("tx", "storage", "sell", STORE, "1kWh", "--interval", "next", "--price", "150",
               "--from", "op")  # fmt: skip
    assert r.code == 0, r.err
    assert _sent(fake_node) == [
        storage_pb2.MsgRedeem(storage=STORE, interval=9, wh=1000),
        market_pb2.MsgPlaceOrder(
            side=market_pb2.SIDE_SELL, interval=9, quantity_wh=1000, price=150
        ),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["deposit", STORE, "0", "--interval", "4"], "wh must be 1.."),
        (["deposit", STORE, "1.5", "--interval", "4"], "whole Wh"),
        (["redeem", STORE, "5", "--interval", "soon"], "not a whole number"),
        (["redeem", "mg1qqqq", "5", "--interval", "4"], "STORAGE"),
        (["transfer", STORE, HOLDER, "0"], "wh must be 1.."),
        (["sell", STORE, "5", "--interval", "4"], "--price"),
    ],
)
def test_refused_before_signing(
    wallet: Wallet,
    fake_node: FakeNode,
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _op(wallet)
    r = wallet("tx", "storage", *argv, "--from", "op")
    assert r.code != 0
    assert message in r.err + capsys.readouterr().err
    assert fake_node.broadcasts == []


def test_chain_refusal_explained(wallet: Wallet, fake_node: FakeNode) -> None:
    _op(wallet)
    fake_node.broadcast_result = {
        "code": 12,
        "codespace": "storage",
        "log": "insufficient credits: mg1x has 100 Wh of spendable credits on mg1y, redeems 500",
    }
    r = wallet("tx", "storage", "redeem", STORE, "500", "--interval", "3", "--from", "op")
    assert r.code == ExitCode.CHAIN
    assert "codespace: storage" in r.out and "code: 12" in r.out
    assert "`mgrid query storage credits ADDR` shows spendable and locked" in r.err


def _state() -> storage_pb2.StorageState:
    return storage_pb2.StorageState(
        storage=STORE,
        spec=registry_pb2.StorageSpec(
            capacity_wh=20_000, max_charge_w=1, max_discharge_w=1, efficiency_ppm=900_000
        ),
        stored_wh=9_000,
        credits_wh=9_000,
        locked_wh=1_000,
        reserved_wh=2_700,
        holders=2,
    )


def test_query_text_and_json(wallet: Wallet, fake_node: FakeNode) -> None:
    base = "/mgrid.storage.v1.Query/"
    fake_node.responses[base + "Storage"] = storage_pb2.QueryStorageResponse(state=_state())
    fake_node.responses[base + "Storages"] = storage_pb2.QueryStoragesResponse(
        storages=[_state()], next_key=b"\x0d\x10\x01"
    )
    fake_node.responses[base + "Holders"] = storage_pb2.QueryHoldersResponse(
        holders=[storage_pb2.CreditBalance(storage=STORE, holder=HOLDER, wh=8_000, locked_wh=1_000)]
    )
    fake_node.responses[base + "Credits"] = storage_pb2.QueryCreditsResponse()
    fake_node.responses[base + "Deposits"] = storage_pb2.QueryDepositsResponse(
        deposits=[storage_pb2.Deposit(id=4, storage=STORE, depositor=HOLDER, interval=7,
                                      committed_wh=3_000, reserved_wh=2_700)]
    )  # fmt: skip
    fake_node.responses[base + "Redemptions"] = storage_pb2.QueryRedemptionsResponse()

    lines = wallet("query", "storage", "state", STORE).out.splitlines()
    assert "stored_wh: 9000" in lines and "  capacity_wh: 20000" in lines
    assert "state of charge: 45% of 20 kWh" in lines
    assert "free capacity: 8300 Wh (after 2700 Wh reserved by deposits)" in lines
    data = wallet("-o", "json", "query", "storage", "state", STORE).json()
    assert data["state"]["stored_wh"] == 9000 and data["state"]["spec"]["efficiency_ppm"] == 900000

    out = wallet("query", "storage", "list").out.splitlines()
    assert out[0].split() == ["STORAGE", "STORED_WH", "CREDITS_WH", "LOCKED_WH", "RESERVED_WH",
                              "HOLDERS"]  # fmt: skip
    assert out[1].split() == [STORE, "9000", "9000", "1000", "2700", "2"]
    assert out[-1] == "more: --page-key 0d1001"
    out = wallet("query", "storage", "holders", STORE).out.splitlines()
    assert out[1].split() == [HOLDER, "8000", "1000"]
    assert wallet("query", "storage", "credits", HOLDER).out.strip() == f"{HOLDER} holds no credits"
    out = wallet("query", "storage", "deposits", STORE).out.splitlines()
    assert out[1].split() == ["4", HOLDER, "7", "3000", "2700", "no", "0", "0"]
    out = wallet("query", "storage", "redemptions", STORE, "--interval", "7").out
    assert out.strip() == "no redemptions for interval 7"
    path, data = fake_node.requests[-1]
    assert path == base + "Redemptions"
    assert storage_pb2.QueryRedemptionsRequest.FromString(data).interval == 7


# -- on a real chain --------------------------------------------------------------------------


def _json(w: Wallet, *argv: str) -> Any:
    r = w("-o", "json", *argv)
    assert r.code == 0, r.err + r.out
    return r.json()


def test_a_storage_on_a_real_chain(microgrid: Microgrid) -> None:
    """carol registers a 20 kWh storage at 90 %; alice deposits 3 kWh and delivers
    them (2700 Wh of credits), gives bob 500, then sells 1 kWh from storage."""
    m, w = microgrid, microgrid.wallet
    alice, bob, carol = m.address("alice"), m.address("bob"), m.address("carol")
    r = w("tx", "registry", "apply", "--role", "storage", "--bus", "b2", "--capacity-wh", "20000",
          "--max-charge-w", "1200000", "--max-discharge-w", "600000", "--efficiency", "900000",
          "--from", "carol")  # fmt: skip
    assert r.code == 0, r.err
    assert w("tx", "registry", "approve", carol, "--from", "utility").code == 0
    for meter, who in (("meter1", alice), ("meter2", carol)):
        r = w("tx", "registry", "register-meter", who, "--meter-key", meter, "--from", "utility")
        assert r.code == 0, r.err
    fresh = _json(w, "query", "storage", "state", "carol")["state"]
    assert (fresh["storage"], fresh["spec"]["capacity_wh"]) == (carol, 20000)
    assert _json(w, "query", "storage", "list") == {"storages": [], "next_key": ""}

    out = _json(w, "tx", "storage", "deposit", "carol", "3kWh", "--interval", "next",
                "--from", "alice")  # fmt: skip
    n = out["interval"]
    assert (out["deposit_id"], out["reserved_wh"]) == (1, 2700)
    r = w("tx", "storage", "deposit", "carol", "30kWh", "--interval", str(n), "--from", "alice")
    assert r.code == ExitCode.CHAIN and "code: 9" in r.out  # 20000 Wh per 60 s at 1.2 MW
    assert "charging power limits" in r.err
    pending = _json(w, "query", "storage", "deposits", "carol")["deposits"]
    assert [(d["id"], d["committed_wh"], d["settled"]) for d in pending] == [(1, 3000, False)]

    end = _json(w, "query", "market", "interval", str(n))["interval"]["end_time"]
    m.node.advance_to(end)
    for meter, who, exported, imported in (("meter1", "alice", "3000", "0"),
                                           ("meter2", "carol", "0", "3000")):  # fmt: skip
        r = w("tx", "settlement", "reading", "--meter", meter, "--interval", str(n),
              "--exported", exported, "--imported", imported, "--from", who)  # fmt: skip
        assert r.code == 0, r.err
    window_end = _json(w, "query", "settlement", "interval", str(n))["window_end"]
    m.node.advance_to(window_end)
    state = _json(w, "query", "storage", "state", carol)["state"]
    assert (state["stored_wh"], state["credits_wh"], state["reserved_wh"]) == (2700, 2700, 0)
    [d] = _json(w, "query", "storage", "deposits", "carol", "--interval", str(n))["deposits"]
    assert (d["delivered_wh"], d["credited_wh"], d["settled"]) == (3000, 2700, True)
    assert "state of charge: 13.5% of 20 kWh" in w("query", "storage", "state", "carol").out

    assert w("tx", "storage", "transfer", "carol", "bob", "500", "--from", "alice").code == 0
    holders = _json(w, "query", "storage", "holders", "carol")["holders"]
    assert {h["holder"]: h["wh"] for h in holders} == {alice: 2200, bob: 500}
    out = _json(w, "tx", "storage", "sell", "carol", "1kWh", "--interval", "next",
                "--price", "150", "--from", "alice")  # fmt: skip
    assert (out["redemption_id"], out["order_id"]) == (1, 1)
    [credit] = _json(w, "query", "storage", "credits", "alice")["credits"]
    assert (credit["storage"], credit["wh"], credit["locked_wh"]) == (carol, 1200, 1000)
    [red] = _json(w, "query", "storage", "redemptions", "carol")["redemptions"]
    assert (red["holder"], red["interval"], red["requested_wh"]) == (alice, out["interval"], 1000)
    order = _json(w, "query", "market", "order", "1")["order"]
    assert (order["side"], order["quantity_wh"], order["price"]) == ("SIDE_SELL", 1000, 150)
    listed = _json(w, "query", "storage", "list", "--all")["storages"]
    assert [x["storage"] for x in listed] == [carol]
