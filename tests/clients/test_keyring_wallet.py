"""The keyring's wallet features: keys from mnemonics, recovery, rename, export
and import as armor, older file versions, and what no file may reveal."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app import crypto
from app.crypto import PrivateKey
from clients.mgrid import hd
from clients.mgrid.keyring import (
    ARMOR_BEGIN,
    ArmorError,
    InvalidMnemonic,
    KeyExists,
    KeyNotFound,
    Keyring,
    KeyringError,
    PassphraseError,
    crc24,
)

PASSPHRASE = "correct horse battery"
EXPORT_PASSPHRASE = "export staple 1234"
SEED = bytes(range(32))
ABANDON_24 = " ".join(["abandon"] * 23 + ["art"])


def _bech32ish(data: bytes) -> list[bytes]:
    """``data`` in the 5-bit bech32 alphabet, bare and as a full ``mg1...`` string."""
    five = crypto._convert_bits(data, 8, 5, True)
    bare = "".join(crypto._CHARSET[v] for v in five)
    return [bare.encode(), crypto.bech32_encode(crypto.HRP, data).encode()]


def secret_forms(secret: bytes) -> list[bytes]:
    """Every encoding of ``secret`` a careless file could hold."""
    forms = [
        secret,
        secret.hex().encode(),
        secret.hex().upper().encode(),
        base64.b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        base64.b32encode(secret),
        *_bech32ish(secret),
    ]
    # a 20-byte window catches any partial copy too (a hex or base64 slice of it)
    forms += [secret[:20].hex().encode(), base64.b64encode(secret[:18])]
    return forms


def key_material(seed: bytes, mnemonic: str | None = None) -> list[bytes]:
    """The raw ed25519 seed, PyNaCl's 64-byte secret key, and the mnemonic's forms."""
    key = PrivateKey(seed)
    forms = secret_forms(seed) + secret_forms(seed + key.public_key)
    if mnemonic is not None:
        forms += [mnemonic.encode(), " ".join(mnemonic.split()[:3]).encode()]
        forms += secret_forms(hd.mnemonic_to_seed(mnemonic))  # the BIP-39 seed
    return forms


def assert_no_key_material(data: bytes, seed: bytes, mnemonic: str | None = None) -> None:
    for form in key_material(seed, mnemonic):
        assert form not in data, f"key material {form[:12]!r}... found"


@pytest.fixture(params=["test", "file"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def keyring(directory: Path, backend: str, passphrase: str | None = PASSPHRASE) -> Keyring:
    return Keyring(directory, backend=backend, passphrase=passphrase)


# -- mnemonics ---------------------------------------------------------------------------------


def test_create_then_recover_elsewhere_gives_the_same_key(tmp_path: Path, backend: str) -> None:
    info, mnemonic = keyring(tmp_path / "a", backend).create("alice")
    assert len(mnemonic.split()) == 24
    again = keyring(tmp_path / "b", backend).recover("alice2", mnemonic)
    assert (again.address, again.pub_key) == (info.address, info.pub_key)
    seed_a = keyring(tmp_path / "a", backend).private_key("alice").seed
    assert keyring(tmp_path / "b", backend).private_key("alice2").seed == seed_a
    assert seed_a == hd.key_seed_from_mnemonic(mnemonic)


def test_recover_follows_the_path_and_word_count(tmp_path: Path) -> None:
    kr = keyring(tmp_path, "test")
    first = kr.recover("first", ABANDON_24)
    second = kr.recover("second", ABANDON_24, hd_path="m/44'/118'/1'/0'/0'")
    short = kr.recover("short", " ".join(["abandon"] * 11 + ["about"]))
    assert len({first.address, second.address, short.address}) == 3
    assert kr.metadata("second")["derivation"] == {
        "mnemonic": "bip39-english",
        "hd_path": "m/44'/118'/1'/0'/0'",
    }


def test_metadata_tells_mnemonic_keys_from_random_ones(tmp_path: Path, backend: str) -> None:
    kr = keyring(tmp_path, backend)
    kr.create("words")
    kr.add("random")
    assert kr.metadata("words") == {
        "backend": backend,
        "version": 2,
        "derivation": {"mnemonic": "bip39-english", "hd_path": hd.DEFAULT_HD_PATH},
    }
    assert kr.metadata("random") == {"backend": backend, "version": 2}


def test_invalid_mnemonic_writes_nothing_and_asks_nothing(tmp_path: Path) -> None:
    asked: list[int] = []

    def ask() -> str:
        asked.append(1)
        return PASSPHRASE

    kr = Keyring(tmp_path, backend="file", passphrase=ask)
    with pytest.raises(InvalidMnemonic, match=r"word 24 \('arts'\)"):
        kr.recover("alice", ABANDON_24 + "s")
    with pytest.raises(InvalidMnemonic, match="checksum"):
        kr.recover("alice", ABANDON_24.replace("art", "zoo"))
    with pytest.raises(InvalidMnemonic, match="not hardened"):
        kr.recover("alice", ABANDON_24, hd_path="m/44'/118'/0'/0/0")
    assert asked == [] and kr.list() == []


def test_recover_into_an_existing_name_fails_first(tmp_path: Path) -> None:
    kr = keyring(tmp_path, "test")
    kr.add("alice", SEED)
    with pytest.raises(KeyExists):
        kr.recover("alice", ABANDON_24)
    with pytest.raises(KeyExists):
        kr.create("alice")
    assert kr.private_key("alice").seed == SEED


# -- what the files reveal -----------------------------------------------------------------------


def test_file_backend_holds_no_key_material(tmp_path: Path) -> None:
    kr = keyring(tmp_path, "file")
    info, mnemonic = kr.create("alice")
    kr.add("bob", SEED)
    seed = kr.private_key("alice").seed
    alice_bytes = (tmp_path / "alice.key").read_bytes()
    assert_no_key_material(alice_bytes, seed, mnemonic)
    assert_no_key_material((tmp_path / "bob.key").read_bytes(), SEED)
    # the file is still what it claims: public parts in clear, the seed under argon2id
    record = json.loads(alice_bytes)
    assert record["version"] == 2 and record["crypto"]["kdf"] == "argon2id"
    assert record["address"] == info.address and "mnemonic" not in json.dumps(record["crypto"])


def test_the_check_itself_finds_a_plaintext_key(tmp_path: Path) -> None:
    """The test backend stores the seed in hex: the detector must see it."""
    kr = keyring(tmp_path, "test")
    kr.add("faucet", SEED)
    with pytest.raises(AssertionError, match="key material"):
        assert_no_key_material((tmp_path / "faucet.key").read_bytes(), SEED)
    # ... and the mnemonic is never stored, even unencrypted
    _, mnemonic = kr.create("words")
    data = (tmp_path / "words.key").read_bytes()
    assert mnemonic.encode() not in data and mnemonic.split()[0].encode() + b" " not in data


def test_wrong_passphrase_fails_cleanly(tmp_path: Path) -> None:
    keyring(tmp_path, "file").add("alice", SEED)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(PassphraseError, match="wrong passphrase for key 'alice'") as info:
        keyring(tmp_path, "file", "wrong passphrase!").private_key("alice")
    assert SEED.hex() not in str(info.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# -- rename ------------------------------------------------------------------------------------------


def test_rename(tmp_path: Path, backend: str) -> None:
    kr = keyring(tmp_path, backend)
    info = kr.add("alice", SEED)
    renamed = kr.rename("alice", "alicia")
    assert (renamed.name, renamed.address) == ("alicia", info.address)
    assert [k.name for k in kr.list()] == ["alicia"]
    assert kr.private_key("alicia").seed == SEED
    with pytest.raises(KeyNotFound):
        kr.rename("alice", "x")


def test_rename_onto_an_existing_key_keeps_both(tmp_path: Path) -> None:
    kr = keyring(tmp_path, "test")
    kr.add("alice", SEED)
    bob = kr.add("bob")
    with pytest.raises(KeyExists, match="'bob'"):
        kr.rename("alice", "bob")
    assert kr.get("bob") == bob and kr.private_key("alice").seed == SEED


# -- export and import ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target"), [("file", "file"), ("test", "file"), ("file", "test")]
)
def test_export_import_round_trip(tmp_path: Path, source: str, target: str) -> None:
    info = keyring(tmp_path / "a", source).add("alice", SEED)
    armor = keyring(tmp_path / "a", source).export_armor("alice", EXPORT_PASSPHRASE)
    assert armor.startswith(ARMOR_BEGIN + "\n") and f"address: {info.address}" in armor
    assert_no_key_material(armor.encode(), SEED)
    other = keyring(tmp_path / "b", target, "another passphrase")
    imported = other.import_armor("alice", armor, EXPORT_PASSPHRASE)
    assert (imported.address, imported.pub_key) == (info.address, info.pub_key)
    assert other.private_key("alice").seed == SEED


def test_export_asks_keyring_passphrase_before_export_passphrase(tmp_path: Path) -> None:
    keyring(tmp_path, "file").add("alice", SEED)
    asked: list[str] = []

    def export_passphrase() -> str:
        asked.append("export")
        return EXPORT_PASSPHRASE

    with pytest.raises(PassphraseError, match="wrong passphrase"):
        keyring(tmp_path, "file", "not the one!").export_armor("alice", export_passphrase)
    assert asked == []
    with pytest.raises(PassphraseError, match="export passphrase too short"):
        keyring(tmp_path, "file").export_armor("alice", "short")


def test_import_with_wrong_export_passphrase(tmp_path: Path) -> None:
    source = keyring(tmp_path / "a", "test")
    source.add("alice", SEED)
    armor = source.export_armor("alice", EXPORT_PASSPHRASE)
    target = keyring(tmp_path / "b", "file")
    with pytest.raises(PassphraseError, match="wrong export passphrase"):
        target.import_armor("alice", armor, "not the export one")
    assert target.list() == []


def _edit_body(armor: str) -> str:
    lines = armor.splitlines()
    i = lines.index("") + 1  # first body line
    lines[i] = ("B" if lines[i][0] != "B" else "C") + lines[i][1:]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda a: a.replace(ARMOR_BEGIN, "-----BEGIN SOMETHING-----"), "not an armored"),
        (lambda a: a.rsplit("-----END", 1)[0], "truncated"),
        (
            lambda a: "\n".join(line for line in a.splitlines() if not line.startswith("=")),
            "checksum line",
        ),
        (_edit_body, "checksum does not match"),
        (lambda a: a.replace("type: ed25519", "type: secp256k1"), "only ed25519"),
        (lambda a: a.replace("opslimit: ", "opslimit: x"), "must be numbers"),
        (lambda a: a.replace("kdf: argon2id", "kdf: scrypt"), "unknown encryption scheme"),
    ],
)
def test_damaged_armor_is_named_as_such(
    tmp_path: Path, damage: Callable[[str], str], message: str
) -> None:
    kr = keyring(tmp_path, "test")
    kr.add("alice", SEED)
    armor = kr.export_armor("alice", EXPORT_PASSPHRASE)
    with pytest.raises(ArmorError, match=message):
        kr.import_armor("alice2", damage(armor), EXPORT_PASSPHRASE)


def test_armor_address_header_must_match_the_key(tmp_path: Path) -> None:
    kr = keyring(tmp_path, "test")
    kr.add("alice", SEED)
    armor = kr.export_armor("alice", EXPORT_PASSPHRASE)
    other = PrivateKey(bytes(32)).address
    edited = armor.replace(f"address: {kr.get('alice').address}", f"address: {other}")
    with pytest.raises(ArmorError, match="edited"):
        kr.import_armor("alice2", edited, EXPORT_PASSPHRASE)


def test_crc24_matches_rfc4880() -> None:
    # CRC-24 of the empty string is the initial value; of "123456789" the catalogue's check value.
    assert crc24(b"") == 0xB704CE
    assert crc24(b"123456789") == 0x21CF02


# -- older files ----------------------------------------------------------------------------


def _as_version_1(path: Path) -> None:
    """Rewrite a key file as the first wallet wrote it: version 1, no derivation."""
    record = json.loads(path.read_text())
    record["version"] = 1
    record.pop("derivation", None)
    path.write_text(json.dumps(record, indent=2) + "\n")


def test_version_1_files_still_load(tmp_path: Path, backend: str) -> None:
    kr = keyring(tmp_path, backend)
    info = kr.add("old", SEED)
    _as_version_1(tmp_path / "old.key")
    again = keyring(tmp_path, backend)
    assert again.get("old") == info and again.list() == [info]
    assert again.private_key("old").seed == SEED
    assert again.metadata("old") == {"backend": backend, "version": 1}
    assert again.rename("old", "older").address == info.address
    armor = again.export_armor("older", EXPORT_PASSPHRASE)
    assert again.import_armor("copy", armor, EXPORT_PASSPHRASE).address == info.address


def test_a_future_version_is_refused(tmp_path: Path) -> None:
    kr = keyring(tmp_path, "test")
    kr.add("new", SEED)
    path = tmp_path / "new.key"
    record = json.loads(path.read_text())
    record["version"] = 3
    path.write_text(json.dumps(record))
    with pytest.raises(KeyringError, match="reads versions 1, 2"):
        kr.get("new")
