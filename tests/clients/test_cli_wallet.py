"""The wallet CLI of issue 5: keys with mnemonics, export and import, offline
signing (generate-only -> sign with no node -> broadcast), tx wait, errors a
person can act on, status and shell completion. End to end against the real
in-process chain of conftest.py where a chain is involved."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from app.pb.mgrid.bank.v1 import bank_pb2
from app.tx import codec
from clients.mgrid import errors
from clients.mgrid.cli import Env, ExitCode, run
from clients.mgrid.keyring import Keyring
from clients.rpc import RPC, RPCError

Microgrid = Any  # conftest.py
CHAIN_ID = "mgrid-test-1"
PASSPHRASE = "correct horse battery"
EXPORT_PASSPHRASE = "export staple 1234"
ABANDON_24 = " ".join(["abandon"] * 23 + ["art"])
ABANDON_ADDRESS = "mg1pywgxt6s0n9qmv2vqgd8vpvcw73j2t26esjld8"  # test_keyring_hd.py pins it


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class InprocRPC:
    """An InProcessNode whose /tx answers an unknown hash as CometBFT does (an RPC error
    saying "not found"), with an optional hook run before each lookup."""

    def __init__(self, node: Any, before_lookup: Callable[[], None] | None = None):
        self._node = node
        self.node = node.node
        self.before_lookup = before_lookup
        self.lookups = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def tx(self, tx_hash_hex: str) -> dict[str, Any]:
        self.lookups += 1
        if self.before_lookup is not None:
            self.before_lookup()
        try:
            return self._node.tx(tx_hash_hex)
        except KeyError:
            raise RPCError(f"tx: Internal error tx ({tx_hash_hex}) not found") from None


@dataclass
class Out:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class CLI:
    """``mgrid`` with a keyring directory, an RPC object (any URL maps to it) and a
    scripted terminal: getpass answers, confirmation answer, stdin, clock."""

    keyring_dir: str
    rpc: Any = None
    interactive: bool = False
    answers: list[str] = field(default_factory=list)
    confirm: bool = True
    stdin: str = ""
    prompts: list[str] = field(default_factory=list)
    now: float = 0.0

    def __call__(self, *argv: str, backend: str = "test") -> Out:
        out, err = io.StringIO(), io.StringIO()

        def getpass(prompt: str) -> str:
            self.prompts.append(prompt)
            return self.answers.pop(0)

        def confirm(prompt: str) -> bool:
            self.prompts.append(prompt)
            return self.confirm

        def sleep(seconds: float) -> None:
            self.now += seconds

        env = Env(
            rpc_factory=lambda url: self.rpc if self.rpc is not None else RPC(url, timeout=2),
            stdout=out,
            stderr=err,
            interactive=self.interactive,
            getpass=getpass,
            confirm=confirm,
            stdin=io.StringIO(self.stdin),
            sleep=sleep,
            monotonic=lambda: self.now,
        )
        head = ["--keyring-dir", self.keyring_dir, "--keyring-backend", backend]
        code = run([*head, *argv], env)
        return Out(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    return CLI(str(tmp_path / "keyring"))


@pytest.fixture
def passfile(tmp_path: Path) -> Callable[[str], str]:
    def write(passphrase: str) -> str:
        path = tmp_path / f"pass-{abs(hash(passphrase))}.txt"
        path.write_text(passphrase + "\n")
        return str(path)

    return write


@pytest.fixture
def chain_cli(microgrid: Microgrid) -> CLI:
    """The microgrid's test keyring, against its in-process chain."""
    return CLI(microgrid.wallet.keyring_dir, InprocRPC(microgrid.node))


def balance(microgrid: Microgrid, name: str) -> int:
    resp = microgrid.node.query(
        bank_pb2.DESCRIPTOR,
        "Balance",
        bank_pb2.QueryBalanceRequest(address=microgrid.address(name), denom="ugrid"),
    )
    return int(resp.balance.amount or 0)


# -- keys: mnemonics ---------------------------------------------------------------------------


def test_keys_add_shows_the_mnemonic_once_on_stderr(cli: CLI) -> None:
    r = cli("keys", "add", "alice")
    assert r.code == 0
    assert "address: mg1" in r.out and "abandon" not in r.out
    words = [line for line in r.err.splitlines() if len(line.split()) == 24]
    assert len(words) == 1 and "write this mnemonic down" in r.err
    assert "UNENCRYPTED" in r.err  # the test backend says so
    mnemonic = words[0]
    assert mnemonic.encode() not in (Path(cli.keyring_dir) / "alice.key").read_bytes()
    assert mnemonic not in cli("keys", "show", "alice").out + cli("keys", "list").out


