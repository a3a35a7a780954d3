"""Unit tests of ``raft/confchange.py`` (simple and joint membership changes, restore), modelled on
etcd-io/raft's confchange package tests: the datadriven transcripts of confchange/testdata
(replayed below through a small interpreter of their format), quick_test.go (simple changes
and joint changes reach the same config) and restore_test.go (restore round-trips a ConfState).

The transcripts use etcd's commands: ``simple``, ``enter-joint [autoleave=true]`` and
``leave-joint``, whose input is a list of changes ``vN`` (make N a voter), ``lN`` (a learner),
``rN`` (remove N), ``uN`` (update N). As in etcd's test, the changer's ``last_index`` grows by one
after every command, which the ``next=`` of new progress reveals.
"""

from __future__ import annotations

import random
from typing import cast

import pytest

from multiraft.raft.confchange import Changer, ConfChangeError, restore
from multiraft.raft.progress import Progress, ProgressState
from multiraft.raft.tracker import ProgressTracker, TrackerConfig
from multiraft.raft.types import ConfChangeSingle, ConfChangeType, ConfState

T = ConfChangeType
CC = ConfChangeSingle
ProgressMap = dict[int, Progress]

_TYPES = {"v": T.ADD_NODE, "l": T.ADD_LEARNER_NODE, "r": T.REMOVE_NODE, "u": T.UPDATE_NODE}


def ccs(spec: str) -> list[ConfChangeSingle]:
    """``"v1 l2 r3 u4"`` -> the changes, in etcd's datadriven notation."""
    return [CC(_TYPES[tok[0]], int(tok[1:])) for tok in spec.split()]


def ids(s: frozenset[int] | set[int]) -> str:
    return "(" + " ".join(str(i) for i in sorted(s)) + ")"


def describe_config(cfg: TrackerConfig) -> str:
    """A config as etcd's tracker.Config.String() prints it."""
    v = cfg.voters
    s = "voters=" + ids(v.incoming) + ("&&" + ids(v.outgoing) if v.is_joint() else "")
    if cfg.learners:
        s += " learners=" + ids(cfg.learners)
    if cfg.learners_next:
        s += " learners_next=" + ids(cfg.learners_next)
    if cfg.auto_leave:
        s += " autoleave"
    return s


_STATE_NAMES = {ProgressState.PROBE: "StateProbe", ProgressState.REPLICATE: "StateReplicate",
                ProgressState.SNAPSHOT: "StateSnapshot"}


def describe_progress(prs: ProgressMap) -> list[str]:
    """One line per progress, as etcd's ProgressMap.String() prints a fresh one."""
    out = []
    for i in sorted(prs):
        pr = prs[i]
        out.append(f"{i}: {_STATE_NAMES[pr.state]} match={pr.match} next={pr.next}"
                   + (" learner" if pr.is_learner else ""))
    return out


def describe(cfg: TrackerConfig, prs: ProgressMap) -> list[str]:
    return [describe_config(cfg)] + describe_progress(prs)


def check_consistent(cfg: TrackerConfig, prs: ProgressMap) -> None:
    """The tracker's invariants, checked independently of the module's own check."""
    v = cfg.voters
    members = set(v.ids()) | cfg.learners
    # progress has exactly one entry per voter (either half) and per learner
    assert set(prs) == members, (sorted(prs), sorted(members))
    assert not (cfg.learners & v.ids()), "a learner is also a voter"
    assert cfg.learners_next <= v.outgoing
    assert not (cfg.learners_next & v.incoming)
    for i, pr in prs.items():
        assert pr.is_learner == (i in cfg.learners), i
        assert 0 <= pr.match < pr.next
    if not v.is_joint():
        assert not cfg.learners_next
        assert not cfg.auto_leave


def tracker_with(*spec: str, last_index: int = 10, max_inflight: int = 10) -> ProgressTracker:
    """A tracker built by one simple change per token of ``spec``."""
    trk = ProgressTracker(max_inflight)
    chg = Changer(trk, last_index)
    for s in spec:
        for cc in ccs(s):
            trk.config, trk.progress = chg.simple([cc])
    return trk


