"""The ``mgrid`` command line: parsing, exit codes, keys, tx building and
queries, against a fake node (and one real closed port)."""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import crypto
from app.tx import codec
from clients.mgrid.cli import Env, ExitCode, run
from clients.mgrid.keyring import Keyring

SEED = bytes(range(32))
KEY = crypto.PrivateKey(SEED)
TO = crypto.PrivateKey(bytes(32)).address
PASSPHRASE = "correct horse battery"

Wallet = Any  # the fixtures' classes live in conftest.py
FakeNode = Any


@pytest.fixture
def alice(wallet: Wallet) -> str:
    Keyring(wallet.keyring_dir, backend="test").add("alice", SEED)
    return KEY.address


@pytest.fixture
def passphrase_file(tmp_path: Path) -> str:
    path = tmp_path / "pass.txt"
    path.write_text(PASSPHRASE + "\nsecond line ignored\n")
    return str(path)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- parsing and usage -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["keys"],
        ["frobnicate"],
        ["keys", "add"],
        ["tx", "bank", "send", "alice", TO],
        ["--output", "yaml", "keys", "list"],
        ["--keyring-backend", "os", "keys", "list"],
        ["tx", "bank", "send", "alice", TO, "1ugrid", "--sequence", "-1"],
        ["tx", "bank", "send", "alice", TO, "1ugrid", "--broadcast-mode", "async"],
        ["query", "bank", "balance", TO, "--height", "x"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(argv, Env()) == ExitCode.USAGE
    assert "usage:" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--help"], Env()) == 0
    assert "Exit codes" in capsys.readouterr().out


@pytest.mark.parametrize("amount", ["1000", "ugrid", "-5ugrid", "1.5ugrid", "", ",", "5 ugrid"])
def test_bad_amount_exits_2(wallet: Wallet, alice: str, amount: str) -> None:
    r = wallet("tx", "bank", "send", "alice", TO, "--yes", "--", amount)
    assert r.code == ExitCode.USAGE
    assert "amount" in r.err
    assert wallet.node.broadcasts == [] and wallet.node.queries == []


def test_zero_amount_is_refused_before_signing(wallet: Wallet, alice: str) -> None:
    r = wallet("tx", "bank", "send", "alice", TO, "0ugrid", "--yes")
    assert r.code == ExitCode.USAGE and "must be positive" in r.err
    assert wallet.node.broadcasts == []


def test_bad_fee_and_address_exit_2(wallet: Wallet, alice: str) -> None:
    r = wallet("tx", "bank", "send", "alice", TO, "5ugrid", "--fees", "ten")
    assert r.code == ExitCode.USAGE and "--fees" in r.err
    r = wallet("tx", "bank", "send", "alice", "mg1bogus", "5ugrid")
    assert r.code == ExitCode.USAGE and "TO_ADDR" in r.err
    r = wallet("query", "bank", "balances", "cosmos1xyz")
    assert r.code == ExitCode.USAGE and "ADDR" in r.err


def test_global_options_also_after_the_command(wallet: Wallet, alice: str) -> None:
    r = wallet("keys", "show", "alice", "--output", "json")
    assert r.code == 0 and r.json()["address"] == alice
    r = wallet("--output", "json", "keys", "show", "alice", "--output", "text", "--address")
    assert r.out.strip() == alice


# -- keys ------------------------------------------------------------------------------------


def test_keys_add_show_list_delete_text_and_json(wallet: Wallet) -> None:
    r = wallet("--output", "json", "keys", "add", "bob")
    assert r.code == 0
    bob = r.json()
    assert len(bob.pop("mnemonic").split()) == 24  # shown once, in JSON as a field
    assert set(bob) == {"name", "address", "pub_key"} and bob["name"] == "bob"
    assert crypto.address_of(bytes.fromhex(bob["pub_key"])) == bob["address"]
    assert "UNENCRYPTED" in r.err  # the test backend says so

    r = wallet("keys", "show", "bob", "--address")
    assert r.out == bob["address"] + "\n"
    r = wallet("keys", "show", "bob")
    assert f"address: {bob['address']}" in r.out and bob["pub_key"] in r.out
    assert wallet("-o", "json", "keys", "show", "bob", "-a").json() == bob

    wallet("keys", "add", "amy")
    listed = wallet("-o", "json", "keys", "list").json()
    assert [k["name"] for k in listed] == ["amy", "bob"]
    assert "bob" in wallet("keys", "list").out

    r = wallet("-o", "json", "keys", "delete", "bob", "--yes")
    assert r.code == 0 and r.json()["deleted"] is True
    assert [k["name"] for k in wallet("-o", "json", "keys", "list").json()] == ["amy"]


def test_keys_add_existing_exits_4(wallet: Wallet, alice: str) -> None:
    r = wallet("keys", "add", "alice")
    assert r.code == ExitCode.KEYRING and "already exists" in r.err


def test_keys_list_empty(wallet: Wallet) -> None:
    assert "no keys in" in wallet("keys", "list").out
    assert wallet("-o", "json", "keys", "list").json() == []


def test_unknown_key_exits_4_naming_it_and_the_keyring(wallet: Wallet) -> None:
    for argv in (("keys", "show", "carol"), ("tx", "bank", "send", "carol", TO, "1ugrid")):
        r = wallet(*argv)
        assert r.code == ExitCode.KEYRING
        assert "'carol'" in r.err and wallet.keyring_dir in r.err
    assert wallet.node.queries == [] and wallet.node.status_calls == 0


def test_invalid_key_name_exits_2(wallet: Wallet) -> None:
    r = wallet("keys", "add", "../evil")
    assert r.code == ExitCode.USAGE and "invalid key name" in r.err


def test_keys_delete_needs_yes_without_a_terminal(wallet: Wallet, alice: str) -> None:
    r = wallet("keys", "delete", "alice")
    assert r.code == ExitCode.USAGE and "--yes" in r.err
    assert wallet("keys", "show", "alice").code == 0


def test_keys_delete_asks_on_a_terminal(wallet: Wallet, alice: str) -> None:
    wallet.interactive, wallet.confirm_answer = True, False
    assert wallet("keys", "delete", "alice").code == ExitCode.CHAIN
    assert wallet("keys", "show", "alice").code == 0
    wallet.confirm_answer = True
    assert wallet("keys", "delete", "alice").code == 0
    assert wallet("keys", "show", "alice").code == ExitCode.KEYRING


def test_file_backend_with_passphrase_file(wallet: Wallet, passphrase_file: str) -> None:
    r = wallet("--passphrase-file", passphrase_file, "keys", "add", "fran", backend="file")
    assert r.code == 0 and "UNENCRYPTED" not in r.err
    address = Keyring(wallet.keyring_dir, backend="file", passphrase=PASSPHRASE).get("fran")
    # public data needs no passphrase
    assert wallet("keys", "show", "fran", "-a", backend="file").out.strip() == address.address


def test_file_backend_without_passphrase_source_exits_4(wallet: Wallet) -> None:
    r = wallet("keys", "add", "fran", backend="file")
    assert r.code == ExitCode.KEYRING and "--passphrase-file" in r.err


def test_file_backend_asks_twice_on_a_terminal(wallet: Wallet) -> None:
    wallet.interactive = True
    wallet.answers = [PASSPHRASE, PASSPHRASE + "x"]
    r = wallet("keys", "add", "fran", backend="file")
    assert r.code == ExitCode.KEYRING and "differ" in r.err
    assert wallet("keys", "list", backend="file").out.startswith("no keys")
    wallet.answers = [PASSPHRASE, PASSPHRASE]
    assert wallet("keys", "add", "fran", backend="file").code == 0
    assert len(wallet.prompts) == 4


def test_missing_passphrase_file_exits_2(wallet: Wallet, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    r = wallet("--passphrase-file", missing, "keys", "add", "fran", backend="file")
    assert r.code == ExitCode.USAGE and "nope" in r.err


# -- node unreachable ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["query", "bank", "balances", TO],
        ["query", "bank", "total-supply"],
    ],
)
def test_node_unreachable_exits_3(argv: list[str]) -> None:
    url = closed_port_url()
    err = io.StringIO()
    code = run(["--node", url, *argv], Env(stdout=io.StringIO(), stderr=err))
    assert code == ExitCode.NODE_UNREACHABLE
    assert f"no node at {url}: is the localnet running? try make localnet" in err.getvalue()


