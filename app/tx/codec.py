"""Transaction encoding, decoding and signing.

A transaction is ``Tx{body, pub_key, signature}`` where ``signature`` is an
ed25519 signature over the exact ``body`` bytes carried in the Tx. Both the
Tx and its body must be canonically encoded (fields in order, no unknown
fields, no explicit defaults): re-serialising must give the same bytes.
That makes the transaction hash unique per signed content and rejects
smuggled unknown fields, at the cost of one serialisation per decode.

The same functions are used by the chain (CheckTx, FinalizeBlock) and by
the wallet, so what the wallet signs is what the chain checks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from app import crypto
from app.pb.mgrid.tx.v1 import tx_pb2

MAX_TX_BYTES = 64 * 1024
MAX_MSGS_PER_TX = 64
MAX_MEMO_CHARS = 256


class TxDecodeError(ValueError):
    """The bytes are not a well-formed, canonically encoded transaction."""


@dataclass(frozen=True, slots=True)
class DecodedTx:
    """A transaction parsed once and shared by every check that needs it."""

    raw: bytes
    hash: bytes
    body_bytes: bytes
    body: tx_pb2.TxBody
    pub_key: bytes
    signature: bytes

    @property
    def hash_hex(self) -> str:
        return self.hash.hex().upper()


def tx_hash(raw: bytes) -> bytes:
    """CometBFT's transaction hash: SHA-256 of the transaction bytes."""
    return hashlib.sha256(raw).digest()


def _parse_canonical(msg_type: type, data: bytes, what: str):  # type: ignore[no-untyped-def]
    msg = msg_type()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise TxDecodeError(f"{what} is not valid protobuf: {exc}") from None
    msg.DiscardUnknownFields()
    if msg.SerializeToString(deterministic=True) != data:
        raise TxDecodeError(
            f"{what} is not canonically encoded (unknown fields, defaults or field order)"
        )
    return msg


def decode_tx(raw: bytes) -> DecodedTx:
    """Parse transaction bytes; raises TxDecodeError with a reason a person can act on."""
    if not raw:
        raise TxDecodeError("empty transaction")
    if len(raw) > MAX_TX_BYTES:
        raise TxDecodeError(f"transaction is {len(raw)} bytes, above the limit {MAX_TX_BYTES}")
    tx = _parse_canonical(tx_pb2.Tx, raw, "tx")
    body = _parse_canonical(tx_pb2.TxBody, tx.body, "tx body")
    if len(tx.pub_key) != crypto.PUBKEY_LEN:
        raise TxDecodeError(f"pub_key is {len(tx.pub_key)} bytes, expected {crypto.PUBKEY_LEN}")
    if len(tx.signature) != crypto.SIGNATURE_LEN:
        raise TxDecodeError(
            f"signature is {len(tx.signature)} bytes, expected {crypto.SIGNATURE_LEN}"
        )
    return DecodedTx(raw, tx_hash(raw), tx.body, body, tx.pub_key, tx.signature)


def encode_body(body: tx_pb2.TxBody) -> bytes:
    return body.SerializeToString(deterministic=True)


def assemble(body_bytes: bytes, pub_key: bytes, signature: bytes) -> bytes:
    return tx_pb2.Tx(body=body_bytes, pub_key=pub_key, signature=signature).SerializeToString(
        deterministic=True
    )


def sign_tx(body: tx_pb2.TxBody, key: crypto.PrivateKey) -> bytes:
    """Serialise body, sign those exact bytes and return the encoded Tx."""
    body_bytes = encode_body(body)
    return assemble(body_bytes, key.public_key, key.sign(body_bytes))
