"""Issue 12, defect 1 (last part): a received snapshot is staged on disk, never held whole in
memory, and installed in bounded batches that survive a crash at any point.

A follower's ``ReplicaCore`` on a RocksDB data dir takes a leader's stream chunk by chunk
(``snapshot_chunk``), the way the transport hands it over; its writes wait in the harness's
``FakeEnv`` until the test makes them durable, so a "crash" is the test closing the engine
between two writes and opening the data dir again as a restarting node does
(``open_data_dir`` + ``recover_installs``).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import msgpack
import pytest

from multiraft.raft import Message, MessageType as MT
from multiraft.raft.types import Entry
from multiraft.replica.snapshots import snapshot_chunks
from multiraft.storage import Command, KVStateMachine, ReplicaStorage, RocksEngine, keys
from multiraft.storage.data_dir import DataDir, open_data_dir
from multiraft.storage.engine import Engine
from multiraft.storage.layout import bootstrap_node
from multiraft.storage.snapshot_install import recover_installs
from multiraft.storage.write_batch import PUT, RecordedBatch
from multiraft.transport.codec import SnapshotChunk

from .harness import FakeEnv, make_replica

ROOT = Path(__file__).resolve().parents[2]
RID = 1
LEADER_TERM = 5
#: dedup records the leader's range holds (written by applied client commands)
CLIENTS = 20


def make_leader(path: Path, data_bytes: int, value_bytes: int = 1024) -> RocksEngine:
    """The leader's engine: range 1 (the whole key space, on nodes 1-3) holding about
    ``data_bytes`` of user data and ``CLIENTS`` dedup records, applied up to past its log start."""
    e = RocksEngine(str(path))
    bootstrap_node(e, 1, [2, 3], 1)
    value = b"v" * value_bytes
    n = data_bytes // value_bytes
    for lo in range(0, n, 4096):
        b = e.batch()
        for i in range(lo, min(n, lo + 4096)):
            b.put(keys.user_key(b"k%08d" % i), value)
        e.write(b)
    sm = KVStateMachine(e, RID)
    b = e.batch()
    cmds = [Command.put(100 + i, 1, b"c%03d" % i, b"x") for i in range(CLIENTS)]
    sm.apply(b, [Entry(LEADER_TERM, 2 + i, data=c.encode()) for i, c in enumerate(cmds)])
    e.write(b, sync=True)
    return e


def range_digest(e: Engine) -> str:
    """The range's user data and dedup records (as opaque bytes)."""
    h = hashlib.sha256()
    for span in (keys.user_span(b"", None), keys.dedup_span(RID)):
        for k, v in e.scan(*span):
            h.update(len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v)
    return h.hexdigest()


def open_follower(path: Path, old_keys: int = 50) -> DataDir:
    """Node 2's data dir: range 1 bootstrapped, with ``old_keys`` keys the snapshot replaces."""
    d = open_data_dir(str(path), "c", 2)
    if bootstrap_node(d.engine, 2, [1, 3], 1):
        raise AssertionError("node 2 does not lead range 1 first")
    b = d.engine.batch()
    for i in range(old_keys):
        b.put(keys.user_key(b"old%04d" % i), b"stale")
    d.engine.write(b, sync=True)
    return d


def stream_to(core, leader: Engine) -> None:
    """The leader's whole stream into the follower's core, one chunk at a time."""
    m = Message(MT.SNAP, to=2, from_=1, term=LEADER_TERM)
    for chunk in snapshot_chunks(leader, RID, m, stream_id=1):
        core.snapshot_chunk(1, chunk)


def write_some(env: FakeEnv, n: int) -> None:
    """Make the core's next ``n`` writes durable, one at a time, as the storage writer would."""
    assert env.core is not None
    for _ in range(n):
        if not env.writes:
            env.core.process_ready()
        batch = env.writes.pop(0)
        env.engine.write(batch, sync=True)
        env.core.write_done()


def staged_files(d: DataDir) -> list[str]:
    return sorted(os.listdir(os.path.join(d.path, "snapshots")))


def test_a_large_snapshot_is_installed_in_bounded_memory(tmp_path: Path) -> None:
    """32 MiB of range data: the follower's peak Python memory while receiving, staging and
    installing it stays far below the range's size, and it ends with exactly the leader's data."""
    size = 32 << 20
    leader = make_leader(tmp_path / "leader", size)
    d = open_follower(tmp_path / "n2")
    try:
        core, env = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                                 staging=d.staging)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            stream_to(core, leader)
            env.flush(rounds=100)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        print(f"peak Python memory over baseline while installing {size >> 20} MiB: "
              f"{peak / (1 << 20):.1f} MiB")
        assert peak < 8 << 20, f"peak {peak / (1 << 20):.1f} MiB for a {size >> 20} MiB range"
        assert core.snapshots_installed == 1
        assert range_digest(d.engine) == range_digest(leader)
        assert core.sm.applied.index == KVStateMachine(leader, RID).applied.index
        assert core.sm.dedup_table() == KVStateMachine(leader, RID).dedup_table()
        acks = core.svc.transport.acks
        assert [(a.stream_id, a.accepted) for _, a in acks] == [(1, True)]
        assert staged_files(d) == []
    finally:
        d.close()
        leader.close()


