"""Applying membership changes to a tracker config: simple steps, joint consensus, restore.

Every function works on copies and returns a new (config, progress map); the caller switches
to it only if no error was raised, so a rejected change leaves the node untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

from .inflights import Inflights
from .progress import Progress
from .quorum import JointConfig
from .tracker import ProgressTracker, TrackerConfig
from .types import ConfChangeSingle, ConfChangeType, ConfState

__all__ = ["ConfChangeError", "Changer", "restore"]

ProgressMap = dict[int, Progress]


class ConfChangeError(ValueError):
    """A membership change that cannot be applied to the current configuration."""


class Changer:
    """Computes configurations derived from ``tracker``'s (etcd's ``confchange.Changer``)."""

    __slots__ = ("tracker", "last_index")

    def __init__(self, tracker: ProgressTracker, last_index: int) -> None:
        self.tracker = tracker
        self.last_index = last_index

    def enter_joint(self, auto_leave: bool, ccs: Sequence[ConfChangeSingle]) -> tuple[TrackerConfig, ProgressMap]:
        """Enter a joint config: the current voters become the outgoing half, ``ccs`` make the incoming."""
        cfg, prs = self._check_and_copy()
        if cfg.voters.is_joint():
            raise ConfChangeError("config is already joint")
        if not cfg.voters.incoming:
            raise ConfChangeError("can't make a zero-voter config joint")
        incoming = set(cfg.voters.incoming)
        outgoing = set(incoming)
        self._apply(cfg, prs, incoming, outgoing, ccs)
        cfg.auto_leave = auto_leave
        return self._check_and_return(cfg, prs)

    def leave_joint(self) -> tuple[TrackerConfig, ProgressMap]:
        """Drop the outgoing half; demoted voters in ``learners_next`` become learners."""
        cfg, prs = self._check_and_copy()
        if not cfg.voters.is_joint():
            raise ConfChangeError("can't leave a non-joint config")
        for i in cfg.learners_next:
            cfg.learners.add(i)
            prs[i].is_learner = True
        cfg.learners_next = set()
        incoming = cfg.voters.incoming
        for i in cfg.voters.outgoing:
            if i not in incoming and i not in cfg.learners:
                del prs[i]
        cfg.voters = JointConfig(incoming, ())
        cfg.auto_leave = False
        return self._check_and_return(cfg, prs)

    def simple(self, ccs: Sequence[ConfChangeSingle]) -> tuple[TrackerConfig, ProgressMap]:
        """Apply changes that alter at most one voter, without a joint config."""
        cfg, prs = self._check_and_copy()
        if cfg.voters.is_joint():
            raise ConfChangeError("can't apply simple config change in joint config")
        incoming = set(cfg.voters.incoming)
        self._apply(cfg, prs, incoming, set(), ccs)
        if len(self.tracker.config.voters.incoming ^ cfg.voters.incoming) > 1:
            raise ConfChangeError("more than one voter changed without entering joint config")
        return self._check_and_return(cfg, prs)

    # -- internals --

    def _apply(self, cfg: TrackerConfig, prs: ProgressMap, incoming: set[int], outgoing: set[int],
               ccs: Sequence[ConfChangeSingle]) -> None:
        for cc in ccs:
            if cc.node_id == 0:
                continue  # etcd ignores changes to node 0
            if cc.type == ConfChangeType.ADD_NODE:
                self._make_voter(cfg, prs, incoming, cc.node_id)
            elif cc.type == ConfChangeType.ADD_LEARNER_NODE:
                self._make_learner(cfg, prs, incoming, outgoing, cc.node_id)
            elif cc.type == ConfChangeType.REMOVE_NODE:
                self._remove(cfg, prs, incoming, outgoing, cc.node_id)
            elif cc.type != ConfChangeType.UPDATE_NODE:
                raise ConfChangeError(f"unexpected conf type {cc.type!r}")
        if not incoming:
            raise ConfChangeError("removed all voters")
        cfg.voters = JointConfig(incoming, outgoing)

    def _make_voter(self, cfg: TrackerConfig, prs: ProgressMap, incoming: set[int], i: int) -> None:
        pr = prs.get(i)
        if pr is None:
            self._init_progress(cfg, prs, incoming, i, is_learner=False)
            return
        pr.is_learner = False
        cfg.learners.discard(i)
        cfg.learners_next.discard(i)
        incoming.add(i)

    def _make_learner(self, cfg: TrackerConfig, prs: ProgressMap, incoming: set[int],
                      outgoing: set[int], i: int) -> None:
        pr = prs.get(i)
        if pr is None:
            self._init_progress(cfg, prs, incoming, i, is_learner=True)
            return
        if pr.is_learner:
            return
        # Demote: remove as voter first, keep the progress.
        self._remove(cfg, prs, incoming, outgoing, i)
        prs[i] = pr
        if i in outgoing:
            # Still a voter of the outgoing half: becomes a learner when the joint config is left.
            cfg.learners_next.add(i)
        else:
            pr.is_learner = True
            cfg.learners.add(i)

    @staticmethod
    def _remove(cfg: TrackerConfig, prs: ProgressMap, incoming: set[int], outgoing: set[int], i: int) -> None:
        if i not in prs:
            return
        incoming.discard(i)
        cfg.learners.discard(i)
        cfg.learners_next.discard(i)
        if i not in outgoing:
            del prs[i]

    def _init_progress(self, cfg: TrackerConfig, prs: ProgressMap, incoming: set[int], i: int,
                       is_learner: bool) -> None:
        if is_learner:
            cfg.learners.add(i)
        else:
            incoming.add(i)
        # A new member counts as recently active, or CheckQuorum would step the leader down at once.
        prs[i] = Progress(0, max(self.last_index, 1),
                          Inflights(self.tracker.max_inflight, self.tracker.max_inflight_bytes),
                          is_learner=is_learner, recent_active=True)

    def _check_and_copy(self) -> tuple[TrackerConfig, ProgressMap]:
        cfg = self.tracker.config.copy()
        prs = {i: pr.copy() for i, pr in self.tracker.progress.items()}
        _check_invariants(cfg, prs)
        return cfg, prs

    @staticmethod
    def _check_and_return(cfg: TrackerConfig, prs: ProgressMap) -> tuple[TrackerConfig, ProgressMap]:
        _check_invariants(cfg, prs)
        return cfg, prs


def _check_invariants(cfg: TrackerConfig, prs: ProgressMap) -> None:
    voters = cfg.voters
    for ids in (voters.ids(), cfg.learners, cfg.learners_next):
        for i in ids:
            if i not in prs:
                raise ConfChangeError(f"no progress for {i}")
    for i in cfg.learners_next:
        if i not in voters.outgoing:
            raise ConfChangeError(f"{i} is in learners_next, but not outgoing")
        if prs[i].is_learner:
            raise ConfChangeError(f"{i} is in learners_next, but is already marked as learner")
    for i in cfg.learners:
        if i in voters.outgoing or i in voters.incoming:
            raise ConfChangeError(f"{i} is both a learner and a voter")
        if not prs[i].is_learner:
            raise ConfChangeError(f"{i} is a learner, but not marked as one")
    if not voters.is_joint():
        if cfg.learners_next:
            raise ConfChangeError("learners_next must be empty when not joint")
        if cfg.auto_leave:
            raise ConfChangeError("auto_leave must be false when not joint")


def restore(tracker: ProgressTracker, last_index: int, cs: ConfState) -> tuple[TrackerConfig, ProgressMap]:
    """The config and progress that ``cs`` describes, built by replaying it as changes."""
    outgoing = [ConfChangeSingle(ConfChangeType.ADD_NODE, i) for i in cs.voters_outgoing]
    incoming = [ConfChangeSingle(ConfChangeType.REMOVE_NODE, i) for i in cs.voters_outgoing]
    incoming += [ConfChangeSingle(ConfChangeType.ADD_NODE, i) for i in cs.voters]
    incoming += [ConfChangeSingle(ConfChangeType.ADD_LEARNER_NODE, i) for i in cs.learners]
    incoming += [ConfChangeSingle(ConfChangeType.ADD_LEARNER_NODE, i) for i in cs.learners_next]

    scratch = ProgressTracker(tracker.max_inflight, tracker.max_inflight_bytes)
    chg = Changer(scratch, last_index)

    def step(cfg_prs: tuple[TrackerConfig, ProgressMap]) -> None:
        scratch.config, scratch.progress = cfg_prs

    if not outgoing:
        for cc in incoming:
            step(chg.simple([cc]))
    else:
        for cc in outgoing:
            step(chg.simple([cc]))
        step(chg.enter_joint(cs.auto_leave, incoming))
    return scratch.config, scratch.progress
