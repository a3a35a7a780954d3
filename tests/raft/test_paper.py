"""One test per rule of the Raft paper (Ongaro & Ousterhout, "In Search of an Understandable
Consensus Algorithm", extended version), driven through the public RawNode contract.

Modelled on etcd-io/raft's raft_paper_test.go. Indexes are shifted by one against etcd's
tables: every group here starts from the contract's bootstrap snapshot at (index 1, term 1), so
the first real entry is index 2 and the first election is for term 2.
"""

from __future__ import annotations

import random

import pytest

from harness import BOOT_INDEX, Network, bootstrap_storage, log_terms, msg
from multiraft.raft import (Config, ConfState, Entry, HardState, MessageType, RawNode, Snapshot,
                  SnapshotMetadata, StateType)

MT = MessageType
FOLLOWER, CANDIDATE, LEADER = StateType.FOLLOWER, StateType.CANDIDATE, StateType.LEADER


def ents(*terms: int, start: int = BOOT_INDEX + 1) -> list[Entry]:
    return [Entry(t, i) for i, t in enumerate(terms, start=start)]


def into_state(net: Network, id: int, state: StateType) -> None:
    """Put node ``id`` of ``net`` into ``state`` (its outgoing messages are discarded)."""
    if state == LEADER:
        net.elect(id)
    elif state == CANDIDATE:
        net.raw(id).campaign()
        net.take(id)
    assert net[id].raft_state() == state


# ------------------------------------------------------------------ §5.1 terms

@pytest.mark.parametrize("state", [FOLLOWER, CANDIDATE, LEADER])
def test_update_term_from_message(state: StateType) -> None:
    """§5.1: if one server's current term is smaller than the other's, it updates its term to
    the larger value; a candidate or leader whose term is out of date reverts to follower."""
    net = Network([1, 2, 3])
    into_state(net, 1, state)
    term = net[1].term
    net.raw(1).step(msg(MT.APP, 2, 1, term + 5, log_term=1, index=BOOT_INDEX))
    net.take(1)
    st = net.raw(1).status()
    assert st.hard_state.term == term + 5
    assert st.soft_state.raft_state == FOLLOWER
    assert st.soft_state.lead == 2


STALE_TYPES = [MT.APP, MT.HEARTBEAT, MT.VOTE, MT.APP_RESP, MT.VOTE_RESP, MT.HEARTBEAT_RESP,
               MT.PRE_VOTE, MT.SNAP, MT.TIMEOUT_NOW]


@pytest.mark.parametrize("state", [FOLLOWER, LEADER])
@pytest.mark.parametrize("type", STALE_TYPES, ids=lambda t: t.name)
def test_stale_term_message_is_ignored(state: StateType, type: MessageType) -> None:
    """§5.1: if a server receives a request with a stale term number, it rejects the request.
    etcd ignores it outright (no state change; only a stale PRE_VOTE is answered, with a
    rejection carrying the current term)."""
    net = Network([1, 2, 3], storages={i: bootstrap_storage([1, 2, 3], term=5) for i in (1, 2, 3)})
    into_state(net, 1, state)
    before = net.raw(1).status()
    stale = before.hard_state.term - 1
    m = msg(type, 2, 1, stale, log_term=1, index=BOOT_INDEX,
            entries=[Entry(stale, BOOT_INDEX + 1)] if type == MT.APP else (),
            snapshot=Snapshot(metadata=SnapshotMetadata(ConfState(voters=(1, 2, 3)), 5, stale))
            if type == MT.SNAP else None)
    net.raw(1).step(m)
    out = net.take(1)
    after = net.raw(1).status()
    assert after.hard_state == before.hard_state
    assert after.soft_state == before.soft_state
    replies = [r for r in out if r.to == 2 and r.type not in (MT.HEARTBEAT, MT.APP)]
    if type == MT.PRE_VOTE:
        assert [(r.type, r.reject, r.term) for r in replies] == [(MT.PRE_VOTE_RESP, True, after.hard_state.term)]
    else:
        assert replies == []


