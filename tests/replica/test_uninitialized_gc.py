"""Issue 12, defect 7 (c), the replica's side: an uninitialized replica (created on first contact,
never given its range's snapshot) can be dropped with its raft state, and a dropped replica
takes no more input. A replica that ever voted keeps its HardState on disk: dropping it would
let a recreated replica vote a second time in a term it already voted in."""

from __future__ import annotations

from multiraft.raft.types import Message, MessageType as MT
from multiraft.storage import keys
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.storage.records import AppliedState
from multiraft.storage.snapshot import SnapshotHeader
from multiraft.transport.client_protocol import ClientStatus
from multiraft.transport.codec import SnapshotChunk

from .harness import get, make_replica

RID = 5


def range_records(engine: MemoryEngine, rid: int = RID) -> list[bytes]:
    return [k for k, _ in engine.scan(keys.range_prefix(rid), keys.range_prefix(rid + 1))]


def test_one_that_never_voted_is_dropped_with_its_raft_state() -> None:
    engine = MemoryEngine()
    core, env = make_replica(range_id=RID, bootstrap=False, engine=engine)
    core.step_raft(3, [Message(MT.APP, to=1, from_=3, term=4, log_term=1, index=1)])
    env.flush()
    assert keys.hard_state_key(RID) in range_records(engine)  # it follows term 4
    assert core.drop_if_uninitialized() is True
    env.flush()
    assert range_records(engine) == []
    # Dropped: it steps nothing more and writes nothing more.
    sent = len(core.svc.transport.sent)
    core.step_raft(3, [Message(MT.APP, to=1, from_=3, term=9, log_term=1, index=1)])
    core.tick()
    env.flush()
    assert core.rn.raft.term == 4 and range_records(engine) == []
    assert len(core.svc.transport.sent) == sent
    assert get(core, b"k").status is ClientStatus.RANGE_NOT_FOUND


def test_one_that_voted_is_dropped_but_its_hard_state_stays() -> None:
    engine = MemoryEngine()
    core, env = make_replica(range_id=RID, bootstrap=False, engine=engine)
    core.step_raft(3, [Message(MT.VOTE, to=1, from_=3, term=4, log_term=1, index=1)])
    env.flush()
    assert core.rn.raft.vote == 3
    assert core.drop_if_uninitialized() is True
    env.flush()
    assert range_records(engine) == [keys.hard_state_key(RID)]
    again, env2 = make_replica(range_id=RID, bootstrap=False, engine=engine)
    assert (again.rn.raft.term, again.rn.raft.vote) == (4, 3), "the vote is remembered"
    # ...and so is the fact that it voted: dropped again, it still keeps the HardState.
    assert again.drop_if_uninitialized() is True
    env2.flush()
    assert range_records(engine) == [keys.hard_state_key(RID)]


def test_an_initialized_replica_is_never_dropped() -> None:
    core, env = make_replica()
    assert core.drop_if_uninitialized() is False
    assert core.sm.descriptor is not None


def test_not_while_a_snapshot_is_arriving() -> None:
    core, env = make_replica(range_id=RID, bootstrap=False)
    header = SnapshotHeader(RangeDescriptor(RID, b"", None, ((1, 1), (2, 2), (3, 3))),
                            AppliedState(10, 3))
    md = header.metadata()
    core.snapshot_chunk(3, SnapshotChunk(RID, 3, 1, 3, md, 0, False, header.encode()))
    assert core.drop_if_uninitialized() is False
