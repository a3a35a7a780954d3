"""Raft's hard cases and etcd-io/raft's features beyond the paper, through the RawNode contract.

Modelled on etcd-io/raft's raft_test.go and rawnode_test.go (behaviour, not code). As in
test_paper.py, groups start from the bootstrap snapshot at (1, 1): the first election is term 2.
"""

from __future__ import annotations

import pytest

from harness import BOOT_INDEX, Network, bootstrap_storage, log_terms, msg
from multiraft.raft import (Config, ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType,
                  ConfChangeV2, ConfState, Entry, EntryType, HardState, MemoryStorage,
                  MessageType, ProgressState, ProposalDropped, RawNode, ReadOnlyOption, ReadState,
                  Snapshot, SnapshotMetadata, StateType)

MT = MessageType
FOLLOWER, CANDIDATE, LEADER = StateType.FOLLOWER, StateType.CANDIDATE, StateType.LEADER
ADD, REMOVE, ADD_LEARNER = ConfChangeType.ADD_NODE, ConfChangeType.REMOVE_NODE, ConfChangeType.ADD_LEARNER_NODE


def states(net: Network) -> dict[int, tuple[StateType, int]]:
    return {i: (n.raft_state(), n.term) for i, n in net.nodes.items()}


def lagging_follower(net: Network, id: int, n: int = 3) -> None:
    """Elect 1, then make ``id`` miss ``n`` committed proposals."""
    net.elect(1)
    net.isolate(id)
    for k in range(n):
        net.propose(1, b"p%d" % k)
    net.recover()


# ------------------------------------------------------------------ elections: hard cases

def test_figure_8_old_term_entry_not_committed_by_counting_replicas() -> None:
    """§5.4.2, Figure 8: S1 (leader of term 4) sees its term-2 entry at index 2 stored on a
    majority (S1, S2, S3) but must not commit it: S5 (last entry of term 3) can still win term 5
    with S2, S3, S4 and overwrite index 2 everywhere. No node ever applies the term-2 entry."""
    storages = {1: bootstrap_storage(range(1, 6), entries=[2], term=3),
                2: bootstrap_storage(range(1, 6), entries=[2], term=3),
                3: bootstrap_storage(range(1, 6), entries=[2], term=3),
                4: bootstrap_storage(range(1, 6), term=3),
                5: bootstrap_storage(range(1, 6), entries=[3], term=4)}
    net = Network(range(1, 6), storages=storages)
    net.cut(1, 4)
    net.cut(1, 5)
    net.drop_if = lambda m: m.type == MT.APP and m.from_ == 1  # S1's term-4 entry stays local
    net.elect(1)
    assert net[1].term == 4 and net[1].last_index() == 3
    for follower in (2, 3):  # acknowledgements of the old-term entry at index 2 only
        net.raw(1).step(msg(MT.APP_RESP, follower, 1, 4, index=2))
    net.take(1)
    assert net[1].commit == BOOT_INDEX
    net.recover()
    net.isolate(1)  # S1 crashes
    net.elect(5)
    assert net[5].term == 5
    net.propose(5, b"x")
    for i in (2, 3, 4, 5):
        assert log_terms(net[i].storage)[:2] == [(1, 1), (2, 3)]
        assert net[i].commit == net[5].last_index()
    net.recover()
    net.tick_all(2)  # 5's probe of 1 was lost: the next heartbeat round resumes it
    net.propose(5, b"y")
    assert log_terms(net[1].storage) == log_terms(net[5].storage)
    for n in net.nodes.values():
        assert all(not (e.index == 2 and e.term == 2) for e in n.applied)


@pytest.mark.parametrize("pre_vote", [False, True])
def test_dueling_candidates(pre_vote: bool) -> None:
    """etcd TestDuelingCandidates / TestDuelingPreCandidates: 1 wins while cut from 3; 3 cannot
    win (2 already voted, and 3's log is behind). Once healed, 3 campaigns again: without
    PreVote its higher term deposes 1 (everyone follows at term 3, nobody leads, 3's shorter log
    loses); with PreVote the rejected pre-vote leaves 1 leading at term 2."""
    net = Network([1, 2, 3], pre_vote=pre_vote)
    net.cut(1, 3)
    net.campaign(1)
    net.campaign(3)
    assert net[1].raft_state() == LEADER
    assert net[3].raft_state() != LEADER
    net.recover()
    net.campaign(3)
    if pre_vote:
        assert states(net) == {1: (LEADER, 2), 2: (FOLLOWER, 2), 3: (FOLLOWER, 2)}
    else:
        assert states(net) == {1: (FOLLOWER, 3), 2: (FOLLOWER, 3), 3: (FOLLOWER, 3)}
    assert log_terms(net[1].storage) == log_terms(net[2].storage) == [(1, 1), (2, 2)]
    assert log_terms(net[3].storage) == [(1, 1)]


@pytest.mark.parametrize("pre_vote,check_quorum,disrupts", [
    (False, False, True), (False, True, True), (True, False, False), (True, True, False)])