def snapshot_of(trk: ProgressTracker) -> tuple[list[str], list[tuple[int, int, int, bool, bool]]]:
    return (describe(trk.config, trk.progress),
            [(i, pr.match, pr.next, pr.is_learner, pr.recent_active) for i, pr in trk.progress.items()])


# -- etcd's datadriven transcripts -------------------------------------------------------------

TRANSCRIPTS: dict[str, str] = {
    "joint_autoleave": """
# The autoleave argument has no semantics in this package, it is passed through.
simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

enter-joint autoleave=true
v2 v3
----
voters=(1 2 3)&&(1) autoleave
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1
3: StateProbe match=0 next=1

# Can't enter-joint twice, even if autoleave changes.
enter-joint autoleave=false
----
config is already joint

leave-joint
----
voters=(1 2 3)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1
3: StateProbe match=0 next=1
""",
    "joint_idempotency": """
simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

enter-joint
r1 r2 r9 v2 v3 v4 v2 v3 v4 l2 l2 r4 r4 l1 l1
----
voters=(3)&&(1) learners=(2) learners_next=(1)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1 learner
3: StateProbe match=0 next=1

leave-joint
----
voters=(3) learners=(1 2)
1: StateProbe match=0 next=1 learner
2: StateProbe match=0 next=1 learner
3: StateProbe match=0 next=1
""",
    "joint_learners_next": """
# A voter demoted in a joint config shows up in learners_next until the joint config is
# left; only then does its progress turn into a learner's, without being reset.
simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

enter-joint
v2 l1
----
voters=(2)&&(1) learners_next=(1)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1

leave-joint
----
voters=(2) learners=(1)
1: StateProbe match=0 next=1 learner
2: StateProbe match=0 next=1
""",
    "joint_safety": """
leave-joint
----
can't leave a non-joint config

enter-joint
----
can't make a zero-voter config joint

enter-joint
v1
----
can't make a zero-voter config joint

simple
v1
----
voters=(1)
1: StateProbe match=0 next=3

leave-joint
----
can't leave a non-joint config

# Can enter into joint config.
enter-joint
----
voters=(1)&&(1)
1: StateProbe match=0 next=3

enter-joint
----
config is already joint

leave-joint
----
voters=(1)
1: StateProbe match=0 next=3

leave-joint
----
can't leave a non-joint config

# Can enter again, this time with some ops.
enter-joint
r1 v2 v3 l4
----
voters=(2 3)&&(1) learners=(4)
1: StateProbe match=0 next=3
2: StateProbe match=0 next=9
3: StateProbe match=0 next=9
4: StateProbe match=0 next=9 learner

enter-joint
----
config is already joint

enter-joint
v12
----
config is already joint

simple
l15
----
can't apply simple config change in joint config

leave-joint
----
voters=(2 3) learners=(4)
2: StateProbe match=0 next=9
3: StateProbe match=0 next=9
4: StateProbe match=0 next=9 learner

simple
l9
----
voters=(2 3) learners=(4 9)
2: StateProbe match=0 next=9
3: StateProbe match=0 next=9
4: StateProbe match=0 next=9 learner
9: StateProbe match=0 next=14 learner
""",
    "simple_idempotency": """
simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

simple
v2
----
voters=(1 2)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=2

simple
l1
----
voters=(2) learners=(1)
1: StateProbe match=0 next=1 learner
2: StateProbe match=0 next=2

simple
l1
----
voters=(2) learners=(1)
1: StateProbe match=0 next=1 learner
2: StateProbe match=0 next=2

simple
r1
----
voters=(2)
2: StateProbe match=0 next=2

simple
r1
----
voters=(2)
2: StateProbe match=0 next=2

simple
v3
----
voters=(2 3)
2: StateProbe match=0 next=2
3: StateProbe match=0 next=7

simple
r3
----
voters=(2)
2: StateProbe match=0 next=2

simple
r3
----
voters=(2)
2: StateProbe match=0 next=2

simple
r4
----
voters=(2)
2: StateProbe match=0 next=2
""",
    "simple_promote_demote": """
simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

simple
v2
----
voters=(1 2)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1

simple
v3
----
voters=(1 2 3)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1
3: StateProbe match=0 next=2

# Can atomically demote and promote without a hitch.
simple
l1 v1
----
voters=(1 2 3)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1
3: StateProbe match=0 next=2

# Can demote a voter.
simple
l2
----
voters=(1 3) learners=(2)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1 learner
3: StateProbe match=0 next=2

# Can atomically promote and demote the same voter.
simple
v2 l2
----
voters=(1 3) learners=(2)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1 learner
3: StateProbe match=0 next=2

# Can promote a voter.
simple
v2
----
voters=(1 2 3)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1
3: StateProbe match=0 next=2
""",
    "simple_safety": """
simple
l1
----
removed all voters

simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

simple
v2 l3
----
voters=(1 2) learners=(3)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=2
3: StateProbe match=0 next=2 learner

simple
r1 v5
----
more than one voter changed without entering joint config

simple
r1 r2
----
removed all voters

simple
v3 v4
----
more than one voter changed without entering joint config

simple
l1 v5
----
more than one voter changed without entering joint config

simple
l1 l2
----
removed all voters

simple
l2 l3 l4 l5
----
voters=(1) learners=(2 3 4 5)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=2 learner
3: StateProbe match=0 next=2 learner
4: StateProbe match=0 next=8 learner
5: StateProbe match=0 next=8 learner

simple
r1
----
removed all voters

simple
r2 r3 r4 r5
----
voters=(1)
1: StateProbe match=0 next=1
""",
    "update": """
# Update changes are accepted and change nothing.
simple
v1
----
voters=(1)
1: StateProbe match=0 next=1

simple
v2 u1
----
voters=(1 2)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1

simple
u1 u2 u3 u1 u2 u3
----
voters=(1 2)
1: StateProbe match=0 next=1
2: StateProbe match=0 next=1
""",
    "zero": """
# Node id zero is ignored.
simple
v1 r0 v0 l0
----
voters=(1)
1: StateProbe match=0 next=1
""",
}


