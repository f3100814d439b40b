"""`mgrid debug verify-proof` accepts and rejects the public ICS-23 vectors as they say."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.pb.cosmos.ics23.v1 import proofs_pb2
from clients.mgrid.cli import main

REPO = Path(__file__).resolve().parents[2]
VECTORS = Path(os.environ.get("MGRID_SHARED_DIR", REPO.parent / "shared")) / "ics23-testdata"
CASES = [
    (spec, name)
    for spec in ("smt", "iavl", "tendermint")
    for name in (
        "exist_left",
        "exist_middle",
        "exist_right",
        "nonexist_left",
        "nonexist_middle",
        "nonexist_right",
    )
]


def load(spec: str, name: str) -> dict[str, str]:
    path = VECTORS / spec / f"{name}.json"
    if not path.exists():
        pytest.fail(f"ICS-23 vectors not found at {path} (set MGRID_SHARED_DIR)")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def args(spec: str, case: dict[str, str], **override: str) -> list[str]:
    case = {**case, **override}
    argv = ["--output", "json", "debug", "verify-proof", "--spec", spec, "--root", case["root"]]
    argv += ["--key", case["key"], "--proof", case["proof"]]
    if case["value"]:
        argv += ["--value", case["value"]]
    return argv


@pytest.mark.parametrize(("spec", "name"), CASES)
def test_vector_holds(spec: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    case = load(spec, name)
    assert main(args(spec, case)) == 0
    assert json.loads(capsys.readouterr().out)["valid"] is True


@pytest.mark.parametrize(("spec", "name"), CASES)
def test_altered_vector_fails(spec: str, name: str) -> None:
    case = load(spec, name)
    flipped_root = f"{int(case['root'][:2], 16) ^ 1:02x}" + case["root"][2:]
    assert main(args(spec, case, root=flipped_root)) == 1
    if case["value"]:  # existence: another key or value must not verify
        assert main(args(spec, case, key=case["key"] + "00")) == 1
        assert main(args(spec, case, value=case["value"] + "00")) == 1
    else:  # non-existence: the proof must not claim absence of its neighbour, a present key
        nonexist = proofs_pb2.CommitmentProof.FromString(bytes.fromhex(case["proof"])).nonexist
        neighbour = nonexist.left if nonexist.HasField("left") else nonexist.right
        assert main(args(spec, case, key=neighbour.key.hex())) == 1


def test_bad_hex_is_a_usage_error() -> None:
    assert main(["debug", "verify-proof", "--root", "zz", "--key", "00", "--proof", "00"]) == 2
