"""``LockedReplica``: the RFC's Replica: a mutex guards its ``ReplicaCore`` (the RawNode, the
descriptor, the pending commands). Whichever thread has an input (the transport's receive
thread, the process_raft thread) takes the lock and calls the core.

Lock order: a replica's lock, then the store's (the core's env calls reach the store while the
replica's lock is held); the store never takes a replica's lock while holding its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from multiraft.replica.core import ReplicaCore
from multiraft.replica.env import ReplicaServices
from multiraft.storage.engine import WriteBatch
from multiraft.storage.range_descriptor import RangeDescriptor

from .owned_lock import OwnedLock

if TYPE_CHECKING:
    from multiraft.store.group_commit import GroupCommit

    from .store import LockStore

__all__ = ["LockedReplica"]


class LockedReplica:
    """Invariant: ``core`` is only touched with ``mu`` held; ``write_durable`` is set (under
    ``mu``) when the round's write made the core's batch in flight durable, and cleared when the
    process_raft thread hands that to the core."""

    __slots__ = ("mu", "core", "store", "writer", "write_durable")

    def __init__(self, svc: ReplicaServices, store: LockStore, writer: GroupCommit[LockedReplica],
                 range_id: int, replica_id: int, campaign: bool = False) -> None:
        self.mu = OwnedLock()
        self.store = store
        self.writer = writer
        self.write_durable = False
        with self.mu:
            self.core = ReplicaCore(svc, self, range_id, replica_id, campaign)

    @property
    def range_id(self) -> int:
        return self.core.range_id

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(core, *args)`` under the lock, then let process_raft handle the Ready. An
        error escaping the core stops the node (its state may be half updated), as a crashed
        replica actor does; the caller sees it raised too."""
        try:
            with self.mu:
                result = fn(self.core, *args)
        except Exception as e:
            self.store.fatal(f"replica of range {self.core.range_id} crashed", e)
            raise
        self.store.has_work(self)
        return result

    def handle_ready(self) -> None:
        """On the process_raft thread: finish a durable write, then handle the Ready."""
        with self.mu:
            if self.write_durable:
                self.write_durable = False
                self.core.write_done()
            self.core.process_ready()

    def on_write_durable(self) -> None:
        """On the process_raft thread, at the end of its round (``GroupCommit``): the batch
        this replica submitted is durable."""
        with self.mu:
            self.write_durable = True
        self.store.has_work(self)

    # -- the core's env (called with mu held) --

    def submit_write(self, batch: WriteBatch, sync: bool) -> None:
        self.writer.submit(batch, sync, self)

    def awake(self) -> None:
        self.store.set_awake(self, True)

    def quiesced(self) -> None:
        self.store.set_awake(self, False)

    def descriptor_changed(self, descriptor: RangeDescriptor) -> None:
        self.store.set_descriptor(descriptor)

    def split_applied(self, left: RangeDescriptor, right: RangeDescriptor,
                      campaign: bool) -> None:
        self.store.split_applied(left, right, campaign)

    def replica_destroyed(self) -> None:
        self.store.replica_destroyed(self)

    def overlapping(self, descriptor: RangeDescriptor) -> int | None:
        return self.store.overlapping(descriptor)
