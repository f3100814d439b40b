"""Transaction encoding: canonical bytes, exact-body signatures, clear errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import crypto
from app.tx import codec
from tests.support.txs import key, send_body

ALICE, BOB = key(1), key(2)


def test_roundtrip_and_signature_over_exact_body() -> None:
    raw = codec.sign_tx(send_body(ALICE, BOB.address, 5, sequence=3), ALICE)
    tx = codec.decode_tx(raw)
    assert tx.body.sequence == 3 and tx.body.signer == ALICE.address
    assert crypto.verify(tx.pub_key, tx.body_bytes, tx.signature)
    assert tx.hash == codec.tx_hash(raw) and len(tx.hash_hex) == 64


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda raw: b"", "empty"),
        (lambda raw: raw + b"\x20\x01", "canonical"),  # unknown field 4 in Tx
        (lambda raw: raw[:-5], "protobuf"),
        (lambda raw: b"\xff" * 10, "protobuf"),
        (lambda raw: b"\x00" * (codec.MAX_TX_BYTES + 1), "limit"),
    ],
)
def test_decode_rejects(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]
    raw = codec.sign_tx(send_body(ALICE, BOB.address, 5, sequence=0), ALICE)
    with pytest.raises(codec.TxDecodeError, match=reason):
        codec.decode_tx(mutate(raw))


def test_unknown_field_inside_body_is_rejected() -> None:
    body_bytes = codec.encode_body(send_body(ALICE, BOB.address, 5, sequence=0)) + b"\xf8\x01\x01"
    raw = codec.assemble(body_bytes, ALICE.public_key, ALICE.sign(body_bytes))
    with pytest.raises(codec.TxDecodeError, match="canonical"):
        codec.decode_tx(raw)


def test_short_key_or_signature_is_rejected() -> None:
    body_bytes = codec.encode_body(send_body(ALICE, BOB.address, 5, sequence=0))
    with pytest.raises(codec.TxDecodeError, match="pub_key"):
        codec.decode_tx(codec.assemble(body_bytes, ALICE.public_key[:31], ALICE.sign(body_bytes)))
    with pytest.raises(codec.TxDecodeError, match="signature"):
        codec.decode_tx(codec.assemble(body_bytes, ALICE.public_key, b"\x01" * 63))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise_anything_but_decode_error(data: bytes) -> None:
    with contextlib.suppress(codec.TxDecodeError):
        codec.decode_tx(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(0, 7))
def test_no_single_bit_flip_gives_a_valid_signed_tx(position: int, bit: int) -> None:
    raw = bytearray(codec.sign_tx(send_body(ALICE, BOB.address, 5, sequence=0), ALICE))
    raw[position % len(raw)] ^= 1 << bit
    try:
        tx = codec.decode_tx(bytes(raw))
    except codec.TxDecodeError:
        return
    assert not crypto.verify(tx.pub_key, tx.body_bytes, tx.signature)
