"""``SnapshotSender``: one thread per node that streams snapshots off the replicas' threads.

A large range's snapshot takes a while to read and send; on the replica's own thread it would
stall the replica (and in the actor design the pooled worker running other replicas). The
sender reads each stream's chunks from its consistent engine view and hands them to the
transport with at most ``window`` bytes per peer not yet taken by ZeroMQ, so a stream never
holds more than that in memory, and a slow or dead follower costs nothing but its own stream:
one whose peer takes nothing for ``stall_timeout`` seconds is abandoned. ``rate`` (bytes per
second, 0: unbounded) paces all its streams together, so filling a new replica (or
rebalancing) leaves the node's disk and network to serving (CockroachDB's
``kv.snapshot_rebalance.max_rate``).

The replica that asked learns how it went by polling ``outcome`` from its own thread (the
sender never calls into a replica): ``SENDING``, then ``(sent bytes, when)`` or ``ABANDONED``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator
from typing import Any, Final

from multiraft.transport.codec import SnapshotChunk

__all__ = ["SnapshotSender", "SENDING", "ABANDONED", "SentStream", "DEFAULT_SNAPSHOT_RATE"]

#: Snapshot bytes a node sends per second, all streams together (CockroachDB's default).
DEFAULT_SNAPSHOT_RATE = 32 << 20

log = logging.getLogger(__name__)

SENDING: Final = "sending"
ABANDONED: Final = "abandoned"
#: (bytes sent, time.monotonic() when the last chunk was handed over)
SentStream = tuple[int, float]

_STOP = object()


class SnapshotSender:
    """Invariant: ``_outcomes`` holds an entry for every submitted stream until its replica
    ``forget``s it; written by the sender thread (and ``submit``), under ``_lock``."""

    def __init__(self, transport: Any, window: int = 4 << 20, stall_timeout: float = 10.0,
                 node_id: int = 0, rate: float = 0.0) -> None:
        self._transport = transport
        self.window = window
        self.rate = rate
        #: when the bytes sent so far are paid for at ``rate`` (time.monotonic())
        self._paid_until = 0.0
        self.stall_timeout = stall_timeout
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._outcomes: dict[tuple[int, int], str | SentStream] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"snapshot-sender-{node_id}",
                                        daemon=True)

    def start(self) -> SnapshotSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Abandon the stream in progress and the queued ones; end the thread."""
        self._stopping = True
        self._jobs.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(30)

    def submit(self, node_id: int, range_id: int, stream_id: int,
               chunks: Generator[SnapshotChunk, None, None]) -> None:
        """Queue a stream for ``node_id`` (any thread); ``chunks`` is read on the sender's
        thread and closed when the stream ends or is abandoned."""
        with self._lock:
            self._outcomes[(range_id, stream_id)] = SENDING
        self._jobs.put((node_id, range_id, stream_id, chunks))

    def outcome(self, range_id: int, stream_id: int) -> str | SentStream | None:
        """How the stream went so far (None: not submitted, or forgotten)."""
        with self._lock:
            return self._outcomes.get((range_id, stream_id))

    def forget(self, range_id: int, stream_id: int) -> None:
        with self._lock:
            self._outcomes.pop((range_id, stream_id), None)

    # -- the sender thread --

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            node_id, range_id, stream_id, chunks = job
            try:
                result: str | SentStream = (ABANDONED if self._stopping else
                                            self._stream(node_id, range_id, stream_id, chunks))
            except Exception:
                log.exception("range %d: snapshot stream %d to node %d failed", range_id,
                              stream_id, node_id)
                result = ABANDONED
            finally:
                chunks.close()  # releases the engine view
            with self._lock:
                if (range_id, stream_id) in self._outcomes:
                    self._outcomes[(range_id, stream_id)] = result

    def _stream(self, node_id: int, range_id: int, stream_id: int,
                chunks: Generator[SnapshotChunk, None, None]) -> str | SentStream:
        t = self._transport
        sent = 0
        for chunk in chunks:
            stalled_at = time.monotonic()
            while t.snapshot_bytes_queued(node_id) >= self.window:
                if self._stopping or time.monotonic() - stalled_at > self.stall_timeout:
                    log.warning("range %d: abandoned snapshot stream %d to node %d after %d "
                                "bytes: the node takes nothing", range_id, stream_id, node_id,
                                sent)
                    return ABANDONED
                time.sleep(0.002)
            self._pace(len(chunk.data))
            t.send_snapshot_chunk(node_id, chunk)
            sent += len(chunk.data)
        return sent, time.monotonic()

    def _pace(self, size: int) -> None:
        """Wait until ``size`` more bytes keep the sender within ``rate``."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        self._paid_until = max(self._paid_until, now) + size / self.rate
        wait = self._paid_until - now - size / self.rate  # (a chunk's own bytes go at once)
        if wait > 0 and not self._stopping:
            time.sleep(wait)
