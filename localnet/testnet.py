"""Node homes for a network of real machines: ``python -m localnet testnet``.

``testnet --hosts IP1,IP2,... --chain-id ID --out DIR`` writes one node home
per host (``DIR/node<i>``: CometBFT config with every other node as a
persistent peer at its host's address, one shared genesis, the node and
validator keys, and config/app.toml so ``mgridd start --home`` needs no
flags), the keyring of the funded keys, the systemd units and a README
saying which directory goes to which host. Every host uses the standard
ports (P2P 26656, RPC 26657, ABCI 26658 on 127.0.0.1 only, CometBFT's
Prometheus 26660, the app's 26661, gRPC 9090), its servers listening on all
interfaces. Two nodes may share a host when their ports differ:
``HOST:P2P_PORT`` moves all of that node's ports by the same amount.

DIR/localnet.json records the network with ``remote`` set: ``python -m
localnet status --home DIR`` checks the nodes from any machine that reaches
their RPC, while the commands that start or stop processes refuse it. The
deployment guide is docs/deployment.md.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from localnet.create import APP_CONFIG, create_network
from localnet.errors import HomeError
from localnet.layout import (
    ANY_HOST,
    DEFAULT_BLOCK_TIME,
    FUNDED_KEYS,
    KEYRING_BACKEND,
    KEYRING_DIR,
    MAX_PORT,
    P2P_BASE,
    STATE_FILE,
    Network,
    Ports,
)

TEMPLATES = Path(__file__).resolve().parent / "templates" / "systemd"
UNITS = ("mgridd@.service", "cometbft@.service")
UNITS_DIR = "systemd"
README = "README.md"
# Where the units expect things on each host (see the templates and docs/deployment.md).
HOST_NODE_ROOT = "/var/lib/mgrid"
HOST_PREFIX = "/opt/mgrid"

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOTTED_NUMBERS = re.compile(r"^[0-9.]+$")


@dataclass(frozen=True)
class HostSpec:
    """One node's host and the ports it uses there."""

    host: str
    ports: Ports


def check_host(host: str) -> str:
    """An IPv4 address or DNS name a peer can dial, normalised (DNS names lower-cased).

    Raises:
        HomeError: anything else, with what is wrong with it.
    """
    if not host:
        raise HomeError("empty host in --hosts (two commas in a row, or a trailing comma?)")
    if ":" in host or host.startswith("["):
        raise HomeError(f"host {host!r}: IPv6 addresses are not supported; use IPv4 or a DNS name")
    if _DOTTED_NUMBERS.match(host):
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            raise HomeError(f"host {host!r} is not a valid IPv4 address") from None
        if (
            address.is_unspecified
            or address.is_multicast
            or address == ipaddress.IPv4Address("255.255.255.255")
        ):
            raise HomeError(
                f"host {host} is not the address of one machine; give each node's own IPv4 address"
            )
        return str(address)
    name = host.rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise HomeError(
            f"host {host!r} is neither an IPv4 address nor a DNS name (letters, digits and "
            "hyphens in dot-separated labels of at most 63 characters)"
        )
    if labels[-1].isdigit():
        raise HomeError(f"host {host!r}: a DNS name cannot end in a numeric label")
    return name


def parse_hosts(entries: str | Sequence[str]) -> list[HostSpec]:
    """``HOST`` or ``HOST:P2P_PORT`` entries (a comma-separated string or a list).

    A node given a P2P port other than 26656 has all its ports moved by the
    same amount. Nodes may share a host only if their ports do not overlap.

    Raises:
        HomeError: no hosts, a bad host or port, or two nodes on the same ports of a host.
    """
    items = entries.split(",") if isinstance(entries, str) else list(entries)
    if not items or items == [""]:
        raise HomeError("no hosts given: pass --hosts IP1,IP2,... (one per validator)")
    specs: list[HostSpec] = []
    for number, item in enumerate(items):
        text = item.strip()
        host, _, port_text = text.partition(":") if text.count(":") == 1 else (text, "", "")
        shift = 0
        if port_text:
            if not port_text.isdigit():
                raise HomeError(f"host {text!r}: the P2P port {port_text!r} is not a number")
            shift = int(port_text) - P2P_BASE
        ports = Ports.standard(shift)
        named = ports.named()
        if min(named.values()) < 1 or max(named.values()) > MAX_PORT:
            raise HomeError(
                f"host {text!r}: P2P port {P2P_BASE + shift} puts the node's other ports "
                f"outside 1..{MAX_PORT} ({', '.join(f'{k} {v}' for k, v in named.items())})"
            )
        spec = HostSpec(host=check_host(host), ports=ports)
        for earlier_number, earlier in enumerate(specs):
            if earlier.host == spec.host and set(named.values()) & set(
                earlier.ports.named().values()
            ):
                raise HomeError(
                    f"host {spec.host} is given for node {earlier_number} and node {number} "
                    "with overlapping ports; two nodes on one host need their own P2P ports, "
                    f"at least 10 apart (e.g. {spec.host}:{earlier.ports.p2p + 100})"
                )
        specs.append(spec)
    return specs