def _crash_and_restart(d: DataDir, path: Path) -> DataDir:
    """Drop everything in memory, reopen the data dir and recover, as a restarting node does."""
    d.close()
    d = open_data_dir(str(path), "c", 2)
    recover_installs(d.engine, d.staging)
    return d


@pytest.mark.parametrize("durable_writes", [1, 2, 4, "all but the final"])
def test_a_crash_midway_is_completed_on_restart(tmp_path: Path, durable_writes) -> None:
    """A crash after the applying record (write 1) and some data batches: on restart the install
    is redone from the staged file before any replica runs, and the range holds exactly the
    leader's data, applied state and raft state of the snapshot."""
    leader = make_leader(tmp_path / "leader", 12 << 20)
    want = range_digest(leader)
    applied = KVStateMachine(leader, RID).applied
    d = open_follower(tmp_path / "n2")
    try:
        core, env = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                                 staging=d.staging)
        stream_to(core, leader)
        core.process_ready()
        assert len(staged_files(d)) == 1
        if durable_writes == "all but the final":
            while not _next_is_final(env):
                write_some(env, 1)
        else:
            write_some(env, durable_writes)
            assert not _next_is_final(env), "the test needs more data batches"
            assert range_digest(d.engine) != want  # midway: not all of the leader's data yet
        assert KVStateMachine(d.engine, RID).applied.index < applied.index, \
            "the range claims the snapshot's applied index before its data is in"
        d = _crash_and_restart(d, tmp_path / "n2")
        assert range_digest(d.engine) == want
        sm, rs = KVStateMachine(d.engine, RID), ReplicaStorage(d.engine, RID)
        assert sm.applied == applied
        assert (rs.first_index(), rs.last_index()) == (applied.index + 1, applied.index)
        assert rs.hard_state.commit == applied.index
        assert staged_files(d) == []
        # The replica starts on it: raft accepts the recovered state, the dedup table is back.
        again, _ = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                                staging=d.staging)
        assert again.rn.raft.raft_log.committed == applied.index
        assert again.sm.dedup_table() == KVStateMachine(leader, RID).dedup_table()
    finally:
        d.close()
        leader.close()


def _next_is_final(env: FakeEnv) -> bool:
    """Whether the write waiting in ``env`` completes the install (it writes the applied state)."""
    [batch] = env.writes
    assert isinstance(batch, RecordedBatch)
    return any(kind == PUT and k == keys.applied_state_key(RID) for kind, k, _ in batch.ops)


def test_a_crash_before_the_applying_record_leaves_the_old_state(tmp_path: Path) -> None:
    """The stream was staged, and the node crashed before the install's first write: the old
    range is intact on restart and the staged file is gone."""
    leader = make_leader(tmp_path / "leader", 2 << 20)
    d = open_follower(tmp_path / "n2")
    try:
        old = range_digest(d.engine)
        old_applied = KVStateMachine(d.engine, RID).applied
        core, env = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                                 staging=d.staging)
        stream_to(core, leader)
        core.process_ready()
        assert len(env.writes) == 1 and len(staged_files(d)) == 1
        d = _crash_and_restart(d, tmp_path / "n2")
        assert range_digest(d.engine) == old
        assert KVStateMachine(d.engine, RID).applied == old_applied
        assert staged_files(d) == []
    finally:
        d.close()
        leader.close()


def test_a_crash_after_the_final_batch_keeps_the_install(tmp_path: Path) -> None:
    """Every write durable but the staged file not yet removed: the restart keeps the install
    and removes the file."""
    leader = make_leader(tmp_path / "leader", 2 << 20)
    d = open_follower(tmp_path / "n2")
    try:
        core, env = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                                 staging=d.staging)
        stream_to(core, leader)
        core.process_ready()
        while not _next_is_final(env):
            write_some(env, 1)
        env.engine.write(env.writes.pop(0), sync=True)  # durable, and no write_done: crash
        assert len(staged_files(d)) == 1
        d = _crash_and_restart(d, tmp_path / "n2")
        assert range_digest(d.engine) == range_digest(leader)
        assert staged_files(d) == []
    finally:
        d.close()
        leader.close()


