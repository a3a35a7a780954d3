"""How a leader steps a message: proposals, replication acks, heartbeats, reads, transfers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import ReadOnlyOption
from .errors import ProposalDropped
from .progress import Progress, ProgressState
from .quorum import VoteResult
from .types import (NONE, ConfChange, ConfChangeV2, Entry, EntryType, Message,
                    MessageType as MT)

if TYPE_CHECKING:
    from .raft import Raft

__all__ = ["step_leader", "propose"]


def step_leader(r: Raft, m: Message) -> None:
    t = m.type
    # Messages that need no progress of the sender.
    if t == MT.BEAT:
        r.bcast_heartbeat()
        return
    if t == MT.CHECK_QUORUM:
        if not r.trk.quorum_active():
            r.become_follower(r.term, NONE)  # cut off from a quorum: stop serving as leader
        # Everyone but us must prove again, by the next check, that they are alive.
        for i, pr in r.trk.progress.items():
            if i != r.id:
                pr.active_before = pr.recent_active
                pr.recent_active = False
        return
    if t == MT.PROP:
        _propose(r, m)
        return
    if t == MT.READ_INDEX:
        if r.trk.is_singleton():
            resp = r.response_to_read_index_req(m, r.raft_log.committed)
            if resp is not None:
                r.send(resp)
            return
        if not r.committed_entry_in_current_term():
            # Our commit index may be stale until an entry of our term commits (thesis §6.4).
            r.pending_read_index_messages.append(m)
            return
        r.send_read_index_response(m)
        return

    found = r.trk.progress.get(m.from_)
    if found is None:
        return  # a message from a node not in the config
    pr = found
    if t == MT.APP_RESP:
        pr.recent_active = True
        if m.reject:
            _handle_append_rejection(r, m, pr)
        else:
            _handle_append_ack(r, m, pr)
    elif t == MT.HEARTBEAT_RESP:
        pr.recent_active = True
        pr.msg_app_flow_paused = False
        if pr.match < r.raft_log.last_index() or pr.state == ProgressState.PROBE:
            r.send_append(m.from_)
        if r.read_only.option != ReadOnlyOption.SAFE or not m.context:
            return
        acks = r.read_only.recv_ack(m.from_, m.context)
        if r.trk.config.voters.vote_result(acks) != VoteResult.WON:
            return
        for rs in r.read_only.advance(m.context):
            resp = r.response_to_read_index_req(rs.req, rs.index)
            if resp is not None:
                r.send(resp)
    elif t == MT.SNAP_STATUS:
        if pr.state != ProgressState.SNAPSHOT:
            return
        if m.reject:
            pr.pending_snapshot = 0  # failed: probe from the match again
        pr.become_probe()
        # Wait for a heartbeat response (or an ack) before sending more.
        pr.msg_app_flow_paused = True
    elif t == MT.UNREACHABLE:
        # The optimistic stream was probably lost: fall back to probing.
        if pr.state == ProgressState.REPLICATE:
            pr.become_probe()
    elif t == MT.TRANSFER_LEADER:
        _transfer_leader(r, m, pr)


def _propose(r: Raft, m: Message) -> None:
    if not m.entries:
        raise ValueError("stepped empty MsgProp")
    # The log gets copies: the message's entries belong to the sender (a duplicate delivery of
    # the same message must not renumber entries already in the log).
    propose(r, [Entry(0, 0, e.type, e.data) for e in m.entries])


def propose(r: Raft, ents: list[Entry]) -> None:
    """Append proposals to the leader's log (``ents`` are modified in place) and schedule
    sending them; raises ``ProposalDropped`` if this leader cannot take them."""
    if r.id not in r.trk.progress:
        raise ProposalDropped("this node was removed from the configuration")
    if r.lead_transferee != NONE:
        raise ProposalDropped("leadership transfer in progress")
    for i, e in enumerate(ents):
        if e.type == EntryType.NORMAL:
            continue
        cc = (ConfChange.decode(e.data) if e.type == EntryType.CONF_CHANGE
              else ConfChangeV2.decode(e.data)).as_v2()
        already_pending = r.pending_conf_index > r.raft_log.applied
        already_joint = r.trk.config.voters.is_joint()
        wants_leave_joint = not cc.changes
        if (already_pending or (already_joint and not wants_leave_joint)
                or (not already_joint and wants_leave_joint)):
            # At most one conf change in flight, and joint configs are left before changing again:
            # the refused change becomes an empty normal entry, as in etcd.
            ents[i] = Entry(0, 0)
        else:
            r.pending_conf_index = r.raft_log.last_index() + i + 1
    if not r.append_entry(ents):
        raise ProposalDropped("too many uncommitted entries")
    r.bcast_pending = True


def _handle_append_rejection(r: Raft, m: Message, pr: Progress) -> None:
    # The follower's hint (index, term) lets us skip every entry of terms it does not have.
    next_probe = m.reject_hint
    if m.log_term > 0:
        next_probe, _ = r.raft_log.find_conflict_by_term(m.reject_hint, m.log_term)
    if pr.maybe_decr_to(m.index, next_probe):
        if pr.state == ProgressState.REPLICATE:
            pr.become_probe()
        r.send_append(m.from_)


def _handle_append_ack(r: Raft, m: Message, pr: Progress) -> None:
    if not (pr.maybe_update(m.index) or (pr.match == m.index and pr.state == ProgressState.PROBE)):
        return
    if pr.state == ProgressState.PROBE:
        pr.become_replicate()
    elif pr.state == ProgressState.SNAPSHOT and pr.match + 1 >= r.raft_log.first_index():
        # The follower caught up past our compaction point: replicate from the log again.
        pr.become_probe()
        pr.become_replicate()
    elif pr.state == ProgressState.REPLICATE:
        pr.inflights.free_le(m.index)
    if r.maybe_commit():
        r.release_pending_read_index_messages()
        r.bcast_append()
    elif m.from_ != r.id and r.commit_news(pr):
        r.send_append(m.from_)
    if m.from_ != r.id:
        # Keep the pipe full (entries may be capped by max_size_per_msg).
        while r.maybe_send_append(m.from_, False):
            pass
        if m.from_ == r.lead_transferee and pr.match == r.raft_log.last_index():
            r.send(Message(MT.TIMEOUT_NOW, to=m.from_))


def _transfer_leader(r: Raft, m: Message, pr: Progress) -> None:
    if pr.is_learner:
        return  # a learner cannot lead
    transferee = m.from_
    if r.lead_transferee != NONE:
        if r.lead_transferee == transferee:
            return  # already under way
        r.abort_leader_transfer()
    if transferee == r.id:
        return  # already leader
    # The transfer must finish within an election timeout (tick_heartbeat aborts it).
    r.election_elapsed = 0
    r.lead_transferee = transferee
    if pr.match == r.raft_log.last_index():
        r.send(Message(MT.TIMEOUT_NOW, to=transferee))
    else:
        r.send_append(transferee)  # catch it up first; the ack triggers TIMEOUT_NOW


