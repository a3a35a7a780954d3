"""``GroupCommit``: one engine write, and at most one fsync, per round of the store's raft loop
(both designs).

Replicas hand it their Ready's batch (``submit``). The thread that runs the store's raft loop
calls ``flush`` at the end of each round: in the actor design the pooled worker, once its ready
queue runs dry or after a bounded number of mailboxes (``ThreadPoolScheduler``'s
``after_round``); in the lock design the process_raft thread, after every replica with work.
Every batch submitted since the last flush is written as one atomic engine write, fsynced once
if any of them asked for it, and only then is each submitter told (``acknowledge``): the write
happens on the loop's own thread, with no hand-off to a writer thread and back (TiKV's
raftstore in its synchronous-write mode: a poller handles a batch of peers, then writes all
their Readies at once).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from multiraft.storage.engine import Engine, WriteBatch

from .counters import WriterCounters
from .fault_points import FaultPoint, FaultPoints
from .lifecycle import Fatal

__all__ = ["GroupCommit"]

T = TypeVar("T")


class GroupCommit(Generic[T]):
    """Invariants: ``_pending`` holds, in submission order, every batch submitted and not yet
    taken by a flush (guarded by ``_lock``); a flush writes what it took before it
    acknowledges any of it. Once a write failed (``failed``) nothing is written or
    acknowledged again: the node is stopping (``fatal``)."""

    __slots__ = ("engine", "fatal", "counters", "failed", "_acknowledge", "_lock",
                 "_flush_lock", "_pending", "_sync", "_faults")

    def __init__(self, engine: Engine, fatal: Fatal, acknowledge: Callable[[T], None],
                 faults: FaultPoints | None = None) -> None:
        """``acknowledge(token)`` is called, on the flushing thread, once the batch submitted
        with ``token`` is written (durably if it asked to be); a simulation's ``faults`` may
        delay one (``FaultPoint.DELAY_WRITE_ACK``)."""
        self._faults = faults
        self.engine = engine
        self.fatal = fatal
        self.counters = WriterCounters()
        self.failed = False
        self._acknowledge = acknowledge
        self._lock = threading.Lock()
        #: one flush at a time (two pooled workers may end a round at once)
        self._flush_lock = threading.Lock()
        self._pending: list[tuple[WriteBatch, T]] = []
        self._sync = False

    def submit(self, batch: WriteBatch, sync: bool, token: T) -> None:
        """Queue ``batch`` for the next flush (any thread)."""
        with self._lock:
            self._pending.append((batch, token))
            if sync:
                self._sync = True

    @property
    def pending(self) -> int:
        """Batches submitted and not yet flushed."""
        return len(self._pending)

    def flush(self) -> None:
        """Write every batch submitted so far as one engine write (one fsync if any asked for
        it), then acknowledge each, in submission order. Never raises: a failed write stops
        the node."""
        with self._flush_lock:
            with self._lock:
                group, self._pending = self._pending, []
                sync, self._sync = self._sync, False
            if not group or self.failed:
                return
            t0 = time.perf_counter()
            try:
                self.engine.write_many([batch for batch, _ in group], sync=sync)
            except Exception as e:  # ENOSPC, EIO, RocksDB's IOError: what reached disk is unknown
                self.failed = True
                self.fatal("durable write failed", e)
                return
            self.counters.record(len(group), time.perf_counter() - t0 if sync else None)
            faults = self._faults
            for _, token in group:
                if faults is not None and faults.delay(FaultPoint.DELAY_WRITE_ACK,
                                                       functools.partial(self._ack, token)):
                    continue
                self._ack(token)

    def _ack(self, token: T) -> None:
        try:
            self._acknowledge(token)
        except Exception as e:  # a bug: the node stops (the others are still told)
            self.fatal("acknowledging a durable write failed", e)

    def stop(self) -> None:
        """Write whatever is still queued (the node is stopping: nothing flushes after this)."""
        self.flush()
