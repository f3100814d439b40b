"""mgrid.registry.v1.Query: participants, meters, the network and the
authorities. Bad requests are rejected explicitly with the field at fault;
a missing participant or meter is ErrNotFound."""

from __future__ import annotations

from app.errors import ErrInvalidRequest, ErrNotFound
from app.kv import KV
from app.modules.common import parse_address
from app.modules.registry import keeper
from app.pb.mgrid.registry.v1 import registry_pb2

DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000


class Queries:
    def Participant(
        self, kv: KV, req: registry_pb2.QueryParticipantRequest
    ) -> registry_pb2.QueryParticipantResponse:
        address = parse_address(req.address)
        participant = keeper.get_participant(kv, address)
        if participant is None:
            raise ErrNotFound(f"no participant {req.address}")
        return registry_pb2.QueryParticipantResponse(participant=participant)

    def Participants(
        self, kv: KV, req: registry_pb2.QueryParticipantsRequest
    ) -> registry_pb2.QueryParticipantsResponse:
        """One page of participants in key order, optionally of one status and/or bus.

        The walk runs over the narrowest index that serves the filters (by
        bus, else by status, else the records themselves); ``next_key`` is
        the store key of the next match in that walk, and a request with it
        as ``page_key`` resumes there, inclusively.
        """
        if req.status and req.status not in keeper.STATUS_NAMES:
            raise ErrInvalidRequest(
                f"status: expected 0 (all) or one of {sorted(keeper.STATUS_NAMES)}, got {req.status}"
            )
        limit = req.limit or DEFAULT_PAGE_LIMIT
        if limit > MAX_PAGE_LIMIT:
            raise ErrInvalidRequest(f"limit: at most {MAX_PAGE_LIMIT}, got {limit}")
        status_filter = 0
        if req.bus:
            try:
                prefix = keeper.bus_index_prefix(req.bus)
            except ValueError as exc:
                raise ErrInvalidRequest(f"bus: {exc}") from None
            status_filter = req.status
        elif req.status:
            prefix = keeper.status_index_prefix(req.status)
        else:
            prefix = keeper.PARTICIPANT_PREFIX
        if req.page_key and not req.page_key.startswith(prefix):
            raise ErrInvalidRequest(
                f"page_key {req.page_key.hex()} is not a key of this query "
                f"(expected prefix {prefix.hex()})"
            )
        is_index = prefix != keeper.PARTICIPANT_PREFIX
        participants: list[registry_pb2.Participant] = []
        next_key = b""
        for key, value in kv.iterate(prefix):
            if key < req.page_key:
                continue
            if is_index:
                found = keeper.get_participant(kv, key[len(prefix) :])
                if found is None:
                    raise RuntimeError(f"participant index entry {key.hex()} has no record")
                participant = found
            else:
                participant = registry_pb2.Participant.FromString(value)
            if status_filter and participant.status != status_filter:
                continue
            if len(participants) == limit:
                next_key = key
                break
            participants.append(participant)
        return registry_pb2.QueryParticipantsResponse(participants=participants, next_key=next_key)

    def Meter(self, kv: KV, req: registry_pb2.QueryMeterRequest) -> registry_pb2.QueryMeterResponse:
        if len(req.pub_key) != keeper.METER_KEY_LEN:
            raise ErrInvalidRequest(
                f"pub_key: expected {keeper.METER_KEY_LEN} bytes, got {len(req.pub_key)}"
            )
        meter = keeper.get_meter(kv, req.pub_key)
        if meter is None:
            raise ErrNotFound(f"no meter {req.pub_key.hex()}")
        return registry_pb2.QueryMeterResponse(meter=meter)

    def Meters(
        self, kv: KV, req: registry_pb2.QueryMetersRequest
    ) -> registry_pb2.QueryMetersResponse:
        """Every meter registered to a participant, revoked ones included."""
        address = parse_address(req.participant, "participant")
        return registry_pb2.QueryMetersResponse(meters=keeper.meters_of(kv, address))

    def Network(
        self, kv: KV, req: registry_pb2.QueryNetworkRequest
    ) -> registry_pb2.QueryNetworkResponse:
        return registry_pb2.QueryNetworkResponse(network=keeper.get_network_proto(kv))

    def Authorities(
        self, kv: KV, req: registry_pb2.QueryAuthoritiesRequest
    ) -> registry_pb2.QueryAuthoritiesResponse:
        return registry_pb2.QueryAuthoritiesResponse(authorities=keeper.get_authorities(kv))
