"""``up`` when things go wrong, and localnets side by side.

A clash on a port is refused before anything is created; an app or a
CometBFT that exits during start-up is reported with the log file to read,
and the half-started network is stopped again. Port offsets 1100-1300 keep
these networks apart from test_network's and from a developer's localnet.
"""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from localnet.layout import Ports
from localnet.testing import LocalnetRunner, processes_mentioning

pytestmark = pytest.mark.localnet


def runner(home: Path, offset: int, **kw: object) -> LocalnetRunner:
    return LocalnetRunner(home, port_offset=offset, validators=2, app="kvstore", **kw)  # type: ignore[arg-type]


def test_port_in_use_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    ln = runner(tmp_path / "net", 1100)
    port = Ports.of(1, 1100).rpc
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = ln.up(check=False)
    assert result.returncode == 1
    assert f"port {port} (node1 rpc)" in result.stderr
    assert "--port-offset" in result.stderr
    assert not ln.home.exists()


def test_app_that_exits_is_reported_with_its_log_and_nothing_is_left_running(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken-app"
    broken.write_text("#!/bin/sh\necho 'broken app: refusing to start' >&2\nexit 3\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    ln = runner(tmp_path / "net", 1100, env={"ABCI_CLI": str(broken)})

    result = ln.up(check=False)
    assert result.returncode == 1
    assert "exited with status 3" in result.stderr
    assert "/logs/app.log" in result.stderr
    assert "broken app: refusing to start" in result.stderr  # the log's tail is shown
    assert processes_mentioning(str(ln.home)) == []
    assert ln.recorded_pids() == []


def test_cometbft_failure_stops_the_half_started_network(tmp_path: Path) -> None:
    ln = runner(tmp_path / "net", 1100)
    ln.up()
    ln.down()
    config = ln.home / "node1" / "config" / "config.toml"
    config.write_text(config.read_text() + "\n[this is not toml\n")

    result = ln.up(check=False)
    try:
        assert result.returncode == 1
        assert "node1/logs/cometbft.log" in result.stderr
        assert processes_mentioning(str(ln.home)) == []
        assert ln.recorded_pids() == []
    finally:
        ln.down(check=False)  # only if the assertions failed is anything running


def test_two_localnets_run_side_by_side(tmp_path: Path) -> None:
    first = runner(tmp_path / "a", 1200, chain_id="side-a")
    second = runner(tmp_path / "b", 1300, chain_id="side-b")
    try:
        first.up()
        second.up()
        height_a, height_b = first.max_height(), second.max_height()
        first.wait_for_height(height_a + 2, timeout=60)
        second.wait_for_height(height_b + 2, timeout=60)
        for ln in (first, second):
            report = ln.status()
            assert report["chain_id"] == ln.chain_id
            assert report["all_running"] and report["app_hashes_agree"]
            assert ln.rpc(0).chain_id() == ln.chain_id
    finally:
        first.down(check=False)
        second.down(check=False)
    assert processes_mentioning(str(tmp_path)) == []


def test_options_contradicting_an_existing_home_are_refused(tmp_path: Path) -> None:
    ln = runner(tmp_path / "net", 1100)
    ln.up()
    try:
        result = ln.run("up", "--validators", "3", check=False)
        assert result.returncode == 1
        assert "--validators 2, not 3" in result.stderr
    finally:
        ln.down()


def test_commands_on_a_missing_home_name_it(tmp_path: Path) -> None:
    ln = runner(tmp_path / "nothing-here", 1100)
    for command in (["down"], ["status"], ["start-node", "0"]):
        result = ln.run(*command, check=False)
        assert result.returncode == 1
        assert f"no localnet at {ln.home}" in result.stderr
