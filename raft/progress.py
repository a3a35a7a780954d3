"""What a leader knows of one follower's log, and how it paces replication to it."""

from __future__ import annotations

from enum import IntEnum

from .inflights import Inflights

__all__ = ["ProgressState", "Progress"]


class ProgressState(IntEnum):
    #: Unknown last index: send one MsgApp at a time and wait for the answer.
    PROBE = 0
    #: Follower accepts our log: stream MsgApps optimistically, bounded by the inflights window.
    REPLICATE = 1
    #: Follower needs a snapshot; nothing else is sent until it reports back.
    SNAPSHOT = 2


class Progress:
    """A follower's replication progress, as seen by the leader.

    Invariant: ``0 <= match < next``. ``sent_commit`` is the highest commit index sent to the
    follower (so the leader knows when to tell it of a newer commit); it is not bounded by
    ``next`` (``become_replicate`` resets ``next`` without lowering it), as in etcd.
    ``pending_snapshot`` is the index of the snapshot in flight, in SNAPSHOT state only.
    ``appended``: a MsgApp went to the follower since the leader's last heartbeat round (read
    only with ``Config.append_as_heartbeat``).
    """

    __slots__ = ("match", "next", "sent_commit", "state", "pending_snapshot", "recent_active",
                 "msg_app_flow_paused", "inflights", "is_learner", "appended", "active_before")

    def __init__(self, match: int, next_: int, inflights: Inflights, is_learner: bool = False,
                 recent_active: bool = False) -> None:
        self.match = match
        self.next = next_
        self.sent_commit = 0
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = recent_active
        self.msg_app_flow_paused = False
        self.inflights = inflights
        self.is_learner = is_learner
        self.appended = False
        self.active_before = recent_active

    @property
    def heard_lately(self) -> bool:
        """Whether the leader heard from the follower since the last check_quorum or in the
        election timeout before it."""
        return self.recent_active or self.active_before

    def copy(self) -> Progress:
        """A shallow copy sharing the inflights window, as etcd's conf changer copies progress."""
        p = Progress(self.match, self.next, self.inflights, self.is_learner, self.recent_active)
        p.sent_commit = self.sent_commit
        p.state = self.state
        p.pending_snapshot = self.pending_snapshot
        p.msg_app_flow_paused = self.msg_app_flow_paused
        p.appended = self.appended
        p.active_before = self.active_before
        return p

    def _reset_state(self, state: ProgressState) -> None:
        self.msg_app_flow_paused = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        """Probe from just after the match (or after the snapshot we sent, if that is later)."""
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1
        self.sent_commit = min(self.sent_commit, self.next - 1)

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index
        self.next = snapshot_index + 1
        self.sent_commit = snapshot_index

    def sent_entries(self, entries: int, nbytes: int) -> None:
        """Account for a MsgApp of ``entries`` entries just sent from ``next``."""
        if self.state == ProgressState.REPLICATE:
            if entries > 0:
                self.next += entries
                self.inflights.add(self.next - 1, nbytes)
            self.msg_app_flow_paused = self.inflights.full()
        elif self.state == ProgressState.PROBE and entries > 0:
            self.msg_app_flow_paused = True

    def can_bump_commit(self, index: int) -> bool:
        """Whether telling the follower of commit ``index`` could let it commit more."""
        return index > self.sent_commit and self.sent_commit < self.next - 1

    def maybe_update(self, n: int) -> bool:
        """The follower acknowledged up to ``n``; False if that is old news."""
        if n <= self.match:
            return False
        self.match = n
        if self.next < n + 1:
            self.next = n + 1
        self.msg_app_flow_paused = False
        return True

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected a MsgApp at ``rejected``; back ``next`` off using its hint.

        Returns False for a stale rejection (one that no longer says anything new).
        """
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            self.sent_commit = min(self.sent_commit, self.next - 1)
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.sent_commit = min(self.sent_commit, self.next - 1)
        self.msg_app_flow_paused = False
        return True

    def is_paused(self) -> bool:
        """Whether sending to this follower is throttled right now."""
        if self.state == ProgressState.SNAPSHOT:
            return True
        return self.msg_app_flow_paused

    def __repr__(self) -> str:
        return (f"Progress({self.state.name} match={self.match} next={self.next}"
                f"{' learner' if self.is_learner else ''}"
                f"{f' pending_snap={self.pending_snapshot}' if self.pending_snapshot else ''}"
                f"{' paused' if self.msg_app_flow_paused else ''}"
                f" inflight={self.inflights.count()})")
