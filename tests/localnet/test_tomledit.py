"""Section-aware edits of config.toml keep comments and touch only the keys asked for."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from localnet.errors import ConfigError
from localnet.tomledit import edit_file, format_value, set_values

SAMPLE = """\
# top comment
proxy_app = "tcp://127.0.0.1:26658"
moniker = "vm"

#######################
###   RPC options   ###
#######################
[rpc]

# TCP address for the RPC server
laddr = "tcp://127.0.0.1:26657"  # trailing comment
cors_allowed_methods = ["HEAD", "GET", "POST", ]

[p2p]
laddr = "tcp://0.0.0.0:26656"
allow_duplicate_ip = false

[consensus]
timeout_commit = "1s"
"""


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", '"plain"'),
        ('quo"te\\back', '"quo\\"te\\\\back"'),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (0.5, "0.5"),
    ],
)
def test_format_value(value: str | bool | int | float, literal: str) -> None:
    assert format_value(value) == literal
    assert tomllib.loads(f"x = {literal}")["x"] == value


def test_same_key_in_two_sections_is_set_per_section() -> None:
    text = set_values(
        SAMPLE,
        {
            ("rpc", "laddr"): "tcp://127.0.0.1:1057",
            ("p2p", "laddr"): "tcp://127.0.0.1:1056",
            ("", "moniker"): "node0",
            ("p2p", "allow_duplicate_ip"): True,
        },
    )
    doc = tomllib.loads(text)
    assert doc["rpc"]["laddr"] == "tcp://127.0.0.1:1057"
    assert doc["p2p"]["laddr"] == "tcp://127.0.0.1:1056"
    assert doc["moniker"] == "node0"
    assert doc["p2p"]["allow_duplicate_ip"] is True
    assert doc["proxy_app"] == "tcp://127.0.0.1:26658"  # untouched
    assert "# TCP address for the RPC server" in text
    assert "###   RPC options   ###" in text
    assert len(text.splitlines()) == len(SAMPLE.splitlines())


def test_untouched_lines_are_byte_identical() -> None:
    text = set_values(SAMPLE, {("consensus", "timeout_commit"): "500ms"})
    changed = [
        (a, b) for a, b in zip(SAMPLE.splitlines(), text.splitlines(), strict=True) if a != b
    ]
    assert changed == [('timeout_commit = "1s"', 'timeout_commit = "500ms"')]


def test_missing_keys_and_sections_are_added() -> None:
    text = set_values(
        SAMPLE,
        {
            ("", "log_level"): "info",
            ("rpc", "pprof_laddr"): "",
            ("instrumentation", "prometheus"): True,
        },
    )
    doc = tomllib.loads(text)
    assert doc["log_level"] == "info"
    assert doc["rpc"]["pprof_laddr"] == ""
    assert doc["instrumentation"]["prometheus"] is True
    # A top-level key must land before the first table, not inside it.
    assert text.index("log_level") < text.index("[rpc]")
    # The new key joins its section's keys, before the banner of the next section.
    assert text.index("log_level") < text.index("#######")


def test_multi_line_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="spans several lines"):
        set_values('[a]\nlist = [\n  "x",\n]\n', {("a", "list"): "y"})


def test_edit_file_rewrites_in_place(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(SAMPLE)
    edit_file(path, {("p2p", "laddr"): "tcp://127.0.0.1:9"})
    assert tomllib.loads(path.read_text())["p2p"]["laddr"] == "tcp://127.0.0.1:9"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]
