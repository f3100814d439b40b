"""The Participants query: filters by status and bus, and pages that walk
every match exactly once, in key order, whatever the page size.

Order is that of the index walked: by address for all participants or one
bus; for a status, by bus reference (id length, then id) and then address."""

from __future__ import annotations

from typing import Any

import pytest

from app import crypto
from app.errors import ErrInvalidRequest
from app.kv import KV
from app.modules.registry import genesis, keeper
from app.modules.registry.queries import Queries
from app.pb.mgrid.registry.v1 import registry_pb2 as pb
from tests.app.registry.helpers import RegistryNode, bare_context
from tests.support.txs import key

STATUSES = [pb.STATUS_PENDING, pb.STATUS_APPROVED, pb.STATUS_REJECTED, pb.STATUS_SUSPENDED]
BUSES = ["pcc", "b1", "b10"]  # "b1" and "b10": a bus id that prefixes another
PEOPLE = [key(n) for n in range(20, 45)]


def _population() -> tuple[KV, list[pb.Participant]]:
    """25 participants spread over every status and bus."""
    ctx = bare_context()
    network = {
        "buses": [{"id": "pcc"}, {"id": "b1", "parent": "pcc"}, {"id": "b10", "parent": "b1"}]
    }
    genesis.init_genesis(ctx, {"network": network})
    everyone = []
    for i, person in enumerate(PEOPLE):
        participant = pb.Participant(
            address=person.address,
            role=pb.ROLE_PROSUMER,
            bus=BUSES[i % 3],
            status=STATUSES[(i // 3) % 4],
            applied_height=i,
        )
        keeper.set_participant(ctx.kv, participant)
        everyone.append(participant)
    everyone.sort(key=lambda p: crypto.decode_address(p.address))
    return ctx.kv, everyone


def _walk(kv: KV, limit: int, **filters: Any) -> tuple[list[pb.Participant], int]:
    """Every page of a query; returns the participants and the number of pages."""
    out: list[pb.Participant] = []
    page_key = b""
    for pages in range(1, 1000):
        req = pb.QueryParticipantsRequest(page_key=page_key, limit=limit, **filters)
        resp = Queries().Participants(kv, req)
        assert len(resp.participants) <= (limit or 100)
        out.extend(resp.participants)
        if not resp.next_key:
            return out, pages
        assert len(resp.participants) == limit  # only a full page has a next one
        page_key = resp.next_key
    raise AssertionError("pagination does not end")


FILTERS: list[dict[str, Any]] = [{}]
FILTERS += [{"status": s} for s in STATUSES]
FILTERS += [{"bus": b} for b in BUSES]
FILTERS += [{"status": s, "bus": b} for s in STATUSES for b in BUSES]
FILTERS += [{"bus": "nowhere"}]


@pytest.mark.parametrize(
    "filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all"
)
@pytest.mark.parametrize("limit", [0, 1, 2, 3, 7, 1000])
def test_pages_walk_every_match_once_in_key_order(filters: dict[str, Any], limit: int) -> None:
    kv, everyone = _population()
    expected = [
        p
        for p in everyone
        if p.status == filters.get("status", p.status) and p.bus == filters.get("bus", p.bus)
    ]
    if "status" in filters:  # the status index orders by bus id (length first), then address
        expected.sort(key=lambda p: (len(p.bus.encode()), p.bus.encode()))
    got, pages = _walk(kv, limit, **filters)
    assert got == expected
    if limit:
        assert pages == max(1, -(-len(expected) // limit))


def test_page_key_resumes_inclusively_and_may_fall_between_keys() -> None:
    kv, everyone = _population()
    first = Queries().Participants(kv, pb.QueryParticipantsRequest(limit=3))
    assert first.next_key == keeper.participant_key(crypto.decode_address(everyone[3].address))
    again = Queries().Participants(
        kv, pb.QueryParticipantsRequest(page_key=first.next_key, limit=1)
    )
    assert list(again.participants) == [everyone[3]]
    between = first.next_key + b"\x00"  # after everyone[3]'s key, before everyone[4]'s
    resumed = Queries().Participants(kv, pb.QueryParticipantsRequest(page_key=between, limit=1))
    assert list(resumed.participants) == [everyone[4]]


def test_default_limit_is_100() -> None:
    ctx = bare_context()
    genesis.init_genesis(ctx, {})
    for n in range(105):
        address = crypto.encode_address(n.to_bytes(20, "big"))
        keeper.set_participant(
            ctx.kv,
            pb.Participant(
                address=address, role=pb.ROLE_CONSUMER, bus="pcc", status=pb.STATUS_PENDING
            ),
        )
    resp = Queries().Participants(ctx.kv, pb.QueryParticipantsRequest())
    assert len(resp.participants) == 100 and resp.next_key


def test_page_key_of_another_filter_is_refused() -> None:
    kv, _ = _population()
    by_bus = Queries().Participants(kv, pb.QueryParticipantsRequest(bus="b1", limit=1))
    with pytest.raises(ErrInvalidRequest, match="does not belong to this query"):
        Queries().Participants(kv, pb.QueryParticipantsRequest(bus="b10", page_key=by_bus.next_key))


def test_pagination_through_the_chain(make_chain: Any) -> None:
    chain: RegistryNode = make_chain(
        {"participants": [{"address": p.address, "role": "consumer", "bus": "pcc"} for p in PEOPLE]}
    )
    expected = sorted((p.address for p in PEOPLE), key=crypto.decode_address)
    seen: list[str] = []
    page_key = b""
    while True:
        req = pb.QueryParticipantsRequest(status=pb.STATUS_APPROVED, page_key=page_key, limit=10)
        resp = chain.query("Participants", req)
        seen.extend(p.address for p in resp.participants)
        if not resp.next_key:
            break
        page_key = resp.next_key
    assert seen == expected
