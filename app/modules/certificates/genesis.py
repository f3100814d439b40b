"""Certificates genesis: one param, and the chain id that names this microgrid.

    "certificates": {"wh_per_certificate": 1000000}     (or {} or no section at all)

``wh_per_certificate`` (Wh per certificate, 1..10^15) defaults to 1 MWh;
any other field is refused, so that a genesis written for a later version
that has something to say here does not start silently without it. The
chain id given to InitChain is stored as the issuing microgrid's name
(queries only see the store). Certificates are issued after settlement, so
without a market the module is off: nothing is issued and MsgRetire is
refused (a section is then an error).

Certificates are issued, never created at genesis: a ``rec/`` denom in the
bank's genesis balances would be a certificate no generator earned, and is
refused.
"""

from __future__ import annotations

from typing import Any

from app.context import Context
from app.errors import ABCIError
from app.modules.bank import keeper as bank
from app.modules.certificates import keeper
from app.modules.genesis_util import GenesisError, check_fields, parse_object
from app.modules.market import keeper as market
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2

DEFAULT_PARAMS: dict[str, Any] = {"wh_per_certificate": keeper.DEFAULT_WH_PER_CERTIFICATE}


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    for coin in bank.all_supply(ctx.kv):
        if coin.denom.startswith(keeper.CLASS_PREFIX):
            raise GenesisError(
                f"certificates: bank genesis holds {coin.amount}{coin.denom}; "
                "certificates are only issued for metered export"
            )
    if not market.is_configured(ctx.kv):
        if section:
            raise GenesisError("certificates: needs a market section")
        return
    check_fields(section, "certificates", DEFAULT_PARAMS)
    params = parse_object(section, DEFAULT_PARAMS, cert_pb2.Params(), "certificates")
    try:
        keeper.init(ctx.kv, params, ctx.chain_id)
    except ABCIError as err:
        raise GenesisError(f"certificates: {err.log}") from None
