"""Issue 12, defect 7 (a, b) on one ``ReplicaCore``: the per-range proposal quota and the node's
bound on pending requests.

(a) A range's leader holds a byte quota for commands proposed but not yet applied
    (``range_quota_bytes``): acquired at proposal, released when the command applies, when the
    replica loses its leadership, or when its pending write expires. A write that would take the
    range over its quota is answered BUSY at once and never proposed (the client backs off and
    retries). Raft's own ``max_uncommitted_entries_size`` is set too, as a backstop.
(b) The client requests waiting in a node's replicas (proposed writes, reads waiting for their
    ReadIndex) are bounded node-wide (``PendingLimit``); past it, BUSY at once.
"""

from __future__ import annotations

import time

import pytest

from multiraft.raft import StateType
from multiraft.raft.errors import ProposalDropped
from multiraft.raft.types import Message, MessageType as MT
from multiraft.replica.counters import ReplicaCounters
from multiraft.replica.limits import PendingLimit
from multiraft.transport.client_protocol import ClientStatus

from .harness import elect, get, make_replica, put

VALUE = b"v" * 100
QUOTA = 1_000


def counter(core, name: str) -> int:  # type: ignore[no-untyped-def]
    return core.svc.counters.as_dict()[name]


def test_writes_over_the_range_quota_are_busy_at_once_and_the_quota_returns_on_apply() -> None:
    core, env = make_replica(peers=(), range_quota_bytes=QUOTA)
    replies = [put(core, b"k%02d" % i, VALUE, i + 1) for i in range(20)]
    accepted = [r for r in replies if r.status is None]  # proposed: waiting to apply
    busy = [r for r in replies if r.status is ClientStatus.BUSY]
    assert len(accepted) + len(busy) == 20
    assert 1 <= len(accepted) <= QUOTA // len(VALUE) and busy
    assert "quota" in busy[0].result
    assert counter(core, "busy_range_quota") == len(busy)
    st = core.status()
    assert st["proposals"] == len(accepted)  # the refused ones were never proposed
    assert len(VALUE) * len(accepted) <= st["quota_bytes_used"] <= QUOTA
    env.flush()  # durable, committed, applied: answered, and the quota is back
    assert all(r.status is ClientStatus.OK for r in accepted)
    assert core.status()["quota_bytes_used"] == 0
    again = [put(core, b"j%02d" % i, VALUE, 100 + i) for i in range(len(accepted))]
    assert all(r.status is None for r in again)
    env.flush()
    assert all(r.status is ClientStatus.OK for r in again)


def test_a_command_larger_than_the_quota_is_proposed_alone() -> None:
    core, env = make_replica(peers=(), range_quota_bytes=QUOTA)
    big = put(core, b"big", b"b" * (3 * QUOTA), 1)
    assert big.status is None, "an empty pool admits any one command"
    small = put(core, b"small", VALUE, 2)
    assert small.status is ClientStatus.BUSY
    env.flush()
    assert big.status is ClientStatus.OK


def test_raft_refuses_uncommitted_entries_past_its_backstop() -> None:
    core, env = make_replica(peers=(2, 3), range_quota_bytes=QUOTA)
    elect(core, env)  # nothing this leader appends will commit
    core.rn.propose(b"x" * QUOTA)  # raft admits one entry into an empty uncommitted tail
    with pytest.raises(ProposalDropped):
        for _ in range(10):  # straight to raft, past the quota pool: raft's limit holds
            core.rn.propose(b"x" * QUOTA)


def test_leadership_loss_returns_the_quota_and_expiry_forgets_the_writes() -> None:
    core, env = make_replica(peers=(2, 3), range_quota_bytes=QUOTA, write_expiry=0.05)
    elect(core, env)
    replies = [put(core, b"k%02d" % i, VALUE, i + 1) for i in range(20)]
    assert any(r.status is ClientStatus.BUSY for r in replies)
    env.flush()
    assert core.status()["quota_bytes_used"] > 0  # unacknowledged: nothing applies
    term = core.rn.raft.term
    core.step_raft(2, [Message(MT.HEARTBEAT, to=1, from_=2, term=term + 1)])  # a new leader
    env.flush()
    assert core.rn.raft.state == StateType.FOLLOWER
    assert core.status()["quota_bytes_used"] == 0
    # Expiring the deposed leader's pending writes gives their pending slots back.
    pending = PendingLimit(100)
    core2, env2 = make_replica(peers=(2, 3), range_quota_bytes=QUOTA, write_expiry=0.05,
                               pending_limit=pending)
    elect(core2, env2)
    n = sum(put(core2, b"k%02d" % i, VALUE, i + 1).status is None for i in range(5))
    env2.flush()
    assert pending.pending == n and core2.status()["quota_bytes_used"] > 0
    time.sleep(0.1)
    core2.tick()
    assert pending.pending == 0 and core2.status()["quota_bytes_used"] == 0


def test_pending_requests_are_bounded_across_the_node() -> None:
    pending, counters = PendingLimit(3), ReplicaCounters()  # one node's, shared by its replicas
    a, env_a = make_replica(peers=(), range_id=1, pending_limit=pending, counters=counters)
    b, env_b = make_replica(peers=(), range_id=1, pending_limit=pending, counters=counters)
    first = [put(a, b"a1", VALUE, 1), get(a, b"a1")]   # a write and a read waiting
    second = [put(b, b"b1", VALUE, 1), put(b, b"b2", VALUE, 2), get(b, b"b1")]
    assert [r.status for r in first] == [None, None]
    assert [r.status for r in second[:1]] == [None]
    refused = second[1:]
    assert all(r.status is ClientStatus.BUSY for r in refused)
    assert "pending" in refused[0].result
    assert pending.pending == 3 and counter(a, "busy_pending_limit") == 2
    env_a.flush()
    env_b.flush()
    assert first[0].status is ClientStatus.OK and first[1].status is ClientStatus.OK
    assert second[0].status is ClientStatus.OK
    assert pending.pending == 0, "answered requests give their slots back"
    assert put(b, b"b2", VALUE, 3).status is None


def test_a_pending_limit_bounds_and_releases() -> None:
    limit = PendingLimit(2)
    assert limit.try_acquire() and limit.try_acquire()
    assert not limit.try_acquire() and limit.pending == 2
    limit.release(2)
    assert limit.pending == 0 and limit.try_acquire()
    with pytest.raises(ValueError):
        PendingLimit(0)
