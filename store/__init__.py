"""The store: what a node is, whichever concurrency design runs it.

Its configuration (``NodeConfig``), its lifecycle (``NodeLifecycle``: start, stop, opening the
engine), node liveness, routing client requests by key to ranges, the coalesced heartbeat queue,
the store's counters and the policy for creating replicas on first contact. Both designs (``actors``, ``lockbased``) build on these.
May import ``raft``, ``storage``, ``transport`` and ``replica``; never ``actors`` or
``lockbased``.
"""

from .config import NodeConfig
from .counters import StoreCounters, WriterCounters
from .heartbeat_queue import CoalescedHeartbeats
from .lifecycle import NodeLifecycle, StopStep
from .liveness import Liveness
from .replica_creation import CreationLimits, ReplicaCreationPolicy
from .routing import RangeRouter, group_pairs

__all__ = ["NodeConfig", "NodeLifecycle", "StopStep", "Liveness", "RangeRouter", "group_pairs",
           "CoalescedHeartbeats", "StoreCounters", "WriterCounters", "ReplicaCreationPolicy",
           "CreationLimits"]
