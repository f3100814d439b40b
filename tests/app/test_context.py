"""Events never use the composite keys CometBFT's tx indexer reserves: a block
whose events do cannot be indexed, and its txs are then not found by /tx."""

from __future__ import annotations

import pytest

from app.context import RESERVED_EVENT_KEYS, Context, Mode
from app.kv import CacheKV


class _Empty:
    def get(self, key: bytes) -> None:
        return None

    def iterate(self, prefix: bytes):  # type: ignore[no-untyped-def]
        return iter(())


@pytest.mark.parametrize("reserved", sorted(RESERVED_EVENT_KEYS))
def test_reserved_event_keys_are_refused(reserved: str) -> None:
    ctx = Context(CacheKV(_Empty()), 1, 0, "c", Mode.DELIVER)  # type: ignore[arg-type]
    type_, key = reserved.split(".")
    with pytest.raises(ValueError, match="reserved"):
        ctx.emit(type_, **{key: "x"})
    ctx.emit("tx", signer="mg1...", fee="0ugrid")
    assert ctx.events[0].type == "tx"