def parse_transcript(text: str) -> list[tuple[str, str, list[str]]]:
    """(command line, input, expected output lines) of each block of a transcript."""
    blocks: list[tuple[str, str, list[str]]] = []
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    k = 0
    while k < len(lines):
        if not lines[k].strip():
            k += 1
            continue
        cmd = lines[k].strip()
        k += 1
        inp: list[str] = []
        while lines[k] != "----":
            inp.append(lines[k])
            k += 1
        k += 1
        out: list[str] = []
        while k < len(lines) and lines[k].strip():
            out.append(lines[k])
            k += 1
        blocks.append((cmd, " ".join(inp), out))
    return blocks


def run_command(chg: Changer, cmd: str, inp: str) -> list[str]:
    name, *args = cmd.split()
    trk = chg.tracker
    before = snapshot_of(trk)
    try:
        if name == "simple":
            cfg, prs = chg.simple(ccs(inp))
        elif name == "enter-joint":
            auto_leave = args == ["autoleave=true"]
            assert args in ([], ["autoleave=true"], ["autoleave=false"]), args
            cfg, prs = chg.enter_joint(auto_leave, ccs(inp))
        elif name == "leave-joint":
            assert not inp
            cfg, prs = chg.leave_joint()
        else:
            raise AssertionError(f"unknown command {cmd}")
    except ConfChangeError as e:
        # A refused change leaves the tracker exactly as it was.
        assert snapshot_of(trk) == before
        return [str(e)]
    # The changer computed a new config without touching the tracker's.
    assert snapshot_of(trk) == before
    check_consistent(cfg, prs)
    trk.config, trk.progress = cfg, prs
    return describe(cfg, prs)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_datadriven(name: str) -> None:
    chg = Changer(ProgressTracker(10, 0), 0)
    blocks = parse_transcript(TRANSCRIPTS[name])
    assert blocks
    for n, (cmd, inp, want) in enumerate(blocks):
        got = run_command(chg, cmd, inp)
        assert got == want, f"{name} block {n}: {cmd} {inp!r}"
        chg.last_index += 1


