"""``mgrid tx certificates ...`` and ``mgrid query certificates ...``: renewable
energy certificates (issue 11; the rules are in app/modules/certificates/keeper.py).

    tx certificates retire DENOM COUNT --beneficiary TEXT [--reason TEXT] --from KEY
    tx certificates transfer TO COUNT DENOM --from KEY

    query certificates params
          | holdings ADDR|NAME
          | generator ADDR|NAME
          | issuances [--generator ADDR|NAME] [--all | --limit N --page-key HEX]
          | retirements [--owner ADDR|NAME] [--all | --limit N --page-key HEX]
          | origin DENOM

A certificate is one coin of its class denom
``rec/<technology>/<generator>/<period_start>-<period_end>``; on a
neighbouring microgrid it is a voucher ``ibc/<hash>`` of that class. DENOM
is either. ``transfer`` is a bank send of COUNT coins of DENOM (refused here
for a denom that is not a certificate's); moving certificates to another
microgrid is ``mgrid tx ibc transfer CHANNEL RECEIVER COUNTdenom``.
``retire`` burns them on behalf of the beneficiary and reports the
retirement's id (``retirement_id``, from the ``certificates_retire`` event,
so only with ``--broadcast-mode commit``).

Text output shows periods as ISO 8601 intervals in UTC
(``2023-11-14T22:14:00Z/2023-11-14T22:16:00Z``); JSON output is the chain's
response message, with periods in unix seconds. Queries take ``--height H``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.errors import ABCIError
from app.modules.certificates import keeper as cert_keeper
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from clients.mgrid import render
from clients.mgrid import tx as txmod
from clients.mgrid.chain import TxResult
from clients.mgrid.cmd_settlement import address_or_key
from clients.mgrid.session import (
    ExitCode,
    Session,
    UsageError,
    add_height,
    add_page_flags,
    add_tx_flags,
    leaf,
    page_or_all,
    sign_and_broadcast,
    uint_arg,
)

# -- argument checks and text -----------------------------------------------------------------


def _denom(text: str) -> str:
    """DENOM as the chain's stateless check sees it (a class or ibc/<64 hex>)."""
    try:
        cert_keeper.check_denom_shape(text)
    except ABCIError as err:
        raise UsageError(f"DENOM: {err.detail}") from None
    return text


def _count(value: int) -> int:
    if value < 1:
        raise UsageError("COUNT: at least 1 certificate")
    return value


