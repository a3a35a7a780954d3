"""Pooled actor runtime: thousands of pykka-style actors on a few worker threads.

One pykka `ThreadingActor` per replica collapses past ~1,000 replicas; here each actor
has its own mailbox and an injected scheduler runs ready mailboxes, one worker per actor
at a time (TiKV's batch-system shape). Handles keep pykka's `ActorRef` API and futures.
"""

from multiraft.actors.runtime._actor import PooledActor
from multiraft.actors.runtime._manual import ManualScheduler
from multiraft.actors.runtime._pool import ThreadPoolScheduler
from multiraft.actors.runtime._ref import PooledActorRef
from multiraft.actors.runtime._runtime import PooledRuntime
from multiraft.actors.runtime._scheduler import Scheduler, Task

__all__ = [
    "ManualScheduler",
    "PooledActor",
    "PooledActorRef",
    "PooledRuntime",
    "Scheduler",
    "Task",
    "ThreadPoolScheduler",
]
