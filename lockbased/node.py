"""``LockNode``: one node of the lock-based design (CockroachDB's RFC "dismantle_multiraft"),
wired from a ``NodeConfig`` over the same raft, storage, transport and replica code as the
actor design.

Threads of a running node: the transport's socket thread (it also steps replicas, under their
locks), the process_raft thread (ticks and Readies), and the group-commit writer.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from replica.core import ReplicaCore
from replica.env import ReplicaServices
from replica.heartbeat_queue import CoalescedHeartbeats
from storage.data_dir import open_data_dir
from storage.engine import Engine
from storage.layout import bootstrap_node
from storage.memory_engine import MemoryEngine
from storage.range_descriptor import load_descriptors
from transport.zmq_transport import Transport

from .replica import LockedReplica
from .store import LockStore
from .writer import GroupCommitWriter

if TYPE_CHECKING:
    from multiraft.config import NodeConfig

__all__ = ["LockNode"]

log = logging.getLogger(__name__)


class LockNode:
    """Invariant: between ``start`` and ``stop`` every component below is running; after
    ``stop`` none is (``stop`` is idempotent)."""

    def __init__(self, config: NodeConfig) -> None:
        config.validate()
        self.config = config
        self.engine: Engine | None = None
        self.transport: Transport | None = None
        self.store: LockStore | None = None
        self.writer: GroupCommitWriter | None = None
        self._loop: threading.Thread | None = None
        self._data_dir: Any = None
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> LockNode:
        with self._lock:
            if self._running:
                raise RuntimeError(f"node {self.config.node_id} is already running")
            self._running = True
        try:
            self._start()
        except BaseException:
            self._stop_components()
            self._running = False
            raise
        return self

    def _start(self) -> None:
        c = self.config
        if not c.fsync:
            log.warning("node %d: fsync is OFF: acknowledged writes can be lost in a crash "
                        "(benchmark mode)", c.node_id)
        if c.engine == "memory":
            self.engine = MemoryEngine()
        else:
            self._data_dir = open_data_dir(c.data_dir, c.cluster_id, c.node_id)
            self.engine = self._data_dir.engine
        fresh = bootstrap_node(self.engine, c.node_id, list(c.peers), c.initial_ranges, c.split_keys)
        heartbeats = CoalescedHeartbeats()
        store = self.store = LockStore(c.node_id, heartbeats, sorted(c.peers),
                                       2 * c.election_ticks, c.tick_interval)
        self.transport = Transport(c.node_id, c.listen, c.peers, store,
                                   client_listen=c.client_listen, curve=c.curve)
        store.transport = self.transport
        writer = self.writer = GroupCommitWriter(self.engine)
        writer.start()
        svc = ReplicaServices(c.node_id, self.engine, self.transport, heartbeats,
                              c.election_ticks, c.heartbeat_ticks, c.fsync,
                              log_keep=c.log_keep_entries)

        def make(range_id: int, replica_id: int, campaign: bool) -> LockedReplica:
            return LockedReplica(svc, store, writer, range_id, replica_id, campaign)

        store.factory = make
        replicas = []
        for d in load_descriptors(self.engine):
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
        log.info("node %d (locks): serving %d ranges; raft %s, clients %s", c.node_id,
                 len(replicas), self.transport.address, self.transport.client_address)

    def stop(self) -> None:
        """Refuse new requests, stop the raft loop, write what is queued, close sockets and the
        engine. Each step runs even if one before it failed. Idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
        self._stop_components()

    def _stop_components(self) -> None:
        store = self.store

        def stop_loop() -> None:
            store.stop_loop()
            if self._loop is not None:
                self._loop.join(timeout=30)

        def stop_replicas() -> None:
            for r in list(store.replicas.values()):
                with r.mu:
                    r.core.stop()

        steps = [
            ("store intake", store and store.begin_stop),
            # The transport first: it calls into the store and the replicas.
            ("transport", self.transport and self.transport.stop),
            ("raft loop", store and stop_loop),
            ("replicas", store and stop_replicas),
            ("writer", self.writer and self.writer.stop),
            ("engine", self._data_dir.close if self._data_dir is not None
             else self.engine and self.engine.close),
        ]
        for name, step in steps:
            if not step:
                continue
            try:
                step()
            except Exception:
                log.exception("node %d: stopping the %s failed; going on", self.config.node_id, name)
        self.store = self.writer = self.transport = self._loop = None
        self._data_dir = self.engine = None

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
