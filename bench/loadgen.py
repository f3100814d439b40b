"""An open-loop load generator and a closed-loop reader for CometBFT's RPC.

Open loop: transactions are signed before the clock starts and their HTTP
requests (``broadcast_tx_async``, JSON-RPC over HTTP/1.1 keep-alive) are
encoded to bytes in advance. Transaction i is due at ``start + i / rate``;
one scheduler wakes every millisecond or so, writes every due request to its
connection and notes the time. Writes never wait for answers (requests are
pipelined; a reader task per connection drains the answers), so a slow node
makes latencies grow instead of slowing the offered load, which is what
"open loop" means and what CometBFT's own QA measures.

Each transaction belongs to a connection chosen by its sender, so one
account's transactions reach one node in sequence order. Connections are
spread round-robin over the nodes.

Closed loop: ``read`` runs K workers, each sending one query and waiting for
its answer before the next, for a fixed time; it reports the rate and the
latency of each answer.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TICK_S = 0.001


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        if not parts.hostname or not parts.port:
            raise ValueError(f"expected http://host:port, got {url!r}")
        return cls(parts.hostname, parts.port)


def broadcast_request(endpoint: Endpoint, tx: bytes, request_id: int) -> bytes:
    """The complete HTTP request that submits ``tx`` with ``broadcast_tx_async``."""
    body = b'{"jsonrpc":"2.0","id":%d,"method":"broadcast_tx_async","params":{"tx":"%s"}}' % (
        request_id,
        base64.b64encode(tx),
    )
    return (
        b"POST / HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (endpoint.host.encode(), endpoint.port, len(body))
    ) + body


def get_request(endpoint: Endpoint, target: str) -> bytes:
    return b"GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (
        target.encode(),
        endpoint.host.encode(),
        endpoint.port,
    )


class _Responses:
    """Splits an HTTP/1.1 response stream (Content-Length framed) into bodies."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return out
            head = bytes(self.buf[:head_end])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buf) < end:
                return out
            status = int(head.split(b" ", 2)[1])
            out.append((status, bytes(self.buf[head_end + 4 : end])))
            del self.buf[:end]


@dataclass
class SendResult:
    """What one open-loop run sent: per transaction, the time its request was written."""

    sent_at: list[float]
    started: float
    finished: float
    drained: float = 0.0
    answered: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(1 for t in self.sent_at if t > 0)


class _Conn:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.pending: list[bytes] = []
        self.expected = 0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.endpoint.host, self.endpoint.port
        )


async def _drain_answers(conn: _Conn, result: SendResult, stop: asyncio.Event) -> None:
    assert conn.reader is not None
    parser = _Responses()
    while not (stop.is_set() and conn.expected == 0):
        try:
            data = await asyncio.wait_for(conn.reader.read(1 << 16), timeout=0.5)
        except TimeoutError:
            continue
        if not data:
            return
        for status, body in parser.feed(data):
            conn.expected -= 1
            result.answered += 1
            if status != 200 or b'"error"' in body:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(body[:300].decode(errors="replace"))


async def _send(
    requests: Sequence[bytes],
    conn_of: Sequence[int],
    endpoints: Sequence[Endpoint],
    rate: float,
    answer_wait: float,
) -> SendResult:
    conns = [_Conn(ep) for ep in endpoints]
    await asyncio.gather(*(c.open() for c in conns))
    n = len(requests)
    result = SendResult(sent_at=[0.0] * n, started=0.0, finished=0.0)
    stop = asyncio.Event()
    readers = [asyncio.create_task(_drain_answers(c, result, stop)) for c in conns]
    clock = time.time
    start = clock()
    result.started = start
    i = 0
    interval = 1.0 / rate if rate > 0 else 0.0
    sent_at = result.sent_at
    while i < n:
        now = clock()
        due = n if interval == 0 else min(n, int((now - start) / interval) + 1)
        if due > i:
            touched: set[_Conn] = set()
            for j in range(i, due):
                c = conns[conn_of[j]]
                c.pending.append(requests[j])
                touched.add(c)
            for c in touched:
                assert c.writer is not None
                c.writer.write(b"".join(c.pending))
                c.expected += len(c.pending)
                c.pending.clear()
            stamp = clock()
            for j in range(i, due):
                sent_at[j] = stamp
            i = due
        if i < n:
            next_due = start + i * interval
            await asyncio.sleep(max(0.0, min(TICK_S, next_due - clock())))
        # let the writers flush into the kernel when their buffers are large
        for c in conns:
            assert c.writer is not None
            transport = c.writer.transport
            if transport.get_write_buffer_size() > 8 << 20:
                await c.writer.drain()
    result.finished = clock()
    stop.set()
    try:
        await asyncio.wait_for(asyncio.gather(*readers), timeout=answer_wait)
    except TimeoutError:
        for task in readers:
            task.cancel()
    result.drained = clock()
    for c in conns:
        assert c.writer is not None
        c.writer.close()
    return result


