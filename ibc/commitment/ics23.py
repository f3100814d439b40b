"""ICS-23 vector commitment proofs: verifying membership and non-membership.

This implements the client side of ICS-23 (cosmos/ibc spec/core/ics-023
vector commitments) for the wire format of cosmos/ics23 (proofs.proto),
behaving as the reference Go implementation (cosmos/ics23 go v0.11, with its
2024 hardening) does:

- An ExistenceProof proves (key, value) under a root: its LeafOp hashes the
  pair into a leaf, its InnerOps hash the leaf up to the root, and every op
  must have the shape the ProofSpec prescribes (see ``ops``).
- A NonExistenceProof proves a key absent: it holds existence proofs of the
  key's neighbours, left < key < right (keys compared after prehashing when
  the spec says so), and their paths must be adjacent in the tree: they
  share an upper path, split at two neighbouring children, and below the
  split the left path is right-most and the right path left-most (branches
  filled with the spec's empty_child count as absent). With one neighbour,
  it must be the left-most or right-most leaf of the whole tree.
- A CommitmentProof wraps one of those, or a batch of them, or a compressed
  batch (inner ops deduplicated into a lookup table).

Functions returning bool (``verify_membership``, ``verify_non_membership``)
never raise on a bad proof; the others raise :class:`ProofError` with a
message that names the failed check. Any input, however malformed, leads to
one of those two outcomes: never to another exception.

Where the reference panics (e.g. a compressed-batch index out of range, two
neighbour paths with no divergent step), this module raises ProofError, so
such proofs are rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from app.pb.cosmos.ics23.v1 import proofs_pb2 as pb

from .errors import ProofError, short_hex
from .hashing import do_hash_or_noop, hash_op_name
from .ops import SpecRules, apply_inner, apply_leaf, check_inner_op, check_leaf_op
from .specs import IAVL_SPEC, SMT_SPEC, SPECS, TENDERMINT_SPEC

__all__ = [
    "IAVL_SPEC",
    "SMT_SPEC",
    "SPECS",
    "TENDERMINT_SPEC",
    "ProofError",
    "calculate_root",
    "check_existence_against_spec",
    "compress",
    "decompress",
    "verify_existence",
    "verify_membership",
    "verify_non_existence",
    "verify_non_membership",
]


# --- internal views -------------------------------------------------------------
# Proofs are verified through these light views instead of the protobuf
# messages themselves, so that a compressed batch can be verified without
# copying its shared inner ops into every path (a small compressed proof can
# reference one large op thousands of times; copying would let it blow up).


class _Exist(NamedTuple):
    """An existence proof: key, value, leaf op (None if absent), inner ops."""

    key: bytes
    value: bytes
    leaf: pb.LeafOp | None
    path: Sequence[pb.InnerOp]


class _NonExist(NamedTuple):
    """A non-existence proof: the key and its neighbours (each may be None)."""

    key: bytes
    left: _Exist | None
    right: _Exist | None


def _exist_view(p: pb.ExistenceProof) -> _Exist:
    return _Exist(p.key, p.value, p.leaf if p.HasField("leaf") else None, p.path)


def _nonexist_view(p: pb.NonExistenceProof) -> _NonExist:
    return _NonExist(
        p.key,
        _exist_view(p.left) if p.HasField("left") else None,
        _exist_view(p.right) if p.HasField("right") else None,
    )


def _resolve_path(indices: Sequence[int], lookup: Sequence[pb.InnerOp]) -> list[pb.InnerOp]:
    """Map a compressed path (indices into lookup_inners) to the ops themselves."""
    path = []
    for i in indices:
        if not 0 <= i < len(lookup):
            raise ProofError(
                f"compressed path refers to inner op {i}, "
                f"but lookup_inners has {len(lookup)} entries"
            )
        path.append(lookup[i])
    return path


def _compressed_exist_view(c: pb.CompressedExistenceProof, lookup: Sequence[pb.InnerOp]) -> _Exist:
    leaf = c.leaf if c.HasField("leaf") else None
    return _Exist(c.key, c.value, leaf, _resolve_path(c.path, lookup))


def _batch_views(proof: pb.CommitmentProof) -> list[_Exist | _NonExist]:
    """The existence / non-existence proofs a CommitmentProof carries, in order.

    A compressed batch is fully validated first (every index in range, every
    entry non-empty), as decompressing it is in the reference: one broken
    entry rejects the whole proof. Exclusion entries are not part of the
    reference's verification and are skipped.
    """
    kind = proof.WhichOneof("proof")
    if kind == "exist":
        return [_exist_view(proof.exist)]
    if kind == "nonexist":
        return [_nonexist_view(proof.nonexist)]
    views: list[_Exist | _NonExist] = []
    if kind == "batch":
        for entry in proof.batch.entries:
            which = entry.WhichOneof("proof")
            if which == "exist":
                views.append(_exist_view(entry.exist))
            elif which == "nonexist":
                views.append(_nonexist_view(entry.nonexist))
        return views
    if kind == "compressed":
        lookup = list(proof.compressed.lookup_inners)
        for n, centry in enumerate(proof.compressed.entries):
            which = centry.WhichOneof("proof")
            if which == "exist":
                views.append(_compressed_exist_view(centry.exist, lookup))
            elif which == "nonexist":
                cn = centry.nonexist
                left = _compressed_exist_view(cn.left, lookup) if cn.HasField("left") else None
                right = _compressed_exist_view(cn.right, lookup) if cn.HasField("right") else None
                views.append(_NonExist(cn.key, left, right))
            elif which == "exclusion":
                _resolve_path(centry.exclusion.path, lookup)  # still must be well-formed
            else:
                raise ProofError(f"compressed batch entry {n} holds no proof")
        return views
    return views


# --- existence proofs -------------------------------------------------------------


def _calculate(e: _Exist, rules: SpecRules | None) -> bytes:
    """Root hash an existence proof leads to (ops applied, not spec-checked).

    With ``rules``, also rejects an intermediate hash longer than child_size
    (when child_size >= 32), as the reference does.
    """
    if e.leaf is None:
        raise ProofError("existence Proof needs defined LeafOp")
    try:
        res = apply_leaf(e.leaf, e.key, e.value)
    except ProofError as err:
        raise ProofError(f"leaf, {err}") from err
    n = len(e.path)
    for step, op in enumerate(e.path, 1):
        try:
            res = apply_inner(op, res)
        except ProofError as err:
            raise ProofError(f"inner, {err} [path step {step}/{n}]") from err
        if rules is not None and len(res) > rules.child_size >= 32:
            raise ProofError(
                f"inner, hash of {len(res)} bytes exceeds child_size {rules.child_size} "
                f"[path step {step}/{n}]"
            )
    return res


def _check_against_spec(e: _Exist, rules: SpecRules) -> None:
    """The leaf and every path step have the shape the spec prescribes."""
    if e.leaf is None:
        raise ProofError("existence Proof needs defined LeafOp")
    try:
        check_leaf_op(e.leaf, rules)
    except ProofError as err:
        raise ProofError(f"leaf, {err}") from err
    n = len(e.path)
    if rules.min_depth > 0 and n < rules.min_depth:
        raise ProofError(f"innerOps depth too short: {n} (spec min_depth {rules.min_depth})")
    if n > rules.max_depth:
        raise ProofError(f"innerOps depth too long: {n} (max_depth {rules.max_depth})")
    for layer, op in enumerate(e.path, 1):
        try:
            check_inner_op(op, rules, layer)
        except ProofError as err:
            raise ProofError(f"inner, {err} [path step {layer}/{n}]") from err


def _verify_existence(e: _Exist, rules: SpecRules, root: bytes, key: bytes, value: bytes) -> None:
    _check_against_spec(e, rules)
    if key != e.key:
        raise ProofError(
            f"provided key doesn't match proof: {short_hex(key)} != {short_hex(e.key)}"
        )
    if value != e.value:
        raise ProofError(
            f"provided value doesn't match proof: {short_hex(value)} != {short_hex(e.value)}"
        )
    try:
        calc = _calculate(e, rules)
    except ProofError as err:
        raise ProofError(f"error calculating root, {err}") from err
    if calc != root:
        raise ProofError(
            f"calculated root doesn't match provided root: {calc.hex()} != {short_hex(root)}"
        )


def calculate_root(proof: pb.ExistenceProof) -> bytes:
    """Root hash that an existence proof leads to, without any spec check.

    Only useful to learn which root a proof claims; it proves nothing until
    the proof is verified against a spec and a trusted root.

    Raises:
        ProofError: no leaf op, empty key or value, or an unsupported op.
    """
    return _calculate(_exist_view(proof), None)


def check_existence_against_spec(spec: pb.ProofSpec, proof: pb.ExistenceProof) -> None:
    """Check the shape of an existence proof against ``spec`` (no hashing).

    Raises:
        ProofError: the first rule the proof breaks.
    """
    _check_against_spec(_exist_view(proof), SpecRules.of(spec))


def verify_existence(
    spec: pb.ProofSpec, root: bytes, proof: pb.ExistenceProof, key: bytes, value: bytes
) -> None:
    """Verify that ``proof`` proves ``key`` = ``value`` under ``root``.

    Raises:
        ProofError: the proof breaks the spec, is for another key or value,
            or leads to another root.
    """
    _verify_existence(_exist_view(proof), SpecRules.of(spec), root, key, value)


# --- neighbour checks ---------------------------------------------------------------
# How a non-existence proof shows its two neighbours are adjacent. A step's
# position among its siblings is read from its padding: a child at position
# i of n has i siblings' worth of bytes in its prefix and n-1-i in its suffix.


def _position(rules: SpecRules, branch: int) -> int:
    """Index of ``branch`` in child_order (where that child sits)."""
    if not 0 <= branch < len(rules.child_order):
        raise ProofError(
            f"invalid branch: {branch} (child_order has {len(rules.child_order)} entries)"
        )
    try:
        return rules.child_order.index(branch)
    except ValueError:
        raise ProofError(
            f"branch {branch} not found in child_order {list(rules.child_order)}"
        ) from None


def _padding(rules: SpecRules, branch: int) -> tuple[int, int, int]:
    """(min prefix, max prefix, suffix) lengths of a step on ``branch``."""
    idx = _position(rules, branch)
    prefix = idx * rules.child_size
    suffix = (len(rules.child_order) - 1 - idx) * rules.child_size
    return prefix + rules.min_prefix_length, prefix + rules.max_prefix_length, suffix


def _has_padding(op: pb.InnerOp, pad: tuple[int, int, int]) -> bool:
    min_prefix, max_prefix, suffix = pad
    return min_prefix <= len(op.prefix) <= max_prefix and len(op.suffix) == suffix


def order_from_padding(rules: SpecRules, op: pb.InnerOp) -> int | None:
    """Which branch ``op`` is on, judged by its padding; None if none fits."""
    for branch in range(len(rules.child_order)):
        if _has_padding(op, _padding(rules, branch)):
            return branch
    return None


def _is_empty_child(rules: SpecRules, data: bytes, start: int) -> bool:
    """Whether ``data[start:start+child_size]`` exists and equals empty_child."""
    end = start + rules.child_size
    if start < 0 or rules.child_size < 0 or end > len(data):
        # The reference would slice out of range here (a panic): reject.
        raise ProofError(f"child slot [{start}:{end}] lies outside {len(data)} bytes of padding")
    return data[start:end] == rules.empty_child


def left_branches_are_empty(rules: SpecRules, op: pb.InnerOp) -> bool:
    """Whether every sibling left of ``op``'s branch is the empty child.

    Such a step is a placeholder on a left-most path: in a sparse tree, the
    left-most leaf can sit under nodes whose left children are empty.
    """
    branch = order_from_padding(rules, op)
    if branch is None or branch == 0:
        return False
    left_branches = branch
    actual_prefix = len(op.prefix) - left_branches * rules.child_size
    if actual_prefix < 0:
        return False
    for i in range(left_branches):
        start = actual_prefix + _position(rules, i) * rules.child_size
        if not _is_empty_child(rules, op.prefix, start):
            return False
    return True


def right_branches_are_empty(rules: SpecRules, op: pb.InnerOp) -> bool:
    """Whether every sibling right of ``op``'s branch is the empty child."""
    branch = order_from_padding(rules, op)
    if branch is None:
        return False
    right_branches = len(rules.child_order) - 1 - branch
    if right_branches == 0:
        return False
    if len(op.suffix) != right_branches * rules.child_size:
        return False
    for i in range(right_branches):
        start = _position(rules, i) * rules.child_size
        if not _is_empty_child(rules, op.suffix, start):
            return False
    return True


