"""``NodeLifecycle``: what a node of either design does the same way: an explicit, idempotent
start/stop, opening its engine (and bootstrapping its share of a new cluster), stopping its
components in order even when one of them fails to stop, and fail-stop: a component that cannot
go on (a durable write failed, an actor crashed) calls ``fail``, and the node stops whole rather
than limp on half dead (etcd and CockroachDB exit on a failed fsync for the same reason: what
the disk did is unknown, so nothing more may be acknowledged)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from multiraft.storage.data_dir import open_data_dir
from multiraft.storage.engine import Engine
from multiraft.storage.layout import bootstrap_node, is_bootstrapped, mark_bootstrapped
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.storage.snapshot_install import recover_installs
from multiraft.storage.snapshot_staging import MemoryStaging, SnapshotStaging
from multiraft.store.join import join_cluster
from multiraft.store.membership import Membership

if TYPE_CHECKING:
    from multiraft.store.config import NodeConfig

__all__ = ["NodeLifecycle", "NodeFailure", "StopStep", "Fatal"]

log = logging.getLogger(__name__)

#: (what, how to stop it or None if it never started)
StopStep = tuple[str, Callable[[], Any] | None]

#: How a component reports that it cannot go on: ``fatal(what failed, the error)``.
Fatal = Callable[[str, BaseException], None]


@dataclass(frozen=True, slots=True)
class NodeFailure:
    """Why a node stopped itself: the component and its error."""

    what: str
    error: BaseException

    def __str__(self) -> str:
        return f"{self.what}: {type(self.error).__name__}: {self.error}"


class NodeLifecycle:
    """Base of ``ActorNode`` and ``LockNode``: subclasses build their components in
    ``_start`` and list how to stop them, in order, in ``_stop_steps``.

    Invariant: between ``start`` and ``stop`` every component is running; after ``stop`` (or a
    failed ``start``) none is.
    """

    def __init__(self, config: NodeConfig,
                 on_failure: Callable[[NodeFailure], None] | None = None,
                 storage: Callable[[NodeConfig], tuple[Engine, SnapshotStaging]] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 fail_stop: Callable[[], None] | None = None) -> None:
        """``storage`` opens the engine and staging area instead of the config's engine (a
        simulation's disk); ``clock`` is the node's monotonic clock; ``fail_stop`` is what a
        failure does once recorded, instead of stopping the node on a thread of its own (a
        simulation crashes the node)."""
        config.validate()
        self.config = config
        self._storage = storage
        self._clock = clock
        self._fail_stop_hook = fail_stop
        self.engine: Engine | None = None
        self._data_dir: Any = None
        self._lock = threading.Lock()
        self._running = False
        #: why the node stopped itself (None while it has not)
        self.failure: NodeFailure | None = None
        self._on_failure = on_failure
        self._membership: Membership | None = None
        #: whether this start must JOIN a cluster (``config.join``, a store never part of one)
        self._must_join = False

    @property
    def membership(self) -> Membership:
        """The node's membership (directory, gossip, node ops): from ``_open_engine`` on."""
        if self._membership is None:
            raise RuntimeError(f"node {self.config.node_id} is not started")
        return self._membership

    def start(self) -> NodeLifecycle:
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

    def fail(self, what: str, error: BaseException) -> None:
        """A component cannot go on: log it, keep the first failure, and stop the node (on a
        thread of its own: the caller is one of the components being stopped). Any thread."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure = failure = NodeFailure(what, error)
        log.critical("node %d: %s; stopping the node", self.config.node_id, failure,
                     exc_info=error)
        if self._fail_stop_hook is not None:
            self._fail_stop_hook()
            return
        threading.Thread(target=self._fail_stop, name=f"fail-stop-{self.config.node_id}",
                         daemon=True).start()

    def _fail_stop(self) -> None:
        self.stop()
        if self._on_failure is not None and self.failure is not None:
            self._on_failure(self.failure)

    def stop(self) -> None:
        """Stop every component in order; idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
        self._stop_components()

    def _start(self) -> None:
        raise NotImplementedError

    def _stop_steps(self) -> Sequence[StopStep]:
        raise NotImplementedError

    def _open_engine(self) -> tuple[Engine, SnapshotStaging, set[int]]:
        """Open the engine and its snapshot staging area, finish the snapshot installs a crash
        interrupted, and bootstrap this node's share of a new cluster if the engine is empty:
        the engine, the staging area, and the ranges whose first campaign is this node's.

        Runs before the transport exists and before any replica: the bootstrap batch is durable
        before any peer is contacted, no replica loads a range whose install is half done
        (storage/snapshot_install.py), and a data dir that lost its engine (a wiped disk:
        ``open_data_dir`` raises ``DataDirError``) stops the start before anything is sent
        (storage/data_dir.py)."""
        c = self.config
        if not c.fsync:
            log.warning("node %d: fsync is OFF: acknowledged writes can be lost in a crash "
                        "(benchmark mode)", c.node_id)
        engine: Engine
        staging: SnapshotStaging
        if self._storage is not None:
            engine, staging = self._storage(c)
        elif c.engine == "memory":
            engine, staging = MemoryEngine(), MemoryStaging()
        else:
            assert c.data_dir is not None  # NodeConfig.validate
            self._data_dir = open_data_dir(c.data_dir, c.cluster_id, c.node_id)
            engine, staging = self._data_dir.engine, self._data_dir.staging
        self.engine = engine
        recovered = recover_installs(engine, staging)
        if recovered:
            log.info("node %d: finished the snapshot installs of ranges %s that a crash "
                     "interrupted", c.node_id, recovered)
        self._membership = Membership.open(engine, c.node_id, c.listen, c.client_listen or "",
                                           c.peers, c.cluster_id, c.dead_after, self._clock)
        self._must_join = bool(c.join) and not is_bootstrapped(engine)
        if self._must_join:  # it gets its replicas from the cluster, later
            return engine, staging, set()
        return engine, staging, bootstrap_node(engine, c.node_id, list(c.peers),
                                               c.initial_ranges, c.split_keys, c.replicas)

    def _transport_started(self, transport: Any) -> None:
        """The transport is bound. A node that must join asks the cluster now (``store.join``;
        a ``JoinFailed`` fails the start), seeds its directory from the answer and is marked
        bootstrapped, so it never bootstraps a cluster of its own. Then this node's directory
        record names its addresses and the gossip starts: only once it is let in, so a node
        whose JOIN is refused never spreads a record of its own."""
        c, m = self.config, self.membership
        raft, client = transport.address, transport.client_address or ""
        if self._must_join:
            m.directory.merge(None, join_cluster(c.join, c.node_id, raft, client, c.cluster_id))
            engine = self.engine
            assert engine is not None
            m.directory.persist(engine, sync=True)
            mark_bootstrapped(engine)
            self._must_join = False
            log.info("node %d: joined cluster %r through %s (%d nodes)", c.node_id,
                     c.cluster_id, ", ".join(c.join), len(m.directory.peers()) + 1)
        m.started(transport, raft, client)

    def _stop_components(self) -> None:
        """Run every stop step; one that fails is logged and the rest still run, so the process
        can exit. The engine closes last."""
        engine_close = (self._data_dir.close if self._data_dir is not None
                        else self.engine and self.engine.close)
        for name, step in [*self._stop_steps(), ("engine", engine_close)]:
            if not step:
                continue
            try:
                step()
            except Exception:
                log.exception("node %d: stopping the %s failed; going on", self.config.node_id, name)
        self._data_dir = self.engine = None
        self._membership = None
