"""``mgridd export``: the chain's state at a height as a CometBFT genesis
document whose app state reproduces it (the same app hash after import), for
chain upgrades and audits (issue 8; docs/upgrade.md).

    mgridd export --home DIR [--height H] [--out FILE] [--chain-id ID] [--genesis-time T]

It reads the stopped node's DIR/data/app.db and DIR/config/genesis.json
(consensus params and validators: the app never changes either, so the
genesis's are the current ones) and writes a genesis with

- ``app_state = {"store": {"format": 1, "height": H, "app_hash": ..., "entries": [...]}}``:
  every (key, value) of the state at H (app/store/export.py), which
  InitChain loads verbatim and checks against ``app_hash``;
- ``initial_height`` H + 1 and ``app_hash`` the state's root, so the new
  chain's first block is H + 1 and its header carries the same app hash;
- ``genesis_time`` the time of block H when the store knows it (it keeps the
  last block's time), else the ``--genesis-time`` given;
- ``chain_id`` the old one unless ``--chain-id`` names the new chain.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from app.chain import META_BLOCK_TIME, META_CHAIN_ID
from app.store import Store, StoreError, VersionNotAvailable
from app.store import export as store_export

_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")


class ExportError(Exception):
    """The export cannot be made (the message says why and what to do)."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "export",
        help="write a genesis reproducing the state at a height (node stopped)",
        description="Write a CometBFT genesis whose app state is the node's state at a height, "
        "verbatim: importing it gives the same app hash. The node must be stopped.",
    )
    p.add_argument("--home", required=True, type=Path, help="node home (reads HOME/data/app.db)")
    p.add_argument("--height", type=int, help="height to export (default: the latest committed)")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.add_argument("--chain-id", help="chain id of the new chain (default: the exported chain's)")
    p.add_argument(
        "--genesis-time",
        help="RFC 3339 time for the new genesis (default: the time of block H, known for "
        "the latest height only)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    try:
        summary = export(
            args.home,
            height=args.height,
            out=args.out,
            chain_id=args.chain_id,
            genesis_time=args.genesis_time,
        )
    except ExportError as exc:
        print(f"mgridd export: {exc}", file=sys.stderr)
        return 1
    print(summary, file=sys.stderr)
    return 0


def export(
    home: Path,
    *,
    height: int | None = None,
    out: Path | None = None,
    chain_id: str | None = None,
    genesis_time: str | None = None,
) -> str:
    """Write the genesis (to ``out``, or stdout) and return a one-line summary.

    Raises:
        ExportError: the node is running, the height is not available, the
            genesis time is unknown, or a file cannot be read or written.
    """
    store = open_store(home / "data" / "app.db")
    try:
        old = _read_genesis(home / "config" / "genesis.json")
        latest = store.version
        if latest == 0:
            raise ExportError(f"{home / 'data' / 'app.db'} holds no committed block")
        if height is None:
            height = latest
        if not store.earliest_version <= height <= latest or height < 1:
            raise ExportError(
                f"height {height} is not available: the store holds heights "
                f"{max(store.earliest_version, 1)}..{latest}"
            )
        time_text = _genesis_time(store, height, latest, genesis_time)
        stored_chain_id = (store.get_meta(META_CHAIN_ID) or b"").decode()
        new_chain_id = chain_id or stored_chain_id or str(old.get("chain_id", ""))
        app_hash = store.root(height)
        try:
            entries = store.iterate(b"", version=height)
        except VersionNotAvailable as exc:
            raise ExportError(str(exc)) from None
        head = {
            "genesis_time": time_text,
            "chain_id": new_chain_id,
            "initial_height": str(height + 1),
            "consensus_params": old["consensus_params"],
            "validators": old["validators"],
            "app_hash": app_hash.hex().upper(),
            "app_state": {
                store_export.SECTION: {
                    "format": store_export.FORMAT,
                    "height": height,
                    "app_hash": app_hash.hex().upper(),
                    "entries": None,
                }
            },
        }
        count = _write(out, head, entries)
    finally:
        store.close()
    return (
        f"exported height {height} of chain {stored_chain_id or old.get('chain_id')!r}: "
        f"{count} entries, app hash {app_hash.hex().upper()}, to {out or 'stdout'}; "
        f"new chain {new_chain_id!r} starts at height {height + 1}, genesis time {time_text}"
    )


def _read_genesis(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read {path}: {exc}") from None
    missing = [
        f for f in ("consensus_params", "validators") if not isinstance(doc, dict) or f not in doc
    ]
    if missing:
        raise ExportError(f"{path} is not a CometBFT genesis: it has no {', '.join(missing)}")
    return doc  # type: ignore[no-any-return]


def open_store(path: Path) -> Store:
    """The node's store, read-only in spirit (export writes nothing).

    Raises:
        ExportError: no database there, or it is locked by a running mgridd.
    """
    if not path.is_dir():
        raise ExportError(f"no app database at {path}: is --home the node's home?")
    try:
        return Store(str(path), create=False, page_cache_bytes=1 << 20)
    except StoreError as exc:
        if "lock" in str(exc).lower():
            raise ExportError(
                f"{path} is in use: stop the node's mgridd (and cometbft) before exporting "
                "(with halt_height set they stop by themselves at that height)"
            ) from None
        raise ExportError(str(exc)) from None


def _genesis_time(store: Store, height: int, latest: int, given: str | None) -> str:
    if given is not None:
        return format_time(parse_time(given))
    raw = store.get_meta(META_BLOCK_TIME)
    if height != latest or not raw:
        raise ExportError(
            f"the time of block {height} is not stored (the app keeps the latest block's, "
            f"{latest}): pass --genesis-time, e.g. the block's time from CometBFT's RPC "
            f"/block?height={height}"
        )
    return format_time(int(raw))


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time ("2024-05-01T12:00:00.5Z").

    Raises:
        ExportError: not an RFC 3339 time.
    """
    match = _RFC3339.match(text)
    if not match:
        raise ExportError(f"--genesis-time {text!r} is not an RFC 3339 time (2024-05-01T12:00:00Z)")
    base, frac, zone = match.groups()
    try:
        stamp = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    except ValueError as exc:
        raise ExportError(f"--genesis-time {text!r}: {exc}") from None
    return int(stamp.timestamp()) * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def format_time(ns: int) -> str:
    """RFC 3339 in UTC with the nanoseconds CometBFT keeps."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z" if nanos else f"{stamp}Z"


def _write(out: Path | None, head: dict[str, Any], entries: Any) -> int:
    """Write ``head`` with the entries streamed into its store section; returns their number.

    A file is written next to its destination and renamed, so a failed
    export never leaves a truncated genesis behind.
    """
    text = json.dumps(head, indent=2)
    marker = '"entries": null'
    before, after = text.split(marker)
    counted = _Counter(entries)
    if out is None:
        _emit(sys.stdout, before, counted, after)
        sys.stdout.flush()
        return counted.count
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            _emit(f, before, counted, after)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {out}: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counted.count


def _emit(f: IO[str], before: str, entries: Any, after: str) -> None:
    f.write(before)
    f.write('"entries": ')
    f.writelines(store_export.iter_entries_json(entries))
    f.write(after)
    f.write("\n")


class _Counter:
    """Counts what passes through an iterator."""

    def __init__(self, it: Any) -> None:
        self._it = iter(it)
        self.count = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> Any:
        item = next(self._it)
        self.count += 1
        return item
