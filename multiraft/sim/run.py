"""``simulate``: one seeded run of the whole cluster, and what it found.

A run: bootstrap the cluster, let it elect, then clients write, read and swap on a few keys
while a nemesis crashes and restarts nodes, partitions them and makes links lossy, until
``events`` events have run. Then the nemesis stops: every node is restarted and the network
healed, the cluster settles, and every key is read once more (so a write acknowledged before a
crash and lost after it shows as a violation of linearizability); a read the healed cluster
does not answer within 30 virtual seconds is a violation of liveness. Invariants are checked
after every event (``InvariantChecker``); at the end, the final ones and the client history's
linearizability. An exception escaping the node's code is a violation too: the run stops there.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from multiraft.check.history import HistoryRecorder, OpKind
from multiraft.check.linearizability import Verdict, check_linearizable

from .admin import SimAdmin
from .buggify import Buggify
from .clients import SimClient
from .cluster import SimCluster
from .invariants import InvariantChecker
from .network import LinkFaults, SimNetwork
from .world import World

__all__ = ["SimOptions", "SimResult", "simulate"]

#: virtual seconds the cluster gets to elect before the clients start
_WARMUP = 2.0
#: virtual seconds the cluster gets to settle after the nemesis stops
_SETTLE = 8.0
#: virtual seconds the final reads may take
_FINAL_READS = 30.0


@dataclass(slots=True)
class SimOptions:
    seed: int
    #: events to run with clients and nemesis (the settling and final reads run beyond it)
    events: int = 20_000
    nodes: int = 3
    ranges: int = 16
    clients: int = 4
    #: keys the clients share (few: their operations must overlap for the check to bite)
    keys: int = 6
    #: mean virtual seconds a client waits between two operations
    think: float = 0.02
    #: whether the nemesis runs (crashes, partitions, lossy links, failed fsyncs)
    faults: bool = True
    #: whether admin operations run with the clients (splits, leader transfers, a replica
    #: removed and added back), with or without the faults
    admin: bool = True


@dataclass(slots=True)
class SimResult:
    seed: int
    events: int
    simulated_s: float
    ops: int
    trace_hash: str
    violations: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    crashes: int = 0
    #: the admin operations that succeeded, by kind; the ranges at the end (the most any
    #: node holds)
    admin: dict[str, int] = field(default_factory=dict)
    ranges: int = 0
    #: snapshots the replicas alive at the end installed
    snapshots: int = 0

    def as_json(self) -> dict[str, Any]:
        """The contract's JSON line (``python -m multiraft.sim``)."""
        return {"seed": self.seed, "events": self.events,
                "simulated_s": round(self.simulated_s, 3), "ops": self.ops,
                "trace_hash": self.trace_hash, "violations": list(self.violations)}


class _Nemesis:
    """Every 0.2-1.2 virtual seconds, one fault: crash a node (restarted 0.3-2 s later), cut
    one node off from the others (healed 0.3-2 s later), or make every link drop and
    duplicate frames for a while; and, as often, an admin client splits a range at a key."""

    def __init__(self, world: World, cluster: SimCluster, network: SimNetwork,
                 admin: SimAdmin | None, faults: bool) -> None:
        self.world, self.cluster, self.network = world, cluster, network
        self.admin = admin
        self.faults = faults
        self.stopped = False

    def start(self) -> None:
        self.world.after(self.world.rng.uniform(0.2, 1.2), self._act)

    def _act(self) -> None:
        if self.stopped:
            return
        w, rng = self.world, self.world.rng
        if self.faults:
            self._fault()
        if self.admin is not None:
            self.admin.act()
        w.after(rng.uniform(0.2, 1.2), self._act)

    def _fault(self) -> None:
        w, rng = self.world, self.world.rng
        r = rng.random()
        ids = sorted(self.cluster.nodes)
        if r < 0.35:
            node = self.cluster.nodes[rng.choice(ids)]
            node.crash()
            w.after(rng.uniform(0.3, 2.0), self._restart, node.node_id)
        elif r < 0.5:
            self.cluster.nodes[rng.choice(ids)].pause(rng.uniform(0.2, 3.0))
        elif r < 0.75:
            victim = rng.choice(ids)
            w.note(f"isolate {victim};")
            self.network.isolate({victim}, set(ids) - {victim})
            w.after(rng.uniform(0.3, 2.0), self._heal)
        else:
            f = self.network.faults
            f.drop, f.duplicate = rng.uniform(0.01, 0.2), rng.uniform(0.0, 0.05)
            w.note(f"lossy {f.drop:.3f};")
            w.after(rng.uniform(0.3, 2.0), self._clean_links)

    def _restart(self, node_id: int) -> None:
        n = self.cluster.nodes[node_id]
        if not n.up:
            n.start()

    def _heal(self) -> None:
        self.world.note("heal;")
        self.network.heal()

    def _clean_links(self) -> None:
        f = self.network.faults
        f.drop = f.duplicate = 0.0

    def stop(self) -> None:
        """No more faults: heal every link, restart every node that is down."""
        self.stopped = True
        self.network.heal()
        self._clean_links()
        for n in self.cluster.nodes.values():
            if not n.up:
                n.start()


