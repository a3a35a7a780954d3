"""Child process of test_snapshot_install's kill -9 test: a follower installs the leader's
snapshot until it is killed.

Usage: python snapshot_crash_child.py LEADER_DB FOLLOWER_DATA_DIR. It opens the follower's data
dir as a node does (recovering first), streams the leader's range 1 into the follower's
``ReplicaCore`` chunk by chunk, and writes the core's batches one at a time with the durability
each asks for, printing a line after every chunk and every write; ``done`` at the end.
"""

from __future__ import annotations

import sys

from multiraft.raft import Message, MessageType as MT
from multiraft.replica.snapshots import snapshot_chunks
from multiraft.storage import RocksEngine, WriteBatch
from multiraft.storage.data_dir import open_data_dir
from multiraft.storage.snapshot_install import recover_installs

from tests.replica.harness import FakeEnv, make_replica


class SyncedEnv(FakeEnv):
    """Writes each batch at once, synced if the core asks (as the storage writer does)."""

    def submit_write(self, batch: WriteBatch, sync: bool) -> None:
        self.engine.write(batch, sync=sync)
        print("write", flush=True)
        self.writes.append(batch)  # a marker: the core is told once this call returned


def main(leader_path: str, follower_path: str) -> None:
    leader = RocksEngine(leader_path)
    d = open_data_dir(follower_path, "c", 2)
    recover_installs(d.engine, d.staging)
    core, _ = make_replica(node_id=2, peers=(1, 3), bootstrap=False, engine=d.engine,
                           staging=d.staging)
    env = SyncedEnv(d.engine)
    env.core = core
    core.env = env
    print("ready", flush=True)
    for chunk in snapshot_chunks(leader, 1, Message(MT.SNAP, to=2, from_=1, term=5), 1):
        core.snapshot_chunk(1, chunk)
        print("chunk", flush=True)
    core.process_ready()
    while env.writes:
        env.writes.pop()
        core.write_done()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
