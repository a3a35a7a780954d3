"""A replica id at or below a range's tombstone never comes back on this node (CockroachDB's
replica tombstone): the store creates a replica for a late message addressed to a replica this
node destroyed, and that replica must take no input. Above all it must not vote: its HardState
(its vote in the current term) was destroyed with it, so it could vote twice in one term."""

from __future__ import annotations

from multiraft.raft.types import Message, MessageType as MT
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.storage.replica_gc import destroy_replica, load_tombstone

from .harness import make_replica

RID = 5


def test_a_late_message_for_a_destroyed_replica_id_recreates_nothing() -> None:
    engine = MemoryEngine()
    batch = engine.batch()
    destroy_replica(batch, RID, 1, None)  # this node's replica 1 of the range was destroyed
    engine.write(batch)
    assert load_tombstone(engine, RID) == 2
    core, env = make_replica(range_id=RID, bootstrap=False, engine=engine)  # replica id 1 again
    assert core.dropped and core.removed
    assert env.destroyed == 1, "the owner is told at start to remove it"
    core.step_raft(3, [Message(MT.VOTE, to=1, from_=3, term=4, log_term=1, index=1)])
    env.flush()
    assert core.rn.raft.vote == 0 and core.rn.raft.term == 0
    assert core.svc.transport.sent == [], "no vote (or anything else) goes out"
