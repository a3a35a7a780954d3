"""Issue 12, defect 8 (c): the replica ids in a raft message are checked against the node the
transport says sent it (authenticated by CURVE when it is on). A message claiming replica R of a
range, arriving from a node that the range's descriptor does not put R on, is dropped and
counted, never stepped; the same for heartbeats (and their responses) and snapshot chunks.

An uninitialized replica (no descriptor yet) has nothing to check against: it steps what it
gets, as before, and the check applies from the moment it learns a descriptor."""

from __future__ import annotations

from multiraft.raft.types import Message, MessageType as MT, SnapshotMetadata
from multiraft.transport.codec import Heartbeat, SnapshotChunk

from .harness import make_replica

FORGED_TERM = 50


def mismatches(core) -> int:  # type: ignore[no-untyped-def]
    return core.svc.counters.as_dict()["raft_sender_mismatches"]


def test_a_message_from_a_replica_on_another_node_is_dropped_and_counted() -> None:
    core, env = make_replica()  # range 1 on nodes 1, 2, 3; replica id = node id
    assert core.rn.raft.term == 1
    forged = Message(MT.APP, to=1, from_=2, term=FORGED_TERM, log_term=1, index=1, commit=1)
    core.step_raft(3, [forged])  # node 3 claims to be replica 2
    env.flush()
    assert core.rn.raft.term == 1, "the forged message was stepped"
    assert mismatches(core) == 1
    assert not core.svc.transport.sent  # nothing answered to the forger either
    core.step_raft(3, [Message(MT.VOTE, to=1, from_=9, term=FORGED_TERM)])  # no replica 9
    env.flush()
    assert core.rn.raft.term == 1 and core.rn.raft.vote == 0
    assert mismatches(core) == 2
    # The genuine sender's message is stepped.
    core.step_raft(2, [forged])
    env.flush()
    assert core.rn.raft.term == FORGED_TERM and core.rn.raft.lead == 2
    assert mismatches(core) == 2
    assert core.nodes == {1: 1, 2: 2, 3: 3}, "the forger's claims were learned"


def test_only_the_forged_messages_of_a_batch_are_dropped() -> None:
    core, env = make_replica()
    good = Message(MT.HEARTBEAT, to=1, from_=2, term=3, commit=1)
    bad = Message(MT.APP, to=1, from_=3, term=FORGED_TERM)
    core.step_raft(2, [bad, good])
    env.flush()
    assert (core.rn.raft.term, core.rn.raft.lead) == (3, 2)
    assert mismatches(core) == 1


def test_forged_heartbeats_and_responses_are_dropped_and_counted() -> None:
    core, env = make_replica()
    core.heartbeat(3, Heartbeat(1, 2, 1, FORGED_TERM, 1), False)
    core.heartbeat(3, Heartbeat(1, 2, 1, FORGED_TERM, 0), True)
    env.flush()
    assert core.rn.raft.term == 1
    assert mismatches(core) == 2
    core.heartbeat(2, Heartbeat(1, 2, 1, FORGED_TERM, 1), False)
    env.flush()
    assert core.rn.raft.term == FORGED_TERM


def test_a_forged_snapshot_chunk_is_dropped_and_counted() -> None:
    core, env = make_replica()
    chunk = SnapshotChunk(1, 2, 1, FORGED_TERM, SnapshotMetadata(index=100, term=FORGED_TERM),
                          0, False, b"not even a header")
    core.snapshot_chunk(3, chunk)
    assert mismatches(core) == 1
    assert not core._snapshot_in.busy()


def test_an_uninitialized_replica_steps_what_it_gets_until_it_has_a_descriptor() -> None:
    core, env = make_replica(range_id=5, bootstrap=False)
    assert core.sm.descriptor is None
    core.step_raft(3, [Message(MT.APP, to=1, from_=2, term=4, log_term=1, index=1)])
    env.flush()
    assert core.rn.raft.term == 4  # nothing to check against yet
    assert mismatches(core) == 0
