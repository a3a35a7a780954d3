"""Client sessions in the state machine (issue 12, defect 2; the Raft thesis, section 6.3).

A session is registered, refreshed and expired by the log alone: by the entries applied and the
leader time each write carries, so every replica keeps the same table. A retry is never run a
second time: an applied seq answers from its record, and a retry that finds its session gone is
refused (``SESSION_EXPIRED``), not re-executed."""

from __future__ import annotations

from multiraft.raft.types import ConfState, Entry
from multiraft.storage import Command, KVStateMachine, MemoryEngine, RangeDescriptor, Status, bootstrap_range, keys

RID = 1
DESC = RangeDescriptor(RID, b"", None, ((1, 1),), 0)


def setup(engine: MemoryEngine) -> KVStateMachine:
    b = engine.batch()
    bootstrap_range(b, DESC, ConfState(voters=(1,)))
    engine.write(b)
    return KVStateMachine(engine, RID)


def apply(engine: MemoryEngine, sm: KVStateMachine, *cmds: Command) -> list:
    first = sm.applied.index + 1
    ents = [Entry(2, first + i, data=c.encode()) for i, c in enumerate(cmds)]
    b = engine.batch()
    results = sm.apply(b, ents)
    engine.write(b, sync=True)
    return results


def test_a_retry_after_many_other_clients_is_not_run_again() -> None:
    """Proves: client 1's CAS, retried after 5,000 other clients wrote to the range (a thread
    pool churning sessions), answers its first result and does not run again (today's table
    evicted client 1 after 1,000 others: the retry re-ran, "not swapped")."""
    engine = MemoryEngine()
    sm = setup(engine)
    assert apply(engine, sm, Command.cas(1, 1, b"k", None, b"v1"))[0].status == Status.OK
    apply(engine, sm, *[Command.put(cid, 1, b"o%d" % cid, b"x") for cid in range(2, 5002)])
    retry = apply(engine, sm, Command.cas(1, 1, b"k", None, b"v1"))[0]
    assert retry.status == Status.OK
    assert engine.get(keys.user_key(b"k")) == b"v1"
