"""Starting, watching and stopping the processes of a localnet.

Processes are started in their own session (so a Ctrl-C in the terminal
that ran ``up`` does not reach them, and each is the leader of its own
process group), with stdout and stderr appended to a log file. They are
only ever signalled by the pid recorded when they were started, and only
after checking that the pid still belongs to that process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from localnet.layout import Process

PROC = Path("/proc")
TERM_TIMEOUT = 10.0
KILL_TIMEOUT = 5.0
POLL_INTERVAL = 0.1

# Children started by this Python process, so they can be reaped (a zombie
# child would otherwise look alive to the /proc check).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from field 3 (state) on, or None if there is no such pid."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    return raw[raw.rfind(")") + 2 :].split()


def start_time_of(pid: int) -> int | None:
    """The kernel start time of ``pid`` (field 22 of /proc/<pid>/stat), if known."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def is_alive(proc: Process) -> bool:
    """True while the recorded process runs (a zombie or a reused pid counts as gone)."""
    child = _children.get(proc.pid)
    if child is not None:
        return child.poll() is None
    if PROC.is_dir():
        fields = _stat_fields(proc.pid)
        if fields is None or fields[0] in ("Z", "X", "x"):
            return False
        return proc.start_time is None or start_time_of(proc.pid) == proc.start_time
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now has this pid
    return True


def spawn(
    argv: list[str], log_path: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> Process:
    """Start ``argv`` in a new session with its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.write(f"\n=== localnet: {stamp} starting: {' '.join(argv)}\n".encode())
        log.flush()
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    _children[child.pid] = child
    return Process(pid=child.pid, start_time=start_time_of(child.pid), argv=list(argv))


def exit_status(proc: Process) -> int | None:
    """The exit status of a process this Python process started and that has exited."""
    child = _children.get(proc.pid)
    return child.poll() if child is not None else None


def send_signal(proc: Process, sig: signal.Signals) -> bool:
    """Signal the process (and its process group, which it leads); False if it was gone."""
    if not is_alive(proc):
        return False
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(procs: Iterable[Process], timeout: float) -> list[Process]:
    """Wait up to ``timeout`` seconds for the processes to exit; return those still alive."""
    alive = [p for p in procs if is_alive(p)]
    deadline = time.monotonic() + timeout
    while alive and time.monotonic() < deadline:
        time.sleep(POLL_INTERVAL)
        alive = [p for p in alive if is_alive(p)]
    return alive


def terminate(
    procs: Iterable[Process], timeout: float = TERM_TIMEOUT, kill_timeout: float = KILL_TIMEOUT
) -> list[Process]:
    """SIGTERM the processes, SIGKILL those alive after ``timeout``; return any that survive."""
    signalled = [p for p in procs if send_signal(p, signal.SIGTERM)]
    stubborn = wait_gone(signalled, timeout)
    for proc in stubborn:
        send_signal(proc, signal.SIGKILL)
    return wait_gone(stubborn, kill_timeout)


def port_free(host: str, port: int) -> bool:
    """True if a server could bind ``host:port`` now (as CometBFT's listeners do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _listening_ports() -> set[int] | None:
    """Local TCP ports in LISTEN state, from /proc/net/tcp{,6}; None without /proc."""
    ports: set[int] = set()
    found = False
    for name in ("tcp", "tcp6"):
        try:
            lines = (PROC / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports if found else None


def is_listening(host: str, port: int) -> bool:
    """True once a server listens on ``port``.

    Reads /proc/net/tcp where it exists rather than connecting, so an ABCI
    app does not see a stray connection; elsewhere it tries to connect.
    """
    ports = _listening_ports()
    if ports is not None:
        return port in ports
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ('' if it cannot be read)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
