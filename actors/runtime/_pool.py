"""The production scheduler: a few worker threads sharing one ready queue."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from multiraft.actors.runtime._scheduler import Task

logger = logging.getLogger("actors.runtime")

#: Mailbox runs a worker makes, at most, before it ends a round (``after_round``) while its
#: ready queue never runs dry.
ROUND_TASKS = 256


class ThreadPoolScheduler:
    """Runs ready tasks on `workers` daemon threads that share one FIFO ready queue.

    Under the GIL more workers add no parallelism; a second one only keeps the runtime
    responsive while one handler is slow, so the default is 1. Idle workers block in the
    queue and cost no CPU. Threads are daemons so a program that forgets `stop()` still
    exits; `shutdown()` joins them so a clean stop leaks none.

    Rounds: given `after_round`, a worker calls it whenever its ready queue runs dry and after
    every `round_tasks` tasks in between, so what the tasks of a round produced (a store's
    writes: `store.group_commit`) is handled once per round, not once per task. A task it
    queues (a reply to a written batch) starts the next round. `after_round` must not raise
    (it is logged if it does).
    """

    def __init__(self, workers: int = 1, *, name: str = "pooled-actors",
                 after_round: Callable[[], None] | None = None,
                 round_tasks: int = ROUND_TASKS) -> None:
        if workers < 1:
            msg = f"workers must be >= 1, got {workers}"
            raise ValueError(msg)
        if round_tasks < 1:
            msg = f"round_tasks must be >= 1, got {round_tasks}"
            raise ValueError(msg)
        self._after_round = after_round
        self._round_tasks = round_tasks
        self._ready: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{index}", daemon=True)
            for index in range(workers)
        ]

    def start(self) -> None:
        """Start the worker threads; a pool starts at most once."""
        for thread in self._threads:
            thread.start()

    def submit(self, task: Task) -> None:
        """Queue `task` for the next free worker."""
        self._ready.put(task)

    def shutdown(self, done: threading.Event, timeout: float | None) -> bool:
        """Wait for `done`, then stop and join the workers, within `timeout` overall."""
        if threading.current_thread() in self._threads:
            msg = "a worker cannot shut down its own pool (it would join itself)"
            raise RuntimeError(msg)
        deadline = None if timeout is None else time.monotonic() + timeout
        finished = done.wait(timeout)
        started = [thread for thread in self._threads if thread.ident is not None]
        for _ in started:
            self._ready.put(None)
        for thread in started:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return finished and not any(thread.is_alive() for thread in started)

    def _work(self) -> None:
        """Worker loop: run tasks until the `None` sentinel that `shutdown()` queues, ending a
        round (`after_round`) when the queue runs dry, every `round_tasks` tasks, and last."""
        get = self._ready.get
        after_round = self._after_round
        if after_round is None:
            while (task := get()) is not None:
                task.run()
            return
        get_nowait, cap = self._ready.get_nowait, self._round_tasks
        ran = 0
        while True:
            try:
                task = get_nowait()
            except queue.Empty:
                if ran:  # the round is over; what it queued (replies) starts the next one
                    ran = 0
                    self._end_round(after_round)
                    continue
                task = get()
            if task is None:
                if ran:
                    self._end_round(after_round)
                return
            task.run()
            ran += 1
            if ran >= cap:
                ran = 0
                self._end_round(after_round)

    @staticmethod
    def _end_round(after_round: Callable[[], None]) -> None:
        try:
            after_round()
        except Exception:
            logger.exception("after_round raised")