def test_partitioned_node_rejoins(pre_vote: bool, check_quorum: bool, disrupts: bool) -> None:
    """Raft thesis §9.6 (PreVote): a node partitioned away keeps timing out; with PreVote it never
    raises its term (its pre-votes fail), so on rejoining it follows the current leader without an
    election. Without PreVote its inflated term deposes the leader (etcd TestDisruptiveFollower,
    TestPreVoteWithCheckQuorum)."""
    net = Network([1, 2, 3], pre_vote=pre_vote, check_quorum=check_quorum)
    net.elect(1)
    net.propose(1, b"x")
    term = net[1].term
    net.isolate(3)
    net.tick_all(60)
    assert net[1].raft_state() == LEADER and net[1].term == term
    if pre_vote:
        assert net[3].term == term
    else:
        assert net[3].term > term
    net.recover()
    net.tick_all(40)
    if disrupts:
        assert max(n.term for n in net.nodes.values()) > term
    else:
        assert states(net) == {1: (LEADER, term), 2: (FOLLOWER, term), 3: (FOLLOWER, term)}
    leaders = net.leaders()
    assert len(leaders) == 1
    net.propose(leaders[0], b"y")
    assert net.applied_data(3)[-1] == b"y"
    assert b"x" in net.applied_data(3)


def test_check_quorum_follower_ignores_votes_while_leader_is_alive() -> None:
    """etcd CheckQuorum (Raft thesis §4.2.3): a follower that heard from its leader within the
    election timeout ignores a (non-forced) vote request, even of a higher term; the leader
    is not deposed."""
    net = Network([1, 2, 3], check_quorum=True)
    net.elect(1)
    net.tick_all(1)
    term = net[1].term
    net.isolate(3)
    net.campaign(3)  # raises 3's term while cut off
    net.recover()
    net.raw(3).campaign()
    out = net.take(3)
    assert net.msgs(MT.VOTE, out)
    for m in out:
        net.raw(m.to).step(m)
    replies = net.take(1) + net.take(2)
    assert not [m for m in replies if m.type == MT.VOTE_RESP and not m.reject]
    assert (net[1].raft_state(), net[1].term, net[2].term) == (LEADER, term, term)


@pytest.mark.parametrize("check_quorum", [True, False])
def test_check_quorum_leader_steps_down_when_isolated(check_quorum: bool) -> None:
    """etcd CheckQuorum: a leader that has not heard from a quorum for an election timeout steps
    down (followers active at one check are reset, so within 2 * election_tick + 1 ticks);
    without CheckQuorum it stays leader."""
    net = Network([1, 2, 3], check_quorum=check_quorum, election_tick=10)
    net.elect(1)
    net.isolate(1)
    for _ in range(21):
        net.tick(1)
        net.stabilize()
    assert (net[1].raft_state() == LEADER) == (not check_quorum)
    if check_quorum:
        assert net[1].raw.status().soft_state.lead == 0


def test_check_quorum_leader_with_quorum_stays() -> None:
    """CheckQuorum does not depose a leader that hears from a quorum (3 isolated, 2 alive)."""
    net = Network([1, 2, 3], check_quorum=True)
    net.elect(1)
    net.isolate(3)
    for _ in range(40):
        net.tick(1)
        net.tick(2)
        net.stabilize()
    assert net[1].raft_state() == LEADER


# ------------------------------------------------------------------ replication: hard cases

