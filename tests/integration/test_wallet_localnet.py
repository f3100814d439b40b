"""The wallet of issue 5 on a real 4-validator localnet, driven only through the
``mgrid`` command line as a person would: keys from a mnemonic (encrypted
``file`` keyring, recovered elsewhere), a bank send and a query at a past
height, registration, a bid through clearing to settlement, offline signing
(generate-only, sign with no node, broadcast, tx wait), a transaction for
another chain refused by the chain, and status. docs/wallet.md walks the
same path."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from localnet.testing import LocalnetRunner
from tests.support.localnets import mgrid_localnet

pytestmark = pytest.mark.localnet
PORT_OFFSET = 3100
CHAIN_ID = "mg-wallet"
PASSPHRASE = "dora's long passphrase"
FUNDS = 10_000_000_000  # ugrid


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, CHAIN_ID)


@dataclass
class Wallet:
    """``mgrid`` against node 0: the localnet's test keyring (faucet, utility) or the
    user's own encrypted one."""

    net: LocalnetRunner
    home: Path

    @property
    def user_keyring(self) -> list[str]:
        passphrase = self.home / "passphrase"
        if not passphrase.exists():
            passphrase.write_text(PASSPHRASE + "\n")
        return [
            "--keyring-dir", str(self.home / "keyring"), "--keyring-backend", "file",
            "--passphrase-file", str(passphrase),
        ]  # fmt: skip

    @property
    def net_keyring(self) -> list[str]:
        return ["--keyring-dir", str(self.net.network().keyring_dir), "--keyring-backend", "test"]

    def run(
        self,
        *args: str,
        user: bool = True,
        node: str | None = None,
        stdin: str | None = None,
        output: str = "json",
    ) -> subprocess.CompletedProcess[str]:
        keyring = self.user_keyring if user else self.net_keyring
        cmd = [
            sys.executable, "-m", "clients.mgrid.cli",
            "--node", node or self.net.network().node(0).rpc_url,
            *keyring, "--output", output, *args,
        ]  # fmt: skip
        return subprocess.run(
            cmd, input=stdin or "", capture_output=True, text=True, timeout=90, check=False
        )

    def ok(self, *args: str, **kw: Any) -> Any:
        out = self.run(*args, **kw)
        assert out.returncode == 0, f"{args}: exit {out.returncode}\n{out.stderr}{out.stdout}"
        return json.loads(out.stdout) if kw.get("output", "json") == "json" else out.stdout

    def tx(self, *args: str, **kw: Any) -> Any:
        result = self.ok("tx", *args, "--yes", **kw)
        assert result["code"] == 0, result
        return result


@pytest.fixture(scope="module")
def wallet(net: LocalnetRunner, tmp_path_factory: pytest.TempPathFactory) -> Wallet:
    return Wallet(net, tmp_path_factory.mktemp("dora"))


@pytest.fixture(scope="module")
def dora(wallet: Wallet) -> dict[str, str]:
    """Dora's keys (account and meter) from new mnemonics, and her account funded."""
    made = wallet.ok("keys", "add", "dora")
    meter = wallet.ok("keys", "add", "dora-meter")
    sent = wallet.tx("bank", "send", "faucet", made["address"], f"{FUNDS}ugrid", user=False)
    return {
        "address": made["address"],
        "mnemonic": made["mnemonic"],
        "meter_pub_key": meter["pub_key"],
        "funded_height": str(sent["height"]),
    }


@pytest.fixture(scope="module")
def approved(wallet: Wallet, dora: dict[str, str]) -> dict[str, str]:
    """Dora applied as a prosumer on f1, approved, with her meter registered."""
    wallet.tx("registry", "apply", "--role", "prosumer", "--bus", "f1", "--from", "dora")
    wallet.tx("registry", "approve", dora["address"], "--from", "utility", user=False)
    wallet.tx(
        "registry", "register-meter", dora["address"], dora["meter_pub_key"],
        "--from", "utility", user=False,
    )  # fmt: skip
    return dora


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- status ----------------------------------------------------------------------------------


