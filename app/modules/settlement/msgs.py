"""Settlement messages: stateless checks (shared by CheckTx and the wallet) and handlers."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from app.context import Context
from app.crypto import PUBKEY_LEN, SIGNATURE_LEN
from app.modules.settlement import keeper
from app.pb.mgrid.settlement.v1 import settlement_pb2

MAX_READING_BYTES = 512


def validate_meter_reading(msg: settlement_pb2.MsgMeterReading) -> None:
    if not 0 < len(msg.reading) <= MAX_READING_BYTES:
        raise keeper.ErrInvalidReading(
            f"reading must be 1..{MAX_READING_BYTES} bytes, got {len(msg.reading)}"
        )
    if len(msg.signature) != SIGNATURE_LEN:
        raise keeper.ErrBadMeterSignature(
            f"signature must be {SIGNATURE_LEN} bytes, got {len(msg.signature)}"
        )
    try:
        reading = settlement_pb2.MeterReading.FromString(msg.reading)
    except DecodeError as exc:
        raise keeper.ErrInvalidReading(f"reading does not decode: {exc}") from None
    if len(reading.meter) != PUBKEY_LEN:
        raise keeper.ErrInvalidReading(
            f"meter must be a {PUBKEY_LEN}-byte public key, got {len(reading.meter)} bytes"
        )
    if not reading.participant:
        raise keeper.ErrInvalidReading("participant: missing")
    if reading.sequence == 0:
        raise keeper.ErrInvalidReading("sequence: meters count from 1")
    for name in ("exported_wh", "imported_wh"):
        if getattr(reading, name) > keeper.MAX_READING_WH:
            raise keeper.ErrImplausibleReading(
                f"{name} {getattr(reading, name)} Wh exceeds {keeper.MAX_READING_WH} Wh"
            )


def handle_meter_reading(ctx: Context, signer: bytes, msg: settlement_pb2.MsgMeterReading) -> None:
    keeper.submit_reading(ctx, signer, msg)