def test_heartbeat_carries_min_of_match_and_commit() -> None:
    """etcd sendHeartbeat: the commit index in a heartbeat is min(follower's match, leader
    commit), so a follower never learns a commit index beyond what it is known to hold."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.drop_if = lambda m: m.type == MT.APP and m.to == 3
    for d in (b"a", b"b"):
        net.propose(1, d)
    commit = net[1].commit
    match3 = net.raw(1).status().progress[3].match
    assert match3 < commit
    net.tick(1)
    beats = {m.to: m.commit for m in net.msgs(MT.HEARTBEAT, net.take(1))}
    assert beats == {2: commit, 3: match3}


@pytest.mark.parametrize("commit,want", [(10, 3), (3, 3), (2, 2), (1, 2)])
def test_follower_heartbeat_commit(commit: int, want: int) -> None:
    """Heartbeat handling (etcd handleHeartbeat): the follower commits min(heartbeat commit, its
    last index) and never lowers its commit index; it answers with HEARTBEAT_RESP. A commit beyond
    its log (the follower starts with commit 2, last index 3) does not raise."""
    s = bootstrap_storage([1, 2, 3], entries=[2, 2], term=2, commit=2)
    net = Network([1, 2, 3], storages={1: s})
    net.raw(1).step(msg(MT.HEARTBEAT, 2, 1, 2, commit=commit))
    out = net.take(1)
    assert net[1].commit == want
    assert [(m.type, m.to) for m in out] == [(MT.HEARTBEAT_RESP, 2)]


def test_leader_transfer_to_slow_follower() -> None:
    """etcd TestLeaderTransferToSlowFollower (thesis §3.10): the leader first brings the lagging
    target up to date, and only then sends TIMEOUT_NOW; the target wins the next term."""
    net = Network([1, 2, 3])
    lagging_follower(net, 3)
    term, last = net[1].term, net[1].last_index()
    assert net.raw(1).status().progress[3].match < last
    net.raw(1).transfer_leader(3)
    net.stabilize()
    assert net[3].raft_state() == LEADER and net[3].term == term + 1
    assert net[1].raft_state() == FOLLOWER and net.raw(1).status().soft_state.lead == 3
    timeout_at = next(k for k, m in enumerate(net.delivered) if m.type == MT.TIMEOUT_NOW)
    caught_up = [k for k, m in enumerate(net.delivered)
                 if m.type == MT.APP_RESP and m.from_ == 3 and not m.reject and m.index >= last]
    assert caught_up and caught_up[0] < timeout_at
    assert net.applied_data(3)[:3] == [b"p0", b"p1", b"p2"]


def test_leader_transfer_to_up_to_date_follower() -> None:
    """etcd TestLeaderTransferToUpToDateNode: TIMEOUT_NOW goes out at once; 2 leads term+1."""
    net = Network([1, 2, 3])
    net.elect(1)
    term = net[1].term
    net.raw(1).transfer_leader(2)
    assert [m.to for m in net.msgs(MT.TIMEOUT_NOW, net.take(1))] == [2]
    net.raw(2).step(msg(MT.TIMEOUT_NOW, 1, 2, term))
    net.stabilize()
    assert net[2].raft_state() == LEADER and net[2].term == term + 1


def test_leader_transfer_works_with_check_quorum() -> None:
    """etcd TestLeaderTransferWithCheckQuorum: the transferee's election is forced, so voters in
    their leader lease still vote for it."""
    net = Network([1, 2, 3], check_quorum=True)
    net.elect(1)
    net.tick_all(2)
    net.raw(1).transfer_leader(2)
    net.stabilize()
    assert net[2].raft_state() == LEADER


@pytest.mark.parametrize("target", [1, 9, 4], ids=["self", "unknown", "learner"])
def test_leader_transfer_ignored(target: int) -> None:
    """etcd: transferring to the leader itself, to a node outside the config or to a learner
    does nothing: same leader, same term, no transfer in progress, proposals accepted."""
    net = Network([1, 2, 3], learners=[4])
    net.elect(1)
    term = net[1].term
    net.raw(1).transfer_leader(target)
    net.stabilize()
    st = net.raw(1).status()
    assert (st.soft_state.raft_state, st.hard_state.term, st.lead_transferee) == (LEADER, term, 0)
    net.propose(1, b"x")
    assert net.applied_data(1) == [b"x"]


def test_leader_transfer_aborts_after_election_timeout_and_drops_proposals() -> None:
    """etcd TestLeaderTransferTimeout / TestLeaderTransferIgnoreProposal: while a transfer is in
    flight the leader drops proposals (ProposalDropped); if the target does not take over within
    an election timeout the transfer is aborted and proposals are accepted again."""
    net = Network([1, 2, 3], election_tick=10)
    net.elect(1)
    net.isolate(3)
    net.raw(1).transfer_leader(3)
    net.stabilize()
    assert net.raw(1).status().lead_transferee == 3
    with pytest.raises(ProposalDropped):
        net.raw(1).propose(b"x")
    for _ in range(9):
        net.tick(1)
        net.stabilize()
    assert net.raw(1).status().lead_transferee == 3
    net.tick(1)
    net.stabilize()
    st = net.raw(1).status()
    assert st.lead_transferee == 0 and st.soft_state.raft_state == LEADER
    net.propose(1, b"y")
    assert net.applied_data(1) == [b"y"]


# ------------------------------------------------------------------ learners and membership

def test_learner_never_campaigns_but_replicates() -> None:
    """etcd learners: a learner never starts an election (ticks nor campaign()), yet receives
    and applies the log; its acknowledgements do not count towards the commit quorum."""
    net = Network([1, 2], learners=[3])
    for _ in range(50):
        net.tick(3)
    net.raw(3).campaign()
    assert net.take(3) == []
    assert (net[3].raft_state(), net[3].term) == (FOLLOWER, 1)
    net.elect(1)
    net.propose(1, b"x")
    assert net.applied_data(3) == [b"x"]
    net.isolate(2)
    before = net[1].commit
    net.propose(1, b"y")
    assert net[1].commit == before
    assert net.raw(1).status().progress[3].match == net[1].last_index()


def test_learner_answers_vote_requests() -> None:
    """etcd: a learner still answers a vote request (a learner may be promoted before it hears
    of it); it grants an up-to-date candidate."""
    net = Network([1, 2], learners=[3])
    net.raw(3).step(msg(MT.VOTE, 1, 3, 2, log_term=1, index=BOOT_INDEX))
    assert [(m.type, m.reject) for m in net.take(3)] == [(MT.VOTE_RESP, False)]


def test_removed_leader_steps_down() -> None:
    """A leader whose removal is applied stops leading; the remaining voters elect a leader
    among themselves and the removed node never campaigns again."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.raw(1).propose_conf_change(ConfChange(REMOVE, 1))
    net.stabilize()
    for i in (1, 2, 3):
        assert net[i].conf_state.voters == (2, 3)
    assert net[1].raft_state() != LEADER
    net.tick_all(40)
    assert net.leaders() in ([2], [3])
    assert net[1].raft_state() == FOLLOWER


def test_second_conf_change_while_one_is_pending_becomes_empty_entry() -> None:
    """etcd: at most one conf change may be pending (appended, not applied); a second proposal
    is turned into an empty normal entry instead of raising."""
    net = Network([1, 2, 3])
    net.elect(1)
    raw = net.raw(1)
    raw.propose_conf_change(ConfChange(ADD_LEARNER, 4))
    raw.propose_conf_change(ConfChange(ADD_LEARNER, 5))
    rd = net.process(1)
    assert [(e.type, e.data) for e in rd.entries] == [
        (EntryType.CONF_CHANGE, ConfChange(ADD_LEARNER, 4).encode()), (EntryType.NORMAL, b"")]
    net.stabilize()
    assert net[1].conf_state.learners == (4,)
    raw.propose_conf_change(ConfChange(ADD_LEARNER, 5))  # the first is applied: accepted now
    net.stabilize()
    assert net[1].conf_state.learners == (4, 5)


def test_node_does_not_campaign_with_unapplied_conf_change() -> None:
    """etcd hup: a node whose committed log holds a conf change it has not applied yet does not
    campaign (it might not be a voter any more); once applied, it can."""
    cc = ConfChange(ADD_LEARNER, 4)
    s = bootstrap_storage([1, 2, 3], term=1, commit=2)
    s.append([Entry(1, 2, EntryType.CONF_CHANGE, cc.encode())])
    net = Network([1, 2, 3], storages={1: s})
    net.add(1, s, applied=BOOT_INDEX)
    net.raw(1).campaign()
    assert net.raw(1).status().hard_state.term == 1
    net.process(1)  # applies the conf change
    assert net[1].conf_state.learners == (4,)
    net.raw(1).campaign()
    assert net.raw(1).status().hard_state.term == 2


