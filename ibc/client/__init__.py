"""ICS-02/ICS-07: the light client of a CometBFT chain, as pure functions.

- :mod:`ibc.client.hashing`: CometBFT v0.38 header hash, validator set hash,
  vote sign bytes, RFC-6962 Merkle root;
- :mod:`ibc.client.tendermint`: client state validation, header (update)
  verification, misbehaviour checks, expiry;
- :mod:`ibc.client.rpc`: CometBFT RPC JSON (``/commit``, ``/validators``)
  to and from the protos an update carries;
- :mod:`ibc.client.errors`: :class:`ClientError` and its subclasses.

Nothing here touches a store; the client keeper (``ibc.client.keeper``)
stores client and consensus states and calls these functions.
"""

from .errors import (
    ClientError,
    ErrExpired,
    ErrFrozen,
    ErrInsufficientPower,
    ErrInvalidClientState,
    ErrInvalidHeader,
    ErrInvalidSignature,
    ErrMisbehaviour,
)
from .tendermint import (
    DEFAULT_TRUST_LEVEL,
    check_misbehaviour,
    consensus_state_from_header,
    is_expired,
    validate_client_state,
    verify_header,
)

__all__ = [
    "DEFAULT_TRUST_LEVEL",
    "ClientError",
    "ErrExpired",
    "ErrFrozen",
    "ErrInsufficientPower",
    "ErrInvalidClientState",
    "ErrInvalidHeader",
    "ErrInvalidSignature",
    "ErrMisbehaviour",
    "check_misbehaviour",
    "consensus_state_from_header",
    "is_expired",
    "validate_client_state",
    "verify_header",
]
