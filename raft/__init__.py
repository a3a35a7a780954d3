"""The raft consensus core: a pure, deterministic RawNode (no threads, no I/O, no clock).

Modelled on etcd-io/raft. The public names below are a contract (see shared/DESIGN.md).
"""

from .config import Config, ReadOnlyOption
from .progress import Progress, ProgressState
from .rawnode import RawNode, Ready, Status
from .errors import (CompactedError, ProposalDropped, RaftError, SnapOutOfDateError,
                     UnavailableError)
from .storage import MemoryStorage, Storage
from .types import (ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType,
                    ConfChangeV2, ConfState, Entry, EntryType, HardState, Message, MessageType,
                    ReadState, Snapshot, SnapshotMetadata, SoftState, StateType)

__all__ = [
    "Config", "ReadOnlyOption", "CompactedError", "ProposalDropped", "RaftError",
    "SnapOutOfDateError", "UnavailableError", "MemoryStorage", "Storage", "ConfChange",
    "ConfChangeSingle", "ConfChangeTransition", "ConfChangeType", "ConfChangeV2", "ConfState",
    "Entry", "EntryType", "HardState", "Message", "MessageType", "ReadState", "Snapshot",
    "SnapshotMetadata", "SoftState", "StateType", "RawNode", "Ready", "Status", "Progress",
    "ProgressState",
]
