"""What the relayer remembers between runs: the identifiers ``link`` created and
the scan cursors of ``start``, in one JSON file next to the configuration.

    {"type": "mgrid-relayer-state", "version": 1,
     "paths": {"default": {
        "a": {"chain_id": "mg-1", "client_id": "07-tendermint-0",
              "connection_id": "connection-0", "cursor": 1234},
        "b": {...},
        "channels": [{"port": "transfer", "a": "channel-0", "b": "channel-0"}, ...]}}}

``cursor`` is the first height of that chain not yet scanned completely: a
restarted relayer reads blocks from there on, so a packet whose relay was
interrupted is found again (the chains make a second relay a no-op). The file
is replaced atomically (write a temporary file, fsync, rename), so a crash
leaves either the old or the new state, never a torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_TYPE = "mgrid-relayer-state"
STATE_VERSION = 1


class StateError(ValueError):
    """The state file is unreadable or malformed."""


@dataclass(slots=True)
class EndState:
    """One chain's end of a path."""

    chain_id: str = ""
    client_id: str = ""  # the client of the *other* chain, hosted on this one
    connection_id: str = ""
    cursor: int = 0  # next height to scan; 0: not started

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "client_id": self.client_id,
            "connection_id": self.connection_id,
            "cursor": self.cursor,
        }

    @classmethod
    def from_json(cls, data: Any) -> EndState:
        if not isinstance(data, dict):
            raise StateError(f"an end of a path must be an object, got {data!r:.80}")
        try:
            return cls(
                chain_id=str(data.get("chain_id", "")),
                client_id=str(data.get("client_id", "")),
                connection_id=str(data.get("connection_id", "")),
                cursor=int(data.get("cursor", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise StateError(f"malformed end of a path: {exc}") from None


@dataclass(slots=True)
class ChannelState:
    port: str
    a: str = ""  # channel id on chain a
    b: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"port": self.port, "a": self.a, "b": self.b}


@dataclass(slots=True)
class PathState:
    a: EndState = field(default_factory=EndState)
    b: EndState = field(default_factory=EndState)
    channels: list[ChannelState] = field(default_factory=list)

    def end(self, side: str) -> EndState:
        return self.a if side == "a" else self.b

    def channel(self, port: str) -> ChannelState:
        """The record of the channel on ``port``, created empty if absent."""
        for ch in self.channels:
            if ch.port == port:
                return ch
        ch = ChannelState(port)
        self.channels.append(ch)
        return ch

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.a.to_json(),
            "b": self.b.to_json(),
            "channels": [c.to_json() for c in self.channels],
        }

    @classmethod
    def from_json(cls, data: Any) -> PathState:
        if not isinstance(data, dict):
            raise StateError("a path's state must be an object")
        channels = []
        for item in data.get("channels") or []:
            if not isinstance(item, dict) or not isinstance(item.get("port"), str):
                raise StateError(f"malformed channel record {item!r:.80}")
            channels.append(
                ChannelState(item["port"], str(item.get("a", "")), str(item.get("b", "")))
            )
        return cls(
            EndState.from_json(data.get("a", {})), EndState.from_json(data.get("b", {})), channels
        )


class StateFile:
    """The state file of one configuration; ``save`` is atomic and thread-safe."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.paths: dict[str, PathState] = {}
        self._lock = threading.Lock()
        self.load()

    def load(self) -> None:
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            self.paths = {}
            return
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise StateError(f"{self.path} is not JSON: {exc}") from None
        if not isinstance(doc, dict) or doc.get("type") != STATE_TYPE:
            raise StateError(f"{self.path} is not a relayer state file")
        if doc.get("version") != STATE_VERSION:
            raise StateError(f"{self.path}: unsupported version {doc.get('version')!r}")
        paths = doc.get("paths") or {}
        if not isinstance(paths, dict):
            raise StateError(f"{self.path}: paths must be an object")
        self.paths = {str(k): PathState.from_json(v) for k, v in paths.items()}

    def path_state(self, name: str) -> PathState:
        if name not in self.paths:
            self.paths[name] = PathState()
        return self.paths[name]

    def save(self) -> None:
        with self._lock:
            doc = {
                "type": STATE_TYPE,
                "version": STATE_VERSION,
                "paths": {k: v.to_json() for k, v in sorted(self.paths.items())},
            }
            write_atomic(self.path, json.dumps(doc, indent=2) + "\n")


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temporary file in the same directory, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
