"""Crash safety of the store (DESIGN.md section 3, "Crash safety": nothing is
persisted before Commit; Commit writes state, height and app hash in one
atomic LevelDB batch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.store import Store

REPO = Path(__file__).resolve().parents[3]


def test_stage_writes_nothing(store: Store, dump) -> None:
    store.stage({b"a": b"1", b"b": b"2"})
    store.commit(meta={b"m": b"1"})
    before = dump(store)
    store.stage({b"a": None, b"c": b"3", **{b"x%d" % i: b"y" for i in range(500)}})
    assert dump(store) == before
    store.discard()
    assert dump(store) == before


def test_reopen_after_stage_without_commit(store_path: str) -> None:
    with Store(store_path, sync=False) as s:
        s.stage({b"a": b"1"})
        s.commit(meta={b"app": b"v1"})
        root = s.root()
        s.stage({b"a": b"2", b"b": b"3"})  # never committed
    with Store(store_path, sync=False) as s:
        assert s.version == 1
        assert s.root() == root
        assert s.get(b"a") == b"1"
        assert s.get(b"b") is None
        assert s.get_meta(b"app") == b"v1"
        # And the store carries on from there.
        s.stage({b"b": b"3"})
        assert s.commit() == 2


def test_reopen_after_commit(store_path: str) -> None:
    with Store(store_path, keep_recent=5, sync=False) as s:
        for version in range(1, 9):
            s.stage({b"k%d" % (version % 3): b"%d" % version})
            s.commit(meta={b"height": b"%d" % version})
        roots = {v: s.root(v) for v in range(s.earliest_version, 9)}
        earliest = s.earliest_version
        proof = s.prove(b"k1").SerializeToString()
    with Store(store_path, keep_recent=5, sync=False) as s:
        assert (s.version, s.earliest_version) == (8, earliest)
        assert {v: s.root(v) for v in range(earliest, 9)} == roots
        assert s.get_meta(b"height") == b"8"
        assert s.get(b"k1", 7) == b"7"
        assert s.prove(b"k1").SerializeToString() == proof


def test_failed_commit_leaves_nothing(
    store_path: str, monkeypatch: pytest.MonkeyPatch, dump
) -> None:
    with Store(store_path, keep_recent=1, sync=False) as s:
        s.stage({b"a": b"1"})
        s.commit()
        s.stage({b"a": b"2"})
        s.commit()
        before = dump(s)
        root = s.root()
        s.stage({b"a": b"3", b"b": b"4"})

        # Fail in the middle of filling the batch: the transaction batch
        # must not write any of what was put before the failure.
        real_write_batch = s._db.write_batch

        def failing_write_batch(**kwargs):
            batch = real_write_batch(**kwargs)
            real_put = batch.put
            calls = {"n": 0}

            class Failing:
                def __enter__(self):
                    batch.__enter__()
                    return self

                def __exit__(self, *exc):
                    return batch.__exit__(*exc)

                def put(self, key: bytes, value: bytes) -> None:
                    calls["n"] += 1
                    if calls["n"] == 3:
                        raise OSError("disk on fire")
                    real_put(key, value)

                def delete(self, key: bytes) -> None:
                    batch.delete(key)

            return Failing()

        monkeypatch.setattr(s, "_db", _DBProxy(s._db, failing_write_batch))
        with pytest.raises(OSError, match="disk on fire"):
            s.commit()
        monkeypatch.undo()
        assert dump(s) == before
        assert (s.version, s.root()) == (2, root)
    with Store(store_path, keep_recent=1, sync=False) as s:
        assert (s.version, s.root(), s.get(b"a")) == (2, root, b"2")


class _DBProxy:
    """A plyvel DB whose write_batch is replaced (plyvel types are read-only)."""

    def __init__(self, db, write_batch) -> None:
        self._db = db
        self.write_batch = write_batch

    def __getattr__(self, name: str):
        return getattr(self._db, name)


CHILD = textwrap.dedent(
    """
    import json, os, sys
    sys.path.insert(0, {repo!r})
    from app.store import Store

    s = Store({path!r}, keep_recent=3)
    for version in range(1, 6):
        s.stage({{b"k%d" % i: b"%d-%d" % (version, i) for i in range(200)}})
        s.commit(meta={{b"height": str(version).encode()}})
    print(json.dumps({{"version": s.version, "root": s.root().hex()}}), flush=True)
    # A block in flight when the process dies: staged, never committed.
    s.stage({{b"k1": b"lost", b"new": b"lost"}})
    os._exit(0)  # no close(), no flush: as abrupt as a kill
    """
)


def test_process_killed_after_stage(tmp_path: Path) -> None:
    path = str(tmp_path / "store")
    proc = subprocess.run(
        [sys.executable, "-c", CHILD.format(repo=str(REPO), path=path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr
    reported = json.loads(proc.stdout)
    with Store(path, keep_recent=3) as s:
        assert s.version == reported["version"] == 5
        assert s.root().hex() == reported["root"]
        assert s.get_meta(b"height") == b"5"
        assert s.get(b"k1") == b"5-1"
        assert s.get(b"new") is None
        assert s.get(b"k1", 3) == b"3-1"


LOOPING_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {repo!r})
    from app.store import Store

    s = Store({path!r}, keep_recent=2)
    version = s.version
    while True:
        version += 1
        writes = {{b"k%03d" % i: b"%d" % version for i in range(400)}}
        writes[b"gone-%d" % (version - 1)] = None
        writes[b"gone-%d" % version] = b"x"
        s.stage(writes)
        s.commit(meta={{b"height": b"%d" % version}})
        print(version, flush=True)
    """
)


def test_process_killed_during_commits(tmp_path: Path, ref_root) -> None:
    path = str(tmp_path / "store")
    for _ in range(3):
        with Store(path, keep_recent=2) as s:
            start = s.version
        proc = subprocess.Popen(
            [sys.executable, "-c", LOOPING_CHILD.format(repo=str(REPO), path=path)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if int(line) >= start + 3:
                break
        proc.kill()  # SIGKILL, most likely in the middle of the next block
        proc.wait(timeout=60)
        proc.stdout.close()
        with Store(path, keep_recent=2) as s:
            version = s.version
            assert version >= start + 3
            state = dict(s.iterate())
            expected = {b"k%03d" % i: b"%d" % version for i in range(400)}
            expected[b"gone-%d" % version] = b"x"
            assert state == expected
            assert s.root() == ref_root(state)
            assert s.get_meta(b"height") == b"%d" % version
            assert dict(s.iterate(version=version - 1))[b"k000"] == b"%d" % (version - 1)
