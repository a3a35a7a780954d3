"""The production scheduler: a few worker threads sharing one ready queue."""

from __future__ import annotations

import queue
import threading
import time

from multiraft.actors.runtime._scheduler import Task


class ThreadPoolScheduler:
    """Runs ready tasks on `workers` daemon threads that share one FIFO ready queue.

    Under the GIL more workers add no parallelism; a second one only keeps the runtime
    responsive while one handler is slow, so the default is 1. Idle workers block in the
    queue and cost no CPU. Threads are daemons so a program that forgets `stop()` still
    exits; `shutdown()` joins them so a clean stop leaks none.
    """

    def __init__(self, workers: int = 1, *, name: str = "pooled-actors") -> None:
        if workers < 1:
            msg = f"workers must be >= 1, got {workers}"
            raise ValueError(msg)
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
        """Worker loop: run tasks until the `None` sentinel that `shutdown()` queues."""
        get = self._ready.get
        while (task := get()) is not None:
            task.run()
