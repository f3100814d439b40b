"""The relayer's TOML configuration (read with tomllib; never written by the relayer).

    [relayer]                          # every key optional
    trusting_period = "14d"            # of the clients `link` creates (s, m, h, d units)
    max_clock_drift = "10s"
    refresh_fraction = "1/3"           # update a client whose newest consensus state is
                                       # older than this fraction of its trusting period
    batch_size = 64                    # messages per transaction (the chain's limit is 64)
    poll_interval = 1.0                # seconds between two looks at the chains
    metrics = "127.0.0.1:26690"        # Prometheus text endpoint; "" turns it off
    state_file = "state.json"          # relative to this file's directory

    [chains.mg-1]
    rpc = "http://127.0.0.1:27157"
    chain_id = "mg-1"
    key = "relayer"                    # key name in the keyring below
    keyring_dir = "keys/mg-1"          # relative to this file's directory
    keyring_backend = "test"           # "file" (encrypted; needs passphrase_file) or "test"
    passphrase_file = "pass.txt"       # optional, for the "file" backend
    fee = "0ugrid"                     # optional; default: the chain's minimum fee
    rpc_timeout = 10.0                 # optional, seconds

    [chains.mg-2]
    ...

    [path]                             # or several [paths.<name>] tables
    a = "mg-1"
    b = "mg-2"
    # optional: the channels `link` opens (default: transfer and energy)
    channels = [
      { port = "transfer", version = "ics20-1", order = "unordered" },
      { port = "energy", version = "mgrid-energy-1", order = "unordered" },
    ]

The identifiers that ``link`` creates (clients, connection, channels) and the
scan cursors live in the state file (state.py), so the operator's TOML is
never rewritten.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from app.coins import Coin, CoinError, parse_coin

NS = 1_000_000_000
DEFAULT_TRUSTING_PERIOD_NS = 14 * 24 * 3600 * NS
DEFAULT_MAX_CLOCK_DRIFT_NS = 10 * NS
DEFAULT_REFRESH_FRACTION = Fraction(1, 3)
DEFAULT_BATCH_SIZE = 64
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_METRICS = "127.0.0.1:26690"
DEFAULT_STATE_FILE = "state.json"
DEFAULT_RPC_TIMEOUT = 10.0
MAX_BATCH_SIZE = 64  # app/tx/codec.py MAX_MSGS_PER_TX
KEYRING_BACKENDS = ("file", "test")
ORDERS = ("unordered", "ordered")

_DURATION = re.compile(r"^\s*(\d+)\s*(ns|ms|s|m|h|d)?\s*$")
_UNIT_NS = {
    "ns": 1,
    "ms": 1_000_000,
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
    "d": 86400 * NS,
}


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or invalid; the message names the key."""


@dataclass(frozen=True, slots=True)
class ChainConfig:
    name: str
    rpc: str
    chain_id: str
    key: str
    keyring_dir: Path
    keyring_backend: str = "test"
    passphrase_file: Path | None = None
    fee: Coin | None = None
    rpc_timeout: float = DEFAULT_RPC_TIMEOUT


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A channel ``link`` opens: the same port on both chains."""

    port: str
    version: str
    order: str = "unordered"


DEFAULT_CHANNELS = (
    ChannelSpec("transfer", "ics20-1"),
    ChannelSpec("energy", "mgrid-energy-1"),
)


@dataclass(frozen=True, slots=True)
class PathConfig:
    name: str
    a: str
    b: str
    channels: tuple[ChannelSpec, ...] = DEFAULT_CHANNELS


@dataclass(frozen=True, slots=True)
class RelayerConfig:
    path: Path  # the TOML file
    chains: dict[str, ChainConfig]
    paths: dict[str, PathConfig]
    trusting_period_ns: int = DEFAULT_TRUSTING_PERIOD_NS
    max_clock_drift_ns: int = DEFAULT_MAX_CLOCK_DRIFT_NS
    refresh_fraction: Fraction = DEFAULT_REFRESH_FRACTION
    batch_size: int = DEFAULT_BATCH_SIZE
    poll_interval: float = DEFAULT_POLL_INTERVAL
    metrics: str = DEFAULT_METRICS
    state_file: Path = field(default=Path(DEFAULT_STATE_FILE))

    def chain(self, name: str) -> ChainConfig:
        try:
            return self.chains[name]
        except KeyError:
            raise ConfigError(
                f"no chain {name!r} in {self.path}; configured: {', '.join(self.chains) or 'none'}"
            ) from None

    def select_path(self, name: str | None = None) -> PathConfig:
        """The path called ``name``, or the only one when ``name`` is None."""
        if name is not None:
            try:
                return self.paths[name]
            except KeyError:
                raise ConfigError(
                    f"no path {name!r} in {self.path}; configured: {', '.join(self.paths)}"
                ) from None
        if len(self.paths) != 1:
            raise ConfigError(
                f"{self.path} names {len(self.paths)} paths ({', '.join(self.paths)}): "
                "choose one with --path"
            )
        return next(iter(self.paths.values()))


def parse_duration_ns(value: Any, what: str) -> int:
    """``"14d"``, ``"10s"``, ``"500ms"`` or a number of seconds, in nanoseconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a duration like '14d' or '10s', got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise ConfigError(f"{what} must be > 0, got {value}")
        return value * NS
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            ns = int(m.group(1)) * _UNIT_NS[m.group(2) or "s"]
            if ns <= 0:
                raise ConfigError(f"{what} must be > 0, got {value!r}")
            return ns
    raise ConfigError(f"{what}: expected a duration like '14d' or '10s', got {value!r}")


