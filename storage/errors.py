"""Errors of the storage layer.

Two kinds reach callers: ``DataDirError`` when a data directory cannot be used (the node must not
start; the message names the directory and says why), and ``StorageCorruptionError`` when the
engine holds bytes that do not decode (a bug or a damaged disk: the store must stop).
A malformed *command* is not an exception at all: applying it yields an error ``Result``.
"""

from __future__ import annotations

__all__ = ["StorageError", "DataDirError", "StorageCorruptionError", "SnapshotStreamError"]


class StorageError(Exception):
    """Base of every storage error."""


class DataDirError(StorageError):
    """A data directory cannot be opened: another cluster or node, a newer format, corruption,
    or an ``IDENT`` whose engine was wiped (the node must rejoin as a new node)."""


class StorageCorruptionError(StorageError):
    """A persisted record does not decode, or the raft log has a hole."""


class SnapshotStreamError(StorageError):
    """A snapshot header or chunk is malformed or does not belong to the range being installed."""
