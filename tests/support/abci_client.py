"""Two ways to talk ABCI to the application, behind one interface, so that one
scenario runs both in-process and over the real socket transport."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

from app.abci.server import ABCIServer, answer, frame, split_frames
from app.pb.tendermint.abci import types_pb2 as abci

Handler = Callable[[abci.Request], abci.Response]


class InProcess:
    def __init__(self, handle: Handler):
        self._handle = handle

    def __call__(self, request: abci.Request) -> abci.Response:
        return answer(self._handle, request)

    def close(self) -> None:
        pass


class OverSocket:
    """Runs an ABCIServer on a background event loop and speaks to it like
    CometBFT's socket client: request, then Flush, then read both answers."""

    def __init__(self, handle: Handler, port: int):
        self.loop = asyncio.new_event_loop()
        self.server = ABCIServer(handle, f"tcp://127.0.0.1:{port}")
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = bytearray()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_responses(self, n: int) -> list[abci.Response]:
        out: list[abci.Response] = []
        while len(out) < n:
            for data in split_frames(self.buf):
                out.append(abci.Response.FromString(data))
            if len(out) >= n:
                break
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.buf += chunk
        return out

    def pipeline(self, requests: list[abci.Request]) -> list[abci.Response]:
        """Send many requests and one Flush in a single write; return the answers."""
        payload = b"".join(frame(r.SerializeToString()) for r in requests)
        payload += frame(abci.Request(flush=abci.RequestFlush()).SerializeToString())
        self.send_raw(payload)
        responses = self.read_responses(len(requests) + 1)
        assert responses[-1].WhichOneof("value") == "flush"
        return responses[:-1]

    def __call__(self, request: abci.Request) -> abci.Response:
        return self.pipeline([request])[0]

    def close(self) -> None:
        self.sock.close()
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
