"""Backpressure: what bounds the client work a replica takes on.

``ProposalQuota`` is one range's byte budget for commands its leader proposed and has not yet
applied (CockroachDB's proposal quota pool). A write that does not fit is answered BUSY at once,
never proposed, and the client backs off (``multiraft.attempts``), so a burst cannot pile up an
unbounded uncommitted log tail, nor the memory of its pending writes.
"""

from __future__ import annotations

__all__ = ["ProposalQuota", "DEFAULT_RANGE_QUOTA_BYTES"]

#: A range's default proposal quota: 8 MiB, CockroachDB's default (half its 16 MiB
#: max_uncommitted_entries_size); more than five of the largest commands (max_command_bytes).
DEFAULT_RANGE_QUOTA_BYTES = 8 << 20


class ProposalQuota:
    """Invariant: ``used`` is the sum of the sizes acquired and not yet released, and stays within
    ``capacity`` except for one command acquired into an empty pool (so a command larger than
    the whole quota still goes through, alone). Owned by its replica: no lock."""

    __slots__ = ("capacity", "used")

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("a proposal quota must be positive")
        self.capacity = capacity
        self.used = 0

    def try_acquire(self, size: int) -> bool:
        """Take ``size`` bytes if they fit (or the pool is empty); False: nothing taken."""
        if self.used and self.used + size > self.capacity:
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        self.used = max(0, self.used - size)

    def reset(self) -> None:
        """Everything back (the replica is no longer leader)."""
        self.used = 0
