"""Auth keeper: accounts under prefix 0x01.

Keys:
    0x01 0x01 | address(20)  -> Account (protobuf)
An account exists once it has signed a transaction; before that its
sequence is 0 and it has no public key on chain.
"""

from __future__ import annotations

from app import crypto
from app.kv import KV, CacheKV
from app.modules import PREFIX_AUTH
from app.modules.common import parse_address
from app.pb.mgrid.auth.v1 import auth_pb2

_ACCOUNT = PREFIX_AUTH + b"\x01"


def account_key(address: bytes) -> bytes:
    return _ACCOUNT + address


def get_account(kv: KV, address: bytes) -> auth_pb2.Account:
    """The account at address, or a fresh one (sequence 0, no key) if it never signed."""
    raw = kv.get(account_key(address))
    if raw is None:
        return auth_pb2.Account(address=crypto.encode_address(address), sequence=0)
    return auth_pb2.Account.FromString(raw)


def set_account(kv: CacheKV, address: bytes, account: auth_pb2.Account) -> None:
    kv.set(account_key(address), account.SerializeToString(deterministic=True))


class Queries:
    """mgrid.auth.v1.Query."""

    def Account(self, kv: KV, req: auth_pb2.QueryAccountRequest) -> auth_pb2.QueryAccountResponse:
        return auth_pb2.QueryAccountResponse(account=get_account(kv, parse_address(req.address)))
