"""Shared fixtures for the store tests: a fresh store per test and a reference
SMT root computed straight from the rules (DESIGN.md section 3, "State"),
independent of the store's incremental algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from app.store import Store
from tests.support.smt import reference_root


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    return str(tmp_path / "store")


@pytest.fixture
def store(store_path: str) -> Iterator[Store]:
    s = Store(store_path, sync=False)
    yield s
    s.close()


@pytest.fixture
def ref_root() -> Callable[[Mapping[bytes, bytes]], bytes]:
    return reference_root


def db_items(s: Store) -> list[tuple[bytes, bytes]]:
    """Every LevelDB entry of a store (white-box: tests of what is persisted)."""
    return list(s._db.iterator())


@pytest.fixture
def dump() -> Callable[[Store], list[tuple[bytes, bytes]]]:
    return db_items
