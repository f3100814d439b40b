"""Compacted sparse Merkle tree: the hashing rules, node encoding and the batch
update and walk algorithms behind the app hash (DESIGN.md section 3, "State").

The rules are those of the ICS-23 SMT ProofSpec (as celestiaorg/smt):

- the path of a key is SHA256(key), read most significant bit first; bit 0
  goes left, bit 1 goes right;
- leaf hash  = SHA256(0x00 || SHA256(key) || SHA256(value));
- inner hash = SHA256(0x01 || left || right);
- a subtree with no leaves hashes to 32 zero bytes, and a subtree with
  exactly one leaf *is* that leaf (the leaf sits at the depth of its shortest
  unique prefix).

So the root is a function of the set of (key, value) pairs only, never of
history.

Storage: the binary tree is cut into pages of PAGE_BITS levels.  An inner
node at a depth that is a multiple of PAGE_BITS is a page root, stored as one
immutable LevelDB record identified by its position (depth and path prefix)
and the version that created it; the inner nodes below it, down to the next
page roots, are serialised inside that record, and so are leaves (hash and
raw key).  A batch walking ~20 binary levels thus reads ~5 records instead
of ~20, which is what dominates its cost in Python.  Inline nodes are decoded
lazily (each carries its encoded length), so a walk decodes only the nodes on
its path, and unchanged siblings are copied into the rewritten page as the
bytes they were read as.  Old versions stay readable until pruned because
records are never overwritten or shared between versions.

This module is pure: it reads pages through a loader callback and returns the
records to write, so the store decides where and when they are persisted.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.store.errors import StoreError
from app.store.keys import node_key

EMPTY_HASH = bytes(32)
LEAF_PREFIX = b"\x00"
INNER_PREFIX = b"\x01"
MAX_KEY_LEN = 0xFFFF  # leaf references store the key length in two bytes

# Levels of the binary tree per stored page (see the module docstring).
PAGE_BITS = 4

# Kinds of child references.
LEAF = 1
INNER = 2  # an inner node that is a page root, stored in its own record
INLINE = 3  # an inner node stored inside its page's record

# A reference to a non-empty subtree: (hash, kind, payload, encoding).
# payload is the raw key for LEAF, the creating version (8 bytes) for INNER,
# and the encoded children for INLINE; encoding is the reference's
# serialised form, kept so that unchanged children are copied into a
# rewritten page without re-encoding.  None stands for the empty subtree.
Ref = tuple[bytes, int, bytes, bytes]
# An inner node: its (left, right) children.
Node = tuple[Ref | None, Ref | None]
NodeLoader = Callable[[bytes], Node]

_TAG_EMPTY = b"\x00"
_TAG_LEAF = b"\x01"
_TAG_INNER = b"\x02"
_TAG_INLINE = b"\x03"

_sha256 = hashlib.sha256


def key_hash(key: bytes) -> bytes:
    """Path of ``key`` in the tree."""
    return _sha256(key).digest()


def leaf_hash(khash: bytes, value: bytes) -> bytes:
    """Hash of the leaf for a key (given by its key hash) and value."""
    return _sha256(LEAF_PREFIX + khash + _sha256(value).digest()).digest()


def inner_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(INNER_PREFIX + left + right).digest()


def ref_hash(ref: Ref | None) -> bytes:
    return EMPTY_HASH if ref is None else ref[0]


def leaf_ref(key: bytes, lhash: bytes) -> Ref:
    return (lhash, LEAF, key, _TAG_LEAF + lhash + len(key).to_bytes(2, "big") + key)


def inner_ref(ihash: bytes, version8: bytes) -> Ref:
    return (ihash, INNER, version8, _TAG_INNER + ihash + version8)


def encode_ref(ref: Ref | None) -> bytes:
    return _TAG_EMPTY if ref is None else ref[3]


def decode_ref(data: bytes, off: int = 0) -> tuple[Ref | None, int]:
    """Decode one reference at ``off``; return it and the offset after it."""
    tag = data[off]
    if tag == 0:
        return None, off + 1
    if tag == 1:
        end = off + 35 + ((data[off + 33] << 8) | data[off + 34])
        return (data[off + 1 : off + 33], LEAF, data[off + 35 : end], data[off:end]), end
    if tag == 2:
        end = off + 41
        return (data[off + 1 : off + 33], INNER, data[off + 33 : end], data[off:end]), end
    if tag == 3:
        end = off + 37 + int.from_bytes(data[off + 33 : off + 37], "big")
        return (data[off + 1 : off + 33], INLINE, data[off + 37 : end], data[off:end]), end
    raise StoreError(f"corrupt tree reference: tag {tag} at offset {off}")


def decode_node(data: bytes) -> Node:
    """Decode the children of a page root (a record) or of an inline node."""
    left, off = decode_ref(data, 0)
    right, end = decode_ref(data, off)
    if end != len(data):
        raise StoreError(f"corrupt tree node: {len(data) - end} trailing bytes")
    return (left, right)


def bit_at(khash: bytes, depth: int) -> int:
    return (khash[depth >> 3] >> (7 - (depth & 7))) & 1


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Outcome of applying a batch to a tree, to be persisted by commit.

    Attributes:
        root: reference to the new root (None for the empty tree).
        nodes: (LevelDB key, record) of every new page.
        orphans: LevelDB keys of the pages the new version no longer uses;
            they are still needed by older versions until those are pruned.
    """

    root: Ref | None
    nodes: list[tuple[bytes, bytes]]
    orphans: list[bytes]


