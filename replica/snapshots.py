"""Moving a range's snapshot between replicas as a verified stream.

The MsgSnap only names the snapshot; its data travels as a *stream* of chunks that all carry
the stream's id (a new one each time a leader sends a snapshot): chunk 0 is the header
(descriptor, applied state), chunks 1..n the data (each bounded), and the ``last`` chunk a
trailer ``[count, digest]``: the number of chunks before it and a BLAKE2b digest of their data.

The receiver (``SnapshotReceiver``) takes a chunk only if it belongs to the stream in progress
(same sender, term and stream id) and is the next one; an exact repeat of the previous chunk is
ignored (duplicated delivery), anything else ends the stream, refused. Each data chunk is checked
(``chunk_pairs``: a key outside the header's range refuses the stream) and its pairs are staged
on disk (``storage.snapshot_staging``), never kept in memory; a refused or superseded stream's
staged pairs are removed. At the trailer, count and digest must match, or the stream is refused.
Only then is the staged snapshot sealed and raft handed the snapshot; nothing of the range is
written before that, and the install (``storage.snapshot_install``) is whole or nothing even
across a crash: a stream is installed whole or not at all. The receiver
answers every stream once (``SnapshotAck``: accepted after the install is durable, or refused),
and the sender reports the snapshot to raft from that answer, or as failed if none comes in time
(``SNAPSHOT_TIMEOUT``), or at once if its frames to the follower's node were dropped
(unreachable): raft then sends it again.

A stream id is unique per (sender replica, term): one leader per term, and its ids only grow.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Generator
from dataclasses import dataclass

import msgpack

from multiraft.raft import Message, MessageType as MT, Snapshot
from multiraft.storage.engine import Engine
from multiraft.storage.snapshot import SnapshotHeader, SnapshotSource, chunk_pairs
from multiraft.storage.snapshot_staging import SnapshotStaging, StagedSnapshot
from multiraft.transport.codec import SnapshotChunk

__all__ = ["snapshot_chunks", "SnapshotReceiver", "StreamOutcome", "IncomingStream",
           "SNAPSHOT_TIMEOUT", "SNAPSHOT_SLOW_BYTES_PER_S"]

log = logging.getLogger(__name__)

#: Seconds a sender waits for the receiver's answer, once the stream is queued, before it
#: reports the snapshot failed; plus a second per ``SNAPSHOT_SLOW_BYTES_PER_S`` of the stream.
SNAPSHOT_TIMEOUT = 10.0
SNAPSHOT_SLOW_BYTES_PER_S = 4 << 20


def _digest() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=16)


def snapshot_chunks(engine: Engine, range_id: int, m: Message,
                    stream_id: int) -> Generator[SnapshotChunk, None, None]:
    """The stream of range ``range_id``'s snapshot for the MsgSnap ``m``, read from one
    consistent engine view (released when the iterator ends or is closed)."""
    src = SnapshotSource(engine, range_id)
    try:
        md = src.header.metadata()
        digest = _digest()
        header = src.header.encode()
        digest.update(header)
        yield SnapshotChunk(range_id, m.from_, m.to, m.term, md, 0, False, header, stream_id)
        i = 0
        for i, data in enumerate(src.chunks(), 1):
            digest.update(data)
            yield SnapshotChunk(range_id, m.from_, m.to, m.term, md, i, False, data, stream_id)
        trailer = msgpack.packb([i + 1, digest.digest()])
        yield SnapshotChunk(range_id, m.from_, m.to, m.term, md, i + 1, True, trailer, stream_id)
    finally:
        src.close()


@dataclass(slots=True)
class IncomingStream:
    """The stream in progress. Invariant: chunks ``0..next_index-1`` were taken, in order,
    ``digest`` covers their data and ``staged`` holds their pairs (sealed once it is complete)."""

    from_node: int
    from_replica: int
    term: int
    stream_id: int
    header: SnapshotHeader
    staged: StagedSnapshot
    digest: hashlib.blake2b
    next_index: int = 1
    last_data: bytes = b""


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """What one chunk did: completed a stream (``completed``: the verified stream, its staged
    pairs sealed, for the caller to install or discard; ``snapshot``: the MsgSnap to step), ended
    one refused (``refused``: its id, to answer at ``reply_to``: (node, replica) of its sender),
    or neither."""

    snapshot: Message | None = None
    completed: IncomingStream | None = None
    refused: int | None = None
    stream_id: int = 0
    reply_to: tuple[int, int] = (0, 0)


_NOTHING = StreamOutcome()


class SnapshotReceiver:
    """Assembles one incoming stream at a time. Invariants: ``stream`` is the stream in
    progress (its header was accepted), None between streams; a stream that ended refused or
    replaced has had its staged pairs discarded (a completed one is the caller's)."""

    __slots__ = ("range_id", "stream", "_refused", "_staging")

    def __init__(self, range_id: int, staging: SnapshotStaging) -> None:
        self.range_id = range_id
        self._staging = staging
        self.stream: IncomingStream | None = None
        self._refused = -1  # the last stream id refused (answer each stream once)

    def add(self, c: SnapshotChunk, from_node: int) -> StreamOutcome:
        """Take one chunk (see the module docstring for the rules)."""
        s = self.stream
        if c.index == 0:
            if s is not None and s.stream_id == c.stream_id and s.term == c.term \
                    and s.from_replica == c.from_replica:
                return _NOTHING  # a repeated header
            return self._start(c, from_node)
        sender = (from_node, c.from_replica)
        if s is None or (s.stream_id, s.term, s.from_replica) != (c.stream_id, c.term,
                                                                   c.from_replica):
            return self._refuse(c.stream_id, sender, "a chunk of a stream not in progress")
        if c.index == s.next_index - 1 and c.data == s.last_data:
            return _NOTHING  # a duplicate of the chunk just taken
        if c.index != s.next_index:
            return self._refuse(c.stream_id, sender,
                                f"chunk {c.index} where {s.next_index} was due")
        if c.last:
            return self._finish(s, c)
        try:
            pairs = chunk_pairs(s.header.descriptor, c.data)
        except Exception as e:  # any malformed chunk: refuse the stream, never crash the replica
            return self._refuse(c.stream_id, sender, str(e))
        s.staged.append(pairs)
        s.digest.update(c.data)
        s.next_index += 1
        s.last_data = c.data
        return _NOTHING

    def busy(self) -> bool:
        """Whether a stream is arriving."""
        return self.stream is not None

    # -- internals --

    def _start(self, c: SnapshotChunk, from_node: int) -> StreamOutcome:
        old = self.stream
        self.stream = None
        if old is not None:
            old.staged.discard()
        sender = (from_node, c.from_replica)
        try:
            header = SnapshotHeader.decode(c.data)
        except Exception as e:
            return self._refuse(c.stream_id, sender, f"bad header: {e}")
        if header.range_id != self.range_id:
            return self._refuse(c.stream_id, sender, "a header of another range")
        digest = _digest()
        digest.update(c.data)
        self.stream = IncomingStream(from_node, c.from_replica, c.term, c.stream_id, header,
                                     self._staging.create(self.range_id), digest,
                                     last_data=c.data)
        if old is not None and old.stream_id != c.stream_id:
            log.info("range %d: snapshot stream %d replaced by %d", self.range_id,
                     old.stream_id, c.stream_id)
            return StreamOutcome(refused=old.stream_id, stream_id=old.stream_id,
                                 reply_to=(old.from_node, old.from_replica))
        return _NOTHING

    def _finish(self, s: IncomingStream, c: SnapshotChunk) -> StreamOutcome:
        try:
            count, digest = msgpack.unpackb(c.data)
        except Exception as e:
            return self._refuse(c.stream_id, (s.from_node, s.from_replica), f"bad trailer: {e}")
        if count != s.next_index or digest != s.digest.digest():
            return self._refuse(c.stream_id, (s.from_node, s.from_replica), f"trailer says {count} chunks and its digest; "
                                             f"received {s.next_index} chunks, digest "
                                             f"{'equal' if digest == s.digest.digest() else 'differs'}")
        s.staged.seal()
        self.stream = None
        md = s.header.metadata()
        snap = Message(MT.SNAP, c.to_replica, c.from_replica, c.term, snapshot=Snapshot(b"", md))
        return StreamOutcome(snapshot=snap, completed=s, stream_id=s.stream_id)

    def _refuse(self, stream_id: int, reply_to: tuple[int, int], why: str) -> StreamOutcome:
        s = self.stream
        if s is not None and s.stream_id == stream_id:
            self.stream = None
            s.staged.discard()
        if stream_id == self._refused:
            return _NOTHING
        self._refused = stream_id
        log.warning("range %d: refused snapshot stream %d: %s", self.range_id, stream_id, why)
        return StreamOutcome(refused=stream_id, stream_id=stream_id, reply_to=reply_to)
