"""A 4-validator network with one network namespace per node, under real partitions
(issue 8: one node cut off, a 2-2 split, a full restart; then nothing left behind).

One network (mgrid app, 0.5 s blocks, subnet 10.77.1.0/24) serves the module's
chain tests, which run in file order and each leave every node running and
the network healed. The partitions cut links (unreachable routes inside the
namespaces), never processes. The checks of names, subnets and groups at the
top need no root and always run.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localnet import netns, procs
from localnet.errors import HomeError
from localnet.layout import Network, Ports
from localnet.testing import CommandFailed, LocalnetRunner, pid_alive
from tests.support.localnets import assert_same_history, send_transfer

SUBNET = "10.77.1.0/24"
VALIDATORS = 4
BLOCK_TIME = 0.5
# A stalled chain is only known stalled after every round could have ended:
# three block intervals plus CometBFT's propose, prevote and precommit timeouts.
STALL_WINDOW = 3 * BLOCK_TIME + 3 + 1 + 1 + 2

UNUSABLE = netns.available()
needs_netns = pytest.mark.skipif(
    UNUSABLE is not None, reason=f"network namespaces unusable here: {UNUSABLE}"
)


# -- names, subnets and groups (no root needed) ------------------------------------------------


def test_plan_gives_each_node_an_address_and_names_that_fit_interface_limits(
    tmp_path: Path,
) -> None:
    subnet = netns.parse_subnet(SUBNET, 4)
    section, hosts = netns.plan(tmp_path / "net", subnet, 4)
    assert hosts == ["10.77.1.1", "10.77.1.2", "10.77.1.3", "10.77.1.4"]
    assert section.bridge_address == "10.77.1.254"
    assert section.subnet == SUBNET
    tag = netns.tag_of(tmp_path / "net")
    assert tag != netns.tag_of(tmp_path / "other")
    for name in [section.bridge, *section.veths, *section.namespaces]:
        assert tag in name
        assert len(name) <= 15  # IFNAMSIZ - 1
    assert len(set(section.namespaces)) == 4 and len(set(section.veths)) == 4


@pytest.mark.parametrize(
    ("subnet", "validators", "message"),
    [
        ("10.77.1.5/24", 4, "has host bits set"),
        ("10.77.1.0/33", 4, "invalid subnet"),
        ("fd00::/64", 4, "invalid subnet"),
        ("8.8.8.0/24", 4, "not a private range"),
        ("10.77.1.0/29", 6, "6 usable addresses"),
        ("10.77.1.0/31", 1, "0 usable addresses"),
    ],
)
def test_bad_subnets_are_refused(subnet: str, validators: int, message: str) -> None:
    with pytest.raises(HomeError, match=message):
        netns.parse_subnet(subnet, validators)


def test_partition_groups_are_parsed_and_checked() -> None:
    assert netns.parse_groups("0,1/2,3", 4) == [[0, 1], [2, 3]]
    assert netns.parse_groups(" 3 / 2,0,1 ", 4) == [[0, 1, 2], [3]]
    assert netns.isolate_groups(2, 4) == [[0, 1, 3], [2]]
    assert netns.describe_partition([[0, 1], [2, 3]]) == "0,1 / 2,3"
    assert netns.describe_partition(None) == "none"
    for text, message in [
        ("0,1,2,3", "cannot read partition"),
        ("0,1/x", "cannot read partition"),
        ("0,1/2", "node\\(s\\) 3 in no partition group"),
        ("0,1/1,2,3", "node 1 is in partition groups 1 and 2"),
        ("0,1/2,3,4", "no node 4"),
    ]:
        with pytest.raises(HomeError, match=message):
            netns.parse_groups(text, 4)
    with pytest.raises(HomeError, match="no node 4"):
        netns.isolate_groups(4, 4)
    with pytest.raises(HomeError, match="at least two groups"):
        netns.check_groups([[0, 1, 2, 3]], 4)


# -- a real network ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalnetRunner]:
    runner = LocalnetRunner(
        tmp_path_factory.mktemp("netns") / "net",
        port_offset=0,
        chain_id="ns-test",
        validators=VALIDATORS,
        block_time=BLOCK_TIME,
        app="mgrid",
    )
    try:
        runner.run(
            "netns",
            "up",
            "--chain-id",
            runner.chain_id,
            "--validators",
            str(VALIDATORS),
            "--subnet",
            SUBNET,
            "--block-time",
            str(BLOCK_TIME),
        )
        yield runner
    finally:
        runner.run("netns", "down", check=False)


def wait_all_equal(ln: LocalnetRunner, timeout: float) -> dict[int, int | None]:
    """Wait until every node reports the same height (one of them caught up)."""
    deadline = time.monotonic() + timeout
    while True:
        heights = ln.heights()
        if None not in heights.values() and len(set(heights.values())) == 1:
            return heights
        if time.monotonic() > deadline:
            raise CommandFailed(f"nodes not level within {timeout} s: {heights}")
        time.sleep(0.25)


@needs_netns
def test_each_node_runs_in_its_namespace_on_its_own_ip_with_standard_ports(
    ln: LocalnetRunner,
) -> None:
    net = ln.network()
    assert netns.is_netns(net) and net.netns is not None
    report = ln.status()
    assert report["app_hashes_agree"] is True and report["common_height"] >= 2
    assert report["netns"]["partition"] is None
    for node in net.nodes:
        assert node.host == str(ipaddress.IPv4Address("10.77.1.1") + node.index)
        assert node.ports == Ports.standard()
        assert node.rpc_url == f"http://{node.host}:26657"
        namespace = net.netns.namespaces[node.index]
        inode = procs.netns_inode(namespace)
        assert inode is not None
        # The recorded pids are the programs themselves, inside the node's namespace.
        assert set(node.processes) == {"app", "cometbft"}
        for proc in node.processes.values():
            assert pid_alive(proc.pid)
            assert procs.netns_inode_of(proc.pid) == inode
        with open(f"/proc/{node.processes['cometbft'].pid}/cmdline", "rb") as f:
            assert b"cometbft" in f.read().split(b"\0")[0]
        # ABCI is on the namespace's own loopback, not on the node's address.
        assert procs.is_listening("127.0.0.1", node.ports.abci, pid=node.processes["app"].pid)
        with socket.socket() as sock:
            sock.settimeout(2)
            assert sock.connect_ex((node.host, node.ports.abci)) != 0
        assert not procs.port_free("0.0.0.0", node.ports.rpc, netns=namespace)
    out = ln.run("status", check=False).stdout
    assert f"network namespaces on {SUBNET}: bridge {net.netns.bridge} (10.77.1.254)" in out
    assert "partition: none" in out


@needs_netns
def test_one_node_cut_off_the_rest_commit_it_stalls_then_catches_up(ln: LocalnetRunner) -> None:
    ln.run("netns", "partition", "--isolate", "3")
    report = ln.status()
    assert report["netns"]["partition"] == [[0, 1, 2], [3]]
    assert "partition: 0,1,2 / 3" in ln.run("status", check=False).stdout
    try:
        base = ln.max_height([0, 1, 2])
        send_transfer(ln, 0)
        # A block node3 had all the votes for when the links went may still land.
        ln.wait_for_height(base + 1, nodes=[0, 1, 2], timeout=60)
        stalled = ln.height(3)
        assert stalled is not None, "node3's RPC must stay reachable from this machine"
        ln.wait_for_height(base + 4, nodes=[0, 1, 2], timeout=60)
        majority = ln.max_height([0, 1, 2])
        assert majority >= base + 4
        assert ln.height(3) == stalled, "a node cut off from 3/4 of the power must not commit"
        assert stalled < majority - 2
    finally:
        ln.run("netns", "heal")
    assert ln.status()["netns"]["partition"] is None
    wait_all_equal(ln, timeout=60)
    assert_same_history(ln)


@needs_netns
def test_two_two_split_commits_nothing_forks_nothing_and_resumes_on_heal(
    ln: LocalnetRunner,
) -> None:
    net = ln.network()
    netns.partition(net, [[0, 1], [2, 3]])  # the Python API the chaos soak uses
    try:
        assert Network.load(ln.home).netns.partition == [[0, 1], [2, 3]]  # type: ignore[union-attr]
        time.sleep(3 * BLOCK_TIME)  # let a block already decided land everywhere
        halted = ln.heights()
        assert None not in halted.values(), halted
        time.sleep(STALL_WINDOW)
        assert ln.heights() == halted, "half the voting power must not commit"
    finally:
        netns.heal(net)
    assert Network.load(ln.home).netns.partition is None  # type: ignore[union-attr]
    resume = max(h for h in halted.values() if h is not None)
    ln.wait_for_height(resume + 2, timeout=60)
    send_transfer(ln, 2)
    assert_same_history(ln)


@needs_netns
def test_full_restart_keeps_namespaces_and_continues_the_same_chain(ln: LocalnetRunner) -> None:
    net = ln.network()
    assert net.netns is not None
    pids = ln.recorded_pids()
    assert len(pids) == 2 * VALIDATORS
    before = assert_same_history(ln)
    history = ln.app_hash_histories(1, before, nodes=[0])[0]

    ln.down()  # every process, namespaces kept
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert all(not n["running"] for n in ln.status()["nodes"])
    assert set(net.netns.namespaces) <= netns.namespaces()

    restarted = netns.up(netns.NetnsOptions(
        home=ln.home, chain_id=ln.chain_id, validators=VALIDATORS, subnet=SUBNET,
        block_time=BLOCK_TIME,
    ))  # fmt: skip
    assert netns.is_netns(restarted)
    ln.wait_for_height(before + 2, timeout=60)
    assert not set(ln.recorded_pids()) & set(pids)
    after = assert_same_history(ln)
    assert after > before
    assert ln.app_hash_histories(1, before, nodes=[3])[3] == history


@needs_netns
def test_node_commands_work_inside_namespaces(ln: LocalnetRunner) -> None:
    before = ln.network().node(1).processes
    ln.kill_app(1)
    assert not pid_alive(before["app"].pid)
    ln.wait_for_height(ln.max_height([0, 2, 3]) + 2, nodes=[0, 2, 3], timeout=60)
    # start-node restarts the app and (whether or not it has exited yet) CometBFT,
    # both back inside node1's namespace.
    ln.start_node(1)
    after = ln.network()
    assert after.netns is not None
    inode = procs.netns_inode(after.netns.namespaces[1])
    for kind, proc in after.node(1).processes.items():
        assert proc.pid != before[kind].pid
        assert procs.netns_inode_of(proc.pid) == inode
    wait_all_equal(ln, timeout=60)
    result = ln.run("up", check=False)
    assert result.returncode == 1 and "netns up" in result.stderr


@needs_netns
def test_netns_down_removes_every_namespace_veth_and_bridge(ln: LocalnetRunner) -> None:
    net = ln.network()
    assert net.netns is not None
    tag = net.netns.tag
    assert len(netns.leftovers(tag)) == 2 * VALIDATORS + 1
    pids = ln.recorded_pids()
    ln.run("netns", "down")
    assert netns.leftovers(tag) == []
    assert [pid for pid in pids if pid_alive(pid)] == []
    assert "removed" in ln.run("netns", "down").stdout  # idempotent
    result = ln.run("start-node", "0", check=False)
    assert result.returncode == 1 and "netns up" in result.stderr


@needs_netns
def test_netns_down_cleans_up_after_a_run_that_crashed_before_its_state_file(
    tmp_path: Path,
) -> None:
    home = tmp_path / "crashed"
    subnet = netns.parse_subnet("10.77.4.0/24", 2)
    section, _ = netns.plan(home, subnet, 2)
    for namespace, veth in zip(section.namespaces, section.veths, strict=True):
        netns._ip("netns", "add", namespace)
        netns._ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
    netns._ip("link", "add", section.bridge, "type", "bridge")
    assert len(netns.leftovers(section.tag)) == 5
    runner = LocalnetRunner(home, port_offset=0)
    out = runner.run("netns", "down").stdout
    assert "removed leftovers" in out and section.bridge in out
    assert netns.leftovers(section.tag) == []
    assert not home.exists()