def test_parse_transcript() -> None:
    blocks = parse_transcript("# c\nsimple\nv1 v2\n----\nvoters=(1)\n1: x\n\nleave-joint\n----\nerr\n")
    assert blocks == [("simple", "v1 v2", ["voters=(1)", "1: x"]), ("leave-joint", "", ["err"])]


# -- targeted cases ------------------------------------------------------------------------------

def test_add_voter_creates_fresh_progress() -> None:
    trk = ProgressTracker(7, 1234)
    cfg, prs = Changer(trk, 5).simple(ccs("v1"))
    assert set(cfg.voters.incoming) == {1}
    assert not cfg.voters.is_joint()
    pr = prs[1]
    assert (pr.match, pr.next, pr.state) == (0, 5, ProgressState.PROBE)
    assert not pr.is_learner
    # A new member counts as recently active, or CheckQuorum would step the leader down.
    assert pr.recent_active
    assert (pr.inflights.size, pr.inflights.max_bytes) == (7, 1234)
    assert pr.inflights.count() == 0


def test_new_progress_next_is_at_least_one() -> None:
    """Invariant match < next: with an empty log (last index 0), next is 1."""
    _, prs = Changer(ProgressTracker(10), 0).simple(ccs("v1"))
    assert prs[1].next == 1


def test_add_learner() -> None:
    trk = tracker_with("v1")
    cfg, prs = Changer(trk, 10).simple(ccs("l2"))
    assert set(cfg.voters.incoming) == {1}
    assert cfg.learners == {2}
    assert prs[2].is_learner and prs[2].recent_active
    check_consistent(cfg, prs)


def test_add_existing_voter_keeps_its_progress() -> None:
    trk = tracker_with("v1 v2")
    trk.progress[2].match, trk.progress[2].next = 7, 9
    cfg, prs = Changer(trk, 20).simple(ccs("v2"))
    assert set(cfg.voters.incoming) == {1, 2}
    assert (prs[2].match, prs[2].next) == (7, 9)


def test_demote_and_promote_keep_progress() -> None:
    trk = tracker_with("v1 v2 v3")
    trk.progress[3].match, trk.progress[3].next = 6, 8
    chg = Changer(trk, 20)
    trk.config, trk.progress = chg.simple(ccs("l3"))
    assert set(trk.config.voters.incoming) == {1, 2}
    assert trk.config.learners == {3}
    assert trk.progress[3].is_learner
    assert (trk.progress[3].match, trk.progress[3].next) == (6, 8)
    trk.config, trk.progress = chg.simple(ccs("v3"))
    assert set(trk.config.voters.incoming) == {1, 2, 3}
    assert trk.config.learners == set()
    assert not trk.progress[3].is_learner
    assert (trk.progress[3].match, trk.progress[3].next) == (6, 8)


def test_remove_voter_and_learner() -> None:
    trk = tracker_with("v1 v2 l3")
    chg = Changer(trk, 10)
    cfg, prs = chg.simple(ccs("r2"))
    assert set(cfg.voters.incoming) == {1}
    assert set(prs) == {1, 3}
    cfg, prs = chg.simple(ccs("r3"))
    assert cfg.learners == set()
    assert set(prs) == {1, 2}
    # removing an unknown node is a no-op
    cfg, prs = chg.simple(ccs("r9"))
    assert describe(cfg, prs) == describe(trk.config, trk.progress)


def test_simple_changes_one_voter_plus_any_learners() -> None:
    trk = tracker_with("v1 v2 v3")
    cfg, prs = Changer(trk, 10).simple(ccs("v4 l5 l6 u1"))
    assert set(cfg.voters.incoming) == {1, 2, 3, 4}
    assert cfg.learners == {5, 6}
    check_consistent(cfg, prs)


