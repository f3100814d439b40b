"""``mgridd export --home DIR --height H``: the chain's state as a genesis
document whose app state reproduces it (the same app hash after import).

(Being built: issue 8.)
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(
        "export", help="write a genesis reproducing the state at a height"
    )
    return p


def run(args: argparse.Namespace) -> int:
    raise SystemExit("mgridd export: not built yet")