@pytest.mark.parametrize("type", [MT.APP, MT.HEARTBEAT])
def test_stale_leader_is_told_the_new_term_with_check_quorum(type: MessageType) -> None:
    """etcd: with check_quorum or pre_vote, a stale-term APP/HEARTBEAT is answered with an
    APP_RESP at the current term, so a partitioned old leader learns it was replaced (otherwise
    the rejoined node could never disrupt it and it would never step down)."""
    net = Network([1, 2, 3], storages={i: bootstrap_storage([1, 2, 3], term=5) for i in (1, 2, 3)},
                  check_quorum=True)
    net.raw(1).step(msg(type, 2, 1, 4, log_term=1, index=BOOT_INDEX))
    out = net.take(1)
    assert [(r.type, r.to, r.term) for r in out] == [(MT.APP_RESP, 2, 5)]
    assert net.raw(1).status().hard_state.term == 5


# ------------------------------------------------------------------ §5.2 leader election

def test_starts_as_follower() -> None:
    """§5.2: when servers start up, they begin as followers (with no leader known)."""
    net = Network([1, 2, 3])
    st = net.raw(1).status()
    assert st.soft_state.raft_state == FOLLOWER and st.soft_state.lead == 0
    assert st.hard_state == HardState(term=1, commit=1)
    assert not net.raw(1).has_ready()


@pytest.mark.parametrize("hb", [1, 3])
def test_leader_broadcasts_heartbeats(hb: int) -> None:
    """§5.2: leaders send periodic heartbeats to all followers to maintain their authority;
    etcd sends one every ``heartbeat_tick`` ticks."""
    net = Network([1, 2, 3], heartbeat_tick=hb)
    net.elect(1)
    for _ in range(hb - 1):
        net.tick(1)
        assert net.msgs(MT.HEARTBEAT, net.take(1)) == []
    net.tick(1)
    beats = net.msgs(MT.HEARTBEAT, net.take(1))
    term, commit = net[1].term, net[1].commit
    assert sorted((m.to, m.term, m.commit) for m in beats) == [(2, term, commit), (3, term, commit)]


def ticks_until_new_term(raw: RawNode, limit: int) -> int | None:
    """Tick ``raw`` until it starts an election (its term rises); the number of ticks, or None."""
    term = raw.status().hard_state.term
    for k in range(1, limit + 1):
        raw.tick()
        if raw.status().hard_state.term > term:
            return k
    return None


@pytest.mark.parametrize("state", [FOLLOWER, CANDIDATE])
def test_nonleader_starts_election_on_timeout(state: StateType) -> None:
    """§5.2: if a follower (or a candidate whose election timed out) receives no communication
    over the election timeout, it increments its term, votes for itself and issues RequestVote
    RPCs (carrying its last log index and term) to every other server."""
    net = Network([1, 2, 3], election_tick=10)
    into_state(net, 1, state)
    term = net[1].term
    k = ticks_until_new_term(net.raw(1), 20)
    assert k is not None and k < 20
    votes = net.msgs(MT.VOTE, net.take(1))
    st = net.raw(1).status()
    assert st.hard_state.term == term + 1 and st.hard_state.vote == 1
    assert st.soft_state.raft_state == CANDIDATE
    last = net[1].last_index()
    assert sorted((m.to, m.term, m.index, m.log_term) for m in votes) == [
        (2, term + 1, last, 1), (3, term + 1, last, 1)]


@pytest.mark.parametrize("size,votes,want", [
    (1, {}, LEADER),
    (3, {2: True, 3: True}, LEADER),
    (3, {2: True}, LEADER),
    (5, {2: True, 3: True, 4: True, 5: True}, LEADER),
    (5, {2: True, 3: True, 4: True}, LEADER),
    (5, {2: True, 3: True}, LEADER),
    (3, {2: False, 3: False}, FOLLOWER),
    (5, {2: False, 3: False, 4: False, 5: False}, FOLLOWER),
    (5, {2: True, 3: False, 4: False, 5: False}, FOLLOWER),
    (3, {}, CANDIDATE),
    (5, {2: True}, CANDIDATE),
    (5, {2: False, 3: False}, CANDIDATE),
    (5, {}, CANDIDATE),
])
def test_leader_election_in_one_round(size: int, votes: dict[int, bool], want: StateType) -> None:
    """§5.2: a candidate wins an election if it receives votes from a majority of the servers
    for the same term; it returns to follower once a majority rejected it (etcd); otherwise it
    stays candidate."""
    net = Network(range(1, size + 1))
    net.raw(1).campaign()
    net.take(1)
    term = net[1].term
    for voter, granted in votes.items():
        net.raw(1).step(msg(MT.VOTE_RESP, voter, 1, term, reject=not granted))
    net.take(1)
    st = net.raw(1).status()
    assert st.soft_state.raft_state == want
    assert st.hard_state.term == term


