"""``RangeIdAllocator``: new range ids, unique in the cluster and never reused.

A split's proposer picks the right-hand range's id and carries it in the command, so every
replica applies the same one. Ids are unique without a coordinator: node ``n`` hands out
``n * NODE_ID_SPACE + k`` for ``k = 1, 2, ...`` (bootstrap ranges keep the ids below
``NODE_ID_SPACE``), and a node never reuses ``k``: it reserves blocks of ``BLOCK`` ids with a
synced write of the block's end (a store-local record) before handing out any id from it, so a
crash skips the rest of a block, never repeats one. Node ids are never reused either (a wiped
node comes back under a new id).

Thread-safe: the replicas of a node share one allocator (in the actor design they run on a
pool of threads; the lock guards two integers, never raft state).
"""

from __future__ import annotations

import struct
import threading

from . import keys
from .engine import Engine

__all__ = ["RangeIdAllocator", "NODE_ID_SPACE"]

#: Range ids of node n's splits lie in (n * NODE_ID_SPACE, (n + 1) * NODE_ID_SPACE).
NODE_ID_SPACE = 1_000_000_000
#: Ids reserved per synced write.
BLOCK = 1_000
_U64 = struct.Struct(">Q")


class RangeIdAllocator:
    """Invariant: ``_next <= _reserved``, and ``_reserved`` is durable in the engine."""

    def __init__(self, engine: Engine, node_id: int) -> None:
        self._engine = engine
        self._base = node_id * NODE_ID_SPACE
        self._lock = threading.Lock()
        raw = engine.get(keys.range_id_reservation_key())
        self._reserved = 0 if raw is None else _U64.unpack(raw)[0]
        self._next = self._reserved  # ids up to a reservation may have been handed out

    def allocate(self) -> int:
        """A range id no replica in the cluster has or will get from anyone else."""
        with self._lock:
            if self._next >= self._reserved:
                reserved = self._reserved + BLOCK
                if reserved >= NODE_ID_SPACE:
                    raise RuntimeError("this node has used all its range ids")
                b = self._engine.batch()
                b.put(keys.range_id_reservation_key(), _U64.pack(reserved))
                self._engine.write(b, sync=True)
                self._reserved = reserved
            self._next += 1
            return self._base + self._next
