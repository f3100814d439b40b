"""Demand-response messages: stateless checks (shared by CheckTx and the wallet) and handlers."""

from __future__ import annotations

from app import crypto
from app.context import Context
from app.modules.demand_response import keeper
from app.modules.registry.keeper import MAX_BUS_ID_BYTES
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2


def validate_create_dr_event(msg: dr_pb2.MsgCreateEvent) -> None:
    if not 1 <= msg.requested_wh <= keeper.MAX_REQUEST_WH:
        raise keeper.ErrInvalidEvent(
            f"requested_wh must be 1..{keeper.MAX_REQUEST_WH} Wh, got {msg.requested_wh}"
        )
    for name in ("reward_per_kwh", "penalty_per_kwh"):
        value = getattr(msg, name)
        if value > keeper.MAX_RATE_PER_KWH:
            raise keeper.ErrInvalidEvent(
                f"{name} must be at most {keeper.MAX_RATE_PER_KWH}, got {value}"
            )
    if len(msg.bus.encode()) > MAX_BUS_ID_BYTES:
        raise keeper.ErrInvalidEvent(
            f"bus: at most {MAX_BUS_ID_BYTES} bytes, got {len(msg.bus.encode())}"
        )
    if msg.penalty_account:
        try:
            crypto.decode_address(msg.penalty_account)
        except crypto.AddressError as exc:
            raise keeper.ErrInvalidEvent(f"penalty_account: {exc}") from None


def handle_create_dr_event(ctx: Context, signer: bytes, msg: dr_pb2.MsgCreateEvent) -> None:
    keeper.create_event(ctx, signer, msg)


def validate_dr_opt_in(msg: dr_pb2.MsgOptIn) -> None:
    if msg.event_id == 0:
        raise keeper.ErrEventNotFound("event ids start at 1")
    if not 1 <= msg.committed_wh <= keeper.MAX_REQUEST_WH:
        raise keeper.ErrInvalidCommitment(
            f"committed_wh must be 1..{keeper.MAX_REQUEST_WH} Wh, got {msg.committed_wh}"
        )


def handle_dr_opt_in(ctx: Context, signer: bytes, msg: dr_pb2.MsgOptIn) -> None:
    keeper.opt_in(ctx, signer, msg)
