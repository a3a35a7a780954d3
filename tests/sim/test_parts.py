"""The simulation's own parts, each on its own: the world's clock and event order, the disk's
crash semantics, the network's faults, the scheduler's rounds. (Simulated by design: these
are the test doubles of the whole-cluster simulation, tested so a bug in them is not taken for
one of the node.)"""

from __future__ import annotations

import threading

from multiraft.sim.disk import SimDisk, SyncFailed
from multiraft.sim.network import LinkFaults, SimNetwork
from multiraft.sim.scheduler import SimScheduler
from multiraft.sim.world import World
from multiraft.store.config import NodeConfig


def test_events_run_in_time_order_and_ties_in_scheduling_order() -> None:
    w = World(1)
    seen: list[str] = []
    w.after(0.2, seen.append, "late")
    w.after(0.1, seen.append, "a")
    w.after(0.1, seen.append, "b")
    w.run_until(1.0)
    assert seen == ["a", "b", "late"] and w.now == 1.0 and w.events == 3


def test_the_trace_hash_depends_on_what_ran_when() -> None:
    def run(delay: float) -> str:
        w = World(1)
        w.after(delay, lambda: None)
        w.run_until(1.0)
        return w.trace_hash
    assert run(0.1) == run(0.1) != run(0.2)


def _written(disk: SimDisk, key: bytes, sync: bool) -> None:
    engine = disk._engine  # noqa: SLF001 (the incarnation's engine)
    assert engine is not None
    b = engine.batch()
    b.put(key, b"v")
    engine.write(b, sync=sync)


def test_a_crash_keeps_what_was_synced_and_a_prefix_of_the_rest() -> None:
    config = NodeConfig(node_id=1, engine="memory")
    for seed in range(20):
        disk = SimDisk(World(seed))
        disk.open(config)
        _written(disk, b"a", sync=False)
        _written(disk, b"b", sync=True)  # makes a and b durable
        for k in (b"c", b"d", b"e"):
            _written(disk, k, sync=False)
        disk.crash()
        engine, _ = disk.open(config)
        kept = [k for k in (b"c", b"d", b"e") if engine.get(k) is not None]
        assert engine.get(b"a") == engine.get(b"b") == b"v"
        assert kept == [b"c", b"d", b"e"][:len(kept)], "a prefix of the unsynced writes"
        assert disk.lost_writes == 3 - len(kept)


def test_crashes_lose_every_amount_of_unsynced_writes_across_seeds() -> None:
    config = NodeConfig(node_id=1, engine="memory")
    kept = set()
    for seed in range(30):
        disk = SimDisk(World(seed))
        disk.open(config)
        for k in (b"c", b"d"):
            _written(disk, k, sync=False)
        disk.crash()
        engine, _ = disk.open(config)
        kept.add(sum(engine.get(k) is not None for k in (b"c", b"d")))
    assert kept == {0, 1, 2}


def test_a_failed_sync_writes_nothing_and_raises() -> None:
    config = NodeConfig(node_id=1, engine="memory")
    disk = SimDisk(World(1), fail_syncs=1.0)
    engine, _ = disk.open(config)
    b = engine.batch()
    b.put(b"k", b"v")
    try:
        engine.write(b, sync=True)
    except SyncFailed:
        pass
    else:
        raise AssertionError("the sync did not fail")
    assert engine.get(b"k") is None and disk.failed_syncs == 1


class _Endpoint:
    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self.frames: list[bytes] = []

    def receive(self, frame: bytes) -> None:
        self.frames.append(frame)


def test_a_partition_loses_frames_both_ways_until_healed() -> None:
    w = World(1)
    net = SimNetwork(w, LinkFaults(latency=0.001, jitter=0.0))
    a, b = _Endpoint(1), _Endpoint(2)
    net.attach(a)  # type: ignore[arg-type]
    net.attach(b)  # type: ignore[arg-type]
    net.isolate({1}, {2})
    net.send(1, 2, b"x")
    net.send(2, 1, b"y")
    w.run_until(1.0)
    assert a.frames == b.frames == [] and net.dropped == 2
    net.heal()
    net.send(1, 2, b"z")
    w.run_until(2.0)
    assert b.frames == [b"z"]


def test_a_lossy_link_drops_and_duplicates_about_as_often_as_told() -> None:
    w = World(1)
    net = SimNetwork(w, LinkFaults(drop=0.2, duplicate=0.1))
    b = _Endpoint(2)
    net.attach(b)  # type: ignore[arg-type]
    for _ in range(2000):
        net.send(1, 2, b"x")
    w.run_until(10.0)
    # 2000 * 0.8 sent, each duplicated with 0.1: about 1760 arrive
    assert 1600 < len(b.frames) < 1920 and 300 < net.dropped < 500


class _Task:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def run(self) -> None:
        self.log.append(self.name)


def test_a_turn_runs_the_ready_tasks_then_ends_the_round() -> None:
    w = World(3)
    log: list[str] = []
    s = SimScheduler(w, "t", after_round=lambda: log.append("round"))
    for name in "abc":
        s.submit(_Task(log, name))
    w.run_until(1.0)
    assert sorted(log[:3]) == ["a", "b", "c"] and log[3:] == ["round"]


def test_the_order_of_ready_tasks_varies_with_the_seed() -> None:
    orders = set()
    for seed in range(10):
        w = World(seed)
        log: list[str] = []
        s = SimScheduler(w, "t", after_round=None)
        for name in "abcd":
            s.submit(_Task(log, name))
        w.run_until(1.0)
        orders.add("".join(log))
    assert len(orders) > 1


def test_a_halted_scheduler_runs_nothing_more() -> None:
    w = World(1)
    log: list[str] = []
    s = SimScheduler(w, "t", after_round=None)
    s.submit(_Task(log, "a"))
    s.halt()
    s.submit(_Task(log, "b"))
    w.run_until(1.0)
    assert log == [] and not s.shutdown(threading.Event(), None)
