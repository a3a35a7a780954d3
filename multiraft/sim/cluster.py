"""``SimCluster``: N real nodes of the actor design in one process, on one ``World``.

Each ``SimNode`` is an ``ActorNode`` built with a ``NodeEnvironment`` of simulated parts: its
two runtimes on ``SimScheduler``s, a ``SimTransport`` on the cluster's ``SimNetwork``, a
``SimSnapshotSender``, a ticker that is a recurring event, the world's clocks and seed, and its
``SimDisk``. Nothing else differs from production: the Store, Replica and Timer actors, the
route table, group commit, coalesced heartbeats, quiescence, snapshots and splits are the
real code.

A crash (``crash``) is a power loss: the node's schedulers halt with whatever was queued, its
transport leaves the network, its disk keeps only what was fsynced (and a random part of the
rest), and the objects of that incarnation are dropped, never stopped. ``restart`` starts a
new incarnation from the disk. A node that fails itself (a failed fsync: fail-stop) crashes
the same way and restarts after ``restart_after``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pykka

from multiraft.actors.environment import NodeEnvironment
from multiraft.actors.messages import TICK_NOW
from multiraft.actors.node import ActorNode
from multiraft.actors.replica import ReplicaActor
from multiraft.actors.runtime import Scheduler
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.store.config import NodeConfig

from .buggify import Buggify
from .disk import SimDisk, SyncFailed
from .network import SimNetwork, SimTransport, sim_address
from .scheduler import SimScheduler
from .snapshots import SimSnapshotSender
from .world import World

__all__ = ["SimCluster", "SimNode"]

log = logging.getLogger(__name__)


class _SimTicker:
    """Tells the timer ``TICK_NOW`` every ``interval`` virtual seconds until stopped."""

    def __init__(self, world: World, timer: Any, interval: float) -> None:
        self._world, self._timer, self._interval = world, timer, interval
        self._stopped = False
        self._paused_until = 0.0

    def start(self) -> None:
        # a random phase: the nodes' ticks do not line up
        self._world.after(self._world.rng.random() * self._interval, self._tick)

    def stop(self) -> None:
        self._stopped = True

    def pause(self, until: float) -> None:
        self._paused_until = until

    def _tick(self) -> None:
        if self._stopped:
            return
        w = self._world
        if w.now < self._paused_until:  # a stopped process: the missed ticks are skipped
            w.after(self._paused_until - w.now, self._tick)
            return
        try:
            self._timer.tell(TICK_NOW)
        except pykka.ActorDeadError:
            return
        self._world.after(self._interval, self._tick)


class SimNode:
    """One node across its incarnations. Invariant: ``node`` is the running incarnation, or
    None while the node is down."""

    def __init__(self, cluster: SimCluster, config: NodeConfig) -> None:
        self.cluster = cluster
        self.config = config
        self.node_id = config.node_id
        self.disk = SimDisk(cluster.world, fail_syncs=cluster.fail_syncs)
        self.node: ActorNode | None = None
        self.incarnation = 0
        self.crashes = 0
        self._parts: list[Any] = []
        self._schedulers: list[SimScheduler] = []

    @property
    def up(self) -> bool:
        return self.node is not None

    def start(self) -> None:
        """Start an incarnation from what the disk holds."""
        assert self.node is None
        w = self.cluster.world
        self.incarnation += 1
        self._parts, self._schedulers = [], []
        env = NodeEnvironment(clock=w.clock, wall_clock_ms=w.wall_clock_ms,
                              seed=self.cluster.seed, scheduler=self._scheduler,
                              transport=self._transport, snapshot_sender=self._snapshot_sender,
                              ticker=self._ticker, storage=self.disk.open,
                              fail_stop=self._failed, fault_points=self.cluster.buggify)
        w.note(f"start {self.node_id}.{self.incarnation};")
        node = ActorNode(self.config, environment=env)
        self.node = node
        try:
            node.start()
        except SyncFailed:  # its start's own synced write failed: as a process would, it exits
            self.crash()
            w.after(self.cluster.restart_after, self._restart_if_down)

    def crash(self) -> None:
        """Power loss (see the module docstring)."""
        if self.node is None:
            return
        self.cluster.world.note(f"crash {self.node_id};")
        self.crashes += 1
        for s in self._schedulers:
            s.halt()
        for part in self._parts:
            part.stop()
        self.cluster.network.paused.pop(self.node_id, None)
        self.disk.crash()
        self.node = None
        self._parts, self._schedulers = [], []

    def pause(self, seconds: float) -> None:
        """SIGSTOP for ``seconds``: nothing of the node runs, what reaches it waits; then it
        goes on where it was (a GC pause, a VM migration)."""
        if self.node is None:
            return
        w = self.cluster.world
        until = w.now + seconds
        w.note(f"pause {self.node_id} {seconds:.3f};")
        for s in self._schedulers:
            s.pause(until)
        for part in self._parts:
            if isinstance(part, _SimTicker):
                part.pause(until)
        self.cluster.network.pause(self.node_id, until)

    def _failed(self) -> None:
        """The node failed itself (``NodeLifecycle.fail``): crash now, restart later."""
        node = self.node
        failure = None if node is None else node.failure
        if failure is not None and not isinstance(failure.error, SyncFailed):
            # a failed fsync is the disk's fault, and stopping is the right answer to it;
            # anything else that stops a node is a bug of the node
            self.cluster.failures.append(f"node {self.node_id} failed: {failure}")
        w = self.cluster.world
        w.after(0.0, self.crash)
        w.after(self.cluster.restart_after, self._restart_if_down)

    def _restart_if_down(self) -> None:
        if self.node is None:
            self.start()

    def replicas(self) -> Iterator[ReplicaActor]:
        """The replica actors the node's store holds (the running incarnation's)."""
        node = self.node
        if node is None or node.store is None:
            return
        store = actor_of(node.store)
        for ref in list(store.replicas.values()):
            actor = actor_of(ref)
            if actor is not None:
                yield actor

    def routed(self) -> list[RangeDescriptor] | None:
        """The descriptors the node's store routes by (the running incarnation's), or None
        while the node is down or its store has not loaded its ranges yet."""
        node = self.node
        if node is None or node.store is None:
            return None
        store = actor_of(node.store)
        if store._factory is None:  # noqa: SLF001 (set with the loaded ranges: ReplicasLoaded)
            return None
        return list(store.router.descriptors.values())

    # -- the environment's factories --

    def _scheduler(self, name: str, workers: int,  # noqa: ARG002 (one thread of control)
                   after_round: Callable[[], None] | None) -> Scheduler:
        disk = self.disk
        s = SimScheduler(self.cluster.world, f"{name}-{self.node_id}", after_round,
                         disk_busy=lambda: disk.busy_until)
        node_id, ran = self.node_id, self.cluster.ran
        s.on_ran = lambda task: ran(node_id, task)
        self._schedulers.append(s)
        return s

    def _transport(self, c: NodeConfig, inbound: Any, on_directory: Any) -> SimTransport:
        t = SimTransport(self.cluster.network, c.node_id, inbound, on_directory)
        self._parts.append(t)
        return t

    def _snapshot_sender(self, transport: Any, node_id: int,  # noqa: ARG002
                         rate: float) -> SimSnapshotSender:
        s = SimSnapshotSender(self.cluster.world, transport, rate)
        self._parts.append(s)
        return s

    def _ticker(self, timer: Any, interval: float) -> _SimTicker:
        t = _SimTicker(self.cluster.world, timer, interval)
        self._parts.append(t)
        return t


def actor_of(ref: Any) -> Any:
    """The actor behind a pooled actor's handle (the simulation runs on one thread, so it may
    read any actor's state between events)."""
    return ref._actor_weakref()  # noqa: SLF001


