"""A range's replica on a node, independent of the node's concurrency design.

``ReplicaCore`` runs the raft cycle over storage and transport; a design wraps it (an actor in
``actors/``, a mutex in ``lockbased/``) and supplies a ``ReplicaEnv``.
May import ``raft``, ``storage`` and ``transport``; never ``store``, ``actors`` or ``lockbased``.
"""

from .core import ReplicaCore
from .env import HeartbeatSink, ReplicaEnv, ReplicaServices
from .histogram import LATENCY_BOUNDS, SIZE_BOUNDS, Histogram

__all__ = ["ReplicaCore", "ReplicaEnv", "ReplicaServices", "HeartbeatSink", "Histogram",
           "LATENCY_BOUNDS", "SIZE_BOUNDS"]
