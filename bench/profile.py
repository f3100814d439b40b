"""Profile one validator's app under load on a real localnet, with py-spy.

    python -m bench.profile [--workload orders] [--rate 400] [--duration 20] [--top 25]

Starts the workload's fresh 4-validator localnet (as ``python -m bench``
does, ports offset by 5500), sends open-loop load at ``--rate`` and samples
node 1's ``mgridd`` with ``py-spy record --nonblocking`` (the app is never
paused) for the duration. Prints the functions with the most samples, own
and inclusive, as shares of the samples of the app's main thread, plus the
app's FinalizeBlock wall and CPU time from its log, and writes the raw
collapsed stacks to ``bench/profile-<workload>.txt`` (open it in speedscope
or flamegraph.pl).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import system

ROOT = Path(__file__).resolve().parent.parent
_FINALIZED = re.compile(r"finalized height \d+: (\d+) txs .* in (\d+) ms \((\d+) ms CPU\)")


def _frame(frame: str) -> str:
    """``function (file.py)`` from py-spy's ``function (path/file.py:line)``."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.split(':')[0].rsplit('/', 1)[-1]})" if where else name


def summarise(collapsed: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        if not any(f.startswith("ABCIServer._serve") for f in frames):
            continue  # other threads (gRPC's poller) and the idle event loop
        n = int(count)
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    lines = [f"{total} samples of the app serving ABCI requests", "", "inclusive:"]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in inclusive.most_common(top)]
    lines += ["", "own:"]
    lines += [f"  {100 * v / total:5.1f}%  {k}" for k, v in own.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["orders", "transfers"], default="orders")
    parser.add_argument("--rate", type=float, default=400.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--port-offset", type=int, default=5500)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    opts = system.Options(duration=args.duration, port_offset=args.port_offset)
    home = Path(tempfile.mkdtemp(prefix="mgrid-profile-")) / args.workload
    out = ROOT / "bench" / f"profile-{args.workload}.txt"

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    network, accounts = system.start_network(args.workload, home, opts, 200, progress)
    try:
        target = system.LoadTarget.of(args.workload, network, accounts, opts)
        node = network.nodes[1 % len(network.nodes)]
        pid = node.processes["app"].pid
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--nonblocking",
                "-p",
                str(pid),
                "-d",
                str(int(args.duration) + 2),
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        system.run_load(args.rate, target.source, target.endpoints, target.chains, opts, progress)
        spy.wait()
        blocks = [
            tuple(int(x) for x in m.groups())
            for m in map(_FINALIZED.search, network.log_path(node, "app").read_text().splitlines())
            if m and int(m.group(1))
        ]
    finally:
        system.stop_network(home)
        shutil.rmtree(home.parent, ignore_errors=True)
    txs = sum(b[0] for b in blocks)
    wall = sum(b[1] for b in blocks)
    cpu = sum(b[2] for b in blocks)
    print(
        f"command: python -m bench.profile {' '.join(argv if argv is not None else sys.argv[1:])}"
    )
    if txs:
        print(
            f"FinalizeBlock on {node.moniker}: {len(blocks)} blocks, {txs} txs, "
            f"{1000 * wall / txs:.0f} µs wall and {1000 * cpu / txs:.0f} µs CPU per tx "
            f"(wall / CPU {wall / max(cpu, 1):.1f})"
        )
    print(summarise(out, args.top))
    print(f"\ncollapsed stacks: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
