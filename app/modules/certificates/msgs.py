"""Certificates messages: stateless checks (shared by CheckTx and the wallet) and the
handler of MsgRetire (Msg field ``retire_certificates``). Transfers are bank
MsgSend and ICS-20 MsgTransfer."""

from __future__ import annotations

from app.context import Context
from app.modules.certificates import keeper
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2


def validate_retire_certificates(msg: cert_pb2.MsgRetire) -> None:
    keeper.check_denom_shape(msg.denom)
    if msg.count < 1:
        raise keeper.ErrInvalidCount("count: retire at least 1 certificate")
    beneficiary = msg.beneficiary
    if not beneficiary.strip() or len(beneficiary) > keeper.MAX_BENEFICIARY_CHARS:
        raise keeper.ErrInvalidBeneficiary(
            f"beneficiary: 1..{keeper.MAX_BENEFICIARY_CHARS} chars, not blank, "
            f"got {len(beneficiary)}"
        )
    if not beneficiary.isprintable():
        raise keeper.ErrInvalidBeneficiary(
            f"beneficiary: printable characters only, got {beneficiary[:40]!r}"
        )
    if len(msg.reason) > keeper.MAX_REASON_CHARS:
        raise keeper.ErrInvalidReason(
            f"reason: at most {keeper.MAX_REASON_CHARS} chars, got {len(msg.reason)}"
        )
    if not msg.reason.isprintable():
        raise keeper.ErrInvalidReason(f"reason: printable characters only, got {msg.reason[:40]!r}")


def handle_retire_certificates(ctx: Context, signer: bytes, msg: cert_pb2.MsgRetire) -> None:
    keeper.retire(ctx, signer, msg)
