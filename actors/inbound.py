"""``StoreInbound``: the transport's ``Handler`` for the actor design.

It runs on the transport's socket thread and only tells, so no transport callback ever blocks on
an actor. Traffic for a range in the store's published ``RouteTable`` goes straight to that
replica's mailbox (one hand-off, as TiKV's router does); everything else (first contact with a
range, heartbeats, snapshots, STATUS, keys no published range holds) goes to the store, which
owns the truth and handles the rare cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pykka

from multiraft.raft.types import Message
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus
from multiraft.transport.codec import (Heartbeat, ReplicaCheck, ReplicaGone, SnapshotAck,
                                      SnapshotChunk)
from multiraft.transport.handler import Responder

from multiraft.store.routing import RangeRouter, group_pairs
from .messages import (ClientCommand, InboundClient, InboundHeartbeats, InboundRaft,
                       InboundReplicaCheck, InboundReplicaGone, InboundSnapshotAck, InboundSnapshotChunk, NodeUnreachable, RaftMessages)

__all__ = ["StoreInbound", "RouteTable"]

#: the ops a replica serves; anything else (STATUS) is the store's
_RANGE_OPS = frozenset({ClientOp.PUT, ClientOp.GET, ClientOp.DELETE, ClientOp.CAS, ClientOp.SCAN,
                        ClientOp.SPLIT, ClientOp.LOOKUP, ClientOp.CHANGE_REPLICAS,
                        ClientOp.TRANSFER_LEADER})


@dataclass(frozen=True, slots=True)
class RouteTable:
    """A snapshot of the store's routing, published to the transport thread.

    Invariant: never mutated once published (the store publishes a new one), so the transport
    thread reads it without a lock; it may lag the store, never lead it: a replica is in it only
    after the store queued that replica's first messages."""

    replicas: dict[int, Any] = field(default_factory=dict)
    router: RangeRouter = field(default_factory=RangeRouter)


class StoreInbound:
    """Every callback becomes one message, to a published replica or else to the store. While
    the node starts or stops (no store to tell) traffic is dropped: raft retransmits, clients
    retry. ``client_requests`` counts the client requests it routed straight to a replica."""

    __slots__ = ("_store", "_routes", "client_requests")

    def __init__(self) -> None:
        self._store: Any = None
        self._routes = RouteTable()
        self.client_requests = 0

    def bind(self, store: Any) -> None:
        """Deliver to ``store`` from now on (the transport is built before the store starts)."""
        self._store = store

    def publish(self, routes: RouteTable) -> None:
        """Route by ``routes`` from now on (called by the store)."""
        self._routes = routes

    def overlapping(self, start: bytes, end: bytes | None, exclude: int) -> int | None:
        """A published range other than ``exclude`` overlapping ``[start, end)`` (any thread:
        the published table is never mutated; it lags the store, and spans only narrow)."""
        return self._routes.router.overlapping(start, end, exclude)

    def _tell(self, msg: Any) -> bool:
        try:
            self._store.tell(msg)
            return True
        except (pykka.ActorDeadError, AttributeError):
            return False

    def on_raft_messages(self, from_node: int, items: list[tuple[int, Message]]) -> None:
        replicas = self._routes.replicas
        rest: list[tuple[int, Message]] | None = None
        for range_id, msgs in group_pairs(items).items():
            replica = replicas.get(range_id)
            if replica is None:
                rest = rest or []
                rest.extend((range_id, m) for m in msgs)
                continue
            try:
                replica.tell(RaftMessages(from_node, msgs))
            except pykka.ActorDeadError:  # the node is stopping
                pass
        if rest:
            self._tell(InboundRaft(from_node, rest))

    def on_heartbeats(self, from_node: int, heartbeats: list[Heartbeat]) -> None:
        self._tell(InboundHeartbeats(from_node, heartbeats, False))

    def on_heartbeat_responses(self, from_node: int, responses: list[Heartbeat]) -> None:
        self._tell(InboundHeartbeats(from_node, responses, True))

    def on_snapshot_chunk(self, from_node: int, chunk: SnapshotChunk) -> None:
        self._tell(InboundSnapshotChunk(from_node, chunk))

    def on_snapshot_ack(self, from_node: int, ack: SnapshotAck) -> None:
        replica = self._routes.replicas.get(ack.range_id)
        if replica is not None:  # else: gone; its streams died with it
            try:
                replica.tell(InboundSnapshotAck(from_node, ack))
            except pykka.ActorDeadError:
                pass

    def on_replica_gone(self, from_node: int, gone: ReplicaGone) -> None:
        replica = self._routes.replicas.get(gone.range_id)
        if replica is not None:
            try:
                replica.tell(InboundReplicaGone(from_node, gone))
            except pykka.ActorDeadError:
                pass

    def on_replica_check(self, from_node: int, check: ReplicaCheck) -> None:
        replica = self._routes.replicas.get(check.range_id)
        if replica is not None:
            try:
                replica.tell(InboundReplicaCheck(from_node, check))
            except pykka.ActorDeadError:
                pass

    def on_unreachable(self, node_id: int) -> None:
        self._tell(NodeUnreachable(node_id))

    def on_client_request(self, request: ClientRequest, responder: Responder) -> None:
        if request.op in _RANGE_OPS:
            routes = self._routes
            range_id = routes.router.range_of(request.args[0])
            replica = None if range_id is None else routes.replicas.get(range_id)
            if replica is not None:
                try:
                    replica.tell(ClientCommand(request, responder))
                    self.client_requests += 1
                    return
                except pykka.ActorDeadError:  # stopping: the store answers
                    pass
        if not self._tell(InboundClient(request, responder)):
            responder.respond(ClientStatus.UNAVAILABLE, "node not serving")
