"""The app behind a real single-validator CometBFT: transfers from the wallet,
queries over RPC and gRPC, bad input through the mempool, and ICS-23 proofs
checked against the app hash CometBFT puts in the next block's header."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from app.crypto import PrivateKey, decode_address
from app.modules.bank.keeper import balance_key
from app.pb.cosmos.ics23.v1 import proofs_pb2
from app.pb.mgrid.bank.v1 import bank_pb2, bank_pb2_grpc
from clients.rpc import RPC
from ibc.commitment import ics23
from localnet.testing import LocalnetRunner

pytestmark = pytest.mark.integration
PORT_OFFSET = 2300


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    runner = LocalnetRunner(
        tmp_path_factory.mktemp("single") / "net",
        port_offset=PORT_OFFSET,
        chain_id="mg-single",
        validators=1,
        app="mgrid",
    )
    runner.up()
    yield runner
    runner.down(check=False)


def mgrid(runner: LocalnetRunner, *args: str) -> dict:  # type: ignore[type-arg]
    net = runner.network()
    cmd = [
        sys.executable, "-m", "clients.mgrid.cli",
        "--node", net.node(0).rpc_url,
        "--keyring-dir", str(net.keyring_dir),
        "--keyring-backend", "test",
        "--output", "json",
        *args,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_send_commits_and_balance_shows_it(node: LocalnetRunner) -> None:
    to = PrivateKey(b"\x42" * 32).address
    result = mgrid(node, "tx", "bank", "send", "faucet", to, "1000ugrid", "--yes")
    assert result["code"] == 0 and result["height"] > 0
    assert mgrid(node, "query", "bank", "balance", to)["amount"] == "1000"


def test_grpc_query_agrees_with_abci_query(node: LocalnetRunner) -> None:
    net = node.network()
    faucet = mgrid(node, "keys", "show", "faucet")["address"]
    with grpc.insecure_channel(net.node(0).grpc_address) as channel:
        stub = bank_pb2_grpc.QueryStub(channel)
        resp = stub.Balance(bank_pb2.QueryBalanceRequest(address=faucet, denom="ugrid"), timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            stub.Balance(bank_pb2.QueryBalanceRequest(address="nonsense"), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid address" in (err.value.details() or "")
    abci = RPC(net.node(0).rpc_url).abci_query(
        "/mgrid.bank.v1.Query/Balance",
        bank_pb2.QueryBalanceRequest(address=faucet, denom="ugrid").SerializeToString(),
    )
    assert bank_pb2.QueryBalanceResponse.FromString(abci["value"]) == resp
    assert int(resp.balance.amount) > 0


@pytest.mark.parametrize("payload", [b"\x00", b"\xff" * 64, b"garbage that is not protobuf"])
def test_garbage_is_rejected_in_checktx_and_node_keeps_going(
    node: LocalnetRunner, payload: bytes
) -> None:
    rpc = RPC(node.network().node(0).rpc_url)
    before = rpc.latest_height()
    result = rpc.broadcast_tx_sync(payload)
    assert result["code"] != 0 and result["codespace"] == "tx"
    node.wait_for_height(before + 2)


def _proof_at(rpc: RPC, key: bytes) -> tuple[dict, bytes]:  # type: ignore[type-arg]
    """Query with prove=true, then take the app hash from the header of height+1."""
    resp = rpc.abci_query("/store/key", key, prove=True)
    height = int(resp["height"])
    for _ in range(100):
        if rpc.latest_height() > height:
            break
        time.sleep(0.2)
    header = rpc.block(height + 1)["block"]["header"]
    return resp, bytes.fromhex(header["app_hash"])


def _decode_proof(resp: dict) -> proofs_pb2.CommitmentProof:  # type: ignore[type-arg]
    (op,) = resp["proofOps"]["ops"] if "proofOps" in resp else resp["proof_ops"]["ops"]
    assert op["type"] == "ics23:smt"
    return proofs_pb2.CommitmentProof.FromString(base64.b64decode(op["data"]))


def test_membership_proof_verifies_against_next_header(node: LocalnetRunner) -> None:
    rpc = RPC(node.network().node(0).rpc_url)
    faucet = mgrid(node, "keys", "show", "faucet")["address"]
    key = balance_key(decode_address(faucet), "ugrid")
    resp, root = _proof_at(rpc, key)
    value = resp["value"]
    proof = _decode_proof(resp)
    assert value and ics23.verify_membership(ics23.SMT_SPEC, root, proof, key, value)
    assert not ics23.verify_membership(ics23.SMT_SPEC, root, proof, key + b"x", value)
    assert not ics23.verify_membership(ics23.SMT_SPEC, root, proof, key, value + b"0")
    bad_root = bytes([root[0] ^ 1]) + root[1:]
    assert not ics23.verify_membership(ics23.SMT_SPEC, bad_root, proof, key, value)


def test_non_membership_proof_verifies_against_next_header(node: LocalnetRunner) -> None:
    rpc = RPC(node.network().node(0).rpc_url)
    key = balance_key(b"\x13" * 20, "ugrid")  # nobody
    resp, root = _proof_at(rpc, key)
    assert resp["value"] == b""
    proof = _decode_proof(resp)
    assert proof.WhichOneof("proof") == "nonexist"
    assert ics23.verify_non_membership(ics23.SMT_SPEC, root, proof, key)
    faucet_key = balance_key(
        decode_address(mgrid(node, "keys", "show", "faucet")["address"]), "ugrid"
    )
    assert not ics23.verify_non_membership(ics23.SMT_SPEC, root, proof, faucet_key)
    bad_root = bytes([root[0] ^ 1]) + root[1:]
    assert not ics23.verify_non_membership(ics23.SMT_SPEC, bad_root, proof, key)


def test_logs_are_where_the_readme_says(node: LocalnetRunner) -> None:
    net = node.network()
    home = Path(net.home)
    assert (home / "node0" / "logs" / "app.log").stat().st_size > 0
    assert (home / "node0" / "logs" / "cometbft.log").stat().st_size > 0
