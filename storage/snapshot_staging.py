"""Where a received snapshot waits, off the Python heap, until it is installed.

A snapshot stream's pairs (engine key, value) are appended here chunk by chunk as they arrive,
so a follower never holds a whole range in memory; the install then reads them back one at a
time into bounded write batches (``storage.snapshot_install``). One ``StagedSnapshot`` per
stream, removed once the stream is refused, superseded or installed; whatever a crash leaves
behind is removed at node start, after the installs it belongs to are finished
(``recover_installs``).

Two implementations of one small interface: ``FileStaging`` (a node with a data dir: one file
per stream in ``<data_dir>/snapshots/``) and ``MemoryStaging`` (the in-memory engine of tests
and the simulator, which has nothing to survive a crash with anyway).

File format: records ``key_len:u32 value_len:u32 key value``, then a footer ``MAGIC
count:u64 crc32:u32`` over the records. ``seal`` writes the footer and fsyncs the file and its
directory: a sealed file is whole on disk, so an install-in-progress record may name it.
"""

from __future__ import annotations

import itertools
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import BinaryIO, Protocol

from .fsync import fsync_dir
from .errors import StorageCorruptionError

__all__ = ["StagedSnapshot", "SnapshotStaging", "FileStaging", "MemoryStaging"]

_RECORD = struct.Struct(">II")
_FOOTER = struct.Struct(">8sQI")
_MAGIC = b"MRSNAP01"
_SUFFIX = ".snap"
#: Buffer of a staging file: chunks arrive at ~256 KiB, installs read them back in order.
_BUFFER = 1 << 20
#: A staging file is fdatasync'ed whenever this much was appended since the last time, so the
#: fsync of ``seal`` (on the replica's thread) has little left to write, whatever the size of the
#: range; each sync on the way costs about what a data batch's write costs.
_SYNC_EVERY = 4 << 20