@pytest.mark.parametrize("vote,nvote,reject", [
    (0, 2, False), (0, 3, False), (2, 2, False), (3, 3, False), (2, 3, True), (3, 2, True)])
def test_follower_votes_once_per_term(vote: int, nvote: int, reject: bool) -> None:
    """§5.2: each server votes for at most one candidate in a given term, first-come-first-served
    (a repeated request from the candidate it voted for is granted again)."""
    s = bootstrap_storage([1, 2, 3], term=2, vote=vote)
    net = Network([1, 2, 3], storages={1: s})
    net.raw(1).step(msg(MT.VOTE, nvote, 1, 2, log_term=1, index=BOOT_INDEX))
    resp = net.msgs(MT.VOTE_RESP, net.take(1))
    assert [(m.to, m.term, m.reject) for m in resp] == [(nvote, 2, reject)]
    assert net.raw(1).status().hard_state.vote == (vote or nvote)


@pytest.mark.parametrize("extra_term", [0, 1])
def test_candidate_falls_back_on_append_from_leader(extra_term: int) -> None:
    """§5.2: while waiting for votes, a candidate that receives AppendEntries from another server
    claiming to be leader with a term at least as large as its own returns to follower."""
    net = Network([1, 2, 3])
    into_state(net, 1, CANDIDATE)
    term = net[1].term + extra_term
    net.raw(1).step(msg(MT.APP, 2, 1, term, log_term=1, index=BOOT_INDEX))
    net.take(1)
    st = net.raw(1).status()
    assert (st.soft_state.raft_state, st.soft_state.lead, st.hard_state.term) == (FOLLOWER, 2, term)


@pytest.mark.parametrize("state", [FOLLOWER, CANDIDATE])
def test_election_timeout_is_randomized(state: StateType) -> None:
    """§5.2: election timeouts are chosen randomly from a fixed interval; etcd draws them from
    ``Config.rng`` in [election_tick, 2*election_tick). Over many rngs every timeout lies in
    that interval and they spread over it (so split votes resolve)."""
    et = 10
    seen = set()
    for seed in range(60):
        s = bootstrap_storage([1, 2, 3])
        raw = RawNode(Config(1, s, election_tick=et, heartbeat_tick=1, rng=random.Random(seed)))
        if state == CANDIDATE:
            raw.campaign()
            raw.advance(raw.ready())
        k = ticks_until_new_term(raw, 3 * et)
        assert k is not None and et <= k < 2 * et, f"rng seed {seed}: election after {k} ticks"
        seen.add(k)
    assert len(seen) >= et // 2, f"timeouts not randomized: {sorted(seen)}"


def test_rng_makes_timeouts_deterministic() -> None:
    """The core is deterministic: the same ``Config.rng`` seed gives the same election timeouts."""
    def run() -> list[int | None]:
        out = []
        for seed in range(5):
            raw = RawNode(Config(1, bootstrap_storage([1, 2, 3]), rng=random.Random(seed)))
            out.append(ticks_until_new_term(raw, 40))
        return out
    assert run() == run()


# ------------------------------------------------------------------ §5.3 log replication

def test_leader_starts_replication() -> None:
    """§5.3: the leader appends a command to its log as a new entry, then issues AppendEntries
    in parallel to each of the other servers (previous index/term, the entry, its commit)."""
    net = Network([1, 2, 3])
    net.elect(1)
    li, term, commit = net[1].last_index(), net[1].term, net[1].commit
    net.raw(1).propose(b"some data")
    rd = net.process(1)
    assert [(e.index, e.term, e.data) for e in rd.entries] == [(li + 1, term, b"some data")]
    apps = net.msgs(MT.APP)
    assert sorted((m.to, m.term, m.index, m.log_term, m.commit) for m in apps) == [
        (2, term, li, term, commit), (3, term, li, term, commit)]
    for m in apps:
        assert [(e.index, e.term, e.data) for e in m.entries] == [(li + 1, term, b"some data")]


