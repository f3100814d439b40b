"""A 4-validator mgrid localnet for one test module, via the operators' command line,
and the ``mgrid`` CLI run against it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from localnet.testing import LocalnetRunner


def mgrid_localnet(
    tmp_path_factory: pytest.TempPathFactory, port_offset: int, chain_id: str
) -> Iterator[LocalnetRunner]:
    """Up before the module's tests, down after them; use with ``yield from``."""
    runner = LocalnetRunner(
        tmp_path_factory.mktemp(chain_id) / "net",
        port_offset=port_offset,
        chain_id=chain_id,
        validators=4,
        app="mgrid",
        block_time=0.5,
    )
    runner.up()
    yield runner
    runner.down(check=False)


# -- the mgrid CLI against a localnet (each call is a fresh `mgrid` process) ----------------


def mgrid_run(net: LocalnetRunner, *args: str, node: int = 0) -> subprocess.CompletedProcess[str]:
    """``mgrid --output json ARGS`` against node ``node``, with the localnet's test keyring."""
    n = net.network()
    cmd = [
        sys.executable, "-m", "clients.mgrid.cli",
        "--node", n.node(node).rpc_url,
        "--keyring-dir", str(n.keyring_dir),
        "--keyring-backend", "test",
        "--output", "json",
        *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def mgrid(net: LocalnetRunner, *args: str, node: int = 0) -> Any:
    """The JSON ``mgrid ARGS`` printed; the command must succeed."""
    out = mgrid_run(net, *args, node=node)
    assert out.returncode == 0, f"{args}: {out.stderr}{out.stdout}"
    return json.loads(out.stdout)


def mgrid_tx(net: LocalnetRunner, *args: str, node: int = 0) -> Any:
    """``mgrid tx ARGS`` through node ``node``, waited for in a block; the tx must succeed."""
    result = mgrid(net, "tx", *args, "--broadcast-mode", "commit", "--yes", node=node)
    assert result["code"] == 0, result
    return result


def send_transfer(net: LocalnetRunner, node: int = 0) -> None:
    """One committed transfer (1ugrid, faucet to utility) through node ``node``, so that
    app hashes change from block to block."""
    mgrid_tx(net, "bank", "send", "faucet", net.network().keys["utility"], "1ugrid", node=node)


# -- watching a localnet --------------------------------------------------------------------


def wait_until(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    """Poll ``check`` every 0.5 s until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def assert_same_history(net: LocalnetRunner) -> int:
    """Every node has the same header app hash at every height all of them have;
    returns that common height."""
    heights = net.heights()
    assert None not in heights.values(), heights
    common = min(h for h in heights.values() if h is not None)
    histories = net.app_hash_histories(1, common)
    for index, history in histories.items():
        diverging = [h for h in history if history[h] != histories[0][h]]
        assert not diverging, f"node{index} differs from node0 at heights {diverging[:5]}"
    return common


def supply(net: LocalnetRunner, node: int = 0, denom: str = "ugrid") -> int:
    out = mgrid(net, "query", "bank", "total-supply", node=node)
    coins = out["supply"] if isinstance(out, dict) else out
    return sum(int(c["amount"]) for c in coins if c["denom"] == denom)


def schedule(net: LocalnetRunner) -> dict[str, Any]:
    return mgrid(net, "query", "market", "schedule")  # type: ignore[no-any-return]


def wait_block_time(net: LocalnetRunner, t: int, what: str) -> None:
    """Until a block at or after unix time ``t`` is committed."""
    deadline = time.monotonic() + 120
    while int(schedule(net)["block_time"]) < t:
        assert time.monotonic() < deadline, f"no block reached {t} ({what})"
        time.sleep(0.5)


def wait_settled(net: LocalnetRunner, n: int) -> None:
    """Until interval n's settlement window has ended and the settling block is queryable."""
    settlement = mgrid(net, "query", "settlement", "interval", str(n))
    wait_block_time(net, int(settlement["window_end"]), f"settlement of {n}")
    time.sleep(2)


def reading(net: LocalnetRunner, who: str, n: int, *, exported: int = 0, imported: int = 0) -> None:
    """A reading of ``who``'s meter (keyring key ``<who>-meter``) for interval n, sent by ``who``."""
    mgrid_tx(
        net, "settlement", "reading", "--meter", f"{who}-meter", "--interval", str(n),
        "--exported", str(exported), "--imported", str(imported), "--from", who,
    )  # fmt: skip
