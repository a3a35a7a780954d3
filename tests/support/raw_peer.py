"""A raw transport that speaks for any node id: for tests that forge raft traffic.

``RawPeer(node_id, {target: address})`` starts a ``transport.Transport`` as node ``node_id``
(plaintext: the receiving node believes the frame's claimed sender, as it must without CURVE)
and sends whatever raft messages, heartbeats or snapshot chunks a test builds. What it receives
back is ignored. ``close`` (or leaving the ``with``) stops its thread and closes its sockets.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from multiraft.raft.types import Message
from multiraft.transport.codec import Heartbeat, SnapshotChunk
from multiraft.transport.zmq_transport import Transport


class _Ignore:
    """A ``Handler`` that drops everything."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


class RawPeer:
    def __init__(self, node_id: int, targets: dict[int, str]) -> None:
        self.node_id = node_id
        self.transport = Transport(node_id, "127.0.0.1:0", targets, _Ignore())  # type: ignore[arg-type]
        self.transport.start()

    def wait_connected(self, to_node: int, timeout: float = 10.0) -> None:
        """Send empty heartbeat frames (a node's liveness ping, harmless) until one leaves: a
        peer socket drops what is sent before its connection is up."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.transport.counters.peers.get(to_node)
            if c is not None and c.frames_sent > 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"raw peer {self.node_id}: no connection to {to_node}")
            self.transport.send_heartbeats(to_node, [])
            time.sleep(0.05)

    def sent(self, to_node: int) -> int:
        """Messages sent to ``to_node`` so far (not dropped for want of a connection)."""
        c = self.transport.counters.peers.get(to_node)
        return 0 if c is None else c.messages_sent

    def send(self, to_node: int, items: list[tuple[int, Message]]) -> None:
        for range_id, m in items:
            self.transport.send(to_node, range_id, m)

    def heartbeats(self, to_node: int, heartbeats: list[Heartbeat]) -> None:
        self.transport.send_heartbeats(to_node, heartbeats)

    def snapshot_chunk(self, to_node: int, chunk: SnapshotChunk) -> None:
        self.transport.send_snapshot_chunk(to_node, chunk)

    def close(self) -> None:
        self.transport.stop()

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
