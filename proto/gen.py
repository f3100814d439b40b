"""Generate the Python protobuf package app/pb from .proto sources.

Sources are CometBFT's own .proto files, taken from the pinned CometBFT Go
module (and gogoproto's, from the version CometBFT's go.mod names), plus the
project's files under proto/. The Go module cache is filled with
``go mod download``; nothing is hand-copied. Generated modules are rewritten
to import each other as ``app.pb.<package>`` so that they live in one
git-ignored package instead of claiming top-level names such as
``tendermint``.

Usage: python proto/gen.py COMETBFT_VERSION
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "app" / "pb"
OWN = ROOT / "proto"
TOP_PACKAGES = ("tendermint", "gogoproto", "mgrid", "cosmos")


def go_module_dir(module: str) -> Path:
    """Download a Go module into the module cache and return its directory."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", module],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return Path(json.loads(out)["Dir"])


def required_version(go_mod: Path, module: str) -> str:
    match = re.search(rf"^\s*{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.M)
    if not match:
        raise SystemExit(f"{module} not found in {go_mod}")
    return match.group(1)


def rewrite_imports(path: Path) -> None:
    """Make generated code import its siblings through app.pb."""
    tops = "|".join(TOP_PACKAGES)
    text = path.read_text()
    text = re.sub(rf"^from ({tops})([\w.]*) import", r"from app.pb.\1\2 import", text, flags=re.M)
    text = re.sub(rf"^import ({tops})\.", r"import app.pb.\1.", text, flags=re.M)
    path.write_text(text)


def main() -> None:
    version = sys.argv[1]
    stamp = OUT / ".stamp"
    sources = sorted(OWN.rglob("*.proto"))
    fingerprint = version + "".join(f"{p}:{p.stat().st_mtime_ns}" for p in sources)
    fingerprint += str((Path(__file__)).stat().st_mtime_ns)
    if stamp.exists() and stamp.read_text() == fingerprint:
        return

    comet = go_module_dir(f"github.com/cometbft/cometbft@{version}")
    gogo_version = required_version(comet / "go.mod", "github.com/cosmos/gogoproto")
    gogo = go_module_dir(f"github.com/cosmos/gogoproto@{gogo_version}")

    import grpc_tools  # only needed at build time

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    comet_protos = sorted((comet / "proto").rglob("*.proto"))
    files = [str(p.relative_to(comet / "proto")) for p in comet_protos]
    files.append("gogoproto/gogo.proto")
    files += [str(p.relative_to(OWN)) for p in sources]

    # Generate beside the package and swap it in, so that a running process
    # never sees a half-written app/pb.
    tmp = OUT.with_name("pb.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    cmd = [
        sys.executable, "-m", "grpc_tools.protoc",
        f"-I{OWN}", f"-I{comet / 'proto'}", f"-I{gogo}", f"-I{well_known}",
        f"--python_out={tmp}", f"--pyi_out={tmp}", f"--grpc_python_out={tmp}",
        *files,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, cwd=ROOT)

    for dirpath, _dirs, names in os.walk(tmp):
        d = Path(dirpath)
        (d / "__init__.py").touch()
        for name in names:
            if name.endswith((".py", ".pyi")):
                rewrite_imports(d / name)
    (tmp / "__init__.py").write_text(
        '"""Generated protobuf code (git-ignored; see proto/gen.py)."""\n'
    )
    (tmp / ".stamp").write_text(fingerprint)
    old = OUT.with_name("pb.old")
    if old.exists():
        shutil.rmtree(old)
    if OUT.exists():
        OUT.rename(old)
    tmp.rename(OUT)
    if old.exists():
        shutil.rmtree(old)


if __name__ == "__main__":
    main()