def is_left_most(rules: SpecRules, path: Sequence[pb.InnerOp]) -> bool:
    """Whether ``path`` leads to the left-most leaf (empty branches ignored)."""
    pad = _padding(rules, 0)
    return all(_has_padding(s, pad) or left_branches_are_empty(rules, s) for s in path)


def is_right_most(rules: SpecRules, path: Sequence[pb.InnerOp]) -> bool:
    """Whether ``path`` leads to the right-most leaf (empty branches ignored)."""
    pad = _padding(rules, len(rules.child_order) - 1)
    return all(_has_padding(s, pad) or right_branches_are_empty(rules, s) for s in path)


def _is_left_step(rules: SpecRules, left: pb.InnerOp, right: pb.InnerOp) -> bool:
    """Whether two steps under one parent are on adjacent branches, left first."""
    left_idx = order_from_padding(rules, left)
    right_idx = order_from_padding(rules, right)
    if left_idx is None or right_idx is None:
        raise ProofError("cannot find any valid spacing for this node")
    return right_idx == left_idx + 1


def is_left_neighbor(
    rules: SpecRules, left: Sequence[pb.InnerOp], right: Sequence[pb.InnerOp]
) -> bool:
    """Whether the leaf of path ``right`` is the next one after that of ``left``.

    Strip the common top of both paths; the first steps that differ must be
    adjacent children of one node; below them the left path must be
    right-most and the right path left-most.
    """
    li, ri = len(left) - 1, len(right) - 1
    if li < 0 or ri < 0:
        raise ProofError("neighbour proofs need non-empty paths")
    while left[li].prefix == right[ri].prefix and left[li].suffix == right[ri].suffix:
        li -= 1
        ri -= 1
        if li < 0 or ri < 0:
            raise ProofError("neighbour paths have no divergent step")
    if not _is_left_step(rules, left[li], right[ri]):
        return False
    return is_right_most(rules, left[:li]) and is_left_most(rules, right[:ri])