def apply_batch(
    root: Ref | None,
    khashes: list[bytes],
    refs: Sequence[Ref | None],
    version8: bytes,
    load: NodeLoader,
) -> BatchResult:
    """Apply sorted changes to the tree rooted at ``root``.

    Parameters:
        root: root reference of the latest committed tree.
        khashes: key hashes of the changed keys, strictly ascending.
        refs: for each key hash, the new leaf reference, or None to delete.
            Every entry must be a real change (a delete only of a present
            key): then every inner node on a changed path changes, which is
            what lets the walk orphan every node it loads.
        version8: the version being built (8 bytes), stamped on new nodes.
        load: reads a committed page by LevelDB key.

    Each touched node is read once and rebuilt once: the walk descends the
    tree and the sorted batch together, splitting the batch by the bit at the
    current depth, so a batch costs one pass over the union of its paths.
    """
    nodes: list[tuple[bytes, bytes]] = []
    orphans: list[bytes] = []
    sha256 = _sha256
    inner_prefix = INNER_PREFIX
    empty = EMPTY_HASH
    tag_empty = _TAG_EMPTY
    tag_inner = _TAG_INNER
    tag_inline = _TAG_INLINE
    page_bits = PAGE_BITS

    def split(keys: Sequence[bytes], lo: int, hi: int, depth: int) -> int:
        # keys[lo:hi] share their first `depth` bits and are sorted, so the
        # bit at `depth` is 0...0 1...1: binary search for the first 1.
        byte = depth >> 3
        mask = 0x80 >> (depth & 7)
        while lo < hi:
            mid = (lo + hi) >> 1
            if keys[mid][byte] & mask:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def combine(left: Ref | None, right: Ref | None, depth: int, path: bytes) -> Ref | None:
        # Compaction: an empty sibling next to a single leaf (or nothing)
        # lets the leaf (or emptiness) rise to this position.
        if left is None:
            if right is None or right[1] == LEAF:
                return right
            children = tag_empty + right[3]
            h = sha256(inner_prefix + empty + right[0]).digest()
        elif right is None:
            if left[1] == LEAF:
                return left
            children = left[3] + tag_empty
            h = sha256(inner_prefix + left[0] + empty).digest()
        else:
            children = left[3] + right[3]
            h = sha256(inner_prefix + left[0] + right[0]).digest()
        if depth % page_bits:
            size = len(children).to_bytes(4, "big")
            return (h, INLINE, children, tag_inline + h + size + children)
        nodes.append((node_key(path, depth, version8), children))
        return (h, INNER, version8, tag_inner + h + version8)

    def build(
        keys: Sequence[bytes], leaves: Sequence[Ref | None], depth: int, lo: int, hi: int
    ) -> Ref | None:
        # A subtree made only of the given leaves (None entries are dropped
        # by combine's compaction).
        n = hi - lo
        if n == 1:
            return leaves[lo]
        if n == 0:
            return None
        mid = split(keys, lo, hi, depth)
        return combine(
            build(keys, leaves, depth + 1, lo, mid),
            build(keys, leaves, depth + 1, mid, hi),
            depth,
            keys[lo],
        )

    def update(ref: Ref | None, depth: int, lo: int, hi: int) -> Ref | None:
        if ref is None:
            return build(khashes, refs, depth, lo, hi)
        if ref[1] == LEAF:
            # The position holds one leaf: rebuild the subtree from it and
            # the batch (the batch entry wins when it is the same key).
            lkh = sha256(ref[2]).digest()
            i = bisect_left(khashes, lkh, lo, hi)
            if i < hi and khashes[i] == lkh:
                return build(khashes, refs, depth, lo, hi)
            keys = khashes[lo:hi]
            leaves = list(refs[lo:hi])
            keys.insert(i - lo, lkh)
            leaves.insert(i - lo, ref)
            return build(keys, leaves, depth, 0, len(keys))
        if ref[1] == INLINE:
            left, right = decode_node(ref[2])
        else:
            # A page root: the whole page is replaced, so the old record is
            # orphaned (real changes always change the hash).
            nkey = node_key(khashes[lo], depth, ref[2])
            left, right = load(nkey)
            orphans.append(nkey)
        mid = split(khashes, lo, hi, depth)
        if mid > lo:
            left = update(left, depth + 1, lo, mid)
        if hi > mid:
            right = update(right, depth + 1, mid, hi)
        return combine(left, right, depth, khashes[lo])

    new_root = update(root, 0, 0, len(khashes)) if khashes else root
    return BatchResult(new_root, nodes, orphans)