@pytest.mark.parametrize("transition,auto_leave", [
    (ConfChangeTransition.AUTO, True), (ConfChangeTransition.JOINT_IMPLICIT, True),
    (ConfChangeTransition.JOINT_EXPLICIT, False)])
def test_joint_consensus(transition: ConfChangeTransition, auto_leave: bool) -> None:
    """Raft §6 / etcd ConfChangeV2: replacing 3 by 4 enters the joint config (1 2 4)&&(1 2 3);
    with AUTO / JOINT_IMPLICIT the leader then appends the empty CONF_CHANGE_V2 that leaves it;
    with JOINT_EXPLICIT the group stays joint until an empty ConfChangeV2 is proposed. The new
    node catches up (by snapshot, its storage is empty) and ends in the same config."""
    net = Network([1, 2, 3])
    net.add(4, MemoryStorage())
    net.elect(1)
    cc = ConfChangeV2((ConfChangeSingle(ADD, 4), ConfChangeSingle(REMOVE, 3)), transition)
    net.raw(1).propose_conf_change(cc)
    net.stabilize()
    joint = ConfState(voters=(1, 2, 4), voters_outgoing=(1, 2, 3), auto_leave=auto_leave)
    final = ConfState(voters=(1, 2, 4))
    ccs = [e for e in net[1].applied if e.type == EntryType.CONF_CHANGE_V2]
    assert ConfChangeV2.decode(ccs[0].data) == cc
    if not auto_leave:
        assert len(ccs) == 1
        assert net[1].conf_state == joint
        net.propose(1, b"in joint")
        assert net[1].conf_state == joint
        net.raw(1).propose_conf_change(ConfChangeV2())
        net.stabilize()
        ccs = [e for e in net[1].applied if e.type == EntryType.CONF_CHANGE_V2]
    assert len(ccs) == 2 and ConfChangeV2.decode(ccs[1].data) == ConfChangeV2()
    assert net[1].conf_states == [joint, final]
    for i in (1, 2, 4):
        assert net[i].conf_state == final
    net.propose(1, b"after")
    assert net.applied_data(4)[-1] == b"after"


def test_joint_config_needs_both_majorities() -> None:
    """Joint consensus: while joint, an entry commits only with a majority of both the incoming
    and the outgoing config. In (1 2 4)&&(1 2 3) with 2 down, 1+4 is a majority of the incoming
    config but not of the outgoing one: nothing commits until 3 answers too."""
    net = Network([1, 2, 3])
    net.add(4, MemoryStorage())
    net.elect(1)
    net.raw(1).propose_conf_change(ConfChangeV2(
        (ConfChangeSingle(ADD, 4), ConfChangeSingle(REMOVE, 3)), ConfChangeTransition.JOINT_EXPLICIT))
    net.stabilize()
    assert net[1].conf_state.voters_outgoing == (1, 2, 3)
    net.isolate(2)
    net.cut(1, 3)
    before = net[1].commit
    net.propose(1, b"x")
    assert net[1].commit == before
    net.recover()
    net.isolate(2)
    net.tick_all(1)
    assert net[1].commit > before


# ------------------------------------------------------------------ reads

def test_read_index_safe_on_leader() -> None:
    """etcd ReadIndex (thesis §6.4, SAFE): the leader records its commit index, confirms its
    leadership with a heartbeat round carrying the request context, and once a quorum answers
    it reports ReadState(commit, ctx) in a Ready."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.raw(1).read_index(b"ctx")
    beats = net.msgs(MT.HEARTBEAT, net.take(1))
    assert sorted((m.to, m.context) for m in beats) == [(2, b"ctx"), (3, b"ctx")]
    assert net[1].read_states == []
    net.send(*beats)
    assert net[1].read_states == [ReadState(net[1].commit, b"ctx")]


def test_read_index_safe_needs_a_quorum() -> None:
    """SAFE ReadIndex: without a quorum of heartbeat answers no ReadState is produced."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(1)
    net.raw(1).read_index(b"ctx")
    net.stabilize()
    assert net[1].read_states == []


def test_read_index_from_follower() -> None:
    """etcd: a follower forwards READ_INDEX to the leader and reports the ReadState it gets
    back in its own Ready."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.propose(1, b"x")
    net.raw(2).read_index(b"f")
    net.stabilize()
    assert net[2].read_states == [ReadState(net[1].commit, b"f")]


def test_read_index_waits_for_an_entry_of_the_current_term() -> None:
    """etcd (thesis §6.4 step 1): a new leader does not know the commit index of earlier terms
    until an entry of its own term commits; ReadIndex requests wait for that."""
    net = Network([1, 2, 3])
    net.drop_if = lambda m: m.type == MT.APP
    net.elect(1)
    net.raw(1).read_index(b"early")
    net.tick_all(3)
    assert net[1].read_states == []
    net.drop_if = None
    net.tick_all(2)
    assert [r.request_ctx for r in net[1].read_states] == [b"early"]
    assert net[1].read_states[0].index >= 2  # at least the new leader's first entry


def test_read_index_lease_based() -> None:
    """LEASE_BASED ReadIndex (needs check_quorum): the leader answers from its lease at once,
    without a heartbeat round."""
    net = Network([1, 2, 3], check_quorum=True, read_only_option=ReadOnlyOption.LEASE_BASED)
    net.elect(1)
    net.isolate(1)
    net.raw(1).read_index(b"lease")
    out = net.take(1)
    assert not [m for m in out if m.context == b"lease"]
    assert net[1].read_states == [ReadState(net[1].commit, b"lease")]


# ------------------------------------------------------------------ proposals

def test_follower_forwards_proposals() -> None:
    """etcd: a follower forwards a proposal to its leader (PROP), which appends and commits it."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.raw(2).propose(b"fwd")
    out = net.take(2)
    assert [(m.type, m.to) for m in out] == [(MT.PROP, 1)]
    net.send(*out)
    for i in (1, 2, 3):
        assert net.applied_data(i) == [b"fwd"]