@pytest.mark.parametrize("spec", ["v4 v5", "r1 r2", "r1 v4", "l1 l2", "l1 v4", "r3 l2"])
def test_simple_rejects_more_than_one_voter_change(spec: str) -> None:
    trk = tracker_with("v1 v2 v3")
    before = snapshot_of(trk)
    with pytest.raises(ConfChangeError, match="more than one voter changed"):
        Changer(trk, 10).simple(ccs(spec))
    assert snapshot_of(trk) == before


@pytest.mark.parametrize("spec", ["r1", "l1", "r1 l2", "v2 r1 r2"])
def test_simple_rejects_removing_all_voters(spec: str) -> None:
    trk = tracker_with("v1")
    with pytest.raises(ConfChangeError, match="removed all voters"):
        Changer(trk, 10).simple(ccs(spec))


def test_simple_in_joint_config_is_rejected() -> None:
    trk = tracker_with("v1")
    chg = Changer(trk, 10)
    trk.config, trk.progress = chg.enter_joint(False, ccs("v2"))
    for spec in ("v3", "l3", "r2", "", "u1"):
        with pytest.raises(ConfChangeError, match="can't apply simple config change in joint config"):
            chg.simple(ccs(spec))


def test_errors_are_value_errors() -> None:
    assert issubclass(ConfChangeError, ValueError)
    with pytest.raises(ValueError):
        Changer(ProgressTracker(10), 0).leave_joint()


def test_unexpected_change_type_is_rejected() -> None:
    trk = tracker_with("v1")
    bogus = CC(cast(ConfChangeType, 99), 2)
    before = snapshot_of(trk)
    with pytest.raises(ConfChangeError, match="unexpected conf type"):
        Changer(trk, 10).simple([bogus])
    with pytest.raises(ConfChangeError, match="unexpected conf type"):
        Changer(trk, 10).enter_joint(False, [bogus])
    assert snapshot_of(trk) == before


def test_enter_joint_replaces_voters() -> None:
    """(1 2 3) -> (2 3 4)&&(1 2 3): the outgoing half is the old config, the incoming the new."""
    trk = tracker_with("v1 v2 v3")
    chg = Changer(trk, 10)
    cfg, prs = chg.enter_joint(False, ccs("r1 v4"))
    assert set(cfg.voters.incoming) == {2, 3, 4}
    assert set(cfg.voters.outgoing) == {1, 2, 3}
    assert cfg.voters.is_joint()
    assert set(prs) == {1, 2, 3, 4}  # 1 is still an (outgoing) voter: its progress is kept
    assert not cfg.auto_leave
    check_consistent(cfg, prs)
    trk.config, trk.progress = cfg, prs
    cfg, prs = chg.leave_joint()
    assert set(cfg.voters.incoming) == {2, 3, 4}
    assert not cfg.voters.is_joint()
    assert set(prs) == {2, 3, 4}  # now 1's progress goes
    check_consistent(cfg, prs)


def test_enter_joint_can_change_many_voters_at_once() -> None:
    trk = tracker_with("v1 v2 v3")
    cfg, prs = Changer(trk, 10).enter_joint(False, ccs("r1 r2 r3 v4 v5 v6"))
    assert set(cfg.voters.incoming) == {4, 5, 6}
    assert set(cfg.voters.outgoing) == {1, 2, 3}
    assert set(prs) == {1, 2, 3, 4, 5, 6}


def test_enter_joint_removing_all_incoming_voters_is_rejected() -> None:
    trk = tracker_with("v1 v2")
    with pytest.raises(ConfChangeError, match="removed all voters"):
        Changer(trk, 10).enter_joint(False, ccs("r1 r2"))
    with pytest.raises(ConfChangeError, match="removed all voters"):
        Changer(trk, 10).enter_joint(True, ccs("l1 l2 v3 r3"))