def test_leader_commits_and_followers_apply() -> None:
    """§5.3: once the entry is replicated on a majority the leader commits and applies it, and
    followers learn the commit index from later AppendEntries and apply it in log order."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.propose(1, b"x")
    li = net[1].last_index()
    for i in (1, 2, 3):
        assert net[i].commit == li
        assert net.applied_data(i) == [b"x"]


@pytest.mark.parametrize("size,acceptors,committed", [
    (1, set(), True), (3, set(), False), (3, {2}, True), (3, {2, 3}, True),
    (5, set(), False), (5, {2}, False), (5, {2, 3}, True), (5, {2, 3, 4}, True),
    (5, {2, 3, 4, 5}, True)])
def test_leader_acknowledges_commit(size: int, acceptors: set[int], committed: bool) -> None:
    """§5.3: a log entry is committed once the leader replicated it on a majority of servers."""
    net = Network(range(1, size + 1))
    net.elect(1)
    li = net[1].last_index()
    net.drop_if = lambda m: m.type == MT.APP and m.from_ == 1 and m.to not in acceptors
    net.propose(1, b"x")
    assert (net[1].commit > li) == committed
    assert (net.applied_data(1) == [b"x"]) == committed


@pytest.mark.parametrize("old", [[], [2], [1, 2], [1]], ids=str)
def test_leader_commits_preceding_entries(old: list[int]) -> None:
    """§5.3: committing an entry also commits all preceding entries in the leader's log,
    including entries created by previous leaders."""
    storages = {1: bootstrap_storage([1, 2, 3], entries=old, term=2),
                2: bootstrap_storage([1, 2, 3], term=2), 3: bootstrap_storage([1, 2, 3], term=2)}
    net = Network([1, 2, 3], storages=storages)
    net.elect(1)
    net.propose(1, b"x")
    li = net[1].last_index()
    assert li == BOOT_INDEX + len(old) + 2
    assert net[1].commit == li
    assert [e.index for e in net[1].applied] == list(range(BOOT_INDEX + 1, li + 1))
    assert [e.term for e in net[1].applied] == old + [3, 3]


@pytest.mark.parametrize("entries,commit", [
    ([Entry(1, 2, data=b"a")], 2),
    ([Entry(1, 2, data=b"a"), Entry(1, 3, data=b"b")], 3),
    ([Entry(1, 2, data=b"a"), Entry(1, 3, data=b"b")], 2),
    ([Entry(1, 2, data=b"a")], 5),  # leader commit beyond the new entries: min(commit, last new)
])
def test_follower_commits_entries(entries: list[Entry], commit: int) -> None:
    """§5.3: once a follower learns that a log entry is committed, it applies it; etcd commits
    min(leader commit, index of last new entry)."""
    net = Network([1, 2, 3])
    net.raw(1).step(msg(MT.APP, 2, 1, 1, log_term=1, index=BOOT_INDEX, entries=entries, commit=commit))
    while net.process(1) is not None:
        pass
    want = min(commit, entries[-1].index)
    assert net[1].commit == want
    assert [(e.index, e.data) for e in net[1].applied] == [
        (e.index, e.data) for e in entries if e.index <= want]


FOLLOWER_LOG = [1, 2]  # entries (2, t1), (3, t2)


@pytest.mark.parametrize("term,index,reject,hint,hint_term", [
    (1, 1, False, 0, 0),  # matches the snapshot
    (1, 2, False, 0, 0),
    (2, 3, False, 0, 0),
    (1, 3, True, 2, 1),  # mismatch at 3: the hint skips the whole term-2 suffix
    (3, 4, True, 3, 2),  # beyond the last index: hint is the last index
])
def test_follower_checks_append_consistency(term: int, index: int, reject: bool, hint: int,
                                            hint_term: int) -> None:
    """§5.3 (log matching): a follower refuses new entries unless its log has an entry at the
    previous index with the previous term; etcd's rejection carries a hint (index, term) found by
    findConflictByTerm so the leader finds the divergence in one round trip."""
    s = bootstrap_storage([1, 2, 3], entries=FOLLOWER_LOG, term=2)
    net = Network([1, 2, 3], storages={1: s})
    net.raw(1).step(msg(MT.APP, 2, 1, 2, log_term=term, index=index, commit=1))
    [resp] = net.msgs(MT.APP_RESP, net.take(1))
    assert (resp.to, resp.term, resp.reject) == (2, 2, reject)
    if reject:
        assert (resp.index, resp.reject_hint, resp.log_term) == (index, hint, hint_term)
    else:
        assert resp.index == index


@pytest.mark.parametrize("index,log_term,new,want", [
    (3, 2, [(4, 3)], [(2, 1), (3, 2), (4, 3)]),
    (2, 1, [(3, 3), (4, 4)], [(2, 1), (3, 3), (4, 4)]),
    (1, 1, [(2, 1)], [(2, 1), (3, 2)]),
    (1, 1, [(2, 3)], [(2, 3)]),
])
def test_follower_appends_entries(index: int, log_term: int, new: list[tuple[int, int]],
                                  want: list[tuple[int, int]]) -> None:
    """§5.3: if an existing entry conflicts with a new one (same index, different term), the
    follower deletes it and all that follow, then appends the new entries not already there;
    entries already present are kept."""
    s = bootstrap_storage([1, 2, 3], entries=FOLLOWER_LOG, term=2)
    net = Network([1, 2, 3], storages={1: s})
    net.raw(1).step(msg(MT.APP, 2, 1, 4, log_term=log_term, index=index,
                        entries=[Entry(t, i) for i, t in new]))
    net.process(1)
    assert log_terms(net[1].storage)[1:] == want


FIGURE_7_LEADER = [1, 1, 4, 4, 5, 5, 6, 6, 6]  # after the (1, 1) snapshot: indexes 2..10


@pytest.mark.parametrize("follower", [
    [1, 1, 4, 4, 5, 5, 6, 6],  # (a) missing entries
    [1, 1, 4],  # (b)
    [1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  # (c) extra uncommitted entry
    [1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  # (d) extra entries of a later term
    [1, 1, 4, 4, 4, 4],  # (e) missing and extra
    [1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  # (f) diverged from index 4 on
], ids="abcdef")
def test_leader_syncs_follower_log(follower: list[int]) -> None:
    """§5.3, Figure 7: the leader forces followers' logs to duplicate its own: it finds the
    latest entry where they agree, the follower deletes everything after it, and receives the
    leader's entries. With etcd's rejection hints the divergence is found in one round trip."""
    storages = {1: bootstrap_storage([1, 2, 3], entries=FIGURE_7_LEADER, term=7),
                2: bootstrap_storage([1, 2, 3], entries=follower, term=7),
                3: bootstrap_storage([1, 2, 3], term=7)}
    net = Network([1, 2, 3], storages=storages)
    net.isolate(3)  # 3 only casts the deciding vote, by hand
    net.raw(1).campaign()
    net.take(1)
    term = net[1].term
    net.raw(1).step(msg(MT.VOTE_RESP, 3, 1, term))
    net.stabilize()
    assert net[1].raft_state() == LEADER
    net.propose(1, b"x")
    assert log_terms(net[2].storage) == log_terms(net[1].storage)
    # fast log backtracking (etcd findConflictByTerm on both sides): one rejection at most
    rejections = [m for m in net.delivered if m.type == MT.APP_RESP and m.from_ == 2 and m.reject]
    assert len(rejections) <= 1
    assert log_terms(net[1].storage)[1:len(FIGURE_7_LEADER) + 1] == [
        (i, t) for i, t in enumerate(FIGURE_7_LEADER, start=2)]


# ------------------------------------------------------------------ §5.4 safety

@pytest.mark.parametrize("log", [[1], [1, 2]], ids=str)
def test_vote_request_carries_last_log_position(log: list[int]) -> None:
    """§5.4.1: RequestVote includes the candidate's last log index and term."""
    s = bootstrap_storage([1, 2, 3], entries=log, term=max(log))
    net = Network([1, 2, 3], storages={1: s})
    net.raw(1).campaign()
    votes = net.msgs(MT.VOTE, net.take(1))
    last = BOOT_INDEX + len(log)
    assert sorted((m.to, m.term, m.index, m.log_term) for m in votes) == [
        (2, max(log) + 1, last, log[-1]), (3, max(log) + 1, last, log[-1])]


