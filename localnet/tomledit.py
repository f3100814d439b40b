"""Section-aware, comment-preserving edits of a TOML file such as CometBFT's config.toml.

Python's ``tomllib`` only reads TOML. CometBFT's config.toml is full of
comments an operator wants to keep, so instead of re-serialising the whole
document this module rewrites the lines of the keys it is asked to change,
in the section they belong to, and checks the result with ``tomllib``.

Only single-line scalar values (strings, booleans, integers, floats) can be
set; that is all a node configuration needs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path

from localnet.errors import ConfigError

Scalar = str | bool | int | float

_SECTION = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.-]+|\"[^\"]*\")\s*=")


def format_value(value: Scalar) -> str:
    """The TOML literal of a scalar (basic strings are escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = (
        value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    )
    return f'"{escaped}"'


def set_values(text: str, values: Mapping[tuple[str, str], Scalar]) -> str:
    """Return ``text`` with each ``(section, key)`` set to its value.

    ``section`` is the table name (``"p2p"``, ``"rpc"``) or ``""`` for the
    top-level keys before the first table. A key that exists is rewritten in
    place (its trailing comment, if any, is dropped); a missing key is added
    at the end of its section, and a missing section is appended.

    Raises:
        ConfigError: a key to set has a multi-line value, or the result is
            not valid TOML, or does not read back the values that were set.
    """
    lines = text.splitlines(keepends=True)
    pending: dict[str, dict[str, Scalar]] = {}
    for (section, key), value in values.items():
        pending.setdefault(section, {})[key] = value

    out: list[str] = []
    section = ""

    def flush(name: str) -> None:
        """Append keys of section ``name`` that were not found in it."""
        missing = pending.pop(name, {})
        if not missing:
            return
        # Insert before trailing blank lines / comments of the section, so the
        # new keys sit with the section's other keys.
        insert_at = len(out)
        while insert_at > 0 and (
            not out[insert_at - 1].strip() or out[insert_at - 1].lstrip().startswith("#")
        ):
            insert_at -= 1
        added = [f"{key} = {format_value(value)}\n" for key, value in missing.items()]
        if insert_at > 0 and not out[insert_at - 1].endswith("\n"):
            out[insert_at - 1] += "\n"
        out[insert_at:insert_at] = added

    for line in lines:
        header = _SECTION.match(line)
        if header:
            flush(section)
            section = header.group(1)
            out.append(line)
            continue
        key_match = _KEY.match(line)
        wanted = pending.get(section, {})
        if key_match:
            key = key_match.group(1).strip('"')
            if key in wanted:
                rest = line[key_match.end() :].strip()
                if rest.startswith(('"""', "'''")) or (rest.startswith("[") and "]" not in rest):
                    raise ConfigError(
                        f"cannot set [{section}] {key}: its value spans several lines"
                    )
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}{key} = {format_value(wanted.pop(key))}\n")
                continue
        out.append(line)
    flush(section)
    for name, missing in list(pending.items()):
        if out and out[-1].strip():
            out.append("\n")
        out.append(f"[{name}]\n")
        out.extend(f"{key} = {format_value(value)}\n" for key, value in missing.items())

    result = "".join(out)
    _check(result, values)
    return result


def _check(text: str, values: Mapping[tuple[str, str], Scalar]) -> None:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"edited config is not valid TOML: {exc}") from None
    for (section, key), value in values.items():
        table = doc
        for part in section.split(".") if section else []:
            table = table.get(part, {})
        if table.get(key) != value:
            raise ConfigError(
                f"edited config reads back [{section}] {key} = {table.get(key)!r}, "
                f"expected {value!r}"
            )


def edit_file(path: Path, values: Mapping[tuple[str, str], Scalar]) -> None:
    """Apply :func:`set_values` to the file at ``path`` (rewritten atomically)."""
    text = path.read_text(encoding="utf-8")
    new = set_values(text, values)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)
