"""Errors raised by the authenticated store (DESIGN.md section 3, "State").

Callers catch :class:`StoreError` for anything the store refuses; the
subclasses say why, so a query handler can map them to distinct codes.
"""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot do what was asked (bad state, corrupt data, closed)."""


class VersionNotAvailable(StoreError):
    """A version was asked for that is pruned or not committed yet."""

    def __init__(self, version: int, earliest: int, latest: int) -> None:
        super().__init__(
            f"version {version} is not available (available versions: {earliest}..{latest})"
        )
        self.version = version
        self.earliest = earliest
        self.latest = latest


class ProofUnavailable(StoreError):
    """No ICS-23 proof can be built (the tree at that version is empty)."""
