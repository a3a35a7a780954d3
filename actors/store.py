"""``StoreActor``: the node's router. Its replicas map is the single source of truth for which
ranges this node holds; it routes inbound raft traffic and client requests to replicas, creates
a replica on first contact for a range it does not hold yet, and sends the coalesced heartbeats
(one frame per peer node per tick) that double as node liveness pings.

Which unknown ranges get a replica is ``store.replica_creation``'s policy (known nodes, leader or
candidate messages, a rate and a cap); replicas that stay uninitialized past its ttl are asked
to drop themselves, and removed.

The store publishes a ``RouteTable`` (a snapshot of its replicas map and router) to the
transport's handler (``actors.inbound``), which then sends raft messages and client requests
for those ranges straight to the replicas; the store sees only the rest.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from multiraft.raft import MessageType as MT
from multiraft.replica.counters import ReplicaCounters
from multiraft.transport.client_protocol import NODE_OPS, ClientOp, ClientRequest, ClientStatus
from multiraft.transport.handler import Responder

from multiraft.store.heartbeat_queue import CoalescedHeartbeats
from multiraft.store.liveness import Liveness
from multiraft.store.routing import RangeRouter, group_pairs
from multiraft.store.counters import StoreCounters
from multiraft.store.lifecycle import Fatal
from multiraft.replica.replica_change import ALLOCATION_SCAN_TICKS
from multiraft.store.membership import Membership
from multiraft.store.replica_creation import CreationLimits

from .fail_stop import FailStop
from .inbound import RouteTable, StoreInbound
from .messages import (DROP_IF_UNINITIALIZED, FLUSH_HEARTBEATS, INITIALIZE_FROM_SPLIT,
                       PROBE_REMOVAL, SCAN_ALLOCATION,
                       ClientCommand, DescriptorChanged, InboundClient, InboundHeartbeat,
                       InboundHeartbeats, InboundRaft, InboundSnapshotChunk, NodeSilent,
                       NodeUnreachable, RaftMessages, ReplicaDestroyed, ReplicaDropped,
                       ReplicasLoaded, SplitApplied)
from .runtime import PooledActor
from .status import StatusCollector

__all__ = ["StoreActor"]

log = logging.getLogger(__name__)

#: Creates (and starts) the replica actor of (range id, replica id, campaign); returns its
#: handle.
ReplicaFactory = Callable[[int, int, bool], Any]


class StoreActor(FailStop, PooledActor):
    """Invariant: ``replicas`` holds every range this node has a replica of; ``router`` knows
    the descriptors of those that are initialized; ``_routes_dirty`` is set when either changed
    after the last ``RouteTable`` was published (published once per tick, not per change)."""

    def __init__(self, node_id: int, transport: Any, inbound: StoreInbound,
                 heartbeats: CoalescedHeartbeats, peers: list[int], liveness_ticks: int,
                 fatal: Fatal, replica_counters: ReplicaCounters | None = None,
                 creation: CreationLimits | None = None,
                 membership: Membership | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        #: the node directory, its gossip and node ops (fixed ``peers`` if not given)
        self.membership = membership or Membership.standalone(node_id, list(peers))
        self.node_id = node_id
        self.fatal = fatal
        self.transport = transport
        self.inbound = inbound
        self.heartbeats = heartbeats
        self.replicas: dict[int, Any] = {}
        self.router = RangeRouter()
        self.counters = StoreCounters(replica_counters)
        self.liveness = Liveness(list(peers), liveness_ticks, clock)
        self.creation = (creation or CreationLimits()).policy(self.membership.directory,
                                                              self.counters, clock)
        self._factory: ReplicaFactory | None = None
        self._peers = list(peers)
        self._stopping = False
        self._routes_dirty = False
        self._ticks = 0

    # -- the node's start (``ReplicasLoaded``) and stop --

    def _replicas_loaded(self, msg: ReplicasLoaded) -> None:
        """Keep the replica factory, register the replicas of ranges this node holds (range id
        -> handle) and route their descriptors (as loaded), in the route table published now:
        the replicas' own ``DescriptorChanged`` comes later, after the transport has started,
        and until then a table without them would route no key and overlap no snapshot."""
        self._factory = msg.factory
        replicas = msg.replicas
        self.replicas.update(replicas)
        for d in msg.descriptors:
            if d.range_id in replicas:
                self.router.update(d)
        self._publish_routes()

    def begin_stop(self) -> None:
        """Refuse new client requests from now on (the node is shutting down)."""
        self._stopping = True
        self.inbound.publish(RouteTable())  # everything comes to the store, which refuses

    def _publish_routes(self) -> None:
        if not self._stopping:
            self.inbound.publish(RouteTable(dict(self.replicas), self.router.copy()))
        self._routes_dirty = False

    # -- messages --

    def on_receive(self, msg: Any) -> Any:
        t = type(msg)
        if t is InboundRaft:
            self.liveness.heard(msg.from_node)
            self._route_raft(msg)
        elif msg is FLUSH_HEARTBEATS:
            self._flush_heartbeats()
        elif t is InboundHeartbeats:
            self.liveness.heard(msg.from_node)
            self._fan_out_heartbeats(msg)
        elif t is InboundClient:
            self._route_client(msg.request, msg.responder)
        elif t is InboundSnapshotChunk:
            self.liveness.heard(msg.from_node)
            c = msg.chunk
            replica = self.replicas.get(c.range_id)
            if replica is None and c.index == 0:  # a stream's start may create the replica
                replica = self._create(msg.from_node, c.range_id, MT.SNAP, c.term, c.to_replica)
            if replica is None:
                self.counters.dropped_unknown_range += 1
            else:
                replica.tell(msg)
        elif t is NodeUnreachable:
            self._report_unreachable(msg)
        elif t is DescriptorChanged:
            self.router.update(msg.descriptor)
            self.creation.initialized(msg.descriptor.range_id)
            self._routes_dirty = True
        elif t is SplitApplied:
            self._split_applied(msg)
        elif t is ReplicaDropped:
            self._remove_dropped(msg)
        elif t is ReplicaDestroyed:
            self._remove_destroyed(msg)
        elif t is ReplicasLoaded:
            self._replicas_loaded(msg)
        else:
            return super().on_receive(msg)
        return None

    def _route_raft(self, msg: InboundRaft) -> None:
        """Messages the handler could not route: mostly first contact with a range."""
        for range_id, msgs in group_pairs(msg.items).items():
            replica = self.replicas.get(range_id)
            if replica is None:
                # First contact: the creation policy decides (a known node's leader or
                # candidate message, within the rate and the cap).
                m0 = msgs[0]
                replica = self._create(msg.from_node, range_id, m0.type, m0.term, m0.to)
                if replica is None:
                    self.counters.dropped_unknown_range += 1
                    continue
            replica.tell(RaftMessages(msg.from_node, msgs))

    def _create(self, from_node: int, range_id: int, kind: MT, term: int,
                replica_id: int) -> Any:
        """A new replica of ``range_id`` (not held yet) if the creation policy admits it."""
        if self._factory is None or self._stopping:
            return None
        if not self.creation.admit(from_node, range_id, kind, term, replica_id):
            return None
        replica = self._factory(range_id, replica_id, False)
        self.replicas[range_id] = replica
        self.counters.replicas_created += 1
        self._routes_dirty = True  # published at the next tick, after its first messages
        return replica

    def _split_applied(self, msg: SplitApplied) -> None:
        """A local replica's split is durable. In this one message (the store's thread is the
        only writer of ``replicas`` and ``router``): route both halves, start the right-hand
        replica or tell the uninitialized one to load its range, publish the route table. So
        no published table has a gap or two ranges overlapping."""
        left, right = msg.left, msg.right
        self.router.split(left, right)
        self.counters.splits += 1
        rid = right.range_id
        replica = self.replicas.get(rid)
        if replica is not None:
            replica.tell(INITIALIZE_FROM_SPLIT)
        elif self._factory is not None and not self._stopping:
            mine = [r for node, r in right.replicas if node == self.node_id]
            if mine:
                self.replicas[rid] = self._factory(rid, mine[0], msg.campaign)
        self.creation.initialized(rid)
        self._publish_routes()

    def _drop_expired(self) -> None:
        """Ask the replicas uninitialized past the policy's ttl to drop themselves."""
        for range_id in self.creation.expired():
            replica = self.replicas.get(range_id)
            if replica is None:
                self.creation.removed(range_id)
            else:
                replica.tell(DROP_IF_UNINITIALIZED)

    def _remove_dropped(self, msg: ReplicaDropped) -> None:
        rid = msg.range_id
        if self.replicas.get(rid) is msg.replica:
            del self.replicas[rid]
            self.counters.uninitialized_replicas_removed += 1
            self._routes_dirty = True
            d = self.router.descriptors.get(rid)
            if d is not None:
                # A split created the range here after the replica had decided to drop itself
                # (the INITIALIZE_FROM_SPLIT we sent it came too late): start one that loads it.
                mine = [r for node, r in d.replicas if node == self.node_id]
                if mine and self._factory is not None and not self._stopping:
                    self.replicas[rid] = self._factory(rid, mine[0], False)
                    self._publish_routes()
        self.creation.removed(rid)
        msg.replica.stop(block=False)  # after what is queued for it (ignored: it is dropped)

    def _remove_destroyed(self, msg: ReplicaDestroyed) -> None:
        """In one message: the replica leaves the map and the router (no route to it is
        published again), and stops. A new replica of the range (a new id: the node was
        given the range again) is created on the leader's next message."""
        rid = msg.range_id
        if self.replicas.get(rid) is msg.replica:
            del self.replicas[rid]
            self.router.remove(rid)
            self.counters.replicas_destroyed += 1
            self._publish_routes()
        self.creation.removed(rid)
        msg.replica.stop(block=False)

    def _fan_out_heartbeats(self, msg: InboundHeartbeats) -> None:
        replicas = self.replicas
        for hb in msg.heartbeats:
            replica = replicas.get(hb.range_id)
            if replica is None:
                # A leader's heartbeat is first contact too (its probing MsgApp may have gone to
                # a replica of ours that is gone); a response never is.
                if not msg.response:
                    replica = self._create(msg.from_node, hb.range_id, MT.HEARTBEAT, hb.term,
                                           hb.to_replica)
                if replica is None:
                    self.counters.dropped_unknown_range += 1
                    continue
            replica.tell(InboundHeartbeat(msg.from_node, hb, msg.response))

    def _flush_heartbeats(self) -> None:
        """Once per tick: the coalesced heartbeats (one frame per peer node), then liveness,
        then the route table if it changed."""
        self._peers = self.membership.tick(len(self.router.descriptors),
                                           self.counters.replicas.leading.value)
        self.liveness.track(self._peers)
        self.heartbeats.flush(self.transport, self._peers, self.counters)
        self._drop_expired()
        if self._routes_dirty:
            self._publish_routes()
        self._ticks += 1
        if self._ticks % ALLOCATION_SCAN_TICKS == 0:
            for replica in self.replicas.values():
                replica.tell(SCAN_ALLOCATION)
        for node in self.liveness.tick():
            if node:
                log.info("node %d: nothing heard from node %d for %d ticks", self.node_id, node,
                         self.liveness.period)
            for replica in self.replicas.values():
                replica.tell(NodeSilent(node))
        if self.liveness.paused:
            log.info("node %d: resumed from a pause; quiesced followers check their ranges",
                     self.node_id)
            for replica in self.replicas.values():
                replica.tell(PROBE_REMOVAL)

    def _report_unreachable(self, msg: NodeUnreachable) -> None:
        if not self.liveness.should_report_unreachable(msg.node_id):
            return
        for rid in self.router.ranges_on(msg.node_id):
            replica = self.replicas.get(rid)
            if replica is not None:
                replica.tell(msg)

    # -- client requests --

    def _route_client(self, req: ClientRequest, responder: Responder) -> None:
        self.counters.client_requests += 1
        if self._stopping:
            responder.respond(ClientStatus.UNAVAILABLE, "node stopping")
            return
        if req.op == ClientOp.STATUS:
            StatusCollector.start(self, responder, include_ranges=req.args[0].get("ranges", True))
            return
        if req.op in NODE_OPS:
            self.membership.handle(req, responder)
            return
        range_id = self.router.range_of(req.args[0])
        replica = None if range_id is None else self.replicas.get(range_id)
        if replica is None:
            self.counters.range_not_found += 1
            responder.respond(ClientStatus.RANGE_NOT_FOUND, None)
            return
        replica.tell(ClientCommand(req, responder))

    def node_status(self) -> dict[str, Any]:
        """The store-level part of ``status`` (replicas report theirs separately)."""
        counters = self.counters.as_dict()
        counters["client_requests"] += self.inbound.client_requests  # routed on its thread
        return {"node_id": self.node_id, "ranges": len(self.replicas),
                "uninitialized_replicas": self.creation.uninitialized,
                "silent_peers": sorted(self.liveness.silent), "counters": counters,
                "histograms": self.counters.histograms()}
