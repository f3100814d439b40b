"""The programs a localnet runs and their command lines.

Binaries are found as ``<repo>/bin/<name>`` (installed there by ``make
install``) unless an environment variable names them: ``COMETBFT``,
``ABCI_CLI``, ``MGRIDD``. ``mgridd`` is the console script of this package,
looked up next to the running Python first.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from localnet.errors import BinaryNotFound, HomeError, LocalnetError
from localnet.layout import APP_HOST, Network, Node

REPO_ROOT = Path(__file__).resolve().parent.parent


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _from_env_or(env_var: str, candidates: list[Path], name: str, hint: str) -> str:
    override = os.environ.get(env_var)
    if override:
        found = shutil.which(override)
        if not found:
            raise BinaryNotFound(f"{env_var}={override} is not an executable")
        return found
    for candidate in candidates:
        if _executable(candidate):
            return str(candidate)
    tried = ", ".join(str(c) for c in candidates)
    raise BinaryNotFound(f"{name} not found (looked at {tried}): {hint}, or set {env_var}")


def cometbft_binary() -> str:
    return _from_env_or(
        "COMETBFT", [REPO_ROOT / "bin" / "cometbft"], "cometbft", "run `make install`"
    )


def abci_cli_binary() -> str:
    return _from_env_or(
        "ABCI_CLI", [REPO_ROOT / "bin" / "abci-cli"], "abci-cli", "run `make install`"
    )


def mgridd_binary() -> str:
    candidates = [Path(sys.executable).parent / "mgridd", REPO_ROOT / ".venv" / "bin" / "mgridd"]
    on_path = shutil.which("mgridd")
    if on_path:
        candidates.append(Path(on_path))
    return _from_env_or("MGRIDD", candidates, "mgridd", "run `make install`")


def app_argv(network: Network, node: Node) -> list[str]:
    """Command line of the ABCI app of ``node``."""
    home = network.node_home(node)
    abci = f"tcp://{APP_HOST}:{node.ports.abci}"
    if network.app == "mgrid":
        grpc = f"{network.listen_host}:{node.ports.grpc}"
        metrics = f"{network.listen_host}:{node.ports.metrics}"
        return [
            mgridd_binary(), "start", "--home", str(home),
            "--abci", abci, "--grpc", grpc, "--metrics", metrics,
        ]  # fmt: skip
    if network.app == "kvstore":
        return [
            abci_cli_binary(),
            "kvstore",
            "--address",
            abci,
            "--persist",
            str(home / "data" / "kvstore"),
            "--log_level",
            "info",
        ]
    raise HomeError(f"unknown app {network.app!r} in {network.state_path}")


def cometbft_argv(network: Network, node: Node) -> list[str]:
    """Command line of the CometBFT node ``node``."""
    return [cometbft_binary(), "start", "--home", str(network.node_home(node))]


def run_cometbft(*args: str) -> str:
    """Run a one-shot cometbft command and return its stdout.

    Raises:
        LocalnetError: the command failed (its output is in the message).
    """
    argv = [cometbft_binary(), *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        raise LocalnetError(
            f"`{' '.join(argv)}` failed with exit code {result.returncode}:\n"
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout
