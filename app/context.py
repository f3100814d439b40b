"""The context passed down to every handler instead of long parameter lists:
where to read and write, which block we are in, and where events go."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

from app.kv import CacheKV


class Mode(enum.Enum):
    CHECK = "check"  # CheckTx New: against the check-state
    RECHECK = "recheck"  # CheckTx Recheck after a commit
    DELIVER = "deliver"  # FinalizeBlock


# CometBFT's tx indexer adds these composite keys itself and refuses to index
# a block whose events use them (the block's txs then cannot be found by /tx).
RESERVED_EVENT_KEYS = frozenset({"tx.hash", "tx.height"})
RESERVED_TX_ATTRIBUTES = frozenset(k.split(".", 1)[1] for k in RESERVED_EVENT_KEYS)


class Event(NamedTuple):
    """An ABCI event: a type and ordered (key, value) attributes.

    A NamedTuple: FinalizeBlock makes a few per transaction, and a tuple is
    built at C speed where a frozen dataclass pays for its guarded setattr.
    """

    type: str
    attributes: tuple[tuple[str, str], ...]


_new_event = tuple.__new__  # Event without the generated __new__'s Python frame


@dataclass(slots=True)
class Context:
    kv: CacheKV
    height: int
    time_ns: int  # block time from the header (never the wall clock), ns since epoch
    chain_id: str
    mode: Mode
    events: list[Event] = field(default_factory=list)

    def emit(self, type_: str, **attributes: str | int) -> None:
        """Record an event; only FinalizeBlock's are kept, since CometBFT reads
        events from blocks only (CheckTx's events would be built for nothing)."""
        if self.mode is not Mode.DELIVER:
            return
        if type_ == "tx" and not RESERVED_TX_ATTRIBUTES.isdisjoint(attributes):
            raise ValueError(
                f"event attributes {sorted(attributes)} include a tx.* key reserved by CometBFT's indexer"
            )
        values = map(str, attributes.values())
        self.events.append(_new_event(Event, (type_, tuple(zip(attributes, values, strict=True)))))

    def branch(self) -> Context:
        """A context whose writes (``kv.write()``) and events stay apart until taken."""
        return Context(self.kv.branch(), self.height, self.time_ns, self.chain_id, self.mode)
