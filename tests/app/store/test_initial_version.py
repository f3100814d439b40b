"""A store's first version at an explicit number (a chain with initial
height N, or a state-sync restore at height N): the versions before it never
exist, and everything after it works as for a store that started at 1."""

from __future__ import annotations

import pytest

from app.store import Store, VersionNotAvailable
from app.store import keys as k


def test_first_version_at_n(store_path: str, ref_root, dump) -> None:  # type: ignore[no-untyped-def]
    state = {b"a": b"1", b"b": b"2", b"c": b"3"}
    with Store(store_path, sync=False) as s:
        root = s.stage(state)
        assert root == ref_root(state)
        assert s.commit({b"m": b"x"}, version=1000) == 1000
        assert (s.version, s.earliest_version) == (1000, 1000)
        assert s.root() == s.root(1000) == root
        assert list(s.iterate(version=1000)) == sorted(state.items())
        for missing in (0, 1, 999, 1001):
            with pytest.raises(VersionNotAvailable):
                s.get(b"a", missing)
        # No history for versions that never existed.
        assert [key for key, _ in dump(s) if key.startswith(k.HISTORY)] == []
        s.stage({b"a": b"9", b"d": b"4"})
        assert s.commit() == 1001
        assert s.get(b"a", 1000) == b"1"
        assert s.get(b"d", 1000) is None
        assert list(s.iterate(version=1000)) == sorted(state.items())
        assert s.prove(b"a", 1000).exist.value == b"1"
    with Store(store_path, sync=False) as s:  # reopened
        assert (s.version, s.earliest_version) == (1001, 1000)
        assert s.get(b"a") == b"9"
        assert s.get_meta(b"m") == b"x"


def test_after_the_first_commit_versions_follow_on(store_path: str) -> None:
    with Store(store_path, sync=False) as s:
        with pytest.raises(ValueError, match=">= 1"):
            s.commit(version=0)
        s.stage({b"a": b"1"})
        assert s.commit(version=7) == 7
        with pytest.raises(ValueError, match="the next must be 8"):
            s.commit(version=9)
        with pytest.raises(ValueError, match="the next must be 8"):
            s.commit(version=7)
        assert s.commit(version=8) == 8
        assert s.commit() == 9


def test_version_one_keeps_version_zero(store_path: str) -> None:
    with Store(store_path, sync=False) as s:
        s.stage({b"a": b"1"})
        assert s.commit(version=1) == 1
        assert s.earliest_version == 0
        assert s.get(b"a", 0) is None


def test_pruning_from_a_first_version(store_path: str, dump) -> None:  # type: ignore[no-untyped-def]
    with Store(store_path, keep_recent=2, sync=False) as s:
        s.stage({bytes([i]): b"v0" for i in range(1, 50)})
        s.commit(version=500)
        for n in range(1, 8):
            s.stage({bytes([i]): b"v%d" % n for i in range(1, 50, n + 1)})
            s.commit()
        assert (s.earliest_version, s.version) == (505, 507)
        with pytest.raises(VersionNotAvailable):
            s.root(504)
        for version in (505, 506, 507):
            assert len(list(s.iterate(version=version))) == 49
        roots = [key for key, _ in dump(s) if key.startswith(k.ROOT)]
        assert roots == [k.root_key(v) for v in (505, 506, 507)]
