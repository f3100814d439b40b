"""The wallet's keyring: ed25519 keys at rest, one file per key (DESIGN.md section 6).

A keyring is a directory (mode 0700) holding ``<name>.key`` files (mode 0600),
each a small JSON document. The public parts (address, public key) are always
in clear so that listing and showing keys never needs a passphrase; only the
32-byte ed25519 seed is protected, according to the backend the key was
written with:

- ``file``: the seed is encrypted with XSalsa20-Poly1305 (``nacl.secret.SecretBox``)
  under a key derived from the passphrase with argon2id (random 16-byte salt,
  libsodium's INTERACTIVE limits, both recorded in the file so they can be
  raised later without breaking old keys). After decryption the seed must
  give the public key stored next to it, so an edited file is detected.
- ``test``: the seed is stored unencrypted, in hex, with a warning in the file.
  For localnets and tests only: anyone who can read the file owns the account.

Reading public data works whatever backend wrote a key; reading a private key
needs the keyring to be opened with that key's backend, so an unencrypted
test key is never mistaken for a protected one.

The format carries ``"type": "mgrid-key"`` and a ``version``. Version 2
(written now) adds ``derivation`` to keys made from a BIP-39 mnemonic
(hd.py): the word list and the SLIP-0010 path, never the words themselves,
which are shown once by ``keys add`` and not stored. Version 1 files (no
``derivation``) are read as before.

Export and import move one key between keyrings as ASCII armor
(``-----BEGIN MGRID PRIVATE KEY-----``): the seed encrypted exactly as in a
``file`` key, but under an export passphrase of its own, with the argon2id
parameters and the address as armor headers and an OpenPGP CRC-24 over the
payload so that a truncated copy is reported as such, not as a wrong
passphrase.
"""

from __future__ import annotations

import base64
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.utils

from app.crypto import PrivateKey, address_of
from clients.mgrid import hd

BACKENDS = ("file", "test")
KEY_SUFFIX = ".key"
FILE_TYPE = "mgrid-key"
FILE_VERSION = 2
READABLE_VERSIONS = (1, 2)
MNEMONIC_WORDLIST = "bip39-english"
MIN_PASSPHRASE_CHARS = 8
NAME_RE = re.compile(r"[a-zA-Z0-9_.-]{1,64}")

# argon2id cost: libsodium's "interactive" profile (about 0.1 s and 64 MiB on a
# laptop). The values used are written into each key file, so a stronger
# profile can become the default later and old files still open.
KDF_OPSLIMIT = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
KDF_MEMLIMIT = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE

TEST_BACKEND_WARNING = (
    "UNSAFE: test keyring backend. The private key (seed) below is NOT encrypted; "
    "anyone who can read this file controls the account. Use only for localnets and tests."
)

ARMOR_BEGIN = "-----BEGIN MGRID PRIVATE KEY-----"
ARMOR_END = "-----END MGRID PRIVATE KEY-----"
ARMOR_LINE_CHARS = 64

Passphrase = str | Callable[[], str] | None


class KeyringError(Exception):
    """Base class of every keyring failure; the message says what to do."""


class InvalidKeyName(KeyringError):
    """A key name is not 1-64 characters of [a-zA-Z0-9_.-]."""


class KeyNotFound(KeyringError):
    """No key of that name in the keyring directory."""


class KeyExists(KeyringError):
    """A key of that name is already in the keyring directory."""


class PassphraseError(KeyringError):
    """The passphrase is missing, too short, or does not open the key."""


class InvalidMnemonic(KeyringError):
    """The words given to recover a key are not a valid BIP-39 mnemonic (or the path is bad)."""


