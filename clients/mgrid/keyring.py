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

The format carries ``"type": "mgrid-key"`` and a ``version`` so that export,
import and mnemonics can be added without guessing what an old file means.
"""

from __future__ import annotations

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

BACKENDS = ("file", "test")
KEY_SUFFIX = ".key"
FILE_TYPE = "mgrid-key"
FILE_VERSION = 1
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
        """Create a key from ``seed`` (32 bytes) or a fresh random one; raises KeyExists."""
        validate_name(name)
        path = self._path(name)
        if path.exists():
            raise KeyExists(f"a key named {name!r} already exists in {self.directory}")
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
        if self.backend == "test":
            record = {"warning": TEST_BACKEND_WARNING, **record, "seed": key.seed.hex()}
        else:
            record["crypto"] = _encrypt_seed(key.seed, self._new_passphrase())
        self._write_new(path, name, record)
        return KeyInfo(name, key.address, key.public_key)

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
            seed = _decrypt_seed(
                record.get("crypto"), self._get_passphrase(), name, self._path(name)
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
        if record.get("version") != FILE_VERSION:
            raise KeyringError(
                f"key file {path} has format version {record.get('version')!r}; "
                f"this wallet reads version {FILE_VERSION}"
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
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

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
        if len(passphrase) < MIN_PASSPHRASE_CHARS:
            raise PassphraseError(
                f"passphrase too short: a new key needs at least {MIN_PASSPHRASE_CHARS} characters"
            )
        return passphrase


def _hex_field(record: dict[str, Any], field: str, path: Path) -> bytes:
    value = record.get(field)
    try:
        if not isinstance(value, str):
            raise ValueError
        return bytes.fromhex(value)
    except ValueError:
        raise KeyringError(f"key file {path} is corrupt: field {field!r} is not hex") from None


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


def _decrypt_seed(crypto: Any, passphrase: str, name: str, path: Path) -> bytes:
    if (
        not isinstance(crypto, dict)
        or crypto.get("kdf") != "argon2id"
        or crypto.get("cipher") != "xsalsa20-poly1305"
        or not isinstance(crypto.get("opslimit"), int)
        or not isinstance(crypto.get("memlimit"), int)
    ):
        raise KeyringError(f"key file {path} is corrupt or uses an unknown encryption scheme")
    salt = _hex_field(crypto, "salt", path)
    nonce = _hex_field(crypto, "nonce", path)
    ciphertext = _hex_field(crypto, "ciphertext", path)
    opslimit, memlimit = crypto["opslimit"], crypto["memlimit"]
    # Bounded so that an edited file cannot make the wallet allocate without limit.
    if not (
        nacl.pwhash.argon2id.OPSLIMIT_MIN <= opslimit <= nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
        and nacl.pwhash.argon2id.MEMLIMIT_MIN <= memlimit <= nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE
    ):
        raise KeyringError(f"key file {path} is corrupt: argon2id limits out of range")
    try:
        box = nacl.secret.SecretBox(_derive_key(passphrase, salt, opslimit, memlimit))
    except (ValueError, TypeError):  # nacl's own ValueError/TypeError derive from these
        raise KeyringError(f"key file {path} is corrupt: bad salt or argon2id limits") from None
    try:
        return box.decrypt(ciphertext, nonce)
    except (ValueError, TypeError):
        raise KeyringError(f"key file {path} is corrupt: bad nonce or ciphertext") from None
    except nacl.exceptions.CryptoError:  # authentication failed: wrong key, so wrong passphrase
        raise PassphraseError(f"wrong passphrase for key {name!r} ({path})") from None
