"""The utility cell's offers to a neighbouring microgrid over an IBC energy
channel (``mgrid-sim --offer-channel CHANNEL --counterparty-node URL``;
docs/ibc.md).

Each interval of the run, when the households order, the utility also
offers the neighbour what the local market will not absorb:

- quantity: the households' *forecast* residual supply, ``max(0, sum of
  forecast generation - sum of forecast demand)`` over all households, times
  ``--offer-share`` (default 1), rounded down to a whole Wh; clipped to the
  neighbour's largest order, and no offer below its smallest;
- side: SELL, for the neighbour's next interval still taking orders whose
  gate closes at least ``lead_seconds`` after the neighbour's block time
  (its Schedule and Interval queries), so that a relayer has time to carry
  the packet;
- limit price: this chain's feed-in tariff, what the main grid would pay
  for the surplus here, raised to the neighbour's minimum price when that
  is higher (no offer when it is above the neighbour's maximum): selling to
  the neighbour at that price is never worse than feeding into the main grid;
- denom: the neighbour's (its bank params); the packet times out at the
  target interval's gate closure, after which it could not be entered.

What became of an offer is read from this chain's energy Trades query: the
utility makes at most one offer per neighbour interval, so the trade is the
outgoing one of the utility with that delivery start. Filled offers pay in
vouchers of the neighbour's denom (``energy/<channel>/<denom>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.pb.mgrid.ibc.energy.v1 import energy_pb2
from clients.mgrid.chain import ChainClient
from clients.sim.household import Sent
from clients.sim.profiles import Energy

DEFAULT_LEAD_SECONDS = 8

STATUS_TEXT = {
    energy_pb2.OFFER_STATUS_PENDING: "pending",
    energy_pb2.OFFER_STATUS_FILLED: "filled",
    energy_pb2.OFFER_STATUS_REFUSED: "refused",
    energy_pb2.OFFER_STATUS_TIMED_OUT: "timed out",
}


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """What the utility needs to know of both markets to offer."""

    channel: str
    denom: str  # the neighbour's
    price: int  # limit price per kWh, in the neighbour's denom
    min_order_wh: int
    max_order_wh: int  # 0: no limit


@dataclass
class Offer:
    """One offer of the run and what became of it.

    ``status``: ``sending`` (not in a block yet), ``refused`` or ``failed``
    (this chain refused the transaction), then the trade's: ``pending``
    (waiting for the neighbour's clearing and the acknowledgement),
    ``filled`` (``filled_wh`` may be 0), ``refused`` (error acknowledgement)
    or ``timed out``.
    """

    local_interval: int
    target_interval: int
    delivery_start: int
    quantity_wh: int
    price: int
    sent: Sent | None = None
    status: str = "sending"
    sequence: int = 0
    filled_wh: int = 0
    fill_price: int = 0
    amount: int = 0
    error: str = ""

    @property
    def settled(self) -> bool:
        """Nothing will change any more."""
        return self.status in ("filled", "refused", "timed out", "failed")

    def record(self) -> dict[str, Any]:
        return {
            "local_interval": self.local_interval,
            "target_interval": self.target_interval,
            "delivery_start": self.delivery_start,
            "quantity_wh": self.quantity_wh,
            "price": self.price,
            "status": self.status,
            "sequence": self.sequence,
            "filled_wh": self.filled_wh,
            "fill_price": self.fill_price,
            "amount": self.amount,
            "error": self.error,
        }


def residual_supply_wh(forecasts: Sequence[Energy], share: float = 1.0) -> int:
    """What the local market will not absorb: forecast generation above forecast
    demand, summed over the households, times ``share``, rounded down."""
    surplus = sum(f.pv_wh for f in forecasts) - sum(f.load_wh for f in forecasts)
    return int(max(0, surplus) * share)


def offer_quantity(forecasts: Sequence[Energy], share: float, terms: OfferTerms) -> int | None:
    """The quantity to offer, or None when the residual is below the neighbour's smallest
    order."""
    quantity = residual_supply_wh(forecasts, share)
    if terms.max_order_wh:
        quantity = min(quantity, terms.max_order_wh)
    if quantity < max(1, terms.min_order_wh):
        return None
    return quantity


def offer_price(feed_in_tariff: int, neighbour_min: int, neighbour_max: int) -> int | None:
    """This chain's feed-in tariff raised to the neighbour's minimum; None when even that
    is above the neighbour's maximum."""
    price = max(feed_in_tariff, neighbour_min)
    return price if price <= neighbour_max else None


def find_trade(chain: ChainClient, channel: str, offerer: str, delivery_start: int) -> Any | None:
    """The outgoing InterTrade of ``offerer`` for the neighbour interval starting at
    ``delivery_start`` (the latest, should there be several)."""
    found = None
    for t in chain.energy_trades(channel):
        if t.outgoing and t.offer.offerer == offerer and t.offer.delivery_start == delivery_start:
            found = t
    return found


def update_from_trade(offer: Offer, trade: Any) -> None:
    """Copy what the chain says of the trade into ``offer``."""
    offer.sequence = int(trade.sequence)
    offer.status = STATUS_TEXT.get(trade.status, "pending")
    offer.error = str(trade.error)
    if trade.status == energy_pb2.OFFER_STATUS_FILLED:
        offer.filled_wh = int(trade.result.filled_wh)
        offer.fill_price = int(trade.result.price)
        offer.amount = int(trade.result.amount or "0")
