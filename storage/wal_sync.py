"""Making RocksDB's write-ahead log durable without holding the GIL.

rocksdict holds the GIL for the whole of a ``sync=True`` write, fsync included: while one
batch is fsynced (milliseconds), no other thread of the node runs (measured with py-spy
``--gil``: 29.5% of a loaded node's GIL time was the writer's fsync). So the engine writes
without sync, which returns once RocksDB has handed the record to the OS (its WAL writer
flushes after every record unless ``manual_wal_flush``, which we never set), then
``WalSyncer.sync`` fdatasyncs the WAL files itself through ``os.fdatasync``, which releases the
GIL. This is what RocksDB's own sync does (``fdatasync`` of each live WAL); the directory is
fsynced too whenever the set of WAL files changed, so a new log file's entry is durable.
"""

from __future__ import annotations

import os

__all__ = ["WalSyncer"]


class WalSyncer:
    """fdatasyncs the ``*.log`` files (RocksDB WALs) of one database directory.

    Invariant: ``_fds`` maps the WAL file names seen at the last sync to open read-only fds.
    """

    __slots__ = ("path", "_fds")

    def __init__(self, path: str) -> None:
        self.path = path
        self._fds: dict[str, int] = {}

    def sync(self) -> None:
        names = {e.name for e in os.scandir(self.path) if e.name.endswith(".log")}
        changed = names != self._fds.keys()
        for gone in self._fds.keys() - names:
            os.close(self._fds.pop(gone))  # obsolete: its data is in fsynced table files
        for name in names:
            fd = self._fds.get(name)
            if fd is None:
                try:
                    fd = self._fds[name] = os.open(os.path.join(self.path, name), os.O_RDONLY)
                except FileNotFoundError:
                    continue  # deleted meanwhile: obsolete as above
            os.fdatasync(fd)
        if changed:
            dfd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
