"""Range snapshots as a stream: a header, then bounded chunks; installed in one atomic batch.

A snapshot of a range is its descriptor, its applied state (index, term, conf state), its dedup
table and every user key in its span, all read from one consistent engine view. The sender's
``SnapshotSource`` yields the encoded header and chunks; the receiver feeds them to a
``SnapshotInstaller``, whose batch replaces the range's data atomically when written.

The raft ``Snapshot`` message only names the snapshot; the stream carries its own metadata
(``SnapshotHeader.metadata()``), which may be newer than the message's if the leader applied
more in between. The receiver steps its RawNode with that metadata.

Wire forms (msgpack positional arrays): header ``[1, descriptor, applied_state]`` (each the
engine record's bytes); chunk ``[kind, [[k, v], ...]]`` with kind 0 = dedup records
(``k`` a client id, ``v`` the record bytes) and kind 1 = user data (``k`` a user key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgpack
from multiraft.raft.types import SnapshotMetadata

from . import keys
from .engine import Engine, WriteBatch
from .errors import SnapshotStreamError, StorageCorruptionError
from .range_descriptor import RangeDescriptor, decode_descriptor, encode_descriptor
from .records import AppliedState, decode_applied_state, encode_applied_state
from .replica_storage import ReplicaStorage
from .sessions import DedupRecord, decode_dedup_record
from .state_machine import KVStateMachine

__all__ = ["SnapshotHeader", "SnapshotSource", "SnapshotInstaller", "CHUNK_BYTES"]

#: Default bound of a chunk's payload (a chunk holds at least one pair, whatever its size).
CHUNK_BYTES = 256 << 10
_HEADER_VERSION = 1
_DEDUP, _DATA = 0, 1
#: Engine rows read per scan while producing chunks.
_READ_PAGE = 512


@dataclass(slots=True, frozen=True)
class SnapshotHeader:
    descriptor: RangeDescriptor
    applied: AppliedState

    @property
    def range_id(self) -> int:
        return self.descriptor.range_id

    def metadata(self) -> SnapshotMetadata:
        a = self.applied
        return SnapshotMetadata(a.conf_state, a.index, a.term)

    def encode(self) -> bytes:
        return msgpack.packb([_HEADER_VERSION, encode_descriptor(self.descriptor),
                              encode_applied_state(self.applied)])

    @classmethod
    def decode(cls, data: bytes) -> SnapshotHeader:
        try:
            version, desc, applied = msgpack.unpackb(data)
            if version != _HEADER_VERSION:
                raise ValueError(f"unknown snapshot header version {version!r}")
            return cls(decode_descriptor(desc), decode_applied_state(applied))
        except (StorageCorruptionError, ValueError, TypeError) as e:
            raise SnapshotStreamError(f"bad snapshot header: {e}") from None
        except Exception as e:  # msgpack raises several unrelated types on bad input
            raise SnapshotStreamError(f"bad snapshot header: {e!r}") from None


class SnapshotSource:
    """A consistent snapshot of one range, read lazily from an engine view.

    Invariant: ``_view`` is open until ``chunks()`` is exhausted or ``close()`` is called.
    """

    __slots__ = ("header", "_view", "_chunk_bytes")

    def __init__(self, engine: Engine, range_id: int, chunk_bytes: int = CHUNK_BYTES) -> None:
        """Raises ``SnapshotStreamError`` if the range is not initialized on this engine."""
        view = engine.snapshot()
        raw_desc, raw_applied = view.multi_get([keys.descriptor_key(range_id),
                                                keys.applied_state_key(range_id)])
        if raw_desc is None or raw_applied is None:
            view.close()
            raise SnapshotStreamError(f"range {range_id} has no state to snapshot")
        self.header = SnapshotHeader(decode_descriptor(raw_desc), decode_applied_state(raw_applied))
        self._view = view
        self._chunk_bytes = chunk_bytes

    def chunks(self) -> Iterator[bytes]:
        """The encoded chunks: the dedup table, then the user data in key order."""
        try:
            lo, hi = keys.dedup_span(self.header.range_id)
            yield from self._chunks(_DEDUP, lo, hi, keys.client_id_of_dedup_key)
            lo, hi = self.header.descriptor.engine_span()
            yield from self._chunks(_DATA, lo, hi, keys.user_key_of)
        finally:
            self.close()

    def close(self) -> None:
        self._view.close()

    def _chunks(self, kind: int, lo: bytes, hi: bytes,
                strip: Callable[[bytes], object]) -> Iterator[bytes]:
        pairs: list[list[object]] = []
        size = 0
        while True:
            page = self._view.scan(lo, hi, _READ_PAGE)
            for k, v in page:
                pairs.append([strip(k), v])
                size += len(k) + len(v)
                if size >= self._chunk_bytes:
                    yield msgpack.packb([kind, pairs])
                    pairs, size = [], 0
            if len(page) < _READ_PAGE:
                break
            lo = page[-1][0] + b"\x00"
        if pairs:
            yield msgpack.packb([kind, pairs])


class SnapshotInstaller:
    """Builds the batch that installs a received snapshot.

    Invariant: ``_batch`` already deletes the range's user span and dedup table and puts the
    header's descriptor and applied state; every accepted chunk's pairs follow.
    """

    __slots__ = ("header", "_batch", "_dedup")

    def __init__(self, engine: Engine, header: SnapshotHeader) -> None:
        self.header = header
        rid = header.range_id
        b = self._batch = engine.batch()
        b.delete_range(*header.descriptor.engine_span())
        b.delete_range(*keys.dedup_span(rid))
        b.put(keys.descriptor_key(rid), encode_descriptor(header.descriptor))
        b.put(keys.applied_state_key(rid), encode_applied_state(header.applied))
        self._dedup: dict[int, DedupRecord] = {}

    def add_chunk(self, data: bytes) -> None:
        """Validate a chunk and stage its pairs; raises ``SnapshotStreamError`` (then abandon the
        installer: nothing was written) if it is malformed or holds a key outside the range."""
        try:
            kind, pairs = msgpack.unpackb(data)
            staged = [(int(k) if kind == _DEDUP else k, v) for k, v in pairs]
        except Exception as e:  # msgpack raises several unrelated types on bad input
            raise SnapshotStreamError(f"bad snapshot chunk: {e!r}") from None
        rid, put, desc = self.header.range_id, self._batch.put, self.header.descriptor
        if kind == _DEDUP:
            for cid, v in staged:
                if not (0 < cid < 2**64 and type(v) is bytes):
                    raise SnapshotStreamError(f"bad dedup pair in snapshot of range {rid}")
                try:
                    self._dedup[cid] = decode_dedup_record(v)
                except StorageCorruptionError as e:
                    raise SnapshotStreamError(str(e)) from None
                put(keys.dedup_key(rid, cid), v)
        elif kind == _DATA:
            for k, v in staged:
                if type(k) is not bytes or type(v) is not bytes or not desc.contains(k):
                    raise SnapshotStreamError(f"snapshot of range {rid} holds a pair outside it")
                put(keys.user_key(k), v)
        else:
            raise SnapshotStreamError(f"unknown snapshot chunk kind {kind!r}")

    def finish(self, replica_storage: ReplicaStorage, state_machine: KVStateMachine) -> WriteBatch:
        """Add raft's side (log replaced by the snapshot) and return the batch for the caller to
        write, with ``sync``, next to the Ready's HardState. Updates both in-memory views.

        Raises ``SnapOutOfDateError`` (nothing changed) if the log is already past the snapshot.
        """
        rid = self.header.range_id
        if replica_storage.range_id != rid or state_machine.range_id != rid:
            raise ValueError(f"snapshot of range {rid} offered to another range")
        replica_storage.apply_snapshot(self._batch, self.header.metadata())
        state_machine.restore(self.header.descriptor, self.header.applied, self._dedup)
        return self._batch
