"""The engine interface: one ordered, durable byte key-value store per node.

Everything a store persists (every range's raft log, HardState, truncated and applied state,
descriptor, dedup records, and the user data) lives in one engine, so one atomic write
(``write_many``) can carry the batches of many ranges and pay one fsync (group commit).
``RocksEngine`` is the durable default; ``MemoryEngine`` serves tests and the simulator. Both pass
the same tests.

Keys and values are ``bytes``; keys compare bytewise. Ranges of keys are half-open ``[start, end)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["Reader", "ReadSnapshot", "WriteBatch", "Engine"]


class Reader(Protocol):
    """Point and range reads; an ``Engine`` reads its latest state, a ``ReadSnapshot`` a frozen one."""

    def get(self, key: bytes) -> bytes | None:
        """The value of ``key``, or None."""
        ...

    def multi_get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """The values of ``keys``, in order (None where absent)."""
        ...

    def scan(self, start: bytes, end: bytes, limit: int | None = None,
             reverse: bool = False) -> list[tuple[bytes, bytes]]:
        """Pairs with ``start <= key < end`` in key order (descending if ``reverse``), at most
        ``limit`` of them (``None``: no limit)."""
        ...


class ReadSnapshot(Reader, Protocol):
    """A consistent view of the engine as of its creation; writes made later are not seen."""

    def close(self) -> None:
        """Release the view (it pins engine resources); reads after close are an error."""
        ...


class WriteBatch(Protocol):
    """Operations applied atomically, in order, by ``Engine.write``: all of them or none.

    A batch is written at most once. Later operations override earlier ones on the same key,
    so a ``delete_range`` followed by puts inside it leaves exactly those puts.
    """

    def put(self, key: bytes, value: bytes) -> None: ...

    def delete(self, key: bytes) -> None: ...

    def delete_range(self, start: bytes, end: bytes) -> None:
        """Delete every key in ``[start, end)``."""
        ...

    def __len__(self) -> int:
        """The number of operations in the batch."""
        ...


class Engine(Reader, Protocol):
    def batch(self) -> WriteBatch:
        """A new empty batch for this engine."""
        ...

    def write(self, batch: WriteBatch, sync: bool = False) -> None:
        """Apply ``batch`` atomically. With ``sync`` it is durable (fsynced) when this returns;
        without, a crash may lose it, but never part of it."""
        ...

    def write_many(self, batches: Sequence[WriteBatch], sync: bool = False) -> None:
        """Apply ``batches`` in order as one atomic write, as if one batch held all their
        operations (group commit: one fsync for many replicas). With ``sync`` they are durable
        when this returns, and so is every earlier write, synced or not. An empty list with
        ``sync`` still makes the earlier writes durable."""
        ...

    def snapshot(self) -> ReadSnapshot:
        """A consistent read view of the current state."""
        ...

    def close(self) -> None:
        """Release the engine; further calls are an error. Closing twice is harmless."""
        ...
