"""Locate the public ICS-23 test vectors and parametrize tests over them.

The vectors (cosmos/ics23 testdata) live in the shared directory beside the
repository clone, ``<repo>/../shared/ics23-testdata``, or under
``$MGRID_SHARED_DIR/ics23-testdata``. If they are missing, every test that
needs them fails (never skips) with a message saying where they were looked
for: a verifier whose golden vectors silently did not run is not tested.

Tests receive cases through these argument names:

- ``proof_vector``: one ``{iavl,smt,tendermint}/{exist,nonexist}_*.json`` file
  as a dict (plus ``spec_name`` and ``file``); ``exist_vector`` and
  ``nonexist_vector``: the same, for one kind only;
- ``<file stem>_case`` for each ``Test*Data.json`` (e.g. ``leaf_op_case`` for
  TestLeafOpData.json): a (case name, case dict) pair.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SPEC_DIRS = ("iavl", "smt", "tendermint")
VECTOR_NAMES = tuple(
    f"{kind}_{pos}" for kind in ("exist", "nonexist") for pos in ("left", "middle", "right")
)
CASE_FILES = {
    "leaf_op_case": "TestLeafOpData.json",
    "inner_op_case": "TestInnerOpData.json",
    "do_hash_case": "TestDoHashData.json",
    "existence_proof_case": "TestExistenceProofData.json",
    "check_leaf_case": "TestCheckLeafData.json",
    "check_against_spec_case": "TestCheckAgainstSpecData.json",
    "empty_branch_case": "TestEmptyBranchData.json",
}


class MissingVectors(Exception):
    """The vectors (or one file of them) are not where they should be."""


def ics23_testdata_dir() -> Path:
    """Directory of the vectors.

    Raises:
        MissingVectors: with a message saying where they were looked for.
    """
    shared = os.environ.get("MGRID_SHARED_DIR")
    base = Path(shared) if shared else REPO_ROOT.parent / "shared"
    path = base / "ics23-testdata"
    if not path.is_dir():
        raise MissingVectors(
            f"ICS-23 test vectors not found at {path}. They belong in the shared "
            "directory beside the repository clone (<repo>/../shared/ics23-testdata); "
            "set MGRID_SHARED_DIR to the shared directory to use another location."
        )
    return path


def load_json(name: str) -> Any:
    """Parse one JSON file of the vectors (``name`` relative to their directory)."""
    path = ics23_testdata_dir() / name
    if not path.is_file():
        raise MissingVectors(f"ICS-23 test vector file missing: {path}")
    with path.open() as f:
        return json.load(f)


def load_proof_vectors() -> list[dict[str, Any]]:
    """All 18 proof vectors, each with its spec name and file name added."""
    out = []
    for spec_name in SPEC_DIRS:
        for name in VECTOR_NAMES:
            vec = dict(load_json(f"{spec_name}/{name}.json"))
            vec["spec_name"] = spec_name
            vec["file"] = f"{spec_name}/{name}.json"
            out.append(vec)
    return out


def _case_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize over the vectors; if they are missing, over one failing case.

    Failing inside the tests (see ``_fail_if_vectors_missing``) rather than at
    collection keeps the rest of the project's suite running and reporting.
    """
    for arg, kind in (
        ("proof_vector", ""),
        ("exist_vector", "/exist_"),
        ("nonexist_vector", "/nonexist_"),
    ):
        if arg in metafunc.fixturenames:
            try:
                vectors = [v for v in load_proof_vectors() if kind in v["file"]]
            except MissingVectors as e:
                metafunc.parametrize(arg, [e], ids=["ics23-testdata-missing"])
            else:
                metafunc.parametrize(arg, vectors, ids=[v["file"] for v in vectors])
    for arg, fname in CASE_FILES.items():
        if arg not in metafunc.fixturenames:
            continue
        try:
            data = load_json(fname)
        except MissingVectors as e:
            metafunc.parametrize(arg, [e], ids=["ics23-testdata-missing"])
            continue
        items = list(data.items()) if isinstance(data, dict) else list(enumerate(data))
        cases = [(str(name), case) for name, case in items]
        metafunc.parametrize(arg, cases, ids=[_case_id(n) for n, _ in cases])


@pytest.fixture(autouse=True)
def _fail_if_vectors_missing(request: pytest.FixtureRequest) -> None:
    """Fail (never skip) a test that was parametrized with missing vectors."""
    callspec = getattr(request.node, "callspec", None)
    for value in callspec.params.values() if callspec else ():
        if isinstance(value, MissingVectors):
            pytest.fail(str(value), pytrace=False)


@pytest.fixture(scope="session")
def proof_vectors() -> list[dict[str, Any]]:
    """All proof vectors at once (for property tests that mutate them)."""
    try:
        return load_proof_vectors()
    except MissingVectors as e:
        pytest.fail(str(e), pytrace=False)
