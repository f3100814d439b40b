"""Keys, signatures and addresses (DESIGN.md section 3).

Signatures are ed25519 through PyNaCl. An address is the first 20 bytes of
SHA-256(public key), shown as bech32 (BIP-173) with the human-readable
prefix ``mg``.
"""

from __future__ import annotations

import functools
import hashlib

import nacl.exceptions
import nacl.signing

HRP = "mg"
ADDRESS_LEN = 20
PUBKEY_LEN = 32
SIGNATURE_LEN = 64

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class AddressError(ValueError):
    """A string is not a valid bech32 address of this chain."""


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(_GENERATORS):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise AddressError("invalid data value")
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & maxv):
        raise AddressError("invalid padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    five = _convert_bits(data, 8, 5, True)
    values = _hrp_expand(hrp) + five
    polymod = _polymod([*values, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[d] for d in five + checksum)


def bech32_decode(text: str) -> tuple[str, bytes]:
    """Decode a bech32 string into (hrp, data bytes); raises AddressError."""
    if not isinstance(text, str) or not 8 <= len(text) <= 90:
        raise AddressError(f"bad bech32 length: {text!r}")
    if text.lower() != text and text.upper() != text:
        raise AddressError(f"mixed case in bech32 string: {text!r}")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise AddressError(f"no bech32 separator in {text!r}")
    hrp, rest = text[:pos], text[pos + 1 :]
    try:
        values = [_CHARSET_REV[c] for c in rest]
    except KeyError as exc:
        raise AddressError(f"invalid bech32 character {exc.args[0]!r} in {text!r}") from None
    if _polymod(_hrp_expand(hrp) + values) != 1:
        raise AddressError(f"bad bech32 checksum in {text!r}")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, False))


def address_bytes(pub_key: bytes) -> bytes:
    """The 20-byte account address of an ed25519 public key."""
    return hashlib.sha256(pub_key).digest()[:ADDRESS_LEN]


@functools.lru_cache(maxsize=1 << 16)
def address_of(pub_key: bytes) -> str:
    """The bech32 address (``mg1...``) of an ed25519 public key."""
    return bech32_encode(HRP, address_bytes(pub_key))


# Addresses recur in every transaction and event, and bech32 in pure Python
# costs more than an ed25519 verification: memoise both directions.
@functools.lru_cache(maxsize=1 << 16)
def encode_address(raw: bytes) -> str:
    return bech32_encode(HRP, raw)


@functools.lru_cache(maxsize=1 << 16)
def decode_address(text: str) -> bytes:
    """Parse a bech32 ``mg`` address into its 20 bytes; raises AddressError."""
    hrp, raw = bech32_decode(text)
    if hrp != HRP:
        raise AddressError(f"address prefix is {hrp!r}, expected {HRP!r}: {text}")
    if len(raw) != ADDRESS_LEN:
        raise AddressError(f"address is {len(raw)} bytes, expected {ADDRESS_LEN}: {text}")
    return raw


def is_address(text: str) -> bool:
    try:
        decode_address(text)
    except AddressError:
        return False
    return True


class PrivateKey:
    """An ed25519 signing key (32-byte seed)."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError(f"ed25519 seed must be 32 bytes, got {len(seed)}")
        self._key = nacl.signing.SigningKey(seed)

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def public_key(self) -> bytes:
        return bytes(self._key.verify_key)

    @property
    def address(self) -> str:
        return address_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature


def verify(pub_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when signature is a valid ed25519 signature of message by pub_key."""
    if len(pub_key) != PUBKEY_LEN or len(signature) != SIGNATURE_LEN:
        return False
    try:
        nacl.signing.VerifyKey(pub_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True