def test_kill_9_at_any_moment_leaves_the_old_range_or_the_leaders(tmp_path: Path) -> None:
    """A child process installs a snapshot and is SIGKILLed after a random number of its steps
    (chunks staged, batches written): whenever it dies, the reopened node holds either the old
    range, with its old applied index, or exactly the leader's, with the snapshot's, and no
    staged file is left. Both outcomes occur."""
    leader = make_leader(tmp_path / "leader", 6 << 20)
    want, applied = range_digest(leader), KVStateMachine(leader, RID).applied
    leader.close()
    template = open_follower(tmp_path / "template")
    old, old_applied = range_digest(template.engine), KVStateMachine(template.engine, RID).applied
    template.close()

    def run(kill_after: int | None) -> tuple[int, str]:
        """(steps the child printed, which range the restarted node holds)."""
        work = tmp_path / "n2"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(tmp_path / "template", work)
        child = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("snapshot_crash_child.py")),
             str(tmp_path / "leader"), str(work)], stdout=subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        steps = 0
        for line in child.stdout:
            if line == b"done\n":
                break
            steps += 1
            if steps == kill_after:
                child.send_signal(signal.SIGKILL)
                break
        child.stdout.close()
        child.wait()
        d = _crash_and_restart(open_data_dir(str(work), "c", 2), work)
        try:
            got, got_applied = range_digest(d.engine), KVStateMachine(d.engine, RID).applied
            assert (got, got_applied) in ((old, old_applied), (want, applied)), \
                f"killed after step {kill_after}: a range that is neither the old nor the leader's"
            if got == want:
                rs = ReplicaStorage(d.engine, RID)
                assert rs.first_index() == applied.index + 1
                assert rs.hard_state.commit == applied.index
            assert not os.path.exists(os.path.join(d.path, "snapshots")) or staged_files(d) == []
        finally:
            d.close()
        return steps, "leader's" if got == want else "old"

    total, outcome = run(None)
    assert outcome == "leader's" and total > 20
    # Every step of the install's writes (the last few), and some while chunks are staged.
    writes = 2 + (6 << 20) // (4 << 20)  # begin, data batches, final: at least
    kill_points = sorted({*random.Random(0x5AAB).sample(range(1, total - writes), 5),
                          *range(total - writes, total + 1)})
    results = [(k, run(k)[1]) for k in kill_points]
    print(f"{total} steps; killed after: {results}")
    outcomes = {o for _, o in results}
    assert outcomes == {"old", "leader's"}


def test_a_refused_or_replaced_stream_leaves_no_file(tmp_path: Path) -> None:
    """A stream replaced midway by a newer one, and a stream refused for a key outside the range:
    their staged files are removed at once; the newer stream installs and its file goes too."""
    leader = make_leader(tmp_path / "leader", 1 << 20)
    d = open_follower(tmp_path / "n2")
    try:
        core, env = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                                 staging=d.staging)
        m = Message(MT.SNAP, to=2, from_=1, term=LEADER_TERM)
        first = list(snapshot_chunks(leader, RID, m, stream_id=1))
        for c in first[:3]:
            core.snapshot_chunk(1, c)
        [first_file] = staged_files(d)
        second = list(snapshot_chunks(leader, RID, m, stream_id=2))
        core.snapshot_chunk(1, second[0])  # a newer stream: the first is dropped
        [second_file] = staged_files(d)
        assert second_file != first_file
        bad = second[1]
        core.snapshot_chunk(1, SnapshotChunk(bad.range_id, bad.from_replica, bad.to_replica,
                                             bad.term, bad.metadata, bad.index, bad.last,
                                             msgpack.packb([7, []]), bad.stream_id))
        assert staged_files(d) == []
        assert [(a.stream_id, a.accepted) for _, a in core.svc.transport.acks] == \
            [(1, False), (2, False)]
        third = snapshot_chunks(leader, RID, m, stream_id=3)
        for c in third:
            core.snapshot_chunk(1, c)
        env.flush(rounds=100)
        assert range_digest(d.engine) == range_digest(leader) and staged_files(d) == []
    finally:
        d.close()
        leader.close()


def test_a_second_stream_completing_before_the_install_starts(tmp_path: Path) -> None:
    """The leader resent its snapshot (a new stream) and the resend completed after raft took
    the first but before the replica's Ready installed it: the first is installed, the resend
    (stale for raft) is answered and its file removed."""
    leader = make_leader(tmp_path / "leader", 1 << 20)
    d = open_follower(tmp_path / "n2")
    try:
        core, env = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                                 staging=d.staging)
        m = Message(MT.SNAP, to=2, from_=1, term=LEADER_TERM)
        for stream_id in (1, 2):
            for c in snapshot_chunks(leader, RID, m, stream_id=stream_id):
                core.snapshot_chunk(1, c)
        assert len(staged_files(d)) == 1  # the resend's is gone: raft did not take it
        env.flush(rounds=100)
        assert range_digest(d.engine) == range_digest(leader) and staged_files(d) == []
        assert sorted((a.stream_id, a.accepted) for _, a in core.svc.transport.acks) == \
            [(1, True), (2, True)]
    finally:
        d.close()
        leader.close()
