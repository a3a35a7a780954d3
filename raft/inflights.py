"""The window of MsgApps a leader has sent to one follower and not yet had acknowledged."""

from __future__ import annotations

from collections import deque

__all__ = ["Inflights"]


class Inflights:
    """Flow control by count and bytes.

    Invariant: ``_indexes`` is strictly increasing (the last index of each MsgApp in flight),
    ``_sizes[i]`` is the payload of the message ending at ``_indexes[i]`` and ``_bytes`` is their sum.
    """

    __slots__ = ("size", "max_bytes", "_indexes", "_sizes", "_bytes")

    def __init__(self, size: int, max_bytes: int = 0) -> None:
        self.size = size
        self.max_bytes = max_bytes  # 0: no byte limit
        self._indexes: deque[int] = deque()
        self._sizes: deque[int] = deque()
        self._bytes = 0

    def add(self, index: int, nbytes: int) -> None:
        """Record a MsgApp whose last entry is ``index``; the caller checked ``full()`` first."""
        if self.full():
            raise RuntimeError("cannot add into a full inflights window")
        self._indexes.append(index)
        self._sizes.append(nbytes)
        self._bytes += nbytes

    def free_le(self, to: int) -> None:
        """Free every message whose last index is ``<= to`` (they were acknowledged)."""
        idx, sizes = self._indexes, self._sizes
        while idx and idx[0] <= to:
            idx.popleft()
            self._bytes -= sizes.popleft()

    def full(self) -> bool:
        return len(self._indexes) >= self.size or (0 < self.max_bytes <= self._bytes)

    def count(self) -> int:
        return len(self._indexes)

    def reset(self) -> None:
        self._indexes.clear()
        self._sizes.clear()
        self._bytes = 0