def test_keys_add_recover_from_stdin_gives_the_same_address(cli: CLI, tmp_path: Path) -> None:
    made = cli("-o", "json", "keys", "add", "alice").json()
    elsewhere = CLI(str(tmp_path / "elsewhere"), stdin=made["mnemonic"] + "\n")
    r = elsewhere("-o", "json", "keys", "add", "alice-again", "--recover")
    assert r.code == 0 and "mnemonic" not in r.json()
    assert r.json()["address"] == made["address"] and r.json()["pub_key"] == made["pub_key"]


def test_keys_add_recover_on_a_terminal_asks_words_then_passphrase(
    cli: CLI, passfile: Callable[[str], str]
) -> None:
    cli.interactive = True
    cli.answers = [ABANDON_24, PASSPHRASE, PASSPHRASE]
    r = cli("keys", "add", "alice", "--recover", backend="file")
    assert r.code == 0 and ABANDON_ADDRESS in r.out
    assert "mnemonic" in cli.prompts[0] and "passphrase" in cli.prompts[1]
    assert ABANDON_24 not in r.out + r.err


def test_keys_add_with_12_words_and_another_path(cli: CLI) -> None:
    r = cli("-o", "json", "keys", "add", "short", "--words", "12")
    assert len(r.json()["mnemonic"].split()) == 12
    cli.stdin = ABANDON_24
    r = cli("-o", "json", "keys", "add", "acct1", "--recover", "--hd-path", "m/44'/118'/1'/0'/0'")
    assert r.code == 0 and r.json()["address"] != ABANDON_ADDRESS


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (ABANDON_24 + "s", "word 24 ('arts') is not in the BIP-39 English word list"),
        (ABANDON_24.replace("art", "zoo"), "checksum"),
        ("abandon abandon", "got 2"),
    ],
)
def test_keys_add_recover_bad_mnemonic_exits_4(cli: CLI, words: str, message: str) -> None:
    cli.stdin = words + "\n"
    r = cli("keys", "add", "alice", "--recover")
    assert r.code == ExitCode.KEYRING and message in r.err
    assert cli("-o", "json", "keys", "list").json() == []


def test_keys_add_recover_without_words_exits_2(cli: CLI) -> None:
    r = cli("keys", "add", "alice", "--recover")
    assert r.code == ExitCode.USAGE and "no mnemonic" in r.err


def test_keys_add_existing_name_fails_before_asking(cli: CLI) -> None:
    cli("keys", "add", "alice")
    cli.interactive, cli.answers = True, []
    r = cli("keys", "add", "alice", "--recover")
    assert r.code == ExitCode.KEYRING and "already exists" in r.err and cli.prompts == []


# -- keys: show, rename, export, import -----------------------------------------------------------


def test_keys_show_address_and_pubkey(cli: CLI) -> None:
    info = Keyring(cli.keyring_dir, backend="test").add("alice", bytes(range(32)))
    assert cli("keys", "show", "alice", "--address").out.strip() == info.address
    assert cli("keys", "show", "alice", "--pubkey").out.strip() == info.pub_key.hex()
    assert cli("keys", "show", "alice", "-p").out.strip() == info.pub_key.hex()
    assert cli("keys", "show", "alice", "-a", "-p").code == ExitCode.USAGE


def test_keys_rename(cli: CLI) -> None:
    made = cli("-o", "json", "keys", "add", "alice").json()
    r = cli("-o", "json", "keys", "rename", "alice", "alicia")
    assert r.code == 0 and r.json()["name"] == "alicia" and r.json()["old_name"] == "alice"
    assert cli("keys", "show", "alicia", "-a").out.strip() == made["address"]
    assert cli("keys", "show", "alice").code == ExitCode.KEYRING
    cli("keys", "add", "bob")
    r = cli("keys", "rename", "alicia", "bob")
    assert r.code == ExitCode.KEYRING and "already exists" in r.err