@pytest.mark.parametrize("auto_leave", [False, True])
def test_auto_leave_is_passed_through_and_cleared_on_leave(auto_leave: bool) -> None:
    trk = tracker_with("v1")
    chg = Changer(trk, 10)
    trk.config, trk.progress = chg.enter_joint(auto_leave, ccs("v2 v3"))
    assert trk.config.auto_leave == auto_leave
    assert trk.conf_state().auto_leave == auto_leave
    cfg, _ = chg.leave_joint()
    assert not cfg.auto_leave


def test_auto_leave_does_not_change_anything_else() -> None:
    """etcd TestConfChangeQuick's check: entering with and without auto_leave is the same."""
    trk = tracker_with("v1 v2 v3 l4")
    chg = Changer(trk, 10)
    cfg1, prs1 = chg.enter_joint(False, ccs("r1 l2 v4 v5"))
    cfg2, prs2 = chg.enter_joint(True, ccs("r1 l2 v4 v5"))
    assert cfg2.auto_leave and not cfg1.auto_leave
    cfg2.auto_leave = False
    assert describe(cfg1, prs1) == describe(cfg2, prs2)


def test_demote_in_joint_waits_for_leave() -> None:
    trk = tracker_with("v1 v2 v3")
    trk.progress[3].match, trk.progress[3].next = 5, 6
    chg = Changer(trk, 10)
    trk.config, trk.progress = chg.enter_joint(False, ccs("l3"))
    cfg = trk.config
    assert set(cfg.voters.incoming) == {1, 2}
    assert set(cfg.voters.outgoing) == {1, 2, 3}
    assert cfg.learners_next == {3}
    assert cfg.learners == set()
    assert not trk.progress[3].is_learner  # still votes in the outgoing half
    trk.config, trk.progress = chg.leave_joint()
    assert trk.config.learners == {3}
    assert trk.config.learners_next == set()
    assert trk.progress[3].is_learner
    assert (trk.progress[3].match, trk.progress[3].next) == (5, 6)  # progress not reset


def test_promote_back_a_voter_staged_in_learners_next() -> None:
    trk = tracker_with("v1 v2")
    cfg, prs = Changer(trk, 10).enter_joint(False, ccs("l2 v2"))
    assert set(cfg.voters.incoming) == {1, 2}
    assert cfg.learners_next == set()
    assert not prs[2].is_learner
    check_consistent(cfg, prs)


def test_remove_in_joint_then_readd() -> None:
    trk = tracker_with("v1 v2 v3")
    trk.progress[1].match, trk.progress[1].next = 4, 5
    cfg, prs = Changer(trk, 10).enter_joint(False, ccs("r1 v1"))
    assert set(cfg.voters.incoming) == {1, 2, 3}
    assert (prs[1].match, prs[1].next) == (4, 5)  # the outgoing voter's progress survived


def test_remove_learner_in_joint_drops_it_at_once() -> None:
    trk = tracker_with("v1 l2")
    cfg, prs = Changer(trk, 10).enter_joint(False, ccs("v3 r2"))
    assert cfg.learners == set()
    assert set(prs) == {1, 3}


def test_add_learner_in_joint_that_is_a_new_node() -> None:
    trk = tracker_with("v1")
    cfg, prs = Changer(trk, 10).enter_joint(False, ccs("l2"))
    assert cfg.learners == {2}  # not an outgoing voter: a learner straight away
    assert cfg.learners_next == set()
    assert prs[2].is_learner


def test_leave_joint_non_joint_is_rejected() -> None:
    for trk in (ProgressTracker(10), tracker_with("v1"), tracker_with("v1 v2 l3")):
        before = snapshot_of(trk)
        with pytest.raises(ConfChangeError, match="can't leave a non-joint config"):
            Changer(trk, 10).leave_joint()
        assert snapshot_of(trk) == before


def test_enter_joint_twice_is_rejected() -> None:
    trk = tracker_with("v1")
    chg = Changer(trk, 10)
    trk.config, trk.progress = chg.enter_joint(True, ccs("v2"))
    before = snapshot_of(trk)
    with pytest.raises(ConfChangeError, match="config is already joint"):
        chg.enter_joint(False, [])
    assert snapshot_of(trk) == before


