"""The dashboard's HTTP server and chain follower: API answers and their errors,
the per-height cache, static files, and the live block stream."""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from clients.dashboard.follower import Follower, block_event, websocket_url
from clients.dashboard.server import Dashboard, DashboardServer, start_server
from clients.dashboard.views import Views
from clients.rpc import NodeUnreachable
from tests.clients.dashboard.conftest import World


class Counting:
    """The in-process node, counting the ABCI queries that reach it."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.node = inner.node
        self.queries = 0

    def status(self) -> dict[str, Any]:
        return self.inner.status()

    def abci_query(self, path: str, data: bytes = b"", height: int = 0, prove: bool = False) -> Any:
        self.queries += 1
        return self.inner.abci_query(path, data, height, prove)


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


@pytest.fixture
def served(world: World) -> Iterator[tuple[DashboardServer, Counting]]:
    rpc = Counting(world.node)
    server = start_server(Dashboard(Views(rpc)), port=0)
    yield server, rpc
    server.shutdown()


def test_api_answers_json_at_the_chains_height(world: World, served: Any) -> None:
    server, _ = served
    status, ctype, body = get(server.url + "/api/status")
    assert status == 200 and ctype.startswith("application/json")
    out = json.loads(body)
    assert out["height"] == world.node.height and out["denom"] == "ugrid"
    status, _, body = get(f"{server.url}/api/interval/{world.settled}")
    assert status == 200 and json.loads(body)["interval"]["id"] == world.settled


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/nothing", 404),
        ("/api/interval/abc", 400),
        ("/api/interval/1", 404),
        ("/api/interval", 404),
        ("/api/participant/mg1zzz", 400),
        ("/api/participants?limit=x", 400),
        ("/api/participants?limit=100000", 400),
        ("/api/intervals?limit=0", 400),
        ("/somewhere", 404),
    ],
)
def test_bad_requests_get_a_clear_json_error(served: Any, path: str, code: int) -> None:
    server, _ = served
    status, ctype, body = get(server.url + path)
    assert status == code and ctype.startswith("application/json")
    assert json.loads(body)["error"]


def test_a_second_request_at_the_same_height_costs_the_chain_nothing(served: Any) -> None:
    server, rpc = served
    assert get(server.url + "/api/intervals")[0] == 200
    before = rpc.queries
    assert get(server.url + "/api/intervals")[0] == 200
    assert rpc.queries == before


def test_a_new_block_is_read_again(world: World, served: Any) -> None:
    server, rpc = served
    first = json.loads(get(server.url + "/api/market")[2])
    world.node.commit_block()
    before = rpc.queries
    second = json.loads(get(server.url + "/api/market")[2])
    assert second["height"] == first["height"] + 1 and rpc.queries > before


def test_the_page_and_only_its_own_files_are_served(served: Any) -> None:
    server, _ = served
    status, ctype, body = get(server.url + "/")
    assert status == 200 and ctype.startswith("text/html") and b"<html" in body.lower()
    assert get(server.url + "/static/app.js")[1].startswith("text/javascript")
    for path in ("/static/../views.py", "/static/%2e%2e/views.py", "/static/.hidden", "/static/x"):
        assert get(server.url + path)[0] == 404


def test_a_node_that_does_not_answer_is_a_bad_gateway(world: World) -> None:
    class Down:
        node = "http://127.0.0.1:9"

        def status(self) -> dict[str, Any]:
            raise NodeUnreachable("no node at http://127.0.0.1:9")

        def abci_query(self, *a: Any, **k: Any) -> Any:
            raise NodeUnreachable("no node at http://127.0.0.1:9")

    server = start_server(Dashboard(Views(Down())), port=0)
    try:
        status, _, body = get(server.url + "/api/market")
        assert status == 502 and "no node" in json.loads(body)["error"]
    finally:
        server.shutdown()


# -- following the chain ------------------------------------------------------------------


class FakeRPC:
    node = "http://127.0.0.1:26657"

    def __init__(self) -> None:
        self.height = 5
        self.up = True

    def status(self) -> dict[str, Any]:
        if not self.up:
            raise NodeUnreachable("down")
        return {
            "sync_info": {
                "latest_block_height": str(self.height),
                "latest_block_time": "2026-11-21T12:00:00.5Z",
                "latest_app_hash": "AB",
            }
        }


def block(height: int) -> dict[str, Any]:
    return block_event({"height": str(height), "time": "2026-11-21T12:00:00Z"}, 0)


def test_websocket_url_of_a_node() -> None:
    assert websocket_url("http://127.0.0.1:26657/") == "ws://127.0.0.1:26657/websocket"
    assert websocket_url("https://n.example:443") == "wss://n.example:443/websocket"
    assert websocket_url("tcp://h:1") == "ws://h:1/websocket"


def test_follower_publishes_only_newer_blocks_to_every_subscriber() -> None:
    f = Follower(FakeRPC())  # type: ignore[arg-type]
    a, b = f.subscribe(), f.subscribe()
    f.publish(block(7))
    f.publish(block(6))  # older: ignored
    f.publish(block(8))
    for inbox in (a, b):
        assert [inbox.get_nowait()[1]["height"] for _ in range(2)] == [7, 8]
        assert inbox.empty()
    f.unsubscribe(a)
    f.publish(block(9))
    assert a.empty() and b.get_nowait()[1]["height"] == 9


def test_a_slow_subscriber_loses_the_oldest_blocks_not_the_newest() -> None:
    f = Follower(FakeRPC())  # type: ignore[arg-type]
    inbox = f.subscribe()
    for h in range(1, 100):
        f.publish(block(h))
    heights = []
    while True:
        try:
            heights.append(inbox.get_nowait()[1]["height"])
        except queue.Empty:
            break
    assert heights[-1] == 99 and len(heights) < 99


def test_polling_reports_the_node_lost_and_found() -> None:
    rpc = FakeRPC()
    f = Follower(rpc)  # type: ignore[arg-type]
    inbox = f.subscribe()
    f.poll_once()
    rpc.up = False
    f.poll_once()
    rpc.up, rpc.height = True, 6
    f.poll_once()
    events = [inbox.get_nowait() for _ in range(5)]
    assert [e[0] for e in events] == ["node", "block", "node", "node", "block"]
    assert [e[1].get("ok") for e in events if e[0] == "node"] == [True, False, True]
    assert events[-1][1]["height"] == 6 and f.height == 6


def test_the_event_stream_carries_each_block(world: World) -> None:
    f = Follower(FakeRPC())  # type: ignore[arg-type]
    f.publish(block(5))
    server = DashboardServer(Dashboard(Views(world.node), f), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        with urllib.request.urlopen(server.url + "/api/events", timeout=10) as resp:
            lines.put(resp.headers["Content-Type"])
            try:
                for raw in resp:
                    lines.put(raw.decode().rstrip("\n"))
            except OSError:  # the server went away at the end of the test
                pass

    threading.Thread(target=read, daemon=True).start()
    try:
        assert lines.get(timeout=5) == "text/event-stream"
        assert lines.get(timeout=5) == "event: block"
        assert json.loads(lines.get(timeout=5).removeprefix("data: "))["height"] == 5
        assert lines.get(timeout=5) == ""
        f.publish(block(6))
        assert lines.get(timeout=5) == "event: block"
        assert json.loads(lines.get(timeout=5).removeprefix("data: "))["height"] == 6
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