# --- non-existence proofs -------------------------------------------------------------


def key_for_comparison(rules: SpecRules, key: bytes) -> bytes:
    """The key as ordered in the tree: prehashed if the spec says so.

    A sparse Merkle tree places keys by their hash, so neighbours are
    neighbours in hash order, not in raw key order.
    """
    if not rules.prehash_key_before_comparison:
        return key
    try:
        return do_hash_or_noop(rules.leaf_prehash_key, key)
    except ProofError as err:
        raise ProofError(
            f"cannot prehash key for comparison with {hash_op_name(rules.leaf_prehash_key)}"
        ) from err


def _verify_non_existence(n: _NonExist, rules: SpecRules, root: bytes, key: bytes) -> None:
    if n.left is not None:
        try:
            _verify_existence(n.left, rules, root, n.left.key, n.left.value)
        except ProofError as err:
            raise ProofError(f"left proof, {err}") from err
    if n.right is not None:
        try:
            _verify_existence(n.right, rules, root, n.right.key, n.right.value)
        except ProofError as err:
            raise ProofError(f"right proof, {err}") from err
    if n.left is None and n.right is None:
        raise ProofError("both left and right proofs missing")

    ckey = key_for_comparison(rules, key)
    if n.right is not None:
        cright = key_for_comparison(rules, n.right.key)
        if ckey >= cright:
            raise ProofError(
                f"key is not left of right proof: {short_hex(ckey)} >= {short_hex(cright)}"
            )
    if n.left is not None:
        cleft = key_for_comparison(rules, n.left.key)
        if ckey <= cleft:
            raise ProofError(
                f"key is not right of left proof: {short_hex(ckey)} <= {short_hex(cleft)}"
            )

    if n.left is None:
        assert n.right is not None  # for mypy; both-None was rejected above
        if not is_left_most(rules, n.right.path):
            raise ProofError("left proof missing, right proof must be left-most")
    elif n.right is None:
        if not is_right_most(rules, n.left.path):
            raise ProofError("right proof missing, left proof must be right-most")
    elif not is_left_neighbor(rules, n.left.path, n.right.path):
        raise ProofError("left and right proofs are not neighbours in the tree")


