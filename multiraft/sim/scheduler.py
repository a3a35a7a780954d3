"""``SimScheduler``: the scheduler of one node runtime in the simulation.

It implements the runtime's ``Scheduler`` protocol (``actors.runtime``) on the ``World``:
mailboxes with work wait in a ready list, and a turn of the node's worker is an event that
runs up to ``ROUND_TASKS`` of them, chosen by the world's seeded random source (so every seed
tries another interleaving of the node's actors), then ends the round (``after_round``: the
group commit), exactly as ``ThreadPoolScheduler``'s worker does. A turn costs virtual time
(``task_cost`` per mailbox, and the next turn waits for the disk: ``busy_until``, an fsync's
time), so a busy node is slower to answer, as a real one is.

A crashed node's scheduler is ``halted``: what is queued is dropped and nothing runs again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from multiraft.actors.runtime import Task
from multiraft.actors.runtime._pool import ROUND_TASKS

from .world import World

__all__ = ["SimScheduler"]


class SimScheduler:
    """Invariant: ``_turn_queued`` is set exactly while a turn is queued in the world or
    running."""

    __slots__ = ("world", "name", "halted", "task_cost", "_after_round", "_disk_busy",
                 "_ready", "_turn_queued", "_busy_until", "on_ran")

    def __init__(self, world: World, name: str, after_round: Callable[[], None] | None,
                 disk_busy: Callable[[], float] | None = None,
                 task_cost: float = 20e-6) -> None:
        """``disk_busy()``: until when the node's disk is busy (its last fsync's end)."""
        self.world = world
        self.name = name
        self.halted = False
        self.task_cost = task_cost
        self._after_round = after_round
        self._disk_busy = disk_busy
        self._ready: list[Task] = []
        self._turn_queued = False
        self._busy_until = 0.0
        #: called with each task after it ran (the invariant checker's hook), or None
        self.on_ran: Callable[[Task], None] | None = None

    def start(self) -> None:
        """Nothing to start: the world runs the turns."""

    def submit(self, task: Task) -> None:
        if self.halted:
            return
        self._ready.append(task)
        if not self._turn_queued:
            self._turn_queued = True
            w = self.world
            w.after(max(self._busy_until - w.now, self.task_cost), self._turn)

    def halt(self) -> None:
        """The node crashed: drop what waits, run nothing more."""
        self.halted = True
        self._ready.clear()

    def pause(self, until: float) -> None:
        """The node's process is stopped (SIGSTOP) until virtual time ``until``."""
        self._busy_until = max(self._busy_until, until)

    def _turn(self) -> None:
        # ``_turn_queued`` stays set while the turn runs: what its tasks and the round's end
        # submit (the write acknowledgements) waits for the next turn, scheduled below.
        if self.halted:
            return
        w = self.world
        if w.now < self._busy_until:  # paused meanwhile: the turn waits
            w.after(self._busy_until - w.now, self._turn)
            return
        ready, rng, hook = self._ready, self.world.rng, self.on_ran
        ran = 0
        while ready and ran < ROUND_TASKS:
            i = rng.randrange(len(ready))
            task = ready[i]
            ready[i] = ready[-1]
            ready.pop()
            task.run()
            ran += 1
            if self.halted:  # the task crashed its node (a fail-stop)
                return
            if hook is not None:
                hook(task)
        if self._after_round is not None:
            self._after_round()
        now = self.world.now
        self._busy_until = now + ran * self.task_cost
        if self._disk_busy is not None:
            self._busy_until = max(self._busy_until, self._disk_busy())
        if ready and not self.halted:
            self.world.after(self._busy_until - now, self._turn)
        else:
            self._turn_queued = False

    def shutdown(self, done: threading.Event, timeout: float | None) -> bool:  # noqa: ARG002
        """Run turns (virtual time does not pass) until ``done`` or nothing is ready."""
        while not done.is_set() and self._ready and not self.halted:
            self._turn()
        return done.is_set()
