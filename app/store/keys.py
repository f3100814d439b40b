"""LevelDB key layout of the authenticated store (DESIGN.md section 3, "State").

Every record of the store lives in one LevelDB under a one-byte table prefix.
Only this module builds or parses LevelDB keys.

    S                              -> latest version (8) || earliest version (8)
    F                              -> format marker
    r || version                   -> root reference of that version's tree
    n || path || depth || version  -> tree page created at that version
    l || key                       -> latest committed value of key
    h || esc(key) || version       -> value key had just *before* version
                                      (0x00 = absent, 0x01 || value)
    o || version                   -> LevelDB keys orphaned by that version,
                                      deleted once the version is pruned
    m || key                       -> application metadata (not versioned)

Versions are 8-byte big-endian so that LevelDB's byte order is version order.
History keys escape the user key (0x00 -> 0x00 0xFF, then a 0x00 0x00
terminator) so that they sort by user key first and then by version, which
makes range scans over past versions possible; plain concatenation would
interleave the versions of key ``a`` with key ``a\\x00``.
"""

from __future__ import annotations

STATE = b"S"
FORMAT = b"F"
FORMAT_VALUE = b"mgrid-smt-v1"
ROOT = b"r"
NODE = b"n"
LATEST = b"l"
HISTORY = b"h"
ORPHANS = b"o"
META = b"m"

VERSION_BYTES = 8
MAX_VERSION = (1 << 64) - 1

# _DEPTH[d] is the one-byte encoding of depth d; _MASKED[r][b] keeps the top r
# bits of byte b.  Both are precomputed because node keys are built for every
# node a batch touches.
_DEPTH = [bytes([d]) for d in range(256)]
_MASKED = [[bytes([b & (0xFF00 >> r) & 0xFF]) for b in range(256)] for r in range(8)]


def version_bytes(version: int) -> bytes:
    """Encode a version as 8 big-endian bytes."""
    return version.to_bytes(VERSION_BYTES, "big")


def root_key(version: int) -> bytes:
    return ROOT + version_bytes(version)


def orphans_key(version: int) -> bytes:
    return ORPHANS + version_bytes(version)


def latest_key(key: bytes) -> bytes:
    return LATEST + key


def meta_key(key: bytes) -> bytes:
    return META + key


def node_key(path: bytes, depth: int, version8: bytes) -> bytes:
    """Key of the tree page rooted at ``depth`` on ``path``, created at a version.

    ``path`` is any 32-byte key hash whose first ``depth`` bits are the node's
    position; the remaining bits are masked off so every key hash below the
    node gives the same LevelDB key.  Position-first keys keep a subtree's
    nodes close together on disk, so a batch (which walks the tree in key
    hash order) reads LevelDB almost sequentially.
    """
    n = (depth + 7) >> 3
    r = depth & 7
    if r:
        return NODE + path[: n - 1] + _MASKED[r][path[n - 1]] + _DEPTH[depth] + version8
    return NODE + path[:n] + _DEPTH[depth] + version8


def node_prefix(path: bytes, depth: int) -> bytes:
    """``node_key(path, depth, version8)`` without the version: the part
    shared by every version of the page at that position."""
    n = (depth + 7) >> 3
    r = depth & 7
    if r:
        return NODE + path[: n - 1] + _MASKED[r][path[n - 1]] + _DEPTH[depth]
    return NODE + path[:n] + _DEPTH[depth]


def escape(key: bytes) -> bytes:
    """Order-preserving, prefix-free encoding of a user key (see module doc)."""
    return key.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def escape_prefix(prefix: bytes) -> bytes:
    """Encoding of a key prefix: a prefix of ``escape(k)`` for every k it starts."""
    return prefix.replace(b"\x00", b"\x00\xff")


def unescape(encoded: bytes) -> bytes:
    """Inverse of :func:`escape` (``encoded`` includes the terminator)."""
    return encoded[:-2].replace(b"\x00\xff", b"\x00")


def history_key(key: bytes, version8: bytes) -> bytes:
    return HISTORY + escape(key) + version8


def history_keys(keys: list[bytes], version8: bytes) -> list[bytes]:
    """``history_key`` of each key at one version (a commit makes thousands)."""
    history = HISTORY
    suffix = b"\x00\x00" + version8
    return [history + key.replace(b"\x00", b"\x00\xff") + suffix for key in keys]


def successor(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string starting with ``prefix``.

    None when there is none (``prefix`` empty or all 0xFF).
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def pack_key_list(keys: list[bytes]) -> bytes:
    """Serialise a list of LevelDB keys (4-byte big-endian length, then key)."""
    return b"".join([len(k).to_bytes(4, "big") + k for k in keys])


def unpack_key_list(blob: bytes) -> list[bytes]:
    out: list[bytes] = []
    append = out.append
    off = 0
    end = len(blob)
    while off < end:
        start = off + 4
        off = start + (
            (blob[off] << 24) | (blob[off + 1] << 16) | (blob[off + 2] << 8) | blob[off + 3]
        )
        append(blob[start:off])
    return out
