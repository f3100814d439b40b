"""The SMT rules of DESIGN.md section 3 ("State") written out directly, as
a reference the store's incremental algorithm is tested against."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

ZERO = bytes(32)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf(key: bytes, value: bytes) -> bytes:
    return sha(b"\x00" + sha(key) + sha(value))


def inner(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


def bit(khash: bytes, depth: int) -> int:
    return (khash[depth // 8] >> (7 - depth % 8)) & 1


def reference_root(items: Mapping[bytes, bytes]) -> bytes:
    """Root of the compacted SMT holding ``items``, by the definition.

    Empty subtree -> 32 zero bytes; exactly one leaf -> that leaf's hash;
    otherwise split on the next bit of SHA256(key) and hash the halves.
    """

    def subtree(depth: int, leaves: list[tuple[bytes, bytes]]) -> bytes:
        if not leaves:
            return ZERO
        if len(leaves) == 1:
            return leaves[0][1]
        left = [x for x in leaves if bit(x[0], depth) == 0]
        right = [x for x in leaves if bit(x[0], depth) == 1]
        return inner(subtree(depth + 1, left), subtree(depth + 1, right))

    return subtree(0, [(sha(k), leaf(k, v)) for k, v in items.items()])
