"""The node's fault points (``store.fault_points``, FoundationDB's BUGGIFY): with none injected
the code runs as it always did; with a simulation's, the guarded work runs later, never not at
all and never twice. (The simulation's side, ``Buggify``, on a ``World``: simulated by design.)"""

from __future__ import annotations

from collections.abc import Callable

from multiraft.actors.runtime import ManualScheduler, PooledActor, PooledRuntime
from multiraft.sim.buggify import Buggify
from multiraft.sim.world import World
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.store.fault_points import FaultPoint
from multiraft.store.group_commit import GroupCommit


class _Always:
    """Fires every time, and keeps what it was handed to run later."""

    def __init__(self, point: FaultPoint) -> None:
        self.point = point
        self.later: list[Callable[[], None]] = []

    def delay(self, point: FaultPoint, later: Callable[[], None]) -> bool:
        if point is not self.point:
            return False
        self.later.append(later)
        return True


def _fatal(what: str, error: BaseException) -> None:
    raise AssertionError(f"{what}: {error!r}")


def test_a_delayed_write_acknowledgement_comes_later_and_once() -> None:
    engine = MemoryEngine()
    acked: list[str] = []
    faults = _Always(FaultPoint.DELAY_WRITE_ACK)
    gc = GroupCommit(engine, _fatal, acked.append, faults)
    b = engine.batch()
    b.put(b"k", b"v")
    gc.submit(b, True, "r1")
    gc.flush()
    assert engine.get(b"k") == b"v" and acked == [], "written, not yet acknowledged"
    faults.later.pop()()
    assert acked == ["r1"]


def test_without_fault_points_the_acknowledgement_is_immediate() -> None:
    engine = MemoryEngine()
    acked: list[str] = []
    gc = GroupCommit(engine, _fatal, acked.append)
    b = engine.batch()
    b.put(b"k", b"v")
    gc.submit(b, True, "r1")
    gc.flush()
    assert acked == ["r1"]


class _Recorder(PooledActor):
    def __init__(self, seen: list[object]) -> None:
        self.seen = seen

    def on_receive(self, message: object) -> None:
        self.seen.append(message)


def test_a_delayed_mailbox_turn_handles_its_messages_when_resumed() -> None:
    scheduler = ManualScheduler()
    faults = _Always(FaultPoint.DELAY_MAILBOX_TURN)
    runtime = PooledRuntime(scheduler, faults=faults).start()
    seen: list[object] = []
    ref = runtime.spawn(_Recorder, seen)
    ref.tell("a")
    scheduler.run_until_idle()
    assert seen == [] and len(faults.later) == 1, "the turn was put off"
    ref.tell("b")  # the token is still held: no second submission
    assert scheduler.pending == 0
    faults.point = FaultPoint.DELAY_WRITE_ACK  # fires no more
    faults.later.pop()()
    scheduler.run_until_idle()
    assert seen == ["a", "b"]


def test_buggify_fires_only_the_points_it_switched_on() -> None:
    ons = set()
    for seed in range(20):
        w = World(seed)
        b = Buggify(w)
        ons.add(b.on)
        for point in FaultPoint:
            fired = sum(b.delay(point, lambda: None) for _ in range(500))
            assert (fired > 0) == (point in b.on)
        w.run_until(1.0)
    assert len(ons) > 1, "seeds differ in which points are on"
    assert Buggify(World(1), enabled=False).on == frozenset()
