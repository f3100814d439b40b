"""A multi-host network on one machine: one Linux network namespace per node.

``python -m localnet netns up`` runs the same layout ``testnet`` writes for
real machines (one IP per node, the standard ports on each) here. Node
``i`` gets namespace ``mgn-<tag>-<i>``, whose ``eth0`` is one end of a veth
pair; the other end, ``mgv-<tag>-<i>``, is a port of the bridge
``mgb-<tag>`` in the root namespace. Nodes take the subnet's first
addresses, the bridge its last usable one, so this machine (the localnet
tool, tests, the ``mgrid`` CLI) reaches every node at ``http://<ip>:26657``.
``<tag>`` is derived from the home path, so two networks never share a
name and a crashed run's leftovers can be found again from its home alone.

A node's app and CometBFT run inside its namespace (``ip netns exec``), ABCI
on the namespace's own 127.0.0.1. The state file records the namespaces,
the bridge, the subnet and any partition, so ``down``, ``status``,
``stop-node``, ``start-node`` and ``kill-app`` work on such a network as on
any localnet; ``netns down`` also removes the namespaces and the bridge.

Partitions are real: in each namespace, an ``unreachable`` route per
address of a node of another group makes every packet towards it fail to
leave, in both directions, while the route to the bridge (this machine)
stays, so tests can watch every node's height during a split. Established
TCP connections are not reset, as on a real network; they carry traffic
again once healed. Needs root and iproute2.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from localnet import network as net
from localnet import procs
from localnet.create import create_network
from localnet.errors import HomeError, LocalnetError
from localnet.layout import (
    ANY_HOST,
    APP_KINDS,
    DEFAULT_BLOCK_TIME,
    DEFAULT_VALIDATORS,
    STATE_FILE,
    NetnsSection,
    Network,
    Ports,
    Process,
    check_chain_id,
    default_home,
)

DEFAULT_CHAIN_ID = "mg-netns"
DEFAULT_SUBNET = "10.77.0.0/24"
NAMESPACE_PREFIX = "mgn-"
BRIDGE_PREFIX = "mgb-"
VETH_PREFIX = "mgv-"
NODE_INTERFACE = "eth0"  # the namespace's end of the veth pair, as on a real host
TAG_LENGTH = 6
IP_TIMEOUT = 30.0
GONE_TIMEOUT = 10.0


@dataclass(frozen=True)
class NetnsOptions:
    """Options of :func:`up`. On an existing home they must match what it records."""

    home: Path | None = None
    chain_id: str = DEFAULT_CHAIN_ID
    validators: int = DEFAULT_VALIDATORS
    subnet: str = DEFAULT_SUBNET
    block_time: float = DEFAULT_BLOCK_TIME
    app: str = "mgrid"
    timeout: float = net.UP_TIMEOUT

    def resolved_home(self) -> Path:
        return (self.home or default_home(self.chain_id)).resolve()


# -- availability ------------------------------------------------------------------------------


@functools.cache
def available() -> str | None:
    """None if network namespaces can be used here, else the reason they cannot.

    Checks what ``up`` needs: Linux, root, iproute2, and that a namespace
    and a bridge can really be created (a container may forbid either);
    the probes are removed at once.
    """
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return f"creating network namespaces needs root (running as uid {os.geteuid()})"
    try:
        procs.ip_binary()
    except LocalnetError as exc:
        return str(exc)
    probe = f"mgp-{os.getpid() % 10**8}"
    try:
        _ip("netns", "add", probe)
    except LocalnetError as exc:
        return f"cannot create a network namespace: {exc}"
    try:
        _ip("link", "add", probe, "type", "bridge")
        _ip("link", "del", probe)
    except LocalnetError as exc:
        return f"cannot create a bridge: {exc}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


def is_netns(network: Network) -> bool:
    """True if ``network``'s nodes run in network namespaces of this machine."""
    return network.netns is not None


# -- names and addresses -----------------------------------------------------------------------


def tag_of(home: Path) -> str:
    """The short name part unique to ``home`` that every interface and namespace carries."""
    return hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:TAG_LENGTH]


