"""Errors raised by the raft core and its Storage contract."""

from __future__ import annotations

__all__ = ["RaftError", "ProposalDropped", "CompactedError", "UnavailableError",
           "SnapOutOfDateError", "SnapshotTemporarilyUnavailable", "StepLocalMsgError",
           "StepPeerNotFoundError"]


class RaftError(Exception):
    """Base of every raft error."""


class ProposalDropped(RaftError):
    """The proposal was not appended: no leader known, forwarding disabled, a leader transfer
    in progress, or the uncommitted-entries limit reached. Retry later."""


class CompactedError(RaftError):
    """The requested index is below the storage's first index: compacted away."""


class UnavailableError(RaftError):
    """The requested index is above the storage's last index: not there (yet)."""


class SnapOutOfDateError(RaftError):
    """A snapshot older than the one the storage already holds was offered."""


class SnapshotTemporarilyUnavailable(RaftError):
    """The storage cannot produce a snapshot right now; the leader retries later."""


class StepLocalMsgError(RaftError):
    """A local-only message (HUP, BEAT, ...) was given to ``RawNode.step``."""


class StepPeerNotFoundError(RaftError):
    """A response came from a node that is not in the configuration."""