def test_status(wallet: Wallet) -> None:
    status = wallet.ok("status")
    assert status["chain_id"] == CHAIN_ID and status["validators"] == 4
    assert status["syncing"] is False and status["latest_height"] > 0
    text = wallet.ok("status", output="text")
    assert f"chain_id: {CHAIN_ID}" in text and "validators: 4" in text


# -- keys --------------------------------------------------------------------------------------


def test_keys(wallet: Wallet, dora: dict[str, str], tmp_path: Path) -> None:
    assert len(dora["mnemonic"].split()) == 24
    key_file = (wallet.home / "keyring" / "dora.key").read_bytes()
    assert dora["mnemonic"].encode() not in key_file and b'"kdf": "argon2id"' in key_file
    listed = wallet.ok("keys", "list")
    assert {k["name"] for k in listed} == {"dora", "dora-meter"}
    assert wallet.ok("keys", "show", "dora", "--address", output="text").strip() == dora["address"]

    # the words alone make the same key on another machine
    elsewhere = Wallet(wallet.net, tmp_path)
    again = elsewhere.ok("keys", "add", "dora", "--recover", stdin=dora["mnemonic"] + "\n")
    assert again["address"] == dora["address"]

    # export -> import moves it as armor under its own passphrase
    export_pass = tmp_path / "export-pass"
    export_pass.write_text("an export passphrase\n")
    armor = wallet.ok(
        "keys", "export", "dora", "--export-passphrase-file", str(export_pass), output="text"
    )
    assert armor.startswith("-----BEGIN MGRID PRIVATE KEY-----")
    (tmp_path / "dora.armor").write_text(armor)
    imported = elsewhere.ok(
        "keys", "import", "dora-copy", str(tmp_path / "dora.armor"),
        "--export-passphrase-file", str(export_pass),
    )  # fmt: skip
    assert imported["address"] == dora["address"]
    renamed = elsewhere.ok("keys", "rename", "dora-copy", "dora2")
    assert renamed["name"] == "dora2"

    # a wrong passphrase fails cleanly, before anything reaches the chain
    (tmp_path / "wrong").write_text("not dora's passphrase\n")
    out = wallet.run(
        "--passphrase-file", str(tmp_path / "wrong"),
        "tx", "bank", "send", "dora", dora["address"], "1ugrid", "--yes",
    )  # fmt: skip
    assert out.returncode == 4 and "wrong passphrase for key 'dora'" in out.stderr


# -- bank and historical queries ------------------------------------------------------------------


def test_bank_send_and_a_query_at_a_past_height(wallet: Wallet, dora: dict[str, str]) -> None:
    funded = int(dora["funded_height"])
    at = wallet.ok("query", "bank", "balance", dora["address"], "--height", str(funded))
    before = wallet.ok("query", "bank", "balance", dora["address"], "--height", str(funded - 1))
    assert (int(at["amount"]), int(before["amount"])) == (FUNDS, 0)
    assert int(wallet.ok("query", "bank", "balance", dora["address"])["amount"]) <= FUNDS
    out = wallet.run("query", "bank", "balance", dora["address"], "--height", "999999999")
    assert out.returncode == 1 and "not committed yet" in out.stderr

    # more than she has: the chain's code, translated
    out = wallet.run("tx", "bank", "send", "dora", dora["address"], f"{FUNDS * 10}ugrid", "--yes")
    assert out.returncode == 1
    error = json.loads(out.stdout)["error"]
    assert "insufficient funds: balance" in error and f"needed {FUNDS * 10}ugrid" in error


# -- registry, market and settlement ----------------------------------------------------------------


def test_registry(wallet: Wallet, approved: dict[str, str]) -> None:
    participant = wallet.ok("query", "registry", "participant", approved["address"])
    assert participant["participant"]["status"] == "STATUS_APPROVED"
    meters = wallet.ok("query", "registry", "meters", approved["address"])
    assert [m["pub_key"] for m in meters["meters"]] == [approved["meter_pub_key"]]