def verify_non_existence(
    spec: pb.ProofSpec, root: bytes, proof: pb.NonExistenceProof, key: bytes
) -> None:
    """Verify that ``proof`` proves ``key`` absent from the tree under ``root``.

    Raises:
        ProofError: a neighbour proof is invalid, the key is not strictly
            between the neighbours, or they are not adjacent.
    """
    _verify_non_existence(_nonexist_view(proof), SpecRules.of(spec), root, key)


# --- commitment proofs ---------------------------------------------------------------


def _is_left(rules: SpecRules, left: _Exist | None, key: bytes) -> bool:
    return left is None or key_for_comparison(rules, left.key) < key_for_comparison(rules, key)


def _is_right(rules: SpecRules, right: _Exist | None, key: bytes) -> bool:
    return right is None or key_for_comparison(rules, right.key) > key_for_comparison(rules, key)


def verify_membership(
    spec: pb.ProofSpec, root: bytes, proof: pb.CommitmentProof, key: bytes, value: bytes
) -> bool:
    """Whether ``proof`` proves ``key`` = ``value`` under ``root``.

    ``proof`` may be an existence proof, or a batch / compressed batch that
    contains one for ``key`` (the first such entry is the one verified).
    Never raises on a bad proof: returns False.
    """
    try:
        rules = SpecRules.of(spec)
        for view in _batch_views(proof):
            if isinstance(view, _Exist) and view.key == key:
                _verify_existence(view, rules, root, key, value)
                return True
        return False
    except ProofError:
        return False