def test_keys_export_import_between_file_keyrings(
    cli: CLI, tmp_path: Path, passfile: Callable[[str], str]
) -> None:
    keyring_pass = passfile(PASSPHRASE)
    r = cli("--passphrase-file", keyring_pass, "keys", "add", "alice", backend="file")
    assert r.code == 0
    address = cli("keys", "show", "alice", "-a", backend="file").out.strip()
    export_pass = passfile(EXPORT_PASSPHRASE)
    r = cli(
        "--passphrase-file", keyring_pass, "keys", "export", "alice",
        "--export-passphrase-file", export_pass, backend="file",
    )  # fmt: skip
    assert r.code == 0 and r.out.startswith("-----BEGIN MGRID PRIVATE KEY-----")
    armor = tmp_path / "alice.armor"
    armor.write_text(r.out)
    seed = Keyring(cli.keyring_dir, backend="file", passphrase=PASSPHRASE).private_key("alice")
    assert seed.seed.hex() not in r.out + r.err

    other = CLI(str(tmp_path / "other"))
    new_pass = passfile("a different keyring passphrase")
    r = other(
        "--passphrase-file", new_pass, "-o", "json", "keys", "import", "alice", str(armor),
        "--export-passphrase-file", export_pass, backend="file",
    )  # fmt: skip
    assert r.code == 0 and r.json()["address"] == address
    # stdin works too, and a wrong export passphrase is a keyring error naming it
    other.stdin = armor.read_text()
    r = other(
        "--passphrase-file", new_pass, "keys", "import", "copy", "-",
        "--export-passphrase-file", keyring_pass, backend="file",
    )  # fmt: skip
    assert r.code == ExitCode.KEYRING and "wrong export passphrase" in r.err


def test_keys_export_on_a_terminal_asks_export_passphrase_twice(cli: CLI) -> None:
    cli("keys", "add", "alice")
    cli.interactive = True
    cli.answers = [EXPORT_PASSPHRASE, EXPORT_PASSPHRASE + "!"]
    r = cli("keys", "export", "alice")
    assert r.code == ExitCode.KEYRING and "differ" in r.err and "BEGIN" not in r.out
    cli.answers = [EXPORT_PASSPHRASE, EXPORT_PASSPHRASE]
    assert cli("keys", "export", "alice").code == 0


def test_keys_export_without_export_passphrase_off_a_terminal_exits_4(cli: CLI) -> None:
    cli("keys", "add", "alice")
    r = cli("keys", "export", "alice")
    assert r.code == ExitCode.KEYRING and "--export-passphrase-file" in r.err


def test_unsafe_export_needs_both_flags_and_a_confirmation(cli: CLI) -> None:
    info = Keyring(cli.keyring_dir, backend="test").add("alice", bytes(range(32)))
    seed_hex = bytes(range(32)).hex()
    for argv in (["--unsafe"], ["--unarmored-hex"], ["--unsafe", "--unarmored-hex"]):
        r = cli("keys", "export", "alice", *argv)
        assert r.code == ExitCode.USAGE and seed_hex not in r.out + r.err
    cli.interactive, cli.confirm = True, False
    r = cli("keys", "export", "alice", "--unsafe", "--unarmored-hex")
    assert r.code == ExitCode.CHAIN and "declined" in r.err and seed_hex not in r.out
    assert "UNENCRYPTED" in cli.prompts[-1]
    cli.confirm = True
    r = cli("keys", "export", "alice", "--unsafe", "--unarmored-hex")
    assert r.code == 0 and r.out.strip() == seed_hex
    cli.interactive = False
    r = cli("-o", "json", "keys", "export", "alice", "--unsafe", "--unarmored-hex", "--yes")
    assert r.json()["private_key"] == seed_hex and r.json()["address"] == info.address


def test_no_command_but_export_prints_the_private_key(chain_cli: CLI, microgrid: Microgrid) -> None:
    seed_hex = (bytes([3]) * 32).hex()  # alice's, see conftest
    bob = microgrid.address("bob")
    outputs = [
        chain_cli("keys", "show", "alice"),
        chain_cli("-o", "json", "keys", "list"),
        chain_cli("tx", "bank", "send", "alice", bob, "5ugrid", "--yes"),
        chain_cli("tx", "bank", "send", "alice", bob, "5ugrid", "--generate-only"),
    ]
    for r in outputs:
        assert r.code == 0, r.err
        assert seed_hex not in r.out + r.err and seed_hex.upper() not in r.out + r.err


# -- offline signing ------------------------------------------------------------------------------


def _generate(cli: CLI, *argv: str) -> dict[str, Any]:
    r = cli("tx", *argv, "--generate-only")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["type"] == "mgrid/unsigned-tx"
    return doc


