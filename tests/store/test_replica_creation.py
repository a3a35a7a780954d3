"""Issue 12, defect 7 (c): ``ReplicaCreationPolicy``, which both stores ask before creating a
replica for a range they do not hold. Only a known node (a configured peer), only a message a
range's leader or candidate sends (MsgApp, heartbeat, snapshot, vote, pre-vote) with term > 0,
at most ``rate`` new replicas per second per sending node and at most ``max_uninitialized``
uninitialized replicas at once; an uninitialized replica is handed back for removal once it has
waited ``ttl`` seconds without being initialized. Every refusal is counted."""

from __future__ import annotations

import pytest

from multiraft.raft.types import MessageType as MT
from multiraft.store.counters import StoreCounters
from multiraft.store.replica_creation import ReplicaCreationPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def policy(rate: float = 1000.0, cap: int = 1000, ttl: float = 60.0
           ) -> tuple[ReplicaCreationPolicy, StoreCounters, Clock]:
    counters, clock = StoreCounters(), Clock()
    return (ReplicaCreationPolicy([2, 3], counters, rate=rate, max_uninitialized=cap, ttl=ttl,
                                  clock=clock), counters, clock)


@pytest.mark.parametrize("kind", [MT.APP, MT.HEARTBEAT, MT.SNAP, MT.VOTE, MT.PRE_VOTE])
def test_a_leader_or_candidate_message_from_a_known_node_creates(kind: MT) -> None:
    p, counters, _ = policy()
    assert p.admit(2, 10, kind, 3)
    assert p.uninitialized == 1


@pytest.mark.parametrize("kind", [MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP,
                                  MT.HEARTBEAT_RESP, MT.TIMEOUT_NOW, MT.READ_INDEX,
                                  MT.READ_INDEX_RESP, MT.TRANSFER_LEADER])
def test_other_messages_do_not(kind: MT) -> None:
    p, counters, _ = policy()
    assert not p.admit(2, 10, kind, 3)
    assert counters.as_dict()["replica_create_refused_type"] == 1
    assert p.uninitialized == 0


def test_term_zero_does_not() -> None:
    p, counters, _ = policy()
    assert not p.admit(2, 10, MT.APP, 0)
    assert counters.as_dict()["replica_create_refused_type"] == 1


def test_replica_id_zero_does_not() -> None:
    p, counters, _ = policy()
    assert not p.admit(2, 10, MT.APP, 3, to_replica=0)
    assert counters.as_dict()["replica_create_refused_type"] == 1
    assert p.admit(2, 10, MT.APP, 3, to_replica=4)


@pytest.mark.parametrize("node", [0, 1, 4, 99])
def test_an_unknown_node_does_not(node: int) -> None:
    p, counters, _ = policy()
    assert not p.admit(node, 10, MT.APP, 3)
    assert counters.as_dict()["replica_create_refused_unknown_node"] == 1


def test_creation_is_rate_limited_per_node() -> None:
    p, counters, clock = policy(rate=5)
    assert [p.admit(2, rid, MT.APP, 1) for rid in range(1, 8)] == [True] * 5 + [False] * 2
    assert counters.as_dict()["replica_create_refused_rate"] == 2
    assert p.admit(3, 100, MT.APP, 1), "another node has its own budget"
    clock.now += 0.2  # one more token for node 2
    assert p.admit(2, 50, MT.APP, 1) and not p.admit(2, 51, MT.APP, 1)
    clock.now += 10  # a full bucket, no more
    assert sum(p.admit(2, 200 + i, MT.APP, 1) for i in range(20)) == 5


def test_uninitialized_replicas_are_capped() -> None:
    p, counters, _ = policy(cap=3)
    assert [p.admit(2, rid, MT.APP, 1) for rid in range(1, 6)] == [True] * 3 + [False] * 2
    assert counters.as_dict()["replica_create_refused_cap"] == 2
    p.initialized(1)  # it got its snapshot: no longer counts against the cap
    assert p.uninitialized == 2 and p.admit(2, 9, MT.APP, 1)
    p.removed(2)
    assert p.admit(2, 10, MT.APP, 1) and not p.admit(2, 11, MT.APP, 1)


def test_uninitialized_replicas_expire_after_the_ttl() -> None:
    p, counters, clock = policy(ttl=30)
    p.admit(2, 1, MT.APP, 1)
    clock.now += 10
    p.admit(2, 2, MT.APP, 1)
    p.admit(2, 3, MT.APP, 1)
    p.initialized(3)
    assert p.expired() == []
    clock.now += 25
    assert p.expired() == [1]
    assert p.expired() == [], "handed back once; again only if it is still there a ttl later"
    clock.now += 10
    assert p.expired() == [2]
    p.removed(1)
    p.removed(2)
    assert p.uninitialized == 0
    clock.now += 100
    assert p.expired() == []


def test_bad_settings_are_refused() -> None:
    for kw in ({"rate": 0}, {"max_uninitialized": 0}, {"ttl": 0}):
        args = {"rate": 1.0, "max_uninitialized": 1, "ttl": 1.0, **kw}
        with pytest.raises(ValueError):
            ReplicaCreationPolicy([2], StoreCounters(), **args)  # type: ignore[arg-type]
