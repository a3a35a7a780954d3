"""``MemoryEngine``: the engine interface over a dict and a sorted key list, for tests and the
simulator. Not durable: ``sync`` is accepted and ignored."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence

from .engine import WriteBatch
from .write_batch import DELETE, PUT, Op, RecordedBatch, take_ops

__all__ = ["MemoryEngine"]


class _SortedMap:
    """The reads shared by the engine and its snapshots.

    Invariant: ``_keys`` is the sorted list of the keys of ``_data``.
    """

    __slots__ = ("_data", "_keys")

    def __init__(self, data: dict[bytes, bytes], keys: list[bytes]) -> None:
        self._data = data
        self._keys = keys

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        get = self._data.get
        return [get(k) for k in keys]

    def scan(self, start: bytes, end: bytes, limit: int | None = None,
             reverse: bool = False) -> list[tuple[bytes, bytes]]:
        lo, hi = bisect_left(self._keys, start), bisect_left(self._keys, end)
        if limit is not None:
            if reverse:
                lo = max(lo, hi - limit)
            else:
                hi = min(hi, lo + limit)
        picked = self._keys[lo:hi]
        if reverse:
            picked.reverse()
        data = self._data
        return [(k, data[k]) for k in picked]


class MemorySnapshot(_SortedMap):
    """A frozen copy of the engine's state (O(n) to take; fine for tests)."""

    __slots__ = ()

    def close(self) -> None:
        self._data, self._keys = {}, []


class MemoryEngine(_SortedMap):
    __slots__ = ("_closed",)

    def __init__(self) -> None:
        super().__init__({}, [])
        self._closed = False

    def batch(self) -> RecordedBatch:
        return RecordedBatch()

    def write(self, batch: WriteBatch, sync: bool = False) -> None:
        self.write_many((batch,), sync)

    def write_many(self, batches: Sequence[WriteBatch], sync: bool = False) -> None:
        if self._closed:
            raise RuntimeError("engine is closed")
        self.apply_written(take_ops(batches))

    def apply_written(self, batches_ops: Sequence[Sequence[Op]]) -> None:
        """Apply the operations of written batches (``take_ops``), in order."""
        data, keys = self._data, self._keys
        for ops in batches_ops:
            for kind, a, b in ops:
                if kind == PUT:
                    if a not in data:
                        insort(keys, a)
                    data[a] = b
                elif kind == DELETE:
                    if data.pop(a, None) is not None:
                        del keys[bisect_left(keys, a)]
                else:
                    lo, hi = bisect_left(keys, a), bisect_left(keys, b)
                    for k in keys[lo:hi]:
                        del data[k]
                    del keys[lo:hi]

    def snapshot(self) -> MemorySnapshot:
        return MemorySnapshot(dict(self._data), list(self._keys))

    def copy_into(self, other: MemoryEngine) -> None:
        """Make ``other`` hold exactly this engine's state (a simulated disk's restart)."""
        other._data, other._keys = dict(self._data), list(self._keys)

    def close(self) -> None:
        self._closed = True
