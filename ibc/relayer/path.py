"""A path at run time: the two chains, what the state file knows about them, and the
one thing every relayed message needs first, an up-to-date light client.

Sides are named "a" and "b" as in the configuration. The chain on side X
hosts a client of the other chain (``state.end(X).client_id``) and the
connection end ``state.end(X).connection_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from clients.mgrid.chain import TxResult
from ibc.relayer.chain import ChainBehind, RelayChain, RelayerError
from ibc.relayer.config import ChannelSpec
from ibc.relayer.metrics import Metrics
from ibc.relayer.state import EndState, PathState

SIDES = ("a", "b")
log = logging.getLogger("mgrid-relayer")


def other(side: str) -> str:
    return "b" if side == "a" else "a"


def msg(name: str, m: object) -> tx_pb2.Msg:
    """A ``mgrid.tx.v1.Msg`` with oneof field ``name`` set to ``m``."""
    out = tx_pb2.Msg()
    getattr(out, name).CopyFrom(m)
    return out


class TxFailed(RelayerError):
    """A transaction was refused (CheckTx) or failed in its block."""

    def __init__(self, chain: str, result: TxResult, what: str):
        super().__init__(
            f"{chain}: {what} failed: code {result.codespace}/{result.code}: {result.log}"
        )
        self.result = result


@dataclass
class Path:
    name: str
    a: RelayChain
    b: RelayChain
    state: PathState
    save: Callable[[], None] = lambda: None
    metrics: Metrics = field(default_factory=Metrics)
    channels: tuple[ChannelSpec, ...] = ()

    def chain(self, side: str) -> RelayChain:
        return self.a if side == "a" else self.b

    def end(self, side: str) -> EndState:
        return self.state.end(side)

    def side_of(self, chain_name: str) -> str:
        return "a" if self.a.name == chain_name else "b"

    # -- transactions -------------------------------------------------------------------------

    def submit(self, side: str, msgs: Sequence[tx_pb2.Msg], what: str) -> TxResult:
        """One transaction on ``side``; raises TxFailed (logged and counted) if it fails."""
        chain = self.chain(side)
        result = chain.submit(msgs)
        if not result.ok:
            self.metrics.inc("mgrid_relayer_errors_total", chain=chain.name)
            self.metrics.inc("mgrid_relayer_tx_total", chain=chain.name, result="failed")
            raise TxFailed(chain.name, result, what)
        self.metrics.inc("mgrid_relayer_tx_total", chain=chain.name, result="ok")
        for m in msgs:
            if m.WhichOneof("sum") == "update_client":
                self.metrics.set(
                    "mgrid_relayer_client_height",
                    int(m.update_client.header.signed_header.header.height),
                    chain=chain.name,
                    client_id=m.update_client.client_id,
                )
        log.info(
            "%s: %s in block %d (tx %s, %d messages)",
            chain.name,
            what,
            result.height,
            result.txhash[:12],
            len(msgs),
        )
        return result

    # -- light clients ------------------------------------------------------------------------

    def client_update(self, side: str, min_height: int = 0) -> tuple[int, list[tx_pb2.Msg]]:
        """Bring the client hosted on ``side`` (tracking the other chain) to that chain's
        latest height: returns (proof height, [MsgUpdateClient] or [] if already there).

        Proofs to go with it are read on the other chain at store height
        ``proof height - 1``. ``min_height``: wait (ChainBehind) until the
        other chain's header at that height exists.
        """
        src = self.chain(other(side))
        dst = self.chain(side)
        client_id = self.end(side).client_id
        latest = src.latest_height()
        if latest < max(min_height, 2):
            raise ChainBehind(f"{src.name} is at height {latest}, waiting for {min_height}")
        cs = dst.client_state(client_id)
        if cs is None:
            raise RelayerError(f"{dst.name} has no client {client_id}: run `mgrid-relayer link`")
        if cs.frozen_height:
            raise RelayerError(
                f"client {client_id} on {dst.name} is frozen (misbehaviour of {src.chain_id})"
            )
        trusted = int(cs.latest_height)
        self.metrics.set(
            "mgrid_relayer_client_height", trusted, chain=dst.name, client_id=client_id
        )
        if trusted >= latest:
            if trusted > latest:
                raise ChainBehind(
                    f"client {client_id} on {dst.name} is at {trusted}, "
                    f"the {src.name} node only at {latest}"
                )
            return trusted, []
        header = src.build_header(latest, trusted)
        update = ibc_pb2.MsgUpdateClient(client_id=client_id, header=header)
        return latest, [msg("update_client", update)]

    def update_client(self, side: str) -> int:
        """Update the client on ``side`` now (its own transaction); returns its new height."""
        height, msgs = self.client_update(side)
        if msgs:
            self.submit(side, msgs, f"update client {self.end(side).client_id} to {height}")
        return height
