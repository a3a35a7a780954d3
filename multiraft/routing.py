"""What a client knows of the cluster: node ids' addresses and which node leads which range
(CockroachDB's range cache, in miniature). Learned from STATUS answers (a node's ranges, and its
node directory: every node's client address), leader hints and the descriptors a
RANGE_KEY_MISMATCH answer carries."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from multiraft.transport.client_protocol import WireDescriptor

__all__ = ["RangeCache", "CachedRange"]


@dataclass(slots=True)
class CachedRange:
    range_id: int
    start: bytes
    end: bytes | None
    leader: int  # node id, 0 if unknown
    generation: int = 0

    def overlaps(self, start: bytes, end: bytes | None) -> bool:
        return (end is None or self.start < end) and (self.end is None or start < self.end)


class RangeCache:
    """Invariant: ``_starts[i]`` is ``_ranges[i].start``, both sorted by start key, and no two
    cached ranges overlap. Guarded by ``_lock`` (a client is shared by threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: list[bytes] = []
        self._ranges: list[CachedRange] = []
        self.node_addrs: dict[int, str] = {}

    def learn_node(self, node_id: int, addr: str) -> None:
        with self._lock:
            self.node_addrs[node_id] = addr

    def learn_node_if_unknown(self, node_id: int, addr: str) -> bool:
        """Take ``addr`` for ``node_id`` unless the client already knows an address for it (one
        it was given, or its own STATUS answer's, is better than another node's word); whether
        the node's address is ``addr`` now."""
        with self._lock:
            return self.node_addrs.setdefault(node_id, addr) == addr

    def learn_ranges(self, ranges: Iterable[Mapping[str, Any]]) -> None:
        """Merge the ``ranges`` of a node's STATUS answer (a leader's word on who leads wins)."""
        with self._lock:
            by_id = {x.range_id: x for x in self._ranges}
            new = []
            for r in ranges:
                if r.get("start_key") is None:  # an uninitialized replica: no span yet
                    continue
                cur = by_id.get(r["range_id"])
                lead = r["leader"] if r["state"] == "leader" or cur is None else cur.leader
                new.append(CachedRange(r["range_id"], r["start_key"], r["end_key"] or None,
                                       lead or (cur.leader if cur else 0),
                                       r.get("generation") or 0))
            self._merge(new)

    def learn_descriptors(self, descriptors: Iterable[WireDescriptor]) -> None:
        """Take the spans a RANGE_KEY_MISMATCH answer carries (a lagging replica's older
        generation never replaces a newer one: see ``_merge``)."""
        with self._lock:
            by_id = {x.range_id: x for x in self._ranges}
            new = []
            for range_id, start, end, generation in descriptors:
                cur = by_id.get(range_id)
                same_span = cur is not None and (cur.start, cur.end) == (start, end or None)
                new.append(CachedRange(range_id, start, end or None,
                                       cur.leader if cur is not None and same_span else 0,
                                       generation))
            self._merge(new)

    def lookup(self, key: bytes) -> CachedRange | None:
        with self._lock:
            i = bisect.bisect_right(self._starts, key) - 1
            if i < 0:
                return None
            r = self._ranges[i]
            return r if r.end is None or key < r.end else None

    def set_leader(self, key: bytes, node_id: int) -> None:
        r = self.lookup(key)
        if r is not None:
            r.leader = node_id

    def leader_addr(self, key: bytes) -> str | None:
        r = self.lookup(key)
        if r is None or not r.leader:
            return None
        return self.node_addrs.get(r.leader)

    def node_of(self, addr: str) -> int:
        """The node id serving at ``addr`` (0 if unknown)."""
        for node, a in self.node_addrs.items():
            if a == addr:
                return node
        return 0

    # -- under _lock --

    def _merge(self, new: list[CachedRange]) -> None:
        """Cache ``new``, each replacing its range's entry and the ranges it overlaps (their
        spans are out of date), unless one of those is of a newer generation: then the new
        one is stale and dropped (a split raises the generation of both halves, so of two
        overlapping descriptors the higher generation is the newer). Ties go to ``new``.
        O(n log n): one sort, one sweep."""
        fresh = {r.range_id: r for r in new}
        old = [x for x in self._ranges
               if x.range_id not in fresh or x.generation > fresh[x.range_id].generation]
        # (start, precedence) order: a candidate meets the kept ranges it overlaps as a suffix
        # of ``kept`` (kept ranges are disjoint and sorted, so their ends are sorted too).
        candidates = [(x, (x.generation, 0)) for x in old]
        old_ids = {x.range_id for x in old}
        candidates += [(r, (r.generation, 1)) for r in fresh.values() if r.range_id not in old_ids]
        candidates.sort(key=lambda c: c[0].start)
        kept: list[tuple[CachedRange, tuple[int, int]]] = []
        for c, rank in candidates:
            j = len(kept)
            while j > 0 and kept[j - 1][0].overlaps(c.start, c.end):
                j -= 1
            if any(k_rank > rank for _, k_rank in kept[j:]):
                continue  # c is stale
            del kept[j:]
            kept.append((c, rank))
        self._ranges = [x for x, _ in kept]
        self._starts = [x.start for x in self._ranges]
