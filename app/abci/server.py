"""ABCI socket server: CometBFT's socket transport, in asyncio.

Wire format (v0.37+): each message is an unsigned varint length followed by
a protobuf ``Request`` or ``Response``. CometBFT opens four connections
(consensus, mempool, query, snapshot) and pipelines requests on each; we
answer every request in the order received, and answer ``Flush`` only after
everything before it has been written out.

Requests from all connections are handled one at a time on the event loop,
which serialises access to the state machine without locks (CometBFT's own
local client holds a global mutex for the same reason). An exception in the
application is logged with its traceback and answered with
``ResponseException`` instead of leaving CometBFT waiting.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

from google.protobuf.message import DecodeError

from app.pb.tendermint.abci import types_pb2 as abci

log = logging.getLogger("mgrid.abci.server")

MAX_MESSAGE_BYTES = 128 * 1024 * 1024  # a block of 100 MiB of txs fits; more is not ABCI
WRITE_HIGH_WATER = 4 * 1024 * 1024


class FramingError(ValueError):
    """The peer sent bytes that are not a length-prefixed ABCI message."""


def encode_uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_uvarint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """Return (value, position after it), or None if the varint is incomplete."""
    result = 0
    shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise FramingError("length varint longer than 10 bytes")
    return None


def frame(message: bytes) -> bytes:
    return encode_uvarint(len(message)) + message


def split_frames(buf: bytearray) -> list[bytes]:
    """Remove and return every complete frame at the start of buf."""
    frames: list[bytes] = []
    pos = 0
    while True:
        header = decode_uvarint(buf, pos)
        if header is None:
            break
        length, start = header
        if length > MAX_MESSAGE_BYTES:
            raise FramingError(f"message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
        end = start + length
        if end > len(buf):
            break
        frames.append(bytes(buf[start:end]))
        pos = end
    del buf[:pos]
    return frames


FLUSH_FRAME = frame(abci.Response(flush=abci.ResponseFlush()).SerializeToString())


def answer(handle: Callable[[abci.Request], abci.Response], request: abci.Request) -> abci.Response:
    """Run one request; an application error becomes ResponseException (and a logged traceback)."""
    try:
        return handle(request)
    except Exception as exc:
        log.exception("application error on %s", request.WhichOneof("value"))
        return abci.Response(exception=abci.ResponseException(error=f"{type(exc).__name__}: {exc}"))


class ABCIServer:
    def __init__(self, handle: Callable[[abci.Request], abci.Response], address: str):
        self.handle = handle
        self.address = address
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self.address.startswith("unix://"):
            path = self.address[len("unix://") :]
            if os.path.exists(path):
                os.unlink(path)
            self._server = await asyncio.start_unix_server(self._serve, path=path)
        else:
            host, _, port = self.address.removeprefix("tcp://").rpartition(":")
            self._server = await asyncio.start_server(
                self._serve, host=host or "127.0.0.1", port=int(port), reuse_address=True
            )
        log.info("ABCI server listening on %s", self.address)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        log.info("ABCI connection from %s", peer)
        buf = bytearray()
        try:
            while True:
                chunk = await reader.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                # Answers to every request of this read go out in one write
                # (CometBFT pipelines CheckTx by the thousand; a write each
                # would be a system call each, on both sides).
                out: list[bytes] = []
                for data in split_frames(buf):
                    try:
                        request = abci.Request.FromString(data)
                    except DecodeError as exc:
                        raise FramingError(f"undecodable request: {exc}") from None
                    if request.WhichOneof("value") == "flush":
                        out.append(FLUSH_FRAME)
                        writer.write(b"".join(out))
                        out.clear()
                        await writer.drain()
                        continue
                    out.append(frame(answer(self.handle, request).SerializeToString()))
                if out:
                    writer.write(b"".join(out))
                if writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                    await writer.drain()
        except FramingError as exc:
            log.error("closing ABCI connection from %s: %s", peer, exc)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            log.info("ABCI connection from %s closed", peer)
            writer.close()
