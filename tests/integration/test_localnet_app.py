"""The microgrid app on a real 4-validator CometBFT localnet: transfers
commit, every node has the same app hash at every height, supply is
conserved, and an app process killed with SIGKILL under load comes back to
the same app hash as its peers (CometBFT's handshake replays what it lost)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from app.crypto import PrivateKey
from app.pb.mgrid.auth.v1 import auth_pb2
from app.pb.mgrid.bank.v1 import bank_pb2
from clients.mgrid.keyring import Keyring
from clients.rpc import RPC, RPCError
from localnet.layout import FUNDED_KEYS
from localnet.testing import LocalnetRunner
from tests.support.localnets import mgrid_localnet
from tests.support.txs import key, send_tx

pytestmark = pytest.mark.localnet
PORT_OFFSET = 2500
CHAIN_ID = "mg-apptest"
GENESIS_SUPPLY = sum(FUNDED_KEYS.values())  # as localnet funds them


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    yield from mgrid_localnet(tmp_path_factory, PORT_OFFSET, CHAIN_ID)


def query(rpc: RPC, path: str, req, resp_type):  # type: ignore[no-untyped-def]
    r = rpc.abci_query(path, req.SerializeToString())
    assert r["code"] == 0, r.get("log")
    return resp_type.FromString(r["value"])


def balance(rpc: RPC, address: str) -> int:
    resp = query(
        rpc,
        "/mgrid.bank.v1.Query/Balance",
        bank_pb2.QueryBalanceRequest(address=address, denom="ugrid"),
        bank_pb2.QueryBalanceResponse,
    )
    return int(resp.balance.amount)


def sequence(rpc: RPC, address: str) -> int:
    resp = query(
        rpc,
        "/mgrid.auth.v1.Query/Account",
        auth_pb2.QueryAccountRequest(address=address),
        auth_pb2.QueryAccountResponse,
    )
    return int(resp.account.sequence)


def wait_until(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.25)


def faucet(net: LocalnetRunner) -> PrivateKey:
    return Keyring(net.network().keyring_dir, backend="test").private_key("faucet")


def assert_agreement(net: LocalnetRunner) -> int:
    """All nodes reach a common height and agree on every app hash up to it."""
    common = min(h or 0 for h in net.heights().values())
    histories = net.app_hash_histories(1, common)
    reference = histories[0]
    assert len(reference) == common
    for i, history in histories.items():
        assert history == reference, f"node {i} diverges from node 0"
    return common


def total_supply(rpc: RPC) -> int:
    resp = query(
        rpc,
        "/mgrid.bank.v1.Query/TotalSupply",
        bank_pb2.QueryTotalSupplyRequest(),
        bank_pb2.QueryTotalSupplyResponse,
    )
    return sum(int(c.amount) for c in resp.supply if c.denom == "ugrid")


def test_transfers_commit_and_all_nodes_agree(net: LocalnetRunner) -> None:
    rpcs = [net.rpc(i) for i in range(4)]
    src = faucet(net)
    dst = key(200).address
    seq = sequence(rpcs[0], src.address)
    for n in range(12):
        result = rpcs[0].broadcast_tx_sync(
            send_tx(src, dst, 10 + n, sequence=seq + n, chain_id=CHAIN_ID)
        )
        assert result["code"] == 0, result
    expected = sum(10 + n for n in range(12))
    wait_until(lambda: all(balance(r, dst) == expected for r in rpcs))
    net.wait_for_height(net.max_height() + 1)
    assert_agreement(net)
    assert all(total_supply(r) == GENESIS_SUPPLY for r in rpcs)


def test_app_killed_under_load_recovers_to_the_same_app_hash(net: LocalnetRunner) -> None:
    rpcs = [net.rpc(i) for i in range(4)]
    src = faucet(net)
    senders = [key(210), key(211)]
    seq = sequence(rpcs[0], src.address)
    for n, s in enumerate(senders):
        rpcs[0].broadcast_tx_sync(
            send_tx(src, s.address, 10**9, sequence=seq + n, chain_id=CHAIN_ID)
        )
    wait_until(lambda: all(balance(rpcs[0], s.address) == 10**9 for s in senders))

    dst = key(220).address
    accepted = [0, 0]
    stop = threading.Event()

    def load(i: int) -> None:
        sender, rpc = senders[i], rpcs[i]  # one sender per node keeps its sequences in order
        n = 0
        while not stop.is_set():
            try:
                r = rpc.broadcast_tx_sync(send_tx(sender, dst, 1, sequence=n, chain_id=CHAIN_ID))
            except RPCError:
                time.sleep(0.1)
                continue
            if r["code"] == 0:
                n += 1
                accepted[i] = n
            time.sleep(0.05)

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(2)]
    for t in threads:
        t.start()
    time.sleep(3)
    net.kill_app(2)
    time.sleep(3)
    net.start_node(2)
    time.sleep(3)
    stop.set()
    for t in threads:
        t.join(10)
    assert sum(accepted) > 20, f"load generator barely ran: {accepted}"

    # Every accepted transaction commits, on every node, node 2 included.
    wait_until(lambda: all(balance(r, dst) == sum(accepted) for r in rpcs), timeout=120)
    net.wait_for_height(net.max_height() + 2, timeout=120)
    assert_agreement(net)
    assert all(total_supply(r) == GENESIS_SUPPLY for r in rpcs)
