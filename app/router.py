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
from app.pb.mgrid.auth.v1 import auth_pb2
from app.pb.mgrid.bank.v1 import bank_pb2


@dataclass(frozen=True, slots=True)
class MsgRoute:
    module: str
    action: str
    validate_basic: Callable[[Any], None]
    handle: Callable[[Context, bytes, Any], None]


MSG_ROUTES: dict[str, MsgRoute] = {
    "send": MsgRoute("bank", "send", bank_msgs.validate_send, bank_msgs.handle_send),
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
    )
}
