"""``GroupCommitWriter``: the lock-based design's storage writer: one thread that commits every
batch queued at the moment it wakes as one engine write with at most one fsync (the same group
commit as the actor design's writer), then tells each replica its write is durable."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from multiraft.store.counters import WriterCounters
from multiraft.store.lifecycle import Fatal
from multiraft.storage.engine import Engine, WriteBatch

__all__ = ["GroupCommitWriter"]

_STOP = object()


class GroupCommitWriter:
    """Invariant: ``counters`` is written by the writer thread only. Once a write failed
    (``failed``) nothing is written or acknowledged again: the node is stopping (``fatal``)."""

    def __init__(self, engine: Engine, fatal: Fatal) -> None:
        self.engine = engine
        self.fatal = fatal
        self.failed = False
        self.counters = WriterCounters()
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: WriteBatch, sync: bool, replica: Any) -> None:
        """Queue ``batch``; ``replica.on_write_durable()`` is called once it is written."""
        self._q.put((batch, sync, replica))

    def stop(self) -> None:
        """Write whatever is queued, then end the thread."""
        self._q.put(_STOP)
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        get, get_nowait = self._q.get, self._q.get_nowait
        stopping = False
        while not stopping:
            group = [get()]
            while True:  # everything queued right now joins the group
                try:
                    group.append(get_nowait())
                except queue.Empty:
                    break
            if _STOP in group:
                stopping = True
                group = [g for g in group if g is not _STOP]
            if not group or self.failed:
                continue
            sync = any(s for _, s, _ in group)
            t0 = time.perf_counter()
            try:
                self.engine.write_many([b for b, _, _ in group], sync=sync)
            except Exception as e:  # ENOSPC, EIO, RocksDB's IOError: the disk's state is unknown
                self.failed = True
                self.fatal("durable write failed", e)
                continue
            self.counters.record(len(group), time.perf_counter() - t0 if sync else None)
            for _, _, replica in group:
                replica.on_write_durable()
