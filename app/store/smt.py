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
from operator import itemgetter

from app.store.errors import StoreError
from app.store.keys import node_key, node_prefix

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
_first = itemgetter(0)

# _SPLIT_BYTE[r][b]: byte b with its top r bits kept, bit r (from the top)
# set and the bits below it cleared; the key-hash byte that starts the right
# half of a batch split at a depth with depth % 8 == r.
_SPLIT_BYTE = [
    [bytes([(b & (0xFF00 >> r) & 0xFF) | (0x80 >> r)]) for b in range(256)] for r in range(8)
]


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


def batch_entries(
    changes: Sequence[tuple[bytes, bytes | None]],
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """The leaves of a batch of changes, in the form :func:`apply_batch` takes.

    Parameters:
        changes: (key, new value or None to delete) pairs, distinct keys.

    Returns:
        The key hashes in ascending order and, in the same order, the
        encoded new leaf references (the empty tag for a delete) and the
        raw keys.
    """
    sha256 = _sha256
    leaf_prefix = LEAF_PREFIX
    tag_leaf = _TAG_LEAF
    tag_empty = _TAG_EMPTY
    rows = sorted([(sha256(key).digest(), key, value) for key, value in changes], key=_first)
    leaves = [
        tag_empty
        if value is None
        else tag_leaf
        + sha256(leaf_prefix + khash + sha256(value).digest()).digest()
        + len(key).to_bytes(2, "big")
        + key
        for khash, key, value in rows
    ]
    return [row[0] for row in rows], leaves, [row[1] for row in rows]


def apply_batch(
    root: Ref | None,
    khashes: list[bytes],
    leaves: Sequence[bytes],
    keys: Sequence[bytes],
    version8: bytes,
    load: Callable[[bytes], bytes],
) -> BatchResult:
    """Apply sorted changes to the tree rooted at ``root``.

    Parameters:
        root: root reference of the latest committed tree.
        khashes: key hashes of the changed keys, strictly ascending.
        leaves: for each key hash, the encoded new leaf reference, or the
            empty tag (b"\\x00") to delete (see :func:`batch_entries`).
            Every entry must be a real change (a delete only of a present
            key): then every inner node on a changed path changes, which is
            what lets the walk orphan every node it loads.
        keys: for each key hash, the raw key.
        version8: the version being built (8 bytes), stamped on new nodes.
        load: reads a committed page record by LevelDB key.

    Each touched node is read once and rebuilt once: the walk descends the
    tree and the sorted batch together, splitting the batch by the bit at the
    current depth, so a batch costs one pass over the union of its paths.

    The walk works on encoded references (tag, hash, payload; see
    :func:`decode_ref`) rather than :data:`Ref` tuples: an unchanged child
    is a slice of its parent's bytes, a rebuilt node's encoding is what its
    parent needs, and no tuple is made per node.  Below the depth where the
    batch's paths part, each change walks down and back up in a loop
    (``update_one``) instead of recursing.  This is the block's hot path:
    per node it does a few slices, one SHA-256 and one concatenation.
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
    append_node = nodes.append
    append_orphan = orphans.append

    def combine(lenc: bytes, renc: bytes, prefix: bytes) -> bytes:
        # The node with children lenc and renc.  Compaction: an empty
        # sibling next to a single leaf (or nothing) lets the leaf (or
        # emptiness) rise to this position.  Tags: 0 empty, 1 leaf.
        # ``prefix`` is the position's page key prefix if it is a page
        # root (depth a multiple of PAGE_BITS), else empty.
        if lenc[0] == 0:
            if renc[0] < 2:
                return renc
            h = sha256(inner_prefix + empty + renc[1:33]).digest()
        elif renc[0] == 0:
            if lenc[0] == 1:
                return lenc
            h = sha256(inner_prefix + lenc[1:33] + empty).digest()
        else:
            h = sha256(inner_prefix + lenc[1:33] + renc[1:33]).digest()
        children = lenc + renc
        if prefix:
            append_node((prefix + version8, children))
            return tag_inner + h + version8
        return tag_inline + h + len(children).to_bytes(4, "big") + children

    def build(khs: Sequence[bytes], encs: Sequence[bytes], depth: int, lo: int, hi: int) -> bytes:
        # A subtree made only of the given leaves (deletes are dropped by
        # combine's compaction).
        n = hi - lo
        if n == 1:
            return encs[lo]
        if n == 0:
            return tag_empty
        a = split_batch(khs, depth, lo, hi)
        return combine(
            build(khs, encs, depth + 1, lo, a),
            build(khs, encs, depth + 1, a, hi),
            b"" if depth % page_bits else node_prefix(khs[lo], depth),
        )

    def split_batch(khs: Sequence[bytes], depth: int, lo: int, hi: int) -> int:
        # khs[lo:hi] share their first `depth` bits and are sorted, so the
        # bit at `depth` is 0...0 1...1: find the first 1.
        byte = depth >> 3
        if hi - lo > 8:
            # Bisect (in C) for the smallest key hash with that prefix and
            # a 1 at `depth`.
            first = khs[lo]
            return bisect_left(khs, first[:byte] + _SPLIT_BYTE[depth & 7][first[byte]], lo, hi)
        mask = 0x80 >> (depth & 7)
        while lo < hi:
            m = (lo + hi) >> 1
            if khs[m][byte] & mask:
                hi = m
            else:
                lo = m + 1
        return lo

    def merge_leaf(enc: bytes, depth: int, lo: int, hi: int) -> bytes:
        # The position holds one leaf: rebuild the subtree from it and the
        # batch (the batch entry wins when it is the same key).
        lkh = sha256(enc[35:]).digest()
        i = bisect_left(khashes, lkh, lo, hi)
        if i < hi and khashes[i] == lkh:
            return build(khashes, leaves, depth, lo, hi)
        khs = khashes[lo:hi]
        encs = list(leaves[lo:hi])
        khs.insert(i - lo, lkh)
        encs.insert(i - lo, enc)
        return build(khs, encs, depth, 0, len(khs))

    def split(data: bytes) -> int:
        # Where the right child's reference starts in a node's children (a
        # page record or an inline payload); checks that the two
        # references fill the bytes exactly.
        tag = data[0]
        if tag == 3:
            cut = 37 + ((data[33] << 24) | (data[34] << 16) | (data[35] << 8) | data[36])
        elif tag == 1:
            cut = 35 + ((data[33] << 8) | data[34])
        elif tag == 2:
            cut = 41
        elif tag == 0:
            cut = 1
        else:
            raise StoreError(f"corrupt tree reference: tag {tag} at offset 0")
        size = len(data)
        tag = data[cut] if cut < size else -1
        if tag == 3:
            end = cut + 37 + ((data[cut + 33] << 24) | (data[cut + 34] << 16))
            end += (data[cut + 35] << 8) | data[cut + 36]
        elif tag == 1:
            end = cut + 35 + ((data[cut + 33] << 8) | data[cut + 34])
        elif tag == 2:
            end = cut + 41
        elif tag == 0:
            end = cut + 1
        else:
            raise StoreError(f"corrupt tree reference: tag {tag} at offset {cut}")
        if end != size:
            raise StoreError(f"corrupt tree node: {size - end} trailing bytes")
        return cut

    def update(enc: bytes, depth: int, lo: int, hi: int) -> bytes:
        # Two or more changes (khashes[lo:hi]) below this position.
        tag = enc[0]
        prefix = b""
        if tag == 3:
            data = enc[37:]
        elif tag == 2:
            # A page root: the whole page is replaced, so the old record is
            # orphaned (real changes always change the hash).
            prefix = node_prefix(khashes[lo], depth)
            nkey = prefix + enc[33:41]
            data = load(nkey)
            append_orphan(nkey)
        elif tag == 1:
            return merge_leaf(enc, depth, lo, hi)
        elif tag == 0:
            return build(khashes, leaves, depth, lo, hi)
        else:
            raise StoreError(f"corrupt tree reference: tag {tag} at depth {depth}")
        cut = split(data)
        a = split_batch(khashes, depth, lo, hi)
        depth += 1
        n = a - lo
        if n == 1:
            lenc = update_one(data[:cut], depth, lo)
        elif n:
            lenc = update(data[:cut], depth, lo, a)
        else:
            lenc = data[:cut]
        n = hi - a
        if n == 1:
            renc = update_one(data[cut:], depth, a)
        elif n:
            renc = update(data[cut:], depth, a, hi)
        else:
            renc = data[cut:]
        return combine(lenc, renc, prefix)

    def update_one(enc: bytes, depth: int, i: int) -> bytes:
        # Exactly one change (khashes[i]) below this position, the common
        # case in the lower levels: walk down to where its key goes,
        # keeping the siblings passed, then rehash back up.
        khash = khashes[i]
        passed: list[tuple[bytes, int, bytes]] = []
        while True:
            tag = enc[0]
            if tag == 3:
                data = enc[37:]
                prefix = b""
            elif tag == 2:
                prefix = node_prefix(khash, depth)
                nkey = prefix + enc[33:41]
                data = load(nkey)
                append_orphan(nkey)
            else:
                break
            cut = split(data)
            if (khash[depth >> 3] >> (7 - (depth & 7))) & 1:
                passed.append((data[:cut], 1, prefix))
                enc = data[cut:]
            else:
                passed.append((data[cut:], 0, prefix))
                enc = data[:cut]
            depth += 1
        if tag == 0 or (tag == 1 and enc[35:] == keys[i]):
            new = leaves[i]  # an empty slot, or the same key's leaf
        elif tag == 1:
            new = merge_leaf(enc, depth, i, i + 1)
        else:
            raise StoreError(f"corrupt tree reference: tag {tag} at depth {depth}")
        # Back up: combine, inlined (this loop builds most nodes of a batch).
        while passed:
            sibling, bit, prefix = passed.pop()
            if bit:
                lenc, renc = sibling, new
            else:
                lenc, renc = new, sibling
            if lenc[0] == 0:
                if renc[0] < 2:
                    new = renc
                    continue
                h = sha256(inner_prefix + empty + renc[1:33]).digest()
            elif renc[0] == 0:
                if lenc[0] == 1:
                    new = lenc
                    continue
                h = sha256(inner_prefix + lenc[1:33] + empty).digest()
            else:
                h = sha256(inner_prefix + lenc[1:33] + renc[1:33]).digest()
            children = lenc + renc
            if prefix:
                append_node((prefix + version8, children))
                new = tag_inner + h + version8
            else:
                new = tag_inline + h + len(children).to_bytes(4, "big") + children
        return new

    n = len(khashes)
    if n == 0:
        return BatchResult(root, nodes, orphans)
    enc = encode_ref(root)
    new_root, _ = decode_ref(update_one(enc, 0, 0) if n == 1 else update(enc, 0, 0, n))
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
