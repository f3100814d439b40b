"""Export and import (app/export.py, app/store/export.py, Chain.init_chain):
the state at a height written as a genesis, imported as a new chain with the
same app hash, whose blocks then run exactly as the old chain's would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import message_factory

from app import daemon
from app.chain import Chain, GenesisError
from app.export import ExportError, export, format_time, parse_time
from app.pb.mgrid.bank.v1 import bank_pb2
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.market.v1 import market_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from app.store import Store
from app.tx import codec
from tests.app.market.conftest import ALICE, BOB, CAROL, DENOM, app_state
from tests.app.snapshots.conftest import CHAIN_ID, busy_market

NEW_CHAIN_ID = "mg-snap-2"
COMETBFT_GENESIS = {
    "genesis_time": "2023-11-14T22:13:20Z",
    "chain_id": CHAIN_ID,
    "initial_height": "1",
    "consensus_params": {"block": {"max_bytes": "22020096", "max_gas": "-1"}},
    "validators": [
        {
            "address": "A" * 40,
            "pub_key": {"type": "tendermint/PubKeyEd25519", "value": "B" * 43 + "="},
            "power": "10",
            "name": "node0",
        }
    ],
    "app_hash": "",
    "app_state": {},
}


def node_home(tmp_path: Path) -> Path:
    """A node home as `mgridd start --home` and CometBFT lay it out."""
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "genesis.json").write_text(json.dumps(COMETBFT_GENESIS))
    return home


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, dict[str, Any], int]:
    """A stopped node with market state, and its export at the latest height."""
    home = node_home(tmp_path)
    m = busy_market(home / "data")
    height = m.node.height
    m.node.close()
    out = tmp_path / "genesis.json"
    summary = export(home, out=out, chain_id=NEW_CHAIN_ID)
    assert f"exported height {height}" in summary
    return home, json.loads(out.read_text()), height


def reopen(home: Path) -> Chain:
    return Chain(Store(str(home / "data" / "app.db"), sync=False), check_invariants=True)


def imported(tmp_path: Path, genesis: dict[str, Any]) -> tuple[Chain, bytes]:
    chain = Chain(Store(str(tmp_path / "new" / "app.db"), sync=False), check_invariants=True)
    app_hash = chain.init_chain(
        genesis["chain_id"],
        parse_time(genesis["genesis_time"]),
        json.dumps(genesis["app_state"]).encode(),
        int(genesis["initial_height"]),
    )
    return chain, app_hash


def send_tx(chain: Chain, sender: Any, to: str, amount: int) -> bytes:
    """A send signed for ``chain`` at the sender's sequence in the block being built."""
    from app import crypto
    from app.modules.auth import keeper as auth_keeper

    account = auth_keeper.get_account(chain.block_kv, crypto.decode_address(sender.address))
    body = tx_pb2.TxBody(chain_id=chain.chain_id, signer=sender.address, sequence=account.sequence)
    body.messages.add().send.CopyFrom(
        bank_pb2.MsgSend(to_address=to, amount=[coin_pb2.Coin(denom=DENOM, amount=str(amount))])
    )
    return codec.sign_tx(body, sender)