def _utc(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period_text(start: int, end: int) -> str:
    """A certificate's period as an ISO 8601 interval in UTC."""
    return f"{_utc(start)}/{_utc(end)}"


def _table(headers: Sequence[str], rows: list[list[str]], empty: str, next_key: bytes = b"") -> str:
    text = render.table(headers, rows) if rows else empty
    if next_key:
        text += f"\nmore: --page-key {bytes(next_key).hex()}"
    return text


def holdings_text(owner: str, resp: cert_pb2.QueryHoldingsResponse) -> str:
    rows = [
        [
            h.denom,
            str(h.count),
            h.origin.microgrid or "?",
            h.origin.technology,
            h.origin.generator,
            period_text(h.origin.period_start, h.origin.period_end),
            h.origin.path or "-",
        ]
        for h in resp.holdings
    ]
    heads = ("denom", "count", "microgrid", "technology", "generator", "period", "path")
    return "\n".join(
        [
            f"owner: {owner}",
            f"total: {resp.total} certificate{'s' if resp.total != 1 else ''}",
            _table(heads, rows, "(no certificates)"),
        ]
    )


def issuances_text(resp: cert_pb2.QueryIssuancesResponse) -> str:
    rows = [
        [
            str(i.id),
            str(i.interval),
            str(i.count),
            i.technology,
            i.generator,
            period_text(i.period_start, i.period_end),
            i.denom,
        ]
        for i in resp.issuances
    ]
    heads = ("id", "interval", "count", "technology", "generator", "period", "denom")
    return _table(heads, rows, "no issuances", resp.next_key)


def retirements_text(resp: cert_pb2.QueryRetirementsResponse) -> str:
    rows = [
        [
            str(r.id),
            r.owner,
            r.beneficiary,
            str(r.count),
            r.origin.microgrid or "?",
            r.origin.technology,
            period_text(r.origin.period_start, r.origin.period_end),
            r.reason or "-",
        ]
        for r in resp.retirements
    ]
    heads = (
        "id",
        "owner",
        "beneficiary",
        "count",
        "microgrid",
        "technology",
        "period",
        "reason",
    )
    return _table(heads, rows, "no retirements", resp.next_key)


def origin_text(resp: cert_pb2.QueryOriginResponse) -> str:
    o = resp.origin
    return "\n".join(
        [
            f"microgrid:  {o.microgrid or '? (more than one hop: see path)'}",
            f"generator:  {o.generator}",
            f"technology: {o.technology}",
            f"period:     {period_text(o.period_start, o.period_end)}",
            f"path:       {o.path or '- (native: issued on this chain)'}",
            f"base denom: {o.base_denom}",
            f"supply:     {resp.supply.amount} ({resp.supply.denom})",
        ]
    )


# -- parser -----------------------------------------------------------------------------------


def add_tx_commands(tx: Any) -> None:
    """``tx certificates`` subcommands."""
    p = leaf(tx, "retire", cmd_retire, "retire (burn) certificates on behalf of a beneficiary")
    p.add_argument("denom", metavar="DENOM", help="rec/... or ibc/<hash>")
    p.add_argument("count", metavar="COUNT", type=uint_arg)
    p.add_argument(
        "--beneficiary",
        required=True,
        metavar="TEXT",
        help="on whose behalf the renewable energy is claimed (1..128 chars)",
    )
    p.add_argument("--reason", default="", metavar="TEXT", help="optional, up to 256 chars")
    add_tx_flags(p)

    p = leaf(tx, "transfer", cmd_transfer, "send certificates to an address (a bank send)")
    p.add_argument("to", metavar="TO", help="address or key name")
    p.add_argument("count", metavar="COUNT", type=uint_arg)
    p.add_argument("denom", metavar="DENOM", help="rec/... or ibc/<hash>")
    add_tx_flags(p)


def add_query_commands(query: Any) -> None:
    """``query certificates`` subcommands."""
    p = leaf(query, "params", cmd_params, "certificate params (Wh per certificate)")
    add_height(p)
    p = leaf(query, "holdings", cmd_holdings, "the certificates an address holds, with origins")
    p.add_argument("owner", metavar="ADDR|NAME")
    add_height(p)
    p = leaf(query, "generator", cmd_generator, "a generator's certified export and carry")
    p.add_argument("generator", metavar="ADDR|NAME")
    add_height(p)
    p = leaf(query, "issuances", cmd_issuances, "issuance history, all or one generator's")
    p.add_argument("--generator", metavar="ADDR|NAME")
    add_page_flags(p)
    p.add_argument("--all", action="store_true", help="walk every page (one height)")
    add_height(p)
    p = leaf(query, "retirements", cmd_retirements, "retirements, all or one owner's")
    p.add_argument("--owner", metavar="ADDR|NAME")
    add_page_flags(p)
    p.add_argument("--all", action="store_true", help="walk every page (one height)")
    add_height(p)
    p = leaf(query, "origin", cmd_origin, "where a certificate denom comes from, and its supply")
    p.add_argument("denom", metavar="DENOM", help="rec/... or ibc/<hash>")
    add_height(p)


# -- transactions -----------------------------------------------------------------------------


def cmd_retire(s: Session) -> int:
    a = s.args
    msg = txmod.msg_retire_certificates(_denom(a.denom), _count(a.count), a.beneficiary, a.reason)

    def report(r: TxResult) -> tuple[dict[str, Any], list[str]]:
        ids = r.attribute("certificates_retire", "retirement_id")
        if ids:
            return {"retirement_id": int(ids[0])}, [f"retirement id: {ids[0]}"]
        if r.phase == "check":
            return {"retirement_id": None}, [
                "retirement id: known once the transaction is in a block"
            ]
        return {"retirement_id": None}, []

    return sign_and_broadcast(s, a.from_key, [msg], report)


def cmd_transfer(s: Session) -> int:
    a = s.args
    to = address_or_key(s, a.to, "TO")
    msg = txmod.msg_transfer_certificates(to, _count(a.count), _denom(a.denom))
    return sign_and_broadcast(s, a.from_key, [msg])


# -- queries ----------------------------------------------------------------------------------


def _query(s: Session, method: str, request: Any, height: int = 0) -> Any:
    return s.chain.query(cert_pb2.DESCRIPTOR, method, request, height)


def cmd_params(s: Session) -> int:
    resp = _query(s, "Params", cert_pb2.QueryParamsRequest(), s.args.height)
    wh = resp.params.wh_per_certificate
    s.emit(render.proto_json(resp), f"wh_per_certificate: {wh} ({render.kwh(wh)})")
    return ExitCode.OK


def cmd_holdings(s: Session) -> int:
    owner = address_or_key(s, s.args.owner, "ADDR")
    resp = _query(s, "Holdings", cert_pb2.QueryHoldingsRequest(owner=owner), s.args.height)
    s.emit(render.proto_json(resp), holdings_text(owner, resp))
    return ExitCode.OK


def cmd_generator(s: Session) -> int:
    address = address_or_key(s, s.args.generator, "ADDR")
    req = cert_pb2.QueryGeneratorRequest(generator=address)
    resp = _query(s, "Generator", req, s.args.height)
    s.emit(render.proto_json(resp), render.record_text(resp.generator))
    return ExitCode.OK


def _paged(s: Session, method: str, make: Any, items: str, response: Any) -> Any:
    """One page, or with --all every page at one height, of a paged query."""
    resp, _ = page_or_all(s, lambda key, h: _query(s, method, make(key), h), items, response)
    return resp


def cmd_issuances(s: Session) -> int:
    a = s.args
    generator = address_or_key(s, a.generator, "--generator") if a.generator else ""

    def make(key: bytes) -> Any:
        return cert_pb2.QueryIssuancesRequest(generator=generator, page_key=key, limit=a.limit)

    resp = _paged(s, "Issuances", make, "issuances", cert_pb2.QueryIssuancesResponse)
    s.emit(render.proto_json(resp), issuances_text(resp))
    return ExitCode.OK


def cmd_retirements(s: Session) -> int:
    a = s.args
    owner = address_or_key(s, a.owner, "--owner") if a.owner else ""

    def make(key: bytes) -> Any:
        return cert_pb2.QueryRetirementsRequest(owner=owner, page_key=key, limit=a.limit)

    resp = _paged(s, "Retirements", make, "retirements", cert_pb2.QueryRetirementsResponse)
    s.emit(render.proto_json(resp), retirements_text(resp))
    return ExitCode.OK


def cmd_origin(s: Session) -> int:
    req = cert_pb2.QueryOriginRequest(denom=_denom(s.args.denom))
    resp = _query(s, "Origin", req, s.args.height)
    s.emit(render.proto_json(resp), origin_text(resp))
    return ExitCode.OK
