"""``SimDisk``: one simulated node's disk, which keeps what was fsynced apart from what was
only written, so a crash loses exactly the unsynced writes (all of them, or all but a prefix).

The node writes through a ``SimEngine`` (a ``MemoryEngine``: reads see every write at once).
Each write is also kept, in order, as unsynced until a write with ``sync`` makes it and all
before it durable (an fsync of the write-ahead log). A crash loses every unsynced write half
the time (the page cache is gone), and otherwise keeps a random prefix of them, as a WAL torn
at any point would; the restarted node opens an engine holding only what survived. An fsync
takes ``fsync_cost`` virtual seconds (``busy_until``), and may fail (``fail_syncs``: the
probability), which the node must treat as fatal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from multiraft.storage.engine import WriteBatch
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.storage.snapshot_staging import MemoryStaging
from multiraft.storage.write_batch import Op, take_ops

from .world import World

if TYPE_CHECKING:
    from multiraft.store.config import NodeConfig

__all__ = ["SimDisk", "SimEngine", "SyncFailed"]


class SyncFailed(OSError):
    """A simulated fsync failed (EIO): what reached the disk is unknown."""


class SimEngine(MemoryEngine):
    """The engine of one incarnation of a node: writes go to its disk too."""

    __slots__ = ("_disk",)

    def __init__(self, disk: SimDisk) -> None:
        super().__init__()
        self._disk = disk

    def write_many(self, batches: Sequence[WriteBatch], sync: bool = False) -> None:
        if self._closed:
            raise RuntimeError("engine is closed")
        disk = self._disk
        if sync and disk.world.rng.random() < disk.fail_syncs:
            disk.failed_syncs += 1
            raise SyncFailed("simulated fsync failure")
        ops = take_ops(batches)
        self.apply_written(ops)
        disk.written(ops, sync)


class SimDisk:
    """Invariant: the state a restart opens is ``_durable`` with a prefix of ``_unsynced``
    applied; ``_durable`` holds exactly the writes up to the last fsync."""

    __slots__ = ("world", "fsync_cost", "fail_syncs", "failed_syncs", "syncs", "busy_until",
                 "staging", "lost_writes", "_durable", "_unsynced", "_engine")

    def __init__(self, world: World, fsync_cost: float = 2e-3, fail_syncs: float = 0.0) -> None:
        self.world = world
        self.fsync_cost = fsync_cost
        self.fail_syncs = fail_syncs
        self.failed_syncs = 0
        self.syncs = 0
        #: until when the disk is busy with the last fsync (virtual seconds)
        self.busy_until = 0.0
        #: the snapshot staging area (a directory fsynced as it is sealed: kept across crashes)
        self.staging = MemoryStaging()
        #: unsynced writes crashes discarded, in all
        self.lost_writes = 0
        self._durable = MemoryEngine()
        self._unsynced: list[list[list[Op]]] = []
        self._engine: SimEngine | None = None

    def open(self, config: NodeConfig) -> tuple[SimEngine, MemoryStaging]:  # noqa: ARG002
        """The node's storage at start (``NodeEnvironment.storage``): what the disk holds."""
        engine = SimEngine(self)
        self._durable.copy_into(engine)
        self._engine = engine
        return engine, self.staging

    def written(self, ops: list[list[Op]], sync: bool) -> None:
        """The node's engine wrote ``ops`` (and synced the log if ``sync``)."""
        self._unsynced.append(ops)
        if sync:
            for done in self._unsynced:
                self._durable.apply_written(done)
            self._unsynced.clear()
            self.syncs += 1
            self.busy_until = max(self.busy_until, self.world.now) + self.fsync_cost

    def crash(self) -> None:
        """Power loss: none of the unsynced writes reached the disk, or a random prefix of
        them; the engine of the incarnation that crashed takes no more writes."""
        unsynced = self._unsynced
        rng = self.world.rng
        # Half the time the page cache is lost whole; else the WAL got some way to the disk.
        keep = 0 if rng.random() < 0.5 else rng.randrange(len(unsynced) + 1)
        for done in unsynced[:keep]:
            self._durable.apply_written(done)
        self.lost_writes += len(unsynced) - keep
        unsynced.clear()
        if self._engine is not None:
            self._engine.close()
            self._engine = None
        self.busy_until = self.world.now
