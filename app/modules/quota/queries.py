"""mgrid.quota.v1.Query: a margin with its stations, orders and trades; margins; one station."""

from __future__ import annotations

from app.errors import ErrNotFound
from app.kv import KV
from app.modules.common import page, parse_address
from app.modules.quota import keeper
from app.pb.mgrid.quota.v1 import quota_pb2


class Queries:
    def Margin(self, kv: KV, req: quota_pb2.QueryMarginRequest) -> quota_pb2.QueryMarginResponse:
        margin = keeper.get_margin(kv, req.id)
        if margin is None:
            raise ErrNotFound(f"no margin {req.id}")
        return quota_pb2.QueryMarginResponse(
            margin=margin,
            stations=keeper.stations_of(kv, margin.id),
            orders=keeper.orders_of(kv, margin.id),
            trades=keeper.trades_of(kv, margin.id),
        )

    def Margins(self, kv: KV, req: quota_pb2.QueryMarginsRequest) -> quota_pb2.QueryMarginsResponse:
        """Every margin by id, or those of one interval (``interval`` > 0), one page."""
        if req.interval:
            entries, next_key = page(
                kv, keeper.BY_INTERVAL + keeper.u64(req.interval), req.page_key, req.limit
            )
            found = []
            for key, _ in entries:
                margin = keeper.get_margin(kv, int.from_bytes(key[-8:], "big"))
                assert margin is not None, "margin index entry without a margin"
                found.append(margin)
        else:
            entries, next_key = page(kv, keeper.MARGIN, req.page_key, req.limit)
            found = [quota_pb2.Margin.FromString(v) for _, v in entries]
        return quota_pb2.QueryMarginsResponse(margins=found, next_key=next_key)

    def Station(self, kv: KV, req: quota_pb2.QueryStationRequest) -> quota_pb2.QueryStationResponse:
        address = parse_address(req.station, "station")
        station = keeper.get_station(kv, req.margin_id, address)
        if station is None:
            raise ErrNotFound(f"{req.station} has no demand under margin {req.margin_id}")
        return quota_pb2.QueryStationResponse(station=station)
