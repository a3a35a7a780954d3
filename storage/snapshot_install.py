"""Installing a staged snapshot in bounded batches, whole or not at all, even across a crash.

A range's snapshot can be far larger than what a node should hold in memory, so it is not
installed in one batch: ``SnapshotInstall.writes`` yields the install as a run of atomic
writes, for the caller to make durable one after the other, in order:

1. **begin** (synced, so the record is on disk before any of the range's data changes, whatever
   order the disk writes in; one fsync per install): the install record
   ``keys.installing_snapshot_key(rid)`` = (the staged snapshot's name, the snapshot's header),
   with the deletion of the range's user span and dedup table (the old pairs the snapshot does
   not overwrite);
2. **data**: the staged pairs, in batches of at most ``INSTALL_BATCH_BYTES`` (not synced: the
   final write's fsync covers them, and a crash before it redoes them anyway);
3. **final** (synced; built by ``final_batch``, to which the caller adds the HardState and log
   entries of its raft Ready): raft's side (the log replaced by the snapshot: truncated state),
   the descriptor, the applied state, and the deletion of the install record.

Invariants: the staged snapshot is sealed (fsynced) before the begin batch is written, and is
removed only once the final batch is durable; the applied state, truncated state and descriptor
of the snapshot are written in the final batch only, so the range never claims the snapshot's
applied index before all its data is in. While the record exists, the range's user data and
dedup table in the engine are part of the snapshot's, next to its old applied and raft state,
and nothing reads them: the replica serves no read before raft's ``advance``, which follows the
final write, and a restarting node finishes every recorded install (``recover_installs``)
before it creates any replica. Redoing is idempotent: the begin batch deletes whatever an
interrupted run wrote, and the data is written again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import msgpack
from multiraft.raft.types import HardState

from . import keys
from .engine import Engine, WriteBatch
from .errors import StorageCorruptionError
from .range_descriptor import encode_descriptor
from .records import encode_applied_state
from .replica_storage import ReplicaStorage
from .snapshot import SnapshotHeader
from .snapshot_staging import SnapshotStaging, StagedSnapshot

__all__ = ["SnapshotInstall", "InstallRecord", "recover_installs", "INSTALL_BATCH_BYTES"]

#: Bound of one data batch: its pairs' bytes, plus ``_OP_OVERHEAD`` per pair.
INSTALL_BATCH_BYTES = 4 << 20
#: Python memory a put costs in a recorded batch beyond its key and value bytes: the operation
#: tuple and two bytes objects (sys.getsizeof: 64 + 2 x 33). Counted so that the bound holds for
#: small pairs too.
_OP_OVERHEAD = 130
_RECORD_VERSION = 1


@dataclass(slots=True, frozen=True)
class InstallRecord:
    """What the install record of a range holds: enough to redo the install from scratch."""

    staged: str  # the staged snapshot's name (``SnapshotStaging.open``)
    header: SnapshotHeader

    def encode(self) -> bytes:
        return msgpack.packb([_RECORD_VERSION, self.staged, self.header.encode()])

    @classmethod
    def decode(cls, data: bytes) -> InstallRecord:
        try:
            version, staged, header = msgpack.unpackb(data)
            if version != _RECORD_VERSION or type(staged) is not str:
                raise ValueError(f"version {version!r}, staged {staged!r}")
            return cls(staged, SnapshotHeader.decode(header))
        except Exception as e:  # msgpack raises several unrelated types on bad input
            raise StorageCorruptionError(f"bad snapshot install record: {e!r}") from None


class SnapshotInstall:
    """The install of one staged snapshot of range ``header.range_id`` into ``engine``."""

    __slots__ = ("header", "staged", "_engine")

    def __init__(self, engine: Engine, header: SnapshotHeader, staged: StagedSnapshot) -> None:
        self.header = header
        self.staged = staged
        self._engine = engine

    def final_batch(self, storage: ReplicaStorage) -> WriteBatch:
        """The batch that completes the install (see the module docstring), for ``writes``.
        Moves ``storage``'s view to the snapshot, as ``ReplicaStorage.apply_snapshot`` does.

        Raises ``SnapOutOfDateError`` (nothing changed) if the log is already past the snapshot,
        and ValueError if ``storage`` is another range's.
        """
        h = self.header
        rid = h.range_id
        if storage.range_id != rid:
            raise ValueError(f"snapshot of range {rid} offered to range {storage.range_id}")
        b = self._engine.batch()
        storage.apply_snapshot(b, h.metadata())
        b.put(keys.descriptor_key(rid), encode_descriptor(h.descriptor))
        b.put(keys.applied_state_key(rid), encode_applied_state(h.applied))
        b.delete(keys.installing_snapshot_key(rid))
        return b

    def writes(self, final: WriteBatch) -> Iterator[tuple[WriteBatch, bool]]:
        """The install's writes, in order, as ``(batch, durable)``: begin, data, then ``final``.
        Each batch is read from the staged snapshot only when the previous one was taken, so at
        most one data batch is in memory. The staged snapshot must be sealed."""
        rid = self.header.range_id
        begin = self._engine.batch()
        begin.put(keys.installing_snapshot_key(rid),
                  InstallRecord(self.staged.name, self.header).encode())
        begin.delete_range(*self.header.descriptor.engine_span())
        begin.delete_range(*keys.dedup_span(rid))
        yield begin, True
        batch, size = self._engine.batch(), 0
        for k, v in self.staged.pairs():
            batch.put(k, v)
            size += len(k) + len(v) + _OP_OVERHEAD
            if size >= INSTALL_BATCH_BYTES:
                yield batch, False
                batch, size = self._engine.batch(), 0
        if len(batch):
            yield batch, False
        yield final, True


def recover_installs(engine: Engine, staging: SnapshotStaging) -> list[int]:
    """Finish every snapshot install a crash interrupted, then remove everything staged (what is
    left belongs to no install); the ranges whose install was redone. Run at node start, before
    any replica is created.

    A recovered range gets the snapshot's state and, as raft needs next to a snapshot, a
    HardState whose commit is at least the snapshot's index (its term and vote are kept: the
    HardState of the interrupted Ready was never written, and nothing that depended on it was
    sent). Raises ``StorageCorruptionError`` if a record or its staged snapshot is damaged or
    missing: the node must not start on a range it cannot complete.
    """
    done = []
    for key, raw in engine.scan(*keys.installing_snapshot_span()):
        record = InstallRecord.decode(raw)
        rid = keys.range_id_of_installing_key(key)
        if record.header.range_id != rid:
            raise StorageCorruptionError(f"the install record of range {rid} holds a snapshot "
                                         f"of range {record.header.range_id}")
        install = SnapshotInstall(engine, record.header, staging.open(record.staged))
        storage = ReplicaStorage(engine, rid)
        final = install.final_batch(storage)
        hs = storage.hard_state
        storage.set_hard_state(final, HardState(hs.term, hs.vote,
                                                max(hs.commit, record.header.applied.index)))
        for batch, durable in install.writes(final):
            engine.write(batch, sync=durable)
        done.append(rid)
    staging.clear()
    return done