@pytest.mark.parametrize("type,extra_term", [
    (MT.APP_RESP, 0), (MT.APP_RESP, 1), (MT.HEARTBEAT_RESP, 1), (MT.VOTE_RESP, 0),
    (MT.READ_INDEX_RESP, 1)], ids=lambda v: getattr(v, "name", str(v)))
def test_responses_from_unknown_peers_are_ignored(type: MessageType, extra_term: int) -> None:
    """etcd RawNode.Step refuses responses from nodes outside the config (ErrStepPeerNotFound);
    the contract says step() does not raise for what it drops: the leader neither raises nor
    changes state, even for a higher term."""
    net = Network([1, 2, 3])
    net.elect(1)
    before = net.raw(1).status()
    net.raw(1).step(msg(type, 9, 1, before.hard_state.term + extra_term, index=5))
    net.stabilize()
    after = net.raw(1).status()
    assert (after.hard_state, after.soft_state) == (before.hard_state, before.soft_state)


def test_duplicated_forwarded_proposal_does_not_corrupt_the_log() -> None:
    """A network may deliver a message twice (and an in-process one as the same object). etcd
    copies proposal entries by value into its log, so stepping the same PROP twice appends two
    entries (3 and 4) and leaves the first untouched. The core must not renumber entries already
    in its log (and in the followers' storage) when it assigns term and index to a PROP."""
    net = Network([1, 2, 3])
    net.elect(1)
    m = msg(MT.PROP, 2, 1, 0, entries=[Entry(0, 0, data=b"fwd")])
    net.raw(1).step(m)
    net.stabilize()
    net.raw(1).step(m)
    net.stabilize()
    for i in (1, 2, 3):
        assert [(e.index, e.data) for e in net[i].log()] == [(2, b""), (3, b"fwd"), (4, b"fwd")]
        assert [e.index for e in net[i].applied] == [2, 3, 4]


@pytest.mark.parametrize("setup", ["no_leader", "candidate", "forwarding_disabled"])
def test_proposal_dropped(setup: str) -> None:
    """The contract: propose raises ProposalDropped when no leader is known (fresh node or
    candidate) or when a follower has proposal forwarding disabled."""
    net = Network([1, 2, 3], disable_proposal_forwarding=setup == "forwarding_disabled")
    if setup == "candidate":
        net.raw(2).campaign()
        net.take(2)
    elif setup == "forwarding_disabled":
        net.elect(1)
        net.raw(1).propose(b"leader ok")
    with pytest.raises(ProposalDropped):
        net.raw(2).propose(b"x")
    assert [m for m in net.take(2) if m.type == MT.PROP] == []


@pytest.mark.parametrize("origin", [2, 1], ids=["from-peer", "bounced-back-to-originator"])
def test_forwarded_proposal_nobody_can_take_is_dropped_silently(origin: int) -> None:
    """The contract: step() of a PROP from the network that cannot be handled (no leader) drops
    it without raising. A forwarded PROP keeps its originator in ``from_`` (etcd), so during a
    leader change it can come back to the node that proposed it (2 forwards to 3, which believes
    2 leads and forwards it back to 2, which meanwhile lost its leader): still a network
    message, still dropped silently; only propose() raises. Found by simulation seed 1012."""
    net = Network([1, 2, 3])
    net.raw(1).step(msg(MT.PROP, origin, 1, 0, entries=[Entry(0, 0, data=b"x")]))
    assert net.take(1) == []


def test_max_uncommitted_entries_size() -> None:
    """etcd max_uncommitted_entries_size: the leader drops proposals whose payload would take the
    uncommitted tail over the limit (ProposalDropped), but always accepts empty entries; once the
    tail commits there is room again."""
    net = Network([1, 2, 3], max_uncommitted_entries_size=300)
    net.elect(1)
    net.isolate(1)
    for _ in range(3):
        net.raw(1).propose(b"x" * 100)
    with pytest.raises(ProposalDropped):
        net.raw(1).propose(b"x" * 100)
    net.raw(1).propose(b"")
    net.stabilize()
    net.recover()
    net.tick_all(2)
    assert len(net.applied_data(1)) == 3
    net.propose(1, b"x" * 100)
    assert len(net.applied_data(1)) == 4


def test_max_uncommitted_first_large_entry_accepted() -> None:
    """etcd increaseUncommittedSize: with nothing uncommitted, one proposal larger than the
    limit is still accepted (else it could never be proposed); the next one is dropped."""
    net = Network([1, 2, 3], max_uncommitted_entries_size=50)
    net.elect(1)
    net.isolate(1)
    net.raw(1).propose(b"y" * 100)
    with pytest.raises(ProposalDropped):
        net.raw(1).propose(b"y")


# ------------------------------------------------------------------ snapshots and progress

def compact_leader(net: Network) -> int:
    """Snapshot the leader's storage at its applied index and compact its log there."""
    n = net[1]
    idx = n.applied_index
    n.storage.create_snapshot(idx, n.conf_state, b"snap@%d" % idx)
    n.storage.compact(idx)
    return idx


