"""``LockNode``: one node of the lock-based design (CockroachDB's RFC "dismantle_multiraft"),
wired from a ``NodeConfig`` over the same raft, storage, transport and replica code as the
actor design.

Threads of a running node: the transport's socket thread (it also steps replicas, under their
locks) and the process_raft thread (ticks, Readies, and each round's one engine write:
``store.group_commit``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from multiraft.replica.core import ReplicaCore
from multiraft.replica.counters import ReplicaCounters
from multiraft.replica.snapshot_sender import SnapshotSender
from multiraft.store.group_commit import GroupCommit
from multiraft.store.heartbeat_queue import CoalescedHeartbeats
from multiraft.store.lifecycle import NodeFailure, NodeLifecycle, StopStep
from multiraft.storage.range_descriptor import load_descriptors
from multiraft.transport.zmq_transport import Transport

from .replica import LockedReplica
from .store import LockStore

if TYPE_CHECKING:
    from multiraft.store.config import NodeConfig

__all__ = ["LockNode"]

log = logging.getLogger(__name__)


class LockNode(NodeLifecycle):
    """The lock-based design's node (see ``NodeLifecycle`` for start/stop)."""

    def __init__(self, config: NodeConfig,
                 on_failure: Callable[[NodeFailure], None] | None = None) -> None:
        super().__init__(config, on_failure)
        self.transport: Transport | None = None
        self.store: LockStore | None = None
        self.writer: GroupCommit[LockedReplica] | None = None
        self.snapshots: SnapshotSender | None = None
        self._loop: threading.Thread | None = None

    def _start(self) -> None:
        c = self.config
        engine, staging, fresh = self._open_engine()
        heartbeats = CoalescedHeartbeats()
        replica_counters = ReplicaCounters()
        store = self.store = LockStore(c.node_id, heartbeats, sorted(c.peers),
                                       2 * c.election_ticks, c.tick_interval, self.fail,
                                       replica_counters, c.creation_limits(),
                                       membership=self.membership)
        self.transport = Transport(c.node_id, c.listen, c.peers, store,
                                   client_listen=c.client_listen, curve=c.curve,
                                   on_directory=self.membership.receive)
        store.transport = self.transport
        writer = self.writer = GroupCommit(engine, self.fail, LockedReplica.on_write_durable)
        store.group_commit = writer
        self.snapshots = SnapshotSender(self.transport, node_id=c.node_id,
                                        rate=c.snapshot_rate).start()
        svc = c.replica_services(engine, self.transport, heartbeats, self.snapshots, staging,
                                 replica_counters, self.membership.directory)

        def make(range_id: int, replica_id: int, campaign: bool) -> LockedReplica:
            return LockedReplica(svc, store, writer, range_id, replica_id, campaign)

        store.factory = make
        replicas = []
        for d in load_descriptors(engine):
            me = [rid for node, rid in d.replicas if node == c.node_id]
            if me:
                r = make(d.range_id, me[0], d.range_id in fresh)
                with store.mu:
                    store.replicas[d.range_id] = r
                replicas.append(r)
        for r in replicas:
            r.call(ReplicaCore.start)
        self._loop = threading.Thread(target=store.process_raft, name="process-raft", daemon=True)
        self._loop.start()
        self.transport.start()
        self._transport_started(self.transport)
        log.info("node %d (locks): serving %d ranges; raft %s, clients %s", c.node_id,
                 len(replicas), self.transport.address, self.transport.client_address)

    def _stop_steps(self) -> list[StopStep]:
        store, loop, transport, writer = self.store, self._loop, self.transport, self.writer
        snapshots = self.snapshots
        self.snapshots = None
        if store is None:  # start failed before the store existed
            steps: list[StopStep] = [("transport", None if transport is None else transport.stop),
                                     ("writer", None if writer is None else writer.stop)]
            self.writer = self.transport = self._loop = None
            return steps
        running = store

        def stop_loop() -> None:
            running.stop_loop()
            if loop is not None:
                loop.join(timeout=30)

        def stop_replicas() -> None:
            for r in list(running.replicas.values()):
                with r.mu:
                    r.core.stop()

        steps = [
            ("store intake", store.begin_stop),
            # The transport first: it calls into the store and the replicas.
            ("transport", None if transport is None else transport.stop),
            ("raft loop", stop_loop),
            ("replicas", stop_replicas),
            ("snapshot sender", None if snapshots is None else snapshots.stop),
            ("writer", None if writer is None else writer.stop),
        ]
        self.store = self.writer = self.transport = self._loop = None
        return steps

    @property
    def handler(self) -> LockStore | None:
        """The transport's Handler: what a client request reaches (used by the metrics too)."""
        return self.store

    def writer_counters(self) -> Any:
        return None if self.writer is None else self.writer.counters

    @property
    def client_address(self) -> str | None:
        return None if self.transport is None else self.transport.client_address

    @property
    def raft_address(self) -> str | None:
        return None if self.transport is None else self.transport.address
