"""Range snapshots as a stream: a header, then bounded chunks.

A snapshot of a range is its descriptor, its applied state (index, term, conf state), its dedup
table and every user key in its span, all read from one consistent engine view. The sender's
``SnapshotSource`` yields the encoded header and chunks; the receiver checks each chunk
(``chunk_pairs``) and stages its pairs (``snapshot_staging``) until the stream is whole, then
installs them (``snapshot_install``).

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
from .engine import Engine
from .errors import SnapshotStreamError, StorageCorruptionError
from .range_descriptor import RangeDescriptor, decode_descriptor, encode_descriptor
from .records import AppliedState, decode_applied_state, encode_applied_state

__all__ = ["SnapshotHeader", "SnapshotSource", "chunk_pairs", "CHUNK_BYTES"]

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


def chunk_pairs(descriptor: RangeDescriptor, data: bytes) -> list[tuple[bytes, bytes]]:
    """The engine pairs (key, value) a chunk of range ``descriptor``'s snapshot stages.

    Raises ``SnapshotStreamError`` if the chunk is malformed, or names a client id out of range,
    or holds a user key outside the descriptor's span: such a stream is refused. Dedup records
    are staged as the opaque bytes they are (the state machine reads them once installed).
    """
    try:
        kind, pairs = msgpack.unpackb(data)
        staged = [(k, v) for k, v in pairs]
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise SnapshotStreamError(f"bad snapshot chunk: {e!r}") from None
    rid = descriptor.range_id
    out: list[tuple[bytes, bytes]] = []
    if kind == _DEDUP:
        for cid, v in staged:
            if not (type(cid) is int and 0 < cid < 2**64 and type(v) is bytes):
                raise SnapshotStreamError(f"bad dedup pair in snapshot of range {rid}")
            out.append((keys.dedup_key(rid, cid), v))
    elif kind == _DATA:
        for k, v in staged:
            if type(k) is not bytes or type(v) is not bytes or not descriptor.contains(k):
                raise SnapshotStreamError(f"snapshot of range {rid} holds a pair outside it")
            out.append((keys.user_key(k), v))
    else:
        raise SnapshotStreamError(f"unknown snapshot chunk kind {kind!r}")
    return out
