"""mgrid.market.v1.Query: params, schedule, orders, intervals, trades, grid position, forecasts."""

from __future__ import annotations

from app import crypto
from app.errors import ErrInvalidRequest, ErrNotFound
from app.kv import KV
from app.modules.bank import keeper as bank
from app.modules.common import page, parse_address
from app.modules.market import keeper
from app.pb.mgrid.market.v1 import market_pb2

INT64_MAX = (1 << 63) - 1  # an interval record's times are int64 unix seconds


class Queries:
    def Params(self, kv: KV, req: market_pb2.QueryParamsRequest) -> market_pb2.QueryParamsResponse:
        keeper.get_state(kv)  # not configured: say so
        pending, start = keeper.pending_params(kv)
        resp = market_pb2.QueryParamsResponse(
            params=keeper.get_params_proto(kv),
            bounds=keeper.get_bounds_proto(kv),
            pending_from_interval=start,
            escrow_account=crypto.encode_address(keeper.ESCROW),
            main_grid_account=crypto.encode_address(keeper.MAIN_GRID),
        )
        if pending is not None:
            resp.pending.CopyFrom(pending)
        return resp

    def Schedule(
        self, kv: KV, req: market_pb2.QueryScheduleRequest
    ) -> market_pb2.QueryScheduleResponse:
        state = keeper.get_state(kv)
        params, _ = keeper.get_params(kv)
        t = keeper.last_block_time(kv)
        return market_pb2.QueryScheduleResponse(
            current_interval=keeper.current_interval(state, params, t),
            next_to_clear=state.next_to_clear,
            block_time=t,
            interval_seconds=params.interval_seconds,
            gate_closure_seconds=params.gate_closure_seconds,
            next=keeper.get_interval(kv, state.next_to_clear),
            first_open=keeper.first_open(state, params, t),
        )

    def Order(self, kv: KV, req: market_pb2.QueryOrderRequest) -> market_pb2.QueryOrderResponse:
        keeper.get_state(kv)
        order = keeper.get_order(kv, req.id)
        if order is None:
            raise ErrNotFound(f"no order {req.id}")
        return market_pb2.QueryOrderResponse(order=order)

    def Orders(self, kv: KV, req: market_pb2.QueryOrdersRequest) -> market_pb2.QueryOrdersResponse:
        keeper.get_state(kv)
        if req.owner:
            prefix = keeper.BY_OWNER + parse_address(req.owner, "owner")
        else:
            prefix = keeper.BY_INTERVAL + keeper.u64(req.interval)
        orders = []
        # open_only filters within the page, so a page may hold fewer than limit orders.
        entries, next_key = page(kv, prefix, req.page_key, req.limit)
        for key, _ in entries:
            order = keeper.get_order(kv, int.from_bytes(key[-8:], "big"))
            assert order is not None
            if not req.open_only or order.status == keeper.OPEN:
                orders.append(order)
        return market_pb2.QueryOrdersResponse(orders=orders, next_key=next_key)

    def Interval(
        self, kv: KV, req: market_pb2.QueryIntervalRequest
    ) -> market_pb2.QueryIntervalResponse:
        state = keeper.get_state(kv)
        params, _ = keeper.get_params(kv)
        _, end, _ = keeper.interval_times(state, params, req.id)
        if end > INT64_MAX:  # its times would not fit the record's int64 fields
            raise ErrInvalidRequest(
                f"interval {req.id} would end at unix second {end}, beyond int64 ({INT64_MAX})"
            )
        return market_pb2.QueryIntervalResponse(interval=keeper.get_interval(kv, req.id))

    def Trades(self, kv: KV, req: market_pb2.QueryTradesRequest) -> market_pb2.QueryTradesResponse:
        keeper.get_state(kv)
        if req.address:
            prefix = keeper.TRADE_BY_ACCOUNT + parse_address(req.address)
            entries, next_key = page(kv, prefix, req.page_key, req.limit)
            trades = [keeper.get_trade(kv, key[-12:]) for key, _ in entries]
        else:
            prefix = keeper.TRADE + keeper.u64(req.interval)
            entries, next_key = page(kv, prefix, req.page_key, req.limit)
            trades = [market_pb2.Trade.FromString(value) for _, value in entries]
        return market_pb2.QueryTradesResponse(trades=trades, next_key=next_key)

    def GridPosition(
        self, kv: KV, req: market_pb2.QueryGridPositionRequest
    ) -> market_pb2.QueryGridPositionResponse:
        state = keeper.get_state(kv)
        denom = bank.get_params(kv).denom
        return market_pb2.QueryGridPositionResponse(
            address=crypto.encode_address(keeper.MAIN_GRID),
            balance=str(bank.get_balance(kv, keeper.MAIN_GRID, denom)),
            import_wh=state.grid_import_wh,
            export_wh=state.grid_export_wh,
        )

    def Forecast(
        self, kv: KV, req: market_pb2.QueryForecastRequest
    ) -> market_pb2.QueryForecastResponse:
        keeper.get_state(kv)
        forecast = keeper.get_forecast(kv, req.interval)
        if forecast is None:
            raise ErrNotFound(f"no forecast for interval {req.interval}")
        return market_pb2.QueryForecastResponse(forecast=forecast)
