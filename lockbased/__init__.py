"""The lock-based design of CockroachDB's RFC "dismantle_multiraft", for comparison: a ``Store``
whose mutex guards the replicas map, a ``Replica`` whose mutex guards its RawNode (through the
shared ``replica.ReplicaCore``), a process_raft thread, and the same group commit."""

from .node import LockNode
from .replica import LockedReplica
from .store import LockStore

__all__ = ["LockNode", "LockedReplica", "LockStore"]