def test_enter_joint_from_empty_config_is_rejected() -> None:
    with pytest.raises(ConfChangeError, match="zero-voter"):
        Changer(ProgressTracker(10), 0).enter_joint(False, ccs("v1 v2"))


def test_rejected_change_leaves_tracker_untouched() -> None:
    """A demotion followed by an invalid second voter change: the copied progress was marked a
    learner before the error, the tracker's own must not be."""
    trk = tracker_with("v1 v2 v3")
    before = snapshot_of(trk)
    prs_before = dict(trk.progress)
    cfg_before = trk.config
    with pytest.raises(ConfChangeError):
        Changer(trk, 10).simple(ccs("l2 v4"))
    assert snapshot_of(trk) == before
    assert trk.config is cfg_before
    assert trk.progress == prs_before
    assert not trk.progress[2].is_learner


def test_successful_change_does_not_mutate_the_tracker() -> None:
    trk = tracker_with("v1 v2 v3")
    old_cfg, old_prs = trk.config, trk.progress
    cfg, prs = Changer(trk, 10).simple(ccs("l2"))
    assert prs[2].is_learner
    assert not old_prs[2].is_learner
    assert old_cfg.learners == set()
    assert set(old_cfg.voters.incoming) == {1, 2, 3}
    assert cfg is not old_cfg and prs is not old_prs
    assert all(prs[i] is not old_prs[i] for i in prs)


@pytest.mark.parametrize("setup,message", [
    ("learner also voter", "1 is both a learner and a voter"),
    ("missing progress", "no progress for 2"),
    ("learner not marked", "3 is a learner, but not marked as one"),
    ("learners_next not outgoing", "is in learners_next, but not outgoing"),
])
def test_invalid_tracker_is_refused(setup: str, message: str) -> None:
    """The invariants are checked before any change: a corrupt tracker is never built upon."""
    trk = tracker_with("v1 v2 l3")
    if setup == "learner also voter":
        trk.config.learners.add(1)
        trk.progress[1].is_learner = True
    elif setup == "missing progress":
        del trk.progress[2]
    elif setup == "learner not marked":
        trk.progress[3].is_learner = False
    else:
        trk.config.learners_next.add(2)
    for op in ("simple", "enter", "leave"):
        chg = Changer(trk, 10)
        with pytest.raises(ConfChangeError, match=message):
            if op == "simple":
                chg.simple([])
            elif op == "enter":
                chg.enter_joint(False, [])
            else:
                chg.leave_joint()


def test_non_joint_with_auto_leave_is_refused() -> None:
    trk = tracker_with("v1")
    trk.config.auto_leave = True
    with pytest.raises(ConfChangeError, match="auto_leave must be false when not joint"):
        Changer(trk, 10).simple(ccs("v2"))


# -- simple vs joint (etcd TestConfChangeQuick) ------------------------------------------------

def _random_changes(rng: random.Random) -> list[ConfChangeSingle]:
    """1..9 changes of any type to nodes 2..10 (node 1 stays a voter throughout)."""
    return [CC(ConfChangeType(rng.randrange(4)), 2 + rng.randrange(9))
            for _ in range(1 + rng.randrange(9))]


def _setup(rng: random.Random) -> ProgressTracker:
    trk = ProgressTracker(10)
    chg = Changer(trk, 10)
    for i in [1] + [1 + rng.randrange(5) for _ in range(1 + rng.randrange(5))]:
        trk.config, trk.progress = chg.simple([CC(T.ADD_NODE, i)])
    return trk


def _state(trk: ProgressTracker) -> list[tuple[int, int, int, bool, bool]]:
    return sorted((i, pr.match, pr.next, pr.is_learner, pr.recent_active) for i, pr in trk.progress.items())


