"""Addresses and signatures: bech32 per BIP-173, addresses per DESIGN.md."""

from __future__ import annotations

import hashlib

import pytest

from app import crypto

# BIP-173 test vectors (valid and invalid checksums).
VALID = [
    "A12UEL5L",
    "a12uel5l",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
]
INVALID = [
    "pzry9x0s0muk",  # no separator
    "1pzry9x0s0muk",  # empty hrp
    "x1b4n0q5v",  # invalid data character
    "li1dgmt3",  # too short checksum
    "A1G7SGD8",  # checksum calculated with uppercase hrp
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxx",  # bad checksum
    "aBcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",  # mixed case
]


@pytest.mark.parametrize("text", VALID)
def test_bech32_valid_vectors(text: str) -> None:
    hrp, data = crypto.bech32_decode(text)
    assert crypto.bech32_encode(hrp, data) == text.lower()


@pytest.mark.parametrize("text", INVALID)
def test_bech32_invalid_vectors(text: str) -> None:
    with pytest.raises(crypto.AddressError):
        crypto.bech32_decode(text)


def test_address_is_first_20_bytes_of_sha256_pubkey() -> None:
    key = crypto.PrivateKey(bytes(range(32)))
    raw = crypto.decode_address(key.address)
    assert raw == hashlib.sha256(key.public_key).digest()[:20]
    assert key.address.startswith("mg1")


def test_address_with_other_prefix_or_length_is_rejected() -> None:
    other = crypto.bech32_encode("cosmos", bytes(20))
    with pytest.raises(crypto.AddressError, match="prefix"):
        crypto.decode_address(other)
    with pytest.raises(crypto.AddressError, match="bytes"):
        crypto.decode_address(crypto.bech32_encode("mg", bytes(19)))


def test_verify_rejects_wrong_message_key_and_malformed_inputs() -> None:
    a, b = crypto.PrivateKey(bytes(32)), crypto.PrivateKey(bytes([1]) * 32)
    sig = a.sign(b"msg")
    assert crypto.verify(a.public_key, b"msg", sig)
    assert not crypto.verify(a.public_key, b"msh", sig)
    assert not crypto.verify(b.public_key, b"msg", sig)
    assert not crypto.verify(a.public_key[:31], b"msg", sig)
    assert not crypto.verify(a.public_key, b"msg", sig[:63])
    assert not crypto.verify(b"\xff" * 32, b"msg", sig)
