"""``mgrid-dashboard``: serve the market dashboard of a chain.

    mgrid-dashboard --node http://127.0.0.1:26657 [--node URL ...] [--port 8080] [--host 127.0.0.1]

The first ``--node`` is the one the dashboard reads and follows; every
``--node`` is shown on the chain page, with the app hash each reports
(give all of a localnet's nodes to see whether they agree). It prints
``dashboard: http://HOST:PORT`` once it listens, and runs until
interrupted. A node that is not up yet, or goes away, is waited for: the
page says so and catches up when it is back.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from clients.dashboard.follower import Follower
from clients.dashboard.server import Dashboard, start_server
from clients.dashboard.views import Views
from clients.rpc import DEFAULT_NODE, RPC


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mgrid-dashboard",
        description="Serve a live web dashboard of a microgrid chain's market.",
    )
    p.add_argument(
        "--node",
        action="append",
        metavar="URL",
        help=f"CometBFT RPC of a node (repeatable; the first is followed; default {DEFAULT_NODE})",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default 8080; 0: any)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    urls = args.node or [DEFAULT_NODE]
    rpcs = [RPC(url, timeout=10.0) for url in urls]
    dashboard = Dashboard(Views(rpcs[0], rpcs), Follower(rpcs[0]))
    try:
        server = start_server(dashboard, args.host, args.port)
    except OSError as exc:
        print(f"mgrid-dashboard: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"dashboard: {server.url}  (following {urls[0]})", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
