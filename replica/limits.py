"""Backpressure: what bounds the client work a replica takes on.

``ProposalQuota`` is one range's byte budget for commands its leader proposed and has not yet
applied (CockroachDB's proposal quota pool). A write that does not fit is answered BUSY at once,
never proposed, and the client backs off (``multiraft.attempts``), so a burst cannot pile up an
unbounded uncommitted log tail, nor the memory of its pending writes.


``PendingLimit`` bounds, node-wide, the client requests waiting in the node's replicas (proposed
writes waiting to apply, reads waiting for their ReadIndex): past it, BUSY at once.
"""

from __future__ import annotations

import threading

__all__ = ["ProposalQuota", "PendingLimit", "DEFAULT_RANGE_QUOTA_BYTES",
           "DEFAULT_MAX_PENDING_REQUESTS"]

#: A range's default proposal quota: 8 MiB, CockroachDB's default (half its 16 MiB
#: max_uncommitted_entries_size); more than five of the largest commands (max_command_bytes).
DEFAULT_RANGE_QUOTA_BYTES = 8 << 20

#: A node's default bound on client requests waiting in its replicas: far above what a client
#: keeps in flight (the asyncio client: 64 writes per client by default), low enough that what
#: they hold (a responder and a command each, writes up to max_command_bytes) stays bounded.
DEFAULT_MAX_PENDING_REQUESTS = 10_000


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


class PendingLimit:
    """Invariant: 0 <= ``pending`` <= ``limit``: the requests acquired and not yet released.
    Shared by every replica of a node, on whatever threads they run: under a lock."""

    __slots__ = ("limit", "pending", "_lock")

    def __init__(self, limit: int = DEFAULT_MAX_PENDING_REQUESTS) -> None:
        if limit <= 0:
            raise ValueError("max_pending_requests must be positive")
        self.limit = limit
        self.pending = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        """Take one slot if one is free; False: the node holds ``limit`` requests already."""
        with self._lock:
            if self.pending >= self.limit:
                return False
            self.pending += 1
            return True

    def release(self, n: int = 1) -> None:
        if n:
            with self._lock:
                self.pending = max(0, self.pending - n)