def verify_non_membership(
    spec: pb.ProofSpec, root: bytes, proof: pb.CommitmentProof, key: bytes
) -> bool:
    """Whether ``proof`` proves ``key`` absent under ``root``.

    ``proof`` may be a non-existence proof, or a batch / compressed batch
    containing one whose neighbours bracket ``key`` (the first such entry is
    the one verified). Never raises on a bad proof: returns False.
    """
    try:
        rules = SpecRules.of(spec)
        for view in _batch_views(proof):
            if (
                isinstance(view, _NonExist)
                and _is_left(rules, view.left, key)
                and _is_right(rules, view.right, key)
            ):
                _verify_non_existence(view, rules, root, key)
                return True
        return False
    except ProofError:
        return False


# --- compression ---------------------------------------------------------------------


def _decompress_exist(
    c: pb.CompressedExistenceProof, lookup: Sequence[pb.InnerOp]
) -> pb.ExistenceProof:
    out = pb.ExistenceProof(key=c.key, value=c.value)
    if c.HasField("leaf"):
        out.leaf.CopyFrom(c.leaf)
    out.path.extend(_resolve_path(c.path, lookup))
    return out


def decompress(proof: pb.CommitmentProof) -> pb.CommitmentProof:
    """Expand a compressed batch into a plain batch; other proofs unchanged.

    The result copies each shared inner op into every path that uses it, so
    it can be much larger than its input: verification does not need it
    (``verify_*`` read compressed proofs in place).

    Raises:
        ProofError: a path index outside lookup_inners, or an empty entry.
    """
    if proof.WhichOneof("proof") != "compressed":
        return proof
    comp = proof.compressed
    lookup = list(comp.lookup_inners)
    out = pb.CommitmentProof()
    out.batch.SetInParent()
    for n, centry in enumerate(comp.entries):
        entry = out.batch.entries.add()
        which = centry.WhichOneof("proof")
        if which == "exist":
            entry.exist.CopyFrom(_decompress_exist(centry.exist, lookup))
        elif which == "nonexist":
            cn = centry.nonexist
            entry.nonexist.key = cn.key
            if cn.HasField("left"):
                entry.nonexist.left.CopyFrom(_decompress_exist(cn.left, lookup))
            if cn.HasField("right"):
                entry.nonexist.right.CopyFrom(_decompress_exist(cn.right, lookup))
            entry.nonexist.SetInParent()
        elif which == "exclusion":
            ce = centry.exclusion
            ex = entry.exclusion
            ex.key = ce.key
            ex.actual_path = ce.actual_path
            ex.actual_value_hash = ce.actual_value_hash
            if ce.HasField("leaf"):
                ex.leaf.CopyFrom(ce.leaf)
            ex.path.extend(_resolve_path(ce.path, lookup))
            ex.SetInParent()
        else:
            raise ProofError(f"compressed batch entry {n} holds no proof")
    return out


