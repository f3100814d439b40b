"""The app's gRPC query service (DESIGN.md section 3).

Every module's ``Query`` service is served from the same route table as
ABCI Query, reading committed state only, so gRPC threads never touch the
block or check state. The height to read at is taken from the request
metadata ``x-mgrid-height`` (0 or absent: latest), as Cosmos nodes use
``x-cosmos-block-height``.
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc

from app.chain import Chain
from app.errors import ABCIError
from app.router import QUERY_ROUTES, QueryRoute

log = logging.getLogger("mgrid.grpc")
HEIGHT_HEADER = "x-mgrid-height"


def _unary(chain: Chain, route: QueryRoute) -> Any:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        height = 0
        for key, value in context.invocation_metadata():
            if key == HEIGHT_HEADER:
                try:
                    height = int(value)
                except ValueError:
                    context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT, f"bad {HEIGHT_HEADER}: {value!r}"
                    )
        try:
            response, version = chain.query_typed(route, request, height)
        except ABCIError as err:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"{err.codespace}/{err.code}: {err.log}"
            )
        context.set_trailing_metadata(((HEIGHT_HEADER, str(version)),))
        return response

    return grpc.unary_unary_rpc_method_handler(
        call,
        request_deserializer=route.request_type.FromString,
        response_serializer=lambda m: m.SerializeToString(),
    )


def serve(chain: Chain, address: str, workers: int = 4) -> grpc.Server:
    """Start the gRPC server on address (host:port) and return it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    services: dict[str, dict[str, Any]] = {}
    for route in QUERY_ROUTES.values():
        services.setdefault(route.service, {})[route.method] = _unary(chain, route)
    for name, methods in sorted(services.items()):
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, methods),))
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    server.start()
    log.info("gRPC query service on %s: %s", address, ", ".join(sorted(services)))
    return server