def parse_fraction(value: Any, what: str) -> Fraction:
    """``"1/3"`` (or a decimal string) strictly between 0 and 1."""
    if not isinstance(value, str):
        raise ConfigError(f"{what}: expected a string like '1/3', got {value!r}")
    try:
        frac = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ConfigError(f"{what}: {value!r} is not a fraction like '1/3'") from None
    if not 0 < frac < 1:
        raise ConfigError(f"{what} must be strictly between 0 and 1, got {value!r}")
    return frac


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _string(table: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if value is None:
        raise ConfigError(f"{where}: {key} is required")
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def _chain(name: str, table: Any, base: Path) -> ChainConfig:
    where = f"[chains.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(table) - {
        "rpc",
        "chain_id",
        "key",
        "keyring_dir",
        "keyring_backend",
        "passphrase_file",
        "fee",
        "rpc_timeout",
    }
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    backend = _string(table, "keyring_backend", where, "test")
    if backend not in KEYRING_BACKENDS:
        raise ConfigError(f"{where}: keyring_backend must be one of {KEYRING_BACKENDS}")
    fee = None
    if "fee" in table:
        try:
            fee = parse_coin(_string(table, "fee", where))
        except CoinError as exc:
            raise ConfigError(f"{where}: fee: {exc}") from None
    passphrase = table.get("passphrase_file")
    timeout = table.get("rpc_timeout", DEFAULT_RPC_TIMEOUT)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"{where}: rpc_timeout must be a number of seconds > 0")
    return ChainConfig(
        name=name,
        rpc=_string(table, "rpc", where),
        chain_id=_string(table, "chain_id", where),
        key=_string(table, "key", where),
        keyring_dir=_resolve(base, _string(table, "keyring_dir", where)),
        keyring_backend=backend,
        passphrase_file=_resolve(base, passphrase) if isinstance(passphrase, str) else None,
        fee=fee,
        rpc_timeout=float(timeout),
    )


def _channels(value: Any, where: str) -> tuple[ChannelSpec, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: channels must be a non-empty list of tables")
    out = []
    seen = set()
    for i, item in enumerate(value):
        w = f"{where} channels[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{w} must be a table")
        order = _string(item, "order", w, "unordered")
        if order not in ORDERS:
            raise ConfigError(f"{w}: order must be one of {ORDERS}, got {order!r}")
        spec = ChannelSpec(_string(item, "port", w), _string(item, "version", w), order)
        if spec.port in seen:
            raise ConfigError(f"{w}: port {spec.port!r} is listed twice")
        seen.add(spec.port)
        out.append(spec)
    return tuple(out)


def _path(name: str, table: Any, chains: dict[str, ChainConfig]) -> PathConfig:
    where = "[path]" if name == "default" else f"[paths.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    a, b = _string(table, "a", where), _string(table, "b", where)
    for side in (a, b):
        if side not in chains:
            raise ConfigError(f"{where}: chain {side!r} is not configured under [chains]")
    if a == b:
        raise ConfigError(f"{where}: a and b are the same chain {a!r}")
    if chains[a].chain_id == chains[b].chain_id:
        raise ConfigError(f"{where}: both chains have chain id {chains[a].chain_id!r}")
    channels = _channels(table["channels"], where) if "channels" in table else DEFAULT_CHANNELS
    return PathConfig(name, a, b, channels)


