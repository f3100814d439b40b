"""Errors of the inter-microgrid energy application (codespace "energy").

Registered once as (codespace, code, description), codes only ever added
(app.errors). An offer refused on the offering chain fails its transaction;
an offer refused by the receiving chain is answered with an error
acknowledgement carrying the error's log, which releases everything.
"""

from __future__ import annotations

from app.errors import ABCIError, register

CODESPACE = "energy"


def _error(code: int, description: str, doc: str) -> type[ABCIError]:
    cls = register(CODESPACE, code, description)
    cls.__doc__ = doc
    return cls


ErrInvalidVersion = _error(
    2,
    "invalid energy channel version",
    "A channel handshake proposes a version other than mgrid-energy-1.",
)
ErrInvalidOrdering = _error(
    3, "invalid channel ordering", "Energy channels are unordered; an ordered one was proposed."
)
ErrCloseNotAllowed = _error(
    4,
    "channel closing not allowed",
    "Energy channels cannot be closed: the callbacks cannot tell who asks, and offers may "
    "be waiting for their interval to clear.",
)
ErrInvalidOffer = _error(
    5,
    "invalid energy offer",
    "An offer's side, quantity, price, interval start or timeout is missing or malformed.",
)
ErrInvalidPayment = _error(
    6,
    "invalid max payment",
    "A buy's max_payment is not a voucher of the receiver's denom over this channel.",
)
ErrWrongDenom = _error(
    7, "wrong denom", "The offer is priced in a denom other than the receiver's market denom."
)
ErrNotAnInterval = _error(
    8,
    "not a delivery interval",
    "delivery_start is not the start of one of the receiver's delivery intervals.",
)
ErrTooManyOffers = _error(
    9, "too many open offers", "The channel already has max_open_offers offers waiting to clear."
)
ErrInsufficientBacking = _error(
    10,
    "insufficient backing",
    "The channel's energy escrow holds less than the buy's max_payment: the vouchers the "
    "offerer spends are not backed here.",
)
ErrTradeNotFound = _error(11, "trade not found", "No inter-microgrid trade with this key.")
ErrInvalidPacketData = _error(
    12, "invalid packet data", "Packet data does not decode as EnergyOfferPacketData."
)
ErrMarketNotConfigured = _error(
    13, "market not configured", "The receiving chain runs no market to enter the offer into."
)
ErrInvalidParams = _error(14, "invalid energy params", "The energy genesis params are invalid.")
