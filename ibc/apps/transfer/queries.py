"""mgrid.ibc.transfer.v1.Query: denom traces and escrow addresses."""

from __future__ import annotations

from app import crypto
from app.errors import ErrNotFound
from app.kv import KV
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from ibc import host
from ibc.apps.transfer import keeper


class Queries:
    def DenomTrace(
        self, kv: KV, req: transfer_pb2.QueryDenomTraceRequest
    ) -> transfer_pb2.QueryDenomTraceResponse:
        """The trace of ``ibc/<hash>`` (or of the bare hash)."""
        trace = keeper.get_trace(kv, keeper.parse_hash(req.hash))
        if trace is None:
            raise ErrNotFound(f"no denom trace with hash {req.hash}")
        return transfer_pb2.QueryDenomTraceResponse(denom_trace=trace)

    def DenomTraces(
        self, kv: KV, req: transfer_pb2.QueryDenomTracesRequest
    ) -> transfer_pb2.QueryDenomTracesResponse:
        """Every voucher trace this chain has seen, in hash order."""
        return transfer_pb2.QueryDenomTracesResponse(denom_traces=list(keeper.traces(kv)))

    def EscrowAddress(
        self, kv: KV, req: transfer_pb2.QueryEscrowAddressRequest
    ) -> transfer_pb2.QueryEscrowAddressResponse:
        host.validate_port_id(req.port_id)
        host.validate_channel_id(req.channel_id)
        address = keeper.escrow_address(keeper.VERSION, req.port_id, req.channel_id)
        return transfer_pb2.QueryEscrowAddressResponse(
            escrow_address=crypto.encode_address(address)
        )