def create_testnet(
    out: Path,
    hosts: Sequence[HostSpec],
    *,
    chain_id: str,
    block_time: float = DEFAULT_BLOCK_TIME,
    snapshot_interval: int = 0,
) -> Network:
    """Write the node homes, keyring, systemd units and README of a testnet under ``out``.

    Raises:
        HomeError: bad options, or ``out`` exists and is not empty.
        LocalnetError: a step failed; nothing is left under ``out``.
    """
    if not hosts:
        raise HomeError("a testnet needs at least one host")
    out = out.resolve()
    if out.exists():
        if not out.is_dir() or any(out.iterdir()):
            raise HomeError(f"{out} exists and is not an empty directory; choose another --out")
        out.rmdir()
    network = create_network(
        out,
        chain_id=chain_id,
        validators=len(hosts),
        port_offset=0,
        block_time=block_time,
        app="mgrid",
        hosts=[spec.host for spec in hosts],
        listen_host=ANY_HOST,
        ports=[spec.ports for spec in hosts],
        snapshot_interval=snapshot_interval,
    )
    try:
        network.remote = True
        network.save()
        units = out / UNITS_DIR
        units.mkdir()
        for name in UNITS:
            shutil.copyfile(TEMPLATES / name, units / name)
        (out / README).write_text(readme(network), encoding="utf-8")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return network


def readme(network: Network) -> str:
    """DIR/README.md: which directory goes to which host, and how to start it."""
    home = network.home
    rows = []
    for node in network.nodes:
        p = node.ports
        rows.append(
            f"| {node.moniker}/ | {node.host} | {p.p2p} | {p.rpc} | {p.abci} | {p.prometheus} | "
            f"{p.metrics} | {p.grpc} | {node.node_id} |"
        )
    first = network.nodes[0]
    keys = ", ".join(FUNDED_KEYS)
    return "\n".join(
        [
            f"# Testnet {network.chain_id}: {len(network.nodes)} validators",
            "",
            "Written by `python -m localnet testnet`. Each `node<i>/` directory is the",
            "complete home of one node (CometBFT config and keys, genesis, the app's",
            f"config/{APP_CONFIG}) and goes to the host in its row, and to no other:",
            "`config/priv_validator_key.json` is that validator's signing key.",
            "",
            "| directory | host | P2P | RPC | ABCI | Prometheus | app metrics | gRPC | node id |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            "ABCI (CometBFT to mgridd) stays on each host's 127.0.0.1. Open the P2P port",
            "between the hosts; RPC, gRPC and the metrics ports only towards the clients",
            "and scrapers that need them.",
            "",
            "On each host (the guide: docs/deployment.md in the mgrid repository):",
            "",
            "```sh",
            f"# after installing mgrid in {HOST_PREFIX} and creating the user mgrid",
            f"sudo mkdir -p {HOST_NODE_ROOT}",
            f"sudo cp -r node0 {HOST_NODE_ROOT}/node0          # the directory of THIS host's row",
            f"sudo chown -R mgrid:mgrid {HOST_NODE_ROOT}/node0",
            f"sudo cp {UNITS_DIR}/*.service /etc/systemd/system/ && sudo systemctl daemon-reload",
            "sudo systemctl enable --now cometbft@node0     # also starts mgridd@node0",
            "journalctl -u cometbft@node0 -u mgridd@node0 -f",
            "```",
            "",
            "Check the whole network from any machine that reaches the RPC ports:",
            "",
            "```sh",
            f"python -m localnet status --home {home}",
            f"curl -s http://{first.host}:{first.ports.rpc}/status",
            "```",
            "",
            f"`{KEYRING_DIR}/` holds the funded genesis keys ({keys}) in the unencrypted",
            f"*{KEYRING_BACKEND}* backend. Keep it on the operator's machine, never on a node,",
            "and move the keys into an encrypted keyring (`mgrid keys export` / `import`)",
            "before the network holds anything of value.",
            f"`{STATE_FILE}` describes the network for `python -m localnet status`.",
            "",
        ]
    )
