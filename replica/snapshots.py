"""Moving a range's snapshot between replicas: the MsgSnap only names it; the data travels as
a stream of bounded chunks (header first, an empty ``last`` chunk at the end)."""

from __future__ import annotations

import logging
from typing import Any

from multiraft.raft import Message, MessageType as MT, Snapshot
from multiraft.storage.engine import Engine
from multiraft.storage.snapshot import SnapshotHeader, SnapshotInstaller, SnapshotSource
from multiraft.transport.codec import SnapshotChunk

__all__ = ["send_snapshot", "SnapshotReceiver"]

log = logging.getLogger(__name__)


def send_snapshot(engine: Engine, transport: Any, node: int, range_id: int, m: Message) -> None:
    """Stream range ``range_id``'s data to ``node`` for the MsgSnap ``m``, from one consistent
    engine view."""
    src = SnapshotSource(engine, range_id)
    try:
        md = src.header.metadata()
        send = transport.send_snapshot_chunk
        send(node, SnapshotChunk(range_id, m.from_, m.to, m.term, md, 0, False, src.header.encode()))
        i = 0
        for i, data in enumerate(src.chunks(), 1):
            send(node, SnapshotChunk(range_id, m.from_, m.to, m.term, md, i, False, data))
        send(node, SnapshotChunk(range_id, m.from_, m.to, m.term, md, i + 1, True, b""))
    finally:
        src.close()


class SnapshotReceiver:
    """Assembles one incoming stream. Invariant: ``installer`` is the stream in progress (its
    header was accepted), None between streams."""

    __slots__ = ("range_id", "installer")

    def __init__(self, range_id: int) -> None:
        self.range_id = range_id
        self.installer: SnapshotInstaller | None = None

    def add(self, engine: Engine, c: SnapshotChunk, from_node: int) -> Message | None:
        """Take one chunk; at the stream's end, the MsgSnap to step into raft (else None).
        A bad stream is dropped (logged); the leader retries after its snapshot report."""
        try:
            if c.index == 0:
                self.installer = SnapshotInstaller(engine, SnapshotHeader.decode(c.data))
                return None
            if self.installer is None:
                return None  # the stream's start was lost
            if not c.last:
                self.installer.add_chunk(c.data)
                return None
        except Exception as e:  # any malformed chunk: drop the stream, never the replica
            log.warning("range %d: dropping snapshot stream from node %d: %s",
                        self.range_id, from_node, e)
            self.installer = None
            return None
        md = self.installer.header.metadata()
        return Message(MT.SNAP, c.to_replica, c.from_replica, c.term, snapshot=Snapshot(b"", md))

    def take(self) -> SnapshotInstaller:
        installer, self.installer = self.installer, None
        if installer is None:
            raise RuntimeError(f"range {self.range_id}: raft restored a snapshot we do not hold")
        return installer
