"""``mgridd start --metrics HOST:PORT`` as a process: the endpoint answers from
start-up, JSON logs are JSON, and a bad address stops it with a clear message."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.abci_client import free_port

DEADLINE = 30.0


def mgridd(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "app.daemon", "start", "--home", str(home), "--grpc", "", *args]


def wait_for_metrics(url: str, proc: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return str(resp.read().decode())
        except (urllib.error.URLError, ConnectionError):
            if proc.poll() is not None:
                raise AssertionError(f"mgridd exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {DEADLINE} s") from None
            time.sleep(0.1)


def test_metrics_endpoint_and_json_logs(tmp_path: Path) -> None:
    port = free_port()
    argv = mgridd(
        tmp_path,
        "--abci", f"tcp://127.0.0.1:{free_port()}",
        "--metrics", f"127.0.0.1:{port}",
        "--log-format", "json",
    )  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        text = wait_for_metrics(f"http://127.0.0.1:{port}/metrics", proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    assert 'mgrid_app_info{app_version="1",version="0.1.0"} 1.0' in text
    assert "mgrid_height 0.0" in text
    assert "mgrid_orders_open 0.0" in text
    lines = [json.loads(line) for line in stderr.splitlines()]
    assert any(line["msg"] == f"metrics on http://127.0.0.1:{port}/metrics" for line in lines)
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])


@pytest.mark.parametrize("taken", [False, True])
def test_a_bad_metrics_address_stops_mgridd_with_a_clear_message(
    tmp_path: Path, taken: bool
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        address = f"127.0.0.1:{squatter.getsockname()[1]}" if taken else "localhost"
        argv = mgridd(tmp_path, "--abci", f"tcp://127.0.0.1:{free_port()}", "--metrics", address)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=DEADLINE, check=False)
    assert result.returncode == 1
    expected = f"cannot serve metrics on {address}" if taken else "is not HOST:PORT"
    assert expected in result.stderr