def test_generate_only_sign_offline_broadcast_commits(
    chain_cli: CLI, microgrid: Microgrid, tmp_path: Path
) -> None:
    bob = microgrid.address("bob")
    before = balance(microgrid, "bob")
    chain_cli.rpc = RPC(closed_port_url(), timeout=2)  # nothing answers: offline
    doc = _generate(chain_cli, "bank", "send", "--from", "alice", bob, "1234ugrid", "--memo", "hi")
    assert doc["unset"] == ["chain_id", "sequence", "fee"]
    assert doc["body"]["signer"] == microgrid.address("alice") and doc["body"]["memo"] == "hi"
    unsigned = tmp_path / "unsigned.json"
    unsigned.write_text(json.dumps(doc))

    # signing needs no node once chain id, sequence and fee are given
    r = chain_cli(
        "tx", "sign", str(unsigned), "--from", "alice", "--chain-id", CHAIN_ID,
        "--sequence", "0", "--fees", "0ugrid",
    )  # fmt: skip
    assert r.code == 0, r.err
    signed = json.loads(r.out)
    assert signed["type"] == "mgrid/signed-tx" and signed["body"]["memo"] == "hi"
    signed_path = tmp_path / "signed.json"
    signed_path.write_text(r.out)
    # ... and without them it does need one, and says so
    r = chain_cli("tx", "sign", str(unsigned), "--from", "alice")
    assert r.code == ExitCode.NODE_UNREACHABLE and "make localnet" in r.err

    chain_cli.rpc = InprocRPC(microgrid.node)
    r = chain_cli("-o", "json", "tx", "broadcast", str(signed_path))
    assert r.code == 0, r.err
    assert r.json()["txhash"] == signed["txhash"] and r.json()["height"] > 0
    assert balance(microgrid, "bob") == before + 1234
    # the exact bytes signed are the ones the chain executed: CometBFT's hash of them
    raw = codec.assemble(
        *(base64.b64decode(signed[k]) for k in ("body_bytes", "pub_key", "signature"))
    )
    assert hashlib.sha256(raw).hexdigest().upper() == signed["txhash"]
    assert microgrid.node.txs[signed["txhash"]]["tx_result"]["code"] == 0


def test_sign_fills_unset_fields_from_the_node(
    chain_cli: CLI, microgrid: Microgrid, tmp_path: Path
) -> None:
    carol = microgrid.address("carol")
    assert chain_cli("tx", "bank", "send", "alice", carol, "1ugrid", "--yes").code == 0
    doc = _generate(chain_cli, "bank", "send", "--from", "alice", carol, "2ugrid")
    path = tmp_path / "u.json"
    path.write_text(json.dumps(doc))
    r = chain_cli("tx", "sign", str(path), "--from", "alice", "--base64")
    assert r.code == 0, r.err
    tx = codec.decode_tx(base64.b64decode(r.out.strip()))
    assert (tx.body.chain_id, tx.body.sequence, tx.body.fee.denom) == (CHAIN_ID, 1, "ugrid")
    b64 = tmp_path / "signed.b64"
    b64.write_text(r.out)
    r = chain_cli("tx", "broadcast", str(b64))
    assert r.code == 0 and "height:" in r.out


def test_generate_only_is_on_every_tx_command_and_asks_no_node(
    cli: CLI, microgrid: Microgrid
) -> None:
    Keyring(cli.keyring_dir, backend="test").add("k", bytes([3]) * 32)
    cli.rpc = RPC(closed_port_url(), timeout=2)
    bob = microgrid.address("bob")
    meter = microgrid.pub_key("meter1")
    commands = [
        ["bank", "send", "k", bob, "1ugrid"],
        ["registry", "apply", "--role", "consumer", "--bus", "b1", "--from", "k"],
        ["registry", "approve", bob, "--from", "k"],
        ["registry", "reject", bob, "--from", "k"],
        ["registry", "suspend", bob, "--from", "k"],
        ["registry", "reinstate", bob, "--from", "k"],
        ["registry", "register-meter", bob, meter, "--from", "k"],
        ["registry", "revoke-meter", meter, "--from", "k"],
        ["market", "place-order", "buy", "--quantity", "100", "--interval", "9", "--from", "k"],
        ["market", "cancel-order", "4", "--from", "k"],
        [
            "market", "publish-forecast", "--interval", "9", "--generation-wh", "1",
            "--demand-wh", "2", "--from", "k",
        ],
    ]  # fmt: skip
    for argv in commands:
        doc = _generate(cli, *argv, "--sequence", "3", "--chain-id", "c-1", "--fees", "5ugrid")
        assert doc["unset"] == [], argv
        assert doc["body"]["sequence"] == "3" and doc["body"]["chain_id"] == "c-1"
        assert doc["body"]["fee"] == {"denom": "ugrid", "amount": "5"}
    # --from may be a bare address: nothing of the keyring is needed
    doc = _generate(cli, "registry", "approve", bob, "--from", bob)
    assert doc["body"]["signer"] == bob


