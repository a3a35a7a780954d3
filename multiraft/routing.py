"""What a client knows of the cluster: node ids' addresses and which node leads which range
(CockroachDB's range cache, in miniature). Learned from STATUS answers and leader hints."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass

__all__ = ["RangeCache", "CachedRange"]


@dataclass(slots=True)
class CachedRange:
    range_id: int
    start: bytes
    end: bytes | None
    leader: int  # node id, 0 if unknown


class RangeCache:
    """Invariant: ``_starts[i]`` is ``_ranges[i].start`` and both are sorted by start key.
    Guarded by ``_lock`` (a client is shared by threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: list[bytes] = []
        self._ranges: list[CachedRange] = []
        self.node_addrs: dict[int, str] = {}

    def learn_node(self, node_id: int, addr: str) -> None:
        with self._lock:
            self.node_addrs[node_id] = addr

    def learn_ranges(self, ranges: list[dict]) -> None:
        """Merge the ``ranges`` of a node's STATUS answer (a leader's word wins)."""
        with self._lock:
            by_id = {r.range_id: r for r in self._ranges}
            for r in ranges:
                if r.get("start_key") is None:
                    continue
                cur = by_id.get(r["range_id"])
                lead = r["leader"] if r["state"] == "leader" or cur is None else cur.leader
                by_id[r["range_id"]] = CachedRange(r["range_id"], r["start_key"], r["end_key"] or None,
                                                   lead or (cur.leader if cur else 0))
            self._ranges = sorted(by_id.values(), key=lambda x: x.start)
            self._starts = [x.start for x in self._ranges]

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
