"""What a meter signs, and how the chain checks it.

A meter (its own ed25519 key, registered by the utility cell) signs
``SIGN_DOMAIN || reading`` where ``reading`` is a serialised MeterReading.
MsgMeterReading carries those exact bytes and the signature; the chain
parses them but never re-serialises them, so the meter and the chain agree
on what was signed whatever protobuf library the meter runs. The domain
prefix keeps a reading signature from ever being valid as anything else.
"""

from __future__ import annotations

from app import crypto
from app.pb.mgrid.settlement.v1 import settlement_pb2

SIGN_DOMAIN = b"mgrid/meter-reading/v1\n"


def sign_bytes(reading: bytes) -> bytes:
    return SIGN_DOMAIN + reading


def sign_reading(
    meter_key: crypto.PrivateKey, reading: settlement_pb2.MeterReading
) -> settlement_pb2.MsgMeterReading:
    """The message a meter produces: its reading, serialised once, and its signature."""
    raw = reading.SerializeToString(deterministic=True)
    return settlement_pb2.MsgMeterReading(reading=raw, signature=meter_key.sign(sign_bytes(raw)))


def verify_reading(msg: settlement_pb2.MsgMeterReading, pub_key: bytes) -> bool:
    return crypto.verify(pub_key, sign_bytes(msg.reading), msg.signature)