def test_export_then_import_gives_the_same_app_hash_and_the_chain_goes_on(
    tmp_path: Path, exported: tuple[Path, dict[str, Any], int]
) -> None:
    home, genesis, height = exported
    old = reopen(home)
    assert genesis["initial_height"] == str(height + 1)
    assert genesis["chain_id"] == NEW_CHAIN_ID
    assert genesis["app_hash"] == old.store.root(height).hex().upper()
    assert genesis["genesis_time"] == format_time(old.last_block_time_ns)
    assert genesis["validators"] == COMETBFT_GENESIS["validators"]
    assert genesis["consensus_params"] == COMETBFT_GENESIS["consensus_params"]
    section = genesis["app_state"]["store"]
    assert (section["format"], section["height"], section["app_hash"]) == (
        1,
        height,
        genesis["app_hash"],
    )
    assert len(section["entries"]) == len(list(old.store.iterate()))

    new, app_hash = imported(tmp_path, genesis)
    assert app_hash.hex().upper() == genesis["app_hash"]
    assert new.chain_id == NEW_CHAIN_ID
    # Transactions for the new chain are checked against the imported state.
    assert new.check_tx(send_tx(new, BOB, ALICE.address, 3)).code == 0

    # The same blocks on both chains (each tx signed for its own chain id,
    # which is not part of the state) give the same app hashes.
    t = old.last_block_time_ns
    with pytest.raises(RuntimeError, match=f"the next height {height + 1}"):
        new.finalize_block(1, t, [])
    for step, sends in enumerate([[(BOB, ALICE, 3)], [], [(CAROL, BOB, 11), (ALICE, CAROL, 2)]]):
        h = height + 1 + step
        t += 1_000_000_000
        results = []
        for chain in (old, new):
            txs = [send_tx(chain, a, b.address, n) for a, b, n in sends]
            result = chain.finalize_block(h, t, txs)
            assert [r.code for r in result.tx_results] == [0] * len(txs)
            chain.commit()
            results.append(result.app_hash)
        assert results[0] == results[1], f"height {h}"
    assert new.height == old.height == height + 3
    assert new.store.earliest_version == height + 1  # the first block is the first version
    assert list(new.store.iterate()) == list(old.store.iterate())
    old.store.close()
    new.store.close()


def test_a_node_restarted_before_the_first_block_imports_again(
    tmp_path: Path, exported: tuple[Path, dict[str, Any], int]
) -> None:
    _, genesis, _ = exported
    chain, first = imported(tmp_path, genesis)
    chain.store.close()  # crash before block height + 1 was committed: nothing persisted
    again, second = imported(tmp_path, genesis)
    assert again.height == 0
    assert first == second
    again.store.close()


def test_tampered_export_is_refused_naming_both_hashes(
    tmp_path: Path, exported: tuple[Path, dict[str, Any], int]
) -> None:
    _, genesis, _ = exported
    entries = genesis["app_state"]["store"]["entries"]
    key, value = entries[3]
    entries[3] = [key, value + "00"]
    with pytest.raises(GenesisError) as info:
        imported(tmp_path, genesis)
    message = str(info.value)
    assert genesis["app_hash"] in message
    assert "the entries hash to" in message


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda g: g["app_state"].update(bank={}), "also sections \\['bank'\\]"),
        (lambda g: g.update(initial_height="1"), "initial_height must be"),
        (lambda g: g["app_state"]["store"].update(format=2), "format 1"),
        (lambda g: g["app_state"]["store"].update(app_hash="AB"), "32 bytes"),
        (lambda g: g["app_state"]["store"].update(height=0), "height must be an integer"),
        (lambda g: g["app_state"]["store"].update(extra=1), "unknown fields"),
        (lambda g: g["app_state"]["store"]["entries"].reverse(), "ascending key order"),
        (lambda g: g["app_state"]["store"]["entries"].append(["zz", "00"]), "not hex"),
        (lambda g: g["app_state"]["store"]["entries"].append(["ff" * 300, ""]), "not be empty"),
        (lambda g: g["app_state"]["store"]["entries"].append("x"), "pair"),
    ],
)
def test_malformed_exports_are_refused(
    tmp_path: Path, exported: tuple[Path, dict[str, Any], int], change: Any, match: str
) -> None:
    _, genesis, _ = exported
    change(genesis)
    with pytest.raises(GenesisError, match=match):
        imported(tmp_path, genesis)


def test_initial_height_for_a_module_genesis(tmp_path: Path) -> None:
    chain = Chain(Store(str(tmp_path / "db"), sync=False), check_invariants=True)
    chain.init_chain("mg-5", 0, json.dumps(app_state()).encode(), 5)
    with pytest.raises(RuntimeError, match="the next height 5"):
        chain.finalize_block(1, 10, [])
    chain.finalize_block(5, 10, [])
    assert chain.commit() == 5
    assert (chain.store.earliest_version, chain.height) == (5, 5)
    chain.finalize_block(6, 11, [])
    assert chain.commit() == 6
    chain.store.close()


