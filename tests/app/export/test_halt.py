"""mgridd's halt height (app/daemon.py halt_guard): the app stops after
committing it and never runs a block above it (docs/upgrade.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.abci.adapter import ABCIApplication
from app.chain import Chain
from app.daemon import halt_guard
from app.pb.tendermint.abci import types_pb2 as abci
from app.store import Store
from tests.app.market.conftest import app_state


def test_stops_after_committing_the_halt_height_and_refuses_blocks_above(tmp_path: Path) -> None:
    async def scenario() -> None:
        chain = Chain(Store(str(tmp_path / "db"), sync=False))
        chain.init_chain("mg-h", 0, json.dumps(app_state()).encode(), 1)
        stop = asyncio.Event()
        handle = halt_guard(ABCIApplication(chain).handle, chain, 2, tmp_path, stop)
        for height in (1, 2):
            block = abci.RequestFinalizeBlock(height=height)
            assert (
                handle(abci.Request(finalize_block=block)).WhichOneof("value") == "finalize_block"
            )
            handle(abci.Request(commit=abci.RequestCommit()))
            if height == 1:
                await asyncio.sleep(0)
                assert not stop.is_set()
        await asyncio.wait_for(stop.wait(), 5)  # after a short grace for the Commit's answer
        assert chain.height == 2

        stop.clear()
        for kind, request in (
            ("prepare_proposal", abci.RequestPrepareProposal(height=3)),
            ("process_proposal", abci.RequestProcessProposal(height=3)),
            ("finalize_block", abci.RequestFinalizeBlock(height=3)),
        ):
            response = handle(abci.Request(**{kind: request}))
            assert response.WhichOneof("value") == "exception"
            assert "halt height 2 reached" in response.exception.error
            assert stop.is_set()
            stop.clear()
        assert chain.height == 2
        # Other requests are answered as usual.
        info = handle(abci.Request(info=abci.RequestInfo())).info
        assert info.last_block_height == 2
        chain.store.close()

    asyncio.run(scenario())


def test_a_node_at_its_halt_height_does_not_start(tmp_path: Path) -> None:
    from app import daemon

    home = tmp_path / "node"
    chain = Chain(Store(str(home / "data" / "app.db"), sync=False))
    chain.init_chain("mg-h", 0, json.dumps(app_state()).encode(), 1)
    chain.finalize_block(1, 0, [])
    chain.commit()
    chain.store.close()
    settings = {**daemon.DEFAULTS, "halt_height": 1, "abci_address": "tcp://127.0.0.1:1"}
    with pytest.raises(SystemExit, match="at or past halt_height 1"):
        asyncio.run(daemon.run(home, settings))
