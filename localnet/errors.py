"""Errors raised by the localnet tooling.

Every message says what went wrong and what to look at or do next (a log
file, a port, a command), because the reader is an operator at a terminal.
"""

from __future__ import annotations


class LocalnetError(Exception):
    """Base class: the command failed; the message tells the operator why."""


class HomeError(LocalnetError):
    """The localnet home is missing, incomplete or inconsistent with the options given."""


class ConfigError(LocalnetError):
    """A node's config.toml could not be edited as required."""


class PortInUse(LocalnetError):
    """A port the localnet needs is taken by another process."""


class BinaryNotFound(LocalnetError):
    """A program the localnet runs (cometbft, abci-cli, mgridd) is not installed."""


class StartError(LocalnetError):
    """A process exited or the chain did not reach the expected height in time."""
