"""Certificate tests run on the market tests' microgrid (tests/app/market/conftest.py):
60 s intervals, a 30 s settlement window, ALICE on bus b1 (a 5000 Wh line), BOB,
CAROL and EVE on b2 (1 MWh), one meter each. Genesis sets 1000 Wh per
certificate, so a few kWh of readings issue certificates.

``Certs`` adds the module's messages and queries, the utility cell's renewable
flag, and running an interval through settlement with given exports."""

from __future__ import annotations

from typing import Any

import pytest

from app.chain import TxResult
from app.crypto import PrivateKey
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.certificates.v1 import certificates_pb2 as cert_pb2
from app.pb.mgrid.registry.v1 import registry_pb2
from tests.app.market.conftest import UTILITY, Market, app_state, make_market, market

__all__ = ["Certs", "cert_state", "certs", "make_market", "market"]

WH = 1000  # Wh per certificate in these tests


def cert_state(wh_per_certificate: int | None = WH) -> dict[str, Any]:
    state = app_state()
    if wh_per_certificate is not None:
        state["certificates"] = {"wh_per_certificate": wh_per_certificate}
    return state


def events(result: Any, event_type: str) -> list[dict[str, str]]:
    """Attributes of every ``event_type`` event of a tx or block result."""
    return [dict(e.attributes) for e in result.events if e.type == event_type]


class Certs(Market):
    """The market helper plus the certificates module."""

    def set_renewable(self, who: PrivateKey, technology: str) -> TxResult:
        msg = registry_pb2.MsgSetRenewable(participant=who.address, technology=technology)
        result = self.tx(UTILITY, set_renewable=msg)
        assert result.code == 0, result.log
        return result

    def retire(
        self, who: PrivateKey, denom: str, count: int, beneficiary: str = "household 12", **kw: Any
    ) -> TxResult:
        msg = cert_pb2.MsgRetire(
            denom=denom, count=count, beneficiary=beneficiary, reason=kw.get("reason", "")
        )
        return self.tx(who, retire_certificates=msg)

    def send(self, who: PrivateKey, to: PrivateKey, denom: str, count: int) -> TxResult:
        msg = bank_pb2.MsgSend(
            to_address=to.address, amount=[coin_pb2.Coin(denom=denom, amount=str(count))]
        )
        return self.tx(who, send=msg)

    def cq(self, method: str, request: Any) -> Any:
        return self.q(method, request, cert_pb2)

    def holdings(self, who: PrivateKey) -> cert_pb2.QueryHoldingsResponse:
        return self.cq("Holdings", cert_pb2.QueryHoldingsRequest(owner=who.address))

    def generator(self, who: PrivateKey) -> cert_pb2.Generator:
        req = cert_pb2.QueryGeneratorRequest(generator=who.address)
        return self.cq("Generator", req).generator

    def issuances(self, who: PrivateKey | None = None) -> list[cert_pb2.Issuance]:
        req = cert_pb2.QueryIssuancesRequest(generator=who.address if who else "", limit=1000)
        return list(self.cq("Issuances", req).issuances)

    def retirements(self, who: PrivateKey | None = None) -> list[cert_pb2.Retirement]:
        req = cert_pb2.QueryRetirementsRequest(owner=who.address if who else "", limit=1000)
        return list(self.cq("Retirements", req).retirements)

    def count(self, who: PrivateKey | str, denom: str) -> int:
        address = who if isinstance(who, str) else who.address
        req = bank_pb2.QueryBalanceRequest(address=address, denom=denom)
        return int(self.q("Balance", req, bank_pb2).balance.amount or 0)

    def supply_of(self, denom: str) -> int:
        supply = self.q("TotalSupply", bank_pb2.QueryTotalSupplyRequest(), bank_pb2).supply
        return sum(int(c.amount) for c in supply if c.denom == denom)

    def export(self, n: int, exports: dict[PrivateKey, int]) -> Any:
        """Readings of ``exports`` Wh (nothing imported) for interval n, then past its
        settlement window; returns the settlement."""
        return self.settle(n, {k.address: (wh, 0) for k, wh in exports.items()})


@pytest.fixture
def certs(make_market: Any) -> Certs:
    return Certs(make_market(cert_state()).node)
