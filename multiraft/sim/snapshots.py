"""``SimSnapshotSender``: the node's snapshot streamer on virtual time.

The same contract as ``replica.snapshot_sender.SnapshotSender`` (``submit``, ``outcome``,
``forget``), without its thread: each chunk is read and handed to the transport in an event of
its own, ``len(chunk) / rate`` virtual seconds after the one before (all streams share the
rate), so a snapshot takes time and the node serves meanwhile. The simulated transport never
backs up, so there is no window to wait for and no stall to abandon on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Generator
from typing import Any

from multiraft.replica.snapshot_sender import ABANDONED, SENDING, SentStream
from multiraft.transport.codec import SnapshotChunk

from .world import World

__all__ = ["SimSnapshotSender"]

log = logging.getLogger(__name__)

_Job = tuple[int, int, int, Generator[SnapshotChunk, None, None]]


class SimSnapshotSender:
    """Invariant: ``_outcomes`` holds an entry for every submitted stream until it is
    forgotten; ``_jobs[0]`` is the stream being sent while ``_pumping``."""

    def __init__(self, world: World, transport: Any, rate: float) -> None:
        self.world = world
        self._transport = transport
        #: bytes a second (0: a chunk per event, at once)
        self.rate = rate
        self._jobs: deque[_Job] = deque()
        self._sent: dict[tuple[int, int], int] = {}
        self._outcomes: dict[tuple[int, int], str | SentStream] = {}
        self._pumping = False
        self._stopped = False

    def start(self) -> SimSnapshotSender:
        return self

    def stop(self) -> None:
        """Abandon every stream (the node stops or crashes)."""
        self._stopped = True
        for _, range_id, stream_id, chunks in self._jobs:
            chunks.close()
            if (range_id, stream_id) in self._outcomes:
                self._outcomes[(range_id, stream_id)] = ABANDONED
        self._jobs.clear()

    def submit(self, node_id: int, range_id: int, stream_id: int,
               chunks: Generator[SnapshotChunk, None, None]) -> None:
        self._outcomes[(range_id, stream_id)] = SENDING
        if self._stopped:
            chunks.close()
            self._outcomes[(range_id, stream_id)] = ABANDONED
            return
        self._jobs.append((node_id, range_id, stream_id, chunks))
        if not self._pumping:
            self._pumping = True
            self.world.after(0.0, self._pump)

    def outcome(self, range_id: int, stream_id: int) -> str | SentStream | None:
        return self._outcomes.get((range_id, stream_id))

    def forget(self, range_id: int, stream_id: int) -> None:
        self._outcomes.pop((range_id, stream_id), None)

    def _pump(self) -> None:
        """Send the next chunk of the first stream (or finish it), then schedule the next."""
        if self._stopped or not self._jobs:
            self._pumping = False
            return
        node_id, range_id, stream_id, chunks = self._jobs[0]
        key = (range_id, stream_id)
        try:
            chunk = next(chunks, None)
            failed = False
        except Exception:  # reading the engine view failed: as the real sender, abandon
            log.exception("range %d: snapshot stream %d to node %d failed", range_id,
                          stream_id, node_id)
            chunk, failed = None, True
        delay = 0.0
        if chunk is None:
            self._jobs.popleft()
            chunks.close()
            sent = self._sent.pop(key, 0)
            if key in self._outcomes:
                self._outcomes[key] = ABANDONED if failed else (sent, self.world.now)
        else:
            self._transport.send_snapshot_chunk(node_id, chunk)
            self._sent[key] = self._sent.get(key, 0) + len(chunk.data)
            if self.rate > 0:
                delay = len(chunk.data) / self.rate
        self.world.after(delay, self._pump)
