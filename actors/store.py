"""``StoreActor``: the node's router. Its replicas map is the single source of truth for which
ranges this node holds; it routes inbound raft traffic and client requests to replicas, creates
a replica on first contact for a range it does not hold yet, and sends the coalesced heartbeats
(one frame per peer node per tick) that double as node liveness pings.

``StoreInbound`` is the transport's ``Handler``: it runs on the transport thread and only
tells the store, so no transport callback ever blocks on an actor.
"""

from __future__ import annotations

import bisect
import logging
from typing import Any, Callable

import pykka

from raft import MessageType as MT
from storage.range_descriptor import RangeDescriptor
from transport.client_protocol import ClientOp, ClientRequest, ClientStatus
from transport.codec import Heartbeat, SnapshotChunk
from transport.handler import Responder

from replica.heartbeat_queue import CoalescedHeartbeats
from replica.histogram import SIZE_BOUNDS, Histogram
from .messages import (FLUSH_HEARTBEATS, ClientCommand, DescriptorChanged, InboundClient,
                       InboundHeartbeat, InboundHeartbeats, InboundRaft, InboundSnapshotChunk,
                       NodeSilent, NodeUnreachable, RaftMessages)
from .status import StatusCollector

__all__ = ["StoreActor", "StoreInbound", "StoreCounters"]

log = logging.getLogger(__name__)

#: Creates (and starts) the replica actor of (range id, replica id); returns its handle.
ReplicaFactory = Callable[[int, int], Any]


class StoreCounters:
    """Plain counters, read by status and metrics. Written only by the store actor."""

    __slots__ = ("dropped_unknown_range", "replicas_created", "heartbeat_frames_sent",
                 "heartbeats_sent", "heartbeat_responses_sent", "client_requests",
                 "range_not_found")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class StoreActor(pykka.ThreadingActor):
    """Invariants: ``replicas`` holds every range this node has a replica of; ``_starts`` /
    ``_ranges`` list the known descriptors' start keys in order, for routing by key."""

    def __init__(self, node_id: int, transport: Any, heartbeats: CoalescedHeartbeats,
                 peers: list[int], liveness_ticks: int) -> None:
        super().__init__()
        self.node_id = node_id
        self.transport = transport
        self.heartbeats = heartbeats
        self.replicas: dict[int, Any] = {}
        self.descriptors: dict[int, RangeDescriptor] = {}
        self.counters = StoreCounters()
        self.heartbeat_frame_size = Histogram(SIZE_BOUNDS)
        self._factory: ReplicaFactory | None = None
        self._starts: list[bytes] = []
        self._ranges: list[int] = []
        self._peers = list(peers)
        self._liveness_ticks = liveness_ticks
        self._ticks = 0
        self._last_heard = dict.fromkeys(peers, 0)
        self._silent: set[int] = set()
        self._unreachable_told: dict[int, int] = {}
        self._stopping = False

    # -- called (through ask) by the Node while wiring up --

    def set_replica_factory(self, factory: ReplicaFactory) -> None:
        self._factory = factory

    def add_replica(self, range_id: int, replica: Any) -> None:
        self.replicas[range_id] = replica

    def begin_stop(self) -> None:
        """Refuse new client requests from now on (the node is shutting down)."""
        self._stopping = True

    # -- messages --

    def on_receive(self, msg: Any) -> Any:
        t = type(msg)
        if t is InboundRaft:
            self._heard(msg.from_node)
            self._route_raft(msg)
        elif msg is FLUSH_HEARTBEATS:
            self._flush_heartbeats()
        elif t is InboundHeartbeats:
            self._heard(msg.from_node)
            self._fan_out_heartbeats(msg)
        elif t is InboundClient:
            self._route_client(msg.request, msg.responder)
        elif t is InboundSnapshotChunk:
            self._heard(msg.from_node)
            replica = self._replica_for(msg.chunk.range_id, msg.chunk.to_replica)
            if replica is not None:
                replica.tell(msg)
        elif t is NodeUnreachable:
            self._report_unreachable(msg)
        elif t is DescriptorChanged:
            self._set_descriptor(msg.descriptor)
        else:
            return super().on_receive(msg)
        return None

    def _route_raft(self, msg: InboundRaft) -> None:
        by_range: dict[int, list] = {}
        for range_id, m in msg.items:
            lst = by_range.get(range_id)
            if lst is None:
                by_range[range_id] = [m]
            else:
                lst.append(m)
        for range_id, msgs in by_range.items():
            replica = self.replicas.get(range_id)
            if replica is None:
                # First contact: only a message a leader sends makes us create the replica.
                m0 = msgs[0]
                if m0.type not in (MT.APP, MT.SNAP, MT.HEARTBEAT, MT.VOTE, MT.PRE_VOTE):
                    self.counters.dropped_unknown_range += 1
                    continue
                replica = self._replica_for(range_id, m0.to)
                if replica is None:
                    continue
            replica.tell(RaftMessages(msg.from_node, msgs))

    def _replica_for(self, range_id: int, replica_id: int) -> Any:
        replica = self.replicas.get(range_id)
        if replica is None and self._factory is not None and not self._stopping:
            replica = self._factory(range_id, replica_id)
            self.replicas[range_id] = replica
            self.counters.replicas_created += 1
        return replica

    def _fan_out_heartbeats(self, msg: InboundHeartbeats) -> None:
        replicas = self.replicas
        for hb in msg.heartbeats:
            replica = replicas.get(hb.range_id)
            if replica is None:
                self.counters.dropped_unknown_range += 1
                continue
            replica.tell(InboundHeartbeat(msg.from_node, hb, msg.response))

    def _flush_heartbeats(self) -> None:
        """Once per tick: one heartbeat frame (and one response frame if any) per peer node.

        A frame goes to every peer even when it is empty: it is the node's liveness ping,
        which lets quiesced replicas notice a dead leader node.
        """
        hbs, resps = self.heartbeats.drain()
        send = self.transport.send_heartbeats
        c = self.counters
        frames = [(node, hbs.pop(node, [])) for node in self._peers]
        frames.extend(hbs.items())  # nodes not (yet) in the peer list
        for node, lst in frames:
            send(node, lst)
            c.heartbeat_frames_sent += 1
            c.heartbeats_sent += len(lst)
            self.heartbeat_frame_size.observe(len(lst))
        for node, lst in resps.items():
            self.transport.send_heartbeat_responses(node, lst)
            c.heartbeat_responses_sent += len(lst)
        self._ticks += 1
        if self._ticks == self._liveness_ticks:
            for replica in self.replicas.values():
                replica.tell(NodeSilent(0))  # a dormant replica must not stay leaderless
        for node in self._peers:
            silent = self._ticks - self._last_heard.get(node, 0) > self._liveness_ticks
            if silent and node not in self._silent:
                self._silent.add(node)
                log.info("node %d: nothing heard from node %d for %d ticks", self.node_id, node,
                         self._liveness_ticks)
                for replica in self.replicas.values():
                    replica.tell(NodeSilent(node))

    def _report_unreachable(self, msg: NodeUnreachable) -> None:
        """Tell the replicas that share ranges with the node, at most once per liveness period
        (the transport reports every dropped frame; raft only needs to hear it once)."""
        last = self._unreachable_told.get(msg.node_id)
        if last is not None and self._ticks - last < self._liveness_ticks:
            return
        self._unreachable_told[msg.node_id] = self._ticks
        for rid, d in self.descriptors.items():
            replica = self.replicas.get(rid)
            if replica is not None and any(node == msg.node_id for node, _ in d.replicas):
                replica.tell(msg)

    def _heard(self, node: int) -> None:
        self._last_heard[node] = self._ticks
        self._silent.discard(node)

    # -- client requests --

    def _route_client(self, req: ClientRequest, responder: Responder) -> None:
        self.counters.client_requests += 1
        if self._stopping:
            responder.respond(ClientStatus.ERROR, "node stopping")
            return
        if req.op == ClientOp.STATUS:
            StatusCollector.start(self, responder, include_ranges=req.args[0].get("ranges", True))
            return
        range_id = self._range_of(req.args[0])
        replica = None if range_id is None else self.replicas.get(range_id)
        if replica is None:
            self.counters.range_not_found += 1
            responder.respond(ClientStatus.RANGE_NOT_FOUND, None)
            return
        replica.tell(ClientCommand(req, responder))

    def _range_of(self, key: bytes) -> int | None:
        i = bisect.bisect_right(self._starts, key) - 1
        if i < 0:
            return None
        rid = self._ranges[i]
        return rid if self.descriptors[rid].contains(key) else None

    def _set_descriptor(self, d: RangeDescriptor) -> None:
        old = self.descriptors.get(d.range_id)
        if old is not None and old.generation > d.generation:
            return
        self.descriptors[d.range_id] = d
        order = sorted(self.descriptors.values(), key=lambda x: x.start_key)
        self._starts = [x.start_key for x in order]
        self._ranges = [x.range_id for x in order]

    def node_status(self) -> dict[str, Any]:
        """The store-level part of ``status`` (replicas report theirs separately)."""
        return {"node_id": self.node_id, "ranges": len(self.replicas),
                "silent_peers": sorted(self._silent), "counters": self.counters.as_dict(),
                "histograms": {"heartbeat_frame_size": self.heartbeat_frame_size.as_dict()}}


