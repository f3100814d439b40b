"""Helpers for tests and benchmarks that run a localnet through its command line.

:class:`LocalnetRunner` drives ``python -m localnet`` in a subprocess (the
interface operators use, so tests exercise exactly it) and offers the waits
a test needs: for a height, for a node to catch up, for the chain to stand
still. Nothing here asserts; callers do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from clients.rpc import RPC, RPCError
from localnet.commands import REPO_ROOT
from localnet.layout import Network
from localnet.status import EXIT_DEGRADED, app_hash_history

POLL_INTERVAL = 0.25


def pid_alive(pid: int) -> bool:
    """True if ``pid`` is a live process (not a zombie); checked via /proc, else kill(0)."""
    stat = Path("/proc") / str(pid) / "stat"
    if Path("/proc").is_dir():
        try:
            raw = stat.read_text()
        except OSError:
            return False
        return raw[raw.rfind(")") + 2 :].split()[0] not in ("Z", "X", "x")
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text`` (Linux /proc only)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


class CommandFailed(AssertionError):
    """A localnet command failed in a test."""


class LocalnetRunner:
    """One localnet under ``home`` driven through ``python -m localnet``."""

    def __init__(
        self,
        home: Path,
        *,
        port_offset: int,
        chain_id: str = "mg-test",
        validators: int = 4,
        block_time: float = 0.5,
        app: str = "kvstore",
        env: dict[str, str] | None = None,
    ):
        self.home = Path(home)
        self.port_offset = port_offset
        self.chain_id = chain_id
        self.validators = validators
        self.block_time = block_time
        self.app = app
        self.env = {**os.environ, **(env or {})}
        self.up_output = ""  # stdout of the last successful `up`
        # The package must be importable whatever the caller's working directory.
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), self.env.get("PYTHONPATH", "")) if p
        )

    # -- commands --------------------------------------------------------------------------

    def run(
        self, *args: str, check: bool = True, timeout: float = 300.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python -m localnet ARGS --home HOME``; raise if it fails and ``check``."""
        argv = [sys.executable, "-m", "localnet", *args, "--home", str(self.home)]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=REPO_ROOT,
            check=False,
        )
        if check and result.returncode != 0:
            raise CommandFailed(
                f"`{' '.join(args)}` exited with {result.returncode}:\n"
                f"{result.stderr}\n{result.stdout}"
            )
        return result

    def up(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = self.run(
            "up",
            "--chain-id",
            self.chain_id,
            "--validators",
            str(self.validators),
            "--port-offset",
            str(self.port_offset),
            "--block-time",
            str(self.block_time),
            "--app",
            self.app,
            check=check,
        )
        if result.returncode == 0:
            self.up_output = result.stdout
        return result

    def down(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("down", check=check)

    def status(self) -> dict[str, Any]:
        """``status --json``'s report, healthy or degraded (exit status 0 or 3)."""
        result = self.run("status", "--json", check=False)
        if result.returncode not in (0, EXIT_DEGRADED):
            raise CommandFailed(f"`status` exited with {result.returncode}:\n{result.stderr}")
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def stop_node(self, index: int) -> None:
        self.run("stop-node", str(index))

    def start_node(self, index: int) -> None:
        self.run("start-node", str(index))

    def kill_app(self, index: int) -> None:
        self.run("kill-app", str(index))

    # -- inspection ------------------------------------------------------------------------

    def network(self) -> Network:
        return Network.load(self.home)

    def recorded_pids(self) -> list[int]:
        """Every pid the state file records (running or not)."""
        if not (self.home / "localnet.json").exists():
            return []
        return [proc.pid for node in self.network().nodes for proc in node.processes.values()]

    def rpc(self, index: int) -> RPC:
        return RPC(self.network().node(index).rpc_url, timeout=3.0)

    def height(self, index: int) -> int | None:
        try:
            return self.rpc(index).latest_height()
        except (RPCError, KeyError, ValueError):
            return None

    def heights(self, nodes: Iterable[int] | None = None) -> dict[int, int | None]:
        indexes = range(self.validators) if nodes is None else nodes
        return {i: self.height(i) for i in indexes}

    def wait_for_height(
        self, height: int, nodes: Iterable[int] | None = None, timeout: float = 60.0
    ) -> dict[int, int | None]:
        """Wait until each of ``nodes`` (default all) is at ``height`` or above."""
        wanted = list(range(self.validators) if nodes is None else nodes)
        deadline = time.monotonic() + timeout
        while True:
            heights = self.heights(wanted)
            if all(h is not None and h >= height for h in heights.values()):
                return heights
            if time.monotonic() > deadline:
                raise CommandFailed(
                    f"nodes {wanted} not at height {height} in {timeout} s: {heights}"
                )
            time.sleep(POLL_INTERVAL)

    def max_height(self, nodes: Iterable[int] | None = None) -> int:
        return max((h for h in self.heights(nodes).values() if h is not None), default=0)

    def app_hash_histories(
        self, first: int, last: int, nodes: Iterable[int] | None = None
    ) -> dict[int, dict[int, str]]:
        """node index -> {height: header app_hash} for blocks ``first..last``."""
        net = self.network()
        wanted = range(self.validators) if nodes is None else nodes
        return {i: app_hash_history(net.node(i).rpc_url, first, last) for i in wanted}
