"""The Storage contract a RawNode reads its durable log through, and ``MemoryStorage``.

The application writes to storage (append, hard state, snapshots) after each Ready; raft only
reads. Errors follow etcd: ``CompactedError`` below the first index, ``UnavailableError`` past
the last, ``SnapOutOfDateError`` for a snapshot older than the one held.
"""

from __future__ import annotations

from typing import Protocol

from .errors import CompactedError, SnapOutOfDateError, UnavailableError
from .sizing import limit_size
from .types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata

__all__ = ["Storage", "MemoryStorage"]


class Storage(Protocol):
    def initial_state(self) -> tuple[HardState, ConfState]: ...
    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]: ...
    def term(self, i: int) -> int: ...
    def first_index(self) -> int: ...
    def last_index(self) -> int: ...
    def snapshot(self) -> Snapshot: ...


class MemoryStorage:
    """In-memory Storage, for tests and the simulator.

    Invariant: ``_ents[0]`` is a dummy entry at the snapshot's (index, term); real entries
    follow it contiguously, so ``_ents[i].index == _ents[0].index + i``.
    """

    __slots__ = ("_hard_state", "_snapshot", "_ents")

    def __init__(self) -> None:
        self._hard_state = HardState()
        self._snapshot = Snapshot()
        self._ents: list[Entry] = [Entry(0, 0)]

    # -- reads (the raft Storage contract) --

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._snapshot.metadata.conf_state

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries in ``[lo, hi)``, at most ``max_size`` bytes (at least one)."""
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError(f"entries from {lo}: compacted up to {offset}")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"entries to {hi}: last index is {self.last_index()}")
        if len(self._ents) == 1:
            raise UnavailableError("no entries")
        return limit_size(self._ents[lo - offset:hi - offset], max_size)

    def term(self, i: int) -> int:
        offset = self._ents[0].index
        if i < offset:
            raise CompactedError(f"term of {i}: compacted up to {offset}")
        if i - offset >= len(self._ents):
            raise UnavailableError(f"term of {i}: last index is {self.last_index()}")
        return self._ents[i - offset].term

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes (the application's) --

    def set_hard_state(self, hs: HardState) -> None:
        self._hard_state = hs

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Replace the log and the snapshot with ``snap``."""
        if self._snapshot.metadata.index >= snap.metadata.index:
            raise SnapOutOfDateError(
                f"snapshot at {snap.metadata.index} is not newer than {self._snapshot.metadata.index}")
        self._snapshot = snap
        self._ents = [Entry(snap.metadata.term, snap.metadata.index)]

    def create_snapshot(self, index: int, conf_state: ConfState | None, data: bytes) -> Snapshot:
        """Record a snapshot of the state at ``index``; the log is not compacted (see ``compact``)."""
        if index <= self._snapshot.metadata.index:
            raise SnapOutOfDateError(f"snapshot at {index} is not newer than {self._snapshot.metadata.index}")
        if index > self.last_index():
            raise ValueError(f"snapshot index {index} is out of bound (last index {self.last_index()})")
        offset = self._ents[0].index
        cs = conf_state if conf_state is not None else self._snapshot.metadata.conf_state
        self._snapshot = Snapshot(data, SnapshotMetadata(cs, index, self._ents[index - offset].term))
        return self._snapshot

    def compact(self, compact_index: int) -> None:
        """Discard entries up to and including ``compact_index``."""
        offset = self._ents[0].index
        if compact_index <= offset:
            raise CompactedError(f"compact to {compact_index}: already compacted up to {offset}")
        if compact_index > self.last_index():
            raise ValueError(f"compact {compact_index} is out of bound (last index {self.last_index()})")
        i = compact_index - offset
        kept = self._ents[i]
        self._ents = [Entry(kept.term, kept.index)] + self._ents[i + 1:]

    def append(self, entries: list[Entry]) -> None:
        """Append ``entries``, replacing any conflicting suffix; entries already compacted are skipped."""
        if not entries:
            return
        first = self.first_index()
        last = entries[0].index + len(entries) - 1
        if last < first:
            return
        if first > entries[0].index:
            entries = entries[first - entries[0].index:]
        offset = entries[0].index - self._ents[0].index
        if len(self._ents) > offset:
            self._ents = self._ents[:offset] + list(entries)
        elif len(self._ents) == offset:
            self._ents.extend(entries)
        else:
            raise ValueError(f"missing log entry: last index {self.last_index()}, appending at {entries[0].index}")
