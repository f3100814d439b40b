"""The dashboard's HTTP server: the page, its JSON API and the live block stream.

    server = start_server(Dashboard(Views(rpc), follower), host="127.0.0.1", port=8080)
    print(server.url)
    ...
    server.shutdown()

``Dashboard.answer`` maps an API path to a view and keeps the last answer of
each request for as long as the chain stays at its height: every browser
watching the same view after a block costs the chain one set of queries,
and two requests arriving together wait for one computation. Without a
follower (a bench or a test driving an in-process chain) the height is read
from the node on each request.

``/api/events`` is a Server-Sent Events stream: ``block`` on connecting and
on every block the follower reports, ``node`` when the node is lost or back,
and a comment every ``PING_SECONDS`` so proxies keep it open.
"""

from __future__ import annotations

import json
import mimetypes
import queue
import re
import socket
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from clients.dashboard.follower import Follower
from clients.dashboard.views import BadRequest, NotFound, Views
from clients.mgrid.chain import ChainError
from clients.rpc import NodeUnreachable, RPCError

STATIC = Path(__file__).resolve().parent / "static"
STATIC_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,80}")
PING_SECONDS = 15.0
CACHE_ENTRIES = 256
TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass
class Cached:
    height: int
    body: bytes
    status: int


def _int(params: dict[str, str], name: str, default: int) -> int:
    text = params.get(name, "")
    if not text:
        return default
    if not re.fullmatch(r"-?\d{1,12}", text):
        raise BadRequest(f"{name} must be an integer")
    return int(text)


class Dashboard:
    """The API over ``views``, cached per height (``follower``: where the height comes
    from, and the blocks streamed to the page; None: the node's latest height each time)."""

    def __init__(self, views: Views, follower: Follower | None = None):
        self.views = views
        self.follower = follower
        self._lock = threading.Lock()
        self._cache: dict[str, Cached] = {}
        self._inflight: dict[str, threading.Lock] = {}
        self.routes: dict[str, Callable[[list[str], dict[str, str], int], Any]] = {
            "status": lambda args, q, h: self.views.status(),
            "market": lambda args, q, h: self.views.market(h),
            "intervals": lambda args, q, h: self.views.intervals(_int(q, "limit", 96), h),
            "interval": lambda args, q, h: self.views.interval(self._id(args), h),
            "network": lambda args, q, h: self.views.network(h),
            "participants": lambda args, q, h: self.views.participants(
                _int(q, "offset", 0), _int(q, "limit", 50), q.get("q", ""), q.get("sort", "rank"), h
            ),
            "participant": lambda args, q, h: self.views.participant(self._arg(args), h),
            "chain": lambda args, q, h: self.views.chain(),
            "ibc": lambda args, q, h: self.views.ibc(h),
            "grid": lambda args, q, h: self.views.grid(h),
        }

    @staticmethod
    def _arg(args: list[str]) -> str:
        if len(args) != 1 or not args[0]:
            raise NotFound("expected one path segment after the view's name")
        return args[0]

    def _id(self, args: list[str]) -> int:
        text = self._arg(args)
        if not text.isdigit() or len(text) > 19:
            raise BadRequest(f"{text!r:.40} is not an interval id")
        return int(text)

    def height(self) -> int:
        if self.follower is not None and self.follower.height:
            return self.follower.height
        return self.views.height()

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        """(HTTP status, JSON body) for ``/api/<path>``."""
        name, *args = path.split("/")
        route = self.routes.get(name)
        if route is None:
            return _error(HTTPStatus.NOT_FOUND, f"no API {name!r:.40}")
        key = path + "?" + urllib.parse.urlencode(sorted(params.items()))
        try:
            height = self.height()
        except (RPCError, ChainError) as exc:
            return _error(HTTPStatus.BAD_GATEWAY, str(exc))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit.height == height:
                return hit.status, hit.body
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:  # one computation per request and height; the others wait for it
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None and hit.height == height:
                    return hit.status, hit.body
            status, body = self._compute(route, args, params, height)
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                if status in (HTTPStatus.OK, HTTPStatus.NOT_FOUND):
                    self._cache[key] = Cached(height, body, status)
            return status, body

    @staticmethod
    def _compute(
        route: Callable[[list[str], dict[str, str], int], Any],
        args: list[str],
        params: dict[str, str],
        height: int,
    ) -> tuple[int, bytes]:
        try:
            return HTTPStatus.OK, json.dumps(route(args, params, height)).encode()
        except BadRequest as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        except NotFound as exc:
            return _error(HTTPStatus.NOT_FOUND, str(exc))
        except NodeUnreachable as exc:
            return _error(HTTPStatus.BAD_GATEWAY, str(exc))
        except (RPCError, ChainError) as exc:
            return _error(HTTPStatus.BAD_GATEWAY, f"the node answered badly: {exc}")


