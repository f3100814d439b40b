"""The wallet keyring: both backends, and what the encrypted file must not reveal."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from app.crypto import PrivateKey, address_of
from clients.mgrid.keyring import (
    InvalidKeyName,
    KeyExists,
    KeyInfo,
    KeyNotFound,
    Keyring,
    KeyringError,
    PassphraseError,
)

SEED = bytes(range(32))
PASSPHRASE = "correct horse battery"


@pytest.fixture(params=["test", "file"])
def keyring(request: pytest.FixtureRequest, tmp_path: Path) -> Keyring:
    return Keyring(tmp_path / "kr", backend=request.param, passphrase=PASSPHRASE)


def test_add_get_list_delete(keyring: Keyring) -> None:
    alice = keyring.add("alice", SEED)
    bob = keyring.add("bob")
    expected = PrivateKey(SEED)
    assert alice == KeyInfo("alice", expected.address, expected.public_key)
    assert bob.address == address_of(bob.pub_key) and bob.address != alice.address
    assert keyring.get("alice") == alice
    assert keyring.list() == [alice, bob]
    assert keyring.private_key("alice").seed == SEED
    assert keyring.private_key("bob").public_key == bob.pub_key
    keyring.delete("alice")
    assert keyring.list() == [bob]
    with pytest.raises(KeyNotFound):
        keyring.get("alice")


def test_files_and_directory_are_private(keyring: Keyring) -> None:
    keyring.add("alice", SEED)
    assert stat.S_IMODE(keyring.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((keyring.directory / "alice.key").stat().st_mode) == 0o600
    assert sorted(p.name for p in keyring.directory.iterdir()) == ["alice.key"]


def test_add_existing_name_fails_and_keeps_the_old_key(keyring: Keyring) -> None:
    keyring.add("alice", SEED)
    with pytest.raises(KeyExists, match="alice"):
        keyring.add("alice")
    assert keyring.private_key("alice").seed == SEED


def test_unknown_key_names_the_name_and_directory(keyring: Keyring) -> None:
    for call in (keyring.get, keyring.delete, keyring.private_key):
        with pytest.raises(KeyNotFound) as info:
            call("carol")
        assert "'carol'" in str(info.value) and str(keyring.directory) in str(info.value)


def test_list_of_missing_directory_is_empty(tmp_path: Path) -> None:
    assert Keyring(tmp_path / "nowhere", backend="test").list() == []


@pytest.mark.parametrize("name", ["", "a/b", "../x", "sp ace", "é", "x" * 65, "a\n"])
def test_invalid_names(keyring: Keyring, name: str) -> None:
    with pytest.raises(InvalidKeyName):
        keyring.add(name)


@pytest.mark.parametrize("name", ["a", "faucet", "val-0", "my_key.2", "A" * 64])
def test_valid_names(tmp_path: Path, name: str) -> None:
    assert Keyring(tmp_path, backend="test").add(name).name == name


def test_seed_must_be_32_bytes(keyring: Keyring) -> None:
    with pytest.raises(KeyringError, match="32 bytes"):
        keyring.add("alice", b"short")


def test_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="backend"):
        Keyring(tmp_path, backend="os")


# -- test backend ------------------------------------------------------------------------


def test_test_backend_is_labelled_unsafe_and_roundtrips(tmp_path: Path) -> None:
    kr = Keyring(tmp_path, backend="test")
    info = kr.add("faucet")  # the exact call localnet makes
    record = json.loads((tmp_path / "faucet.key").read_text())
    assert record["backend"] == "test"
    assert "UNSAFE" in record["warning"] and "NOT encrypted" in record["warning"]
    again = Keyring(tmp_path, backend="test")  # a fresh instance reads it back
    assert again.get("faucet") == info
    assert again.private_key("faucet").public_key == info.pub_key


# -- file backend ------------------------------------------------------------------------


def test_file_backend_hides_the_seed(tmp_path: Path) -> None:
    kr = Keyring(tmp_path, backend="file", passphrase=PASSPHRASE)
    kr.add("alice", SEED)
    data = (tmp_path / "alice.key").read_bytes()
    secret_forms = [
        SEED,
        SEED.hex().encode(),
        SEED.hex().upper().encode(),
        base64.b64encode(SEED),
        base64.urlsafe_b64encode(SEED),
        base64.b64encode(SEED).rstrip(b"="),
        # PyNaCl's 64-byte secret key form (seed || public key)
        SEED + PrivateKey(SEED).public_key,
        (SEED + PrivateKey(SEED).public_key).hex().encode(),
        base64.b64encode(SEED + PrivateKey(SEED).public_key),
    ]
    for form in secret_forms:
        assert form not in data
    record = json.loads(data)
    assert record["backend"] == "file"
    assert record["crypto"]["kdf"] == "argon2id"
    assert record["pub_key"] == PrivateKey(SEED).public_key.hex()


def test_file_backend_public_parts_need_no_passphrase(tmp_path: Path) -> None:
    info = Keyring(tmp_path, backend="file", passphrase=PASSPHRASE).add("alice", SEED)
    public_only = Keyring(tmp_path, backend="file")
    assert public_only.get("alice") == info
    assert public_only.list() == [info]
    with pytest.raises(PassphraseError, match="passphrase"):
        public_only.private_key("alice")


def test_file_backend_wrong_passphrase(tmp_path: Path) -> None:
    Keyring(tmp_path, backend="file", passphrase=PASSPHRASE).add("alice", SEED)
    with pytest.raises(PassphraseError, match="wrong passphrase for key 'alice'"):
        Keyring(tmp_path, backend="file", passphrase="not the passphrase").private_key("alice")


def test_file_backend_two_keys_get_different_salts(tmp_path: Path) -> None:
    kr = Keyring(tmp_path, backend="file", passphrase=PASSPHRASE)
    kr.add("a", SEED)
    kr.add("b", SEED)
    a = json.loads((tmp_path / "a.key").read_text())["crypto"]
    b = json.loads((tmp_path / "b.key").read_text())["crypto"]
    assert a["salt"] != b["salt"] and a["ciphertext"] != b["ciphertext"]


def test_file_backend_asks_a_callable_once(tmp_path: Path) -> None:
    calls: list[int] = []

    def ask() -> str:
        calls.append(1)
        return PASSPHRASE

    kr = Keyring(tmp_path, backend="file", passphrase=ask)
    assert kr.list() == [] and calls == []
    kr.add("alice", SEED)
    assert kr.private_key("alice").seed == SEED
    assert calls == [1]


def test_file_backend_rejects_short_passphrase_for_new_keys(tmp_path: Path) -> None:
    with pytest.raises(PassphraseError, match="at least 8"):
        Keyring(tmp_path, backend="file", passphrase="short").add("alice")
    assert not (tmp_path / "alice.key").exists()


def test_tampered_public_key_is_detected(tmp_path: Path) -> None:
    Keyring(tmp_path, backend="file", passphrase=PASSPHRASE).add("alice", SEED)
    path = tmp_path / "alice.key"
    record = json.loads(path.read_text())
    other = PrivateKey(bytes(32))
    record["pub_key"], record["address"] = other.public_key.hex(), other.address
    path.write_text(json.dumps(record))
    with pytest.raises(KeyringError, match="does not match its public key"):
        Keyring(tmp_path, backend="file", passphrase=PASSPHRASE).private_key("alice")


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"type": "other"}', '{"type": "mgrid-key", "version": 99}']
)
def test_corrupt_files_give_keyring_errors(tmp_path: Path, content: str) -> None:
    (tmp_path / "bad.key").write_text(content)
    with pytest.raises(KeyringError, match=r"bad\.key"):
        Keyring(tmp_path, backend="test").get("bad")


def test_backend_mismatch_is_refused(tmp_path: Path) -> None:
    Keyring(tmp_path, backend="test").add("faucet", SEED)
    file_kr = Keyring(tmp_path, backend="file", passphrase=PASSPHRASE)
    assert file_kr.get("faucet").pub_key == PrivateKey(SEED).public_key
    with pytest.raises(KeyringError, match="'test' backend"):
        file_kr.private_key("faucet")
