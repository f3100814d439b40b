"""Structured logs of ``mgridd``: every line about a block carries its height,
every line about a transaction its height and hash.

Handlers attach them to a record through logging's ``extra``
(``extra={"height": h, "tx_hash": tx_hash(raw)}``). Lines logged while the
adapter executes or commits a block (by any module, which does not know the
height) get the block's height from :func:`block_context` through
:class:`BlockContextFilter`. The formatters emit the fields: as JSON keys
(``log_format = "json"``), or as ``height=... tx=...`` after the message in
text. ``tx_hash`` is how CometBFT names a transaction (``/tx?hash=0x...``):
the upper-case hex SHA-256 of its bytes.

Nothing here reads state or feeds anything back into it: logs observe.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TextIO

from app.tx import codec

# Attributes a record may carry, as (record attribute, text-format key).
FIELDS = (("height", "height"), ("tx_hash", "tx"), ("code", "code"), ("codespace", "codespace"))

_block_height: ContextVar[int | None] = ContextVar("mgrid_block_height", default=None)


def tx_hash(raw: bytes) -> str:
    """CometBFT's name of a transaction as its RPC shows it: the upper-case hex of
    :func:`app.tx.codec.tx_hash`."""
    return codec.tx_hash(raw).hex().upper()


@contextlib.contextmanager
def block_context(height: int) -> Iterator[None]:
    """Lines logged inside carry ``height`` unless they name one themselves."""
    token = _block_height.set(height)
    try:
        yield
    finally:
        _block_height.reset(token)


class BlockContextFilter(logging.Filter):
    """Adds the height of the block being executed to records that lack one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "height", None) is None:
            height = _block_height.get()
            if height is not None:
                record.height = height
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, then height, tx_hash,
    code and codespace when the record has them, and exc on an exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for attr, _ in FIELDS:
            value = getattr(record, attr, None)
            if value is not None:
                entry[attr] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """``TIME LEVEL LOGGER: MESSAGE height=H tx=HASH``: the fields a record has,
    as key=value pairs after the message, so grep finds a block's or a tx's lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        pairs = [
            f"{key}={value}"
            for attr, key in FIELDS
            if (value := getattr(record, attr, None)) is not None and value != ""
        ]
        return f"{text} {' '.join(pairs)}" if pairs else text


def setup(fmt: str, level: str, stream: TextIO | None = None) -> logging.Handler:
    """Log to ``stream`` (stderr by default) in ``fmt`` ("text" or "json") at ``level``."""
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else logging.StreamHandler()
    )
    handler.setFormatter(JSONFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(BlockContextFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    return handler