def _error(status: int, text: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": text}).encode()


class Handler(BaseHTTPRequestHandler):
    server: DashboardServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes: without this, Nagle's algorithm holds
        # the body back for the client's delayed ACK, 40 ms per request on a kept-alive
        # connection (the page's).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per error only
        pass

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        if path in ("/", "/index.html"):
            self._file("index.html")
        elif path.startswith("/static/"):
            self._file(path[len("/static/") :])
        elif path == "/api/events":
            self._events()
        elif path.startswith("/api/"):
            params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            status, body = self.server.dashboard.answer(path[len("/api/") :].strip("/"), params)
            self._send(status, "application/json", body, cache=False)
        else:
            status, body = _error(HTTPStatus.NOT_FOUND, f"nothing at {path!r:.60}")
            self._send(status, "application/json", body, cache=False)

    def _send(self, status: int, ctype: str, body: bytes, *, cache: bool) -> None:
        self.send_response(status)
        self.send_header(
            "Content-Type",
            ctype + ("; charset=utf-8" if "json" in ctype or "text" in ctype else ""),
        )
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=60" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _file(self, name: str) -> None:
        target = STATIC / name
        if not STATIC_NAME.fullmatch(name) or not target.is_file():
            status, body = _error(HTTPStatus.NOT_FOUND, f"no file {name!r:.60}")
            self._send(status, "application/json", body, cache=False)
            return
        ctype = (
            TYPES.get(target.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        self._send(HTTPStatus.OK, ctype, target.read_bytes(), cache=False)

    def _events(self) -> None:
        follower = self.server.dashboard.follower
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if follower is None:
            self._write_event("node", {"ok": True, "live": False})
            return
        inbox = follower.subscribe()
        try:
            if follower.last is not None:
                self._write_event("block", follower.last)
            while not self.server.stopping.is_set():
                try:
                    kind, data = inbox.get(timeout=PING_SECONDS)
                except queue.Empty:
                    self.wfile.write(b": ping\n\n")
                    self.wfile.flush()
                    continue
                self._write_event(kind, data)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        finally:
            follower.unsubscribe(inbox)

    def _write_event(self, kind: str, data: dict[str, Any]) -> None:
        self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()


class DashboardServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, dashboard: Dashboard, host: str, port: int):
        self.dashboard = dashboard
        self.stopping = threading.Event()
        super().__init__((host, port), Handler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"http://{host}:{self.port}"

    def start(self) -> DashboardServer:
        if self.dashboard.follower is not None:
            self.dashboard.follower.start()
        self._thread = threading.Thread(
            target=self.serve_forever, name="dashboard-http", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self.stopping.set()
        if self.dashboard.follower is not None:
            self.dashboard.follower.stop()
        super().shutdown()
        self.server_close()


def start_server(dashboard: Dashboard, host: str = "127.0.0.1", port: int = 0) -> DashboardServer:
    """Listen on ``host:port`` (0: any free port) and serve in a background thread."""
    return DashboardServer(dashboard, host, port).start()
