"""Test helpers of the split tests: holding one range's raft traffic at one in-process node (so
that node applies a split late), and reading a node's raft state straight from its engine."""

from __future__ import annotations

import threading
from typing import Any

from multiraft.raft.types import HardState
from multiraft.storage import keys
from multiraft.storage.records import decode_hard_state
from multiraft.transport.codec import Heartbeat, SnapshotChunk

from .conftest import InProcessCluster


class RangeHold:
    """Wraps an in-process node's transport handler: while ``holding``, the inbound raft
    messages, heartbeats and snapshot chunks of ``range_ids`` are dropped (counted), as if their
    sender's frames were lost; raft retransmits once the hold is released. Everything else,
    other ranges' traffic and client requests included, passes through."""

    def __init__(self, inner: Any, range_ids: set[int]) -> None:
        self._inner = inner
        self.range_ids = set(range_ids)
        self.holding = True
        self.dropped = 0
        self._lock = threading.Lock()

    @classmethod
    def install(cls, cluster: InProcessCluster, node: int, range_ids: set[int]) -> RangeHold:
        transport = cluster.nodes[node].impl.transport
        hold = cls(transport._handler, range_ids)
        transport._handler = hold
        return hold

    def release(self) -> None:
        self.holding = False

    def _count(self, n: int) -> None:
        if n:
            with self._lock:
                self.dropped += n

    def on_raft_messages(self, from_node: int, items: list[tuple[int, Any]]) -> None:
        if self.holding:
            kept = [(rid, m) for rid, m in items if rid not in self.range_ids]
            self._count(len(items) - len(kept))
            items = kept
        if items:
            self._inner.on_raft_messages(from_node, items)

    def _heartbeats(self, hbs: list[Heartbeat]) -> list[Heartbeat]:
        if not self.holding:
            return hbs
        kept = [hb for hb in hbs if hb.range_id not in self.range_ids]
        self._count(len(hbs) - len(kept))
        return kept

    def on_heartbeats(self, from_node: int, heartbeats: list[Heartbeat]) -> None:
        # (an empty frame still goes through: it is the node liveness ping)
        self._inner.on_heartbeats(from_node, self._heartbeats(heartbeats))

    def on_heartbeat_responses(self, from_node: int, responses: list[Heartbeat]) -> None:
        self._inner.on_heartbeat_responses(from_node, self._heartbeats(responses))

    def on_snapshot_chunk(self, from_node: int, chunk: SnapshotChunk) -> None:
        if self.holding and chunk.range_id in self.range_ids:
            self._count(1)
            return
        self._inner.on_snapshot_chunk(from_node, chunk)

    def __getattr__(self, name: str) -> Any:  # on_snapshot_ack, on_unreachable, clients
        return getattr(self._inner, name)


def hard_state(cluster: InProcessCluster, node: int, range_id: int) -> HardState | None:
    """The HardState of ``range_id`` as ``node``'s engine holds it (None: none written)."""
    engine = cluster.nodes[node].impl.engine
    raw = engine.get(keys.hard_state_key(range_id))
    return None if raw is None else decode_hard_state(raw)


def replica(cluster: Any, node: int, range_id: int) -> dict[str, Any] | None:
    """``node``'s STATUS entry of its replica of ``range_id`` (None: no replica, or no answer)."""
    result: dict[str, Any] | None = cluster.replica_status(node, range_id)
    return result


def counter(cluster: Any, node: int, name: str) -> int:
    st = cluster.status(node)
    return 0 if st is None else int(st["node"]["counters"].get(name, 0))
