"""The raft state machine of one node (etcd's ``raft`` struct): elections, replication,
membership, reads and leader transfer. Pure: input is ``step``/``tick``, output is ``msgs``.

Messages a node sends to itself wait for its own storage: a candidate counts its own vote and a
leader counts its own log only once the Ready that persisted them is advanced (etcd v3.6), so a
leader may send MsgApp before its own fsync without ever committing on a non-durable majority.
"""

from __future__ import annotations

import random
from enum import IntEnum

from .config import Config, ReadOnlyOption
from .confchange import Changer, restore
from .errors import CompactedError, ProposalDropped, SnapshotTemporarilyUnavailable, UnavailableError
from .inflights import Inflights
from .leader import step_leader
from .log import RaftLog
from .progress import Progress, ProgressState
from .quorum import VoteResult
from .read_only import ReadOnly
from .tracker import ProgressTracker, TrackerConfig
from .types import (NONE, ConfChange, ConfChangeV2, ConfState, Entry, EntryType, HardState,
                    Message, MessageType as MT, ReadState, Snapshot, SoftState, StateType,
                    vote_response_type)

__all__ = ["Raft", "CampaignType"]

#: Context of a vote request sent because of a leader transfer: it overrides leader leases.
CAMPAIGN_TRANSFER = b"CampaignTransfer"


class CampaignType(IntEnum):
    PRE_ELECTION = 0
    ELECTION = 1
    TRANSFER = 2