@dataclass(frozen=True, slots=True)
class Step:
    """One inner node on a root-to-leaf walk: the node and the side taken."""

    depth: int
    node: Node
    bit: int


def walk(root: Ref | None, khash: bytes, load: NodeLoader) -> tuple[list[Step], Ref | None]:
    """Follow ``khash`` from the root until a leaf or an empty subtree.

    Returns the inner nodes passed (root first) and the reference where the
    walk stopped: a leaf (maybe of another key, when khash is absent) or None.
    """
    steps: list[Step] = []
    ref = root
    depth = 0
    while ref is not None and ref[1] != LEAF:
        node = decode_node(ref[2]) if ref[1] == INLINE else load(node_key(khash, depth, ref[2]))
        bit = bit_at(khash, depth)
        steps.append(Step(depth, node, bit))
        ref = node[bit]
        depth += 1
    return steps, ref


def edge_leaf(ref: Ref, path: bytes, depth: int, load: NodeLoader, *, rightmost: bool) -> Ref:
    """Leftmost or rightmost leaf of the subtree ``ref`` at ``depth`` on ``path``."""
    pos = int.from_bytes(path, "big")
    while ref[1] != LEAF:
        if ref[1] == INLINE:
            left, right = decode_node(ref[2])
        else:
            left, right = load(node_key(pos.to_bytes(32, "big"), depth, ref[2]))
        # Take the outer side unless it is empty (then the inner one).
        bit = int(right is not None) if rightmost else int(left is None)
        child = right if bit else left
        if child is None:
            raise StoreError(f"corrupt tree: inner node at depth {depth} has no children")
        if bit:
            pos |= 1 << (255 - depth)
        ref = child
        depth += 1
    return ref


def sibling_path(khash: bytes, depth: int) -> bytes:
    """Path of the sibling, at depth+1, of the child ``khash`` takes at ``depth``."""
    pos = int.from_bytes(khash, "big")
    shift = 255 - depth
    # Keep the first `depth` bits, flip bit `depth`, zero the rest.
    pos = ((pos >> (shift + 1)) << (shift + 1)) | ((((pos >> shift) & 1) ^ 1) << shift)
    return pos.to_bytes(32, "big")