def test_node_unreachable_for_tx_after_keyring(tmp_path: Path) -> None:
    Keyring(tmp_path, backend="test").add("alice", SEED)
    url = closed_port_url()
    err = io.StringIO()
    argv = ["--node", url, "--keyring-dir", str(tmp_path), "--keyring-backend", "test"]
    code = run([*argv, "tx", "bank", "send", "alice", TO, "1ugrid"], Env(stderr=err))
    assert code == ExitCode.NODE_UNREACHABLE and f"no node at {url}" in err.getvalue()


def test_console_script_entry_point() -> None:
    url = closed_port_url()
    script = "import sys; from clients.mgrid.cli import main; sys.exit(main())"
    proc = subprocess.run(
        [sys.executable, "-c", script, "--node", url, "--output", "json", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3
    err = json.loads(proc.stderr)
    assert err["exit_code"] == 3 and "try make localnet" in err["error"]


# -- tx --------------------------------------------------------------------------------------


def _only_broadcast(node: FakeNode) -> codec.DecodedTx:
    assert len(node.broadcasts) == 1
    return codec.decode_tx(node.broadcasts[0][1])


def test_send_asks_the_chain_and_signs_what_it_decodes(
    wallet: Wallet, fake_node: FakeNode, alice: str
) -> None:
    fake_node.sequences[alice] = 4
    fake_node.min_fee = 7
    r = wallet("-o", "json", "tx", "bank", "send", "alice", TO, "1000ugrid", "--memo", "rent")
    assert r.code == 0, r.err
    tx = _only_broadcast(fake_node)
    assert fake_node.broadcasts[0][0] == "commit"
    assert crypto.verify(tx.pub_key, tx.body_bytes, tx.signature)
    assert crypto.address_of(tx.pub_key) == alice == tx.body.signer
    body = tx.body
    assert (body.chain_id, body.sequence, body.memo, body.timeout_height) == (
        "mgrid-test-1",
        4,
        "rent",
        0,
    )
    assert (body.fee.denom, body.fee.amount) == ("ugrid", "7")
    (msg,) = body.messages
    assert msg.send.to_address == TO
    assert [(c.denom, c.amount) for c in msg.send.amount] == [("ugrid", "1000")]
    out = r.json()
    assert out == {
        "txhash": tx.hash_hex,
        "height": 8,
        "code": 0,
        "codespace": "",
        "log": "",
        "phase": "block",
        "events": [],
    }
    assert "UNENCRYPTED" in r.err


def test_send_offline_flags_skip_every_query(
    wallet: Wallet, fake_node: FakeNode, alice: str
) -> None:
    r = wallet(
        "--chain-id", "other-chain", "tx", "bank", "send", "alice", TO, "5ugrid,3uwatt",
        "--sequence", "9", "--fees", "2ugrid", "--timeout-height", "50",
        "--broadcast-mode", "sync", "--yes",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert fake_node.queries == [] and fake_node.status_calls == 0
    assert fake_node.broadcasts[0][0] == "sync"
    body = _only_broadcast(fake_node).body
    assert (body.chain_id, body.sequence, body.timeout_height) == ("other-chain", 9, 50)
    assert (body.fee.denom, body.fee.amount) == ("ugrid", "2")
    assert [(c.denom, c.amount) for c in body.messages[0].send.amount] == [
        ("ugrid", "5"),
        ("uwatt", "3"),
    ]
    assert "mempool" in r.out


def test_send_with_file_backend(wallet: Wallet, fake_node: FakeNode, passphrase_file: str) -> None:
    Keyring(wallet.keyring_dir, backend="file", passphrase=PASSPHRASE).add("fran", SEED)
    argv = ["tx", "bank", "send", "fran", TO, "1ugrid", "--yes"]
    r = wallet("--passphrase-file", passphrase_file, *argv, backend="file")
    assert r.code == 0, r.err
    assert _only_broadcast(fake_node).body.signer == KEY.address
    assert "UNENCRYPTED" not in r.err


def test_send_with_wrong_passphrase_exits_4(
    wallet: Wallet, fake_node: FakeNode, tmp_path: Path
) -> None:
    Keyring(wallet.keyring_dir, backend="file", passphrase=PASSPHRASE).add("fran", SEED)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    argv = ["tx", "bank", "send", "fran", TO, "1ugrid", "--yes"]
    r = wallet("--passphrase-file", str(wrong), *argv, backend="file")
    assert r.code == ExitCode.KEYRING and "wrong passphrase for key 'fran'" in r.err
    assert fake_node.broadcasts == []


def test_rejected_tx_exits_1_with_codespace_code_and_log(
    wallet: Wallet, fake_node: FakeNode, alice: str
) -> None:
    fake_node.broadcast_result = {"code": 3, "codespace": "tx", "log": "invalid sequence"}
    r = wallet("tx", "bank", "send", "alice", TO, "1ugrid")
    assert r.code == ExitCode.CHAIN
    assert "codespace=tx code=3: invalid sequence" in r.err
    assert "code: 3" in r.out and "codespace: tx" in r.out
    r = wallet("-o", "json", "tx", "bank", "send", "alice", TO, "1ugrid")
    assert r.code == ExitCode.CHAIN
    out = r.json()
    assert (out["code"], out["codespace"], out["log"], out["phase"]) == (
        3,
        "tx",
        "invalid sequence",
        "check",
    )


def test_confirm_hook_on_a_terminal(wallet: Wallet, fake_node: FakeNode, alice: str) -> None:
    wallet.interactive, wallet.confirm_answer = True, False
    r = wallet("tx", "bank", "send", "alice", TO, "1ugrid")
    assert r.code == ExitCode.CHAIN and "declined" in r.err
    assert fake_node.broadcasts == [] and len(wallet.prompts) == 1
    assert TO in r.err  # the transaction was shown before asking
    assert wallet("tx", "bank", "send", "alice", TO, "1ugrid", "--yes").code == 0
    assert len(wallet.prompts) == 1  # --yes did not ask


# -- queries and status ----------------------------------------------------------------------


def test_query_balance_defaults_to_the_chains_denom(wallet: Wallet, fake_node: FakeNode) -> None:
    fake_node.balances[TO] = {"ugrid": 120, "uwatt": 4}
    assert wallet("query", "bank", "balance", TO).out == "120ugrid\n"
    r = wallet("-o", "json", "q", "bank", "balance", TO, "--denom", "uwatt", "--height", "5")
    assert r.json() == {"denom": "uwatt", "amount": "4"}
    assert fake_node.queries[-1] == ("/mgrid.bank.v1.Query/Balance", 5)


def test_query_balances_account_and_supply(wallet: Wallet, fake_node: FakeNode) -> None:
    fake_node.balances[TO] = {"ugrid": 2**100}
    fake_node.sequences[TO] = 2
    r = wallet("-o", "json", "query", "bank", "balances", TO)
    assert r.json() == {"address": TO, "balances": [{"denom": "ugrid", "amount": str(2**100)}]}
    r = wallet("-o", "json", "query", "account", TO)
    assert r.json() == {
        "address": TO,
        "pub_key": "",
        "sequence": 2,
        "balances": [{"denom": "ugrid", "amount": str(2**100)}],
    }
    assert "has not signed" in wallet("query", "account", TO).out
    assert wallet("-o", "json", "query", "bank", "total-supply").json() == {
        "supply": [{"denom": "ugrid", "amount": str(2**100)}]
    }
    assert wallet("-o", "json", "query", "bank", "params").json()["denom"] == "ugrid"


def test_query_error_exits_1(wallet: Wallet, fake_node: FakeNode) -> None:
    fake_node.query_errors["/mgrid.bank.v1.Query/AllBalances"] = ("tx", 16, "height not available")
    r = wallet("query", "bank", "balances", TO)
    assert r.code == ExitCode.CHAIN and "codespace=tx code=16: height not available" in r.err
    r = wallet("-o", "json", "query", "bank", "balances", TO)
    err = json.loads(r.err)
    assert (err["codespace"], err["code"], err["exit_code"]) == ("tx", 16, 1)


def test_status(wallet: Wallet) -> None:
    r = wallet("-o", "json", "status")
    assert r.json() == {
        "node": "http://127.0.0.1:26657",
        "chain_id": "mgrid-test-1",
        "moniker": "fake",
        "latest_height": 7,
        "latest_block_time": "2025-01-01T00:00:00Z",
        "catching_up": False,
        "syncing": False,
        "validators": 1,
    }
    text = wallet("status").out
    assert "latest_height: 7" in text and "syncing: no" in text and "validators: 1" in text