def test_generate_only_still_refuses_what_the_chain_would(cli: CLI) -> None:
    Keyring(cli.keyring_dir, backend="test").add("k", bytes([3]) * 32)
    r = cli("tx", "registry", "apply", "--role", "consumer", "--bus", "", "--from", "k",
            "--generate-only")  # fmt: skip
    assert r.code == ExitCode.USAGE and r.out == ""


def test_a_transaction_for_another_chain_is_rejected_by_the_chain(
    chain_cli: CLI, microgrid: Microgrid, tmp_path: Path
) -> None:
    doc = _generate(chain_cli, "bank", "send", "alice", microgrid.address("bob"), "7ugrid")
    path = tmp_path / "u.json"
    path.write_text(json.dumps(doc))
    r = chain_cli("tx", "sign", str(path), "--from", "alice", "--chain-id", "mg-elsewhere")
    assert r.code == 0
    signed = tmp_path / "s.json"
    signed.write_text(r.out)
    before = balance(microgrid, "bob")
    r = chain_cli("tx", "broadcast", str(signed))
    assert r.code == ExitCode.CHAIN
    assert "codespace: tx" in r.out and "code: 6" in r.out
    assert "signed for chain 'mg-elsewhere'" in r.err
    assert f"--chain-id {CHAIN_ID}" in r.err
    assert balance(microgrid, "bob") == before
    r = chain_cli("-o", "json", "tx", "broadcast", str(signed))
    assert r.json()["code"] == 6 and "--chain-id" in r.json()["error"]


def test_documents_edited_after_signing_are_refused(
    chain_cli: CLI, microgrid: Microgrid, tmp_path: Path
) -> None:
    doc = _generate(chain_cli, "bank", "send", "alice", microgrid.address("bob"), "7ugrid")
    path = tmp_path / "u.json"
    path.write_text(json.dumps(doc))
    signed = json.loads(chain_cli("tx", "sign", str(path), "--from", "alice").out)

    def broadcast(edited: dict[str, Any]) -> Out:
        target = tmp_path / "edited.json"
        target.write_text(json.dumps(edited))
        return chain_cli("tx", "broadcast", str(target))

    more = json.loads(json.dumps(signed))
    more["body"]["messages"][0]["send"]["amount"][0]["amount"] = "7000"
    r = broadcast(more)
    assert r.code == ExitCode.USAGE and "edited after signing" in r.err
    raw = bytearray(base64.b64decode(signed["body_bytes"]))
    raw[-1] ^= 1
    swapped = {**signed, "body_bytes": base64.b64encode(bytes(raw)).decode()}
    del swapped["body"]
    r = broadcast(swapped)
    assert r.code == ExitCode.USAGE and ("does not verify" in r.err or "not a valid" in r.err)
    r = broadcast({**signed, "txhash": "00" * 32})
    assert r.code == ExitCode.USAGE and "txhash" in r.err
    r = broadcast(doc)  # unsigned
    assert r.code == ExitCode.USAGE and "not signed yet" in r.err
    assert len(microgrid.node.txs) == 0


def test_sign_checks_the_key_and_the_document(
    chain_cli: CLI, microgrid: Microgrid, tmp_path: Path
) -> None:
    doc = _generate(chain_cli, "bank", "send", "alice", microgrid.address("bob"), "7ugrid")
    path = tmp_path / "u.json"
    path.write_text(json.dumps(doc))
    r = chain_cli("tx", "sign", str(path), "--from", "bob")
    assert r.code == ExitCode.USAGE and "key 'bob' is" in r.err
    path.write_text("{not json")
    assert chain_cli("tx", "sign", str(path), "--from", "alice").code == ExitCode.USAGE
    path.write_text(json.dumps({**doc, "body": {**doc["body"], "nonsense": 1}}))
    r = chain_cli("tx", "sign", str(path), "--from", "alice")
    assert r.code == ExitCode.USAGE and "TxBody" in r.err
    r = chain_cli("tx", "sign", str(tmp_path / "missing.json"), "--from", "alice")
    assert r.code == ExitCode.USAGE and "cannot read" in r.err


