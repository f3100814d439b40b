"""Following the chain: every new block, as soon as CometBFT has it.

The follower holds a websocket to the node (``/websocket``, subscribed to
``tm.event='NewBlock'``) and hands each block to its subscribers (the
page's event streams) as ``("block", {...})``. When the websocket cannot be
opened or drops, it polls ``/status`` every ``poll_seconds`` and tries the
websocket again after ``RETRY_SECONDS``, so a dashboard started before its
node, or one whose node restarts, catches up by itself. Losing and finding
the node are reported as ``("node", {"ok": ...})``.

A subscriber that falls behind (a stalled browser tab) loses the oldest
events rather than holding the follower up: each one only ever needs the
latest block.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from clients.mgrid.chain import ChainError, parse_block_time_ns
from clients.rpc import RPC, RPCError

RETRY_SECONDS = 10.0
QUEUE_SIZE = 32
MAX_MESSAGE = 64 * 2**20  # a NewBlock event carries the block's transactions
Event = tuple[str, dict[str, Any]]


def websocket_url(node: str) -> str:
    """``http://host:26657`` -> ``ws://host:26657/websocket``."""
    base = node.rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://"), ("tcp://", "ws://")):
        if base.startswith(http):
            return ws + base[len(http) :] + "/websocket"
    return "ws://" + base + "/websocket"


def block_event(header: dict[str, Any], txs: int) -> dict[str, Any]:
    ns = parse_block_time_ns(str(header["time"]))
    return {
        "height": int(header["height"]),
        "time": ns // 10**9,
        "time_iso": str(header["time"]),
        "app_hash": str(header.get("app_hash") or ""),
        "txs": txs,
    }


class Follower:
    def __init__(self, rpc: RPC, *, poll_seconds: float = 1.0):
        self.rpc = rpc
        self.poll_seconds = poll_seconds
        self.height = 0
        self.last: dict[str, Any] | None = None
        self.ok: bool | None = None
        self.source = ""  # "websocket" or "polling"
        self._subscribers: set[queue.Queue[Event]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- subscribers ----------------------------------------------------------------------

    def subscribe(self) -> queue.Queue[Event]:
        inbox: queue.Queue[Event] = queue.Queue(QUEUE_SIZE)
        with self._lock:
            self._subscribers.add(inbox)
        return inbox

    def unsubscribe(self, inbox: queue.Queue[Event]) -> None:
        with self._lock:
            self._subscribers.discard(inbox)

    def _broadcast(self, event: Event) -> None:
        with self._lock:
            inboxes = list(self._subscribers)
        for inbox in inboxes:
            while True:
                try:
                    inbox.put_nowait(event)
                    break
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        inbox.get_nowait()

    def publish(self, block: dict[str, Any]) -> None:
        """A block, if it is newer than the last one published."""
        with self._lock:
            if block["height"] <= self.height:
                return
            self.height = block["height"]
            self.last = block
        self._broadcast(("block", block))

    def _node_state(self, ok: bool, error: str = "") -> None:
        if ok == self.ok:
            return
        self.ok = ok
        self._broadcast(("node", {"ok": ok, "error": error}))

    # -- following ------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self.poll_once()  # a height before the first request
            self._thread = threading.Thread(target=self.run, name="dashboard-follower", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(
                OSError, WebSocketException, TimeoutError, ValueError, KeyError
            ):
                self.follow_websocket()
            deadline = time.monotonic() + RETRY_SECONDS
            self.source = "polling"
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.poll_once()
                self._stop.wait(self.poll_seconds)

    def poll_once(self) -> None:
        try:
            status = self.rpc.status()
            sync = status["sync_info"]
            header = {
                "height": sync["latest_block_height"],
                "time": sync["latest_block_time"],
                "app_hash": sync.get("latest_app_hash") or "",
            }
            block = block_event(header, 0)
        except (RPCError, ChainError, KeyError, ValueError, TypeError) as exc:
            self._node_state(False, str(exc))
            return
        self._node_state(True)
        if block["height"] > 0:
            self.publish(block)

    def follow_websocket(self) -> None:
        """Blocks from the node's websocket until it closes or the follower stops."""
        with connect(websocket_url(self.rpc.node), open_timeout=5, max_size=MAX_MESSAGE) as ws:
            ws.send(
                json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "subscribe",
                        "params": {"query": "tm.event='NewBlock'"},
                    }
                )
            )
            self.source = "websocket"
            self.poll_once()  # the block the subscription starts after
            while not self._stop.is_set():
                try:
                    message = ws.recv(timeout=1.0)
                except TimeoutError:
                    continue
                value = ((json.loads(message).get("result") or {}).get("data") or {}).get("value")
                if not value or "block" not in value:
                    continue  # the subscription's acknowledgement
                block = value["block"]
                self._node_state(True)
                self.publish(block_event(block["header"], len(block["data"].get("txs") or [])))
