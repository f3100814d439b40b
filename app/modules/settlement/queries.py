"""mgrid.settlement.v1.Query: params, readings, settled intervals and participants, KPIs."""

from __future__ import annotations

from app import crypto
from app.errors import ErrInvalidRequest, ErrNotFound
from app.kv import KV
from app.modules.common import page, parse_address
from app.modules.market import keeper as market
from app.modules.settlement import delivery, keeper
from app.pb.mgrid.settlement.v1 import settlement_pb2


class Queries:
    def Params(
        self, kv: KV, req: settlement_pb2.QueryParamsRequest
    ) -> settlement_pb2.QueryParamsResponse:
        return settlement_pb2.QueryParamsResponse(params=keeper.PARAMS.proto(kv))

    def Reading(
        self, kv: KV, req: settlement_pb2.QueryReadingRequest
    ) -> settlement_pb2.QueryReadingResponse:
        if len(req.meter) != crypto.PUBKEY_LEN:
            raise ErrInvalidRequest(f"meter: expected a {crypto.PUBKEY_LEN}-byte public key")
        reading = keeper.get_reading(kv, req.interval, req.meter)
        if reading is None:
            raise ErrNotFound(f"no reading of meter {req.meter.hex()} for interval {req.interval}")
        return settlement_pb2.QueryReadingResponse(reading=reading)

    def Readings(
        self, kv: KV, req: settlement_pb2.QueryReadingsRequest
    ) -> settlement_pb2.QueryReadingsResponse:
        entries, next_key = page(
            kv, keeper.READING + keeper.u64(req.interval), req.page_key, req.limit
        )
        return settlement_pb2.QueryReadingsResponse(
            readings=[settlement_pb2.Reading.FromString(v) for _, v in entries], next_key=next_key
        )

    def Interval(
        self, kv: KV, req: settlement_pb2.QueryIntervalRequest
    ) -> settlement_pb2.QueryIntervalResponse:
        """An interval's settlement; one whose window has passed with nothing to settle
        (no contracts, no readings) is settled with an empty record."""
        found = keeper.get_interval_settlement(kv, req.interval)
        window_end = keeper.window_end(kv, req.interval)
        resp = settlement_pb2.QueryIntervalResponse(window_end=window_end)
        if found is not None:
            resp.settled = True
            resp.settlement.CopyFrom(found)
        elif window_end <= market.last_block_time(kv):
            resp.settled = True
            resp.settlement.interval = req.interval
        return resp

    def Settlements(
        self, kv: KV, req: settlement_pb2.QuerySettlementsRequest
    ) -> settlement_pb2.QuerySettlementsResponse:
        if req.participant:
            address = parse_address(req.participant, "participant")
            if req.interval:
                row = keeper.get_settlement(kv, req.interval, address)
                if row is None:
                    raise ErrNotFound(f"{req.participant} has no settlement in {req.interval}")
                return settlement_pb2.QuerySettlementsResponse(settlements=[row])
            prefix = keeper.BY_PARTICIPANT + address
            entries, next_key = page(kv, prefix, req.page_key, req.limit)
            rows = []
            for key, _ in entries:
                n = keeper.U64_MAX - int.from_bytes(key[len(prefix) :], "big")
                row = keeper.get_settlement(kv, n, address)
                assert row is not None, "settlement index entry without a record"
                rows.append(row)
            return settlement_pb2.QuerySettlementsResponse(settlements=rows, next_key=next_key)
        prefix = keeper.SETTLEMENT + keeper.u64(req.interval)
        entries, next_key = page(kv, prefix, req.page_key, req.limit)
        return settlement_pb2.QuerySettlementsResponse(
            settlements=[settlement_pb2.ParticipantSettlement.FromString(v) for _, v in entries],
            next_key=next_key,
        )

    def Kpis(
        self, kv: KV, req: settlement_pb2.QueryKpisRequest
    ) -> settlement_pb2.QueryKpisResponse:
        return settlement_pb2.QueryKpisResponse(totals=keeper.get_totals(kv))

    def Baseline(
        self, kv: KV, req: settlement_pb2.QueryBaselineRequest
    ) -> settlement_pb2.QueryBaselineResponse:
        """The baseline settlement of a commitment for ``interval`` would use, from
        the readings stored now (modules/settlement/delivery.py)."""
        address = parse_address(req.participant, "participant")
        found = delivery.baseline(kv, address, req.interval)
        return settlement_pb2.QueryBaselineResponse(
            baseline_wh=found.wh, samples=found.samples, intervals=list(found.intervals)
        )
