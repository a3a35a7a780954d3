"""``StorageWriterActor``: group commit. Replicas hand it their Ready's batch; it commits every
batch queued at that moment with one fsync, then acknowledges each replica.

Grouping needs no access to the mailbox's internals: the first batch of a group queues a
``FLUSH`` to the writer itself, behind every batch already waiting, so the flush finds them all.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pykka

from multiraft.store.counters import WriterCounters
from multiraft.store.lifecycle import Fatal
from multiraft.storage.engine import Engine

from .fail_stop import FailStop
from .messages import FLUSH, WRITE_DONE, WriteRequest

__all__ = ["StorageWriterActor"]

log = logging.getLogger(__name__)


class StorageWriterActor(FailStop, pykka.ThreadingActor):
    """Invariant: ``_group`` holds the requests received since the last flush, in arrival order;
    a ``FLUSH`` is queued whenever it is non-empty. Once a write failed (``failed``) nothing is
    written or acknowledged again: the node is stopping (``fatal``)."""

    def __init__(self, engine: Engine, fatal: Fatal) -> None:
        super().__init__()
        self.engine = engine
        self.fatal = fatal
        self.counters = WriterCounters()
        self.failed = False
        self._group: list[WriteRequest] = []

    def on_receive(self, msg: Any) -> Any:
        if type(msg) is WriteRequest:
            if not self._group:
                self.actor_ref.tell(FLUSH)
            self._group.append(msg)
        elif msg is FLUSH:
            self._flush()
        else:
            return super().on_receive(msg)
        return None

    def on_stop(self) -> None:
        self._flush()  # whatever is queued is written before the node closes its engine

    def _flush(self) -> None:
        group, self._group = self._group, []
        if not group or self.failed:
            return
        sync = any(r.sync for r in group)
        t0 = time.perf_counter()
        # One atomic engine write and at most one fsync for the whole group.
        try:
            self.engine.write_many([r.batch for r in group], sync=sync)
        except Exception as e:  # ENOSPC, EIO, RocksDB's IOError: what reached the disk is unknown
            self.failed = True
            self.fatal("durable write failed", e)
            return
        self.counters.record(len(group), time.perf_counter() - t0 if sync else None)
        for r in group:
            try:
                r.reply_to.tell(WRITE_DONE)
            except pykka.ActorDeadError:
                pass  # the replica stopped meanwhile; its data is written all the same
