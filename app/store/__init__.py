"""Authenticated, versioned key-value store: all consensus state, with a
sparse Merkle root as the app hash and ICS-23 proofs (DESIGN.md section 3,
"State" and "Crash safety").

See app/store/README.md for the on-disk layout, versioning and pruning.
"""

from app.store.errors import ProofUnavailable, StoreError, VersionNotAvailable
from app.store.store import Store

__all__ = ["ProofUnavailable", "Store", "StoreError", "VersionNotAvailable"]