def parse_subnet(text: str, validators: int) -> ipaddress.IPv4Network:
    """The IPv4 subnet for ``validators`` nodes and the bridge.

    Raises:
        HomeError: not an IPv4 network, not a private range, or too small.
    """
    try:
        subnet = ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise HomeError(
            f"invalid subnet {text!r}: {exc}; give an IPv4 network such as {DEFAULT_SUBNET}"
        ) from None
    if not subnet.is_private:
        raise HomeError(
            f"subnet {subnet} is not a private range; use one inside 10.0.0.0/8, "
            "172.16.0.0/12 or 192.168.0.0/16 so no real host's address is taken over"
        )
    usable = subnet.num_addresses - 2 if subnet.prefixlen <= 30 else 0
    if usable < validators + 1:
        raise HomeError(
            f"subnet {subnet} has {usable} usable addresses but {validators} nodes and the "
            f"bridge need {validators + 1}; use a larger one (a /24 holds 253 nodes)"
        )
    return subnet


def plan(
    home: Path, subnet: ipaddress.IPv4Network, validators: int
) -> tuple[NetnsSection, list[str]]:
    """The namespace layout of a new network under ``home`` and its node addresses."""
    tag = tag_of(home)
    first = subnet.network_address + 1
    hosts = [str(first + i) for i in range(validators)]
    section = NetnsSection(
        tag=tag,
        subnet=str(subnet),
        bridge=f"{BRIDGE_PREFIX}{tag}",
        bridge_address=str(subnet.broadcast_address - 1),
        namespaces=[f"{NAMESPACE_PREFIX}{tag}-{i}" for i in range(validators)],
        veths=[f"{VETH_PREFIX}{tag}-{i}" for i in range(validators)],
    )
    return section, hosts


# -- iproute2 ----------------------------------------------------------------------------------


