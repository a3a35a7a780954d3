"""RawNode: the application's handle on one raft node, and the Ready/Advance protocol.

The loop (etcd's): ``rd = node.ready()``; persist ``rd.hard_state``, ``rd.entries`` and
``rd.snapshot`` (durably when ``rd.must_sync``); send ``rd.messages`` (a leader may send before
its own write is durable, responses only after); apply ``rd.committed_entries`` (conf changes
through ``apply_conf_change``); ``node.advance(rd)``. ``step`` may be called in between.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Config
from .errors import ProposalDropped, StepLocalMsgError
from .progress import Progress
from .leader import propose as leader_propose
from .raft import Raft
from .types import (LOCAL_MESSAGES, RESPONSE_MESSAGES, ConfChange, ConfChangeV2,
                    ConfState, Entry, EntryType, HardState, Message, MessageType as MT,
                    ReadState, Snapshot, SoftState, StateType)

__all__ = ["RawNode", "Ready", "Status"]


@dataclass(slots=True)
class Ready:
    """Everything the application must do before calling ``advance``."""

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    read_states: list[ReadState] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    must_sync: bool = False


@dataclass(slots=True)
class Status:
    """A snapshot of a node's state; ``progress`` is filled on leaders only (copies)."""

    id: int
    hard_state: HardState
    soft_state: SoftState
    applied: int
    progress: dict[int, Progress]
    lead_transferee: int
    conf_state: ConfState = field(default_factory=ConfState)


