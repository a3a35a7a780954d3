"""`PooledRuntime`: many actors, each with its own mailbox, run by an injected scheduler."""

from __future__ import annotations

import enum
import threading
from typing import Any, Self, TypeVar

from pykka import Timeout

from multiraft.actors.runtime._actor import PooledActor
from multiraft.actors.runtime._mailbox import STOP, Mailbox
from multiraft.actors.runtime._pool import ThreadPoolScheduler
from multiraft.actors.runtime._ref import PooledActorRef
from multiraft.actors.runtime._scheduler import Scheduler
from multiraft.store.fault_points import FaultPoints

A = TypeVar("A", bound=PooledActor)


class _State(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


class PooledRuntime:
    """Owns a scheduler and the actors spawned on it; no per-actor thread, no globals.

    Lifecycle is explicit: `start()`, `spawn()` any number of actors (also before start:
    their messages wait), `stop(timeout)` stops every actor (each runs `on_stop`) and
    joins the scheduler's threads. Usable as a context manager.
    """

    def __init__(self, scheduler: Scheduler | None = None, *, batch_size: int = 64,
                 faults: FaultPoints | None = None) -> None:
        """`scheduler` defaults to a one-worker `ThreadPoolScheduler`.

        `batch_size` bounds how many messages an actor handles per turn before the worker
        moves to the next ready actor (fairness). `faults`: a simulation's fault points
        (None in production).
        """
        self._faults = faults
        if batch_size < 1:
            msg = f"batch_size must be >= 1, got {batch_size}"
            raise ValueError(msg)
        self.scheduler: Scheduler = scheduler if scheduler is not None else ThreadPoolScheduler()
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._live: set[Mailbox] = set()
        """Mailboxes of actors not yet stopped. Guarded by `_lock`."""
        self._state = _State.NEW
        """Only moves forward. Guarded by `_lock`."""
        self._all_stopped = threading.Event()
        """Set once stopping and `_live` is empty."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def actor_count(self) -> int:
        """Number of live actors."""
        return len(self._live)

    def start(self) -> Self:
        """Start the scheduler; a runtime starts once."""
        with self._lock:
            if self._state is not _State.NEW:
                msg = f"runtime is {self._state.value}, cannot start"
                raise RuntimeError(msg)
            self._state = _State.RUNNING
        self.scheduler.start()
        return self

    def spawn(self, actor_class: type[A], *args: Any, **kwargs: Any) -> PooledActorRef[A]:
        """Create an actor (its `__init__` runs here, in the caller) and return its handle.

        Raises whatever `__init__` raises, and RuntimeError once the runtime is stopping.
        """
        actor = actor_class.__new__(actor_class)
        mailbox = Mailbox(
            actor,
            submit=self.scheduler.submit,
            on_stopped=self._forget,
            batch_size=self._batch_size,
            faults=self._faults,
        )
        actor.actor_ref = PooledActorRef(actor, mailbox)
        try:
            actor.__init__(*args, **kwargs)  # type: ignore[misc]
        except BaseException:
            mailbox.alive = False
            raise
        with self._lock:
            if self._state in (_State.STOPPING, _State.STOPPED):
                mailbox.alive = False
                msg = "runtime is stopping, cannot spawn"
                raise RuntimeError(msg)
            self._live.add(mailbox)
        mailbox.activate()
        return actor.actor_ref

    def stop(self, timeout: float | None = None) -> None:
        """Stop every actor after the messages already queued, then join the threads.

        Also valid on a runtime never started: its actors start and stop, then it is done.

        Raises `pykka.Timeout` if that takes longer than `timeout` seconds (a handler
        that never returns); the runtime cannot be restarted either way.
        """
        with self._lock:
            if self._state is _State.STOPPED:
                return
            never_started = self._state is _State.NEW
            self._state = _State.STOPPING
            mailboxes = list(self._live)
            if not mailboxes:
                self._all_stopped.set()
        if never_started:  # actors spawned before start still get on_start and on_stop
            self.scheduler.start()
        for mailbox in mailboxes:
            mailbox.post((STOP, None))
        finished = self.scheduler.shutdown(self._all_stopped, timeout)
        with self._lock:
            self._state = _State.STOPPED
        if not finished:
            msg = f"{len(self._live)} actors or workers still running after {timeout} s"
            raise Timeout(msg)

    def _forget(self, mailbox: Mailbox) -> None:
        """Called by a mailbox, on its worker, when its actor stops or fails."""
        with self._lock:
            self._live.discard(mailbox)
            if self._state is _State.STOPPING and not self._live:
                self._all_stopped.set()
