"""Client sessions in the state machine (issue 12, defect 2; the Raft thesis, section 6.3).

A session is registered, refreshed and expired by the log alone: by the entries applied and the
leader time each write carries, so every replica keeps the same table. A retry is never run a
second time: an applied seq answers from its record, and a retry that finds its session gone is
refused (``SESSION_EXPIRED``), not re-executed."""

from __future__ import annotations

from multiraft.raft.types import ConfState, Entry
from multiraft.storage import (Command, KVStateMachine, MemoryEngine, RangeDescriptor, SessionLimits, Status,
                              bootstrap_range, keys)
from multiraft.storage.commands import Op

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


LIMITS = SessionLimits(ttl_ms=1_000, max_sessions=3)


def put(cid: int, seq: int, t: int, register: bool = True, key: bytes = b"k") -> Command:
    return Command(Op.PUT, cid, seq, (key, b"%d-%d" % (cid, seq)), t, register)


def limited(engine: MemoryEngine) -> KVStateMachine:
    setup(engine)
    return KVStateMachine(engine, RID, LIMITS)


def test_an_idle_session_expires_by_log_time_and_its_retry_is_refused_not_run() -> None:
    """Proves: a session idle for longer than the ttl, by the time the entries carry, is gone;
    a retry (register off) of its last write is answered SESSION_EXPIRED and changes nothing; a
    write allowed to register opens a new session."""
    engine = MemoryEngine()
    sm = limited(engine)
    assert apply(engine, sm, put(1, 1, 10_000))[0].status == Status.OK
    assert apply(engine, sm, put(2, 1, 10_500, key=b"o"))[0].status == Status.OK
    assert 1 in sm.dedup_table()  # 500 ms idle: kept
    apply(engine, sm, put(2, 2, 11_001, key=b"o"))  # client 1 now idle 1,001 ms
    assert 1 not in sm.dedup_table() and 2 in sm.dedup_table()
    retry = apply(engine, sm, put(1, 1, 11_002, register=False, key=b"k2"))[0]
    assert retry.status == Status.SESSION_EXPIRED
    assert engine.get(keys.user_key(b"k2")) is None
    assert apply(engine, sm, put(1, 5, 11_003, key=b"k2"))[0].status == Status.OK


def test_the_clock_never_goes_back() -> None:
    """Proves: a write stamped by a leader whose clock is behind does not revive or extend
    time: the range's clock is the largest time applied, so expiry still happens on schedule."""
    engine = MemoryEngine()
    sm = limited(engine)
    apply(engine, sm, put(1, 1, 50_000))
    apply(engine, sm, put(2, 1, 5_000, key=b"o"))  # a lagging clock
    assert sm.sessions.clock == 50_000
    assert sm.dedup_table()[2].time_ms == 50_000
    apply(engine, sm, put(3, 1, 51_001, key=b"p"))
    assert set(sm.dedup_table()) == {3}


def test_sessions_are_bounded_with_a_clear_refusal() -> None:
    """Proves: past max_sessions a write that would open a session is refused SESSIONS_FULL and
    not run; writes of open sessions go on; once sessions expire, new ones open."""
    engine = MemoryEngine()
    sm = limited(engine)
    apply(engine, sm, put(1, 1, 1_000), put(2, 1, 1_000), put(3, 1, 1_000))
    full = apply(engine, sm, put(4, 1, 1_100, key=b"new"))[0]
    assert full.status == Status.SESSIONS_FULL and "max_sessions" in full.value
    assert engine.get(keys.user_key(b"new")) is None
    assert apply(engine, sm, put(2, 2, 1_200))[0].status == Status.OK
    assert apply(engine, sm, put(4, 1, 2_001, key=b"new"))[0].status == Status.OK  # 1, 3 expired
    assert set(sm.dedup_table()) == {2, 4}


def test_sessions_are_persisted_and_identical_whatever_the_batches() -> None:
    """Proves: two replicas applying the same entries in different batches (one reloading from
    the engine between batches) end with the same sessions on disk and in memory, clock
    included: expiry depends on the log alone."""
    cmds = [put(cid % 5 + 1, cid // 5 + 1, 1_000 + 150 * cid, register=cid % 7 != 3)
            for cid in range(40)]
    a_engine, b_engine = MemoryEngine(), MemoryEngine()
    a = limited(a_engine)
    results_a = apply(a_engine, a, *cmds)
    b = limited(b_engine)
    results_b = []
    for i in range(0, len(cmds), 3):
        results_b += apply(b_engine, b, *cmds[i:i + 3])
        b = KVStateMachine(b_engine, RID, LIMITS)
    assert results_a == results_b
    assert a.dedup_table() == b.dedup_table() and a.sessions.clock == b.sessions.clock
    assert list(a_engine.scan(*keys.dedup_span(RID))) == list(b_engine.scan(*keys.dedup_span(RID)))


def test_a_split_retried_after_it_applied_answers_its_result_from_either_half() -> None:
    """Proves: a split records its own session before the sessions are copied to the right
    range, so its retry (same command id) answers the split's result from the left range or
    from the right one (where the key now starts the range) instead of refusing."""
    engine = MemoryEngine()
    sm = setup(engine)
    split = Command(Op.SPLIT, 9, 1, (b"m", 42, 0), 1_000, True)
    first = apply(engine, sm, split)[0]
    assert first.status == Status.OK
    assert apply(engine, sm, split)[0] == first
    right = KVStateMachine(engine, 42)
    assert right.descriptor is not None and right.descriptor.start_key == b"m"
    rec = right.sessions.get(9)
    assert rec is not None and rec.seq == 1 and rec.result.status == Status.OK
    assert [tuple(d) for d in rec.result.value] == list(first.value)  # (stored as msgpack)