def test_past_height_needs_a_genesis_time(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    m = busy_market(home / "data")
    past = m.node.height - 3
    expected = list(m.node.store.iterate(version=past))
    root = m.node.store.root(past)
    m.node.close()
    with pytest.raises(ExportError, match="--genesis-time"):
        export(home, height=past, out=tmp_path / "g.json")
    assert not (tmp_path / "g.json").exists()
    export(home, height=past, out=tmp_path / "g.json", genesis_time="2024-05-01T12:00:00.5Z")
    genesis = json.loads((tmp_path / "g.json").read_text())
    assert genesis["genesis_time"] == "2024-05-01T12:00:00.500000000Z"
    assert genesis["app_hash"] == root.hex().upper()
    assert genesis["chain_id"] == CHAIN_ID
    entries = genesis["app_state"]["store"]["entries"]
    assert [(bytes.fromhex(k), bytes.fromhex(v)) for k, v in entries] == expected
    with pytest.raises(ExportError, match="not available"):
        export(home, height=10_000, out=tmp_path / "g.json")
    with pytest.raises(ExportError, match="RFC 3339"):
        export(home, out=tmp_path / "g.json", genesis_time="yesterday")


def test_a_running_node_cannot_be_exported(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    m = busy_market(home / "data")  # its store is open: as if mgridd were running
    try:
        with pytest.raises(ExportError, match="stop the node's mgridd"):
            export(home, out=tmp_path / "g.json")
    finally:
        m.node.close()
    with pytest.raises(ExportError, match="no app database"):
        export(tmp_path / "nowhere", out=tmp_path / "g.json")


def test_mgridd_export_command(
    tmp_path: Path, exported: tuple[Path, dict[str, Any], int], capsys: pytest.CaptureFixture[str]
) -> None:
    home, genesis, height = exported
    out = tmp_path / "cli.json"
    assert daemon.main(["export", "--home", str(home), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["chain_id"] == CHAIN_ID
    assert written["app_state"] == genesis["app_state"]
    assert f"new chain '{CHAIN_ID}' starts at height {height + 1}" in capsys.readouterr().err
    assert daemon.main(["export", "--home", str(home), "--height", "0"]) == 1
    assert "height 0 is not available" in capsys.readouterr().err


def test_time_formats_round_trip() -> None:
    for text in ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.000000001Z"):
        assert format_time(parse_time(text)) == text
    assert format_time(parse_time("2024-05-01T14:00:00+02:00")) == "2024-05-01T12:00:00Z"


def query(chain: Chain, module: Any, method: str, request: Any) -> Any:
    service = module.DESCRIPTOR.services_by_name["Query"]
    result = chain.query(f"/{service.full_name}/{method}", request.SerializeToString())
    assert result.code == 0, result.log
    out = service.methods_by_name[method].output_type
    return message_factory.GetMessageClass(out).FromString(result.value)


def test_market_state_survives_the_round_trip(
    tmp_path: Path, exported: tuple[Path, dict[str, Any], int]
) -> None:
    """What people look at (balances, supply, intervals, orders) reads the same."""
    home, genesis, height = exported
    old = reopen(home)
    new, _ = imported(tmp_path, genesis)
    new.finalize_block(height + 1, old.last_block_time_ns, [])
    new.commit()
    old.finalize_block(height + 1, old.last_block_time_ns, [])
    old.commit()
    asked = [
        (bank_pb2, "TotalSupply", bank_pb2.QueryTotalSupplyRequest()),
        (market_pb2, "Schedule", market_pb2.QueryScheduleRequest()),
        (market_pb2, "Orders", market_pb2.QueryOrdersRequest(owner=CAROL.address, limit=100)),
    ] + [
        (bank_pb2, "Balance", bank_pb2.QueryBalanceRequest(address=who.address, denom=DENOM))
        for who in (ALICE, BOB, CAROL)
    ]
    for module, method, request in asked:
        assert query(old, module, method, request) == query(new, module, method, request), method
    orders = query(new, market_pb2, "Orders", asked[2][2]).orders
    assert len(orders) == 2  # one cleared, one still open
    old.store.close()
    new.store.close()
