"""Run a fuzz target under atheris (libFuzzer for Python), coverage-guided.

    .venv/bin/python tests/fuzz/run.py TARGET [--seconds N] [--runs N] [--max-len N] [-v]
    .venv/bin/python tests/fuzz/run.py all --seconds 60
    .venv/bin/python tests/fuzz/run.py TARGET --replay FILE [FILE ...]
    .venv/bin/python tests/fuzz/run.py TARGET|all --coverage
    .venv/bin/python tests/fuzz/run.py --list

TARGET is a name from tests/fuzz/targets.py (``--list`` shows them). The
fuzzer starts from the committed seeds in tests/fuzz/corpus/TARGET and keeps
the inputs it finds interesting in build/fuzz/TARGET (git-ignored), so a
later run continues from where this one stopped. An input that makes the
target raise is written to tests/fuzz/crashes/TARGET-crash-<sha1> (timeouts
and out-of-memory inputs likewise), and the run stops there. Each run
prints one summary line: executions, executions per second, coverage
(libFuzzer's ``cov``: instrumented Python branch edges reached; ``ft``:
features) and corpus size; the full libFuzzer log is in
build/fuzz/TARGET.log.

``--replay`` runs the target on the given files without atheris and shows
the traceback of each failure: the way to reproduce a crash file.
``--coverage`` replays the seeds and the kept corpus under a line tracer and
prints how much of the code the target is about they run.

Only app, ibc and the fuzz harness are instrumented (not the generated
protobuf code, nor the protobuf runtime, which is C).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FUZZ_DIR = ROOT / "tests" / "fuzz"
CORPUS_DIR = FUZZ_DIR / "corpus"
CRASH_DIR = FUZZ_DIR / "crashes"
WORK_DIR = ROOT / "build" / "fuzz"

# The longest input the fuzzer makes per target: room for the seeds' structure
# with some to spare, while keeping executions fast.
MAX_LEN = {
    "tx_decode": 4096,
    "chain_block": 8192,
    "abci_framing": 4096,
    "abci_request": 8192,
    "ics23_proof": 8192,
    "light_client": 16384,
}
# Targets whose seeds are structured and long: mutate at full length from the start
# (libFuzzer otherwise grows the length limit slowly from short inputs).
FULL_LENGTH = {"chain_block", "abci_request", "ics23_proof", "light_client"}
TIMEOUT_SECONDS = 20  # one input running longer is reported as a timeout artifact
INSTRUMENT = ["app", "ibc", "tests.fuzz"]


def target_names() -> list[str]:
    return list(MAX_LEN)


def _child(name: str, libfuzzer_args: list[str]) -> None:
    """Run inside the fuzzing process: instrument, build the world, hand over to libFuzzer."""
    import logging

    import atheris

    # Every ResponseException and rejected input would log a traceback.
    logging.disable(logging.CRITICAL)
    # Generated protobuf modules are imported first, so they stay uninstrumented
    # (atheris's exclude list names modules, not packages).
    import app.pb

    for info in pkgutil.walk_packages(app.pb.__path__, "app.pb."):
        importlib.import_module(info.name)
    with atheris.instrument_imports(include=INSTRUMENT):
        from tests.fuzz import targets
    # atheris 2.3.0 rewrote backward jumps wrongly on Python 3.11 (nested loops
    # read unset locals); check that instrumented code still computes right.
    canary = targets.reference_frames(b"\x01a\x02bc\x01d")
    if canary != ([b"a", b"bc", b"d"], 7, False):
        sys.exit(f"this atheris miscompiles instrumented code (need >= 3.0): got {canary}")
    target = targets.TARGETS[name]
    targets.WORLDS[name]()

    def test_one_input(data: bytes) -> None:
        target(data)

    atheris.Setup([sys.argv[0], *libfuzzer_args], test_one_input)
    atheris.Fuzz()


STATUS = re.compile(
    r"#(\d+)\s+(?:INITED|NEW|REDUCE|pulse|DONE|RELOAD)\s+cov: (\d+) ft: (\d+) corp: (\d+)"
)


def _summarise(name: str, log: str, seconds: float, code: int, new_crashes: list[Path]) -> str:
    last = STATUS.findall(log)
    execs = re.search(r"stat::number_of_executed_units: (\d+)", log)
    n = int(execs.group(1)) if execs else (int(last[-1][0]) if last else 0)
    cov, ft, corp = last[-1][1:] if last else ("?", "?", "?")
    inited = [m for m in re.finditer(r"#\d+\s+INITED\s+cov: (\d+) ft: (\d+)", log)]
    seed_cov = inited[0].group(1) if inited else "?"
    line = (
        f"{name}: {n} execs in {seconds:.0f} s ({n / max(seconds, 1e-9):.0f}/s), "
        f"cov {cov} (at start {seed_cov}), ft {ft}, corpus {corp}"
    )
    if new_crashes:
        line += "; CRASH: " + ", ".join(str(p.relative_to(ROOT)) for p in new_crashes)
    elif code:
        line += f"; fuzzer exited with {code} (see the log)"
    return line


def fuzz(name: str, seconds: int | None, runs: int | None, max_len: int | None, verbose: bool,
         extra: list[str]) -> tuple[int, str]:  # fmt: skip
    """Fuzz one target in a child process; returns (exit code, summary line)."""
    work = WORK_DIR / name
    work.mkdir(parents=True, exist_ok=True)
    CRASH_DIR.mkdir(parents=True, exist_ok=True)
    args = [
        str(work),
        str(CORPUS_DIR / name),
        f"-artifact_prefix={CRASH_DIR}/{name}-",
        f"-max_len={max_len or MAX_LEN[name]}",
        f"-timeout={TIMEOUT_SECONDS}",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
    ]
    if name in FULL_LENGTH:
        args.append("-len_control=0")
    if seconds is not None:
        args.append(f"-max_total_time={seconds}")
    if runs is not None:
        args.append(f"-runs={runs}")
    args += extra
    before = set(CRASH_DIR.glob(f"{name}-*"))
    log_path = WORK_DIR / f"{name}.log"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--", *args]
    start = time.monotonic()
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            log_file.write(line)
            if verbose:
                sys.stdout.write(line)
        code = proc.wait()
    elapsed = time.monotonic() - start
    new = sorted(set(CRASH_DIR.glob(f"{name}-*")) - before)
    return code, _summarise(name, log_path.read_text(), elapsed, code, new)


def replay(name: str, files: list[str]) -> int:
    from tests.fuzz import targets

    target = targets.TARGETS[name]
    failed = 0
    for f in files:
        try:
            target(Path(f).read_bytes())
        except Exception:  # show every failure, then the count
            failed += 1
            print(f"--- {f}: FAILS")
            traceback.print_exc()
        else:
            print(f"--- {f}: passes")
    return 1 if failed else 0


# The code each target is about, for --coverage.
TARGET_FILES = {
    "tx_decode": ["app/tx/codec.py", "app/router.py", "app/crypto.py"],
    "chain_block": [
        "app/chain.py",
        "app/modules/bank/keeper.py",
        "app/modules/market/keeper.py",
        "app/modules/market/msgs.py",
        "app/modules/settlement/keeper.py",
        "app/modules/settlement/msgs.py",
        "app/modules/registry/msgs.py",
    ],
    "abci_framing": ["app/abci/server.py"],
    "abci_request": ["app/abci/adapter.py", "app/abci/server.py", "app/chain.py"],
    "ics23_proof": ["ibc/commitment/ics23.py", "ibc/commitment/ops.py"],
    "light_client": ["ibc/client/tendermint.py", "ibc/client/hashing.py"],
}


def _executable_lines(path: Path) -> set[int]:
    """Lines of the function bodies in ``path`` (module and class bodies run at
    import, before any input, so they are not counted)."""
    code = compile(path.read_text(), str(path), "exec")
    lines: set[int] = set()
    todo = [code]
    while todo:
        c = todo.pop()
        if c.co_flags & inspect.CO_NEWLOCALS:
            lines |= {line for _, _, line in c.co_lines() if line is not None}
            lines.discard(c.co_firstlineno)  # the def line: run at import
        todo += [k for k in c.co_consts if isinstance(k, type(code))]
    return lines


def line_coverage(name: str) -> int:
    """Replay the seeds and the kept corpus of ``name`` and print, for the files the
    target is about, the share of their lines that ran (a tracer, no atheris)."""
    import logging

    from tests.fuzz import targets

    logging.disable(logging.CRITICAL)
    files = {str(ROOT / f): f for f in TARGET_FILES[name]}
    hit: dict[str, set[int]] = {f: set() for f in files}

    def local(frame, event, arg):  # type: ignore[no-untyped-def]
        if event == "line":
            hit[frame.f_code.co_filename].add(frame.f_lineno)
        return local

    def trace(frame, event, arg):  # type: ignore[no-untyped-def]
        return local if frame.f_code.co_filename in files else None

    inputs = sorted((CORPUS_DIR / name).glob("*")) + sorted((WORK_DIR / name).glob("*"))
    targets.WORLDS[name]()
    sys.settrace(trace)
    try:
        for path in inputs:
            try:
                targets.TARGETS[name](path.read_bytes())
            except Exception as exc:  # a crash is the fuzzer's to report; count what ran
                print(f"  ({path.name} fails: {type(exc).__name__})")
    finally:
        sys.settrace(None)
    print(f"{name}: {len(inputs)} inputs replayed")
    for full, short in files.items():
        lines = _executable_lines(Path(full))
        ran = len(hit[full] & lines)
        print(f"  {short}: {ran}/{len(lines)} function lines ({100 * ran / len(lines):.0f}%)")
    return 0


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[4:] if sys.argv[3:4] == ["--"] else sys.argv[3:])
        return 0
    parser = argparse.ArgumentParser(
        description="Coverage-guided fuzzing of one target (or all) with atheris.",
        epilog="Arguments after -- go to libFuzzer (e.g. -- -jobs=2 -dict=FILE).",
    )
    parser.add_argument("target", nargs="?", help="a target name, or 'all'")
    parser.add_argument("--seconds", type=int, help="stop after this long (per target)")
    parser.add_argument("--runs", type=int, help="stop after this many executions")
    parser.add_argument("--max-len", type=int, help="longest input to generate")
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="run these inputs, no fuzzing")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="replay the seeds and kept corpus and print the line coverage of the target's code",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="stream libFuzzer's output")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if args.list:
        print("\n".join(target_names()))
        return 0
    names = target_names() if args.target == "all" else [args.target]
    if args.target is None or any(n not in MAX_LEN for n in names):
        parser.error(f"TARGET must be one of {', '.join(target_names())} or all; got {args.target}")
    if args.coverage:
        for name in names:
            line_coverage(name)
        return 0
    if args.replay:
        if len(names) != 1:
            parser.error("--replay needs one target")
        return replay(names[0], args.replay)
    if args.seconds is None and args.runs is None:
        args.seconds = 60
    worst = 0
    for name in names:
        code, summary = fuzz(name, args.seconds, args.runs, args.max_len, args.verbose, extra)
        print(summary, flush=True)
        worst = worst or code
    return worst


if __name__ == "__main__":
    sys.exit(main())
