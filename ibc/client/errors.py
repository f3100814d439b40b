"""Errors of the CometBFT light client (ICS-07).

Every way a header, a validator set, a commit or a misbehaviour submission
can be wrong is reported as a :class:`ClientError` (or one of its
subclasses), so the client keeper needs exactly one ``except`` to turn it
into an ABCI error. Messages name the failed check and, where two values are
compared, show both.
"""

from __future__ import annotations


class ClientError(ValueError):
    """A light client check failed, or its input is malformed."""


class ErrInvalidClientState(ClientError):
    """The client state's parameters are out of range."""


class ErrInvalidHeader(ClientError):
    """A header, commit or validator set is malformed or inconsistent."""


class ErrFrozen(ClientError):
    """The client was frozen by misbehaviour; it accepts no more updates."""


class ErrExpired(ClientError):
    """The trusted consensus state is older than the trusting period."""


class ErrInsufficientPower(ClientError):
    """The valid signatures of a commit carry too little voting power."""


class ErrInvalidSignature(ClientError):
    """A commit signature does not verify against its validator's key."""


class ErrMisbehaviour(ClientError):
    """A misbehaviour submission is invalid or shows no misbehaviour."""


def short_hex(data: bytes, limit: int = 32) -> str:
    """Upper-case hex (as CometBFT prints hashes), truncated for messages."""
    if not data:
        return "(empty)"
    if len(data) <= limit:
        return data.hex().upper()
    return f"{data[:limit].hex().upper()}...({len(data)} bytes)"