class StoreInbound:
    """The transport's Handler: every callback becomes one message to the store. While the node
    starts or stops (no store to tell) traffic is dropped: raft retransmits, clients retry."""

    __slots__ = ("_store",)

    def __init__(self) -> None:
        self._store: Any = None

    def bind(self, store: Any) -> None:
        """Deliver to ``store`` from now on (the transport is built before the store starts)."""
        self._store = store

    def _tell(self, msg: Any) -> bool:
        try:
            self._store.tell(msg)
            return True
        except (pykka.ActorDeadError, AttributeError):
            return False

    def on_raft_messages(self, from_node: int, items: list) -> None:
        self._tell(InboundRaft(from_node, items))

    def on_heartbeats(self, from_node: int, heartbeats: list[Heartbeat]) -> None:
        self._tell(InboundHeartbeats(from_node, heartbeats, False))

    def on_heartbeat_responses(self, from_node: int, responses: list[Heartbeat]) -> None:
        self._tell(InboundHeartbeats(from_node, responses, True))

    def on_snapshot_chunk(self, from_node: int, chunk: SnapshotChunk) -> None:
        self._tell(InboundSnapshotChunk(from_node, chunk))

    def on_unreachable(self, node_id: int) -> None:
        self._tell(NodeUnreachable(node_id))

    def on_client_request(self, request: ClientRequest, responder: Responder) -> None:
        if not self._tell(InboundClient(request, responder)):
            responder.respond(ClientStatus.ERROR, "node not serving")
