"""``mgrid-relayer`` commands end to end on two in-process chains: the CLI's RPC
client is swapped for the chains' CometBFT-shaped answers, nothing else."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import pytest

from clients.mgrid.keyring import Keyring
from ibc.relayer import cli
from ibc.relayer.config import render_config
from tests.ibc.relayer.conftest import LockstepRPC
from tests.support.ibcpair import IBCPair, address, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CLIEnv:
    def __init__(self, tmp_path: FsPath, monkeypatch: pytest.MonkeyPatch):
        self.pair = IBCPair(tmp_path / "chains")
        self.rpcs = {
            "inproc://mg-a": LockstepRPC(self.pair, self.pair.a),
            "inproc://mg-b": LockstepRPC(self.pair, self.pair.b),
        }
        monkeypatch.setattr(cli, "RPC", lambda url, timeout: self.rpcs[url])
        self.dir = tmp_path / "relayer"
        self.dir.mkdir()
        self.port = _free_port()
        chains = []
        for name in ("mg-a", "mg-b"):
            chains.append(
                {"name": name, "rpc": f"inproc://{name}", "chain_id": name, "key": "relayer",
                 "keyring_dir": f"keys/{name}", "keyring_backend": "test"}
            )  # fmt: skip
            # the relayer key IBCPair funded on both chains
            Keyring(self.dir / "keys" / name, "test").add("relayer", key("relayer").seed)
        self.config = self.dir / "config.toml"
        self.config.write_text(
            render_config(
                chains, a="mg-a", b="mg-b", metrics=f"127.0.0.1:{self.port}", poll_interval=0.05
            )
        )

    def run(self, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(self.config), *args])
        out = capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cenv(tmp_path: FsPath, monkeypatch: pytest.MonkeyPatch) -> Iterator[CLIEnv]:
    e = CLIEnv(tmp_path, monkeypatch)
    yield e
    e.pair.close()


def test_keys_add_and_list(cenv: CLIEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cenv.run(capsys, "keys", "add", "mg-b", "second")
    assert code == 0
    new_address = out.strip()
    assert new_address.startswith("mg1") and "mnemonic" in err
    code, out, _ = cenv.run(capsys, "keys", "list")
    assert code == 0
    lines = sorted(out.strip().splitlines())
    assert lines == sorted(
        [
            f"mg-a\trelayer\t{address('relayer')} (configured)",
            f"mg-b\trelayer\t{address('relayer')} (configured)",
            f"mg-b\tsecond\t{new_address}",
        ]
    )
    assert cenv.run(capsys, "keys", "add", "mg-c", "x")[0] == 2


def test_link_status_clear(cenv: CLIEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cenv.run(capsys, "link")
    assert code == 0, err
    assert "created client 07-tendermint-0 on mg-a" in out
    assert "channel transfer: mg-a channel-0 <-> mg-b channel-0" in out
    state = json.loads((cenv.dir / "state.json").read_text())
    assert state["paths"]["default"]["a"]["connection_id"] == "connection-0"
    code, out, _ = cenv.run(capsys, "link")
    assert code == 0 and "already linked" in out

    _send_transfer(cenv)
    code, out, _ = cenv.run(capsys, "status", "--json")
    assert code == 0
    report = json.loads(out)
    transfer = next(c for c in report["channels"] if c["port"] == "transfer")
    assert (transfer["a_state"], transfer["b_state"]) == ("OPEN", "OPEN")
    assert transfer["pending_a_to_b"] == {"unreceived": [1], "awaiting_ack": []}
    assert report["ends"]["a"]["client"]["status"] == "active"
    code, text, _ = cenv.run(capsys, "status")
    assert "channel transfer: a channel-0 OPEN <-> b channel-0 OPEN" in text
    assert "a->b: unreceived 1; awaiting ack -" in text

    code, out, err = cenv.run(capsys, "clear")
    assert code == 0, err
    assert out.strip() == "relayed 1 ack, 1 recv; 0 failed transactions; 0 left"
    code, out, _ = cenv.run(capsys, "status", "--json")
    transfer = next(c for c in json.loads(out)["channels"] if c["port"] == "transfer")
    assert transfer["pending_a_to_b"] == {"unreceived": [], "awaiting_ack": []}


def _send_transfer(cenv: CLIEnv) -> None:
    from app.pb.mgrid.base.v1 import coin_pb2
    from app.pb.mgrid.ibc.transfer.v1 import transfer_pb2

    m = transfer_pb2.MsgTransfer(
        source_port="transfer",
        source_channel="channel-0",
        token=coin_pb2.Coin(denom="ugrid", amount="25"),
        receiver=address("bob"),
        timeout_timestamp=cenv.pair.a.time_ns + 600 * 10**9,
    )
    assert cenv.pair.submit(cenv.pair.a, ("transfer", m), signer=key("alice")).code == 0
    cenv.pair.step()


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        return str(resp.read().decode())


def test_start_relays_serves_metrics_and_stops_on_sigterm(
    cenv: CLIEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cenv.run(capsys, "start")[0] == 1  # not linked yet
    assert cenv.run(capsys, "link")[0] == 0
    _send_transfer(cenv)
    seen: dict[str, Any] = {}

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                body = _scrape(cenv.port)
            except OSError:
                time.sleep(0.05)
                continue
            if 'kind="recv",src_chain="mg-a"} 1' in body:
                seen["body"] = body
                break
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        code, _, err = cenv.run(capsys, "--log-json", "start")
    finally:
        watcher.join()
        for s, handler in old.items():
            signal.signal(s, handler)
    assert code == 0, err
    assert "mgrid_relayer_client_height" in seen["body"]
    lines = [json.loads(line) for line in err.strip().splitlines()]
    assert any("recv" in line["msg"] for line in lines)
    assert lines[-1]["msg"] == "stopped"
    state = json.loads((cenv.dir / "state.json").read_text())
    assert state["paths"]["default"]["a"]["cursor"] > 0


def test_configuration_errors_exit_2(tmp_path: FsPath, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(tmp_path / "none.toml"), "status"]) == 2
    assert "no relayer configuration" in capsys.readouterr().err