class StagedSnapshot(Protocol):
    """One stream's pairs. Invariant: ``append`` only before ``seal``, ``pairs`` only after."""

    @property
    def name(self) -> str:
        """What an install record names it by (``SnapshotStaging.open`` finds it again)."""
        ...

    def append(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        """Add pairs after those already staged."""
        ...

    def seal(self) -> None:
        """No more pairs: make what is staged durable (a crash after this keeps all of it)."""
        ...

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        """The staged pairs in order, read lazily. Raises ``StorageCorruptionError``, once read
        to its end, if what is staged is not whole (missing, truncated, damaged)."""
        ...

    def discard(self) -> None:
        """Remove it (idempotent)."""
        ...


class SnapshotStaging(Protocol):
    """The node's staging area, shared by all its replicas (any thread)."""

    def create(self, range_id: int) -> StagedSnapshot:
        """A new, empty staged snapshot for a stream of range ``range_id``."""
        ...

    def open(self, name: str) -> StagedSnapshot:
        """The sealed staged snapshot ``name``; ``StorageCorruptionError`` (here or once read)
        if there is none."""
        ...

    def clear(self) -> None:
        """Remove everything staged (at node start, once interrupted installs are finished)."""
        ...


class FileStaged:
    """One stream's staging file. Invariant: ``_out`` is open (and ``_count``, ``_crc`` cover
    what it was given) until ``seal``; after it the file ends with its footer."""

    __slots__ = ("path", "_out", "_count", "_crc", "_unsynced")

    def __init__(self, path: str, out: BinaryIO | None) -> None:
        self.path = path
        self._out = out
        self._count = 0
        self._crc = 0
        self._unsynced = 0  # bytes appended since the last fdatasync

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def append(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        out = self._out
        if out is None:
            raise RuntimeError(f"{self.path} is sealed")
        crc, pack, write, size = self._crc, _RECORD.pack, out.write, 0
        for k, v in pairs:
            rec = pack(len(k), len(v))
            crc = zlib.crc32(v, zlib.crc32(k, zlib.crc32(rec, crc)))
            write(rec)
            write(k)
            write(v)
            size += len(k) + len(v)
        self._crc = crc
        self._count += len(pairs)
        self._unsynced += size + len(pairs) * _RECORD.size
        if self._unsynced >= _SYNC_EVERY:
            out.flush()
            os.fdatasync(out.fileno())
            self._unsynced = 0

    def seal(self) -> None:
        out = self._out
        if out is None:
            return
        out.write(_FOOTER.pack(_MAGIC, self._count, self._crc))
        out.flush()
        os.fsync(out.fileno())
        out.close()
        self._out = None
        fsync_dir(os.path.dirname(self.path))

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        if self._out is not None:
            raise RuntimeError(f"{self.path} is not sealed")
        try:
            f = open(self.path, "rb", buffering=_BUFFER)
        except FileNotFoundError:
            raise StorageCorruptionError(f"staged snapshot {self.path} is missing") from None
        with f:
            end = os.fstat(f.fileno()).st_size - _FOOTER.size
            pos, count, crc, read = 0, 0, 0, f.read
            while pos < end:
                rec = read(_RECORD.size)
                if len(rec) < _RECORD.size:
                    break
                klen, vlen = _RECORD.unpack(rec)
                k, v = read(klen), read(vlen)
                pos += _RECORD.size + klen + vlen
                if len(k) != klen or len(v) != vlen or pos > end:
                    break
                crc = zlib.crc32(v, zlib.crc32(k, zlib.crc32(rec, crc)))
                count += 1
                yield k, v
            footer = read(_FOOTER.size) if pos == end else b""
        if len(footer) != _FOOTER.size or _FOOTER.unpack(footer) != (_MAGIC, count, crc):
            raise StorageCorruptionError(f"staged snapshot {self.path} is damaged or truncated "
                                         f"(read {count} pairs)")

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


class FileStaging:
    """Staging files in ``directory``, created on first use (so a data dir holds it only once a
    snapshot arrived). Invariant: every file this node staged is named
    ``<range id>-<n><_SUFFIX>`` with ``n`` unique since the last ``clear``."""

    __slots__ = ("directory", "_ids")

    def __init__(self, directory: str) -> None:
        self.directory = directory
        # next() on a count is atomic under the GIL: replicas on any thread may create.
        self._ids = itertools.count(1)

    def create(self, range_id: int) -> FileStaged:
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, exist_ok=True)
            fsync_dir(os.path.dirname(self.directory))  # the directory's own entry is durable
        path = os.path.join(self.directory, f"{range_id}-{next(self._ids)}{_SUFFIX}")
        # "x": never overwrite a file (one an install record may name): a clash is a bug, loudly.
        return FileStaged(path, open(path, "xb", buffering=_BUFFER))

    def open(self, name: str) -> FileStaged:
        if os.path.basename(name) != name or not name.endswith(_SUFFIX):
            raise StorageCorruptionError(f"not a staged snapshot's name: {name!r}")
        return FileStaged(os.path.join(self.directory, name), None)

    def clear(self) -> None:
        if not os.path.isdir(self.directory):
            return
        for name in os.listdir(self.directory):
            os.unlink(os.path.join(self.directory, name))
        fsync_dir(self.directory)


class MemoryStaged:
    """One stream's pairs in a list (tests and the simulator)."""

    __slots__ = ("name", "_pairs", "_sealed", "_staging")

    def __init__(self, name: str, staging: MemoryStaging) -> None:
        self.name = name
        self._pairs: list[tuple[bytes, bytes]] = []
        self._sealed = False
        self._staging = staging

    def append(self, pairs: Sequence[tuple[bytes, bytes]]) -> None:
        if self._sealed:
            raise RuntimeError(f"staged snapshot {self.name} is sealed")
        self._pairs.extend(pairs)

    def seal(self) -> None:
        self._sealed = True

    def pairs(self) -> Iterator[tuple[bytes, bytes]]:
        if not self._sealed:
            raise RuntimeError(f"staged snapshot {self.name} is not sealed")
        return iter(self._pairs)

    def discard(self) -> None:
        self._staging.staged.pop(self.name, None)


class MemoryStaging:
    """Staged snapshots kept in memory, by name, until discarded or cleared."""

    __slots__ = ("staged", "_ids")

    def __init__(self) -> None:
        self.staged: dict[str, MemoryStaged] = {}
        self._ids = itertools.count(1)  # atomic under the GIL, as FileStaging's

    def create(self, range_id: int) -> MemoryStaged:
        s = MemoryStaged(f"{range_id}-{next(self._ids)}", self)
        self.staged[s.name] = s
        return s

    def open(self, name: str) -> MemoryStaged:
        s = self.staged.get(name)
        if s is None:
            raise StorageCorruptionError(f"staged snapshot {name} is missing")
        return s

    def clear(self) -> None:
        self.staged.clear()
