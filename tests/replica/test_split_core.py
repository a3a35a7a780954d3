"""``ReplicaCore`` alone, splitting (issue 13): what a replica answers between applying a split
and that split's batch being durable (the harness holds every write until the test flushes)."""

from __future__ import annotations

from multiraft.raft import StateType
from multiraft.raft.types import Message, MessageType as MT
from multiraft.storage.commands import Command, Result, Status
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus

from .harness import FakeEnv, Reply, get, make_replica, put


def apply_split_not_durable(env: FakeEnv, key: bytes) -> Reply:
    """Propose a split at ``key`` on the (one-replica, leading) core and run its writes until
    the split is applied in memory, its batch handed to the writer and not yet durable."""
    core = env.core
    assert core is not None
    reply = Reply()
    core.client(ClientRequest(1, ClientOp.SPLIT, (key,), 77, 1), reply)
    for _ in range(10):
        d = core.sm.descriptor
        if d is not None and d.end_key == key:
            assert env.writes and reply.status is None  # applied, not durable, not answered
            return reply
        if not env.writes:
            core.process_ready()
            continue
        env.engine.write(env.writes.pop(0))
        core.write_done()
    raise AssertionError("the split did not apply")


def test_key_mismatch_before_the_split_is_durable_names_the_new_range() -> None:
    """Proves: a request for a key the split moved, arriving after the split applied on the
    leader but before its batch is durable, is answered RANGE_KEY_MISMATCH with descriptors
    that place the key: the left range narrowed and the new right-hand range (a descriptor
    that still contained the key, the range's pre-split one, would send a client's cache
    back to this range: a loop). Once durable, the split's own answer names the same two."""
    core, env = make_replica(peers=())
    assert core.rn.raft.state == StateType.LEADER
    assert put(core, b"x", b"1", seq=1).status is None
    env.flush()
    split = apply_split_not_durable(env, b"m")
    early = get(core, b"x")
    assert early.status is ClientStatus.RANGE_KEY_MISMATCH
    spans = {rid: (start, end, gen) for rid, start, end, gen in early.result}
    holders = [rid for rid, (start, end, _) in spans.items()
               if start <= b"x" and (not end or b"x" < end)]
    assert holders and core.range_id not in holders, spans
    assert spans[core.range_id][1] == b"m"
    env.flush()
    assert split.status is ClientStatus.OK
    left, right = split.result
    assert spans[left[0]] == tuple(left[1:]) and spans[right[0]] == tuple(right[1:])


def test_dropping_an_uninitialized_replica_keeps_what_a_split_wrote_for_it() -> None:
    """Proves: a replica of a split's right-hand range created on first contact (uninitialized,
    never voted) and dropped once its ttl passes, just after the local left replica's split
    wrote the new range's records, deletes only its own raft state: the split's records
    (descriptor, truncated and applied state, sessions) stay, so the replica the store
    creates next for that range is initialized from them, not left waiting for a snapshot.
    (The drop's delete is written after the split's batch: the two replicas run apart.)"""
    left, env = make_replica(peers=())
    assert put(left, b"x", b"1", seq=1).status is None
    env.flush()
    rid = left.svc.range_ids.allocate() + 1  # the id the split will allocate next
    early, early_env = make_replica(range_id=rid, bootstrap=False, engine=env.engine)
    early.step_raft(1, [Message(MT.HEARTBEAT, to=1, from_=2, term=7)])  # its leader, not a vote
    early_env.flush()
    split = apply_split_not_durable(env, b"m")
    env.flush()  # the split's batch is written ...
    assert split.status is ClientStatus.OK and split.result[1][0] == rid
    assert early.drop_if_uninitialized() is True
    early_env.flush()  # ... then the drop's
    again, _ = make_replica(range_id=rid, bootstrap=False, engine=env.engine)
    d = again.sm.descriptor
    assert d is not None and (d.start_key, d.end_key) == (b"m", None), d
    assert again.sm.read(Command.get(0, 0, b"x")) == Result(Status.OK, b"1")