@pytest.mark.parametrize("log,log_term,index,reject", [
    ([1], 1, 2, False), ([1], 1, 3, False), ([1], 1, 1, True),
    ([1, 1], 1, 3, False), ([1, 1], 1, 4, False), ([1, 1], 1, 2, True),
    ([2], 3, 2, False), ([2], 3, 3, False), ([2], 3, 1, False), ([2], 1, 2, True),
    ([2], 2, 1, True),
])
def test_voter_grants_only_up_to_date_candidates(log: list[int], log_term: int, index: int,
                                                  reject: bool) -> None:
    """§5.4.1 election restriction: a voter denies its vote if its own log is more up to date
    than the candidate's (later last term, or same last term and longer)."""
    s = bootstrap_storage([1, 2, 3], entries=log, term=2)
    net = Network([1, 2, 3], storages={1: s})
    net.raw(1).step(msg(MT.VOTE, 2, 1, 3, log_term=log_term, index=index))
    [resp] = net.msgs(MT.VOTE_RESP, net.take(1))
    assert (resp.term, resp.reject) == (3, reject)


@pytest.mark.parametrize("ack,committed", [(2, 1), (3, 1), (4, 4)])
def test_leader_only_commits_entries_of_its_term(ack: int, committed: int) -> None:
    """§5.4.2: a leader never commits entries from previous terms by counting replicas; only
    an entry of its current term is committed that way (and everything before it with it)."""
    storages = {1: bootstrap_storage([1, 2, 3], entries=[1, 2], term=2),
                2: bootstrap_storage([1, 2, 3], term=2), 3: bootstrap_storage([1, 2, 3], term=2)}
    net = Network([1, 2, 3], storages=storages)
    net.drop_if = lambda m: m.type in (MT.APP, MT.APP_RESP)
    net.elect(1)
    term = net[1].term
    assert term == 3 and net[1].last_index() == 4
    net.raw(1).step(msg(MT.APP_RESP, 2, 1, term, index=ack))
    net.take(1)
    assert net[1].commit == committed