def test_sign_shows_the_transaction_and_asks_on_a_terminal(
    chain_cli: CLI, microgrid: Microgrid, tmp_path: Path
) -> None:
    doc = _generate(chain_cli, "bank", "send", "alice", microgrid.address("bob"), "7ugrid")
    path = tmp_path / "u.json"
    path.write_text(json.dumps(doc))
    chain_cli.interactive, chain_cli.confirm = True, False
    r = chain_cli("tx", "sign", str(path), "--from", "alice")
    assert r.code == ExitCode.CHAIN and r.out == ""
    assert f"chain id:       {CHAIN_ID}" in r.err and "to_address:" in r.err
    assert f"signer:         {microgrid.address('alice')} (alice)" in r.err
    assert chain_cli.prompts == ["sign this transaction?"]


def test_wrong_keyring_passphrase_fails_cleanly(
    microgrid: Microgrid, tmp_path: Path, passfile: Callable[[str], str]
) -> None:
    cli = CLI(str(tmp_path / "enc"), InprocRPC(microgrid.node))
    Keyring(cli.keyring_dir, backend="file", passphrase=PASSPHRASE).add("alice", bytes([3]) * 32)
    r = cli(
        "--passphrase-file", passfile("not the passphrase"),
        "tx", "bank", "send", "alice", microgrid.address("bob"), "1ugrid", "--yes",
        backend="file",
    )  # fmt: skip
    assert r.code == ExitCode.KEYRING
    assert "wrong passphrase for key 'alice'" in r.err and "Traceback" not in r.err
    assert len(microgrid.node.txs) == 0


# -- tx wait -----------------------------------------------------------------------------------


def test_tx_wait_follows_a_sync_broadcast_into_a_block(
    chain_cli: CLI, microgrid: Microgrid
) -> None:
    r = chain_cli(
        "-o", "json", "tx", "bank", "send", "alice", microgrid.address("bob"), "3ugrid",
        "--broadcast-mode", "sync", "--yes",
    )  # fmt: skip
    assert r.code == 0 and r.json()["phase"] == "check" and r.json()["height"] == 0
    txhash = r.json()["txhash"]
    rpc = chain_cli.rpc
    # the first lookup finds nothing; a block is then produced before the second
    rpc.before_lookup = lambda: microgrid.node.commit_block() if rpc.lookups == 2 else None
    r = chain_cli("-o", "json", "tx", "wait", txhash.lower())
    assert r.code == 0, r.err
    assert r.json()["txhash"] == txhash and r.json()["height"] == microgrid.node.height
    assert r.json()["phase"] == "block" and rpc.lookups == 2 and r.json()["events"]


def test_tx_wait_times_out_with_exit_5(chain_cli: CLI) -> None:
    r = chain_cli("tx", "wait", "AB" * 32, "--timeout", "2")
    assert r.code == ExitCode.TIMEOUT == 5
    assert "not in a block after 2 s" in r.err and chain_cli.now >= 2
    r = chain_cli("tx", "wait", "xyz")
    assert r.code == ExitCode.USAGE


def test_tx_wait_reports_a_failed_transaction(chain_cli: CLI, microgrid: Microgrid) -> None:
    txhash = "CD" * 32
    microgrid.node.txs[txhash] = {  # as CometBFT's /tx shows a tx that failed in its block
        "hash": txhash,
        "height": "5",
        "tx_result": {
            "code": 2,
            "codespace": "bank",
            "log": "insufficient funds: mg1abc has 1ugrid, needs 9ugrid",
            "events": [],
        },
    }
    r = chain_cli("tx", "wait", txhash)
    assert r.code == ExitCode.CHAIN and "height: 5" in r.out
    assert "rejected in the block: insufficient funds: balance 1ugrid, needed 9ugrid" in r.err


class BlocksRPC:
    """A node whose transaction index is broken or off: /tx errs (or finds nothing);
    /block and /block_results tell the truth. Height grows by one per /status."""

    def __init__(self, tx_error: str, included_at: int, raw: bytes):
        self.node = "http://blocks:26657"
        self.tx_error = tx_error
        self.height = included_at + 2
        self.included_at = included_at
        self.raw = raw
        self.blocks_read: list[int] = []
        self.tx_calls = 0

    def status(self) -> dict[str, Any]:
        self.height += 1
        return {
            "node_info": {"network": CHAIN_ID},
            "sync_info": {"latest_block_height": str(self.height)},
        }

    def tx(self, tx_hash_hex: str) -> dict[str, Any]:
        self.tx_calls += 1
        raise RPCError(self.tx_error)

    def block(self, height: int) -> dict[str, Any]:
        self.blocks_read.append(height)
        txs = [base64.b64encode(b"other").decode()]
        if height == self.included_at:
            txs.append(base64.b64encode(self.raw).decode())
        return {"block": {"header": {"height": str(height)}, "data": {"txs": txs}}}

    def block_results(self, height: int) -> dict[str, Any]:
        ok = {"code": 0, "log": "", "events": [{"type": "transfer", "attributes": []}]}
        return {"height": str(height), "txs_results": [{"code": 9, "log": "other"}, ok]}


