"""mgrid.registry.v1.Query: participants, meters, the network and the
authorities. Bad requests are rejected explicitly with the field at fault;
a missing participant or meter is ErrNotFound."""

from __future__ import annotations

from app import crypto
from app.errors import ErrInvalidRequest, ErrNotFound
from app.kv import KV
from app.modules.common import page, parse_address
from app.modules.registry import keeper
from app.pb.mgrid.registry.v1 import registry_pb2


def _indexed(kv: KV, index_key: bytes) -> registry_pb2.Participant:
    """The participant an index entry points at (its key ends with the address)."""
    participant = keeper.get_participant(kv, index_key[-crypto.ADDRESS_LEN :])
    if participant is None:
        raise RuntimeError(f"participant index entry {index_key.hex()} has no record")
    return participant


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
        """One page of participants, optionally of one status and/or on one bus.

        Each combination of filters is one range of keys (see ``keeper``), so
        a page is a plain walk of that range: by address for all or one bus,
        by bus id then address for a status. ``next_key`` is the store key
        of the next match; a request with it as ``page_key`` resumes there.
        """
        if req.status and req.status not in keeper.STATUS_NAMES:
            raise ErrInvalidRequest(
                f"status: expected 0 (all) or one of {sorted(keeper.STATUS_NAMES)}, got {req.status}"
            )
        bus = req.bus or None
        try:
            if req.status:
                prefix = keeper.status_index_prefix(req.status, bus)
            elif bus is not None:
                prefix = keeper.bus_index_prefix(bus)
            else:
                prefix = keeper.PARTICIPANT_PREFIX
        except ValueError as exc:
            raise ErrInvalidRequest(f"bus: {exc}") from None
        entries, next_key = page(kv, prefix, req.page_key, req.limit)
        if prefix == keeper.PARTICIPANT_PREFIX:
            participants = [registry_pb2.Participant.FromString(value) for _, value in entries]
        else:
            participants = [_indexed(kv, key) for key, _ in entries]
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
