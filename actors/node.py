"""``ActorNode``: one node of the actor design, wired from a ``NodeConfig``.

Threads of a running node (in production: see ``NodeEnvironment``): the transport's socket
thread, the store and timer actors (one pooled worker of their own), the pooled workers that
run every replica and write each round's batches in one engine write
(``store.group_commit``), the snapshot sender and the ticker. ``stop`` ends all of them and
closes every socket and the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka

from multiraft.replica.counters import ReplicaCounters
from multiraft.store.counters import WriterCounters
from multiraft.store.group_commit import GroupCommit
from multiraft.store.heartbeat_queue import CoalescedHeartbeats
from multiraft.store.lifecycle import NodeFailure, NodeLifecycle, StopStep
from multiraft.storage.range_descriptor import load_descriptors

from .environment import NodeEnvironment, Startable
from .replica import NodeActors, ReplicaActor
from .runtime import PooledActorRef, PooledRuntime
from .inbound import StoreInbound
from .messages import WRITE_DONE, ReplicasLoaded
from .store import StoreActor
from .timer import TimerActor

if TYPE_CHECKING:
    from multiraft.store.config import NodeConfig

__all__ = ["ActorNode"]

log = logging.getLogger(__name__)


def _write_done(replica: PooledActorRef[ReplicaActor]) -> None:
    """The round's write made ``replica``'s batch durable (``GroupCommit``'s acknowledgement)."""
    try:
        replica.tell(WRITE_DONE)
    except pykka.ActorDeadError:
        pass  # the replica stopped meanwhile; its data is written all the same


class ActorNode(NodeLifecycle):
    """The actor design's node (see ``NodeLifecycle`` for start/stop). ``environment`` is the
    world it runs in: threads, ZeroMQ and the config's engine unless a simulation injects its
    own (``actors.environment``)."""

    def __init__(self, config: NodeConfig,
                 on_failure: Callable[[NodeFailure], None] | None = None,
                 environment: NodeEnvironment | None = None) -> None:
        env = self.environment = environment or NodeEnvironment()
        super().__init__(config, on_failure, env.storage, env.clock, env.fail_stop)
        self.transport: Any = None
        #: runs the store and the timer (one worker: their own thread in production)
        self.node_runtime: PooledRuntime | None = None
        #: runs every replica, and ends each round with the group commit
        self.runtime: PooledRuntime | None = None
        self.snapshots: Any = None
        self.store: PooledActorRef[StoreActor] | None = None
        self.timer: PooledActorRef[TimerActor] | None = None
        self.writer: GroupCommit[PooledActorRef[ReplicaActor]] | None = None
        self._ticker: Startable | None = None
        #: the transport's Handler: what a client request reaches (used by the metrics too)
        self.handler: StoreInbound | None = None

    def _start(self) -> None:
        c, env = self.config, self.environment
        engine, staging, fresh = self._open_engine()
        descriptors = load_descriptors(engine)

        heartbeats = CoalescedHeartbeats()
        inbound = self.handler = StoreInbound()
        self.transport = env.transport(c, inbound, self.membership.receive)
        writer = self.writer = GroupCommit(engine, self.fail, _write_done, env.fault_points)
        replica_counters = ReplicaCounters()
        node_runtime = self.node_runtime = PooledRuntime(env.scheduler("store", 1, None),
                                                         faults=env.fault_points).start()
        self.store = node_runtime.spawn(StoreActor, c.node_id, self.transport, inbound,
                                        heartbeats, sorted(c.peers),
                                        liveness_ticks=2 * c.election_ticks, fatal=self.fail,
                                        replica_counters=replica_counters,
                                        creation=c.creation_limits(),
                                        membership=self.membership, clock=env.clock)
        inbound.bind(self.store)
        self.timer = node_runtime.spawn(TimerActor, self.store, self.fail)
        runtime = self.runtime = PooledRuntime(
            env.scheduler("pooled-actors", c.workers, writer.flush),
            faults=env.fault_points).start()
        self.snapshots = env.snapshot_sender(self.transport, c.node_id, c.snapshot_rate)
        self.snapshots.start()
        svc = c.replica_services(engine, self.transport, heartbeats, self.snapshots, staging,
                                 replica_counters, self.membership.directory, clock=env.clock,
                                 wall_clock_ms=env.wall_clock_ms, seed=env.seed)
        actors = NodeActors(writer, self.store, self.timer, self.fail, inbound)

        def spawn(range_id: int, replica_id: int,
                  campaign: bool = False) -> PooledActorRef[ReplicaActor]:
            return runtime.spawn(ReplicaActor, svc, actors, range_id, replica_id, campaign)

        mine: dict[int, PooledActorRef[ReplicaActor]] = {}
        for d in descriptors:
            me = [rid for node, rid in d.replicas if node == c.node_id]
            if me:
                mine[d.range_id] = spawn(d.range_id, me[0], d.range_id in fresh)
        # Told, not asked (nothing here blocks on an actor): the store handles it before any
        # inbound message, since the transport starts only after.
        self.store.tell(ReplicasLoaded(spawn, mine, list(descriptors)))
        self.transport.start()
        self._transport_started(self.transport)
        self._ticker = env.ticker(self.timer, c.tick_interval)
        self._ticker.start()
        log.info("node %d: serving %d ranges; raft %s, clients %s", c.node_id,
                 len(descriptors), self.transport.address, self.transport.client_address)

    def _stop_steps(self) -> list[StopStep]:
        store, timer, runtime, writer = self.store, self.timer, self.runtime, self.writer
        ticker, transport, snapshots = self._ticker, self.transport, self.snapshots
        node_runtime = self.node_runtime
        steps: list[StopStep] = [
            ("ticker", None if ticker is None else ticker.stop),
            ("store intake", None if store is None else
             (lambda: store.proxy().begin_stop().get(timeout=10))),
            ("timer", None if timer is None else (lambda: timer.stop(timeout=10))),
            ("replicas", None if runtime is None else (lambda: runtime.stop(timeout=30))),
            ("snapshot sender", None if snapshots is None else snapshots.stop),
            ("writer", None if writer is None else writer.stop),
            # The transport before the store: nothing is delivered to a stopped store.
            ("transport", None if transport is None else transport.stop),
            ("store", None if node_runtime is None else (lambda: node_runtime.stop(timeout=10))),
        ]
        self._ticker = self.store = self.timer = self.writer = self.runtime = None
        self.transport = self.snapshots = self.node_runtime = None
        return steps

    # -- introspection --

    def writer_counters(self) -> WriterCounters:
        """The storage writer's own counters object (it lives as long as the node)."""
        if self.writer is None:
            raise RuntimeError("the node is not running")
        return self.writer.counters

    @property
    def client_address(self) -> str | None:
        return None if self.transport is None else self.transport.client_address

    @property
    def raft_address(self) -> str | None:
        return None if self.transport is None else self.transport.address
