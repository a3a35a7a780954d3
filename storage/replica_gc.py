"""Destroying a removed replica's state, and the tombstone it leaves (CockroachDB's
``destroyRaftMuLocked`` and RFC 20150729_replica_tombstone, TiKV's ``PeerState::Tombstone``).

A replica removed from its range deletes, in one batch: every range-local record (raft log,
HardState, truncated and applied state, descriptor, sessions), its user data unless another
replica on the node covers those keys (the caller decides), and writes a tombstone: the lowest
replica id of the range the node may hold from now on. A message for a replica id below it
never creates a replica again, so a late message from before the removal cannot bring the old
replica back (its id is never reused: ``RangeDescriptor.next_replica_id``).
"""

from __future__ import annotations

import struct

from . import keys
from .engine import Reader, WriteBatch
from .errors import StorageCorruptionError

__all__ = ["destroy_replica", "load_tombstone"]

_U64 = struct.Struct(">Q")


def destroy_replica(batch: WriteBatch, range_id: int, replica_id: int,
                    user_span: tuple[bytes, bytes] | None) -> None:
    """Put the destruction of replica ``replica_id`` of ``range_id`` into ``batch``: its
    range-local records, ``user_span`` (engine keys; None: keep the user data) and the
    tombstone (ids up to ``replica_id`` are gone)."""
    batch.delete_range(keys.range_prefix(range_id), keys.range_prefix(range_id + 1))
    batch.delete(keys.installing_snapshot_key(range_id))
    if user_span is not None:
        batch.delete_range(*user_span)
    batch.put(keys.tombstone_key(range_id), _U64.pack(replica_id + 1))


def load_tombstone(reader: Reader, range_id: int) -> int:
    """The lowest replica id of ``range_id`` this node may hold (0: no tombstone)."""
    raw = reader.get(keys.tombstone_key(range_id))
    if raw is None:
        return 0
    if len(raw) != _U64.size:
        raise StorageCorruptionError(f"bad tombstone record of range {range_id}")
    min_id: int = _U64.unpack(raw)[0]
    return min_id
