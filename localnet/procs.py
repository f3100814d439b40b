"""Starting, watching and stopping the processes of a localnet.

Processes are started in their own session (so a Ctrl-C in the terminal
that ran ``up`` does not reach them, and each is the leader of its own
process group), with stdout and stderr appended to a log file. They are
only ever signalled by the pid recorded when they were started, and only
after checking that the pid still belongs to that process.

A process may run in a named network namespace (``ip netns exec NS
argv``, which execs ``argv`` in place, so the recorded pid is the program's
own). Port checks then look inside that namespace: a bind is tried from a
thread that has joined the namespace, and listening sockets are read from
``/proc/<pid>/net/tcp``, which shows the namespace of ``pid``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from localnet.errors import LocalnetError
from localnet.layout import Process

PROC = Path("/proc")
NETNS_DIR = Path("/run/netns")  # where `ip netns add` mounts named namespaces
CLONE_NEWNET = 0x40000000  # <sched.h>; os.CLONE_NEWNET only exists from Python 3.12

T = TypeVar("T")
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


def ip_binary() -> str:
    """iproute2's ``ip``, which is often in /usr/sbin, outside a user's PATH.

    Raises:
        LocalnetError: it is not installed.
    """
    found = shutil.which("ip") or next(
        (str(p) for p in (Path("/usr/sbin/ip"), Path("/sbin/ip")) if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise LocalnetError("iproute2's `ip` is not installed (apt-get install iproute2)")
    return found


def netns_argv(namespace: str, argv: list[str]) -> list[str]:
    """``argv`` run inside the named network namespace (``ip netns exec`` execs it in place)."""
    return [ip_binary(), "netns", "exec", namespace, *argv]


def spawn(
    argv: list[str],
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    netns: str | None = None,
) -> Process:
    """Start ``argv`` in a new session with its output appended to ``log_path``.

    With ``netns``, the program runs inside that network namespace; the
    returned pid is still the program's own.
    """
    if netns is not None:
        argv = netns_argv(netns, argv)
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


def in_netns(namespace: str, work: Callable[[], T]) -> T:
    """Run ``work`` in the named network namespace and return its result.

    setns(2) moves only the calling thread, so ``work`` runs in a fresh
    thread that joins the namespace and ends afterwards; sockets it opens
    stay in that namespace. Nothing else of this process moves.

    Raises:
        LocalnetError: the namespace does not exist or cannot be joined.
    """
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            fd = os.open(NETNS_DIR / namespace, os.O_RDONLY)
        except OSError as exc:
            failure.append(
                LocalnetError(f"network namespace {namespace} is not there ({exc.strerror})")
            )
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                failure.append(
                    LocalnetError(
                        f"cannot join network namespace {namespace}: {os.strerror(err)} "
                        "(this needs root)"
                    )
                )
                return
        finally:
            os.close(fd)
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _bind_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_free(host: str, port: int, netns: str | None = None) -> bool:
    """True if a server could bind ``host:port`` now (as CometBFT's listeners do).

    With ``netns``, the bind is tried inside that network namespace.
    """
    if netns is None:
        return _bind_free(host, port)
    return in_netns(netns, lambda: _bind_free(host, port))


def netns_inode(namespace: str) -> int | None:
    """The inode identifying the named network namespace, or None if it does not exist."""
    try:
        return os.stat(NETNS_DIR / namespace).st_ino
    except OSError:
        return None


def netns_inode_of(pid: int) -> int | None:
    """The inode of the network namespace process ``pid`` is in (None if it is gone)."""
    try:
        return os.stat(PROC / str(pid) / "ns" / "net").st_ino
    except OSError:
        return None


def _listening_ports(pid: int | None = None) -> set[int] | None:
    """Local TCP ports in LISTEN state in the network namespace of ``pid`` (default: ours).

    Read from /proc/[pid/]net/tcp{,6}; None without /proc.
    """
    ports: set[int] = set()
    found = False
    net = PROC / (str(pid) if pid is not None else "self") / "net"
    for name in ("tcp", "tcp6"):
        try:
            lines = (net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == "0A":  # TCP_LISTEN
                ports.add(int(parts[1].rsplit(":", 1)[1], 16))
    return ports if found else None


def is_listening(host: str, port: int, pid: int | None = None, netns: str | None = None) -> bool:
    """True once a server listens on ``port``.

    Reads /proc/net/tcp where it exists rather than connecting, so an ABCI
    app does not see a stray connection; elsewhere it tries to connect.
    With ``pid``, looks in that process's network namespace; with ``netns``
    too, only once ``pid`` has entered that namespace (``ip netns exec``
    joins it just before it execs the program, and until then the port
    table seen is this namespace's, where another network may hold the port).
    """
    if netns is not None:
        if pid is None:
            raise ValueError("is_listening: netns needs the pid of a process inside it")
        expected = netns_inode(netns)
        if expected is None or netns_inode_of(pid) != expected:
            return False
    ports = _listening_ports(pid)
    if ports is not None:
        return port in ports
    if netns is not None:
        return False
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
