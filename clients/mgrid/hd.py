"""Mnemonics and key derivation: BIP-39 words to an ed25519 key by SLIP-0010.

A new key is born as a BIP-39 mnemonic (24 English words, 256 bits of
entropy plus an 8-bit checksum). The words give a 64-byte BIP-39 seed
(PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic" + an optional BIP-39
passphrase), and SLIP-0010 derives the account's ed25519 key from it along
a path of hardened indexes, by default ``m/44'/118'/0'/0'/0'`` (the Cosmos
coin type and the layout Cosmos wallets use, all levels hardened because
SLIP-0010 defines no other derivation for ed25519).

BIP-39 is Trezor's reference implementation (the ``mnemonic`` package).
SLIP-0010 for ed25519 is two lines of HMAC-SHA512 per level, written here
rather than imported: the packaged implementation pulls in ``cryptography``
for curves this chain does not use. tests/clients/test_keyring_hd.py checks it
against the published SLIP-0010 test vectors.

    words = new_mnemonic()
    key_seed = derive_ed25519(mnemonic_to_seed(words), DEFAULT_HD_PATH)
    PrivateKey(key_seed)   # app/crypto.py: the 32 bytes are the ed25519 seed
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from mnemonic import Mnemonic

DEFAULT_HD_PATH = "m/44'/118'/0'/0'/0'"
MNEMONIC_WORDS = (12, 15, 18, 21, 24)
DEFAULT_MNEMONIC_WORDS = 24
HARDENED = 0x8000_0000
SLIP10_ED25519_KEY = b"ed25519 seed"  # SLIP-0010's HMAC key for the ed25519 master node
_LEVEL = re.compile(r"(\d+)(['hH]?)")

_ENGLISH = Mnemonic("english")


class MnemonicError(ValueError):
    """The words are not a valid BIP-39 English mnemonic; the message says why."""


class HDPathError(ValueError):
    """A derivation path is malformed or asks for non-hardened ed25519 derivation."""


def new_mnemonic(words: int = DEFAULT_MNEMONIC_WORDS) -> str:
    """A fresh BIP-39 mnemonic of ``words`` words, from the OS's random source."""
    if words not in MNEMONIC_WORDS:
        raise MnemonicError(f"a mnemonic has one of {MNEMONIC_WORDS} words, not {words}")
    return str(_ENGLISH.generate(strength=words * 32 // 3))


def normalize_mnemonic(text: str) -> str:
    """``text`` as BIP-39 words: NFKD, lower case, single spaces; raises MnemonicError.

    The message names the first word that is not in the English list, or
    says that the checksum fails (a word mistyped into another valid word,
    or the words out of order).
    """
    words = unicodedata.normalize("NFKD", text).lower().split()
    if len(words) not in MNEMONIC_WORDS:
        raise MnemonicError(f"a mnemonic has 12, 15, 18, 21 or 24 words; got {len(words)}")
    known = set(_ENGLISH.wordlist)
    for i, word in enumerate(words, 1):
        if word not in known:
            raise MnemonicError(f"word {i} ({word!r}) is not in the BIP-39 English word list")
    phrase = " ".join(words)
    if not _ENGLISH.check(phrase):
        raise MnemonicError(
            "the mnemonic's checksum does not match: a word is wrong or the order differs"
        )
    return phrase


def mnemonic_to_seed(mnemonic: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed of a (checked) mnemonic and optional BIP-39 passphrase."""
    return bytes(Mnemonic.to_seed(normalize_mnemonic(mnemonic), passphrase))


def parse_path(path: str) -> list[int]:
    """``m/44'/118'/0'/0'/0'`` as child indexes (hardened bit set); raises HDPathError."""
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise HDPathError(f"HD path {path!r} must start with m/")
    indexes = []
    for part in parts[1:]:
        m = _LEVEL.fullmatch(part)
        if m is None:
            raise HDPathError(f"HD path {path!r}: {part!r} is not an index like 44'")
        if not m.group(2):
            raise HDPathError(
                f"HD path {path!r}: level {part!r} is not hardened; ed25519 (SLIP-0010) "
                f"derives hardened levels only, write {part}'"
            )
        index = int(m.group(1))
        if index >= HARDENED:
            raise HDPathError(f"HD path {path!r}: index {index} is not below 2^31")
        indexes.append(index | HARDENED)
    return indexes


def slip10_master(seed: bytes) -> tuple[bytes, bytes]:
    """SLIP-0010 master node for ed25519: (private key, chain code)."""
    digest = hmac.new(SLIP10_ED25519_KEY, seed, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def slip10_child(key: bytes, chain_code: bytes, index: int) -> tuple[bytes, bytes]:
    """SLIP-0010 hardened child of an ed25519 node: (private key, chain code)."""
    if not index & HARDENED:
        raise HDPathError(f"ed25519 child {index} is not hardened")
    data = b"\x00" + key + index.to_bytes(4, "big")
    digest = hmac.new(chain_code, data, hashlib.sha512).digest()
    return digest[:32], digest[32:]


def derive_ed25519(seed: bytes, path: str = DEFAULT_HD_PATH) -> bytes:
    """The 32-byte ed25519 private key (seed) at ``path`` below BIP-39 seed ``seed``."""
    key, chain_code = slip10_master(seed)
    for index in parse_path(path):
        key, chain_code = slip10_child(key, chain_code, index)
    return key


def format_path(indexes: list[int]) -> str:
    """The inverse of ``parse_path``: hardened indexes written as ``m/44'/118'/...``."""
    return "/".join(["m", *(f"{i & ~HARDENED}'" for i in indexes)])


def key_seed_from_mnemonic(
    mnemonic: str, path: str = DEFAULT_HD_PATH, passphrase: str = ""
) -> bytes:
    """The ed25519 key seed that ``mnemonic`` (and BIP-39 ``passphrase``) gives at ``path``."""
    return derive_ed25519(mnemonic_to_seed(mnemonic, passphrase), path)
