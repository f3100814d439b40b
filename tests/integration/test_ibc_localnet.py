"""Two real localnets (1 validator each, real CometBFT) joined by ``mgrid-relayer``
as an operator runs it: ``link``, then ``start`` as a process; an ICS-20 transfer
is received and acknowledged, the coins are escrowed on one chain and the
voucher minted on the other; ``status`` shows nothing pending; SIGTERM stops the
relayer cleanly with its cursors saved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.coins import Coin
from app.pb.mgrid.base.v1 import coin_pb2
from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2
from app.pb.mgrid.ibc.v1 import ibc_pb2
from app.pb.mgrid.tx.v1 import tx_pb2
from clients.mgrid import tx as txmod
from clients.mgrid.chain import ChainClient, parse_broadcast
from clients.mgrid.keyring import Keyring
from clients.rpc import RPC
from localnet import ibc as ibc_localnet
from localnet.commands import REPO_ROOT
from localnet.layout import Network

pytestmark = pytest.mark.localnet
CHAINS = (("mg-it1", 3300), ("mg-it2", 3400))
AMOUNT = 4_321


@pytest.fixture(scope="module")
def nets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ibc_localnet.IBCOptions]:
    options = ibc_localnet.IBCOptions(
        root=tmp_path_factory.mktemp("ibc"),
        validators=1,
        block_time=0.5,
        chains=CHAINS,
        metrics="127.0.0.1:0",
    )
    try:
        ibc_localnet.up(options)
        yield options
    finally:
        ibc_localnet.down(options)


def relayer(options: ibc_localnet.IBCOptions, *args: str, timeout: float = 120) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "ibc.relayer", "--config", str(options.config_path), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
        check=False,
    )
    assert out.returncode == 0, f"{args}: exit {out.returncode}\n{out.stderr}\n{out.stdout}"
    return out.stdout


def network(options: ibc_localnet.IBCOptions, index: int) -> Network:
    return Network.load(options.home(CHAINS[index][0]))


def send_transfer(net: Network, channel: str, receiver: str, amount: int) -> None:
    rpc = RPC(net.node(0).rpc_url)
    chain = ChainClient(rpc)
    faucet = Keyring(net.keyring_dir, "test").private_key("faucet")
    status = rpc.status()
    block_time_ns = _rfc3339_ns(status["sync_info"]["latest_block_time"])
    msg = tx_pb2.Msg(
        transfer=transfer_pb2.MsgTransfer(
            source_port="transfer",
            source_channel=channel,
            token=coin_pb2.Coin(denom="ugrid", amount=str(amount)),
            receiver=receiver,
            timeout_timestamp=block_time_ns + 600 * 10**9,
        )
    )
    params = txmod.TxParams(
        chain_id=net.chain_id,
        sequence=chain.account(faucet.address).sequence,
        fee=Coin("ugrid", 0),
    )
    signed = txmod.sign(txmod.build_body(faucet.address, [msg], params), faucet)
    result = parse_broadcast("commit", rpc.broadcast_tx_commit(signed.raw), signed.hash_hex)
    assert result.ok, result.log


def _rfc3339_ns(text: str) -> int:
    from ibc.client.hashing import timestamp_to_ns
    from ibc.client.rpc import parse_time

    return int(timestamp_to_ns(parse_time(text)))


def wait_for(what: str, check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def test_link_relay_a_transfer_and_stop(nets: ibc_localnet.IBCOptions) -> None:
    options = nets
    out = relayer(options, "link")
    assert "channel transfer:" in out
    assert "already linked" in relayer(options, "link")
    state = json.loads((options.relayer_dir / "state.json").read_text())["paths"]["default"]
    ch_a = next(c for c in state["channels"] if c["port"] == "transfer")["a"]

    net_a, net_b = network(options, 0), network(options, 1)
    chain_a = ChainClient(RPC(net_a.node(0).rpc_url))
    chain_b = ChainClient(RPC(net_b.node(0).rpc_url))
    faucet_a, faucet_b = net_a.keys["faucet"], net_b.keys["faucet"]
    before = chain_a.balance(faucet_a, "ugrid").amount
    send_transfer(net_a, ch_a, faucet_b, AMOUNT)

    log_path = options.relayer_dir / "relayer.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ibc.relayer", "--config", str(options.config_path),
             "--log-json", "start"],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
        )  # fmt: skip
        try:

            def voucher() -> int:
                coins = chain_b.all_balances(faucet_b)
                return next((c.amount for c in coins if c.denom.startswith("ibc/")), 0)

            assert wait_for("the voucher on mg-it2", voucher) == AMOUNT

            def acknowledged() -> bool:
                req = ibc_pb2.QueryPacketCommitmentsRequest(port_id="transfer", channel_id=ch_a)
                return not chain_a.query(ibc_pb2.DESCRIPTOR, "PacketCommitments", req).sequences

            wait_for("the acknowledgement on mg-it1", acknowledged)
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            code = proc.wait(timeout=30)
    assert code == 0, log_path.read_text()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any("recv" in line["msg"] for line in lines)
    assert lines[-1]["msg"] == "stopped"

    assert chain_a.balance(faucet_a, "ugrid").amount == before - AMOUNT
    report = json.loads(relayer(options, "status", "--json"))
    transfer = next(c for c in report["channels"] if c["port"] == "transfer")
    assert (transfer["a_state"], transfer["b_state"]) == ("OPEN", "OPEN")
    assert transfer["pending_a_to_b"] == {"unreceived": [], "awaiting_ack": []}
    assert report["ends"]["b"]["client"]["status"] == "active"
    saved = json.loads((options.relayer_dir / "state.json").read_text())["paths"]["default"]
    assert saved["a"]["cursor"] > state["a"]["cursor"]
