"""The cyber layer's network model: a radial distribution network (DESIGN.md section 1).

The microgrid is a tree of buses. Every bus except the root has one line to
its parent, with a capacity in Wh per delivery interval that holds in both
directions. The root is the point of common coupling (PCC) with the main
grid; its ``capacity_wh`` is the capacity of that coupling. Trades inside the
microgrid inject as much as they withdraw, so the PCC carries no flow from
local clearing (it limits main-grid fill, which is the keeper's business).

The flow on the line above bus v is the net injection (energy sold minus
energy bought) of the subtree rooted at v: positive means the subtree
exports through the line, negative means it imports.

Everything here is pure and deterministic: buses are kept in the order they
were given, and every loop runs over lists in a fixed order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


class InvalidNetworkError(ValueError):
    """The network description is malformed; the message names the bus and field."""


@dataclass(frozen=True, slots=True)
class Bus:
    """One bus of the radial network.

    Parameters
    ----------
    id:
        Bus identifier, unique within the network.
    parent:
        The parent bus id, or None for the root (the point of common coupling).
    capacity_wh:
        Capacity in Wh per interval of the line from this bus to its parent
        (for the root: of the coupling with the main grid). None = unlimited.
    """

    id: str
    parent: str | None = None
    capacity_wh: int | None = None


@dataclass(frozen=True)
class Network:
    """A validated radial network with its precomputed topology.

    Raises
    ------
    InvalidNetworkError
        Duplicate ids, unknown parents, no root or several roots, a cycle,
        or a capacity that is not a non-negative integer.
    """

    buses: tuple[Bus, ...]
    # Derived topology, filled in __post_init__ (index order = ``buses`` order).
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _parent: list[int] = field(init=False, repr=False, compare=False)
    _depth: list[int] = field(init=False, repr=False, compare=False)
    _tin: list[int] = field(init=False, repr=False, compare=False)
    _tout: list[int] = field(init=False, repr=False, compare=False)
    _bottom_up: list[int] = field(init=False, repr=False, compare=False)
    _check_order: list[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        buses = tuple(self.buses)
        object.__setattr__(self, "buses", buses)
        if not buses:
            raise InvalidNetworkError("network: no buses")
        index: dict[str, int] = {}
        for i, bus in enumerate(buses):
            if not isinstance(bus, Bus):
                raise InvalidNetworkError(f"buses[{i}]: expected a Bus, got {type(bus).__name__}")
            if not isinstance(bus.id, str) or not bus.id:
                raise InvalidNetworkError(f"buses[{i}].id: expected a non-empty string")
            if bus.id in index:
                raise InvalidNetworkError(
                    f"buses[{i}].id: bus {bus.id!r} already listed at buses[{index[bus.id]}]"
                )
            cap = bus.capacity_wh
            if cap is not None and (type(cap) is not int or cap < 0):
                raise InvalidNetworkError(
                    f"buses[{i}].capacity_wh: expected a non-negative integer or null, got {cap!r}"
                )
            index[bus.id] = i
        parent = [-1] * len(buses)
        roots: list[int] = []
        for i, bus in enumerate(buses):
            if bus.parent is None:
                roots.append(i)
                continue
            if bus.parent not in index:
                raise InvalidNetworkError(f"buses[{i}].parent: unknown bus {bus.parent!r}")
            if bus.parent == bus.id:
                raise InvalidNetworkError(f"buses[{i}].parent: bus {bus.id!r} is its own parent")
            parent[i] = index[bus.parent]
        if len(roots) != 1:
            names = [buses[i].id for i in roots]
            raise InvalidNetworkError(
                f"network: expected exactly one root bus (parent null), got {len(roots)}: {names}"
            )
        children: list[list[int]] = [[] for _ in buses]
        for i, p in enumerate(parent):
            if p >= 0:
                children[p].append(i)
        # Iterative DFS from the root: Euler-tour times for O(1) subtree tests.
        depth = [0] * len(buses)
        tin = [-1] * len(buses)
        tout = [0] * len(buses)
        order: list[int] = []
        clock = 0
        stack: list[tuple[int, int]] = [(roots[0], 0)]
        while stack:
            node, child_pos = stack.pop()
            if child_pos == 0:
                tin[node] = clock
                clock += 1
                order.append(node)
            if child_pos < len(children[node]):
                stack.append((node, child_pos + 1))
                child = children[node][child_pos]
                depth[child] = depth[node] + 1
                stack.append((child, 0))
            else:
                tout[node] = clock
        if len(order) != len(buses):
            stuck = [buses[i].id for i in range(len(buses)) if tin[i] < 0]
            raise InvalidNetworkError(f"network: buses not connected to the root (cycle): {stuck}")
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_parent", parent)
        object.__setattr__(self, "_depth", depth)
        object.__setattr__(self, "_tin", tin)
        object.__setattr__(self, "_tout", tout)
        # Reverse DFS pre-order visits every child before its parent.
        object.__setattr__(self, "_bottom_up", order[::-1])
        # Lines are checked deepest first, ties in listing order.
        lines = [i for i in range(len(buses)) if parent[i] >= 0]
        lines.sort(key=lambda i: (-depth[i], i))
        object.__setattr__(self, "_check_order", lines)

    @property
    def root(self) -> str:
        """The id of the root bus (the point of common coupling)."""
        return self.buses[self._bottom_up[-1]].id

    def index_of(self, bus_id: str) -> int | None:
        """Position of ``bus_id`` in ``buses``, or None if unknown."""
        return self._index.get(bus_id)

    @property
    def root_index(self) -> int:
        return self._bottom_up[-1]

    def contains(self, line: int, bus: int) -> bool:
        """Whether ``bus`` lies in the subtree below the line of bus ``line``."""
        return self._tin[line] <= self._tin[bus] < self._tout[line]

    def subtree_spans(self) -> tuple[list[int], list[int]]:
        """(first, end) per bus: bus b lies below the line of bus v iff first[v] <= first[b] < end[v].

        The Euler-tour times behind ``contains``, for callers that test many buses at once.
        """
        return list(self._tin), list(self._tout)

    def line_flows(self, injection: Sequence[int]) -> list[int]:
        """Flow on each bus's line to its parent, given net injection per bus (Wh).

        Positive = export from the subtree. The root's entry is the total net
        injection (what the point of common coupling would carry).
        """
        flow = list(injection)
        parent = self._parent
        for node in self._bottom_up:
            p = parent[node]
            if p >= 0:
                flow[p] += flow[node]
        return flow

    @property
    def lines_deepest_first(self) -> list[int]:
        """Bus indices of all lines (every bus but the root), deepest first, ties in order."""
        return self._check_order

    def add_to_path(self, flow: list[int], bus: int, delta: int) -> None:
        """Add ``delta`` to the flow of every line from ``bus`` up to the root."""
        parent = self._parent
        while bus >= 0:
            flow[bus] += delta
            bus = parent[bus]

    def first_violation(self, flow: Sequence[int]) -> int | None:
        """The overloaded line to fix first: deepest, ties in listing order.

        Returns the bus index of the line, or None if every line is within
        its capacity. The PCC is not checked (local trades balance there).
        """
        buses = self.buses
        for i in self._check_order:
            cap = buses[i].capacity_wh
            if cap is not None and abs(flow[i]) > cap:
                return i
        return None
