"""Errors of the ICS-20 transfer application (codespace "transfer").

Registered once as (codespace, code, description), codes only ever added
(app.errors). A transfer refused on the sending chain fails its
transaction with one of these; a packet refused on the receiving chain is
answered with an error acknowledgement whose text carries the error's log.
"""

from __future__ import annotations

from app.errors import ABCIError, register

CODESPACE = "transfer"


def _error(code: int, description: str, doc: str) -> type[ABCIError]:
    cls = register(CODESPACE, code, description)
    cls.__doc__ = doc
    return cls


ErrInvalidPacketTimeout = _error(
    2, "invalid packet timeout", "MsgTransfer sets neither a timeout height nor a timestamp."
)
ErrInvalidDenom = _error(
    3,
    "invalid denomination for cross-chain transfer",
    "A denom or trace is malformed, or a voucher's trace is unknown on this chain.",
)
ErrInvalidVersion = _error(
    4, "invalid ICS-20 version", "A channel handshake proposes a version other than ics20-1."
)
ErrInvalidAmount = _error(
    5, "invalid token amount", "An amount is not a positive decimal integer within range."
)
ErrTraceNotFound = _error(
    6, "denomination trace not found", "No voucher with this hash was ever received here."
)
ErrInvalidReceiver = _error(
    7, "invalid receiver address", "The receiver is not an address of this chain."
)
ErrInvalidPacketData = _error(
    8, "invalid packet data", "Packet data does not decode as FungibleTokenPacketData."
)
ErrInvalidOrdering = _error(
    9, "invalid channel ordering", "ICS-20 channels are unordered; an ordered one was proposed."
)
ErrCloseNotAllowed = _error(
    10, "channel closing not allowed", "Transfer channels cannot be closed (as in ICS-20)."
)
ErrInvalidPort = _error(
    11, "invalid port", "The message names a port other than the transfer port."
)
ErrInvalidMemo = _error(12, "invalid memo", "The memo or the receiver is longer than allowed.")