def _ip(*args: str, check: bool = True, netns: str | None = None) -> str:
    """Run ``ip [-n NETNS] ARGS`` and return its stdout.

    Raises:
        LocalnetError: the command failed and ``check`` (its message is included).
    """
    argv = [procs.ip_binary(), *(("-n", netns) if netns else ()), *args]
    try:
        result = subprocess.run(
            argv, capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise LocalnetError(f"`{' '.join(argv)}` did not finish in {IP_TIMEOUT:.0f} s") from None
    if check and result.returncode != 0:
        raise LocalnetError(
            f"`{' '.join(argv)}` failed with exit code {result.returncode}: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    return result.stdout


def namespaces() -> set[str]:
    """Names of the named network namespaces on this machine."""
    return {line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()}


def links() -> set[str]:
    """Names of the network interfaces of the root namespace."""
    names = set()
    for line in _ip("-o", "link", "show").splitlines():
        # "7: mgv-abc123-0@if2: <BROADCAST,...> ..."
        parts = line.split(":", 2)
        if len(parts) > 1:
            names.add(parts[1].strip().split("@", 1)[0])
    return names


def leftovers(tag: str) -> list[str]:
    """Namespaces and interfaces on this machine that carry ``tag`` (empty after ``down``)."""
    names = sorted(name for name in namespaces() if name.startswith(f"{NAMESPACE_PREFIX}{tag}-"))
    names += sorted(
        name
        for name in links()
        if name == f"{BRIDGE_PREFIX}{tag}" or name.startswith(f"{VETH_PREFIX}{tag}-")
    )
    return names


def _check_subnet_free(section: NetnsSection) -> None:
    """Refuse a subnet this machine already uses elsewhere (it would cut off real traffic)."""
    subnet = ipaddress.IPv4Network(section.subnet)
    for line in _ip("-4", "-o", "addr", "show").splitlines():
        # "2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0 ..."
        fields = line.split()
        if len(fields) < 4 or fields[2] != "inet" or fields[1] == section.bridge:
            continue
        address = ipaddress.IPv4Interface(fields[3])
        if address.network.overlaps(subnet):
            raise HomeError(
                f"subnet {subnet} overlaps {address} of interface {fields[1]} on this machine; "
                "choose another --subnet"
            )
    for line in _ip("-4", "route", "show").splitlines():
        fields = line.split()
        if not fields or fields[0] == "default":
            continue
        dev = fields[fields.index("dev") + 1] if "dev" in fields else ""
        if dev == section.bridge:
            continue
        try:
            dest = ipaddress.IPv4Network(fields[0], strict=False)
        except ValueError:
            continue  # a route type keyword first ("unreachable 10.1.2.3"), not ours to judge
        if dest.overlaps(subnet):
            raise HomeError(
                f"subnet {subnet} overlaps the route {line.strip()!r} on this machine; "
                "choose another --subnet"
            )


def ensure_links(network: Network) -> None:
    """Create whatever of the network's namespaces, veths and bridge is missing (idempotent).

    A recorded partition is applied again, so namespaces recreated after a
    reboot or a crash are cut off as the state file says.
    """
    section = section_of(network)
    subnet = ipaddress.IPv4Network(section.subnet)
    existing_links = links()
    existing_namespaces = namespaces()
    if section.bridge not in existing_links:
        _check_subnet_free(section)
        _ip("link", "add", section.bridge, "type", "bridge")
    _ip("addr", "replace", f"{section.bridge_address}/{subnet.prefixlen}", "dev", section.bridge)
    _ip("link", "set", section.bridge, "up")
    for node in network.nodes:
        namespace = section.namespaces[node.index]
        veth = section.veths[node.index]
        fresh = namespace not in existing_namespaces
        if fresh:
            _ip("netns", "add", namespace)
        has_eth0 = not fresh and bool(
            _ip("link", "show", NODE_INTERFACE, netns=namespace, check=False).strip()
        )
        if veth not in existing_links or not has_eth0:
            # Half a pair is useless: start this node's link over.
            _ip("link", "del", veth, check=False)
            _ip("link", "del", NODE_INTERFACE, netns=namespace, check=False)
            _ip("link", "add", veth, "type", "veth", "peer", "name", NODE_INTERFACE,
                "netns", namespace)  # fmt: skip
        _ip("link", "set", veth, "master", section.bridge)
        _ip("link", "set", veth, "up")
        _ip("addr", "replace", f"{node.host}/{subnet.prefixlen}", "dev", NODE_INTERFACE,
            netns=namespace)  # fmt: skip
        _ip("link", "set", NODE_INTERFACE, "up", netns=namespace)
        # The app's ABCI server and CometBFT's proxy_app meet on the namespace's own loopback.
        _ip("link", "set", "lo", "up", netns=namespace)
    _apply_partition(network, section.partition)


def remove_links(tag: str, recorded: NetnsSection | None = None) -> list[str]:
    """Delete the veths, namespaces and bridge of ``tag``; return what was removed.

    Processes still inside a namespace (a run that crashed before recording
    them) are stopped first: the namespace is unique to this home, so they
    belong to it. Veths go before their namespaces, because a deleted
    namespace takes its interfaces with it only some time later.

    Raises:
        LocalnetError: something could not be removed.
    """
    present_namespaces = namespaces()
    ours = {name for name in present_namespaces if name.startswith(f"{NAMESPACE_PREFIX}{tag}-")}
    if recorded is not None:
        ours |= set(recorded.namespaces) & present_namespaces
    strays = []
    for namespace in sorted(ours):
        for pid_text in _ip("netns", "pids", namespace, check=False).split():
            pid = int(pid_text)
            strays.append(Process(pid=pid, start_time=procs.start_time_of(pid), argv=[]))
    survivors = procs.terminate(strays)
    if survivors:
        pids = ", ".join(str(p.pid) for p in survivors)
        raise LocalnetError(f"could not stop process(es) {pids} inside the namespaces of {tag}")
    removed = []
    for name in sorted(n for n in links() if n.startswith(f"{VETH_PREFIX}{tag}-")):
        _ip("link", "del", name)
        removed.append(name)
    for namespace in sorted(ours):
        _ip("netns", "del", namespace)
        removed.append(namespace)
    bridge = f"{BRIDGE_PREFIX}{tag}"
    if bridge in links():
        _ip("link", "del", bridge)
        removed.append(bridge)
    deadline = time.monotonic() + GONE_TIMEOUT
    while (left := leftovers(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        raise LocalnetError(f"still present after removing them: {', '.join(left)}")
    return removed


# -- up and down -------------------------------------------------------------------------------


def up(options: NetnsOptions, log: Callable[[str], None] = lambda _: None) -> Network:
    """Create the network if needed, its namespaces and links, start every node.

    Returns once every node is at height 2 or more and the chain has
    committed a block since (if a partition is recorded, once every node's
    RPC answers: a split network may be unable to commit).

    Raises:
        LocalnetError: namespaces are unusable here (the reason is given).
        HomeError: bad options, or ``home`` holds something else or differs from them.
        StartError: a process exited or the chain did not progress in time;
            the processes started by this call have been stopped again.
    """
    reason = available()
    if reason is not None:
        raise LocalnetError(f"network namespaces are not usable here: {reason}")
    if options.app not in APP_KINDS:
        raise HomeError(f"unknown app {options.app!r}: use one of {', '.join(APP_KINDS)}")
    home = options.resolved_home()
    if (home / STATE_FILE).is_file():
        network = Network.load(home)
        _check_matches(network, options)
    else:
        network = _create(home, options, log)
    with net.locked(network):
        section = section_of(network)
        log(
            f"starting {network.chain_id} in {len(network.nodes)} network namespaces "
            f"on {section.subnet} (bridge {section.bridge} {section.bridge_address})"
        )
        ensure_links(network)
        if section.partition is not None:
            log(
                f"partition {describe_partition(section.partition)} in force: "
                "not waiting for commits"
            )
        net.start_all_and_wait(network, options.timeout, commits=section.partition is None)
    return network


def _create(home: Path, options: NetnsOptions, log: Callable[[str], None]) -> Network:
    check_chain_id(options.chain_id)
    if options.validators < 1:
        raise HomeError(f"need at least 1 validator, got {options.validators}")
    subnet = parse_subnet(options.subnet, options.validators)
    if home.exists() and any(home.iterdir()):
        raise HomeError(
            f"{home} exists but is not a localnet home ({STATE_FILE} is missing); "
            "remove it or choose another --home"
        )
    section, hosts = plan(home, subnet, options.validators)
    stale = leftovers(section.tag)
    if stale:
        # A run under this home crashed before writing its state file.
        log(f"removing leftovers of an earlier run: {', '.join(stale)}")
        remove_links(section.tag)
    _check_subnet_free(section)
    if home.exists():
        home.rmdir()
    log(
        f"creating {options.validators}-validator network {options.chain_id} in {home}, "
        f"one namespace per node on {subnet}"
    )
    return create_network(
        home,
        chain_id=options.chain_id,
        validators=options.validators,
        port_offset=0,
        block_time=options.block_time,
        app=options.app,
        hosts=hosts,
        listen_host=ANY_HOST,
        ports=[Ports.standard()] * options.validators,
        netns=section,
    )


def _check_matches(network: Network, options: NetnsOptions) -> None:
    section = section_of(network)
    recorded = {
        "--chain-id": (options.chain_id, network.chain_id),
        "--validators": (options.validators, len(network.nodes)),
        "--subnet": (str(parse_subnet(options.subnet, options.validators)), section.subnet),
        "--block-time": (options.block_time, network.block_time),
        "--app": (options.app, network.app),
    }
    for flag, (given, actual) in recorded.items():
        if given != actual:
            raise HomeError(
                f"{network.home} holds a network created with {flag} {actual}, not {given}; "
                f"run `python -m localnet netns down --home {network.home}` and remove the "
                "directory to create a different one, or drop the option"
            )


def down(network: Network) -> None:
    """Stop every process of ``network``, then remove its namespaces, veths and bridge.

    Idempotent. The home (chain data, keys, logs) stays; ``up`` recreates
    the namespaces and the chain continues. Any recorded partition is
    forgotten with the links it lived in.
    """
    section = section_of(network)
    net.down(network)
    with net.locked(network):
        section = section_of(network)
        remove_links(section.tag, section)
        section.partition = None
        network.save()


def down_home(home: Path) -> list[str]:
    """``netns down`` for ``home``: the network it records, or only the leftovers of its tag.

    Returns the names removed when there was no state file (a run that
    crashed while creating it); an empty list otherwise.
    """
    home = home.resolve()
    if (home / STATE_FILE).is_file():
        network = Network.load(home)
        section_of(network)
        down(network)
        return []
    return remove_links(tag_of(home))


# -- partitions --------------------------------------------------------------------------------


def check_groups(groups: Sequence[Sequence[int]], validators: int) -> list[list[int]]:
    """Validate a partition: every node in exactly one group, at least two non-empty groups.

    Returns the groups with their members sorted, in order of their lowest member.

    Raises:
        HomeError: a bad index, a node in two groups or in none, fewer than two groups.
    """
    seen: dict[int, int] = {}
    cleaned = []
    for number, group in enumerate(groups):
        members = sorted(set(group))
        if not members:
            raise HomeError(f"partition group {number + 1} is empty")
        for index in members:
            if not 0 <= index < validators:
                raise HomeError(
                    f"no node {index} in the partition: the network has nodes 0..{validators - 1}"
                )
            if index in seen:
                raise HomeError(
                    f"node {index} is in partition groups {seen[index] + 1} and {number + 1}"
                )
            seen[index] = number
        cleaned.append(members)
    missing = [i for i in range(validators) if i not in seen]
    if missing:
        raise HomeError(
            f"node(s) {', '.join(map(str, missing))} in no partition group; put every node "
            "in one (e.g. 0,1/2,3) or use --isolate I"
        )
    if len(cleaned) < 2:
        raise HomeError("a partition needs at least two groups (e.g. 0,1/2,3)")
    return sorted(cleaned)


def parse_groups(text: str, validators: int) -> list[list[int]]:
    """Groups written ``0,1/2,3`` (slash between groups, commas inside one)."""
    if not re.fullmatch(r"\s*\d+(\s*,\s*\d+)*(\s*/\s*\d+(\s*,\s*\d+)*)+\s*", text):
        raise HomeError(
            f"cannot read partition {text!r}: write groups of node indexes with commas "
            "inside a group and '/' between groups, e.g. 0,1/2,3"
        )
    groups = [[int(i) for i in part.split(",")] for part in text.split("/")]
    return check_groups(groups, validators)


def isolate_groups(index: int, validators: int) -> list[list[int]]:
    """The partition that cuts node ``index`` off from all the others."""
    if not 0 <= index < validators:
        raise HomeError(f"no node {index}: the network has nodes 0..{validators - 1}")
    return check_groups([[index], [i for i in range(validators) if i != index]], validators)


def describe_partition(groups: Sequence[Sequence[int]] | None) -> str:
    """``0,1 / 2,3``, or ``none``."""
    if not groups:
        return "none"
    return " / ".join(",".join(str(i) for i in group) for group in groups)


def partition(network: Network, groups: list[list[int]]) -> None:
    """Cut the links between the ``groups`` of node indexes (replacing any earlier partition).

    Nodes of one group still reach each other, and this machine reaches
    every node. Recorded in the state file until :func:`heal`.

    Raises:
        HomeError: not a netns network, or bad groups (see :func:`check_groups`).
        LocalnetError: a namespace is missing (run ``netns up``) or a route could not be set.
    """
    section_of(network)
    _set_partition(network, check_groups(groups, len(network.nodes)))


def heal(network: Network) -> None:
    """Restore full connectivity between all nodes (idempotent)."""
    section_of(network)
    _set_partition(network, None)


def _set_partition(network: Network, groups: list[list[int]] | None) -> None:
    """Apply ``groups`` (None: none) to the routes and record it, under the home's lock."""
    with net.locked(network):
        section = section_of(network)
        _require_namespaces(network, section)
        _apply_partition(network, groups)
        section.partition = groups
        network.save()


def _apply_partition(network: Network, groups: list[list[int]] | None) -> None:
    """Make the namespaces' routes match ``groups`` (None: no partition)."""
    section = section_of(network)
    group_of = {i: g for g, group in enumerate(groups or []) for i in group}
    for node in network.nodes:
        namespace = section.namespaces[node.index]
        # Only partitions put unreachable routes there, so all of them go.
        for line in _ip("route", "show", "type", "unreachable", netns=namespace).splitlines():
            fields = line.split()
            if len(fields) >= 2:
                _ip("route", "del", "unreachable", fields[1], netns=namespace)
        if groups is None:
            continue
        for other in network.nodes:
            if group_of[other.index] != group_of[node.index]:
                _ip("route", "replace", "unreachable", f"{other.host}/32", netns=namespace)


def _require_namespaces(network: Network, section: NetnsSection) -> None:
    missing = sorted(set(section.namespaces) - namespaces())
    if missing:
        raise LocalnetError(
            f"network namespace(s) {', '.join(missing)} do not exist; "
            f"run `python -m localnet netns up --home {network.home}` first"
        )


def section_of(network: Network) -> NetnsSection:
    """The namespace layout of ``network``.

    Raises:
        HomeError: ``network`` is not a network-namespace network.
    """
    if network.netns is None:
        what = (
            "node homes for other machines (testnet)"
            if network.remote
            else "a localnet on this machine's loopback"
        )
        raise HomeError(
            f"{network.home} holds {what}, not a network-namespace network "
            "(created by `python -m localnet netns up`)"
        )
    return network.netns