def send(
    txs: Sequence[bytes],
    conn_of: Sequence[int],
    endpoints: Sequence[Endpoint],
    rate: float,
    *,
    answer_wait: float = 10.0,
) -> SendResult:
    """Send ``txs`` open-loop at ``rate`` per second (0: as fast as possible).

    ``conn_of[i]`` is the connection of ``txs[i]``; connection c goes to
    ``endpoints[c]``. Requests are encoded before the clock starts.
    """
    requests = [
        broadcast_request(endpoints[c], tx, i)
        for i, (tx, c) in enumerate(zip(txs, conn_of, strict=True))
    ]
    return asyncio.run(_send(requests, conn_of, endpoints, rate, answer_wait))


@dataclass
class ReadResult:
    queries: int
    seconds: float
    latencies_s: list[float]
    errors: int
    error_samples: list[str]


async def _read_worker(
    endpoint: Endpoint,
    targets: Sequence[str],
    until: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
    parser = _Responses()
    requests = [get_request(endpoint, t) for t in targets]
    k = 0
    clock = time.time
    try:
        while clock() < until:
            t0 = clock()
            writer.write(requests[k % len(requests)])
            k += 1
            answers: list[tuple[int, bytes]] = []
            while not answers:
                data = await reader.read(1 << 16)
                if not data:
                    raise ConnectionError("node closed the connection")
                answers = parser.feed(data)
            latencies.append(clock() - t0)
            status, body = answers[0]
            if (
                status != 200
                or b'"error"' in body
                or (b'"code":0' not in body and b'"code"' in body)
            ):
                errors.append(body[:300].decode(errors="replace"))
    finally:
        writer.close()


def read(
    endpoints: Sequence[Endpoint], targets: Sequence[str], workers: int, seconds: float
) -> ReadResult:
    """Closed-loop GET requests: ``workers`` at a time, round-robin over ``endpoints``."""

    async def run() -> ReadResult:
        latencies: list[float] = []
        errors: list[str] = []
        start = time.time()
        until = start + seconds
        await asyncio.gather(
            *(
                _read_worker(
                    endpoints[w % len(endpoints)],
                    targets[w::workers] or targets,
                    until,
                    latencies,
                    errors,
                )
                for w in range(workers)
            )
        )
        return ReadResult(len(latencies), time.time() - start, latencies, len(errors), errors[:5])

    return asyncio.run(run())


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles of ``values`` (empty: {})."""
    if not values:
        return {}
    ordered = sorted(values)
    out = {}
    for p in points:
        rank = max(1, -(-p * len(ordered) // 100))
        out[f"p{p}"] = ordered[rank - 1]
    return out


# -- the generator's own ceiling -------------------------------------------------------------


async def _sink(port_holder: list[int], ready: asyncio.Event, done: asyncio.Event) -> None:
    answer = b'{"jsonrpc":"2.0","id":1,"result":{"code":0,"data":"","log":"","codespace":"","hash":"00"}}'
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (
            len(answer),
            answer,
        )
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = bytearray()
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            buf += data
            count = 0
            while True:
                head = buf.find(b"\r\n\r\n")
                if head < 0:
                    break
                length_at = buf.find(b"Content-Length: ", 0, head)
                length = (
                    int(buf[length_at + 16 : buf.find(b"\r\n", length_at)]) if length_at >= 0 else 0
                )
                end = head + 4 + length
                if len(buf) < end:
                    break
                del buf[:end]
                count += 1
            if count:
                writer.write(response * count)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port_holder.append(server.sockets[0].getsockname()[1])
    ready.set()
    async with server:
        await done.wait()


def _serve_sink() -> None:
    """Run a minimal HTTP sink until killed; print its port on stdout first."""

    async def main() -> None:
        ports: list[int] = []
        ready = asyncio.Event()
        task = asyncio.create_task(_sink(ports, ready, asyncio.Event()))
        await ready.wait()
        print(ports[0], flush=True)
        await task

    asyncio.run(main())


def max_send_rate(txs: Sequence[bytes], connections: int, rate: float = 100_000) -> float:
    """Requests per second the generator writes and drains, offered at ``rate``, to a sink
    answering in another process (so the sink's CPU is not the generator's)."""
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", "--sink"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        endpoints = [Endpoint("127.0.0.1", port)] * connections
        conn_of = [i % connections for i in range(len(txs))]
        result = send(txs, conn_of, endpoints, rate, answer_wait=60)
        if result.answered != len(txs):
            raise RuntimeError(f"sink answered {result.answered} of {len(txs)} requests")
        return len(txs) / (result.drained - result.started)
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--sink"]:
        _serve_sink()
