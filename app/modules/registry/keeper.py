"""Registry keeper (skeleton; being written)."""

from __future__ import annotations

from app.kv import KV
from app.modules.market.network import Network
from app.pb.mgrid.registry.v1 import registry_pb2


def get_authorities(kv: KV) -> registry_pb2.Authorities:
    raise NotImplementedError


def get_participant(kv: KV, address: bytes) -> registry_pb2.Participant | None:
    raise NotImplementedError


def get_network(kv: KV) -> Network:
    raise NotImplementedError