class ArmorError(KeyringError):
    """An exported key is not well-formed armor (truncated, edited, or not a key)."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """The public side of a key: all that list/show need."""

    name: str
    address: str
    pub_key: bytes


def validate_name(name: str) -> str:
    """Return name if it is a valid key name; raises InvalidKeyName otherwise."""
    if not NAME_RE.fullmatch(name):
        raise InvalidKeyName(f"invalid key name {name!r}: use 1-64 characters of [a-zA-Z0-9_.-]")
    return name


class Keyring:
    """A directory of keys written with one backend.

    Parameters
    ----------
    directory:
        Where the ``<name>.key`` files live; created (0700) on the first ``add``.
    backend:
        ``"file"`` (encrypted, the default) or ``"test"`` (unencrypted, unsafe).
    passphrase:
        For the ``file`` backend: the passphrase itself, or a callable asked
        for it the first time it is needed (at most once per Keyring), or None
        when only public data will be read.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        backend: str = "file",
        passphrase: Passphrase = None,
    ):
        if backend not in BACKENDS:
            raise KeyringError(f"unknown keyring backend {backend!r}: choose one of {BACKENDS}")
        self.directory = Path(directory).expanduser()
        self.backend = backend
        self._passphrase = passphrase

    # -- public interface ------------------------------------------------------------------

    def add(self, name: str, seed: bytes | None = None) -> KeyInfo:
        """Create a key from ``seed`` (32 bytes) or a fresh random one; raises KeyExists.

        A random key has no mnemonic: only its file (or an export) keeps it.
        ``create`` is what people use; this is for tools and tests.
        """
        return self._add(name, seed)

    def create(
        self,
        name: str,
        *,
        words: int = hd.DEFAULT_MNEMONIC_WORDS,
        hd_path: str = hd.DEFAULT_HD_PATH,
    ) -> tuple[KeyInfo, str]:
        """Create a key from a new BIP-39 mnemonic; returns the key and the mnemonic.

        The mnemonic is not stored anywhere: the caller shows it once, and it
        is the only way to recover the key without its file.
        """
        self._check_new_name(name)
        try:
            mnemonic = hd.new_mnemonic(words)
        except hd.MnemonicError as exc:
            raise InvalidMnemonic(str(exc)) from None
        return self.recover(name, mnemonic, hd_path=hd_path), mnemonic

    def recover(
        self,
        name: str,
        mnemonic: str,
        *,
        hd_path: str = hd.DEFAULT_HD_PATH,
        bip39_passphrase: str = "",
    ) -> KeyInfo:
        """Store the key that ``mnemonic`` gives at ``hd_path`` under ``name``.

        Raises InvalidMnemonic (naming the word at fault) before any
        passphrase is asked, and KeyExists if the name is taken.
        """
        self._check_new_name(name)
        try:
            path = hd.format_path(hd.parse_path(hd_path))
            seed = hd.key_seed_from_mnemonic(mnemonic, path, bip39_passphrase)
        except (hd.MnemonicError, hd.HDPathError) as exc:
            raise InvalidMnemonic(str(exc)) from None
        derivation = {"mnemonic": MNEMONIC_WORDLIST, "hd_path": path}
        if bip39_passphrase:
            derivation["bip39_passphrase"] = "yes"
        return self._add(name, seed, derivation)

    def rename(self, old: str, new: str) -> KeyInfo:
        """Give key ``old`` the name ``new``; raises KeyNotFound or KeyExists.

        The file is linked under the new name first, so a crash leaves the
        key under one name or both, never under none.
        """
        validate_name(old)
        validate_name(new)
        self.get(old)  # a readable key file, or KeyNotFound
        try:
            os.link(self._path(old), self._path(new))
        except FileExistsError:
            raise KeyExists(f"a key named {new!r} already exists in {self.directory}") from None
        os.unlink(self._path(old))
        _fsync_dir(self.directory)
        return self.get(new)

    def metadata(self, name: str) -> dict[str, Any]:
        """What a key file says about itself: backend, format version and, for keys
        made from a mnemonic, ``derivation`` (word list and HD path); no secrets."""
        validate_name(name)
        record = self._read(name)
        out = {"backend": record.get("backend"), "version": record.get("version")}
        if isinstance(record.get("derivation"), dict):
            out["derivation"] = dict(record["derivation"])
        return out

    def export_armor(self, name: str, export_passphrase: Passphrase) -> str:
        """Key ``name`` as ASCII armor encrypted under ``export_passphrase``.

        The keyring passphrase (for a ``file`` key) is asked first, so a
        wrong one fails before the export passphrase is chosen.
        """
        key = self.private_key(name)
        passphrase = _resolve(export_passphrase, "an export passphrase is needed")
        _check_new_passphrase(passphrase, "export passphrase")
        crypto = _encrypt_seed(key.seed, passphrase)
        headers = {
            "type": "ed25519",
            "address": key.address,
            "kdf": crypto["kdf"],
            "opslimit": str(crypto["opslimit"]),
            "memlimit": str(crypto["memlimit"]),
            "salt": crypto["salt"],
            "cipher": crypto["cipher"],
        }
        payload = bytes.fromhex(crypto["nonce"]) + bytes.fromhex(crypto["ciphertext"])
        return _armor(headers, payload)

    def import_armor(self, name: str, armor: str, export_passphrase: Passphrase) -> KeyInfo:
        """Store the key of ``armor`` (from ``export_armor``) under ``name``.

        The export passphrase opens the armor; the key is then written with
        this keyring's backend (and passphrase, for ``file``).
        """
        self._check_new_name(name)
        headers, payload = _dearmor(armor)
        if headers.get("type") != "ed25519":
            raise ArmorError(f"armored key of type {headers.get('type')!r}: only ed25519 is known")
        nonce_size = nacl.secret.SecretBox.NONCE_SIZE
        if len(payload) <= nonce_size:
            raise ArmorError("armored key is too short to hold a key")
        try:
            crypto = {
                "kdf": headers.get("kdf"),
                "cipher": headers.get("cipher"),
                "opslimit": int(headers.get("opslimit", "")),
                "memlimit": int(headers.get("memlimit", "")),
                "salt": headers.get("salt"),
                "nonce": payload[:nonce_size].hex(),
                "ciphertext": payload[nonce_size:].hex(),
            }
        except ValueError:
            raise ArmorError("armored key: opslimit and memlimit must be numbers") from None
        passphrase = _resolve(export_passphrase, "the export passphrase is needed")
        try:
            seed = _decrypt_seed(
                crypto,
                passphrase,
                "armored key",
                "wrong export passphrase: it does not open this armored key",
            )
        except PassphraseError:
            raise
        except KeyringError as exc:
            raise ArmorError(str(exc)) from None
        if len(seed) != 32:
            raise ArmorError("armored key does not hold a 32-byte ed25519 seed")
        key = PrivateKey(seed)
        if headers.get("address") not in (None, key.address):
            raise ArmorError(
                f"armored key's address header {headers['address']} is not the address "
                f"of the key inside ({key.address}): the armor was edited"
            )
        return self._add(name, seed)

    def exists(self, name: str) -> bool:
        """Whether a key file named ``name`` is in the directory (valid or not)."""
        validate_name(name)
        return self._path(name).exists()

    def get(self, name: str) -> KeyInfo:
        """The public side of key ``name``; raises KeyNotFound."""
        validate_name(name)
        return self._info(name, self._read(name))

    def list(self) -> list[KeyInfo]:
        """Every key in the directory, sorted by name."""
        if not self.directory.is_dir():
            return []
        names = sorted(
            p.name[: -len(KEY_SUFFIX)]
            for p in self.directory.iterdir()
            if p.name.endswith(KEY_SUFFIX) and NAME_RE.fullmatch(p.name[: -len(KEY_SUFFIX)])
        )
        return [self.get(name) for name in names]

    def delete(self, name: str) -> None:
        """Remove key ``name`` for good; raises KeyNotFound."""
        validate_name(name)
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            raise self._not_found(name) from None

    def private_key(self, name: str) -> PrivateKey:
        """Load the signing key ``name``, decrypting it with the passphrase if needed."""
        validate_name(name)
        record = self._read(name)
        info = self._info(name, record)
        stored_backend = record.get("backend")
        if stored_backend != self.backend:
            raise KeyringError(
                f"key {name!r} in {self.directory} was written by the {stored_backend!r} "
                f"backend; open the keyring with backend {stored_backend!r} to use it"
            )
        if self.backend == "test":
            seed = _hex_field(record, "seed", self._path(name))
        else:
            path = self._path(name)
            seed = _decrypt_seed(
                record.get("crypto"),
                self._get_passphrase(),
                f"key file {path}",
                f"wrong passphrase for key {name!r} ({path})",
            )
        if len(seed) != 32:
            raise KeyringError(f"key file {self._path(name)} is corrupt: seed is not 32 bytes")
        key = PrivateKey(seed)
        if key.public_key != info.pub_key:
            raise KeyringError(
                f"key file {self._path(name)} is corrupt: its seed does not match its public key"
            )
        return key

    # -- internals -------------------------------------------------------------------------

    def _check_new_name(self, name: str) -> None:
        validate_name(name)
        if self._path(name).exists():
            raise KeyExists(f"a key named {name!r} already exists in {self.directory}")

    def _add(
        self, name: str, seed: bytes | None, derivation: dict[str, str] | None = None
    ) -> KeyInfo:
        self._check_new_name(name)
        path = self._path(name)
        if seed is not None and len(seed) != 32:
            raise KeyringError(f"an ed25519 seed is 32 bytes, got {len(seed)}")
        key = PrivateKey(seed) if seed is not None else PrivateKey.generate()
        record: dict[str, Any] = {
            "type": FILE_TYPE,
            "version": FILE_VERSION,
            "backend": self.backend,
            "address": key.address,
            "pub_key": key.public_key.hex(),
        }
        if derivation is not None:
            record["derivation"] = derivation
        if self.backend == "test":
            record = {"warning": TEST_BACKEND_WARNING, **record, "seed": key.seed.hex()}
        else:
            record["crypto"] = _encrypt_seed(key.seed, self._new_passphrase())
        self._write_new(path, name, record)
        return KeyInfo(name, key.address, key.public_key)

    def _path(self, name: str) -> Path:
        return self.directory / (name + KEY_SUFFIX)

    def _not_found(self, name: str) -> KeyNotFound:
        return KeyNotFound(f"no key named {name!r} in keyring {self.directory}")

    def _read(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self._not_found(name) from None
        except OSError as exc:
            raise KeyringError(f"cannot read key file {path}: {exc.strerror}") from None
        try:
            record = json.loads(text)
        except ValueError:
            raise KeyringError(f"key file {path} is not valid JSON") from None
        if not isinstance(record, dict) or record.get("type") != FILE_TYPE:
            raise KeyringError(f"{path} is not an mgrid key file")
        if record.get("version") not in READABLE_VERSIONS:
            raise KeyringError(
                f"key file {path} has format version {record.get('version')!r}; "
                f"this wallet reads versions {', '.join(map(str, READABLE_VERSIONS))}"
            )
        return record

    def _info(self, name: str, record: dict[str, Any]) -> KeyInfo:
        path = self._path(name)
        pub_key = _hex_field(record, "pub_key", path)
        address = record.get("address")
        if len(pub_key) != 32 or address != address_of(pub_key):
            raise KeyringError(f"key file {path} is corrupt: address and public key disagree")
        return KeyInfo(name, address, pub_key)

    def _write_new(self, path: Path, name: str, record: dict[str, Any]) -> None:
        """Write the file atomically, never replacing an existing key."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = (json.dumps(record, indent=2) + "\n").encode()
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".key-new")
        try:
            with os.fdopen(fd, "wb") as f:  # mkstemp creates the file with mode 0600
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails instead of overwriting, unlike rename
            except FileExistsError:
                raise KeyExists(
                    f"a key named {name!r} already exists in {self.directory}"
                ) from None
        finally:
            os.unlink(tmp)
        _fsync_dir(self.directory)

    def _get_passphrase(self) -> str:
        if callable(self._passphrase):
            self._passphrase = self._passphrase()
        if self._passphrase is None:
            raise PassphraseError(
                f"the 'file' keyring at {self.directory} needs a passphrase to use private keys"
            )
        return self._passphrase

    def _new_passphrase(self) -> str:
        passphrase = self._get_passphrase()
        _check_new_passphrase(passphrase, "passphrase")
        return passphrase


def _check_new_passphrase(passphrase: str, what: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise PassphraseError(
            f"{what} too short: a new key needs at least {MIN_PASSPHRASE_CHARS} characters"
        )


def _resolve(passphrase: Passphrase, missing: str) -> str:
    value = passphrase() if callable(passphrase) else passphrase
    if value is None:
        raise PassphraseError(missing)
    return value


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _hex_field(record: dict[str, Any], field: str, path: Path | str) -> bytes:
    """``record[field]`` decoded from hex; ``path`` names the file (or says "armored key")."""
    where = path if isinstance(path, str) else f"key file {path}"
    value = record.get(field)
    try:
        if not isinstance(value, str):
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise KeyringError(f"{where} is corrupt: field {field!r} is not hex") from None


def _derive_key(passphrase: str, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode("utf-8"),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )


def _encrypt_seed(seed: bytes, passphrase: str) -> dict[str, Any]:
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive_key(passphrase, salt, KDF_OPSLIMIT, KDF_MEMLIMIT))
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    ciphertext = box.encrypt(seed, nonce).ciphertext
    return {
        "kdf": "argon2id",
        "opslimit": KDF_OPSLIMIT,
        "memlimit": KDF_MEMLIMIT,
        "salt": salt.hex(),
        "cipher": "xsalsa20-poly1305",
        "nonce": nonce.hex(),
        "ciphertext": ciphertext.hex(),
    }


def _decrypt_seed(crypto: Any, passphrase: str, where: str, wrong_passphrase: str) -> bytes:
    """The seed in ``crypto`` (see ``_encrypt_seed``); ``where`` names its container in
    errors, ``wrong_passphrase`` is the PassphraseError's message."""
    if (
        not isinstance(crypto, dict)
        or crypto.get("kdf") != "argon2id"
        or crypto.get("cipher") != "xsalsa20-poly1305"
        or not isinstance(crypto.get("opslimit"), int)
        or not isinstance(crypto.get("memlimit"), int)
    ):
        raise KeyringError(f"{where} is corrupt or uses an unknown encryption scheme")
    salt = _hex_field(crypto, "salt", where)
    nonce = _hex_field(crypto, "nonce", where)
    ciphertext = _hex_field(crypto, "ciphertext", where)
    opslimit, memlimit = crypto["opslimit"], crypto["memlimit"]
    # Bounded so that an edited file cannot make the wallet allocate without limit.
    if not (
        nacl.pwhash.argon2id.OPSLIMIT_MIN <= opslimit <= nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
        and nacl.pwhash.argon2id.MEMLIMIT_MIN <= memlimit <= nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE
    ):
        raise KeyringError(f"{where} is corrupt: argon2id limits out of range")
    try:
        box = nacl.secret.SecretBox(_derive_key(passphrase, salt, opslimit, memlimit))
    except (ValueError, TypeError):  # nacl's own ValueError/TypeError derive from these
        raise KeyringError(f"{where} is corrupt: bad salt or argon2id limits") from None
    try:
        return box.decrypt(ciphertext, nonce)
    except (ValueError, TypeError):
        raise KeyringError(f"{where} is corrupt: bad nonce or ciphertext") from None
    except nacl.exceptions.CryptoError:  # authentication failed: wrong key, so wrong passphrase
        raise PassphraseError(wrong_passphrase) from None


# -- ASCII armor ------------------------------------------------------------------------------


def crc24(data: bytes) -> int:
    """OpenPGP's CRC-24 (RFC 4880 section 6.1), the armor's checksum."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def _armor(headers: dict[str, str], payload: bytes) -> str:
    body = base64.b64encode(payload).decode()
    lines = [ARMOR_BEGIN, *(f"{k}: {v}" for k, v in headers.items()), ""]
    lines += [body[i : i + ARMOR_LINE_CHARS] for i in range(0, len(body), ARMOR_LINE_CHARS)]
    lines.append("=" + base64.b64encode(crc24(payload).to_bytes(3, "big")).decode())
    lines.append(ARMOR_END)
    return "\n".join(lines) + "\n"


def _dearmor(text: str) -> tuple[dict[str, str], bytes]:
    lines = [line.strip() for line in text.strip().splitlines()]
    if not lines or lines[0] != ARMOR_BEGIN:
        raise ArmorError(f"not an armored mgrid key: it does not start with {ARMOR_BEGIN}")
    if lines[-1] != ARMOR_END:
        raise ArmorError(f"armored key is truncated: it does not end with {ARMOR_END}")
    lines = lines[1:-1]
    headers: dict[str, str] = {}
    while lines and lines[0]:
        key, sep, value = lines.pop(0).partition(":")
        if not sep:
            raise ArmorError("armored key: a header line is not 'name: value'")
        headers[key.strip()] = value.strip()
    body = [line for line in lines if line]
    if not body or not body[-1].startswith("="):
        raise ArmorError("armored key has no checksum line (=XXXX): it is truncated")
    try:
        payload = base64.b64decode("".join(body[:-1]), validate=True)
        checksum = base64.b64decode(body[-1][1:], validate=True)
    except ValueError:
        raise ArmorError("armored key: the body is not base64") from None
    if checksum != crc24(payload).to_bytes(3, "big"):
        raise ArmorError("armored key's checksum does not match: the copy is damaged")
    return headers, payload
