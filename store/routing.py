"""``RangeRouter``: which local range holds a key, from the range descriptors a store knows."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TypeVar

from multiraft.storage.range_descriptor import RangeDescriptor

__all__ = ["RangeRouter", "group_pairs"]

K = TypeVar("K")
V = TypeVar("V")


def group_pairs(pairs: Iterable[tuple[K, V]]) -> dict[K, list[V]]:
    """(key, value) pairs grouped by key, values in their order: a frame's messages by range,
    posted heartbeats by destination node."""
    out: dict[K, list[V]] = {}
    for k, v in pairs:
        lst = out.get(k)
        if lst is None:
            out[k] = [v]
        else:
            lst.append(v)
    return out


class RangeRouter:
    """Invariant: ``_starts``/``_ranges`` list the descriptors' start keys and range ids sorted by
    start key; ``descriptors`` holds the newest descriptor (by generation) per range."""

    __slots__ = ("descriptors", "_starts", "_ranges")

    def __init__(self) -> None:
        self.descriptors: dict[int, RangeDescriptor] = {}
        self._starts: list[bytes] = []
        self._ranges: list[int] = []

    def update(self, d: RangeDescriptor) -> None:
        old = self.descriptors.get(d.range_id)
        if old is not None and (old.generation, old.conf_ver) > (d.generation, d.conf_ver):
            return
        self.descriptors[d.range_id] = d
        self._sort()

    def remove(self, range_id: int) -> None:
        """Stop routing ``range_id`` (its replica here was destroyed)."""
        if self.descriptors.pop(range_id, None) is not None:
            self._sort()

    def _sort(self) -> None:
        order = sorted(self.descriptors.values(), key=lambda x: x.start_key)
        self._starts = [x.start_key for x in order]
        self._ranges = [x.range_id for x in order]

    def split(self, left: RangeDescriptor, right: RangeDescriptor) -> None:
        """Route a split's two halves: ``left`` narrowed and ``right`` new, in one step (the
        two tile exactly the span ``left`` had: no gap, no overlap)."""
        self.update(right)
        self.update(left)

    def overlapping(self, start: bytes, end: bytes | None, exclude: int) -> int | None:
        """A range other than ``exclude`` whose span overlaps ``[start, end)``, or None."""
        for rid, d in self.descriptors.items():
            if rid != exclude and (end is None or d.start_key < end) \
                    and (d.end_key is None or start < d.end_key):
                return rid
        return None

    def copy(self) -> RangeRouter:
        """An independent copy (descriptors are immutable, so they are shared)."""
        c = RangeRouter()
        c.descriptors = dict(self.descriptors)
        c._starts = list(self._starts)
        c._ranges = list(self._ranges)
        return c

    def range_of(self, key: bytes) -> int | None:
        i = bisect.bisect_right(self._starts, key) - 1
        if i < 0:
            return None
        rid = self._ranges[i]
        return rid if self.descriptors[rid].contains(key) else None

    def ranges_on(self, node_id: int) -> list[int]:
        """The ranges that have a replica on node ``node_id``."""
        return [rid for rid, d in self.descriptors.items()
                if any(node == node_id for node, _ in d.replicas)]
