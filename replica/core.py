"""``ReplicaCore``: one range's replica on a node, independent of how the node is concurrent.

It owns the range's RawNode, storage, state machine and client requests in flight, and runs
the raft cycle (etcd's application loop, made asynchronous):

1. inputs (raft messages, heartbeats, ticks, client requests) are stepped into the RawNode;
2. ``process_ready`` turns the Ready into one write batch (entries, HardState, applied commands)
   handed to the storage writer through the env; a leader's messages go out at once (it may
   replicate before its own fsync), messages that acknowledge durable state (appends, votes)
   wait for the write. A Ready with a snapshot is written as the install's run of bounded
   batches instead (``storage.snapshot_install``: begin, data, then a final batch carrying the
   Ready's HardState and entries), one at a time, so other replicas' writes go between them;
3. ``write_done`` submits the install's next batch, if any; else it sends the waiting messages,
   answers the clients, calls ``advance`` and handles the next Ready. At most one write is in
   flight.

Not thread-safe: its owner serializes every call (the actor design by confining it to one
actor, the lock-based design with the replica's mutex).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from multiraft.raft import (Config, ConfChange, ConfChangeV2, Entry, EntryType, Message, MessageType as MT,
                  RawNode, Ready, StateType)
from multiraft.raft.errors import ProposalDropped
from multiraft.storage import keys
from multiraft.storage.commands import Command, Op, Result, encode_batch
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.storage.replica_gc import destroy_replica, load_tombstone
from multiraft.storage.engine import WriteBatch
from multiraft.storage.replica_storage import ReplicaStorage
from multiraft.storage.snapshot_install import SnapshotInstall
from multiraft.storage.state_machine import KVStateMachine
from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientStatus, WireDescriptor,
                                                 command_bytes)
from multiraft.transport.codec import (Heartbeat, ReplicaCheck, ReplicaGone, SnapshotAck,
                                      SnapshotChunk)
from multiraft.transport.handler import Responder

from .env import ReplicaEnv, ReplicaServices
from .auto_split import LoadSplitFinder, find_split_key
from .histogram import LATENCY_BOUNDS, Histogram
from .limits import ProposalQuota
from .pending import READ_OPS, PendingRequests, respond_result, to_command
from .replica_change import Goal, ReplicaChanger
from .snapshot_sender import SENDING
from .snapshots import (SNAPSHOT_SLOW_BYTES_PER_S, SNAPSHOT_TIMEOUT, IncomingStream,
                        SnapshotReceiver, snapshot_chunks)

__all__ = ["ReplicaCore"]

log = logging.getLogger(__name__)

#: A committed command entry and its state-machine result (answered once the batch is durable)
Applied = tuple[Entry, Result | list[Result]]

class _SplitAtBoundary(ValueError):
    """A split request whose key already starts the range."""


#: How many right-hand ranges of its latest splits a replica names in RANGE_KEY_MISMATCH
_KNOWN_RIGHTS = 4

#: An uninitialized replica drops MsgApps awaiting its split for at most this many election
#: timeouts of its own ticks (``_awaits_split``)
_AWAIT_SPLIT_ELECTIONS = 2

#: How long a member keeps telling a removed replica it is gone (``_tell_removed``; seconds).
_REMOVED_NOTICE_SECONDS = 600.0
#: The writes of one burst go into one entry up to about this many bytes of commands.
_BATCH_ENTRY_BYTES = 64 << 10

#: How long the leader works on an operator's replica change or leader transfer (seconds).
_CHANGE_TIMEOUT = 60.0

#: A leader quiesces after this many ticks in a row found it idle with nothing appended since
#: (a range under load idles a tick now and then; waking it costs a round of messages).
_QUIESCE_IDLE_TICKS = 2

#: Responses that acknowledge durable state: sent only once the Ready's write is durable.
_AFTER_WRITE = frozenset({MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP})


@dataclass(slots=True)
class _Installing:
    """A snapshot install in progress: the verified stream it installs, and its writes not yet
    submitted (``SnapshotInstall.writes``; the last one carries the Ready's raft state)."""

    stream: IncomingStream
    writes: Iterator[tuple[WriteBatch, bool]]


class ReplicaCore:
    """Invariants: ``_inflight`` is the Ready whose batch the writer holds (None if none), and
    ``advance`` is called for it exactly once, after the ``write_done`` of its last batch;
    ``_installing`` is set while that Ready's snapshot is being installed (then the range's
    engine state is only whole again after the final batch: nothing reads it, since reads are
    served after ``advance`` and raft lets no replica with a pending snapshot campaign, so it
    sends no snapshot of its own); a ``quiesced`` range (idle, or dormant since start) is not
    ticked, and any raft input or request wakes it."""

    def __init__(self, svc: ReplicaServices, env: ReplicaEnv, range_id: int, replica_id: int,
                 campaign: bool = False) -> None:
        self.svc = svc
        self.env = env
        self.range_id = range_id
        self.replica_id = replica_id
        #: the seed of this replica's random choices: (node, range), and the node's seed
        self._seed = (svc.seed << 96) | (svc.node_id << 64) | range_id
        #: replica id -> node id: the descriptor's (see ``_sender_ok``), or, while the replica
        #: has no descriptor, learned from who sent us messages
        self.nodes: dict[int, int] = {}
        #: replica id -> node id by the descriptor; None while uninitialized (no descriptor)
        self._placement: dict[int, int] | None = None
        #: what a RANGE_KEY_MISMATCH answer carries: this range's descriptor, then the
        #: right-hand ranges of its latest splits (newest first)
        self.known_spans: tuple[WireDescriptor, ...] = ()
        self._mismatch_logged = False
        self._load()
        #: set when a split applied on this node initialized this (uninitialized) replica's
        #: range while a write of ours was in flight: reloaded once it is durable
        self._reload_after_write = False
        #: set once ``drop_if_uninitialized`` dropped the replica, or its range removed it: it
        #: takes no more input
        self.dropped = False
        #: set once the range removed this replica (``_destroy``): its state is destroyed
        #: once no write of its own is in flight, then the owner removes it
        self.removed = False
        self._destroy_submitted = False
        if load_tombstone(svc.engine, range_id) > replica_id:
            # A late message for a replica this node destroyed: never bring it back (its
            # HardState went with it: it could vote twice in a term).
            svc.counters.add("messages_for_removed_replicas")
            self.dropped = self.removed = True
        #: replica id -> (its node, until when) of replicas the range removed lately, told at
        #: every store scan that they are gone (``_tell_removed``)
        self._removed_notices: dict[int, tuple[int, float]] = {}
        #: whether ``svc.leading`` counts this replica (it leads, as of the last Ready)
        self._counted_leading = False
        self.changer = ReplicaChanger(self, svc.node_known, svc.allocator, svc.node_id,
                                      clock=svc.clock,
                                      phase=((svc.node_id << 64) | range_id) % 997 / 997)
        #: ticks this replica has had while uninitialized (``_awaits_split``)
        self._uninitialized_ticks = 0
        #: whether this replica's raft state may be deleted when it is dropped: it found none
        #: on disk and has voted in no term (see ``drop_if_uninitialized``)
        self._may_forget = self.storage.hard_state.is_empty()
        self.pending = PendingRequests(ProposalQuota(svc.range_quota_bytes), svc.pending_limit,
                                       svc.clock)
        self._inflight: tuple[Ready, list[Message], list[Applied]] | None = None
        self.quiesced = True  # dormant until woken (see start)
        #: ticks in a row this leader was idle with nothing appended (``_QUIESCE_IDLE_TICKS``)
        self._idle_ticks = 0
        self._snapshot_in = SnapshotReceiver(range_id, svc.staging)
        #: the verified stream whose snapshot raft restored and no Ready has handed out yet
        self._restored: IncomingStream | None = None
        #: the snapshot install in flight (its stream is answered once the install is durable)
        self._installing: _Installing | None = None
        self._stream_ids = itertools.count(1)
        #: follower replica id -> the id of the snapshot stream sent it, not yet answered
        self._snapshots_out: dict[int, int] = {}
        self._campaign_at_start = campaign
        self.snapshots_sent = 0
        self.snapshots_installed = 0
        self.proposals = 0
        self.proposals_dropped = 0
        self.proposals_too_large = 0
        self.proposals_over_quota = 0
        #: writes answered NOT_LEADER because a later leader's entries replaced theirs
        self.proposals_superseded = 0
        self._quota_term = 0  # the leader term the proposal quota is held in
        #: samples request keys while the range is hot (None: load splits are off)
        self._load_finder = (LoadSplitFinder(svc.split_qps, self._seed, svc.clock())
                             if svc.split_qps > 0 else None)
        #: the generation an automatic split was proposed at, and when (one at a time)
        self._auto_split_gen, self._auto_split_at = -1, 0.0
        #: no size check before then (a check found nothing to split)
        self._next_size_check = 0.0
        self.auto_splits = 0
        self.leader_changes = 0  # times this replica became leader (elections it won)
        self.apply_latency = Histogram(LATENCY_BOUNDS)  # proposal to answer, seconds

    def _load(self) -> None:
        """(Re)build the range's storage, state machine and RawNode from the engine."""
        svc, range_id = self.svc, self.range_id
        # One consistent view for both: the writer may be committing this range's records
        # right now (a split applying here while this replica is created on first contact).
        view = svc.engine.snapshot()
        try:
            self.storage = ReplicaStorage(svc.engine, range_id, view=view)
            self.sm = KVStateMachine(svc.engine, range_id, svc.sessions, svc.max_scan_bytes,
                                     view=view)
        finally:
            view.close()
        self.storage.raise_hard_state_to_truncated()
        self.rn = RawNode(Config(
            self.replica_id, self.storage, election_tick=svc.election_tick,
            heartbeat_tick=svc.heartbeat_tick, applied=self.sm.applied.index,
            check_quorum=True, pre_vote=True, max_size_per_msg=256 << 10, lazy_commit=True,
            append_as_heartbeat=True,
            # A backstop behind the proposal quota (which is released later, on apply).
            max_uncommitted_entries_size=2 * svc.range_quota_bytes,
            rng=random.Random(self._seed)))
        self._learn_descriptor()

    # -- lifecycle --

    def start(self) -> None:
        """Replicas start dormant (not ticked), so thousands of ranges do not all tick until they
        quiesce: one wakes on any raft message or request, and the node wakes those still
        without a leader once a liveness period has passed (``node_silent(0)``)."""
        if self.removed:
            self.env.replica_destroyed()
            return
        if self._campaign_at_start and self.rn.raft.lead == 0:
            self.rn.campaign()
            self.wake()
        if self.sm.descriptor is not None:
            self.env.descriptor_changed(self.sm.descriptor)
        self.process_ready()

    def initialize_from_split(self) -> None:
        """The split that creates this range applied on this node (its records are durable):
        an uninitialized replica (created by the new range's leader reaching us first) loads
        them, keeping the term and vote it persisted (``storage.split``). Once a write in
        flight is durable, if there is one. An initialized replica has nothing to do."""
        if self.sm.descriptor is not None or self.dropped:
            return
        if self._inflight is not None:
            self._reload_after_write = True
            return
        self._load()
        self._snapshot_in = SnapshotReceiver(self.range_id, self.svc.staging)
        self.wake()

    def stop(self) -> None:
        if self._counted_leading:
            self._counted_leading = False
            self.svc.counters.leading.add(-1)
        self.pending.fail_reads(ClientStatus.UNAVAILABLE, "node stopping")
        self.changer.fail(ClientStatus.UNAVAILABLE, "node stopping")

    # -- inputs --

    def step_raft(self, from_node: int, messages: list[Message]) -> None:
        if self.dropped:
            return
        if any(m.to != self.replica_id for m in messages):
            messages = self._addressed_to_us(messages)
            if not messages:
                return
        placed = self._placement
        if placed is None:  # uninitialized: nothing to check against; learn who is where
            for m in messages:
                self.nodes.setdefault(m.from_, from_node)
            if any(m.type == MT.APP and m.context for m in messages):
                messages = [m for m in messages if not self._awaits_split(m)]
                if not messages:
                    return
        elif any(placed.get(m.from_) != from_node for m in messages):
            messages = [m for m in messages if self._sender_ok(from_node, m.from_, m.type.name)]
            if not messages:
                return
        self.wake()
        for m in messages:
            if m.type == MT.TIMEOUT_NOW:
                self.changer.transferred_in()
            self.rn.step(m)

    def tick(self) -> None:
        if self.quiesced or self.dropped:
            return
        if self._placement is None:
            self._uninitialized_ticks += 1
        if not self._should_quiesce():
            self._idle_ticks = 0
        else:
            self._idle_ticks += 1
            if self._idle_ticks >= _QUIESCE_IDLE_TICKS:
                self._quiesce_as_leader()
                return
        self.rn.tick()
        if self.rn.raft.state == StateType.LEADER:
            self._maybe_auto_split()
            self.changer.step()
        if self.pending.writes:
            self.pending.expire_writes(self.svc.write_expiry)
        if self._snapshots_out:
            self._expire_snapshots()

    def heartbeat(self, from_node: int, hb: Heartbeat, response: bool) -> None:
        if self.dropped or not self._sender_ok(from_node, hb.from_replica, "heartbeat"):
            return
        if response:
            self.wake()
            self.rn.step(Message(MT.HEARTBEAT_RESP, hb.to_replica, hb.from_replica, hb.term))
            return
        r = self.rn.raft
        if (hb.quiesce and hb.term == r.term and r.lead == hb.from_replica
                and r.raft_log.committed == hb.commit == r.raft_log.last_index()):
            # The leader is idle and we hold all it has: stop ticking, answer nothing.
            if not self.quiesced:
                self.quiesced = True
                self.env.quiesced()
            return
        self.wake()
        self.rn.step(Message(MT.HEARTBEAT, hb.to_replica, hb.from_replica, hb.term, commit=hb.commit))

    def client(self, req: ClientRequest, responder: Responder) -> None:
        if self.dropped:
            responder.respond(ClientStatus.RANGE_NOT_FOUND, None)
            return
        r = self.rn.raft
        if req.op is ClientOp.LOOKUP:  # any replica answers: what it knows of the key's range
            if self.known_spans:
                responder.respond(ClientStatus.OK, (self.known_spans, self.nodes.get(r.lead, 0)))
            else:
                responder.respond(ClientStatus.RANGE_NOT_FOUND, None)
            return
        self.wake()
        if r.state != StateType.LEADER:
            responder.respond(ClientStatus.NOT_LEADER, self.nodes.get(r.lead, 0))
            return
        d = self.sm.descriptor
        if self._load_finder is not None:
            self._load_finder.record(req.args[0], self.svc.clock())
        if d is not None and not d.contains(req.args[0]):
            # A client with a stale range cache (or routed by a stale table): tell it the spans
            # this replica knows (its own, and the right-hand ranges it split off).
            self.svc.counters.add("range_key_mismatches")
            responder.respond(ClientStatus.RANGE_KEY_MISMATCH, self.known_spans)
            return
        if req.op is ClientOp.CHANGE_REPLICAS or req.op is ClientOp.TRANSFER_LEADER:
            self._admin(req, d, responder)
            return
        try:
            cmd = self._split_command(req, d) if req.op is ClientOp.SPLIT else \
                to_command(req, self.svc.wall_clock_ms())
        except _SplitAtBoundary as e:
            responder.respond(ClientStatus.RANGE_BOUNDARY, str(e))
            return
        except ValueError as e:
            responder.respond(ClientStatus.REFUSED, str(e))
            return
        if req.op in READ_OPS:
            if self._admit_pending(responder):
                self.pending.read_batch.append((cmd, req.op, responder))
            return
        if command_bytes(req.op, req.args) > self.svc.max_command_bytes:
            self.proposals_too_large += 1
            responder.respond(ClientStatus.TOO_LARGE, f"{req.op.name}: the command is over "
                              f"{self.svc.max_command_bytes} bytes (max_command_bytes)")
            return
        data = cmd.encode()
        quota = self.pending.quota
        if self._quota_term != r.term:  # a new leadership (even one no Ready saw us lose)
            self.pending.release_quota()
            self._quota_term = r.term
        if not quota.try_acquire(len(data)):
            self.proposals_over_quota += 1
            self.svc.counters.add("busy_range_quota")
            responder.respond(ClientStatus.BUSY, f"range {self.range_id}: proposal quota full "
                              f"({quota.used} of {quota.capacity} bytes proposed, not applied)")
            return
        if not self._admit_pending(responder):
            quota.release(len(data))
            return
        self.proposals += 1
        # Proposed with the rest of this burst at the next Ready (``_propose_writes``).
        self.pending.proposing.append((data, req.op, responder))

    def _propose_writes(self) -> None:
        """Propose the writes received since the last Ready, as few entries as fit
        ``_BATCH_ENTRY_BYTES`` (a SPLIT alone in its entry): TiKV's batched proposals. Each
        command keeps its own pending slot, quota and answer, keyed by (term, index, its place
        in the entry)."""
        p = self.pending
        waiting, p.proposing = p.proposing, []
        r = self.rn.raft
        if r.state != StateType.LEADER:  # the leadership went before they were proposed
            p.refuse_proposing(waiting, ClientStatus.NOT_LEADER, self.nodes.get(r.lead, 0))
            return
        start, n = 0, len(waiting)
        while start < n:
            end, size = start + 1, len(waiting[start][0])
            if waiting[start][1] is not ClientOp.SPLIT:
                while end < n and waiting[end][1] is not ClientOp.SPLIT \
                        and size + len(waiting[end][0]) <= _BATCH_ENTRY_BYTES:
                    size += len(waiting[end][0])
                    end += 1
            group = waiting[start:end]
            start = end
            try:
                self.rn.propose(group[0][0] if len(group) == 1 else
                                encode_batch([data for data, _, _ in group]))
            except ProposalDropped as e:
                # Nothing was appended: the clients may retry (a leader transfer, too much
                # uncommitted data).
                self.proposals_dropped += len(group)
                p.refuse_proposing(group, ClientStatus.BUSY, f"proposal dropped: {e}")
                continue
            # A leader appends a proposal at once: the last entry of the log, in this term.
            term, index = r.term, r.raft_log.last_index()
            for sub, (data, op, responder) in enumerate(group):
                p.add_write(term, index, sub, op, responder, len(data))

    def _admin(self, req: ClientRequest, d: RangeDescriptor | None,
               responder: Responder) -> None:
        """An operator's replica change or leader transfer, for the changer to drive."""
        if req.args[1] != self.range_id:
            self.svc.counters.add("range_key_mismatches")
            responder.respond(ClientStatus.RANGE_KEY_MISMATCH, self.known_spans)
            return
        goal: Goal
        if req.op is ClientOp.TRANSFER_LEADER:
            goal = ("transfer", 0, req.args[2])
        else:
            _, _, expected, kind, frm, to = req.args
            if expected and d is not None and expected != d.conf_ver and not self.changer.busy:
                responder.respond(ClientStatus.REFUSED, f"range {self.range_id}: the replicas "
                                  f"changed (conf_ver {d.conf_ver}, expected {expected})")
                return
            goal = (kind, frm if kind != "add" else 0, to if kind != "remove" else 0)
        self.changer.request(goal, _CHANGE_TIMEOUT, responder)

    def _split_command(self, req: ClientRequest, d: RangeDescriptor | None) -> Command:
        """The SPLIT command for a client's split request, with a new range id and the
        generation it expects; raises ValueError for a split that can never apply."""
        key = req.args[0]
        if d is None:
            raise ValueError(f"range {self.range_id} is not initialized")
        rec = self.sm.sessions.get(req.client_id) if req.client_id else None
        if key == d.start_key and (rec is None or rec.seq != req.seq):
            # (unless it is the retry of this very split, which made the boundary: its session
            # record, here or copied to this right half, answers it through the log)
            raise _SplitAtBoundary(f"{key[:64]!r} already starts range {self.range_id}")
        return Command(Op.SPLIT, req.client_id, req.seq,
                       (key, self.svc.range_ids.allocate(), d.generation),
                       self.svc.wall_clock_ms(), req.register)

    def _wants_size_split(self, now: float) -> bool:
        limit = self.svc.split_bytes
        return bool(limit) and self.sm.data_bytes > limit and now >= self._next_size_check

    def _maybe_auto_split(self) -> None:
        """As leader, once a tick: split by size or by load (``auto_split``), one split at a
        time, within the node's rate."""
        d = self.sm.descriptor
        now = self.svc.clock()
        if d is None or (self._auto_split_gen == d.generation and now - self._auto_split_at < 5):
            return
        size = self._wants_size_split(now)
        load = None if size or self._load_finder is None else self._load_finder.split_key(now)
        if not (size or load) or not self.svc.split_limiter.try_acquire(now):
            return
        key, why = load, "load"
        if size:
            total, key = find_split_key(self.svc.engine, d)
            self.sm.data_bytes = total  # the scan's truth replaces the estimate
            why = f"size ({total} bytes)"
            if total <= self.svc.split_bytes or key is None:
                self._next_size_check = now + 10.0
                return
        assert key is not None
        cmd = Command(Op.SPLIT, 0, 0, (key, self.svc.range_ids.allocate(), d.generation),
                      self.svc.wall_clock_ms(), True)
        try:
            self.rn.propose(cmd.encode())
        except ProposalDropped:
            return
        self._auto_split_gen, self._auto_split_at = d.generation, now
        self.auto_splits += 1
        if self._load_finder is not None:
            self._load_finder.reset()
        log.info("range %d: splitting at %r by %s", self.range_id, key[:64], why)

    def _admit_pending(self, responder: Responder) -> bool:
        """Take one of the node's pending-request slots, or answer BUSY (and count it)."""
        limit = self.pending.limit
        if limit.try_acquire():
            return True
        self.svc.counters.add("busy_pending_limit")
        responder.respond(ClientStatus.BUSY, f"node {self.svc.node_id}: {limit.limit} client "
                          "requests pending already (max_pending_requests)")
        return False

    def snapshot_chunk(self, from_node: int, c: SnapshotChunk) -> None:
        if self.dropped or not self._sender_ok(from_node, c.from_replica, "snapshot chunk"):
            return
        out = self._snapshot_in.add(c, from_node)
        if out.refused is not None:
            self._answer_stream(out.reply_to, out.refused, False)
        done = out.completed
        if out.snapshot is None or done is None:
            return
        if self._overlaps_local_range(done):
            return
        self.wake()
        self.rn.step(out.snapshot)
        if self.rn.raft.raft_log.unstable.snapshot is out.snapshot.snapshot:
            # Raft restored it: the next Ready installs it. It replaced any snapshot raft had
            # restored before and no Ready handed out yet: that one will never be installed.
            if self._restored is not None:
                self._restored.staged.discard()
            self._restored = done
        else:
            # Raft did not take it (stale: our log, or the snapshot being installed, is past
            # it): nothing to install, and the sender may stop sending it.
            done.staged.discard()
            self._answer_stream((done.from_node, done.from_replica), done.stream_id, True)

    def _overlaps_local_range(self, done: IncomingStream) -> bool:
        """Whether the verified stream's range overlaps another initialized range on this
        node, e.g. a split's right-hand range whose left replica here has not applied the split
        yet: then it is refused (the sender retries later), never installed over those keys."""
        other = self.env.overlapping(done.header.descriptor)
        if other is None:
            return False
        done.staged.discard()
        self.svc.counters.add("snapshots_refused_overlap")
        log.info("range %d: refused a snapshot overlapping range %d on this node",
                 self.range_id, other)
        self._answer_stream((done.from_node, done.from_replica), done.stream_id, False)
        return True

    def snapshot_ack(self, from_node: int, ack: SnapshotAck) -> None:
        """The follower's answer to the snapshot we streamed it: report it to raft."""
        if self._snapshots_out.get(ack.from_replica) != ack.stream_id:
            return  # an answer to an older stream
        del self._snapshots_out[ack.from_replica]
        self.svc.snapshots.forget(self.range_id, ack.stream_id)
        self.wake()
        self.rn.report_snapshot(ack.from_replica, ack.accepted)

    def _awaits_split(self, m: Message) -> bool:
        """Whether this uninitialized replica drops MsgApp ``m`` (CockroachDB's
        ``maybeDropMsgApp``): the leader names the range's start key in the appends it sends a
        follower it has heard nothing from (``_send``); while an initialized local range still
        covers that key, the split that creates this range has yet to apply here and will
        initialize this replica at its initial index. Taken now, the MsgApp would be rejected
        (an empty log), and the leader would send a snapshot, refused as overlapping that local
        range. Bounded: after a few election timeouts the replica takes them (the left replica
        may be gone or cut off; a snapshot then has to do)."""
        if m.type != MT.APP or not m.context or \
                self._uninitialized_ticks >= _AWAIT_SPLIT_ELECTIONS * self.svc.election_tick:
            return False
        key = m.context
        if self.env.overlapping(RangeDescriptor(self.range_id, key, key + b"\x00")) is None:
            return False
        self.svc.counters.add("appends_dropped_awaiting_split")
        return True

    def _addressed_to_us(self, messages: list[Message]) -> list[Message]:
        """The messages for this replica id. One for a newer id means this node was given a
        new replica of the range after this one was removed (ids only grow): this one is gone
        and is destroyed, so the store creates the new one on the leader's next message. One
        for an older id is a late message for a replica destroyed here: dropped."""
        if any(m.to > self.replica_id for m in messages):
            log.info("range %d: replica %d superseded by replica %d on this node",
                     self.range_id, self.replica_id, max(m.to for m in messages))
            self._destroy()
            return []
        self.svc.counters.add("messages_for_removed_replicas")
        return [m for m in messages if m.to == self.replica_id]

    def _sender_ok(self, from_node: int, replica_id: int, what: str) -> bool:
        """Whether ``replica_id`` lives on ``from_node``, the node the transport says sent the
        input (authenticated when CURVE is on). An input claiming a replica that the descriptor
        puts elsewhere (or does not list) is a forgery or a bug: dropped and counted, never
        stepped. Without a descriptor (uninitialized) there is nothing to check against: the
        sender is learned and the input stepped; the check applies once a snapshot brings the
        descriptor (which then replaces whatever was learned)."""
        placed = self._placement
        if placed is None:
            self.nodes.setdefault(replica_id, from_node)
            return True
        if placed.get(replica_id) == from_node:
            return True
        d = self.sm.descriptor
        if d is not None and replica_id not in placed and replica_id < d.next_id():
            # A replica the range removed (its id was given out, and it is no longer listed):
            # it missed its removal (partitioned, paused); tell it, so it destroys itself.
            self.svc.counters.add("messages_from_removed_replicas")
            self.svc.transport.send_replica_gone(
                from_node, ReplicaGone(self.range_id, replica_id, d.conf_ver))
            return False
        self.svc.counters.add("raft_sender_mismatches")
        (log.debug if self._mismatch_logged else log.warning)(
            "range %d: dropped a %s claiming replica %d from node %d: the descriptor puts it on "
            "node %s", self.range_id, what, replica_id, from_node, placed.get(replica_id))
        self._mismatch_logged = True
        return False

    def scan_allocation(self) -> None:
        """The store's periodic scan: a leader, even a quiesced one, asks the allocator whether
        its range needs a change, and wakes to make it; every member tells the replicas its
        range removed lately that they are gone (``_tell_removed``)."""
        if self.dropped:
            return
        if self._removed_notices:
            self._tell_removed()
        if self.rn.raft.state != StateType.LEADER:
            return
        if self.changer.scan():
            self.wake()
            self.changer.step()

    def _tell_removed(self) -> None:
        """REPLICA_GONE to each replica removed from the range in the last
        ``_REMOVED_NOTICE_SECONDS``: one that missed its removal (partitioned, paused, or
        quiesced: a quiesced range tells it nothing) destroys itself once a notice reaches it.
        Only ranges that removed a replica lately send these; idle ranges send nothing."""
        d = self.sm.descriptor
        now = self.svc.clock()
        for rid, (node, until) in list(self._removed_notices.items()):
            if now > until or d is None:
                del self._removed_notices[rid]
            else:
                self.svc.transport.send_replica_gone(node,
                                                     ReplicaGone(self.range_id, rid, d.conf_ver))

    def probe_removal(self) -> None:
        """The node slept through a pause (``store.liveness``): a quiesced follower asks the
        range's other members whether it is still in the range (REPLICA_CHECK). Its range may
        have removed it meanwhile, and a quiesced range never tells (an awake replica that
        hears nothing campaigns instead, and its votes are answered REPLICA_GONE). The check
        wakes no range on the members; idle ranges send nothing otherwise."""
        d = self.sm.descriptor
        if self.dropped or d is None or not self.quiesced \
                or self.rn.raft.state == StateType.LEADER:
            return
        check = ReplicaCheck(self.range_id, self.replica_id, d.conf_ver)
        for node, rid in d.replicas:
            if rid != self.replica_id:
                self.svc.transport.send_replica_check(node, check)

    def replica_check(self, from_node: int, check: ReplicaCheck) -> None:
        """A replica on ``from_node`` asks whether it is still in the range: if our descriptor
        gave its id out and no longer lists it, it was removed: tell it (REPLICA_GONE)."""
        d, placed = self.sm.descriptor, self._placement
        if self.dropped or d is None or placed is None or check.replica_id in placed \
                or check.replica_id >= d.next_id():
            return
        self.svc.counters.add("messages_from_removed_replicas")
        self.svc.transport.send_replica_gone(
            from_node, ReplicaGone(self.range_id, check.replica_id, d.conf_ver))

    def replica_gone(self, from_node: int, gone: ReplicaGone) -> None:
        """A member of the range says the range removed this replica: believed if that node
        holds a replica by our descriptor and its descriptor is newer than ours (the only way
        ours can lack the removal); then this replica destroys itself."""
        d = self.sm.descriptor
        if (self.dropped or gone.replica_id != self.replica_id or d is None
                or d.replica_on(from_node) is None or gone.conf_ver <= d.conf_ver):
            return
        log.info("range %d: node %d says replica %d was removed (conf_ver %d, ours %d)",
                 self.range_id, from_node, self.replica_id, gone.conf_ver, d.conf_ver)
        self._destroy()

    def _destroy(self) -> None:
        """The range removed this replica: take no more input, answer what waits, and, once no
        write of ours is in flight, destroy the replica's state in one batch
        (``storage.replica_gc``: its records, its user data unless another local range covers
        it, a tombstone); once that is durable the owner removes it (``write_done``)."""
        if not self.removed:
            self.removed = self.dropped = True
            self.pending.fail_reads(ClientStatus.RANGE_NOT_FOUND, None)
            # (writes are not answered: their entries may still commit without us; their
            # clients time out and retry with the same command id)
            self.pending.forget_writes()
            # (those not proposed yet can be refused: nothing of them can apply)
            self.pending.refuse_proposing(self.pending.proposing, ClientStatus.RANGE_NOT_FOUND,
                                          None)
            self.pending.proposing = []
            self.changer.fail(ClientStatus.NOT_LEADER, 0)
            self.svc.counters.add("replicas_removed")
            if not self.quiesced:
                self.quiesced = True
                self.env.quiesced()
        if self._inflight is not None or self._destroy_submitted:
            return  # (again from write_done)
        if self._restored is not None:
            self._restored.staged.discard()
            self._restored = None
        self._snapshot_in = SnapshotReceiver(self.range_id, self.svc.staging)
        d = self.sm.descriptor
        keep_data = d is None or self.env.overlapping(d) is not None
        batch = self.svc.engine.batch()
        destroy_replica(batch, self.range_id, self.replica_id,
                        None if keep_data or d is None else d.engine_span())
        self._destroy_submitted = True
        self.env.submit_write(batch, True)

    def node_unreachable(self, node_id: int) -> None:
        if self.dropped:
            return
        for rid, node in self.nodes.items():
            if node == node_id:
                self.rn.report_unreachable(rid)
                stream_id = self._snapshots_out.pop(rid, None)
                if stream_id is not None:
                    # A frame of its stream may be among those dropped: send it again.
                    self.svc.snapshots.forget(self.range_id, stream_id)
                    self.rn.report_snapshot(rid, False)

    def node_silent(self, node_id: int) -> None:
        """Nothing heard from ``node_id`` for a liveness period (0: a period since start)."""
        lead = self.rn.raft.lead
        if self.quiesced and not self.dropped and (lead == 0 or self.nodes.get(lead) == node_id):
            self.wake()

    def drop_if_uninitialized(self) -> bool:
        """Drop this replica if it is still uninitialized (created on first contact, and no
        snapshot brought it a descriptor) and idle; True if it is dropped (now or before).

        A dropped replica takes no more input (the owner removes it from its store). Its raft
        state (its HardState, and any log entries: all an uninitialized replica writes) is deleted
        through the writer, unless it found some on disk when it was created or has voted since:
        then it is kept whole, since a replica recreated without its HardState could vote a
        second time in a term it already voted in. Deleting is safe otherwise: a replica that
        never voted is in no election's quorum, and an uninitialized one acknowledged no entry a
        leader counts (a range's log starts after its initial snapshot: there is nothing for an
        empty log to match). Refused (False) while a snapshot is arriving or a write is in
        flight."""
        if self.dropped:
            return True
        if (self.sm.descriptor is not None or self._inflight is not None
                or self._snapshot_in.busy()
                or self.rn.raft.raft_log.has_pending_snapshot()):
            return False
        self.dropped = True
        self.pending.fail_reads(ClientStatus.RANGE_NOT_FOUND, None)
        if not self.quiesced:
            self.quiesced = True
            self.env.quiesced()
        if self._may_forget and self.rn.raft.vote == 0:
            # Only what this replica wrote: a split applying here meanwhile (the local left
            # replica runs apart from this one) may have written the range's other records,
            # which the store's next replica of the range loads.
            batch = self.svc.engine.batch()
            batch.delete(keys.hard_state_key(self.range_id))
            batch.delete_range(*keys.log_span(self.range_id))
            self.env.submit_write(batch, False)
        return True

    # -- the Ready cycle --

    def process_ready(self) -> None:
        if self._inflight is not None or self.dropped:
            return
        if self.pending.proposing:
            self._propose_writes()
        ctx = self.pending.start_read_index()
        if ctx is not None:
            self.rn.read_index(ctx)
        rn = self.rn
        if not rn.has_ready():
            return
        prev_hs = self.storage.hard_state
        rd = rn.ready()
        if rd.hard_state is not None and rd.hard_state.vote:
            self._may_forget = False
        if rd.soft_state is not None:
            leading = rd.soft_state.raft_state == StateType.LEADER
            if leading != self._counted_leading:
                self._counted_leading = leading
                self.svc.counters.leading.add(1 if leading else -1)
            if leading:
                self.leader_changes += 1
            else:
                lead_node = self.nodes.get(rd.soft_state.lead, 0)
                self.pending.fail_reads(ClientStatus.NOT_LEADER, lead_node)
                self.pending.release_quota()
                self.changer.lost_leadership(lead_node)
        if rd.snapshot is not None:
            # The Ready's batch becomes the install's final one (the rest goes in it as usual).
            self.snapshots_installed += 1
            done, self._restored = self._restored, None
            if done is None or done.header.metadata() != rd.snapshot.metadata:
                raise RuntimeError(f"range {self.range_id}: raft restored a snapshot we do "
                                   "not hold")
            install = SnapshotInstall(self.svc.engine, done.header, done.staged)
            batch = install.final_batch(self.storage)
            self._installing = _Installing(done, install.writes(batch))
        else:
            batch = self.svc.engine.batch()
        if rd.entries:
            self.storage.append(batch, rd.entries)
            self._idle_ticks = 0
        if rd.hard_state is not None:
            self.storage.set_hard_state(batch, rd.hard_state)
        # Messages that do not acknowledge durable state may go before the write, unless this
        # Ready changes our term or vote (which must be durable before anyone hears of them).
        early = rd.hard_state is None or (rd.hard_state.term == prev_hs.term
                                          and rd.hard_state.vote == prev_hs.vote)
        late: list[Message] = []
        for m in rd.messages:
            if early and m.type not in _AFTER_WRITE:
                self._send(m)
            else:
                late.append(m)
        results = self._apply(batch, rd) if rd.committed_entries else []
        for rs in rd.read_states:
            self.pending.ready_reads.append((rs.index, rs.request_ctx))
        self._maybe_truncate(batch)
        if len(batch) == 0 and not rd.must_sync:
            self._finish(rd, late, results)
            return
        self._inflight = (rd, late, results)
        if self._installing is not None:
            self._submit_install_write(self._installing)
            return
        self.env.submit_write(batch, rd.must_sync and self.svc.fsync)

    def write_done(self) -> None:
        """The batch in flight is durable."""
        if self._destroy_submitted:  # the replica's state is destroyed: the owner removes it
            self.env.replica_destroyed()
            return
        if self._inflight is None:
            return
        if self._installing is not None and self._submit_install_write(self._installing):
            return
        rd, late, results = self._inflight
        self._inflight = None
        self._finish(rd, late, results)
        if self.removed:
            self._destroy()
            return
        if self._reload_after_write:
            self._reload_after_write = False
            self.initialize_from_split()
        self.process_ready()

    def _submit_install_write(self, installing: _Installing) -> bool:
        """Hand the install's next batch to the writer; False once there is none left."""
        nxt = next(installing.writes, None)
        if nxt is None:
            return False
        batch, durable = nxt
        self.env.submit_write(batch, durable and self.svc.fsync)
        return True

    def _finish(self, rd: Ready, late: list[Message], results: list[Applied]) -> None:
        for m in late:
            self._send(m)
        if self._installing is not None:  # the snapshot is installed, durably
            done = self._installing.stream
            self._installing = None
            done.staged.discard()
            # Its applied state, descriptor and dedup table, as the install wrote them.
            self.sm = self._load_state_machine()
            self._answer_stream((done.from_node, done.from_replica), done.stream_id, True)
        splits = self.sm.take_splits()  # durable now: the store may route to the new ranges
        for left, right in splits:
            self.env.split_applied(left, right, self.rn.raft.state == StateType.LEADER)
        changes = self.sm.take_replica_changes()
        end, known = self._range_end(), self.known_spans
        take = self.pending.take_write
        for ent, res in results:
            for sub, one in (enumerate(res) if isinstance(res, list) else ((0, res),)):
                w = take(ent.term, ent.index, sub)
                if w is not None:
                    respond_result(w.responder, w.op, one, end, known)
                    self.apply_latency.observe(self.svc.clock() - w.since)
        if self.pending.writes and next(iter(self.pending.writes))[0] < self.rn.raft.term:
            self._answer_superseded()
        self.rn.advance(rd)
        if changes:
            if any(operator for _, operator in changes):
                self.changer.operator_changed()
            d = changes[-1][0]
            if d.replica_on(self.svc.node_id) != self.replica_id:
                log.info("range %d: replica %d removed from the range (conf_ver %d)",
                         self.range_id, self.replica_id, d.conf_ver)
                self._destroy()
                return
            self.env.descriptor_changed(d)
        if self.removed:
            return
        self._serve_reads()
        if rd.committed_entries and self.rn.raft.state == StateType.LEADER:
            self.changer.step()
        if rd.snapshot is not None and self.sm.descriptor is not None:
            self._learn_descriptor()
            self.env.descriptor_changed(self.sm.descriptor)

    def _answer_superseded(self) -> None:
        """Answer NOT_LEADER the writes this replica proposed as an earlier leader whose entries
        a later leader's replaced (TiKV's stale commands): nothing applies them, so no result
        would ever answer them, and their clients would wait for their timeout. Not applied, so
        a retry with the same command id is safe."""
        r = self.rn.raft
        applied = self.sm.applied
        lead = self.nodes.get(r.lead, 0)
        for w in self.pending.take_superseded(r.term, applied.index, applied.term,
                                              r.raft_log.term_or_zero):
            self.proposals_superseded += 1
            w.responder.respond(ClientStatus.NOT_LEADER, lead)

    def _load_state_machine(self) -> KVStateMachine:
        """The range's state machine as the engine holds it."""
        svc = self.svc
        return KVStateMachine(svc.engine, self.range_id, svc.sessions, svc.max_scan_bytes)

    def _apply(self, batch: WriteBatch, rd: Ready) -> list[Applied]:
        ents = rd.committed_entries
        results = self.sm.apply(batch, ents, apply_conf_change=self.rn.apply_conf_change)
        if self.sm.replica_changes:
            # Raft sends to added replicas from now on: learn where they are at once.
            before = self._placement or {}
            self._learn_descriptor()
            now = self.svc.clock()
            for rid, node in before.items():
                if rid not in self.nodes and rid != self.replica_id:
                    self._removed_notices[rid] = (node, now + _REMOVED_NOTICE_SECONDS)
        # The descriptor is narrowed as of now (what ``client`` checks keys against): so are
        # the spans a RANGE_KEY_MISMATCH names, before the split is durable, or a client would
        # be told this range still holds the key.
        for _, right in self.sm.splits:
            self._learn_split(right)
        return [(e, r) for e, r in zip(ents, results) if r is not None]

    def _serve_reads(self) -> None:
        p = self.pending
        if not p.ready_reads:
            return
        applied = self.sm.applied.index
        end, known = self._range_end(), self.known_spans
        keep = []
        for index, ctx in p.ready_reads:
            if index > applied:
                keep.append((index, ctx))
                continue
            for cmd, op, responder in p.take_reads(ctx):
                respond_result(responder, op, self.sm.read(cmd), end, known)
        p.ready_reads = keep

    def _maybe_truncate(self, batch: WriteBatch) -> None:
        applied = self.sm.applied.index
        keep = self.svc.log_keep
        if applied - self.storage.first_index() > 2 * keep:
            self.storage.truncate(batch, applied - keep)

    # -- sending --

    def _send(self, m: Message) -> None:
        node = self.nodes.get(m.to)
        if node is None:
            log.debug("range %d: no node known for replica %d; dropped %s", self.range_id, m.to,
                      m.type.name)
            return
        t = m.type
        svc = self.svc
        if t == MT.HEARTBEAT and not m.context:
            svc.heartbeats.post(node, Heartbeat(self.range_id, m.from_, m.to, m.term, m.commit))
        elif t == MT.HEARTBEAT_RESP and not m.context:
            svc.heartbeats.post_response(node, Heartbeat(self.range_id, m.from_, m.to, m.term, 0))
        elif t == MT.SNAP:
            # Reported to raft when the follower answers the stream (or it times out), not
            # when the chunks are queued: a queued chunk may still be lost.
            stream_id = next(self._stream_ids)
            self._snapshots_out[m.to] = stream_id
            svc.snapshots.submit(node, self.range_id, stream_id,
                                 snapshot_chunks(svc.engine, self.range_id, m, stream_id))
            self.snapshots_sent += 1
        else:
            if t == MT.APP and not m.context and self.sm.descriptor is not None:
                pr = self.rn.raft.trk.progress.get(m.to)
                if pr is not None and pr.match == 0:  # (``_awaits_split``)
                    m = dataclasses.replace(m, context=self.sm.descriptor.start_key)
            svc.transport.send(node, self.range_id, m)

    def _answer_stream(self, reply_to: tuple[int, int], stream_id: int, accepted: bool) -> None:
        node, replica = reply_to
        self.svc.transport.send_snapshot_ack(
            node, SnapshotAck(self.range_id, self.replica_id, replica, stream_id, accepted))

    def _expire_snapshots(self) -> None:
        """Report as failed the snapshots whose follower has not answered in time (raft will
        send them again)."""
        now = self.svc.clock()
        snapshots = self.svc.snapshots
        for replica, stream_id in list(self._snapshots_out.items()):
            out = snapshots.outcome(self.range_id, stream_id)
            if out == SENDING:
                continue  # the sender abandons a stream that stalls
            if isinstance(out, tuple):
                size, sent_at = out
                if now < sent_at + SNAPSHOT_TIMEOUT + size / SNAPSHOT_SLOW_BYTES_PER_S:
                    continue
            del self._snapshots_out[replica]
            snapshots.forget(self.range_id, stream_id)
            self.rn.report_snapshot(replica, False)

    # -- quiescence --

    def _should_quiesce(self) -> bool:
        r = self.rn.raft
        if r.state != StateType.LEADER or self._inflight is not None or not self.pending.is_idle():
            return False
        log_ = r.raft_log
        last = log_.last_index()
        if log_.committed != last or log_.applied != last or r.lead_transferee:
            return False
        if r.trk.config.voters.is_joint() or self._wants_size_split(self.svc.clock()):
            return False
        d = self.sm.descriptor
        if self.changer.busy or (d is not None and (d.learners or d.is_joint())):
            return False  # (a change to drive, a learner to watch)
        return all(pr.match == last for pr in r.trk.progress.values())

    def _quiesce_as_leader(self) -> None:
        r = self.rn.raft
        commit = r.raft_log.committed
        for rid in r.trk.progress:
            if rid != self.replica_id and rid in self.nodes:
                self.svc.heartbeats.post(self.nodes[rid], Heartbeat(
                    self.range_id, self.replica_id, rid, r.term, commit, True))
        self.quiesced = True
        self._idle_ticks = 0
        self.env.quiesced()

    def wake(self) -> None:
        if self.quiesced:
            self.quiesced = False
            self.env.awake()

    # -- what the changer asks (``replica_change.ChangeHost``) --

    @property
    def descriptor(self) -> RangeDescriptor | None:
        return self.sm.descriptor

    def match_of(self, replica_id: int) -> int | None:
        pr = self.rn.raft.trk.progress.get(replica_id)
        return None if pr is None else pr.match

    def is_active(self, replica_id: int) -> bool:
        pr = self.rn.raft.trk.progress.get(replica_id)
        return pr is not None and (pr.heard_lately or replica_id == self.replica_id)

    def commit_index(self) -> int:
        return self.rn.raft.raft_log.committed

    def conf_change_pending(self) -> bool:
        r = self.rn.raft
        return r.pending_conf_index > r.raft_log.applied

    def propose_conf_change(self, cc: ConfChangeV2) -> bool:
        try:
            self.rn.propose_conf_change(cc)
        except ProposalDropped:
            return False
        self.wake()
        return True

    def transfer_leader(self, replica_id: int) -> None:
        self.wake()
        self.rn.transfer_leader(replica_id)

    def transfer_in_progress(self) -> bool:
        return self.rn.raft.lead_transferee != 0

    def leader_node(self) -> int:
        return self.nodes.get(self.rn.raft.lead, 0)

    # -- descriptor and status --

    def _learn_descriptor(self) -> None:
        d = self.sm.descriptor
        if d is not None:
            self._placement = {rid: node for node, rid in d.replicas}
            self.nodes = dict(self._placement)  # forget what senders claimed before it
            self.known_spans = (d.wire(),)

    def _learn_split(self, right: RangeDescriptor) -> None:
        d = self.sm.descriptor
        assert d is not None
        self.known_spans = (d.wire(), right.wire(), *self.known_spans[1:_KNOWN_RIGHTS])

    def _range_end(self) -> bytes | None:
        d = self.sm.descriptor
        return None if d is None else d.end_key

    def status(self) -> dict[str, Any]:
        """What ``multiraft status`` shows of this replica."""
        st = self.rn.status()
        d = self.sm.descriptor
        return {
            "range_id": self.range_id, "replica_id": self.replica_id,
            "start_key": None if d is None else d.start_key,
            "end_key": None if d is None else d.end_key,
            "generation": None if d is None else d.generation,
            "replicas": [] if d is None else [list(p) for p in d.replicas],
            "voters": [] if d is None else d.voter_nodes(),
            "learners": [] if d is None else d.learner_nodes(),
            "conf_ver": None if d is None else d.conf_ver,
            "state": st.soft_state.raft_state.name.lower(),
            "leader": st.soft_state.lead, "term": st.hard_state.term,
            "commit": st.hard_state.commit, "applied": st.applied,
            "quiesced": self.quiesced,
            "snapshots_sent": self.snapshots_sent, "snapshots_installed": self.snapshots_installed,
            "proposals": self.proposals, "proposals_dropped": self.proposals_dropped,
            "proposals_too_large": self.proposals_too_large,
            "proposals_over_quota": self.proposals_over_quota,
            "proposals_superseded": self.proposals_superseded,
            "quota_bytes_used": self.pending.quota.used,
            "leader_changes": self.leader_changes, "auto_splits": self.auto_splits,
            "replica_changes_proposed": self.changer.changes_proposed,
            "learners_rolled_back": self.changer.learners_rolled_back,
            "leader_transfers": self.changer.transfers,
            "automatic_changes": self.changer.automatic_changes,
            "data_bytes": self.sm.data_bytes, "apply_latency": self.apply_latency.as_dict(),
            "progress": [[rid, pr.match] for rid, pr in sorted(st.progress.items())],
        }