def test_snapshot_sent_to_follower_behind_first_index() -> None:
    """etcd: a follower that needs entries the leader compacted away (MemoryStorage.compact)
    receives MsgSnap; its Ready carries the snapshot to persist; it then catches up on the log
    and the leader tracks it as REPLICATE again."""
    net = Network([1, 2, 3])
    lagging_follower(net, 3, n=5)
    idx = compact_leader(net)
    assert net[1].storage.first_index() == idx + 1
    net.propose(1, b"after")
    net.tick_all(2)
    snaps = [m for m in net.delivered if m.type == MT.SNAP and m.to == 3]
    assert snaps and snaps[0].snapshot.metadata.index == idx
    assert [rd.snapshot.data for rd in net[3].readies if rd.snapshot is not None] == [b"snap@%d" % idx]
    assert net[3].storage.snapshot().metadata.index == idx
    assert net[3].commit == net[1].commit
    assert log_terms(net[3].storage) == log_terms(net[1].storage)
    assert net.applied_data(3)[-1] == b"after"
    pr = net.raw(1).status().progress[3]
    assert (pr.state, pr.match) == (ProgressState.REPLICATE, net[1].last_index())


@pytest.mark.parametrize("snap_index,snap_term,commit,restored,want_commit,resp_index", [
    (5, 2, 1, True, 5, 5),  # beyond the log: restored, log replaced
    (3, 2, 1, False, 3, 3),  # the log already has (3, t2): fast-forward commit, keep the log
    (3, 1, 1, True, 3, 3),  # (3, t1) conflicts with our (3, t2): restored
    (2, 2, 3, False, 3, 3),  # older than our commit: ignored
])
def test_follower_handles_snapshot(snap_index: int, snap_term: int, commit: int, restored: bool,
                                   want_commit: int, resp_index: int) -> None:
    """etcd raft.restore / handleSnapshot: a snapshot at or below the commit index is ignored; one
    whose (index, term) the log already holds only fast-forwards the commit index (the log is
    kept); otherwise the log is replaced. The answer is APP_RESP with the new last index
    (restored) or the commit index (not restored)."""
    s = bootstrap_storage([1, 2, 3], entries=[2, 2, 2], term=2, commit=commit)
    net = Network([1, 2, 3], storages={1: s})
    snap = Snapshot(b"s", SnapshotMetadata(ConfState(voters=(1, 2, 3)), snap_index, snap_term))
    net.raw(1).step(msg(MT.SNAP, 2, 1, 2, snapshot=snap))
    out = net.take(1)
    assert [(m.type, m.index, m.reject) for m in out] == [(MT.APP_RESP, resp_index, False)]
    assert any(rd.snapshot is not None for rd in net[1].readies) == restored
    assert net[1].commit == want_commit
    if restored:
        assert log_terms(net[1].storage) == [(snap_index, snap_term)]
    else:
        assert log_terms(net[1].storage) == [(1, 1), (2, 2), (3, 2), (4, 2)]


def test_follower_proposes_conf_change() -> None:
    """propose_conf_change on a follower is forwarded like any proposal and applied everywhere."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.raw(2).propose_conf_change(ConfChange(ADD_LEARNER, 4))
    net.stabilize()
    for i in (1, 2, 3):
        assert net[i].conf_state == ConfState(voters=(1, 2, 3), learners=(4,))


def test_report_unreachable_moves_follower_to_probe() -> None:
    """etcd ReportUnreachable: a follower in REPLICATE goes back to PROBE."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.propose(1, b"x")
    assert net.raw(1).status().progress[2].state == ProgressState.REPLICATE
    net.raw(1).report_unreachable(2)
    assert net.raw(1).status().progress[2].state == ProgressState.PROBE


@pytest.mark.parametrize("ok", [True, False])
def test_report_snapshot(ok: bool) -> None:
    """etcd ReportSnapshot: a follower in SNAPSHOT state goes to PROBE; after success it probes
    from the snapshot index + 1, after failure from match + 1; the pending snapshot is cleared."""
    net = Network([1, 2, 3])
    lagging_follower(net, 3, n=5)
    idx = compact_leader(net)
    net.report_snapshots = False
    net.drop_if = lambda m: m.type == MT.SNAP
    net.tick_all(2)
    pr = net.raw(1).status().progress[3]
    assert (pr.state, pr.pending_snapshot) == (ProgressState.SNAPSHOT, idx)
    net.raw(1).report_snapshot(3, ok)
    pr = net.raw(1).status().progress[3]
    assert pr.state == ProgressState.PROBE and pr.pending_snapshot == 0
    assert pr.next == (idx + 1 if ok else pr.match + 1)


