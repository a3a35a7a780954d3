"""The scheduler interface: what runs ready mailboxes, and on which thread.

The runtime never creates threads itself; it hands every mailbox that has work to an
injected scheduler. The threaded pool (`ThreadPoolScheduler`) is the production
implementation; `ManualScheduler` runs everything on the caller's thread, step by step, so
tests (and later a whole-node deterministic simulation) choose the interleaving.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Task(Protocol):
    """A unit of work a scheduler runs: in practice one actor's mailbox.

    `run()` never raises, and the runtime submits a task again only after the previous
    `run()` of that task returned, so a scheduler may run any two different tasks
    concurrently without breaking the one-worker-per-actor invariant.
    """

    def run(self) -> None:
        """Process a bounded batch of work, then return."""


class Scheduler(Protocol):
    """Runs submitted tasks; implementations decide on which thread and in which order."""

    def start(self) -> None:
        """Begin running tasks (for a thread pool: start the worker threads)."""

    def submit(self, task: Task) -> None:
        """Queue `task` to run once. Thread-safe, O(1), allocates nothing per call."""

    def shutdown(self, done: threading.Event, timeout: float | None) -> bool:
        """Keep running tasks until `done` is set, then release every thread.

        Returns True when `done` was set and every thread the scheduler started has
        exited within `timeout` seconds (None: wait forever).
        """
