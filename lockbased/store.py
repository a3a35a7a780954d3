"""``LockStore``: the RFC's Store. A mutex guards the replicas map, the routing table, the set of
ranges to tick, liveness and the counters. It is the transport's Handler: the receive thread
routes each input under the store's lock, then steps the replica under the replica's lock.
``process_raft`` (its own thread) ticks awake replicas every interval, sends the coalesced
heartbeats, and handles the Ready of every replica that has work, then writes all their batches
as one engine write (``group_commit``, at the end of each round). Which unknown ranges get a
replica is ``store.replica_creation``'s policy, shared with the actor design; process_raft drops
the replicas that stay uninitialized past its ttl.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from multiraft.raft import Message, MessageType as MT
from multiraft.replica.core import ReplicaCore
from multiraft.replica.replica_change import ALLOCATION_SCAN_TICKS
from multiraft.replica.counters import ReplicaCounters
from multiraft.store.counters import StoreCounters
from multiraft.store.group_commit import GroupCommit
from multiraft.store.heartbeat_queue import CoalescedHeartbeats
from multiraft.store.lifecycle import Fatal
from multiraft.store.liveness import Liveness
from multiraft.store.membership import Membership
from multiraft.store.replica_creation import CreationLimits
from multiraft.store.routing import RangeRouter, group_pairs
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.transport.client_protocol import NODE_OPS, ClientOp, ClientRequest, ClientStatus
from multiraft.transport.codec import (Heartbeat, ReplicaCheck, ReplicaGone, SnapshotAck,
                                      SnapshotChunk)
from multiraft.transport.handler import Responder

from .replica import LockedReplica

__all__ = ["LockStore"]

log = logging.getLogger(__name__)

#: Creates the replica of (range id, replica id, campaign at start).
ReplicaFactory = Callable[[int, int, bool], LockedReplica]


class LockStore:
    """Invariant: every field below ``mu`` is read or written only with ``mu`` held; ``_work``
    only under ``_work_cv``."""

    def __init__(self, node_id: int, heartbeats: CoalescedHeartbeats, peers: list[int],
                 liveness_ticks: int, tick_interval: float, fatal: Fatal,
                 replica_counters: ReplicaCounters | None = None,
                 creation: CreationLimits | None = None,
                 membership: Membership | None = None) -> None:
        self.node_id = node_id
        #: the node directory, its gossip and node ops (fixed ``peers`` if not given; it has
        #: its own lock: called with or without ``mu``)
        self.membership = membership or Membership.standalone(node_id, list(peers))
        #: the node's fail-stop: a replica or the raft loop that raised stops the node
        self.fatal = fatal
        self.heartbeats = heartbeats
        self.transport: Any = None
        #: the round's one engine write, flushed by process_raft (set by the node)
        self.group_commit: GroupCommit[LockedReplica] | None = None
        self.factory: ReplicaFactory | None = None
        self.tick_interval = tick_interval
        self.mu = threading.Lock()
        self.replicas: dict[int, LockedReplica] = {}
        self.router = RangeRouter()
        self.counters = StoreCounters(replica_counters)
        self.liveness = Liveness(list(peers), liveness_ticks)
        self.creation = (creation or CreationLimits()).policy(self.membership.directory,
                                                              self.counters)
        self._peers = list(peers)
        self._awake: dict[int, LockedReplica] = {}
        self._stopping = False
        self._ticks = 0  # (the process_raft thread's: every ALLOCATION_SCAN_TICKS, a scan)
        self._work: dict[int, LockedReplica] = {}
        #: replica calls the process_raft thread makes with no other lock held (a split's
        #: right-hand replica starting or loading its range), under ``_work_cv``
        self._deferred: list[tuple[LockedReplica, Callable[[ReplicaCore], Any]]] = []
        self._work_cv = threading.Condition(threading.Lock())
        self._loop_stop = False

    # -- what replicas call (their lock held: store lock after replica lock) --

    def has_work(self, r: LockedReplica) -> None:
        with self._work_cv:
            self._work[id(r)] = r
            self._work_cv.notify()

    def set_awake(self, r: LockedReplica, awake: bool) -> None:
        with self.mu:
            if awake:
                self._awake[r.core.range_id] = r
            else:
                self._awake.pop(r.core.range_id, None)

    def set_descriptor(self, d: RangeDescriptor) -> None:
        with self.mu:
            self.router.update(d)
            self.creation.initialized(d.range_id)

    def overlapping(self, d: RangeDescriptor) -> int | None:
        """A local range other than ``d``'s overlapping its span (a snapshot's check)."""
        with self.mu:
            return self.router.overlapping(d.start_key, d.end_key, d.range_id)

    def split_applied(self, left: RangeDescriptor, right: RangeDescriptor,
                      campaign: bool) -> None:
        """The left replica's split is durable (its lock is held). Under the store's lock, in
        one step: route both halves and register the right-hand replica, built beforehand
        (its constructor takes only its own new lock). Starting it, or telling an
        uninitialized one to load its range, is deferred to the process_raft thread, so no
        thread holds two replicas' locks at once."""
        rid = right.range_id
        mine = [r for node, r in right.replicas if node == self.node_id]
        fresh = self.factory(rid, mine[0], campaign) if self.factory and mine else None
        with self.mu:
            self.router.split(left, right)
            self.counters.splits += 1
            self.creation.initialized(rid)
            existing = self.replicas.get(rid)
            call: tuple[LockedReplica, Callable[[ReplicaCore], Any]] | None = None
            if existing is not None:
                call = (existing, ReplicaCore.initialize_from_split)
            elif fresh is not None and not self._stopping:
                self.replicas[rid] = fresh
                call = (fresh, ReplicaCore.start)
        if call is not None:
            with self._work_cv:
                self._deferred.append(call)
                self._work_cv.notify()

    # -- the transport's Handler (the receive thread) --

    def on_raft_messages(self, from_node: int, items: list[tuple[int, Message]]) -> None:
        by_range = group_pairs(items)
        created: list[LockedReplica] = []
        with self.mu:
            self.liveness.heard(from_node)
            targets = [(self._replica_for(from_node, rid, msgs[0].type, msgs[0].term,
                                          msgs[0].to, created), msgs)
                       for rid, msgs in by_range.items()]
        for r in created:  # outside the store's lock: starting reaches back into the store
            r.call(ReplicaCore.start)
        for target, msgs in targets:
            if target is not None:
                target.call(ReplicaCore.step_raft, from_node, msgs)

    def on_heartbeats(self, from_node: int, heartbeats: list[Heartbeat]) -> None:
        self._fan_out(from_node, heartbeats, False)

    def on_heartbeat_responses(self, from_node: int, responses: list[Heartbeat]) -> None:
        self._fan_out(from_node, responses, True)

    def on_snapshot_chunk(self, from_node: int, chunk: SnapshotChunk) -> None:
        with self.mu:
            self.liveness.heard(from_node)
            r = self.replicas.get(chunk.range_id)
            if r is None:
                self.counters.dropped_unknown_range += 1
        if r is not None:
            r.call(ReplicaCore.snapshot_chunk, from_node, chunk)

    def on_snapshot_ack(self, from_node: int, ack: SnapshotAck) -> None:
        with self.mu:
            r = self.replicas.get(ack.range_id)
        if r is not None:
            r.call(ReplicaCore.snapshot_ack, from_node, ack)

    def on_replica_gone(self, from_node: int, gone: ReplicaGone) -> None:
        with self.mu:
            r = self.replicas.get(gone.range_id)
        if r is not None:
            r.call(ReplicaCore.replica_gone, from_node, gone)

    def on_replica_check(self, from_node: int, check: ReplicaCheck) -> None:
        with self.mu:
            r = self.replicas.get(check.range_id)
        if r is not None:
            r.call(ReplicaCore.replica_check, from_node, check)

    def replica_destroyed(self, r: LockedReplica) -> None:
        """The range removed replica ``r`` and its state is destroyed (its lock is held):
        under the store's lock, it leaves the map and the router."""
        rid = r.range_id
        with self.mu:
            if self.replicas.get(rid) is r:
                del self.replicas[rid]
                self._awake.pop(rid, None)
                self.router.remove(rid)
                self.counters.replicas_destroyed += 1
            self.creation.removed(rid)

    def on_unreachable(self, node_id: int) -> None:
        with self.mu:
            if not self.liveness.should_report_unreachable(node_id):
                return
            targets = [self.replicas[rid] for rid in self.router.ranges_on(node_id)
                       if rid in self.replicas]
        for r in targets:
            r.call(ReplicaCore.node_unreachable, node_id)

    def on_client_request(self, req: ClientRequest, responder: Responder) -> None:
        with self.mu:
            self.counters.client_requests += 1
            if self._stopping:
                responder.respond(ClientStatus.UNAVAILABLE, "node stopping")
                return
            if req.op in NODE_OPS:
                self.membership.handle(req, responder)
                return
            if req.op == ClientOp.STATUS:
                r = None
            else:
                rid = self.router.range_of(req.args[0])
                r = None if rid is None else self.replicas.get(rid)
                if r is None:
                    self.counters.range_not_found += 1
                    responder.respond(ClientStatus.RANGE_NOT_FOUND, None)
                    return
        if r is None:
            responder.respond(ClientStatus.OK, self.status(req.args[0].get("ranges", True)))
        else:
            r.call(ReplicaCore.client, req, responder)

    def _fan_out(self, from_node: int, hbs: list[Heartbeat], response: bool) -> None:
        created: list[LockedReplica] = []
        with self.mu:
            self.liveness.heard(from_node)
            targets = []
            for hb in hbs:
                r = self.replicas.get(hb.range_id)
                if r is None:
                    # A leader's heartbeat is first contact too (its probing MsgApp may have
                    # gone to a replica of ours that is gone); a response never is.
                    if response:
                        self.counters.dropped_unknown_range += 1
                        continue
                    r = self._replica_for(from_node, hb.range_id, MT.HEARTBEAT, hb.term,
                                          hb.to_replica, created)
                    if r is None:
                        continue
                targets.append((r, hb))
        for r in created:
            r.call(ReplicaCore.start)
        for r, hb in targets:
            r.call(ReplicaCore.heartbeat, from_node, hb, response)

    def _replica_for(self, from_node: int, range_id: int, kind: MT, term: int, to: int,
                     created: list[LockedReplica]) -> LockedReplica | None:
        """The replica of ``range_id``, created on first contact if the creation policy admits
        it (mu held; a new one is added to ``created`` for the caller to start once ``mu`` is
        released)."""
        r = self.replicas.get(range_id)
        if r is None:
            if (self.factory is None or self._stopping
                    or not self.creation.admit(from_node, range_id, kind, term, to)):
                self.counters.dropped_unknown_range += 1
                return None
            r = self.replicas[range_id] = self.factory(range_id, to, False)
            self.counters.replicas_created += 1
            created.append(r)
        return r

    # -- process_raft (its own thread) --

    def process_raft(self) -> None:
        """Tick every interval; in between, handle the Ready of replicas with work. An error
        escaping a replica stops the node (fail-stop), as a crashed actor does."""
        try:
            self._process_raft()
        except Exception as e:
            self.fatal("process_raft crashed", e)

    def _process_raft(self) -> None:
        next_tick = time.monotonic() + self.tick_interval
        cv = self._work_cv
        while True:
            with cv:
                while not self._work and not self._deferred and not self._loop_stop:
                    left = next_tick - time.monotonic()
                    if left <= 0:
                        break
                    cv.wait(left)
                if self._loop_stop:
                    return
                work, self._work = list(self._work.values()), {}
                deferred, self._deferred = self._deferred, []
            for r, fn in deferred:
                r.call(fn)
            for r in work:
                r.handle_ready()
            now = time.monotonic()
            if now >= next_tick:
                next_tick = max(next_tick + self.tick_interval, now)
                self._tick()
            if self.group_commit is not None:
                # The round's batches, one write: each replica that wrote has work next round.
                self.group_commit.flush()

    def _tick(self) -> None:
        with self.mu:
            awake = list(self._awake.values())
        for r in awake:
            r.call(ReplicaCore.tick)
        with self.mu:
            held = len(self.router.descriptors)
        peers = self.membership.tick(held, self.counters.replicas.leading.value)
        with self.mu:
            self._peers = peers
            self.liveness.track(peers)
            self.heartbeats.flush(self.transport, self._peers, self.counters)
            silent = self.liveness.tick()
            paused = self.liveness.paused
            everyone = list(self.replicas.values()) if silent or paused else []
            expired = [(rid, self.replicas.get(rid)) for rid in self.creation.expired()]
        self._drop_expired(expired)
        self._ticks += 1
        if self._ticks % ALLOCATION_SCAN_TICKS == 0:
            with self.mu:
                everyone_now = list(self.replicas.values())
            for r in everyone_now:
                r.call(ReplicaCore.scan_allocation)
        for node in silent:
            if node:
                log.info("node %d: nothing heard from node %d for %d ticks", self.node_id, node,
                         self.liveness.period)
            for r in everyone:
                r.call(ReplicaCore.node_silent, node)
        if paused:
            log.info("node %d: resumed from a pause; quiesced followers check their ranges",
                     self.node_id)
            for r in everyone:
                r.call(ReplicaCore.probe_removal)

    def _drop_expired(self, expired: list[tuple[int, LockedReplica | None]]) -> None:
        """Drop the replicas uninitialized past the policy's ttl (each under its own lock, then
        out of the map under the store's)."""
        for rid, r in expired:
            dropped = r is None or r.call(ReplicaCore.drop_if_uninitialized)
            with self.mu:
                if r is not None and dropped and self.replicas.get(rid) is r:
                    del self.replicas[rid]
                    self._awake.pop(rid, None)
                    self.counters.uninitialized_replicas_removed += 1
                if dropped:
                    self.creation.removed(rid)

    def stop_loop(self) -> None:
        with self._work_cv:
            self._loop_stop = True
            self._work_cv.notify()

    def begin_stop(self) -> None:
        with self.mu:
            self._stopping = True

    # -- status --

    def status(self, include_ranges: bool = True) -> dict[str, Any]:
        with self.mu:
            node = {"node_id": self.node_id, "ranges": len(self.replicas),
                    "uninitialized_replicas": self.creation.uninitialized,
                    "silent_peers": sorted(self.liveness.silent),
                    "counters": self.counters.as_dict(), "histograms": self.counters.histograms()}
            replicas = list(self.replicas.values()) if include_ranges else []
        ranges = []
        for r in replicas:
            with r.mu:
                ranges.append(r.core.status())
        ranges.sort(key=lambda x: x["range_id"])
        return {"node": node, "ranges": ranges, "directory": self.membership.status()}
