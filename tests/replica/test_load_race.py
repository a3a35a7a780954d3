"""A replica loads its state from one consistent view of the engine.

Found by tests/cluster/test_splits.py (actors, 1 run in 6 under load): the store created a
replica for a split's right-hand range on first contact (its leader's vote request) while the
writer was committing the split's batch on this node; ``ReplicaStorage`` read the raft state
before the batch landed and ``KVStateMachine`` read the applied state after it, so raft was
built with applied index 10 over an empty log and asserted, killing the node."""

from __future__ import annotations

from typing import Any

from multiraft.raft.types import ConfState
from multiraft.replica.core import ReplicaCore
from multiraft.replica.env import ReplicaServices
from multiraft.replica.snapshot_sender import SnapshotSender
from multiraft.storage import MemoryEngine, MemoryStaging, RangeDescriptor
from multiraft.storage.records import AppliedState
from multiraft.storage.split import right_range_records

from .harness import FakeEnv, FakeHeartbeats, FakeTransport


class CommitsMidLoad(MemoryEngine):
    """Writes ``batch`` into itself right after the first read: the writer thread committing
    while a replica is being built."""

    def __init__(self) -> None:
        super().__init__()
        self.batch_to_land: Any = None

    def multi_get(self, keys: Any) -> Any:
        out = super().multi_get(keys)
        if self.batch_to_land is not None:
            b, self.batch_to_land = self.batch_to_land, None
            self.write(b)
        return out


def test_a_replica_built_while_its_split_lands_is_consistent() -> None:
    """Proves: a replica of a right-hand range built while the split's records are being
    written sees either none of them (uninitialized) or all of them, never a mix."""
    engine = CommitsMidLoad()
    right = RangeDescriptor(7, b"m", None, ((1, 1), (2, 2), (3, 3)), 1)
    b = engine.batch()
    for k, v in right_range_records(right, AppliedState(50, 6, ConfState(voters=(1, 2, 3))), {}):
        b.put(k, v)
    engine.batch_to_land = b
    transport = FakeTransport()
    svc = ReplicaServices(1, engine, transport, FakeHeartbeats(), SnapshotSender(transport, node_id=1),
                          MemoryStaging())
    core = ReplicaCore(svc, FakeEnv(engine), 7, 1)
    st = core.status()
    if core.sm.descriptor is None:
        assert st["applied"] == 0 and core.storage.first_index() == 1
    else:
        assert st["applied"] == 10 and core.storage.first_index() == 11