class Raft:
    """One node's raft state.

    Invariants: ``term`` and ``vote`` only change together with a persisted HardState
    (the application persists ``hard_state()`` before sending responses); ``lead`` is NONE or a
    node believed leader of ``term``; a leader's own progress is in REPLICATE state.
    """

    def __init__(self, c: Config) -> None:
        c.validate()
        self.id = c.id
        self.term = 0
        self.vote = NONE
        self.read_states: list[ReadState] = []
        self.raft_log = RaftLog(c.storage, c.max_committed_size_per_ready)
        self.max_msg_size = c.max_size_per_msg
        self.max_uncommitted_size = c.max_uncommitted_entries_size or float("inf")
        self.trk = ProgressTracker(c.max_inflight_msgs, c.max_inflight_bytes)
        self.state = StateType.FOLLOWER
        self.is_learner = False
        #: Messages to send; ``msgs_after_append`` holds those to this node itself, which are
        #: stepped only after the Ready that carries the state they depend on is persisted.
        self.msgs: list[Message] = []
        self.msgs_after_append: list[Message] = []
        self.lead = NONE
        self.lead_transferee = NONE
        #: Index of the last conf change proposed by this leader; a new one waits until it is applied.
        self.pending_conf_index = 0
        self.pending_read_index_messages: list[Message] = []
        self.uncommitted_size = 0
        self.read_only = ReadOnly(c.read_only_option)
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.check_quorum = c.check_quorum
        self.pre_vote = c.pre_vote
        self.heartbeat_timeout = c.heartbeat_tick
        self.election_timeout = c.election_tick
        self.randomized_election_timeout = 0
        self.disable_proposal_forwarding = c.disable_proposal_forwarding
        self.lazy_commit = c.lazy_commit
        self.append_as_heartbeat = c.append_as_heartbeat
        self.rng = c.rng if c.rng is not None else random.Random(c.id)
        #: Set when followers should be sent what they lack; flushed once per Ready (batching).
        self.bcast_pending = False

        hs, cs = c.storage.initial_state()
        cfg, prs = restore(self.trk, self.raft_log.last_index(), cs)
        got = self.switch_to_config(cfg, prs)
        if got != cs:
            raise AssertionError(f"conf state {got} differs from storage's {cs}")
        if not hs.is_empty():
            self.load_state(hs)
        if c.applied > 0:
            self.raft_log.applied_to(c.applied)
        self.become_follower(self.term, NONE)

    # -- state reported to the application --

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.raft_log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.state)

    def load_state(self, hs: HardState) -> None:
        log = self.raft_log
        if hs.commit < log.committed or hs.commit > log.last_index():
            raise AssertionError(f"hard state commit {hs.commit} is out of range [{log.committed}, {log.last_index()}]")
        log.committed = hs.commit
        self.term = hs.term
        self.vote = hs.vote

    # -- sending --

    def send(self, m: Message) -> None:
        if m.from_ == NONE:
            m.from_ = self.id
        t = m.type
        if t in (MT.VOTE, MT.VOTE_RESP, MT.PRE_VOTE, MT.PRE_VOTE_RESP):
            if m.term == 0:
                raise AssertionError(f"term should be set when sending {t.name}")
        elif t != MT.PROP and t != MT.READ_INDEX:
            # Proposals and read requests are forwarded with term 0 (they are local to the leader).
            m.term = self.term
        if m.to == self.id:
            self.msgs_after_append.append(m)
        else:
            self.msgs.append(m)

    def maybe_send_append(self, to: int, send_if_empty: bool) -> bool:
        """Send ``to`` the entries it lacks (or an empty MsgApp carrying the commit index)."""
        pr = self.trk.progress[to]
        if pr.is_paused():
            return False
        log = self.raft_log
        prev_index = pr.next - 1
        try:
            prev_term = log.term(prev_index)
        except (CompactedError, UnavailableError):
            return self.maybe_send_snapshot(to, pr)
        ents: list[Entry] = []
        if pr.state != ProgressState.REPLICATE or not pr.inflights.full():
            try:
                ents = log.entries(pr.next, self.max_msg_size)
            except CompactedError:
                return self.maybe_send_snapshot(to, pr)
        if not ents and not send_if_empty:
            return False
        self.send(Message(MT.APP, to, self.id, 0, prev_term, prev_index, ents, log.committed))
        pr.sent_entries(len(ents), sum(len(e.data) for e in ents) if pr.inflights.max_bytes else 0)
        pr.sent_commit = log.committed
        pr.appended = True
        return True

    def send_append(self, to: int) -> None:
        self.maybe_send_append(to, True)

    def maybe_send_snapshot(self, to: int, pr: Progress) -> bool:
        if not pr.recent_active:
            return False  # don't ship a snapshot to a node that may be down
        try:
            snap = self.raft_log.snapshot()
        except SnapshotTemporarilyUnavailable:
            return False
        if snap.is_empty():
            raise AssertionError("need non-empty snapshot")
        pr.become_snapshot(snap.metadata.index)
        self.send(Message(MT.SNAP, to=to, snapshot=snap))
        return True

    def send_heartbeat(self, to: int, ctx: bytes) -> None:
        # A follower may not have all committed entries yet: never tell it to commit past its match.
        commit = min(self.trk.progress[to].match, self.raft_log.committed)
        self.send(Message(MT.HEARTBEAT, to=to, commit=commit, context=ctx))

    def bcast_append(self) -> None:
        """Schedule sending every follower what it lacks; ``flush_bcast`` does it once per Ready,
        so a burst of proposals goes out as one MsgApp per follower."""
        self.bcast_pending = True

    def flush_bcast(self) -> None:
        self.bcast_pending = False
        if self.state != StateType.LEADER:
            return
        for i, pr in self.trk.visit():
            if i != self.id:
                self.maybe_send_append(i, self.commit_news(pr))

    def commit_news(self, pr: Progress) -> bool:
        """Whether to send ``pr``'s follower a MsgApp for the commit index alone: it could
        commit more, and (with ``lazy_commit``) that takes in a conf change, so a replica the
        change removes learns it at once."""
        committed = self.raft_log.committed
        if not pr.can_bump_commit(committed):
            return False
        return not self.lazy_commit or pr.sent_commit < self.pending_conf_index <= committed

    def bcast_heartbeat(self) -> None:
        ctx = self.read_only.last_pending_request_ctx()
        if ctx or not self.append_as_heartbeat:
            self.bcast_heartbeat_with_ctx(ctx or b"")
            return
        for i, pr in self.trk.visit():
            if i != self.id:
                if not pr.appended:
                    self.send_heartbeat(i, b"")
                pr.appended = False

    def bcast_heartbeat_with_ctx(self, ctx: bytes) -> None:
        for i, _ in self.trk.visit():
            if i != self.id:
                self.send_heartbeat(i, ctx)

    # -- committing --

    def maybe_commit(self) -> bool:
        return self.raft_log.maybe_commit(self.trk.committed(), self.term)

    def reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.reset_randomized_election_timeout()
        self.abort_leader_transfer()
        self.trk.reset_votes()
        last = self.raft_log.last_index()
        trk = self.trk
        for i, pr in trk.progress.items():
            npr = Progress(0, last + 1, Inflights(trk.max_inflight, trk.max_inflight_bytes), pr.is_learner)
            if i == self.id:
                npr.match = last
            trk.progress[i] = npr
        self.pending_conf_index = 0
        self.uncommitted_size = 0
        self.read_only = ReadOnly(self.read_only.option)
        self.pending_read_index_messages = []
        self.bcast_pending = False

    def append_entry(self, es: list[Entry]) -> bool:
        """Append proposals as leader; False (nothing appended) over the uncommitted limit.

        The leader's own ack of these entries comes when the application has persisted them
        (RawNode.advance), never before.
        """
        log = self.raft_log
        u = log.unstable
        li = u.offset + len(u.entries) - 1 if u.entries else log.last_index()
        term = self.term
        size = 0
        for i, e in enumerate(es, li + 1):
            e.term = term
            e.index = i
            size += len(e.data)
        # Always admit one batch when nothing is uncommitted, and empty entries.
        if self.uncommitted_size > 0 and size > 0 and self.uncommitted_size + size > self.max_uncommitted_size:
            return False
        self.uncommitted_size += size
        log.append(es)
        return True

    def reduce_uncommitted_size(self, s: int) -> None:
        self.uncommitted_size = 0 if s > self.uncommitted_size else self.uncommitted_size - s

    # -- roles --

    def become_follower(self, term: int, lead: int) -> None:
        self.reset(term)
        self.lead = lead
        self.state = StateType.FOLLOWER

    def become_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise AssertionError("invalid transition [leader -> candidate]")
        self.reset(self.term + 1)
        self.vote = self.id
        self.state = StateType.CANDIDATE

    def become_pre_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise AssertionError("invalid transition [leader -> pre-candidate]")
        # A pre-candidate changes neither term nor vote: a failed pre-vote leaves no trace.
        self.trk.reset_votes()
        self.lead = NONE
        self.state = StateType.PRE_CANDIDATE

    def become_leader(self) -> None:
        if self.state == StateType.FOLLOWER:
            raise AssertionError("invalid transition [follower -> leader]")
        self.reset(self.term)
        self.lead = self.id
        self.state = StateType.LEADER
        pr = self.trk.progress[self.id]
        pr.become_replicate()
        pr.recent_active = True  # the leader is always active to itself (CheckQuorum)
        # Conservatively: any conf change in the log may still be unapplied.
        self.pending_conf_index = self.raft_log.last_index()
        if not self.append_entry([Entry(0, 0)]):
            raise AssertionError("empty entry was dropped")

    def promotable(self) -> bool:
        pr = self.trk.progress.get(self.id)
        return pr is not None and not pr.is_learner and not self.raft_log.has_pending_snapshot()

    def has_unapplied_conf_changes(self) -> bool:
        log = self.raft_log
        if log.applied >= log.committed:
            return False
        lo = max(log.applied + 1, log.first_index())
        try:
            ents = log.slice(lo, log.committed + 1)
        except CompactedError:
            return False
        return any(e.type != EntryType.NORMAL for e in ents)

    def hup(self, t: CampaignType) -> None:
        if self.state == StateType.LEADER or not self.promotable():
            return
        if self.has_unapplied_conf_changes():
            return  # campaigning could leave the group with a config it has not applied
        self.campaign(t)

    def campaign(self, t: CampaignType) -> None:
        if not self.promotable():
            return
        if t == CampaignType.PRE_ELECTION:
            self.become_pre_candidate()
            vote_msg = MT.PRE_VOTE
            term = self.term + 1  # pre-votes are requested for the term we would campaign in
        else:
            self.become_candidate()
            vote_msg = MT.VOTE
            term = self.term
        ctx = CAMPAIGN_TRANSFER if t == CampaignType.TRANSFER else b""
        last_index = self.raft_log.last_index()
        last_term = self.raft_log.last_term()
        for i in self.trk.voter_nodes():
            if i == self.id:
                # Counted once the vote is durable (see the module docstring).
                self.send(Message(vote_response_type(vote_msg), to=i, term=term))
                continue
            self.send(Message(vote_msg, to=i, term=term, log_term=last_term, index=last_index, context=ctx))

    def poll(self, node_id: int, granted: bool) -> VoteResult:
        self.trk.record_vote(node_id, granted)
        return self.trk.tally_votes()[2]

    # -- stepping --

    def step(self, m: Message) -> None:
        """Process one message (local or from a peer). Raises ``ProposalDropped`` for a proposal
        that cannot be taken."""
        if m.term == 0:
            pass  # local message
        elif m.term > self.term:
            if m.type in (MT.VOTE, MT.PRE_VOTE):
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.check_quorum and self.lead != NONE
                            and self.election_elapsed < self.election_timeout)
                if not force and in_lease:
                    # We heard from a live leader within the election timeout: ignore the vote
                    # (and do not adopt its term), which is what protects against disruption.
                    return
            if m.type == MT.PRE_VOTE:
                pass  # never change our term in response to a pre-vote
            elif m.type == MT.PRE_VOTE_RESP and not m.reject:
                pass  # a granted pre-vote is for a term we will campaign in
            elif m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
                self.become_follower(m.term, m.from_)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.check_quorum or self.pre_vote) and m.type in (MT.HEARTBEAT, MT.APP):
                # A stale leader (partitioned, or whose term was bumped by a pre-vote-less
                # campaign) learns our term from this response and steps down.
                self.send(Message(MT.APP_RESP, to=m.from_))
            elif m.type == MT.PRE_VOTE:
                self.send(Message(MT.PRE_VOTE_RESP, to=m.from_, term=self.term, reject=True))
            return

        t = m.type
        if t == MT.HUP:
            self.hup(CampaignType.PRE_ELECTION if self.pre_vote else CampaignType.ELECTION)
        elif t == MT.VOTE or t == MT.PRE_VOTE:
            can_vote = (self.vote == m.from_
                        or (self.vote == NONE and self.lead == NONE)
                        or (t == MT.PRE_VOTE and m.term > self.term))
            if can_vote and self.raft_log.is_up_to_date(m.index, m.log_term):
                self.send(Message(vote_response_type(t), to=m.from_, term=m.term))
                if t == MT.VOTE:
                    self.election_elapsed = 0
                    self.vote = m.from_
            else:
                self.send(Message(vote_response_type(t), to=m.from_, term=self.term, reject=True))
        elif self.state == StateType.LEADER:
            step_leader(self, m)
        elif self.state == StateType.FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        my_vote_resp = MT.PRE_VOTE_RESP if self.state == StateType.PRE_CANDIDATE else MT.VOTE_RESP
        if t == MT.PROP:
            raise ProposalDropped("no leader: campaigning")
        if t == MT.APP:
            self.become_follower(m.term, m.from_)
            self.handle_append_entries(m)
        elif t == MT.HEARTBEAT:
            self.become_follower(m.term, m.from_)
            self.handle_heartbeat(m)
        elif t == MT.SNAP:
            self.become_follower(m.term, m.from_)
            self.handle_snapshot(m)
        elif t == my_vote_resp:
            res = self.poll(m.from_, not m.reject)
            if res == VoteResult.WON:
                if self.state == StateType.PRE_CANDIDATE:
                    self.campaign(CampaignType.ELECTION)
                else:
                    self.become_leader()
                    self.bcast_append()
            elif res == VoteResult.LOST:
                # A rejection from a higher term already made us a follower in step().
                self.become_follower(self.term, NONE)

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MT.PROP:
            if self.lead == NONE:
                raise ProposalDropped("no leader known")
            if self.disable_proposal_forwarding:
                raise ProposalDropped("not leader, and proposal forwarding is disabled")
            m.to = self.lead
            self.send(m)
        elif t == MT.APP:
            self.election_elapsed = 0
            self.lead = m.from_
            self.handle_append_entries(m)
        elif t == MT.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.from_
            self.handle_heartbeat(m)
        elif t == MT.SNAP:
            self.election_elapsed = 0
            self.lead = m.from_
            self.handle_snapshot(m)
        elif t == MT.TRANSFER_LEADER or t == MT.READ_INDEX:
            if self.lead == NONE:
                return  # dropped: nobody to forward to
            m.to = self.lead
            self.send(m)
        elif t == MT.TIMEOUT_NOW:
            # Leadership transfer: campaign at once, even inside a leader lease.
            self.hup(CampaignType.TRANSFER)
        elif t == MT.READ_INDEX_RESP:
            if len(m.entries) != 1:
                return
            self.read_states.append(ReadState(m.index, m.entries[0].data))

    def handle_append_entries(self, m: Message) -> None:
        log = self.raft_log
        if m.index < log.committed:
            self.send(Message(MT.APP_RESP, to=m.from_, index=log.committed))
            return
        last_new, ok = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if ok:
            self.send(Message(MT.APP_RESP, to=m.from_, index=last_new))
            return
        # Reject with a hint that lets the leader skip a whole term of divergent entries:
        # the largest index at or below the probe whose term is <= the leader's term there.
        hint_index = min(m.index, log.last_index())
        hint_index, hint_term = log.find_conflict_by_term(hint_index, m.log_term)
        self.send(Message(MT.APP_RESP, to=m.from_, index=m.index, reject=True,
                          reject_hint=hint_index, log_term=hint_term))

    def handle_heartbeat(self, m: Message) -> None:
        # The leader sends min(match, commit); clamp anyway so a follower that lost its tail
        # (no fsync) does not fail here.
        self.raft_log.commit_to(min(m.commit, self.raft_log.last_index()))
        self.send(Message(MT.HEARTBEAT_RESP, to=m.from_, context=m.context))

    def handle_snapshot(self, m: Message) -> None:
        s = m.snapshot
        if s is not None and self.restore(s):
            self.send(Message(MT.APP_RESP, to=m.from_, index=self.raft_log.last_index()))
        else:
            self.send(Message(MT.APP_RESP, to=m.from_, index=self.raft_log.committed))

    def restore(self, s: Snapshot) -> bool:
        """Install snapshot ``s`` as a follower; False if it is stale or already covered."""
        md = s.metadata
        if md.index <= self.raft_log.committed:
            return False
        if self.state != StateType.FOLLOWER:
            # Defense in depth: only a leader of our term sends snapshots, which made us follower.
            self.become_follower(self.term + 1, NONE)
            return False
        cs = md.conf_state
        if self.id not in cs.voters and self.id not in cs.learners and self.id not in cs.voters_outgoing:
            return False  # a snapshot of a config we are not in: ignore it
        if self.raft_log.match_term(md.index, md.term):
            # We have the snapshot's last entry: just fast-forward the commit index.
            self.raft_log.commit_to(md.index)
            return False
        self.raft_log.restore(s)
        self.trk = ProgressTracker(self.trk.max_inflight, self.trk.max_inflight_bytes)
        cfg, prs = restore(self.trk, self.raft_log.last_index(), cs)
        got = self.switch_to_config(cfg, prs)
        if got != cs:
            raise AssertionError(f"conf state {got} differs from snapshot's {cs}")
        pr = self.trk.progress[self.id]
        pr.maybe_update(pr.next - 1)
        return True

    # -- membership --

    def apply_conf_change(self, cc: ConfChange | ConfChangeV2) -> ConfState:
        cc2 = cc.as_v2()
        changer = Changer(self.trk, self.raft_log.last_index())
        if cc2.leave_joint():
            cfg, prs = changer.leave_joint()
        else:
            joint, auto_leave = cc2.enter_joint()
            if joint:
                cfg, prs = changer.enter_joint(auto_leave, cc2.changes)
            else:
                cfg, prs = changer.simple(cc2.changes)
        return self.switch_to_config(cfg, prs)

    def switch_to_config(self, cfg: TrackerConfig, prs: dict[int, Progress]) -> ConfState:
        self.trk.config = cfg
        self.trk.progress = prs
        cs = self.trk.conf_state()
        pr = prs.get(self.id)
        self.is_learner = pr is not None and pr.is_learner
        if (pr is None or self.is_learner) and self.state == StateType.LEADER:
            # Removed or demoted: stop leading, so the rest of the group elects a member.
            self.become_follower(self.term, NONE)
            return cs
        if self.state != StateType.LEADER or not cs.voters:
            return cs
        if self.maybe_commit():
            # The quorum changed and now covers more: tell everyone.
            self.bcast_append()
        else:
            for i, _ in self.trk.visit():
                if i != self.id:
                    self.maybe_send_append(i, False)
        if self.lead_transferee != NONE and self.lead_transferee not in self.trk.config.voters.ids():
            self.abort_leader_transfer()
        return cs

    # -- timers --

    def tick(self) -> None:
        if self.state == StateType.LEADER:
            self.tick_heartbeat()
        else:
            self.tick_election()

    def tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.past_election_timeout():
            self.election_elapsed = 0
            self.step(Message(MT.HUP, from_=self.id))

    def tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                self.step(Message(MT.CHECK_QUORUM, from_=self.id))
            if self.state == StateType.LEADER and self.lead_transferee != NONE:
                self.abort_leader_transfer()  # the transfer did not finish within an election timeout
        if self.state != StateType.LEADER:
            return
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(MT.BEAT, from_=self.id))

    def past_election_timeout(self) -> bool:
        return self.election_elapsed >= self.randomized_election_timeout

    def reset_randomized_election_timeout(self) -> None:
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(self.election_timeout)

    def abort_leader_transfer(self) -> None:
        self.lead_transferee = NONE

    # -- reads --

    def committed_entry_in_current_term(self) -> bool:
        return self.raft_log.term_or_zero(self.raft_log.committed) == self.term

    def response_to_read_index_req(self, req: Message, read_index: int) -> Message | None:
        """Answer a read: locally as a ReadState, or to the follower that forwarded it."""
        if req.from_ == NONE or req.from_ == self.id:
            self.read_states.append(ReadState(read_index, req.entries[0].data))
            return None
        return Message(MT.READ_INDEX_RESP, to=req.from_, index=read_index, entries=req.entries)

    def send_read_index_response(self, m: Message) -> None:
        if self.read_only.option == ReadOnlyOption.SAFE:
            ctx = m.entries[0].data
            self.read_only.add_request(self.raft_log.committed, m)
            self.read_only.recv_ack(self.id, ctx)
            self.bcast_heartbeat_with_ctx(ctx)
        else:
            resp = self.response_to_read_index_req(m, self.raft_log.committed)
            if resp is not None:
                self.send(resp)

    def release_pending_read_index_messages(self) -> None:
        if not self.pending_read_index_messages or not self.committed_entry_in_current_term():
            return
        msgs, self.pending_read_index_messages = self.pending_read_index_messages, []
        for m in msgs:
            self.send_read_index_response(m)

