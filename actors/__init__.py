"""The actor design: Store, Replica and Timer actors, and ``ActorNode``.

Each replica's RawNode is confined to its ``ReplicaActor`` (run by the pooled runtime in
``actors.runtime``); actors share no mutable state and talk only through messages.
"""

from .node import ActorNode
from .runtime import (ManualScheduler, PooledActor, PooledActorRef, PooledRuntime, Scheduler,
                      ThreadPoolScheduler)
from .replica import ReplicaActor
from .store import StoreActor
from .timer import TimerActor

__all__ = ["ActorNode", "ReplicaActor", "StoreActor", "TimerActor", "ManualScheduler",
           "PooledActor", "PooledActorRef", "PooledRuntime", "Scheduler", "ThreadPoolScheduler"]
