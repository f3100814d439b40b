"""The one exception type of the ICS-23 commitment proof verifier.

Every way a proof can be wrong (malformed, not matching its ProofSpec, proving
another key or value, hashing to another root, neighbours not adjacent) is
reported as a :class:`ProofError`, so callers need exactly one ``except``.
"""

from __future__ import annotations


class ProofError(ValueError):
    """An ICS-23 proof (or one of its operations) is invalid.

    The message names the check that failed and, where there are two values
    to compare, shows both.
    """


def short_hex(data: bytes, limit: int = 48) -> str:
    """Render bytes as hex for error messages, truncating long values.

    Values in proofs can be large; an error message must stay readable.
    """
    if len(data) <= limit:
        return data.hex() if data else "(empty)"
    return f"{data[:limit].hex()}...({len(data)} bytes)"
