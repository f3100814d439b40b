"""LevelDB key layout of the store (app/store/keys.py): the history-key
escaping must keep raw key order and prefixes, and page keys must name one
position each.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.store import keys as k

KEYS = st.binary(max_size=8).map(lambda b: b.replace(b"\x01", b"\x00"))  # many zero bytes


@given(a=KEYS, b=KEYS)
def test_escape_preserves_order(a: bytes, b: bytes) -> None:
    assert (a < b) == (k.escape(a) < k.escape(b))
    assert k.unescape(k.escape(a)) == a


@given(key=KEYS, prefix=KEYS)
def test_escaped_prefix_matches_exactly_the_keys_with_that_prefix(
    key: bytes, prefix: bytes
) -> None:
    assert k.escape(key).startswith(k.escape_prefix(prefix)) == key.startswith(prefix)


@given(key=KEYS, bound=KEYS)
def test_escaped_bounds(key: bytes, bound: bytes) -> None:
    # Range scans over history use escape_prefix(bound) as a bound.
    assert (key >= bound) == (k.escape(key) >= k.escape_prefix(bound))


@given(a=KEYS, b=KEYS, va=st.integers(0, 2**64 - 1), vb=st.integers(0, 2**64 - 1))
def test_history_keys_sort_by_key_then_version(a: bytes, b: bytes, va: int, vb: int) -> None:
    ka = k.history_key(a, k.version_bytes(va))
    kb = k.history_key(b, k.version_bytes(vb))
    assert (ka < kb) == ((a, va) < (b, vb))


def test_successor() -> None:
    assert k.successor(b"ab") == b"ac"
    assert k.successor(b"a\xff") == b"b"
    assert k.successor(b"\xff\xff") is None
    assert k.successor(b"") is None


@given(path=st.binary(min_size=32, max_size=32), depth=st.integers(0, 255))
def test_node_key_depends_only_on_the_position(path: bytes, depth: int) -> None:
    version8 = k.version_bytes(7)
    pos = int.from_bytes(path, "big")
    # Changing any bit at or below `depth` keeps the key; changing one
    # above it changes the key.
    below = (pos ^ (1 << (255 - depth))).to_bytes(32, "big")
    assert k.node_key(below, depth, version8) == k.node_key(path, depth, version8)
    if depth > 0:
        above = (pos ^ (1 << (256 - depth))).to_bytes(32, "big")
        assert k.node_key(above, depth, version8) != k.node_key(path, depth, version8)
    assert k.node_key(path, depth, version8) != k.node_key(path, depth, k.version_bytes(8))


def test_key_lists_round_trip() -> None:
    keys = [b"", b"a", b"\x00" * 300, bytes(range(256))]
    assert k.unpack_key_list(k.pack_key_list(keys)) == keys
