"""mgrid.certificates.v1.Query: params, holdings with their origin, a generator's
record, issuances, retirements, and the origin and supply of a denom."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.errors import ErrInvalidRequest, ErrNotFound
from app.kv import KV
from app.modules.bank import keeper as bank
from app.modules.certificates import keeper
from app.modules.common import page, parse_address
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from ibc.apps.transfer import keeper as transfer


def _records(
    kv: KV,
    by_id: bytes,
    index: bytes,
    account: bytes | None,
    get: Callable[[KV, int], Any],
    message: Any,
    page_key: bytes,
    limit: int,
) -> tuple[list[Any], bytes]:
    """One page of records stored under ``by_id`` + id: all of them, or through the index
    ``index`` + account + id of one ``account`` (oldest first)."""
    if account is None:
        entries, next_key = page(kv, by_id, page_key, limit)
        return [message.FromString(v) for _, v in entries], next_key
    entries, next_key = page(kv, index + account, page_key, limit)
    found = []
    for key, _ in entries:
        record = get(kv, int.from_bytes(key[-8:], "big"))
        assert record is not None, f"{message.DESCRIPTOR.name} index entry without its record"
        found.append(record)
    return found, next_key


def _holding(kv: KV, denom: str, amount: int) -> cert_pb2.Holding | None:
    """A bank balance as a holding, if the denom is a certificate (native or voucher)."""
    if denom.startswith(keeper.CLASS_PREFIX):
        trace = transfer.resolve(kv, denom)
    elif denom.startswith(transfer.VOUCHER_PREFIX):
        found = transfer.get_trace(kv, transfer.parse_hash(denom))
        if found is None:
            return None
        trace = found
    else:
        return None
    try:
        cls = keeper.parse_class(trace.base_denom)
    except keeper.ErrInvalidDenom:
        return None
    return cert_pb2.Holding(denom=denom, count=amount, origin=keeper.origin_of(kv, trace, cls))


class Queries:
    def Params(self, kv: KV, req: cert_pb2.QueryParamsRequest) -> cert_pb2.QueryParamsResponse:
        keeper.require_configured(kv)
        return cert_pb2.QueryParamsResponse(params=keeper.PARAMS.proto(kv))

    def Holdings(
        self, kv: KV, req: cert_pb2.QueryHoldingsRequest
    ) -> cert_pb2.QueryHoldingsResponse:
        """Every certificate ``owner`` holds (rec/ classes and vouchers of them), by denom."""
        owner = parse_address(req.owner, "owner")
        holdings = []
        for coin in bank.get_balances(kv, owner):
            holding = _holding(kv, coin.denom, coin.amount)
            if holding is not None:
                holdings.append(holding)
        return cert_pb2.QueryHoldingsResponse(
            holdings=holdings, total=sum(h.count for h in holdings)
        )

    def Generator(
        self, kv: KV, req: cert_pb2.QueryGeneratorRequest
    ) -> cert_pb2.QueryGeneratorResponse:
        address = parse_address(req.generator, "generator")
        record = keeper.get_generator(kv, address)
        if record is None:
            raise ErrNotFound(f"{req.generator} has had no renewable export counted")
        return cert_pb2.QueryGeneratorResponse(generator=record)

    def Issuances(
        self, kv: KV, req: cert_pb2.QueryIssuancesRequest
    ) -> cert_pb2.QueryIssuancesResponse:
        """Every issuance by id, or one generator's (oldest first), one page."""
        found, next_key = _records(
            kv,
            keeper.ISSUANCE,
            keeper.ISSUANCES_OF,
            parse_address(req.generator, "generator") if req.generator else None,
            keeper.get_issuance,
            cert_pb2.Issuance,
            req.page_key,
            req.limit,
        )
        return cert_pb2.QueryIssuancesResponse(issuances=found, next_key=next_key)

    def Retirements(
        self, kv: KV, req: cert_pb2.QueryRetirementsRequest
    ) -> cert_pb2.QueryRetirementsResponse:
        """Every retirement by id, or one owner's (oldest first), one page."""
        found, next_key = _records(
            kv,
            keeper.RETIREMENT,
            keeper.RETIREMENTS_OF,
            parse_address(req.owner, "owner") if req.owner else None,
            keeper.get_retirement,
            cert_pb2.Retirement,
            req.page_key,
            req.limit,
        )
        return cert_pb2.QueryRetirementsResponse(retirements=found, next_key=next_key)

    def Origin(self, kv: KV, req: cert_pb2.QueryOriginRequest) -> cert_pb2.QueryOriginResponse:
        """The origin of a certificate denom (rec/... or ibc/<hash>) and its supply here."""
        if not req.denom:
            raise ErrInvalidRequest("denom is empty")
        keeper.check_denom_shape(req.denom)
        denom, trace, cls = keeper.resolve(kv, req.denom)
        if not trace.path and not keeper.issued_of(kv, denom):
            raise ErrNotFound(f"no certificates of {denom} were issued on this chain")
        return cert_pb2.QueryOriginResponse(
            origin=keeper.origin_of(kv, trace, cls),
            supply=coin_pb2.Coin(denom=denom, amount=str(bank.get_supply(kv, denom))),
        )
