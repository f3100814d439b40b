"""Errors that become ABCI response codes.

Every error a transaction or query can end with is registered once as
(codespace, code, description), as the Cosmos SDK does; codes are only ever
added, never renumbered, because clients and relayers key on them. An
instance carries a detail message for the log, which should say what was
expected and what was found ("sequence mismatch: expected 3, got 4").
"""

from __future__ import annotations

from typing import ClassVar


class ABCIError(Exception):
    """An error with a stable (codespace, code) that clients can act on."""

    codespace: ClassVar[str] = "app"
    code: ClassVar[int] = 1
    description: ClassVar[str] = "internal error"

    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.detail = detail

    @property
    def log(self) -> str:
        return f"{self.description}: {self.detail}" if self.detail else self.description


_REGISTRY: dict[tuple[str, int], type[ABCIError]] = {}


def register(codespace: str, code: int, description: str) -> type[ABCIError]:
    """Create the error class for (codespace, code); registering twice is a bug."""
    if code < 2:
        raise ValueError("codes 0 (ok) and 1 (internal) are reserved")
    if (codespace, code) in _REGISTRY:
        raise ValueError(f"error code {codespace}/{code} registered twice")
    name = "Err" + "".join(w.capitalize() for w in description.replace("-", " ").split())
    cls = type(
        name, (ABCIError,), {"codespace": codespace, "code": code, "description": description}
    )
    _REGISTRY[(codespace, code)] = cls
    return cls


# Errors of the transaction envelope and of requests ("tx" codespace).
ErrTxDecode = register("tx", 2, "tx decode error")
ErrInvalidSequence = register("tx", 3, "invalid sequence")
ErrUnauthorized = register("tx", 4, "unauthorized")
ErrInsufficientFee = register("tx", 5, "insufficient fee")
ErrWrongChainId = register("tx", 6, "wrong chain id")
ErrTxTooLarge = register("tx", 7, "tx too large")
ErrTxTimeout = register("tx", 8, "tx timeout height")
ErrInvalidRequest = register("tx", 9, "invalid request")
ErrUnknownMessage = register("tx", 10, "unknown message")
ErrMemoTooLarge = register("tx", 11, "memo too large")
ErrInvalidAddress = register("tx", 12, "invalid address")
ErrInvalidCoins = register("tx", 13, "invalid coins")
ErrUnknownQuery = register("tx", 14, "unknown query path")
ErrNotFound = register("tx", 15, "not found")
ErrHeightUnavailable = register("tx", 16, "height not available")
