"""Hypothesis property tests for raft's arithmetic: quorum (``raft.quorum``) and the log
(``raft.log.RaftLog``), each checked against a small, obviously-correct reference model.

Reference semantics are etcd-io/raft's ``quorum`` package and ``raftLog``.
"""

from __future__ import annotations

import sys

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from multiraft.raft import ConfState, Entry, HardState, MemoryStorage, Snapshot, SnapshotMetadata

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

ids_st = st.frozensets(st.integers(1, 9), max_size=7)
acked_st = st.dictionaries(st.integers(1, 12), st.integers(0, 50), max_size=10)
votes_st = st.dictionaries(st.integers(1, 12), st.booleans(), max_size=10)


# ---------------------------------------------------------------- quorum reference model

def ref_committed(ids: frozenset[int], acked: dict[int, int]) -> int:
    """The largest index acked by a majority: the q-th largest of the voters' acks (missing = 0)."""
    if not ids:
        return sys.maxsize
    q = len(ids) // 2 + 1
    return max(i for i in range(0, 51) if sum(acked.get(v, 0) >= i for v in ids) >= q)


def ref_vote(ids: frozenset[int], votes: dict[int, bool]) -> str:
    if not ids:
        return "WON"
    q = len(ids) // 2 + 1
    yes = sum(votes.get(v) is True for v in ids)
    missing = sum(v not in votes for v in ids)
    if yes >= q:
        return "WON"
    if yes + missing >= q:
        return "PENDING"
    return "LOST"


@SETTINGS
@given(ids_st, acked_st)
def test_majority_committed_index_matches_reference(ids: frozenset[int], acked: dict[int, int]) -> None:
    """etcd MajorityConfig.CommittedIndex: the highest index a majority acknowledged; ids not in
    ``acked`` count as 0; acks of non-members are ignored; an empty config reports sys.maxsize."""
    from multiraft.raft.quorum import MajorityConfig
    assert MajorityConfig(ids).committed_index(acked) == ref_committed(ids, acked)


@SETTINGS
@given(ids_st, acked_st, st.integers(1, 12), st.integers(0, 50))
def test_majority_committed_index_is_monotone(ids: frozenset[int], acked: dict[int, int],
                                              who: int, more: int) -> None:
    """Raising one voter's acknowledged index never lowers the committed index (commit only grows)."""
    from multiraft.raft.quorum import MajorityConfig
    c = MajorityConfig(ids)
    before = c.committed_index(acked)
    after = c.committed_index({**acked, who: max(acked.get(who, 0), more)})
    assert after >= before


@SETTINGS
@given(ids_st, votes_st)
def test_majority_vote_result_matches_reference(ids: frozenset[int], votes: dict[int, bool]) -> None:
    """etcd MajorityConfig.VoteResult: WON with a majority of yes, LOST when yes + missing is
    short of a majority, else PENDING; an empty config wins."""
    from multiraft.raft.quorum import MajorityConfig, VoteResult
    assert MajorityConfig(ids).vote_result(votes) == VoteResult[ref_vote(ids, votes)]


@SETTINGS
@given(ids_st, ids_st, acked_st)
def test_joint_committed_index_is_min_of_halves(inc: frozenset[int], out: frozenset[int],
                                                acked: dict[int, int]) -> None:
    """etcd JointConfig.CommittedIndex: the minimum of both majorities' committed index, so an
    index is committed only when each half has a quorum for it (an empty half does not constrain)."""
    from multiraft.raft.quorum import JointConfig, MajorityConfig
    j = JointConfig(MajorityConfig(inc), MajorityConfig(out))
    assert j.committed_index(acked) == min(ref_committed(inc, acked), ref_committed(out, acked))


@SETTINGS
@given(ids_st, ids_st, votes_st)
def test_joint_vote_result_needs_both_halves(inc: frozenset[int], out: frozenset[int],
                                             votes: dict[int, bool]) -> None:
    """etcd JointConfig.VoteResult: WON only if both halves win, LOST if either loses."""
    from multiraft.raft.quorum import JointConfig, MajorityConfig, VoteResult
    r1, r2 = ref_vote(inc, votes), ref_vote(out, votes)
    want = "WON" if r1 == r2 == "WON" else "LOST" if "LOST" in (r1, r2) else "PENDING"
    j = JointConfig(MajorityConfig(inc), MajorityConfig(out))
    assert j.vote_result(votes) == VoteResult[want]


