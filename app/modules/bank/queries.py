"""mgrid.bank.v1.Query: balances, supply and params. Bad requests are
rejected explicitly with the field at fault."""

from __future__ import annotations

from app import coins, crypto
from app.errors import ErrInvalidRequest
from app.kv import KV
from app.modules.bank import keeper
from app.modules.common import parse_address
from app.pb.mgrid.bank.v1 import bank_pb2


class Queries:
    def Balance(self, kv: KV, req: bank_pb2.QueryBalanceRequest) -> bank_pb2.QueryBalanceResponse:
        address = parse_address(req.address)
        denom = req.denom or keeper.get_params(kv).denom
        try:
            coins.validate_denom(denom)
        except coins.CoinError as exc:
            raise ErrInvalidRequest(str(exc)) from None
        amount = keeper.get_balance(kv, address, denom)
        return bank_pb2.QueryBalanceResponse(balance=coins.Coin(denom, amount).to_proto())

    def AllBalances(
        self, kv: KV, req: bank_pb2.QueryAllBalancesRequest
    ) -> bank_pb2.QueryAllBalancesResponse:
        address = parse_address(req.address)
        return bank_pb2.QueryAllBalancesResponse(
            balances=[c.to_proto() for c in keeper.get_balances(kv, address)]
        )

    def TotalSupply(
        self, kv: KV, req: bank_pb2.QueryTotalSupplyRequest
    ) -> bank_pb2.QueryTotalSupplyResponse:
        return bank_pb2.QueryTotalSupplyResponse(
            supply=[c.to_proto() for c in keeper.all_supply(kv)]
        )

    def Params(self, kv: KV, req: bank_pb2.QueryParamsRequest) -> bank_pb2.QueryParamsResponse:
        params = keeper.get_params(kv)
        return bank_pb2.QueryParamsResponse(
            denom=params.denom,
            min_fee=coins.Coin(params.denom, int(params.min_fee)).to_proto(),
            fee_collector=crypto.encode_address(keeper.FEE_COLLECTOR),
        )
