"""Linearizable reads without a log write (ReadIndex, Raft thesis §6.4).

In SAFE mode the leader records the commit index when a read arrives, then confirms it is
still leader with a heartbeat round carrying the read's context; once a quorum acknowledges,
every read queued up to that one may be served at its recorded index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import ReadOnlyOption
from .types import Message

__all__ = ["ReadIndexStatus", "ReadOnly"]


@dataclass(slots=True)
class ReadIndexStatus:
    req: Message
    index: int
    acks: dict[int, bool] = field(default_factory=dict)


class ReadOnly:
    """Pending read-index requests, keyed by their context.

    Invariant: ``queue`` lists the keys of ``pending`` in arrival order, each once.
    """

    __slots__ = ("option", "pending", "queue")

    def __init__(self, option: ReadOnlyOption) -> None:
        self.option = option
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, m: Message) -> None:
        ctx = m.entries[0].data
        if ctx in self.pending:
            return
        self.pending[ctx] = ReadIndexStatus(m, index)
        self.queue.append(ctx)

    def recv_ack(self, node_id: int, ctx: bytes) -> dict[int, bool]:
        """Record a heartbeat ack for the read ``ctx``; the acks so far (empty if unknown)."""
        rs = self.pending.get(ctx)
        if rs is None:
            return {}
        rs.acks[node_id] = True
        return rs.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release the read ``ctx`` and every read queued before it (a later quorum ack covers them)."""
        try:
            i = self.queue.index(ctx)
        except ValueError:
            return []
        done = self.queue[:i + 1]
        del self.queue[:i + 1]
        return [self.pending.pop(c) for c in done]

    def last_pending_request_ctx(self) -> bytes | None:
        return self.queue[-1] if self.queue else None