class SimCluster:
    """``nodes`` nodes bootstrapping ``ranges`` ranges (3 replicas each) on one world."""

    def __init__(self, world: World, seed: int, nodes: int = 3, ranges: int = 16,
                 network: SimNetwork | None = None, fail_syncs: float = 0.0,
                 restart_after: float = 1.0, log_keep: int = 32,
                 buggify: Buggify | None = None) -> None:
        """``log_keep``: applied entries a replica keeps for slow followers (few, so that
        followers back from a crash or a partition get snapshots)."""
        self.world = world
        self.seed = seed
        #: the fault points of every node (None: none fires)
        self.buggify = buggify
        self.network = network or SimNetwork(world)
        self.fail_syncs = fail_syncs
        self.restart_after = restart_after
        #: the fail-stops of nodes that were not the simulated disk's doing, as text
        self.failures: list[str] = []
        #: called after every mailbox turn of any node with (its id, the task that ran)
        self.on_task: Callable[[int, Any], None] | None = None
        ids = list(range(1, nodes + 1))
        self.nodes = {
            i: SimNode(self, NodeConfig(
                node_id=i, listen=sim_address(i), client_listen=sim_address(i, client=True),
                peers={p: sim_address(p) for p in ids if p != i}, engine="memory",
                cluster_id="sim", initial_ranges=ranges, split_bytes=0, split_qps=0.0,
                snapshot_rate=0.0, log_keep_entries=log_keep))
            for i in ids}

    def start(self) -> None:
        for n in self.nodes.values():
            n.start()

    def ran(self, node_id: int, task: Any) -> None:
        """A mailbox turn of node ``node_id`` ended (``SimScheduler.on_ran``)."""
        if self.on_task is not None:
            self.on_task(node_id, task)

    def up(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.up]
