"""ICS-23 commitment proofs (cosmos/ics23 format): specs and verification.

The public API lives in :mod:`ibc.commitment.ics23` and is re-exported here.
"""

from .ics23 import (
    IAVL_SPEC,
    SMT_SPEC,
    SPECS,
    TENDERMINT_SPEC,
    ProofError,
    calculate_root,
    check_existence_against_spec,
    compress,
    decompress,
    verify_existence,
    verify_membership,
    verify_non_existence,
    verify_non_membership,
)

__all__ = [
    "IAVL_SPEC",
    "SMT_SPEC",
    "SPECS",
    "TENDERMINT_SPEC",
    "ProofError",
    "calculate_root",
    "check_existence_against_spec",
    "compress",
    "decompress",
    "verify_existence",
    "verify_membership",
    "verify_non_existence",
    "verify_non_membership",
]