class RawNode:
    """A raft node driven by the caller: no threads, no I/O, no clock.

    Invariant: between ``ready()`` and ``advance()`` the node remembers, in
    ``_steps_on_advance``, the self-addressed messages (own vote, own log ack) that become
    true only once that Ready is persisted.
    """

    __slots__ = ("raft", "_prev_soft", "_prev_hard", "_steps_on_advance")

    def __init__(self, config: Config) -> None:
        self.raft = Raft(config)
        self._prev_soft = self.raft.soft_state()
        self._prev_hard = self.raft.hard_state()
        self._steps_on_advance: list[Message] = []

    # -- inputs --

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        self.raft.step(Message(MT.HUP))

    def propose(self, data: bytes) -> None:
        """Propose ``data`` for the log; raises ``ProposalDropped`` if it cannot be taken now."""
        r = self.raft
        if r.state == StateType.LEADER:
            # What step(MsgProp) would do on a leader, without building the message.
            leader_propose(r, [Entry(0, 0, EntryType.NORMAL, data)])
        else:
            r.step(Message(MT.PROP, from_=r.id, entries=[Entry(0, 0, EntryType.NORMAL, data)]))

    def propose_conf_change(self, cc: ConfChange | ConfChangeV2) -> None:
        t = EntryType.CONF_CHANGE if isinstance(cc, ConfChange) else EntryType.CONF_CHANGE_V2
        self.raft.step(Message(MT.PROP, from_=self.raft.id, entries=[Entry(0, 0, t, cc.encode())]))

    def apply_conf_change(self, cc: ConfChange | ConfChangeV2) -> ConfState:
        """Apply a committed conf change; returns the configuration now in force."""
        return self.raft.apply_conf_change(cc)

    def step(self, m: Message) -> None:
        """Feed a message from a peer. A message raft drops or ignores (a forwarded proposal
        nobody can take, a response from a node no longer in the group) does not raise."""
        if m.type in LOCAL_MESSAGES:
            raise StepLocalMsgError(f"{m.type.name} is local; use the RawNode method instead")
        r = self.raft
        if m.type in RESPONSE_MESSAGES and m.from_ not in r.trk.progress:
            return
        try:
            r.step(m)
        except ProposalDropped:
            # Whatever ``step`` is given came over the network, even a forwarded proposal that
            # bounced back to its originator: dropping it is raft's answer, not an error.
            pass

    def read_index(self, ctx: bytes) -> None:
        """Ask for a linearizable read; a ``ReadState`` with ``ctx`` comes in a later Ready."""
        self.raft.step(Message(MT.READ_INDEX, entries=[Entry(0, 0, data=ctx)]))

    def transfer_leader(self, to: int) -> None:
        self.raft.step(Message(MT.TRANSFER_LEADER, from_=to))

    def report_unreachable(self, node_id: int) -> None:
        self.raft.step(Message(MT.UNREACHABLE, from_=node_id))

    def report_snapshot(self, node_id: int, ok: bool) -> None:
        self.raft.step(Message(MT.SNAP_STATUS, from_=node_id, reject=not ok))

    # -- outputs --

    def has_ready(self) -> bool:
        r = self.raft
        if r.bcast_pending:
            r.flush_bcast()
        if r.msgs or r.msgs_after_append or r.read_states:
            return True
        log = r.raft_log
        if log.unstable.entries or log.unstable.snapshot is not None or log.has_next_committed_ents():
            return True
        ps, ph = self._prev_soft, self._prev_hard
        if r.lead != ps.lead or r.state != ps.raft_state:
            return True
        return (r.term != ph.term or r.vote != ph.vote or log.committed != ph.commit) and (
            r.term != 0 or r.vote != 0 or log.committed != 0)

    def ready(self) -> Ready:
        """What to persist, send and apply now; call ``advance`` once done."""
        r = self.raft
        if r.bcast_pending:
            r.flush_bcast()
        log = r.raft_log
        rd = Ready(
            read_states=r.read_states,
            entries=log.next_unstable_ents(),
            committed_entries=log.next_committed_ents(),
            snapshot=log.unstable.snapshot,
        )
        msgs = r.msgs
        to_self: list[Message] = []
        for m in r.msgs_after_append:
            (to_self if m.to == r.id else msgs).append(m)
        rd.messages = msgs
        ps, prev = self._prev_soft, self._prev_hard
        if r.lead != ps.lead or r.state != ps.raft_state:
            rd.soft_state = self._prev_soft = r.soft_state()
        # (field by field: most Readies change no state, and build no state object)
        term_or_vote = r.term != prev.term or r.vote != prev.vote
        if term_or_vote or log.committed != prev.commit:
            rd.hard_state = self._prev_hard = r.hard_state()
        rd.must_sync = bool(rd.entries) or term_or_vote
        # Accept the Ready: it now owns these.
        r.msgs = []
        r.msgs_after_append = []
        r.read_states = []
        self._steps_on_advance.extend(to_self)
        if rd.committed_entries:
            log.accept_applying(rd.committed_entries[-1].index)
        return rd

    def advance(self, rd: Ready) -> None:
        """The application has persisted, sent and applied ``rd``."""
        r = self.raft
        log = r.raft_log
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
            if r.state == StateType.LEADER and last.term == r.term:
                # Our own ack: entries of our term are durable on this node now.
                self._steps_on_advance.append(Message(MT.APP_RESP, r.id, r.id, r.term, index=last.index))
        if rd.snapshot is not None:
            log.stable_snap_to(rd.snapshot.metadata.index)
            if rd.snapshot.metadata.index > log.applied:
                log.applied_to(rd.snapshot.metadata.index)
        steps, self._steps_on_advance = self._steps_on_advance, []
        for m in steps:
            r.step(m)
        if rd.committed_entries:
            self._applied_to(rd.committed_entries)

    def _applied_to(self, ents: list[Entry]) -> None:
        r = self.raft
        index = ents[-1].index
        if index <= r.raft_log.applied:
            return
        r.raft_log.applied_to(index)
        if r.state == StateType.LEADER:
            r.reduce_uncommitted_size(sum(len(e.data) for e in ents))
            if r.trk.config.auto_leave and index >= r.pending_conf_index:
                # Leave the joint config now that entering it is applied. The empty data decodes
                # as an empty ConfChangeV2; dropped only during a leader transfer, and then
                # retried on the next advance.
                try:
                    r.step(Message(MT.PROP, from_=r.id,
                                   entries=[Entry(0, 0, EntryType.CONF_CHANGE_V2, b"")]))
                except ProposalDropped:
                    pass

    def status(self) -> Status:
        r = self.raft
        progress = {}
        if r.state == StateType.LEADER:
            progress = {i: pr.copy() for i, pr in r.trk.progress.items()}
        return Status(r.id, r.hard_state(), r.soft_state(), r.raft_log.applied, progress,
                      r.lead_transferee, r.trk.conf_state())
