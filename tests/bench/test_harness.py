"""The benchmark harness's own arithmetic: what it measures must be measured right.

No timings are asserted; these check parsing, percentiles, the committed-rate
and ratio rules, and that the open-loop sender delivers every request in
order to a real local HTTP server.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from bench import loadgen, system
from bench.loadgen import Endpoint, percentiles


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    assert percentiles([]) == {}


def test_responses_split_pipelined_and_partial() -> None:
    parser = loadgen._Responses()
    one = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    two = b"HTTP/1.1 500 Internal\r\ncontent-length: 3\r\n\r\nbad"
    stream = one + two
    assert parser.feed(stream[:10]) == []
    assert parser.feed(stream[10:-1]) == [(200, b"ok")]
    assert parser.feed(stream[-1:]) == [(500, b"bad")]


def test_broadcast_request_is_valid_http_with_json_body() -> None:
    req = loadgen.broadcast_request(Endpoint("127.0.0.1", 26657), b"\x00\xff", 7)
    head, _, body = req.partition(b"\r\n\r\n")
    assert head.startswith(b"POST / HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == (
        b'{"jsonrpc":"2.0","id":7,"method":"broadcast_tx_async","params":{"tx":"AP8="}}'
    )


def test_parse_time_keeps_nanoseconds() -> None:
    t = system.parse_time("2026-11-21T12:00:00.123456789Z")
    assert t == pytest.approx(1_795_262_400.123456789, abs=1e-6)
    assert system.parse_time("2026-11-21T12:00:00Z") == 1_795_262_400.0


def test_ratios_are_app_over_kvstore() -> None:
    def workload(tps: float, p50: float, qps: float) -> dict:
        return {
            "saturation_tps": tps,
            "latency": [
                {"load_fraction": 0.25, "latency_ms": {"p50": 1.0}},
                {"load_fraction": 0.5, "latency_ms": {"p50": p50}},
            ],
            "reads": {"qps": qps},
        }

    got = system.ratios(
        {"kvstore": workload(2000, 1000, 5000), "orders": workload(1600, 1100, 2500)}
    )
    assert got == {"orders": {"saturation_tps": 0.8, "p50_at_half": 1.1, "read_qps": 0.5}}
    assert system.ratios({"orders": workload(1, 1, 1)}) == {}


def test_accounts_are_never_reused_across_runs() -> None:
    accounts = system.Accounts(40)
    opts = system.Options(connections=4)
    a = accounts.take(system._accounts_for(2000, opts))
    b = accounts.take(system._accounts_for(10, opts))
    assert len(a) == 5 and len(b) == 4
    assert not {k.address for k in a} & {k.address for k in b}
    with pytest.raises(RuntimeError, match="lower the rates"):
        accounts.take(100)


def test_signed_txs_have_consecutive_sequences_per_sender_on_one_connection() -> None:
    from app.tx import codec

    accounts = system.Accounts(8)
    source = system.TxSource("transfers", "bench", accounts, 0)
    txs, conn_of = source.make(20, system.Options(connections=4))
    seen: dict[str, list[int]] = {}
    conn_of_sender: dict[str, set[int]] = {}
    for tx, c in zip(txs, conn_of, strict=True):
        body = codec.decode_tx(tx).body
        seen.setdefault(body.signer, []).append(body.sequence)
        conn_of_sender.setdefault(body.signer, set()).add(c)
    assert all(seqs == list(range(len(seqs))) for seqs in seen.values())
    assert all(len(cs) == 1 for cs in conn_of_sender.values())


def test_kvstore_txs_match_the_app_tx_size_and_have_one_equals_sign() -> None:
    source = system.TxSource("kvstore", "bench", None, 0)
    source.tx_bytes = 173
    txs, _ = source.make(3, system.Options(connections=2))
    assert all(len(tx) == 173 and tx.count(b"=") == 1 for tx in txs)
    assert len(set(txs)) == 3


def test_open_loop_sender_delivers_every_request_in_order() -> None:
    received: list[bytes] = []
    ready = threading.Event()
    port: list[int] = []
    loop = asyncio.new_event_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser_buf = b""
        while data := await reader.read(65536):
            parser_buf += data
            while b"\r\n\r\n" in parser_buf:
                head, _, rest = parser_buf.partition(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(rest) < length:
                    break
                received.append(rest[:length])
                parser_buf = rest[length:]
                body = b'{"result":{}}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        await server.serve_forever()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(5)
    txs = [b"tx%03d" % i for i in range(200)]
    result = loadgen.send(txs, [0] * 200, [Endpoint("127.0.0.1", port[0])], rate=2000)
    assert result.sent == 200 and result.answered == 200 and result.errors == 0
    assert [loadgen.base64.b64decode(b.split(b'"tx":"')[1].split(b'"')[0]) for b in received] == txs
    assert result.sent_at == sorted(result.sent_at)
