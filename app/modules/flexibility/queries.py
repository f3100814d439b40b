"""mgrid.flexibility.v1.Query: needs (with their offers) and a provider's offers."""

from __future__ import annotations

from app.errors import ErrInvalidRequest, ErrNotFound
from app.kv import KV
from app.modules.common import page, parse_address
from app.modules.flexibility import keeper
from app.pb.mgrid.flexibility.v1 import flexibility_pb2


class Queries:
    def Need(
        self, kv: KV, req: flexibility_pb2.QueryNeedRequest
    ) -> flexibility_pb2.QueryNeedResponse:
        need = keeper.get_need(kv, req.id)
        if need is None:
            raise ErrNotFound(f"no need {req.id}")
        return flexibility_pb2.QueryNeedResponse(
            need=need, offers=list(keeper.offers_of_need(kv, need.id))
        )

    def Needs(
        self, kv: KV, req: flexibility_pb2.QueryNeedsRequest
    ) -> flexibility_pb2.QueryNeedsResponse:
        """Needs by id, or those of one interval (``interval`` 0: all)."""
        if req.interval:
            prefix = keeper.NEEDS_BY_INTERVAL + keeper.u64(req.interval)
            entries, next_key = page(kv, prefix, req.page_key, req.limit)
            needs = []
            for key, _ in entries:
                need = keeper.get_need(kv, int.from_bytes(key[-8:], "big"))
                assert need is not None, "interval index entry without a need"
                needs.append(need)
        else:
            entries, next_key = page(kv, keeper.NEED, req.page_key, req.limit)
            needs = [flexibility_pb2.Need.FromString(v) for _, v in entries]
        return flexibility_pb2.QueryNeedsResponse(needs=needs, next_key=next_key)

    def Offers(
        self, kv: KV, req: flexibility_pb2.QueryOffersRequest
    ) -> flexibility_pb2.QueryOffersResponse:
        """A provider's offers, newest first."""
        if not req.provider:
            raise ErrInvalidRequest("provider: missing")
        prefix = keeper.OFFERS_BY_PROVIDER + parse_address(req.provider, "provider")
        entries, next_key = page(kv, prefix, req.page_key, req.limit)
        offers = []
        for key, _ in entries:
            offer = keeper.get_offer(kv, keeper.U64_MAX - int.from_bytes(key[-8:], "big"))
            assert offer is not None, "provider index entry without an offer"
            offers.append(offer)
        return flexibility_pb2.QueryOffersResponse(offers=offers, next_key=next_key)
