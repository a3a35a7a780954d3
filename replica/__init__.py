"""A range's replica on a node, independent of the node's concurrency design.

``ReplicaCore`` runs the raft cycle over storage and transport; a design wraps it (an actor in
``actors/``, a mutex in ``lockbased/``) and supplies a ``ReplicaEnv``. Also here: what both
designs share around it (coalesced heartbeats, routing by key, histograms).
May import ``raft``, ``storage`` and ``transport``; never ``actors`` or ``lockbased``.
"""

from .core import ReplicaCore
from .env import ReplicaEnv, ReplicaServices
from .heartbeat_queue import CoalescedHeartbeats
from .histogram import LATENCY_BOUNDS, SIZE_BOUNDS, Histogram

__all__ = ["ReplicaCore", "ReplicaEnv", "ReplicaServices", "CoalescedHeartbeats", "Histogram",
           "LATENCY_BOUNDS", "SIZE_BOUNDS"]
