"""``ReplicaActor``: one range's replica on this node. It alone owns the range's RawNode, so no
lock guards raft state: every input (raft messages, ticks, client requests, storage acks)
arrives as a message and is handled on whichever pooled worker runs the actor at that time.

The raft cycle (etcd's application loop, made asynchronous):

1. inputs are stepped into the RawNode; a ``PROCESS_READY`` marker queued behind them makes
   the Ready be handled once per burst, so many proposals share one write;
2. the Ready becomes one ``WriteBatch`` (log entries, HardState, applied commands, snapshot)
   handed to the storage writer, which commits many replicas' batches with one fsync;
   a leader's messages go out at once (it may replicate before its own fsync), messages that
   acknowledge durable state (appends, votes) wait for the write;
3. on ``WRITE_DONE`` the waiting messages are sent, clients answered, ``advance`` called, and
   the next Ready handled. At most one write is in flight per replica.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

from raft import Config, ConfChange, ConfChangeV2, EntryType, Message, MessageType as MT, RawNode
from raft import Ready, Snapshot, StateType
from raft.errors import ProposalDropped
from storage.commands import decode_command
from storage.engine import Engine
from storage.replica_storage import ReplicaStorage
from storage.snapshot import SnapshotHeader, SnapshotInstaller, SnapshotSource
from storage.state_machine import KVStateMachine
from transport.client_protocol import ClientOp, ClientStatus
from transport.codec import Heartbeat, SnapshotChunk

from .heartbeat_queue import CoalescedHeartbeats
from .histogram import LATENCY_BOUNDS, Histogram
from .messages import (PROCESS_READY, TICK, WRITE_DONE, Awake, ClientCommand, DescriptorChanged,
                       InboundHeartbeat, InboundSnapshotChunk, NodeSilent, NodeUnreachable,
                       Quiesced, RaftMessages, ReportStatus, WriteRequest)
from .pending import READ_OPS, PendingRequests, respond_result, to_command
from .runtime import PooledActor

__all__ = ["ReplicaActor", "ReplicaContext"]

log = logging.getLogger(__name__)

#: Responses that acknowledge durable state: sent only once the Ready's write is durable.
_AFTER_WRITE = frozenset({MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP})


@dataclass(slots=True)
class ReplicaContext:
    """The node's services a replica uses; all are safe to use from any thread."""

    node_id: int
    engine: Engine
    transport: Any            # transport.Transport (send, send_snapshot_chunk)
    heartbeats: CoalescedHeartbeats
    writer: Any               # the storage writer's actor ref
    store: Any                # the store's actor ref
    timer: Any                # the timer's actor ref
    election_tick: int = 10
    heartbeat_tick: int = 1
    fsync: bool = True
    #: keep this many applied entries in the log for slow followers before truncating
    log_keep: int = 5_000
    #: forget proposed writes whose client has surely timed out (seconds)
    write_expiry: float = 30.0