def simulate(o: SimOptions) -> SimResult:
    """Run seed ``o.seed`` and report it (never raises for what the cluster does)."""
    started = time.perf_counter()
    world = World(o.seed)
    network = SimNetwork(world, LinkFaults())
    buggify = Buggify(world, enabled=o.faults)
    cluster = SimCluster(world, o.seed, o.nodes, o.ranges, network,
                         fail_syncs=0.002 if o.faults else 0.0, buggify=buggify)
    checker = InvariantChecker(cluster)
    cluster.on_task = checker.after_task
    network.on_send = checker.on_send
    recorder = HistoryRecorder(clock_ns=lambda: int(world.now * 1e9))
    keys = [f"key{i:02d}".encode() for i in range(o.keys)]
    ids = sorted(cluster.nodes)
    # The first client opts out of deduplication, as a real client may (client id 0): the
    # state machine then cannot mask an entry applied twice.
    clients = [SimClient(world, network, c, ids, keys, recorder, think=o.think,
                         sessions=c != 1) for c in range(1, o.clients + 1)]
    admin_client = SimClient(world, network, o.clients + 2, ids, keys, recorder)
    admin_client.stop()  # it runs only the admin's operations
    admin = SimAdmin(world, admin_client, ids)
    nemesis = _Nemesis(world, cluster, network, admin if o.admin else None, o.faults)
    violations = checker.violations
    previous_disable = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # the nodes log every fault they survive
    try:
        cluster.start()
        _run(world, checker, world.now + _WARMUP, o.events)
        for c in clients:
            c.start()
        if o.faults or o.admin:
            nemesis.start()
        _run(world, checker, float("inf"), o.events)
        nemesis.stop()
        for c in clients:
            c.stop()
        _run(world, checker, world.now + _SETTLE, 10 * o.events)
        if not violations:
            reader = SimClient(world, network, o.clients + 1, ids, keys, recorder,
                               give_up_after=_FINAL_READS)
            reader.stop()  # it runs only the reads below
            for k in keys:
                reader.run(OpKind.GET, (k,))
                while reader.busy and _run(world, checker, world.now + 0.1, 10 * o.events):
                    pass
                if reader.answered == 0 and not reader.busy:
                    violations.append(f"t={world.now:.3f}s: the healed cluster answered no "
                                      f"read of {k!r} within {_FINAL_READS:.0f} s (liveness)")
                    break
                reader.answered = 0
            if not violations:
                checker.final()
    except Exception as e:  # the node's code raised: a violation, with where
        where = traceback.extract_tb(e.__traceback__)[-1]
        violations.append(f"t={world.now:.3f}s event {world.events}: {type(e).__name__}: "
                          f"{e} (at {where.filename}:{where.lineno})")
    finally:
        logging.disable(previous_disable)
    violations.extend(cluster.failures)
    if not violations:
        result = check_linearizable(recorder.history(), timeout_s=60.0)
        if result.verdict is Verdict.ILLEGAL:
            violations.append(f"the client history is not linearizable: {result}")
    held = [list(n.replicas()) for n in cluster.nodes.values()]
    return SimResult(o.seed, world.events, world.now, sum(c.ops for c in clients),
                     world.trace_hash, violations, time.perf_counter() - started,
                     sum(n.crashes for n in cluster.nodes.values()), dict(admin.done),
                     max(map(len, held)),
                     sum(a.core.snapshots_installed for replicas in held for a in replicas))


def _run(world: World, checker: InvariantChecker, until: float, max_events: int) -> bool:
    """Run events until virtual time ``until``, ``max_events`` more, or a violation; False
    if the run must stop (a violation)."""
    stop = world.events + max_events
    while not world.idle and world.events < stop and not checker.violations:
        if world.now >= until:
            return True
        world.step()
    return not checker.violations
