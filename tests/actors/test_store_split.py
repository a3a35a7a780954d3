"""``StoreActor`` and splits (issue 13), its messages handled one by one on the test's thread
(fake replica handles record what they are told): the orders in which a replica's messages and
the store's can meet."""

from __future__ import annotations

from typing import Any

from multiraft.actors.inbound import StoreInbound
from multiraft.actors.messages import (INITIALIZE_FROM_SPLIT, InboundRaft, RaftMessages,
                                       ReplicasLoaded,
                                       ReplicaDropped, SplitApplied)
from multiraft.actors.store import StoreActor
from multiraft.raft.types import Message, MessageType as MT
from multiraft.store.heartbeat_queue import CoalescedHeartbeats
from multiraft.storage.range_descriptor import RangeDescriptor

NODE = 1
REPLICAS = ((1, 1), (2, 2), (3, 3))
LEFT = RangeDescriptor(1, b"", None, REPLICAS, 0)
RIGHT_ID = 2_000_000_001


class Handle:
    """A replica actor's handle: records what it is told, and whether it was stopped."""

    def __init__(self, range_id: int, replica_id: int, campaign: bool) -> None:
        self.args = (range_id, replica_id, campaign)
        self.told: list[Any] = []
        self.stopped = False

    def tell(self, msg: Any) -> None:
        self.told.append(msg)

    def stop(self, block: bool = True) -> None:
        self.stopped = True


def store() -> tuple[StoreActor, list[Handle]]:
    made: list[Handle] = []

    def factory(range_id: int, replica_id: int, campaign: bool) -> Handle:
        made.append(Handle(range_id, replica_id, campaign))
        return made[-1]

    def fatal(what: str, error: BaseException) -> None:
        raise AssertionError(f"{what}: {error!r}")
    s = StoreActor(NODE, None, StoreInbound(), CoalescedHeartbeats(), [2, 3], 20, fatal)
    left = factory(1, 1, False)
    s.on_receive(ReplicasLoaded(factory, {1: left}, [LEFT]))
    return s, made


def test_a_replica_that_dropped_itself_as_its_split_applied_is_replaced() -> None:
    """Proves: when an uninitialized right-hand replica (created on first contact) drops itself
    (its ttl passed) in the same moment the local left replica's split applies, so that the
    store's INITIALIZE_FROM_SPLIT reaches it after it dropped (and is ignored) and its
    ReplicaDropped reaches the store after the SplitApplied, the store does not end with no
    replica for a range it routes: it starts a new one, which loads the split's records (no
    campaign: the range already has its election under way elsewhere)."""
    s, made = store()
    s.on_receive(InboundRaft(2, [(RIGHT_ID, Message(MT.APP, to=1, from_=2, term=6))]))
    early = made[-1]
    assert early.args == (RIGHT_ID, 1, False) and isinstance(early.told[0], RaftMessages)
    left = RangeDescriptor(1, b"", b"m", REPLICAS, 1)
    right = RangeDescriptor(RIGHT_ID, b"m", None, REPLICAS, 1)
    s.on_receive(SplitApplied(left, right, False))
    assert early.told[-1] is INITIALIZE_FROM_SPLIT
    s.on_receive(ReplicaDropped(RIGHT_ID, early))  # it had dropped itself before that came
    assert early.stopped
    replica = s.replicas.get(RIGHT_ID)
    assert replica is not None and replica is not early, "no replica for a routed range"
    assert replica.args == (RIGHT_ID, 1, False)
    assert s.router.range_of(b"x") == RIGHT_ID and s.router.range_of(b"a") == 1
    assert s.inbound._routes.replicas.get(RIGHT_ID) is replica  # published


def test_an_uninitialized_replica_dropped_with_no_split_is_just_removed() -> None:
    """Proves: the ordinary case is unchanged: an uninitialized replica of a range this node
    does not route, once dropped, is removed and not replaced."""
    s, made = store()
    s.on_receive(InboundRaft(2, [(RIGHT_ID, Message(MT.APP, to=1, from_=2, term=6))]))
    early = made[-1]
    s.on_receive(ReplicaDropped(RIGHT_ID, early))
    assert RIGHT_ID not in s.replicas and len(made) == 2
