"""``ActorNode``: one node of the actor design, wired from a ``NodeConfig``.

Threads of a running node: the transport's socket thread, the store and timer actors (pykka
threads), the pooled workers that run every replica and write each round's batches in one engine
write (``store.group_commit``), and the ticker. ``stop`` ends all
of them and closes every socket and the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import pykka

from multiraft.replica.counters import ReplicaCounters
from multiraft.replica.snapshot_sender import SnapshotSender
from multiraft.store.counters import WriterCounters
from multiraft.store.group_commit import GroupCommit
from multiraft.store.heartbeat_queue import CoalescedHeartbeats
from multiraft.store.lifecycle import NodeFailure, NodeLifecycle, StopStep
from multiraft.storage.range_descriptor import load_descriptors
from multiraft.transport.zmq_transport import Transport

from .replica import NodeActors, ReplicaActor
from .runtime import PooledActorRef, PooledRuntime, ThreadPoolScheduler
from .inbound import StoreInbound
from .messages import WRITE_DONE
from .store import StoreActor
from .timer import Ticker, TimerActor

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
    """The actor design's node (see ``NodeLifecycle`` for start/stop)."""

    def __init__(self, config: NodeConfig,
                 on_failure: Callable[[NodeFailure], None] | None = None) -> None:
        super().__init__(config, on_failure)
        self.transport: Transport | None = None
        self.runtime: PooledRuntime | None = None
        self.snapshots: SnapshotSender | None = None
        self.store: pykka.ActorRef[StoreActor] | None = None
        self.timer: pykka.ActorRef[TimerActor] | None = None
        self.writer: GroupCommit[PooledActorRef[ReplicaActor]] | None = None
        self._ticker: Ticker | None = None
        #: the transport's Handler: what a client request reaches (used by the metrics too)
        self.handler: StoreInbound | None = None

    def _start(self) -> None:
        c = self.config
        engine, staging, fresh = self._open_engine()
        descriptors = load_descriptors(engine)

        heartbeats = CoalescedHeartbeats()
        inbound = self.handler = StoreInbound()
        self.transport = Transport(c.node_id, c.listen, c.peers, inbound,
                                   client_listen=c.client_listen, curve=c.curve,
                                   on_directory=self.membership.receive)
        writer = self.writer = GroupCommit(engine, self.fail, _write_done)
        replica_counters = ReplicaCounters()
        self.store = StoreActor.start(c.node_id, self.transport, inbound, heartbeats,
                                      sorted(c.peers), liveness_ticks=2 * c.election_ticks,
                                      fatal=self.fail, replica_counters=replica_counters,
                                      creation=c.creation_limits(),
                                      membership=self.membership)
        inbound.bind(self.store)
        self.timer = TimerActor.start(self.store, self.fail)
        self.runtime = PooledRuntime(ThreadPoolScheduler(c.workers,
                                                         after_round=writer.flush)).start()
        self.snapshots = SnapshotSender(self.transport, node_id=c.node_id,
                                        rate=c.snapshot_rate).start()
        svc = c.replica_services(engine, self.transport, heartbeats, self.snapshots, staging,
                                 replica_counters, self.membership.directory)
        actors = NodeActors(writer, self.store, self.timer, self.fail, inbound)
        runtime = self.runtime

        def spawn(range_id: int, replica_id: int,
                  campaign: bool = False) -> PooledActorRef[ReplicaActor]:
            return runtime.spawn(ReplicaActor, svc, actors, range_id, replica_id, campaign)

        store = self.store.proxy()
        store.set_replica_factory(spawn).get()
        mine: dict[int, PooledActorRef[ReplicaActor]] = {}
        for d in descriptors:
            me = [rid for node, rid in d.replicas if node == c.node_id]
            if me:
                mine[d.range_id] = spawn(d.range_id, me[0], d.range_id in fresh)
        store.add_replicas(mine, descriptors).get()
        self.transport.start()
        self._transport_started(self.transport)
        self._ticker = Ticker(self.timer, c.tick_interval)
        self._ticker.start()
        log.info("node %d: serving %d ranges; raft %s, clients %s", c.node_id,
                 len(descriptors), self.transport.address, self.transport.client_address)

    def _stop_steps(self) -> list[StopStep]:
        store, timer, runtime, writer = self.store, self.timer, self.runtime, self.writer
        ticker, transport, snapshots = self._ticker, self.transport, self.snapshots
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
            ("store", None if store is None else (lambda: store.stop(timeout=10))),
        ]
        self._ticker = self.store = self.timer = self.writer = self.runtime = None
        self.transport = self.snapshots = None
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
