"""Range snapshots: a consistent stream of bounded chunks, staged, then installed into one range
(in bounded batches: ``snapshot_install``)."""

from __future__ import annotations

import msgpack
import pytest

from multiraft.raft.errors import SnapOutOfDateError
from multiraft.raft.types import ConfState, Entry, HardState
from multiraft.storage import (Command, FileStaging, KVStateMachine, MemoryEngine, MemoryStaging,
                               RangeDescriptor, ReplicaStorage, SnapshotHeader, SnapshotInstall,
                               SnapshotSource, SnapshotStreamError, bootstrap_range, keys)
from multiraft.storage.snapshot import chunk_pairs

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


def staging_for(engine, tmp_path):
    """The staging area a node with this engine has."""
    if isinstance(engine, MemoryEngine):
        return MemoryStaging()
    return FileStaging(str(tmp_path / "snap"))


def stage(staging, header, chunks):
    staged = staging.create(header.range_id)
    for c in chunks:
        staged.append(chunk_pairs(header.descriptor, c))
    staged.seal()
    return staged


def test_stream_is_consistent_and_bounded(make_engine, tmp_path):
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
    staged = stage(staging_for(follower, tmp_path), header, chunks)
    inst = SnapshotInstall(follower, header, staged)
    final = inst.final_batch(engine_log)
    engine_log.set_hard_state(final, HardState(2, 1, header.applied.index))
    assert ReplicaStorage(follower, 1).last_index() == 4  # nothing written yet
    writes = inst.writes(final)
    for b, durable in writes:
        # Until the final batch, the range claims none of the snapshot's state.
        assert KVStateMachine(follower, 1).applied.index == 0
        assert ReplicaStorage(follower, 1).last_index() == 4
        follower.write(b, sync=durable)

    expected = [(k, v) for k, v in user_data(leader, DESC) if k != keys.user_key(b"k9999")]
    assert user_data(follower, DESC) == expected
    assert follower.get(keys.user_key(b"z")) == b"follower's"  # other range untouched
    rs = ReplicaStorage(follower, 1)
    assert (rs.first_index(), rs.last_index()) == (header.applied.index + 1, header.applied.index)
    assert rs.snapshot().metadata == header.metadata()
    reloaded = KVStateMachine(follower, 1)
    assert reloaded.descriptor == DESC and reloaded.applied == header.applied
    assert follower.scan(*keys.installing_snapshot_span()) == []  # the install record is gone
    assert reloaded.dedup_table() == sm.dedup_table()
    # a retry of the command recorded before the snapshot is still deduplicated
    b = follower.batch()
    [r] = reloaded.apply(b, [Entry(2, header.applied.index + 1,
                                   data=Command.put(9, 4, b"c", b"again").encode())])
    follower.write(b)
    assert follower.get(keys.user_key(b"c")) == b"dedup"


def test_bad_chunks_are_refused(engine):
    make_leader(engine, n_keys=3)
    header = SnapshotSource(engine, 1).header
    # Dedup records travel as opaque bytes (the state machine reads them once installed); their
    # client ids and the user keys are checked.
    for bad in (b"\xc1", msgpack.packb([1, [[b"zz", b"outside"]]]), msgpack.packb([7, []]),
                msgpack.packb([0, [[0, b"x"]]]), msgpack.packb([0, [[3, 5]]]),
                msgpack.packb([0, [[b"3", b"x"]]]), msgpack.packb([1, [[b"c"]]])):
        with pytest.raises(SnapshotStreamError):
            chunk_pairs(header.descriptor, bad)
    assert chunk_pairs(header.descriptor, msgpack.packb([0, [[3, b"opaque"]]])) == \
        [(keys.dedup_key(1, 3), b"opaque")]
    with pytest.raises(SnapshotStreamError):
        SnapshotHeader.decode(b"\x93\x02\xc0\xc0")
    with pytest.raises(SnapshotStreamError):
        SnapshotSource(engine, 77)


def test_old_snapshot_is_refused_and_changes_nothing(engine, tmp_path):
    sm = make_leader(engine, n_keys=3)
    src = SnapshotSource(engine, 1)
    chunks = list(src.chunks())
    rs = ReplicaStorage(engine, 1)
    b = engine.batch()
    rs.append(b, [Entry(2, i) for i in range(2, sm.applied.index + 3)])
    rs.truncate(b, sm.applied.index + 1)
    engine.write(b)
    staged = stage(staging_for(engine, tmp_path), src.header, chunks)
    inst = SnapshotInstall(engine, src.header, staged)
    with pytest.raises(SnapOutOfDateError):
        inst.final_batch(rs)
    assert rs.first_index() == sm.applied.index + 2
