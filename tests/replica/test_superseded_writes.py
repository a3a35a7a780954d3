"""A write a leader proposed just before it lost its leadership, whose entry never reached the
replica that won the next election: the new leader's entries replace it at its index, so it can
never apply, and no result will ever answer it. Seen as client timeouts in ``bench --compare``
(locks, 1,024 ranges, 512 in flight): a node slow under load let a range elect a new leader
while its old leader had just appended a write; the old leader kept the write pending, keyed by
its (term, index), and the new leader's empty entry committed at that index. Once the committed
log shows the write's entry is gone the replica answers it NOT_LEADER (not applied: the client
retries at the new leader with the same command id), as TiKV answers a stale command."""

from __future__ import annotations

from multiraft.raft import Entry, Message, MessageType as MT, StateType
from multiraft.replica.core import ReplicaCore
from multiraft.transport.client_protocol import ClientStatus

from .harness import FakeEnv, Reply, elect, make_replica, put


def _leader_with_a_write() -> tuple[ReplicaCore, FakeEnv, Reply, int, int]:
    """Replica 1 leads (term T) and has appended one write at index W, acknowledged by nobody;
    also returns the index and term of the last entry replica 2 holds (before our term)."""
    core, env = make_replica(1, (2, 3))
    log = core.rn.raft.raft_log
    base = log.last_index()  # what every replica holds: the bootstrapped log
    base_term = log.term(base)
    elect(core, env)
    reply = put(core, b"k", b"v", seq=1)
    env.flush()
    term, w = core.rn.raft.term, log.last_index()
    assert (term, w, 0) in core.pending.writes, "the write is proposed and pending"
    assert reply.status is None
    return core, env, reply, base, base_term


def _append_from_2(core: ReplicaCore, env: FakeEnv, term: int, prev: int, prev_term: int,
                   entries: list[Entry], commit: int) -> None:
    core.step_raft(2, [Message(MT.APP, to=1, from_=2, term=term, log_term=prev_term,
                               index=prev, entries=tuple(entries), commit=commit)])
    env.flush()


def test_a_write_whose_index_the_next_leader_filled_is_answered_not_leader() -> None:
    core, env, reply, base, base_term = _leader_with_a_write()
    t = core.rn.raft.term
    w = core.rn.raft.raft_log.last_index()
    # Replica 2 won term t+1 without our entries: its empty entry and one write fill our
    # indexes (base+1 .. w) and commit.
    new = [Entry(t + 1, i) for i in range(base + 1, w + 1)]
    _append_from_2(core, env, t + 1, base, base_term, new, w)
    assert core.rn.raft.state == StateType.FOLLOWER and core.sm.applied.index == w
    assert reply.status is ClientStatus.NOT_LEADER, \
        "the write's entry was replaced by a committed one: it can never apply"
    assert core.pending.writes == {} and core.pending.is_idle()
    assert core.status()["proposals_superseded"] == 1


def test_a_write_past_a_later_terms_committed_entry_is_answered_not_leader() -> None:
    core, env, reply, base, base_term = _leader_with_a_write()
    t = core.rn.raft.term
    w = core.rn.raft.raft_log.last_index()
    # The new leader's log is shorter than ours: it commits its empty entry at base+1 and the
    # range goes idle. No later entry can be of our term t (terms never decrease along a log).
    _append_from_2(core, env, t + 1, base, base_term, [Entry(t + 1, base + 1)], base + 1)
    assert core.sm.applied.index == base + 1 < w
    assert reply.status is ClientStatus.NOT_LEADER


def test_a_write_the_next_leader_kept_is_still_answered_by_its_result() -> None:
    core, env, reply, _, _ = _leader_with_a_write()
    t = core.rn.raft.term
    w = core.rn.raft.raft_log.last_index()
    # Replica 2 had our entries: it keeps them and commits them with its own empty entry.
    _append_from_2(core, env, t + 1, w, t, [Entry(t + 1, w + 1)], w + 1)
    assert core.sm.applied.index == w + 1
    assert reply.status is ClientStatus.OK, "applied in the new term: answered by its result"


def test_a_write_not_yet_decided_stays_pending() -> None:
    core, env, reply, _, _ = _leader_with_a_write()
    t = core.rn.raft.term
    w = core.rn.raft.raft_log.last_index()
    # A new leader that holds our entries but has committed nothing past what it had: the write
    # may still apply; it is not answered.
    _append_from_2(core, env, t + 1, w, t, [], w - 1)
    assert reply.status is None and len(core.pending.writes) == 1