def test_simple_and_joint_changes_agree() -> None:
    rng = random.Random(20240611)
    for _ in range(300):
        seed = rng.random()
        changes = _random_changes(random.Random(seed))

        a = _setup(random.Random(seed))
        chg_a = Changer(a, 10)
        for cc in changes:
            a.config, a.progress = chg_a.simple([cc])
            check_consistent(a.config, a.progress)

        b = _setup(random.Random(seed))
        chg_b = Changer(b, 10)
        b.config, b.progress = chg_b.enter_joint(False, changes)
        check_consistent(b.config, b.progress)
        b.config, b.progress = chg_b.leave_joint()
        check_consistent(b.config, b.progress)

        assert describe_config(a.config) == describe_config(b.config), changes
        assert _state(a) == _state(b), changes


# -- restore (etcd TestRestore) ----------------------------------------------------------------

def _restored(cs: ConfState, last_index: int = 10) -> ProgressTracker:
    base = ProgressTracker(20, 99)
    trk = ProgressTracker(20, 99)
    trk.config, trk.progress = restore(base, last_index, cs)
    # restore works on a scratch tracker: the one passed in is left alone
    assert base.progress == {} and describe_config(base.config) == "voters=()"
    return trk


@pytest.mark.parametrize("cs", [
    ConfState(),
    ConfState(voters=(1, 2, 3)),
    ConfState(voters=(1, 2, 3), learners=(4, 5, 6)),
    ConfState(voters=(1, 2, 3), learners=(5,), voters_outgoing=(1, 2, 4, 6), learners_next=(4,)),
    ConfState(voters=(1, 2), voters_outgoing=(1, 2, 3), learners_next=(3,), auto_leave=True),
    ConfState(voters=(4, 5), voters_outgoing=(1, 2, 3)),
])
def test_restore(cs: ConfState) -> None:
    trk = _restored(cs)
    assert trk.conf_state() == cs
    check_consistent(trk.config, trk.progress)
    for pr in trk.progress.values():
        assert (pr.match, pr.next, pr.state) == (0, 10, ProgressState.PROBE)
        assert pr.recent_active
        assert (pr.inflights.size, pr.inflights.max_bytes) == (20, 99)


def test_restore_learners_next_are_voters_until_leave() -> None:
    trk = _restored(ConfState(voters=(1, 2), voters_outgoing=(1, 2, 3), learners_next=(3,)))
    assert not trk.progress[3].is_learner
    trk.config, trk.progress = Changer(trk, 10).leave_joint()
    assert trk.conf_state() == ConfState(voters=(1, 2), learners=(3,))
    assert trk.progress[3].is_learner


def test_restore_without_voters_is_rejected() -> None:
    with pytest.raises(ConfChangeError, match="removed all voters"):
        restore(ProgressTracker(10), 10, ConfState(learners=(1,)))


def _random_conf_state(rng: random.Random) -> ConfState:
    """A random valid, non-empty ConfState, generated as etcd's restore_test.go does."""
    n_voters = 1 + rng.randrange(5)
    n_learners = rng.randrange(5)
    n_removed = rng.randrange(3)
    pool = [i + 1 for i in rng.sample(range(2 * (n_voters + n_learners + n_removed)),
                                      2 * (n_voters + n_learners + n_removed))]
    voters, pool = pool[:n_voters], pool[n_voters:]
    learners, pool = pool[:n_learners], pool[n_learners:]
    retained = rng.randrange(n_voters + 1)
    outgoing = voters[:retained] + pool[:n_removed]
    learners_next: list[int] = []
    if n_removed:
        learners_next = pool[:rng.randrange(n_removed + 1)]
    auto_leave = bool(outgoing) and rng.randrange(2) == 1
    return ConfState(tuple(sorted(voters)), tuple(sorted(learners)), tuple(sorted(outgoing)),
                     tuple(sorted(learners_next)), auto_leave)


def test_restore_round_trips_random_conf_states() -> None:
    rng = random.Random(7)
    for _ in range(300):
        cs = _random_conf_state(rng)
        trk = _restored(cs, last_index=1 + rng.randrange(50))
        assert trk.conf_state() == cs
        check_consistent(trk.config, trk.progress)