def test_status_progress_on_leader_only() -> None:
    """Contract Status: progress is reported by the leader (itself included), empty elsewhere."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.propose(1, b"x")
    st = net.raw(1).status()
    last = net[1].last_index()
    assert sorted(st.progress) == [1, 2, 3]
    assert all(p.match == last and p.next == last + 1 for p in st.progress.values())
    assert net.raw(2).status().progress == {}
    assert (st.id, st.applied, st.soft_state.lead) == (1, last, 1)


# ------------------------------------------------------------------ Ready / advance

def test_ready_advance_single_node() -> None:
    """etcd RawNode: a fresh node has no Ready; a single voter elects itself; each entry is in
    exactly one Ready's ``entries`` and one Ready's ``committed_entries``; soft_state and
    hard_state are present only when they changed; after the loop settles has_ready is False."""
    net = Network([1])
    raw = net.raw(1)
    assert not raw.has_ready()
    net.campaign(1)
    assert net[1].raft_state() == LEADER
    assert not raw.has_ready()
    readies_before = len(net[1].readies)
    raw.propose(b"a")
    raw.propose(b"b")
    net.stabilize()
    new = net[1].readies[readies_before:]
    assert [e.data for rd in new for e in rd.entries] == [b"a", b"b"]
    assert [e.data for rd in new for e in rd.committed_entries] == [b"a", b"b"]
    assert all(rd.soft_state is None for rd in new)
    assert not raw.has_ready()
    soft = [rd.soft_state for rd in net[1].readies if rd.soft_state is not None]
    assert soft[-1].raft_state == LEADER and soft[-1].lead == 1


def test_step_between_ready_and_advance() -> None:
    """Contract: step() may be called between ready() and advance(); acknowledgements stepped
    then commit the entries of the Ready in flight, which show up (once) in a later Ready."""
    net = Network([1, 2, 3])
    net.elect(1)
    raw = net.raw(1)
    raw.propose(b"x")
    rd = raw.ready()
    net[1].storage.append(list(rd.entries))
    net.queue.extend(rd.messages)
    net.deliver()
    net.process(2)
    net.process(3)
    net.deliver()  # APP_RESPs stepped into 1 before it advances
    raw.advance(rd)
    rd2 = raw.ready()
    assert not rd2.entries
    assert [e.data for e in rd2.committed_entries] == [b"x"]


def test_proposal_after_ready_lands_in_next_ready() -> None:
    """Contract: what happens after ready() goes into the next Ready; advance(rd) only retires
    what rd carried."""
    net = Network([1])
    net.campaign(1)
    raw = net.raw(1)
    raw.propose(b"a")
    rd = raw.ready()
    raw.propose(b"b")
    net[1].storage.append(list(rd.entries))
    if rd.hard_state is not None:
        net[1].storage.set_hard_state(rd.hard_state)
    raw.advance(rd)
    assert [e.data for e in rd.entries] == [b"a"]
    rd2 = raw.ready()
    assert [e.data for e in rd2.entries] == [b"b"]


def test_restart_reapplies_committed_entries_after_applied() -> None:
    """etcd TestRawNodeRestart: a RawNode restarted over its storage keeps term, vote and commit,
    and hands the committed entries after ``Config.applied`` to the application again."""
    net = Network([1, 2, 3])
    net.elect(1)
    for d in (b"a", b"b", b"c"):
        net.propose(1, d)
    hs = net[2].hard_state
    commit = hs.commit
    node = net.add(2, net[2].storage, applied=commit - 2)
    st = node.raw.status()
    assert st.hard_state == hs
    assert st.soft_state.raft_state == FOLLOWER
    rd = node.raw.ready()
    assert [e.index for e in rd.committed_entries] == [commit - 1, commit]
    assert [e.data for e in rd.committed_entries] == [b"b", b"c"]
    assert not rd.messages


@pytest.mark.parametrize("kw", [
    dict(election_tick=1, heartbeat_tick=1), dict(heartbeat_tick=0), dict(id=0),
    dict(read_only_option=ReadOnlyOption.LEASE_BASED), dict(max_inflight_msgs=0)],
    ids=["et<=hb", "hb0", "id0", "lease-without-cq", "inflight0"])
def test_invalid_config_raises_value_error(kw: dict) -> None:
    """Contract: invalid configs raise ValueError (etcd Config.validate)."""
    args = dict(id=1, storage=bootstrap_storage([1]))
    args.update(kw)
    with pytest.raises(ValueError):
        RawNode(Config(**args))


def test_bootstrapped_node_initial_state() -> None:
    """Contract: a node over a storage holding a snapshot but no HardState starts at term 0;
    with the bootstrap HardState(term=1, commit=1) it starts there."""
    s = MemoryStorage()
    s.apply_snapshot(Snapshot(metadata=SnapshotMetadata(ConfState(voters=(1, 2)), 1, 1)))
    assert RawNode(Config(1, s)).status().hard_state.term == 0
    s.set_hard_state(HardState(term=1, commit=1))
    assert RawNode(Config(1, s)).status().hard_state == HardState(term=1, commit=1)


# ------------------------------------------------------------------ flow control

@pytest.mark.parametrize("max_size,one_per_msg", [(0, True), (1 << 20, False)])
def test_max_size_per_msg(max_size: int, one_per_msg: bool) -> None:
    """Contract: ``max_size_per_msg=0`` means one entry per APP; the default lets a catching-up
    follower receive many entries in one message."""
    net = Network([1, 2, 3], max_size_per_msg=max_size)
    lagging_follower(net, 3, n=5)
    net.tick_all(2)
    sizes = [len(m.entries) for m in net.delivered if m.type == MT.APP and m.to == 3 and m.entries]
    assert sum(sizes) >= 5 and net.applied_data(3)[-1] == b"p4"
    assert (max(sizes) == 1) == one_per_msg


def test_max_inflight_msgs_pauses_replication() -> None:
    """etcd Inflights: a follower in REPLICATE gets at most ``max_inflight_msgs`` unacknowledged
    APPs; the rest waits until acknowledgements free the window."""
    net = Network([1, 2, 3], max_inflight_msgs=2)
    net.elect(1)
    net.propose(1, b"warm-up")
    net.drop_if = lambda m: m.type == MT.APP_RESP and m.from_ == 2
    start = len(net.delivered)
    for k in range(5):
        net.propose(1, b"w%d" % k)
    apps = [m for m in net.delivered[start:] if m.type == MT.APP and m.to == 2 and m.entries]
    assert len(apps) == 2
    net.drop_if = None
    net.tick_all(3)
    assert net.applied_data(2)[-1] == b"w4"


def test_max_committed_size_per_ready_paginates() -> None:
    """Contract: committed entries are handed out in Readies of at most
    ``max_committed_size_per_ready`` bytes (at least one entry each), in order, none lost."""
    net = Network([1], max_committed_size_per_ready=250)
    net.campaign(1)
    before = len(net[1].readies)
    raw = net.raw(1)
    for k in range(6):
        raw.propose(bytes([65 + k]) * 100)
    net.stabilize()
    batches = [len(rd.committed_entries) for rd in net[1].readies[before:] if rd.committed_entries]
    assert len(batches) >= 3 and max(batches) <= 2
    assert net.applied_data(1) == [bytes([65 + k]) * 100 for k in range(6)]


# ------------------------------------------------------------------ lazy commit (not etcd)

@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_commit_leaves_the_new_commit_index_to_the_next_append_or_heartbeat(
        lazy: bool) -> None:
    """With ``lazy_commit`` a leader sends no MsgApp only to carry a new commit index (etcd's
    raft does, and so does ours by default): followers commit a proposal once the next append
    or heartbeat tells them, and not before; the leader commits and applies it as usual."""
    net = Network([1, 2, 3], lazy_commit=lazy)
    net.elect(1)
    net.propose(1, b"a")
    commit = net[1].commit
    assert net.applied_data(1)[-1] == b"a"
    empty_appends = [m for m in net.delivered if m.type == MT.APP and not m.entries
                     and m.commit == commit and m.from_ == 1]
    assert bool(empty_appends) is not lazy
    assert all(net[i].commit == (commit - 1 if lazy else commit) for i in (2, 3))
    net.propose(1, b"b")  # the next append carries the previous commit
    assert [net.applied_data(i)[-1:] for i in (2, 3)] == ([[b"b"]] * 2 if not lazy
                                                            else [[b"a"]] * 2)
    net.tick(1)  # (heartbeat_tick=1) a heartbeat carries the rest
    net.stabilize()
    assert [net.applied_data(i) for i in (2, 3)] == [net.applied_data(1)] * 2


def test_lazy_commit_still_tells_followers_at_once_when_a_conf_change_commits() -> None:
    """A replica a conf change removes hears nothing more from the leader once it is applied:
    with ``lazy_commit`` the commit of a conf change still goes out at once, so every member,
    the removed one included, applies it without waiting for another entry."""
    net = Network([1, 2, 3], lazy_commit=True)
    net.elect(1)
    net.raw(1).propose_conf_change(ConfChange(REMOVE, 3))
    net.stabilize()
    for i in (1, 2, 3):
        assert net[i].conf_state.voters == (1, 2), i


@pytest.mark.parametrize("skip", [False, True])
def test_append_as_heartbeat_skips_the_followers_sent_an_append_since_the_last_round(
        skip: bool) -> None:
    """With ``append_as_heartbeat`` a leader's heartbeat round (heartbeat_tick=1 here) goes
    only to the followers it sent no MsgApp since the previous round (3's window is full, so it
    gets no append for "b"); a pending read's round still goes to all (its acks confirm the
    leadership), and so does the next round once nothing was appended."""
    net = Network([1, 2, 3], append_as_heartbeat=skip, max_inflight_msgs=1)
    net.elect(1)
    net.tick(1)
    net.stabilize()  # (the round after the election's appends)
    net.drop_if = lambda m: m.type == MT.APP_RESP and m.from_ == 3
    net.propose(1, b"a")
    net.tick(1)
    everyone = [2, 3]
    assert sorted(m.to for m in net.msgs(MT.HEARTBEAT, net.take(1))) == ([] if skip else everyone)
    net.propose(1, b"b")
    net.tick(1)
    assert sorted(m.to for m in net.msgs(MT.HEARTBEAT, net.take(1))) == ([3] if skip else everyone)
    net.recover()
    net.tick(1)
    net.stabilize()  # (3 answers the heartbeat and is sent "b")
    net.propose(1, b"c")
    net.raw(1).read_index(b"ctx")
    reads = net.msgs(MT.HEARTBEAT, net.take(1))
    assert sorted((m.to, m.context) for m in reads) == [(2, b"ctx"), (3, b"ctx")]
    net.send(*reads)
    assert [rs.request_ctx for rs in net[1].read_states] == [b"ctx"]
    net.tick(1)
    assert sorted(m.to for m in net.msgs(MT.HEARTBEAT, net.take(1))) == ([] if skip else everyone)
    net.tick(1)
    assert sorted(m.to for m in net.msgs(MT.HEARTBEAT, net.take(1))) == everyone


def test_heard_lately_survives_one_check_quorum_reset_not_two() -> None:
    """``Progress.heard_lately``: a check_quorum resets ``recent_active``, so right after one a
    follower heard from a moment before looks inactive; ``heard_lately`` still says yes, and
    says no once a whole election timeout more passed without a word from it."""
    net = Network([1, 2, 3], check_quorum=True, election_tick=10)
    net.elect(1)
    net.tick_all(1)  # (a heartbeat round: both answer)
    pr = net.raw(1).raft.trk.progress
    assert pr[2].recent_active and pr[2].heard_lately
    net.isolate(2)
    net.tick_all(9)  # the check resets recent_active; 3 answers the rounds after it, 2 not
    assert not pr[2].recent_active and pr[2].heard_lately
    assert pr[3].recent_active
    net.tick_all(10)  # the next check: 2 was not heard in the period before it either
    assert not pr[2].heard_lately and pr[3].heard_lately
