"""A single-threaded scheduler for tests and deterministic simulation."""

from __future__ import annotations

import collections
import random
import threading

from multiraft.actors.runtime._scheduler import Task


class ManualScheduler:
    """Runs nothing on its own: the caller steps it with `run_one()` / `run_until_idle()`.

    Every task runs on the caller's thread, in FIFO order, or, given a seeded `rng`, in
    an order drawn from it, so a failing interleaving replays exactly from its seed.
    `submit()` may be called from any thread (a deque append), so host threads and pykka
    actors can still send messages in. A blocking `ask()` on an actor of this runtime would
    wait forever: ask with `block=False`, step, then read the future.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._ready: collections.deque[Task] = collections.deque()
        self._rng = rng

    @property
    def pending(self) -> int:
        """Number of tasks queued to run."""
        return len(self._ready)

    def start(self) -> None:
        """Nothing to start: the caller's thread does the work."""

    def submit(self, task: Task) -> None:
        """Queue `task`; it runs on a later `run_one()`."""
        self._ready.append(task)

    def run_one(self) -> bool:
        """Run one queued task; return False if none was queued."""
        if not self._ready:
            return False
        if self._rng is None:
            task = self._ready.popleft()
        else:
            index = self._rng.randrange(len(self._ready))
            task = self._ready[index]
            del self._ready[index]
        task.run()
        return True

    def run_until_idle(self, max_steps: int = 1_000_000) -> int:
        """Run tasks until none is queued; return how many ran.

        Raises RuntimeError after `max_steps` so actors that keep messaging each other
        forever fail a test instead of hanging it.
        """
        steps = 0
        while self.run_one():
            steps += 1
            if steps >= max_steps and self._ready:
                msg = f"still busy after {max_steps} steps"
                raise RuntimeError(msg)
        return steps

    def shutdown(self, done: threading.Event, timeout: float | None) -> bool:  # noqa: ARG002
        """Run tasks until `done` is set or nothing is left; there are no threads to join."""
        while not done.is_set() and self.run_one():
            pass
        return done.is_set()
