"""Issue 5, test 4: confinement proven. Every use of a replica's RawNode (a method call or an
attribute read such as ``rn.raft``) happens on the thread that runs that replica at that moment
(actors) — checked on every call under load, with a check shown able to fail.

The check is design-specific and looked up in ``GUARDS_BY_DESIGN``: for actors, "the replica's
actor is running on the calling thread"; for locks, "the replica's lock is held by the calling
thread"."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any, Callable

import pytest

from multiraft import ClientError

from .conftest import key_in, wait_until


class GuardedRawNode:
    """Wraps a RawNode: every attribute access first asks ``allowed()``; a False is recorded as
    a violation (never raised: raising inside a replica would only kill that replica)."""

    def __init__(self, inner: Any, owner: str, allowed: Callable[[], bool],
                 guard: ConfinementGuard) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_allowed", allowed)
        object.__setattr__(self, "_guard", guard)

    def __getattr__(self, name: str) -> Any:
        self._guard.check(self._owner, name, self._allowed)
        value = getattr(self._inner, name)
        if not callable(value):
            return value
        guard, owner, allowed = self._guard, self._owner, self._allowed

        def checked(*args: Any, **kwargs: Any) -> Any:
            guard.check(owner, name, allowed)  # again at call time: the call is what matters
            return value(*args, **kwargs)
        return checked

    def __setattr__(self, name: str, value: Any) -> None:
        self._guard.check(self._owner, name, self._allowed)
        setattr(self._inner, name, value)


class ConfinementGuard:
    """Counts checks per RawNode attribute and records violations (owner, attribute, thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checked: Counter[str] = Counter()
        self.owners: set[str] = set()
        self.violations: list[tuple[str, str, str]] = []

    def check(self, owner: str, name: str, allowed: Callable[[], bool]) -> None:
        ok = allowed()
        with self._lock:
            self.checked[name] += 1
            self.owners.add(owner)
            if not ok:
                self.violations.append((owner, name, threading.current_thread().name))


def guard_actor_replicas(monkeypatch: pytest.MonkeyPatch, guard: ConfinementGuard) -> None:
    """actors: wrap each replica's RawNode (``ReplicaActor.core.rn``) as the replica is built
    (bootstrapped replicas and those the store creates later alike); allowed only where
    ``actor_ref.running_thread_id()`` is the calling thread. (``RawNode(...)`` itself runs in
    ``__init__`` on the spawning thread, before the wrap: the actor is not running yet.)"""
    from multiraft.actors.replica import ReplicaActor
    original_init = ReplicaActor.__init__

    def init(self: Any, *args: Any, **kw: Any) -> None:
        original_init(self, *args, **kw)
        ref, core = self.actor_ref, self.core
        core.rn = GuardedRawNode(core.rn, f"node {core.svc.node_id} range {core.range_id}",
                                 lambda: ref.running_thread_id() == threading.get_ident(), guard)
    monkeypatch.setattr(ReplicaActor, "__init__", init)


def actor_raw_nodes(node: Any) -> list[Any]:
    """actors: the (guarded) RawNodes of an in-process node's replicas."""
    replicas = node.impl.store.proxy().replicas.get(timeout=10)
    return [ref._actor_weakref().core.rn for ref in replicas.values()]


def guard_lock_replicas(monkeypatch: pytest.MonkeyPatch, guard: ConfinementGuard) -> None:
    """locks: wrap each replica's RawNode (``LockedReplica.core.rn``) as the replica is built;
    allowed only while the calling thread holds that replica's lock (``OwnedLock``)."""
    from multiraft.lockbased.replica import LockedReplica
    original_init = LockedReplica.__init__

    def init(self: Any, *args: Any, **kw: Any) -> None:
        original_init(self, *args, **kw)
        core, mu = self.core, self.mu
        core.rn = GuardedRawNode(core.rn, f"node {core.svc.node_id} range {core.range_id}",
                                 mu.held_by_caller, guard)
    monkeypatch.setattr(LockedReplica, "__init__", init)


def lock_raw_nodes(node: Any) -> list[Any]:
    """locks: the (guarded) RawNodes of an in-process node's replicas."""
    store = node.impl.store
    with store.mu:
        return [r.core.rn for r in store.replicas.values()]


#: design -> (install the guard before nodes start, list a started node's guarded RawNodes)
GUARDS_BY_DESIGN: dict[str, tuple[Callable[..., None], Callable[[Any], list[Any]]]] = {
    "actors": (guard_actor_replicas, actor_raw_nodes),
    "locks": (guard_lock_replicas, lock_raw_nodes),
}

#: RawNode methods a replica must have used under the load below.
EXPECTED_CALLS = {"tick", "step", "has_ready", "ready", "advance", "propose", "read_index", "status"}


def test_raw_node_touched_only_by_its_replica(make_cluster: Any, design: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Proves, under writes, linearizable reads, ticks, elections, heartbeats and STATUS on a
    3-node in-process cluster, that no RawNode is ever used from a thread other than the one
    running its replica at that moment; that the check really ran (every expected RawNode
    method was checked, on every replica of every node); and that it can fail: the same guard
    catches a RawNode call made from the test thread."""
    install, raw_nodes = GUARDS_BY_DESIGN[design]
    guard = ConfinementGuard()
    install(monkeypatch, guard)
    ranges = 16
    cluster = make_cluster("inproc", ranges=ranges)
    cluster.wait_all_led()
    table = cluster.range_table()
    keys = [key_in(r, f"c{i}") for r in table.values() for i in range(3)]
    client = cluster.client(timeout=10)
    stop = threading.Event()
    errors: list[BaseException] = []
    done = Counter()

    def load(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(400):
                if stop.is_set():
                    return
                key = rng.choice(keys)
                op = rng.random()
                if op < 0.4:
                    client.put(key, f"{seed}".encode())
                elif op < 0.8:
                    client.get(key)
                else:
                    client.cas(key, None, f"{seed}".encode())
                done[seed] += 1
        except ClientError as e:
            errors.append(e)

    threads = [threading.Thread(target=load, args=(i,), name=f"load-{i}") for i in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and any(t.is_alive() for t in threads):
            cluster.statuses()  # STATUS runs through every replica too
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    assert sum(done.values()) >= 100, f"too little load ran: {dict(done)}"
    # Let every replica quiesce: ticks, heartbeats and quiesce run through the guard as well.
    wait_until(lambda: all(all(r["quiesced"] for r in st["ranges"])
                           for st in cluster.statuses().values()), 60, "all ranges to quiesce",
               diagnose=cluster.describe)

    assert guard.violations == [], f"RawNode used off its replica's thread: {guard.violations[:20]}"
    missing = EXPECTED_CALLS - set(guard.checked)
    assert not missing, f"never checked: {missing} (checked: {dict(guard.checked)})"
    assert len(guard.owners) == 3 * ranges, f"guarded replicas: {sorted(guard.owners)}"

    # The check can fail: a RawNode call from this (test) thread is caught.
    rn = raw_nodes(cluster.nodes[1])[0]
    rn.has_ready()
    me = threading.current_thread().name
    assert guard.violations and all(v[1:] == ("has_ready", me) for v in guard.violations), \
        guard.violations  # caught at the attribute read and again at the call
