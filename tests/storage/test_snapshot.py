"""Range snapshots: a consistent stream of bounded chunks, installed atomically into one range."""

from __future__ import annotations

import msgpack
import pytest

from multiraft.raft.errors import SnapOutOfDateError
from multiraft.raft.types import ConfState, Entry, HardState
from multiraft.storage import (Command, KVStateMachine, RangeDescriptor, ReplicaStorage, SnapshotHeader,
                     SnapshotInstaller, SnapshotSource, SnapshotStreamError, bootstrap_range, keys)

DESC = RangeDescriptor(1, b"b", b"m", ((1, 1), (2, 2)), 3)
NEIGHBOUR = RangeDescriptor(2, b"m", None, ((1, 1),), 0)


def make_leader(engine, n_keys=300):
    """Range 1 with ``n_keys`` keys and a dedup record; range 2 with one key."""
    b = engine.batch()
    bootstrap_range(b, DESC, ConfState(voters=(1, 2)))
    bootstrap_range(b, NEIGHBOUR, ConfState(voters=(1,)))
    engine.write(b)
    sm = KVStateMachine(engine, 1)
    cmds = [Command.put(0, 0, b"k%04d" % i, b"v" * 100) for i in range(n_keys)]
    cmds.append(Command.put(9, 4, b"c", b"dedup"))
    b = engine.batch()
    sm.apply(b, [Entry(2, 2 + i, data=c.encode()) for i, c in enumerate(cmds)])
    other = KVStateMachine(engine, 2)
    other.apply(b, [Entry(1, 2, data=Command.put(0, 0, b"z", b"neighbour").encode())])
    engine.write(b)
    return sm


def user_data(engine, desc):
    return engine.scan(*desc.engine_span())


def test_stream_is_consistent_and_bounded(make_engine):
    leader = make_engine()
    sm = make_leader(leader)
    src = SnapshotSource(leader, 1, chunk_bytes=4096)
    b = leader.batch()  # writes after the snapshot is taken are not in it
    sm.apply(b, [Entry(2, sm.applied.index + 1, data=Command.put(0, 0, b"k9999", b"late").encode())])
    leader.write(b)
    header = SnapshotHeader.decode(src.header.encode())
    assert header.descriptor == DESC and header.applied.index == sm.applied.index - 1
    chunks = list(src.chunks())
    assert len(chunks) > 5 and all(len(c) < 4096 + 400 for c in chunks)

    follower = make_engine()
    b = follower.batch()
    bootstrap_range(b, NEIGHBOUR, ConfState(voters=(1,)))
    b.put(keys.user_key(b"z"), b"follower's")
    b.put(keys.user_key(b"stale"), b"gone after install")  # old data of range 1
    engine_log = ReplicaStorage(follower, 1)
    engine_log.append(b, [Entry(1, i) for i in range(1, 5)])
    follower.write(b)
    fsm = KVStateMachine(follower, 1)
    inst = SnapshotInstaller(follower, header)
    for c in chunks:
        inst.add_chunk(c)
    b = inst.finish(engine_log, fsm)
    engine_log.set_hard_state(b, HardState(2, 1, header.applied.index))
    assert ReplicaStorage(follower, 1).last_index() == 4  # nothing written yet
    follower.write(b, sync=True)

    expected = [(k, v) for k, v in user_data(leader, DESC) if k != keys.user_key(b"k9999")]
    assert user_data(follower, DESC) == expected
    assert follower.get(keys.user_key(b"z")) == b"follower's"  # other range untouched
    rs = ReplicaStorage(follower, 1)
    assert (rs.first_index(), rs.last_index()) == (header.applied.index + 1, header.applied.index)
    assert rs.snapshot().metadata == header.metadata()
    reloaded = KVStateMachine(follower, 1)
    assert reloaded.descriptor == DESC and reloaded.applied == header.applied
    assert reloaded.dedup_table() == fsm.dedup_table() == sm.dedup_table()
    # a retry of the command recorded before the snapshot is still deduplicated
    b = follower.batch()
    [r] = reloaded.apply(b, [Entry(2, header.applied.index + 1,
                                   data=Command.put(9, 4, b"c", b"again").encode())])
    follower.write(b)
    assert follower.get(keys.user_key(b"c")) == b"dedup"


def test_bad_chunks_are_refused(engine):
    make_leader(engine, n_keys=3)
    header = SnapshotSource(engine, 1).header
    inst = SnapshotInstaller(engine, header)
    for bad in (b"\xc1", msgpack.packb([1, [[b"zz", b"outside"]]]), msgpack.packb([7, []]),
                msgpack.packb([0, [[0, b"x"]]]), msgpack.packb([0, [[3, b"not a record"]]]),
                msgpack.packb([1, [[b"c"]]])):
        with pytest.raises(SnapshotStreamError):
            inst.add_chunk(bad)
    with pytest.raises(SnapshotStreamError):
        SnapshotHeader.decode(b"\x93\x02\xc0\xc0")
    with pytest.raises(SnapshotStreamError):
        SnapshotSource(engine, 77)


def test_old_snapshot_is_refused_and_changes_nothing(engine):
    sm = make_leader(engine, n_keys=3)
    src = SnapshotSource(engine, 1)
    chunks = list(src.chunks())
    rs = ReplicaStorage(engine, 1)
    b = engine.batch()
    rs.append(b, [Entry(2, i) for i in range(2, sm.applied.index + 3)])
    rs.truncate(b, sm.applied.index + 1)
    engine.write(b)
    inst = SnapshotInstaller(engine, src.header)
    for c in chunks:
        inst.add_chunk(c)
    with pytest.raises(SnapOutOfDateError):
        inst.finish(rs, sm)
    assert rs.first_index() == sm.applied.index + 2
