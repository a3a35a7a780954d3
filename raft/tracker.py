"""The leader's view of the group: the configuration in force, per-node progress and votes."""

from __future__ import annotations

from collections.abc import Iterator

from .progress import Progress
from .quorum import JointConfig, VoteResult
from .types import ConfState

__all__ = ["TrackerConfig", "ProgressTracker"]


class TrackerConfig:
    """A membership configuration.

    Invariants (etcd's): ``learners`` and the voters (either half) are disjoint;
    ``learners_next`` holds voters of the outgoing half that become learners when the joint
    config is left, so it is empty outside a joint config, as ``auto_leave`` is False.
    """

    __slots__ = ("voters", "learners", "learners_next", "auto_leave")

    def __init__(self) -> None:
        self.voters = JointConfig()
        self.learners: set[int] = set()
        self.learners_next: set[int] = set()
        self.auto_leave = False

    def copy(self) -> TrackerConfig:
        c = TrackerConfig()
        c.voters = self.voters.copy()
        c.learners = set(self.learners)
        c.learners_next = set(self.learners_next)
        c.auto_leave = self.auto_leave
        return c

    def conf_state(self) -> ConfState:
        return ConfState(
            voters=tuple(sorted(self.voters.incoming)),
            learners=tuple(sorted(self.learners)),
            voters_outgoing=tuple(sorted(self.voters.outgoing)),
            learners_next=tuple(sorted(self.learners_next)),
            auto_leave=self.auto_leave,
        )

    def __repr__(self) -> str:
        s = f"voters={self.voters!r}"
        if self.learners:
            s += f" learners={sorted(self.learners)}"
        if self.learners_next:
            s += f" learners_next={sorted(self.learners_next)}"
        if self.auto_leave:
            s += " autoleave"
        return s


class ProgressTracker:
    """Configuration + progress of every member + the votes of the current election.

    Invariant: ``progress`` has exactly one entry per voter (either half) and per learner.
    """

    __slots__ = ("config", "progress", "votes", "max_inflight", "max_inflight_bytes")

    def __init__(self, max_inflight: int, max_inflight_bytes: int = 0) -> None:
        self.config = TrackerConfig()
        self.progress: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.max_inflight = max_inflight
        self.max_inflight_bytes = max_inflight_bytes

    def conf_state(self) -> ConfState:
        return self.config.conf_state()

    def is_singleton(self) -> bool:
        v = self.config.voters
        return len(v.incoming) == 1 and not v.outgoing

    def committed(self) -> int:
        """The largest index a quorum of voters has in its log."""
        prs = self.progress
        return self.config.voters.committed_index({i: prs[i].match for i in prs})

    def visit(self) -> Iterator[tuple[int, Progress]]:
        """Every member's progress, in id order (deterministic message order)."""
        prs = self.progress
        for i in sorted(prs):
            yield i, prs[i]

    def quorum_active(self) -> bool:
        """Whether a quorum of voters has been heard from recently (CheckQuorum)."""
        votes = {i: pr.recent_active for i, pr in self.progress.items() if not pr.is_learner}
        return self.config.voters.vote_result(votes) == VoteResult.WON

    def voter_nodes(self) -> list[int]:
        return sorted(self.config.voters.ids())

    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node_id: int, granted: bool) -> None:
        """Count a node's first vote of this election; later ones are ignored."""
        self.votes.setdefault(node_id, granted)

    def tally_votes(self) -> tuple[int, int, VoteResult]:
        granted = rejected = 0
        for i, pr in self.progress.items():
            if pr.is_learner:
                continue
            v = self.votes.get(i)
            if v is True:
                granted += 1
            elif v is False:
                rejected += 1
        return granted, rejected, self.config.voters.vote_result(self.votes)
