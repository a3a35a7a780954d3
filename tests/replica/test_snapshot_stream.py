"""Issue 12, defect 1: a snapshot stream is installed whole or not at all.

The leader's chunks pass through a lossy, reordering, duplicating channel on their way to the
follower's ``SnapshotReceiver``; whatever the channel did, the follower hands raft a snapshot
only if it received the leader's whole stream, and then the range it installs holds exactly the
leader's data (compared by checksum).
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from multiraft.raft import ConfState, Message, MessageType as MT
from multiraft.replica.snapshots import SnapshotReceiver, snapshot_chunks
from multiraft.storage import MemoryEngine, MemoryStaging, RangeDescriptor, SnapshotInstall
from multiraft.storage import keys
from multiraft.storage.bootstrap import bootstrap_range
from multiraft.storage.records import AppliedState, encode_applied_state
from multiraft.storage.replica_storage import ReplicaStorage
from multiraft.transport.codec import SnapshotChunk

RID = 1
DESC = RangeDescriptor(RID, b"", None, ((1, 1), (2, 2)), 0)


def leader_engine(n_keys: int = 2_000) -> MemoryEngine:
    e = MemoryEngine()
    b = e.batch()
    bootstrap_range(b, DESC, ConfState(voters=(1, 2)))
    for i in range(n_keys):
        b.put(keys.user_key(b"k%05d" % i), b"v" * 300)  # ~600 KiB: a few chunks
    # The leader applied up to 50: its snapshot is newer than a fresh follower's state.
    b.put(keys.applied_state_key(RID),
          encode_applied_state(AppliedState(50, 5, ConfState(voters=(1, 2)))))
    e.write(b)
    return e


def data_digest(e: MemoryEngine) -> str:
    h = hashlib.sha256()
    for k, v in e.scan(*DESC.engine_span()):
        h.update(k + b"=" + v + b";")
    return h.hexdigest()


def stream(e: MemoryEngine, stream_id: int, term: int = 5) -> list[SnapshotChunk]:
    m = Message(MT.SNAP, to=2, from_=1, term=term)
    return list(snapshot_chunks(e, RID, m, stream_id))


def deliver(chunks: list[SnapshotChunk]) -> tuple[MemoryEngine, bool]:
    """Feed ``chunks`` to a fresh follower; install if a snapshot comes out. (engine, installed)"""
    f = MemoryEngine()
    b = f.batch()
    bootstrap_range(b, DESC, ConfState(voters=(1, 2)))
    f.write(b)
    staging = MemoryStaging()
    rx = SnapshotReceiver(RID, staging)
    installed = False
    for c in chunks:
        out = rx.add(c, from_node=1)
        done = out.completed
        if done is not None:
            install = SnapshotInstall(f, done.header, done.staged)
            for batch, durable in install.writes(install.final_batch(ReplicaStorage(f, RID))):
                f.write(batch, sync=durable)
            done.staged.discard()
            installed = True
    live = set() if rx.stream is None else {rx.stream.staged.name}  # a stream still arriving
    assert set(staging.staged) <= live, "a stream's staged pairs outlived it"
    return f, installed


def test_the_whole_stream_installs_the_leaders_data() -> None:
    e = leader_engine()
    chunks = stream(e, 7)
    assert len(chunks) >= 4, "the test needs several data chunks"
    f, installed = deliver(chunks)
    assert installed and data_digest(f) == data_digest(e)


@pytest.mark.parametrize("fault", ["drop", "reorder", "swap_stream", "wrong_term", "truncate_last"])
def test_a_damaged_stream_never_installs_part_of_a_range(fault: str) -> None:
    e = leader_engine()
    chunks = stream(e, 7)
    mid = len(chunks) // 2
    if fault == "drop":
        del chunks[mid]
    elif fault == "reorder":
        chunks[mid], chunks[mid + 1] = chunks[mid + 1], chunks[mid]
    elif fault == "swap_stream":  # a chunk of another stream (same term, same sender) slips in
        chunks[mid] = stream(leader_engine(1_999), 8)[mid]
    elif fault == "wrong_term":
        c = chunks[mid]
        chunks[mid] = SnapshotChunk(c.range_id, c.from_replica, c.to_replica, c.term + 1,
                                    c.metadata, c.index, c.last, c.data, c.stream_id)
    elif fault == "truncate_last":
        c = chunks[-2]
        chunks[-2] = SnapshotChunk(c.range_id, c.from_replica, c.to_replica, c.term,
                                   c.metadata, c.index, c.last, c.data[:-10], c.stream_id)
    f, installed = deliver(chunks)
    assert not installed, f"{fault}: a damaged stream was installed"
    assert f.scan(*DESC.engine_span()) == [], "nothing of the range was written"


def test_duplicated_chunks_are_harmless() -> None:
    e = leader_engine()
    chunks = stream(e, 7)
    doubled = [c for c in chunks for _ in (0, 1)]
    f, installed = deliver(doubled)
    assert installed and data_digest(f) == data_digest(e)


def test_random_channel_never_installs_a_partial_range() -> None:
    """A seeded channel that drops, duplicates and reorders: every install is the whole range."""
    e = leader_engine(800)
    want = data_digest(e)
    rng = random.Random(12)
    installs = 0
    for trial in range(60):
        out: list[SnapshotChunk] = []
        for c in stream(e, 100 + trial):
            r = rng.random()
            if r < 0.05:
                continue                      # dropped
            out.append(c)
            if r > 0.95:
                out.append(c)                 # duplicated
        if rng.random() < 0.3 and len(out) > 3:
            i = rng.randrange(1, len(out) - 1)
            out[i], out[i + 1] = out[i + 1], out[i]  # reordered
        f, installed = deliver(out)
        if installed:
            installs += 1
            assert data_digest(f) == want, f"trial {trial}: partial install"
    assert installs > 0


def test_a_newer_stream_replaces_an_older_one_midway() -> None:
    """The leader restarted a stream (a new id): the follower drops the old one and installs
    the new one alone, with the new stream's metadata."""
    old_e = leader_engine(1_500)
    new_e = leader_engine(2_000)
    old, new = stream(old_e, 1), stream(new_e, 2)
    f, installed = deliver(old[:len(old) // 2] + new)
    assert installed and data_digest(f) == data_digest(new_e)


def test_the_receiver_answers_each_stream(monkeypatch: Any) -> None:
    """A completed stream is acknowledged, a damaged one refused: the leader reports the
    snapshot from that answer, not from having queued the chunks."""
    e = leader_engine()
    f = MemoryEngine()
    b = f.batch()
    bootstrap_range(b, DESC, ConfState(voters=(1, 2)))
    f.write(b)
    rx = SnapshotReceiver(RID, MemoryStaging())
    chunks = stream(e, 9)
    assert len(chunks) >= 4
    outs = [rx.add(c, from_node=1) for c in chunks[:2] + chunks[3:]]
    refused = [o for o in outs if o.refused is not None]
    assert len(refused) == 1 and refused[0].refused == 9
    assert all(o.snapshot is None for o in outs)
    outs = [rx.add(c, from_node=1) for c in stream(e, 10)]
    assert outs[-1].snapshot is not None and outs[-1].stream_id == 10