def test_market_bid_to_settlement(wallet: Wallet, approved: dict[str, str]) -> None:
    # the earliest interval still taking bids (once more if its gate closed meanwhile)
    for _ in range(2):
        out = wallet.run(
            "tx", "market", "place-order", "buy", "--quantity", "1kWh", "--interval", "next",
            "--grid-fill", "--from", "dora", "--yes",
        )  # fmt: skip
        placed = json.loads(out.stdout)
        if (placed["codespace"], placed["code"]) != ("market", 5):
            break
    assert out.returncode == 0 and placed["code"] == 0, out.stderr + out.stdout
    order = wallet.ok("query", "market", "order", str(placed["order_id"]))["order"]
    n = int(order["interval"])
    order_id = placed["order_id"]
    orders = wallet.ok("query", "market", "orders", "--owner", approved["address"])
    assert [o["id"] for o in orders["orders"]] == [order_id]

    # after the interval ends, the meter reports what dora drew
    deadline = time.monotonic() + 75
    while int(wallet.ok("query", "market", "schedule")["current_interval"]) <= n:
        assert time.monotonic() < deadline, f"interval {n} did not end"
        time.sleep(0.5)
    wallet.tx(
        "settlement", "reading", "--meter", "dora-meter", "--interval", str(n),
        "--exported", "0", "--imported", "1kWh", "--from", "dora",
    )  # fmt: skip
    while True:
        settled = wallet.ok("query", "settlement", "interval", str(n))
        if settled["settled"]:
            break
        assert time.monotonic() < deadline, f"interval {n} not settled: {settled}"
        time.sleep(0.5)
    (mine,) = [r for r in settled["settlements"] if r["participant"] == approved["address"]]
    assert int(mine["contracted_buy_wh"]) == 1000 and int(mine["imported_wh"]) == 1000
    assert int(mine["net"]) < 0 and int(mine["missing_readings"]) == 0
    text = wallet.ok("query", "settlement", "interval", str(n), output="text")
    assert approved["address"] in text


# -- offline signing ----------------------------------------------------------------------------


def test_generate_only_sign_offline_broadcast_wait(
    wallet: Wallet, dora: dict[str, str], tmp_path: Path
) -> None:
    faucet = wallet.ok("keys", "show", "faucet", user=False)["address"]
    unsigned = wallet.ok("tx", "bank", "send", "--from", "dora", faucet, "1000ugrid",
                         "--memo", "offline", "--generate-only")  # fmt: skip
    assert unsigned["unset"] == ["chain_id", "sequence", "fee"]
    (tmp_path / "unsigned.json").write_text(json.dumps(unsigned))
    sequence = wallet.ok("query", "account", dora["address"])["sequence"]

    # on a machine with the key and no node
    dead = closed_port_url()
    signed = wallet.ok(
        "tx", "sign", str(tmp_path / "unsigned.json"), "--from", "dora", "--chain-id", CHAIN_ID,
        "--sequence", str(sequence), "--fees", "0ugrid", "--yes", node=dead,
    )  # fmt: skip
    (tmp_path / "signed.json").write_text(json.dumps(signed))

    sent = wallet.ok("tx", "broadcast", str(tmp_path / "signed.json"), "--broadcast-mode", "sync")
    assert sent["code"] == 0 and sent["txhash"] == signed["txhash"]
    included = wallet.ok("tx", "wait", sent["txhash"], "--timeout", "30")
    assert included["code"] == 0 and included["height"] > 0
    account = wallet.ok("query", "account", dora["address"])
    assert account["sequence"] == sequence + 1

    # the same transaction signed for another chain: the chain refuses it
    other = wallet.ok(
        "tx", "sign", str(tmp_path / "unsigned.json"), "--from", "dora",
        "--chain-id", "mg-elsewhere", "--sequence", str(sequence + 1), "--fees", "0ugrid",
        "--yes", node=dead,
    )  # fmt: skip
    (tmp_path / "other.json").write_text(json.dumps(other))
    out = wallet.run("tx", "broadcast", str(tmp_path / "other.json"))
    assert out.returncode == 1
    refused = json.loads(out.stdout)
    assert (refused["codespace"], refused["code"]) == ("tx", 6)
    assert f"--chain-id {CHAIN_ID}" in refused["error"]