@SETTINGS
@given(ids_st, st.data())
def test_two_majorities_of_one_config_intersect(ids: frozenset[int], data: st.DataObject) -> None:
    """The safety core of raft: if one set of voters wins an election, the complementary voters
    cannot also win (two majorities always share a member)."""
    from multiraft.raft.quorum import MajorityConfig, VoteResult
    assume(ids)
    yes = data.draw(st.frozensets(st.sampled_from(sorted(ids))))
    c = MajorityConfig(ids)
    a = c.vote_result({i: i in yes for i in ids})
    b = c.vote_result({i: i not in yes for i in ids})
    assert not (a == VoteResult.WON and b == VoteResult.WON)
    assert VoteResult.PENDING not in (a, b)  # everyone voted: decided


# ---------------------------------------------------------------- log reference model

SNAP_INDEX = 3
SNAP_TERM = 2


@st.composite
def term_logs(draw: st.DrawFn, min_len: int = 0, max_len: int = 12,
              start_term: int = SNAP_TERM) -> list[int]:
    """Terms of entries SNAP_INDEX+1, SNAP_INDEX+2, ... (non-decreasing, >= the snapshot's)."""
    n = draw(st.integers(min_len, max_len))
    terms, t = [], start_term
    for _ in range(n):
        t += draw(st.integers(0, 2))
        terms.append(t)
    return terms


def make_log(terms: list[int], stable: int, committed: int = SNAP_INDEX) -> tuple[object, dict[int, int]]:
    """A RaftLog over a MemoryStorage holding the snapshot (SNAP_INDEX, SNAP_TERM) and the first
    ``stable`` entries of ``terms``; the rest are appended to the log (unstable). Returns the log
    and the model: index -> term, snapshot included."""
    from multiraft.raft.log import RaftLog
    s = MemoryStorage()
    s.apply_snapshot(Snapshot(metadata=SnapshotMetadata(ConfState(voters=(1,)), SNAP_INDEX, SNAP_TERM)))
    ents = [Entry(t, SNAP_INDEX + 1 + k) for k, t in enumerate(terms)]
    s.append(ents[:stable])
    s.set_hard_state(HardState(term=max(terms, default=SNAP_TERM), commit=SNAP_INDEX))
    log = RaftLog(s)
    if ents[stable:]:
        log.append(ents[stable:])
    if committed > SNAP_INDEX:
        log.commit_to(committed)
    model = {SNAP_INDEX: SNAP_TERM} | {e.index: e.term for e in ents}
    return log, model


def log_view(log: object) -> dict[int, int]:
    """index -> term over the whole log, the snapshot's index included."""
    return {i: log.term(i) for i in range(SNAP_INDEX, log.last_index() + 1)}  # type: ignore[attr-defined]


@st.composite
def log_cases(draw: st.DrawFn) -> tuple[list[int], int]:
    terms = draw(term_logs())
    return terms, draw(st.integers(0, len(terms)))


@SETTINGS
@given(log_cases())
def test_log_reports_storage_plus_unstable(case: tuple[list[int], int]) -> None:
    """raftLog: first_index is the snapshot's index + 1, last_index and term(i) cover the stable
    and unstable entries alike, and match_term agrees with term."""
    terms, stable = case
    log, model = make_log(terms, stable)
    assert log.first_index() == SNAP_INDEX + 1
    assert log.last_index() == SNAP_INDEX + len(terms)
    assert log_view(log) == model
    for i, t in model.items():
        assert log.match_term(i, t)
        assert not log.match_term(i, t + 1)
    assert not log.match_term(SNAP_INDEX + len(terms) + 1, model[max(model)])


@SETTINGS
@given(log_cases(), st.integers(0, 20), st.integers(0, 8))
def test_log_is_up_to_date(case: tuple[list[int], int], index: int, term: int) -> None:
    """Raft §5.4.1 (etcd isUpToDate): a candidate's log (last index, last term) is at least as
    up to date iff its last term is greater, or equal with a last index at least ours."""
    terms, stable = case
    log, model = make_log(terms, stable)
    last = max(model)
    want = term > model[last] or (term == model[last] and index >= last)
    assert log.is_up_to_date(index, term) == want


def ref_find_conflict(model: dict[int, int], ents: list[Entry]) -> int:
    for e in ents:
        if model.get(e.index) != e.term:
            return e.index
    return 0


@st.composite
def append_cases(draw: st.DrawFn) -> tuple[list[int], int, int, list[Entry]]:
    """A log and an incoming run of entries that starts inside (or right after) it."""
    terms, stable = draw(log_cases())
    last = SNAP_INDEX + len(terms)
    start = draw(st.integers(SNAP_INDEX + 1, last + 1))
    # the incoming run copies a prefix of ours, then maybe diverges with higher terms
    keep = draw(st.integers(0, last - start + 1))
    base = [terms[i - SNAP_INDEX - 1] for i in range(start, start + keep)]
    prev_t = terms[start - SNAP_INDEX - 2] if start - 1 > SNAP_INDEX else SNAP_TERM
    t = max(base, default=prev_t)
    tail = []
    for _ in range(draw(st.integers(0, 5))):
        t += draw(st.integers(1, 2)) if not tail else draw(st.integers(0, 1))
        tail.append(t)
    ents = [Entry(tt, start + k) for k, tt in enumerate(base + tail)]
    return terms, stable, start, ents