class ReplicaActor(PooledActor):
    """Invariants: ``_inflight`` is the Ready whose batch the writer holds (None if none), and
    ``advance`` is called for it exactly once, after its ``WRITE_DONE``; ``_quiesced`` ranges
    (idle, or dormant since start) are not ticked by the timer, and any raft input or request
    wakes them."""

    def __init__(self, ctx: ReplicaContext, range_id: int, replica_id: int,
                 campaign: bool = False) -> None:
        self.ctx = ctx
        self.range_id = range_id
        self.replica_id = replica_id
        self.storage = ReplicaStorage(ctx.engine, range_id)
        self.sm = KVStateMachine(ctx.engine, range_id)
        self.rn = RawNode(Config(
            replica_id, self.storage, election_tick=ctx.election_tick,
            heartbeat_tick=ctx.heartbeat_tick, applied=self.sm.applied.index,
            check_quorum=True, pre_vote=True, max_size_per_msg=256 << 10,
            rng=random.Random((ctx.node_id << 64) | range_id)))
        #: replica id -> node id, from the descriptor and from who sent us messages
        self.nodes: dict[int, int] = {}
        self._learn_descriptor()
        self.pending = PendingRequests()
        self._inflight: tuple[Ready, list[Message], list] | None = None
        self._ready_queued = False
        self._quiesced = True  # dormant until woken (see on_start)
        self._snapshot_in: SnapshotInstaller | None = None
        self._campaign_at_start = campaign
        self.snapshots_sent = 0
        self.snapshots_installed = 0
        self.proposals = 0
        self.proposals_dropped = 0
        self.leader_changes = 0  # times this replica became leader (elections it won)
        self.apply_latency = Histogram(LATENCY_BOUNDS)  # proposal to reply, seconds

    # -- lifecycle --

    def on_start(self) -> None:
        # Replicas start dormant (not ticked): thousands of ranges do not all tick until they
        # quiesce. A replica wakes on any raft message or request, and the store wakes those
        # still without a leader once a liveness period has passed (NodeSilent(0)).
        if self._campaign_at_start and self.rn.status().soft_state.lead == 0:
            self.rn.campaign()
            self._quiesced = True  # so that _wake registers it with the timer
            self._wake()
        if self.sm.descriptor is not None:
            self.ctx.store.tell(DescriptorChanged(self.sm.descriptor))
        self._process_ready()

    def on_stop(self) -> None:
        self.pending.fail_reads(ClientStatus.ERROR, "node stopping")

    # -- dispatch --

    def on_receive(self, msg: Any) -> Any:
        if msg is PROCESS_READY:
            self._ready_queued = False
            self._process_ready()
            return None
        if msg is WRITE_DONE:
            self._write_done()
            return None
        if msg is TICK:
            self._tick()
        else:
            t = type(msg)
            if t is RaftMessages:
                self._wake()
                for m in msg.messages:
                    self.nodes.setdefault(m.from_, msg.from_node)
                    self.rn.step(m)
            elif t is InboundHeartbeat:
                self._on_heartbeat(msg)
            elif t is ClientCommand:
                self._wake()
                self._on_client(msg)
            elif t is InboundSnapshotChunk:
                self._on_snapshot_chunk(msg)
            elif t is NodeUnreachable:
                for rid, node in self.nodes.items():
                    if node == msg.node_id:
                        self.rn.report_unreachable(rid)
            elif t is NodeSilent:
                # Our leader's node went silent, or (node 0) we still know no leader.
                lead = self.rn.raft.lead
                if self._quiesced and (lead == 0 or self.nodes.get(lead) == msg.node_id):
                    self._wake()
            elif t is ReportStatus:
                msg.reply(self.status())
                return None
            else:
                return super().on_receive(msg)
        # An input may have made a Ready: handle it once the inputs queued now are stepped.
        self._queue_ready()
        return None

    def _queue_ready(self) -> None:
        if not self._ready_queued and self._inflight is None:
            self._ready_queued = True
            self.actor_ref.tell(PROCESS_READY)

    # -- inputs --

    def _tick(self) -> None:
        if self._quiesced:
            return
        if self._should_quiesce():
            self._quiesce_as_leader()
            return
        self.rn.tick()
        if self.pending.writes:
            self.pending.expire_writes(self.ctx.write_expiry)

    def _on_heartbeat(self, msg: InboundHeartbeat) -> None:
        hb = msg.heartbeat
        self.nodes.setdefault(hb.from_replica, msg.from_node)
        if msg.response:
            self._wake()
            self.rn.step(Message(MT.HEARTBEAT_RESP, hb.to_replica, hb.from_replica, hb.term))
            return
        r = self.rn.raft
        if (hb.quiesce and hb.term == r.term and r.lead == hb.from_replica
                and r.raft_log.committed == hb.commit == r.raft_log.last_index()):
            # The leader is idle and we hold all it has: stop ticking, answer nothing.
            if not self._quiesced:
                self._quiesced = True
                self.ctx.timer.tell(Quiesced(self.range_id))
            return
        self._wake()
        self.rn.step(Message(MT.HEARTBEAT, hb.to_replica, hb.from_replica, hb.term, commit=hb.commit))

    def _on_client(self, msg: ClientCommand) -> None:
        req, responder = msg.request, msg.responder
        r = self.rn.raft
        if r.state != StateType.LEADER:
            responder.respond(ClientStatus.NOT_LEADER, self.nodes.get(r.lead, 0))
            return
        try:
            cmd = to_command(req)
        except ValueError as e:
            responder.respond(ClientStatus.ERROR, str(e))
            return
        if req.op in READ_OPS:
            self.pending.read_batch.append((cmd, req.op, responder))
            return
        self.pending.add_write(cmd, req.op, responder)
        self.proposals += 1
        try:
            self.rn.propose(cmd.encode())
        except ProposalDropped as e:
            self.proposals_dropped += 1
            # Nothing was appended: the client may retry (a leader transfer, or too much
            # uncommitted data).
            self.pending.take_write(cmd.client_id, cmd.seq)
            responder.respond(ClientStatus.ERROR, f"proposal dropped: {e}")

    # -- the Ready cycle --

    def _process_ready(self) -> None:
        if self._inflight is not None:
            return
        ctx = self.pending.start_read_index()
        if ctx is not None:
            self.rn.read_index(ctx)
        rn = self.rn
        if not rn.has_ready():
            return
        prev_hs = self.storage.hard_state
        rd = rn.ready()
        if rd.soft_state is not None:
            if rd.soft_state.raft_state == StateType.LEADER:
                self.leader_changes += 1
            else:
                self.pending.fail_reads(ClientStatus.NOT_LEADER, self.nodes.get(rd.soft_state.lead, 0))
        batch = self.ctx.engine.batch()
        if rd.snapshot is not None:
            batch = self._install_snapshot(rd)
        if rd.entries:
            self.storage.append(batch, rd.entries)
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
        self.ctx.writer.tell(WriteRequest(batch, rd.must_sync and self.ctx.fsync, self.actor_ref))

    def _write_done(self) -> None:
        if self._inflight is None:
            return
        rd, late, results = self._inflight
        self._inflight = None
        self._finish(rd, late, results)
        self._process_ready()

    def _finish(self, rd: Ready, late: list[Message], results: list) -> None:
        for m in late:
            self._send(m)
        for ent, res in results:
            cmd = decode_command(ent.data)
            w = self.pending.take_write(cmd.client_id, cmd.seq)
            if w is not None:
                respond_result(w.responder, w.op, res, self._range_end())
                self.apply_latency.observe(time.monotonic() - w.since)
        self.rn.advance(rd)
        self._serve_reads()
        if rd.snapshot is not None and self.sm.descriptor is not None:
            self._learn_descriptor()
            self.ctx.store.tell(DescriptorChanged(self.sm.descriptor))

    def _apply(self, batch, rd: Ready) -> list:
        ents = rd.committed_entries
        conf_state = None
        for e in ents:
            if e.type == EntryType.CONF_CHANGE:
                conf_state = self.rn.apply_conf_change(ConfChange.decode(e.data))
            elif e.type == EntryType.CONF_CHANGE_V2:
                conf_state = self.rn.apply_conf_change(ConfChangeV2.decode(e.data))
        results = self.sm.apply(batch, ents, conf_state)
        return [(e, r) for e, r in zip(ents, results) if r is not None]

    def _serve_reads(self) -> None:
        p = self.pending
        if not p.ready_reads:
            return
        applied = self.sm.applied.index
        keep = []
        for index, ctx in p.ready_reads:
            if index > applied:
                keep.append((index, ctx))
                continue
            for cmd, op, responder in p.reads.pop(ctx, ()):
                respond_result(responder, op, self.sm.read(cmd), self._range_end())
        p.ready_reads = keep

    def _maybe_truncate(self, batch) -> None:
        first = self.storage.first_index()
        applied = self.sm.applied.index
        keep = self.ctx.log_keep
        if applied - first > 2 * keep:
            self.storage.truncate(batch, applied - keep)

    # -- sending --

    def _send(self, m: Message) -> None:
        node = self.nodes.get(m.to)
        if node is None:
            log.debug("range %d: no node known for replica %d; dropped %s", self.range_id, m.to, m.type.name)
            return
        t = m.type
        if t == MT.HEARTBEAT and not m.context:
            self.ctx.heartbeats.post(node, Heartbeat(self.range_id, m.from_, m.to, m.term, m.commit))
        elif t == MT.HEARTBEAT_RESP and not m.context:
            self.ctx.heartbeats.post_response(node, Heartbeat(self.range_id, m.from_, m.to, m.term, 0))
        elif t == MT.SNAP:
            self._send_snapshot(node, m)
        else:
            self.ctx.transport.send(node, self.range_id, m)

    # -- snapshots --

    def _send_snapshot(self, node: int, m: Message) -> None:
        """Stream the range's data (the MsgSnap itself only names the snapshot)."""
        src = SnapshotSource(self.ctx.engine, self.range_id)
        try:
            md = src.header.metadata()
            send = self.ctx.transport.send_snapshot_chunk
            send(node, SnapshotChunk(self.range_id, m.from_, m.to, m.term, md, 0, False,
                                     src.header.encode()))
            i = 0
            for i, data in enumerate(src.chunks(), 1):
                send(node, SnapshotChunk(self.range_id, m.from_, m.to, m.term, md, i, False, data))
            send(node, SnapshotChunk(self.range_id, m.from_, m.to, m.term, md, i + 1, True, b""))
        finally:
            src.close()
        self.snapshots_sent += 1
        self.rn.report_snapshot(m.to, True)

    def _on_snapshot_chunk(self, msg: InboundSnapshotChunk) -> None:
        c = msg.chunk
        self.nodes.setdefault(c.from_replica, msg.from_node)
        try:
            if c.index == 0:
                self._snapshot_in = SnapshotInstaller(self.ctx.engine, SnapshotHeader.decode(c.data))
                return
            if self._snapshot_in is None:
                return  # the stream's start was lost: the leader will retry
            if not c.last:
                self._snapshot_in.add_chunk(c.data)
                return
        except Exception as e:  # a bad stream is dropped; raft retries after report_snapshot
            log.warning("range %d: dropping snapshot stream from node %d: %s", self.range_id, msg.from_node, e)
            self._snapshot_in = None
            return
        self._wake()
        md = self._snapshot_in.header.metadata()
        self.rn.step(Message(MT.SNAP, c.to_replica, c.from_replica, c.term, snapshot=Snapshot(b"", md)))
        if not self.rn.raft.raft_log.has_pending_snapshot():
            self._snapshot_in = None  # raft did not take it (stale): nothing to install

    def _install_snapshot(self, rd: Ready):
        installer, self._snapshot_in = self._snapshot_in, None
        if installer is None:
            raise RuntimeError(f"range {self.range_id}: raft restored a snapshot we do not hold")
        self.snapshots_installed += 1
        return installer.finish(self.storage, self.sm)

    # -- quiescence --

    def _should_quiesce(self) -> bool:
        r = self.rn.raft
        if r.state != StateType.LEADER or self._inflight is not None or not self.pending.is_idle():
            return False
        log_ = r.raft_log
        last = log_.last_index()
        if log_.committed != last or log_.applied != last or r.lead_transferee:
            return False
        if r.trk.config.voters.is_joint():
            return False
        return all(pr.match == last for pr in r.trk.progress.values())

    def _quiesce_as_leader(self) -> None:
        r = self.rn.raft
        commit = r.raft_log.committed
        for rid in r.trk.progress:
            if rid != self.replica_id and rid in self.nodes:
                self.ctx.heartbeats.post(self.nodes[rid], Heartbeat(
                    self.range_id, self.replica_id, rid, r.term, commit, True))
        self._quiesced = True
        self.ctx.timer.tell(Quiesced(self.range_id))

    def _wake(self) -> None:
        if self._quiesced:
            self._quiesced = False
            self.ctx.timer.tell(Awake(self.range_id, self.actor_ref))

    # -- descriptor and status --

    def _learn_descriptor(self) -> None:
        d = self.sm.descriptor
        if d is not None:
            for node, rid in d.replicas:
                self.nodes[rid] = node

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
            "replicas": [] if d is None else [list(p) for p in d.replicas],
            "state": st.soft_state.raft_state.name.lower(),
            "leader": st.soft_state.lead, "term": st.hard_state.term,
            "commit": st.hard_state.commit, "applied": st.applied,
            "quiesced": self._quiesced,
            "snapshots_sent": self.snapshots_sent, "snapshots_installed": self.snapshots_installed,
            "proposals": self.proposals, "proposals_dropped": self.proposals_dropped,
            "leader_changes": self.leader_changes, "apply_latency": self.apply_latency.as_dict(),
            "progress": [[rid, pr.match] for rid, pr in sorted(st.progress.items())],
        }

