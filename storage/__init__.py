"""Storage: one engine per store holding every range's raft log and state plus the user data;
per-range raft ``Storage`` over it; the KV state machine; range snapshots; data directories.

Write path: the mutators of ``ReplicaStorage`` and ``KVStateMachine`` put operations into a
``WriteBatch`` (``engine.batch()``); the caller writes it with ``engine.write(batch, sync=...)``,
typically many ranges' operations in one write. A received snapshot is staged
(``snapshot_staging``) and installed as a run of bounded batches (``SnapshotInstall``).
"""

from .bootstrap import bootstrap_range
from .commands import Command, CommandError, Op, Result, Status, decode_command, decode_result
from .data_dir import DataDir, StoreIdent, open_data_dir
from .engine import Engine, Reader, ReadSnapshot, WriteBatch
from .errors import DataDirError, SnapshotStreamError, StorageCorruptionError, StorageError
from .memory_engine import MemoryEngine
from .range_descriptor import RangeDescriptor, load_descriptors
from .records import AppliedState, TruncatedState
from .replica_storage import ReplicaStorage
from .rocks_engine import RocksEngine
from .snapshot import SnapshotHeader, SnapshotSource
from .snapshot_install import SnapshotInstall, recover_installs
from .snapshot_staging import FileStaging, MemoryStaging, SnapshotStaging
from .sessions import DedupRecord, SessionLimits
from .state_machine import KVStateMachine

__all__ = [
    "bootstrap_range", "Command", "CommandError", "Op", "Result", "Status", "decode_command",
    "decode_result", "DataDir", "StoreIdent", "open_data_dir", "Engine", "Reader",
    "ReadSnapshot", "WriteBatch", "DataDirError", "SnapshotStreamError",
    "StorageCorruptionError", "StorageError", "MemoryEngine", "RangeDescriptor",
    "load_descriptors", "AppliedState", "TruncatedState", "ReplicaStorage", "RocksEngine",
    "SnapshotHeader", "SnapshotSource", "SnapshotInstall", "recover_installs", "FileStaging",
    "MemoryStaging", "SnapshotStaging", "DedupRecord", "SessionLimits", "KVStateMachine",
]