@pytest.mark.parametrize(
    "tx_error", ["tx: Internal error transaction indexing is disabled", "tx: tx (X) not found"]
)
def test_tx_wait_reads_blocks_when_the_index_does_not_help(cli: CLI, tx_error: str) -> None:
    raw = b"the transaction"
    txhash = hashlib.sha256(raw).hexdigest().upper()
    cli.rpc = BlocksRPC(tx_error, included_at=100, raw=raw)
    r = cli("-o", "json", "tx", "wait", txhash)
    assert r.code == 0, r.err
    assert (r.json()["height"], r.json()["code"], r.json()["phase"]) == (100, 0, "block")
    assert r.json()["events"] == [{"type": "transfer", "attributes": []}]
    assert min(cli.rpc.blocks_read) == 103 - 50  # the look-back below the first latest height
    # ... and a --since-height above the block does not find it
    cli.rpc = BlocksRPC(tx_error, included_at=100, raw=raw)
    r = cli("tx", "wait", txhash, "--since-height", "101", "--timeout", "1")
    assert r.code == ExitCode.TIMEOUT and min(cli.rpc.blocks_read) == 101
    assert len(cli.rpc.blocks_read) == len(set(cli.rpc.blocks_read))  # no block read twice


# -- errors a person can act on ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("codespace", "code", "log", "expected"),
    [
        (
            "bank", 2, "insufficient funds: mg1abc has 120ugrid, needs 1500ugrid",
            "insufficient funds: balance 120ugrid, needed 1500ugrid",
        ),
        (
            "tx", 3, "invalid sequence: account mg1abc expects sequence 4, tx has 3",
            "sequence mismatch: the chain expects 4, the transaction was signed with 3",
        ),
        (
            "tx", 6, "wrong chain id: tx is for chain 'a-1', this is 'b-2'",
            "sign it again with --chain-id b-2",
        ),
        (
            "tx", 5, "insufficient fee: fee 0ugrid is below the minimum 10ugrid",
            "fee too low: the chain's minimum is 10ugrid; pass --fees 10ugrid",
        ),
        (
            "tx", 5, "insufficient fee: cannot pay fee 10ugrid: mg1abc has 0ugrid, needs 10ugrid",
            "cannot pay the fee: balance 0ugrid, needed 10ugrid",
        ),
        ("tx", 8, "tx timeout height: block height 9 > timeout height 8", "later --timeout-height"),
        (
            "tx", 16, "height not available: height 99 is not committed (latest 7)",
            "height 99 is not committed yet: the latest is 7",
        ),
        (
            "market", 5, "interval closed: the gate of interval 4 closed at 100 (block time 120); "
            "the earliest open interval is 6",
            "the earliest open one is 6",
        ),
        (
            "market", 16, "insufficient funds for escrow: escrow of 30ugrid needed: "
            "mg1abc has 10ugrid, needs 30ugrid",
            "insufficient funds to lock for the order: balance 10ugrid, needed 30ugrid",
        ),
        ("market", 4, "participant not approved: mg1abc is pending", "must approve"),
        ("settlement", 10, "meter sequence not increasing: meter ab sequence 3 is not above 5",
         "--meter-sequence 6"),
        ("settlement", 13, "flexibility already committed for the interval: mg1abc already "
         "committed its flexibility in interval 7 to flexibility/2", "mgrid query flex offers"),
        ("flexibility", 12, "insufficient funds: collateral of 30ugrid needed: "
         "mg1abc has 10ugrid, needs 30ugrid", "balance 10ugrid, needed 30ugrid"),
        ("quota", 7, "wrong phase: margin 1 allocated its quotas at 100", "allocation_time"),
        ("demand_response", 11, "participant outside the event's bus: mg1abc is on bus 'f2'",
         "`mgrid query registry network`"),
    ],
)  # fmt: skip
def test_error_explanations(codespace: str, code: int, log: str, expected: str) -> None:
    message = errors.explain(codespace, code, log)
    assert message is not None and expected in message


