"""mgrid.ibc.energy.v1.Query: inter-microgrid trades as this chain recorded them."""

from __future__ import annotations

from app.errors import ErrNotFound
from app.kv import KV
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from ibc import host
from ibc.apps.energy import keeper


class Queries:
    def Trades(self, kv: KV, req: energy_pb2.QueryTradesRequest) -> energy_pb2.QueryTradesResponse:
        """Trades of one channel end (all when channel_id is empty): by channel, then
        received before sent, then sequence."""
        if req.channel_id:
            host.validate_channel_id(req.channel_id)
        return energy_pb2.QueryTradesResponse(trades=list(keeper.trades(kv, req.channel_id)))

    def Trade(self, kv: KV, req: energy_pb2.QueryTradeRequest) -> energy_pb2.QueryTradeResponse:
        host.validate_channel_id(req.channel_id)
        trade = keeper.get_trade(kv, req.channel_id, req.outgoing, req.sequence)
        if trade is None:
            way = "sent" if req.outgoing else "received"
            raise ErrNotFound(f"no offer {req.sequence} {way} on {keeper.PORT}/{req.channel_id}")
        return energy_pb2.QueryTradeResponse(trade=trade)
