"""mgrid.demand_response.v1.Query: params, events with their opt-ins, a participant's opt-ins."""

from __future__ import annotations

from app.errors import ErrNotFound
from app.kv import KV
from app.modules.common import page, parse_address
from app.modules.demand_response import keeper
from app.pb.mgrid.demand_response.v1 import demand_response_pb2 as dr_pb2


class Queries:
    def Params(self, kv: KV, req: dr_pb2.QueryParamsRequest) -> dr_pb2.QueryParamsResponse:
        keeper.get_params(kv)  # not configured: say so
        return dr_pb2.QueryParamsResponse(params=keeper.PARAMS.proto(kv))

    def Event(self, kv: KV, req: dr_pb2.QueryEventRequest) -> dr_pb2.QueryEventResponse:
        event = keeper.get_event(kv, req.id)
        if event is None:
            raise ErrNotFound(f"no demand-response event {req.id}")
        return dr_pb2.QueryEventResponse(
            event=event, opt_ins=list(keeper.opt_ins_of_event(kv, req.id))
        )

    def Events(self, kv: KV, req: dr_pb2.QueryEventsRequest) -> dr_pb2.QueryEventsResponse:
        """All events by id, or (``interval`` > 0) those of one interval."""
        if not req.interval:
            entries, next_key = page(kv, keeper.EVENT, req.page_key, req.limit)
            events = [dr_pb2.Event.FromString(v) for _, v in entries]
            return dr_pb2.QueryEventsResponse(events=events, next_key=next_key)
        prefix = keeper.BY_INTERVAL + keeper.u64(req.interval)
        entries, next_key = page(kv, prefix, req.page_key, req.limit)
        events = []
        for key, _ in entries:
            event = keeper.get_event(kv, int.from_bytes(key[len(prefix) :], "big"))
            assert event is not None, "interval index entry without an event"
            events.append(event)
        return dr_pb2.QueryEventsResponse(events=events, next_key=next_key)

    def OptIns(self, kv: KV, req: dr_pb2.QueryOptInsRequest) -> dr_pb2.QueryOptInsResponse:
        """A participant's opt-ins, newest event first."""
        address = parse_address(req.participant, "participant")
        prefix = keeper.BY_PARTICIPANT + address
        entries, next_key = page(kv, prefix, req.page_key, req.limit)
        out = []
        for key, _ in entries:
            event_id = keeper.U64_MAX - int.from_bytes(key[len(prefix) :], "big")
            record = keeper.get_opt_in(kv, event_id, address)
            assert record is not None, "participant index entry without an opt-in"
            out.append(record)
        return dr_pb2.QueryOptInsResponse(opt_ins=out, next_key=next_key)