def test_unknown_codes_are_left_to_the_chains_log() -> None:
    assert errors.explain("elsewhere", 42, "odd") is None
    assert errors.explain("bank", 99, "odd") is None


def test_every_registered_chain_error_has_a_well_formed_explanation() -> None:
    from app.errors import _REGISTRY

    for codespace, code in errors.EXPLAINERS:
        assert (codespace, code) in _REGISTRY, f"{codespace}/{code} is not a chain error"
    for (codespace, code), cls in _REGISTRY.items():
        message = errors.explain(codespace, code, cls("some detail").log)
        assert message is None or len(message) > len(cls.description)


def test_chain_errors_come_back_translated(chain_cli: CLI, microgrid: Microgrid) -> None:
    bob = microgrid.address("bob")
    have = balance(microgrid, "carol")
    r = chain_cli("tx", "bank", "send", "carol", bob, f"{have + 1}ugrid", "--yes")
    assert r.code == ExitCode.CHAIN
    assert f"insufficient funds: balance {have}ugrid, needed {have + 1}ugrid" in r.err
    assert "codespace=bank code=2" in r.err  # the chain's own words stay visible

    r = chain_cli("tx", "bank", "send", "carol", bob, "1ugrid", "--sequence", "5", "--yes")
    assert r.code == ExitCode.CHAIN
    assert "the chain expects 0, the transaction was signed with 5" in r.err
    assert "--sequence 0" in r.err

    r = chain_cli("query", "bank", "balances", bob, "--height", "999")
    assert r.code == ExitCode.CHAIN and "is not committed yet: the latest is" in r.err
    r = chain_cli("-o", "json", "query", "bank", "balances", bob, "--height", "999")
    err = json.loads(r.err)
    assert (err["codespace"], err["code"]) == ("tx", 16) and "latest" in err["error"]

    r = chain_cli(
        "tx", "market", "place-order", "buy", "--quantity", "100", "--price", "200",
        "--interval", "next", "--from", "carol", "--yes",
    )  # fmt: skip
    assert r.code == ExitCode.CHAIN and "mgrid tx registry apply" in r.err


def test_node_unreachable_names_the_url_and_the_fix(cli: CLI, tmp_path: Path) -> None:
    url = closed_port_url()
    (tmp_path / "s.b64").write_text("AAAA")
    for argv in (["status"], ["tx", "wait", "AB" * 32], ["query", "account", ABANDON_ADDRESS]):
        r = cli("--node", url, *argv)
        assert r.code == ExitCode.NODE_UNREACHABLE
        assert f"no node at {url}: is the localnet running? try make localnet" in r.err


def test_unknown_key_names_keyring_and_how_to_list(cli: CLI) -> None:
    r = cli("tx", "bank", "send", "nobody", ABANDON_ADDRESS, "1ugrid", "--yes")
    assert r.code == ExitCode.KEYRING
    assert "no key named 'nobody'" in r.err and "mgrid keys list" in r.err


# -- status and completion ---------------------------------------------------------------------


def test_status_on_the_chain(chain_cli: CLI, microgrid: Microgrid) -> None:
    r = chain_cli("-o", "json", "status")
    data = r.json()
    assert data["chain_id"] == CHAIN_ID and data["latest_height"] == microgrid.node.height
    assert data["syncing"] is False and "validators" in data
    text = chain_cli("status").out
    assert "syncing: no" in text and f"chain_id: {CHAIN_ID}" in text


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(cli: CLI, shell: str) -> None:
    r = cli("completion", shell)
    assert r.code == 0
    for word in ("keys", "export", "broadcast", "place-order", "--generate-only"):
        assert word in r.out
    assert cli("completion", "fish").code == ExitCode.USAGE


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes(cli: CLI, tmp_path: Path) -> None:
    script = tmp_path / "mgrid.bash"
    script.write_text(cli("completion", "bash").out)

    def complete(*words: str) -> set[str]:
        line = " ".join(f"'{w}'" for w in words)
        program = (
            f"source {script}\n"
            f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{" ".join(words)}"; COMP_POINT=${{#COMP_LINE}}\n'
            "_shtab_mgrid mgrid\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        out = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
        return set(out.stdout.split())

    assert "keys" in complete("mgrid", "ke")
    assert {"export", "import", "rename"} <= complete("mgrid", "keys", "")
    assert {"sign", "broadcast", "wait"} <= complete("mgrid", "tx", "")
    assert "--generate-only" in complete("mgrid", "tx", "bank", "send", "--gen")
