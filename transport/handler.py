"""What the transport calls: the receiving side's contract (``Handler``) and the reply handle
a client request comes with (``Responder``).

Every ``Handler`` method runs on the transport thread, the one that owns the sockets: it must
return quickly and never block (hand the work to an actor's mailbox), or it stalls all of the
node's traffic. An exception it raises is logged and the frame is dropped; the thread carries on.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from multiraft.raft.types import Message

from .client_protocol import ClientOp, ClientRequest, ClientResponse, ClientStatus, encode_response
from .codec import (DirectoryItem, FrameKind, Heartbeat, NodeLoadReport, ReplicaCheck, ReplicaGone, SnapshotAck,
                    SnapshotChunk)

__all__ = ["DirectoryReceiver", "Handler", "Responder", "dispatch_frame", "frame_messages"]

#: What a NODE_DIRECTORY or NODE_LOAD frame is handed to: ``receiver(sender, records or
#: load)``, on the transport thread (it must not block: the node directory merges under its
#: own small lock).
DirectoryReceiver = Callable[[int, "list[DirectoryItem] | NodeLoadReport"], None]


class Responder:
    """Answers one client request, from any thread, at most once; later calls are ignored."""

    __slots__ = ("_send", "_request_id", "_op", "_done")

    def __init__(self, send: Callable[[bytes], None], request_id: int, op: ClientOp) -> None:
        self._send = send
        self._request_id = request_id
        self._op = op
        self._done = False

    def respond(self, status: ClientStatus, result: Any = None) -> None:
        """Send the response; ``result`` per the table in ``client_protocol``."""
        if self._done:
            return
        self._done = True
        self._send(encode_response(ClientResponse(self._request_id, self._op, status, result)))


class Handler(Protocol):
    """The store side of a ``Transport``; ``from_node`` is the authenticated sender."""

    def on_raft_messages(self, from_node: int, items: list[tuple[int, Message]]) -> None:
        """A batch of (range_id, message), in the order the sender queued them."""

    def on_heartbeats(self, from_node: int, heartbeats: list[Heartbeat]) -> None:
        """One coalesced heartbeat frame."""

    def on_heartbeat_responses(self, from_node: int, responses: list[Heartbeat]) -> None:
        """One coalesced heartbeat-response frame."""

    def on_snapshot_chunk(self, from_node: int, chunk: SnapshotChunk) -> None:
        """One chunk of a snapshot stream."""

    def on_snapshot_ack(self, from_node: int, ack: SnapshotAck) -> None:
        """The receiver's answer to a snapshot stream this node sent."""

    def on_replica_gone(self, from_node: int, gone: ReplicaGone) -> None:
        """A member of a range says our replica of it was removed."""

    def on_replica_check(self, from_node: int, check: ReplicaCheck) -> None:
        """A replica on ``from_node`` asks whether it is still in its range."""

    def on_unreachable(self, node_id: int) -> None:
        """Frames to ``node_id`` were dropped (down, slow, unknown): tell its replicas'
        raft ``report_unreachable``. Called once per dropped frame."""

    def on_client_request(self, request: ClientRequest, responder: Responder) -> None:
        """A client request; answer through ``responder`` from any thread."""


def frame_messages(kind: FrameKind, payload: Any) -> int:
    """How many messages a decoded frame carries, as the peer counters count them (a
    directory or load frame counts none: it is no raft traffic)."""
    if kind is FrameKind.RAFT or kind is FrameKind.HEARTBEATS or \
            kind is FrameKind.HEARTBEAT_RESPONSES:
        return len(payload)
    if kind is FrameKind.NODE_DIRECTORY or kind is FrameKind.NODE_LOAD:
        return 0
    return 1


def dispatch_frame(handler: Handler, on_directory: DirectoryReceiver | None, kind: FrameKind,
                   sender: int, payload: Any) -> None:
    """Hand a decoded peer frame (``codec.decode_frame``) to the method of ``handler`` that
    takes its kind, or to ``on_directory``."""
    if kind is FrameKind.RAFT:
        handler.on_raft_messages(sender, payload)
    elif kind is FrameKind.HEARTBEATS:
        handler.on_heartbeats(sender, payload)
    elif kind is FrameKind.HEARTBEAT_RESPONSES:
        handler.on_heartbeat_responses(sender, payload)
    elif kind is FrameKind.SNAPSHOT_CHUNK:
        handler.on_snapshot_chunk(sender, payload)
    elif kind is FrameKind.NODE_DIRECTORY or kind is FrameKind.NODE_LOAD:
        if on_directory is not None:
            on_directory(sender, payload)
    elif kind is FrameKind.SNAPSHOT_ACK:
        handler.on_snapshot_ack(sender, payload)
    elif kind is FrameKind.REPLICA_CHECK:
        handler.on_replica_check(sender, payload)
    else:
        handler.on_replica_gone(sender, payload)
