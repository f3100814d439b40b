"""Where each message and each query goes.

Messages are the fields of the ``Msg`` oneof; each has a stateless
``validate_basic`` (used by CheckTx and by the wallet before broadcast) and
a handler. Queries are the methods of each module's ``Query`` gRPC service;
the same table serves ABCI Query (path = full gRPC method name, as in the
Cosmos SDK) and the app's gRPC server, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import message_factory
from google.protobuf.message import Message

from app.context import Context
from app.errors import ABCIError, ErrInvalidRequest, ErrUnknownMessage
from app.kv import KV
from app.modules.auth import keeper as auth_keeper
from app.modules.bank import msgs as bank_msgs
from app.modules.bank import queries as bank_queries
from app.modules.certificates import msgs as certificates_msgs
from app.modules.certificates import queries as certificates_queries
from app.modules.demand_response import msgs as demand_response_msgs
from app.modules.demand_response import queries as demand_response_queries
from app.modules.flexibility import msgs as flexibility_msgs
from app.modules.flexibility import queries as flexibility_queries
from app.modules.market import msgs as market_msgs
from app.modules.market import queries as market_queries
from app.modules.quota import msgs as quota_msgs
from app.modules.quota import queries as quota_queries
from app.modules.registry import msgs as registry_msgs
from app.modules.registry import queries as registry_queries
from app.modules.reputation import queries as reputation_queries
from app.modules.settlement import msgs as settlement_msgs
from app.modules.settlement import queries as settlement_queries
from app.modules.storage import msgs as storage_msgs
from app.modules.storage import queries as storage_queries
from app.pb.mgrid.auth.v1 import auth_pb2
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.certificates.v1 import certificates_pb2
from app.pb.mgrid.demand_response.v1 import demand_response_pb2
from app.pb.mgrid.flexibility.v1 import flexibility_pb2
from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.quota.v1 import quota_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from app.pb.mgrid.reputation.v1 import reputation_pb2
from app.pb.mgrid.settlement.v1 import settlement_pb2
from app.pb.mgrid.storage.v1 import storage_pb2
from ibc import msgs as ibc_msgs
from ibc import queries as ibc_queries
from ibc.apps.energy import msgs as energy_msgs
from ibc.apps.energy import queries as energy_queries
from ibc.apps.transfer import msgs as transfer_msgs
from ibc.apps.transfer import queries as transfer_queries


@dataclass(frozen=True, slots=True)
class MsgRoute:
    module: str
    action: str
    validate_basic: Callable[[Any], None]
    handle: Callable[[Context, bytes, Any], None]


def _routes(module: str, impl: Any, names: Sequence[str]) -> dict[str, MsgRoute]:
    """Routes for oneof fields ``names``: ``impl.validate_<name>`` and ``impl.handle_<name>``."""
    return {
        name: MsgRoute(
            module, name, getattr(impl, f"validate_{name}"), getattr(impl, f"handle_{name}")
        )
        for name in names
    }


MSG_ROUTES: dict[str, MsgRoute] = {
    **_routes("bank", bank_msgs, ["send"]),
    **_routes(
        "registry",
        registry_msgs,
        [
            "apply",
            "approve",
            "reject",
            "set_suspended",
            "register_meter",
            "revoke_meter",
            "set_renewable",
        ],
    ),
    **_routes(
        "market",
        market_msgs,
        ["place_order", "cancel_order", "update_params", "publish_forecast"],
    ),
    **_routes("settlement", settlement_msgs, ["meter_reading"]),
    **_routes("demand_response", demand_response_msgs, ["create_dr_event", "dr_opt_in"]),
    **_routes("flexibility", flexibility_msgs, ["post_flex_need", "offer_flexibility"]),
    **_routes("quota", quota_msgs, ["announce_margin", "submit_demand", "place_quota_order"]),
    **_routes("ibc", ibc_msgs, ibc_msgs.MSG_NAMES),
    **_routes("transfer", transfer_msgs, ["transfer"]),
    **_routes("energy", energy_msgs, ["offer_energy"]),
    **_routes("certificates", certificates_msgs, ["retire_certificates"]),
    **_routes("storage", storage_msgs, ["storage_deposit", "storage_redeem", "transfer_credits"]),
}


def validate_messages(messages: Sequence[Any], limit: int) -> None:
    """Stateless checks of a transaction's messages, shared by CheckTx and the wallet.

    Raises the message's own registered error, prefixed with its index.
    """
    if not messages:
        raise ErrInvalidRequest("tx has no messages")
    if len(messages) > limit:
        raise ErrInvalidRequest(f"tx has {len(messages)} messages, limit {limit}")
    for i, msg in enumerate(messages):
        name = msg.WhichOneof("sum")
        route = MSG_ROUTES.get(name or "")
        if route is None:
            raise ErrUnknownMessage(f"message {i} has no known type")
        try:
            route.validate_basic(getattr(msg, name))
        except ABCIError as err:
            raise type(err)(f"message {i} ({name}): {err.detail}") from None


@dataclass(frozen=True, slots=True)
class QueryRoute:
    path: str  # "/mgrid.bank.v1.Query/Balance"
    service: str  # "mgrid.bank.v1.Query"
    method: str  # "Balance"
    request_type: type[Message]
    response_type: type[Message]
    handle: Callable[[KV, Any], Message]


def _service_routes(file_descriptor: Any, impl: object) -> list[QueryRoute]:
    service = file_descriptor.services_by_name["Query"]
    routes = []
    for method in service.methods:
        routes.append(
            QueryRoute(
                path=f"/{service.full_name}/{method.name}",
                service=service.full_name,
                method=method.name,
                request_type=message_factory.GetMessageClass(method.input_type),
                response_type=message_factory.GetMessageClass(method.output_type),
                handle=getattr(impl, method.name),
            )
        )
    return routes


QUERY_ROUTES: dict[str, QueryRoute] = {
    r.path: r
    for r in (
        *_service_routes(auth_pb2.DESCRIPTOR, auth_keeper.Queries()),
        *_service_routes(bank_pb2.DESCRIPTOR, bank_queries.Queries()),
        *_service_routes(registry_pb2.DESCRIPTOR, registry_queries.Queries()),
        *_service_routes(market_pb2.DESCRIPTOR, market_queries.Queries()),
        *_service_routes(settlement_pb2.DESCRIPTOR, settlement_queries.Queries()),
        *_service_routes(reputation_pb2.DESCRIPTOR, reputation_queries.Queries()),
        *_service_routes(demand_response_pb2.DESCRIPTOR, demand_response_queries.Queries()),
        *_service_routes(flexibility_pb2.DESCRIPTOR, flexibility_queries.Queries()),
        *_service_routes(quota_pb2.DESCRIPTOR, quota_queries.Queries()),
        *_service_routes(ibc_pb2.DESCRIPTOR, ibc_queries.Queries()),
        *_service_routes(transfer_pb2.DESCRIPTOR, transfer_queries.Queries()),
        *_service_routes(energy_pb2.DESCRIPTOR, energy_queries.Queries()),
        *_service_routes(certificates_pb2.DESCRIPTOR, certificates_queries.Queries()),
        *_service_routes(storage_pb2.DESCRIPTOR, storage_queries.Queries()),
    )
}