def load_config(path: str | Path) -> RelayerConfig:
    """Read and check the configuration; raises ConfigError naming what is wrong."""
    path = Path(path).expanduser().resolve()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no relayer configuration at {path} (see docs/relayer.md)") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return config_from_dict(data, path)


def config_from_dict(data: dict[str, Any], path: Path) -> RelayerConfig:
    base = path.parent
    unknown = set(data) - {"relayer", "chains", "path", "paths"}
    if unknown:
        raise ConfigError(f"{path}: unknown tables {sorted(unknown)}")
    chains_table = _table(data, "chains", str(path))
    if not chains_table:
        raise ConfigError(f"{path}: no [chains.<name>] table")
    chains = {name: _chain(name, t, base) for name, t in chains_table.items()}
    paths: dict[str, PathConfig] = {}
    if "path" in data:
        paths["default"] = _path("default", data["path"], chains)
    for name, t in _table(data, "paths", str(path)).items():
        if name in paths:
            raise ConfigError(f"{path}: path {name!r} is defined twice")
        paths[name] = _path(name, t, chains)
    if not paths:
        raise ConfigError(f"{path}: no [path] (or [paths.<name>]) naming the two chains")

    r = _table(data, "relayer", str(path))
    where = "[relayer]"
    unknown = set(r) - {
        "trusting_period",
        "max_clock_drift",
        "refresh_fraction",
        "batch_size",
        "poll_interval",
        "metrics",
        "state_file",
    }
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    batch = r.get("batch_size", DEFAULT_BATCH_SIZE)
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= MAX_BATCH_SIZE:
        raise ConfigError(f"{where}: batch_size must be an integer in 1..{MAX_BATCH_SIZE}")
    poll = r.get("poll_interval", DEFAULT_POLL_INTERVAL)
    if not isinstance(poll, int | float) or isinstance(poll, bool) or poll <= 0:
        raise ConfigError(f"{where}: poll_interval must be a number of seconds > 0")
    metrics = r.get("metrics", DEFAULT_METRICS)
    if not isinstance(metrics, str):
        raise ConfigError(f"{where}: metrics must be 'HOST:PORT' or ''")
    if metrics:
        parse_listen_address(metrics)
    return RelayerConfig(
        path=path,
        chains=chains,
        paths=paths,
        trusting_period_ns=parse_duration_ns(
            r.get("trusting_period", "14d"), f"{where} trusting_period"
        ),
        max_clock_drift_ns=parse_duration_ns(
            r.get("max_clock_drift", "10s"), f"{where} max_clock_drift"
        ),
        refresh_fraction=parse_fraction(
            r.get("refresh_fraction", "1/3"), f"{where} refresh_fraction"
        ),
        batch_size=batch,
        poll_interval=float(poll),
        metrics=metrics,
        state_file=_resolve(base, _string(r, "state_file", where, DEFAULT_STATE_FILE)),
    )


def parse_listen_address(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` -> (host, port); raises ConfigError."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise ConfigError(f"metrics address {text!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


def render_config(
    chains: list[dict[str, Any]],
    *,
    a: str,
    b: str,
    metrics: str = DEFAULT_METRICS,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
) -> str:
    """A configuration file for two chains (used by localnet/ibc.py and the tests).

    Each item of ``chains``: name, rpc, chain_id, key, keyring_dir,
    keyring_backend and optionally fee.
    """
    lines = [
        "# mgrid-relayer configuration (docs/relayer.md)",
        "[relayer]",
        'trusting_period = "14d"',
        'refresh_fraction = "1/3"',
        f"poll_interval = {poll_interval!r}",
        f'metrics = "{metrics}"',
        "",
    ]
    for c in chains:
        lines.append(f"[chains.{c['name']}]")
        for key in ("rpc", "chain_id", "key", "keyring_dir", "keyring_backend", "fee"):
            if key in c:
                lines.append(f'{key} = "{c[key]}"')
        lines.append("")
    lines += ["[path]", f'a = "{a}"', f'b = "{b}"', ""]
    return "\n".join(lines)