@SETTINGS
@given(append_cases())
def test_find_conflict(case: tuple[list[int], int, int, list[Entry]]) -> None:
    """etcd findConflict: the index of the first entry whose term differs from ours or that we do
    not have; 0 when every entry is already in the log."""
    terms, stable, _, ents = case
    log, model = make_log(terms, stable)
    assert log.find_conflict(ents) == ref_find_conflict(model, ents)


@SETTINGS
@given(append_cases(), st.integers(0, 12), st.booleans())
def test_maybe_append(case: tuple[list[int], int, int, list[Entry]], commit: int, bad_prev: bool) -> None:
    """Raft §5.3 AppendEntries receiver rules (etcd maybeAppend): reject unless the log has an
    entry at (index, log_term); otherwise keep matching entries, truncate at the first conflict,
    append the rest; return the last new index; commit min(leader commit, last new index), never
    lowering the commit index."""
    terms, stable, start, ents = case
    log, model = make_log(terms, stable)
    prev = start - 1
    prev_term = model[prev] + (1 if bad_prev else 0)
    committed_before = log.committed
    leader_commit = SNAP_INDEX + commit
    if bad_prev:
        # never ask a log to drop its committed entries: committed stays at the snapshot
        last_new, ok = log.maybe_append(prev, prev_term, leader_commit, ents)
        assert not ok
        assert log_view(log) == model
        assert log.committed == committed_before
        return
    conflict = ref_find_conflict(model, ents)
    last_new, ok = log.maybe_append(prev, prev_term, leader_commit, ents)
    assert ok
    assert last_new == prev + len(ents)
    want = dict(model)
    if conflict:
        for i in [i for i in want if i >= conflict]:
            del want[i]
        for e in ents:
            if e.index >= conflict:
                want[e.index] = e.term
    assert log_view(log) == want
    assert log.committed == max(committed_before, min(leader_commit, last_new))


@SETTINGS
@given(log_cases(), st.integers(SNAP_INDEX, 20), st.integers(0, 10))
def test_find_conflict_by_term(case: tuple[list[int], int], index: int, term: int) -> None:
    """etcd findConflictByTerm (fast log backtracking): walking down from ``index``, the first j
    whose term is <= ``term``, as (j, term(j)); where the term is unknown (past the last index, or
    below the snapshot) etcd answers (j, 0)."""
    terms, stable = case
    log, model = make_log(terms, stable)
    j = index
    while j in model and model[j] > term:
        j -= 1
    want = (j, model[j]) if j in model else (j, 0)
    assert tuple(log.find_conflict_by_term(index, term)) == want


@SETTINGS
@given(log_cases(), st.integers(0, 12), st.integers(0, 8))
def test_maybe_commit_only_matching_term(case: tuple[list[int], int], offset: int, term: int) -> None:
    """Raft §5.4.2 (etcd maybeCommit): the commit index advances to ``max_index`` only when it is
    beyond the current commit and the entry there has term ``term`` (a leader commits by counting
    replicas only entries of its own term)."""
    terms, stable = case
    log, model = make_log(terms, stable)
    max_index = SNAP_INDEX + offset
    assume(max_index <= max(model))
    before = log.committed
    want = max_index > before and model[max_index] == term
    assert log.maybe_commit(max_index, term) == want
    assert log.committed == (max_index if want else before)


@SETTINGS
@given(log_cases(), st.integers(0, 12), st.integers(0, 12), st.sampled_from([None, 0, 8, 20, 1000]))
def test_slice_respects_bounds_and_size(case: tuple[list[int], int], a: int, b: int,
                                        max_size: int | None) -> None:
    """etcd raftLog.slice: entries [lo, hi) across storage and unstable, cut to ``max_size``
    bytes but never empty; the result is a prefix of the requested range."""
    terms, stable = case
    log, model = make_log(terms, stable)
    lo, hi = sorted((SNAP_INDEX + 1 + a, SNAP_INDEX + 1 + b))
    assume(hi <= max(model) + 1)
    got = log.slice(lo, hi, max_size) if max_size is not None else log.slice(lo, hi, sys.maxsize)
    want = [(i, model[i]) for i in range(lo, hi)]
    got_pairs = [(e.index, e.term) for e in got]
    if lo == hi:
        assert got_pairs == []
        return
    assert got_pairs and got_pairs == want[:len(got_pairs)]
    if max_size is None:
        assert got_pairs == want