# ------------------------------------------------------------------ persistence (§5, Figure 2)

def test_follower_persists_entries_before_acknowledging() -> None:
    """Figure 2 ("updated on stable storage before responding to RPCs"): the Ready that carries
    a follower's APP_RESP also carries the entries it acknowledges, with must_sync set."""
    net = Network([1, 2, 3])
    raw = net.raw(1)
    raw.step(msg(MT.APP, 2, 1, 2, log_term=1, index=BOOT_INDEX,
                 entries=[Entry(2, 2, data=b"a"), Entry(2, 3, data=b"b")]))
    rd = raw.ready()
    [resp] = [m for m in rd.messages if m.type == MT.APP_RESP]
    assert not resp.reject and resp.index == 3
    assert [e.index for e in rd.entries] == [2, 3]
    assert rd.hard_state is not None and rd.hard_state.term == 2
    assert rd.must_sync


def test_voter_persists_vote_before_granting() -> None:
    """Figure 2: currentTerm and votedFor are persisted before a vote is granted: the Ready
    with the VOTE_RESP carries the HardState with that term and vote, with must_sync set."""
    net = Network([1, 2, 3])
    raw = net.raw(1)
    raw.step(msg(MT.VOTE, 2, 1, 5, log_term=1, index=BOOT_INDEX))
    rd = raw.ready()
    [resp] = [m for m in rd.messages if m.type == MT.VOTE_RESP]
    assert not resp.reject and resp.term == 5
    assert rd.hard_state == HardState(term=5, vote=2, commit=1)
    assert rd.must_sync


def test_no_sync_needed_for_commit_only() -> None:
    """etcd MustSync: a Ready that only advances the commit index (no entries, same term and
    vote) does not need a synchronous write."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.propose(1, b"x", stabilize=False)
    net.process(1)
    net.deliver()  # APP to 2 and 3
    net.process(2)
    net.process(3)
    net.deliver()  # their APP_RESP
    rd = net.process(1)  # the leader commits and tells 2 and 3
    assert rd is not None and rd.hard_state is not None and not rd.entries and not rd.must_sync
    net.deliver(lambda m: m.to == 2 and m.type == MT.APP)
    rd = net.process(2)
    assert rd is not None and rd.hard_state is not None and rd.hard_state.commit == net[1].commit
    assert not rd.entries and not rd.must_sync