class _Compressor:
    """Builds a lookup table of distinct inner ops while compressing paths."""

    def __init__(self) -> None:
        self.lookup: list[pb.InnerOp] = []
        self._index: dict[bytes, int] = {}

    def path(self, ops: Sequence[pb.InnerOp]) -> list[int]:
        out = []
        for op in ops:
            wire = op.SerializeToString(deterministic=True)
            idx = self._index.get(wire)
            if idx is None:
                idx = self._index[wire] = len(self.lookup)
                self.lookup.append(op)
            out.append(idx)
        return out

    def exist(self, p: pb.ExistenceProof) -> pb.CompressedExistenceProof:
        out = pb.CompressedExistenceProof(key=p.key, value=p.value, path=self.path(p.path))
        if p.HasField("leaf"):
            out.leaf.CopyFrom(p.leaf)
        return out


def compress(proof: pb.CommitmentProof) -> pb.CommitmentProof:
    """Compress a batch proof (inner ops deduplicated); other proofs unchanged.

    For proof producers: a batch of proofs from one tree shares its upper
    inner ops, which compression stores once.
    """
    if proof.WhichOneof("proof") != "batch":
        return proof
    c = _Compressor()
    out = pb.CommitmentProof()
    comp = out.compressed
    comp.SetInParent()
    for entry in proof.batch.entries:
        centry = comp.entries.add()
        which = entry.WhichOneof("proof")
        if which == "exist":
            centry.exist.CopyFrom(c.exist(entry.exist))
        elif which == "nonexist":
            n = entry.nonexist
            centry.nonexist.key = n.key
            if n.HasField("left"):
                centry.nonexist.left.CopyFrom(c.exist(n.left))
            if n.HasField("right"):
                centry.nonexist.right.CopyFrom(c.exist(n.right))
            centry.nonexist.SetInParent()
        elif which == "exclusion":
            e = entry.exclusion
            ce = centry.exclusion
            ce.key = e.key
            ce.actual_path = e.actual_path
            ce.actual_value_hash = e.actual_value_hash
            if e.HasField("leaf"):
                ce.leaf.CopyFrom(e.leaf)
            ce.path.extend(c.path(e.path))
            ce.SetInParent()
        # an empty entry stays empty (decompress will then reject it, as the
        # reference does)
    comp.lookup_inners.extend(c.lookup)
    return out
