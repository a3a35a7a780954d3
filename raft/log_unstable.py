"""The tail of the log not yet persisted: new entries and an incoming snapshot."""

from __future__ import annotations

from .types import Entry, Snapshot

__all__ = ["Unstable"]


class Unstable:
    """Entries and a snapshot waiting to be written to storage.

    Invariant: ``entries[i].index == offset + i``; when ``snapshot`` is set,
    ``offset == snapshot.metadata.index + 1`` or later (entries follow the snapshot).
    """

    __slots__ = ("snapshot", "entries", "offset")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        """The first index of the log if a snapshot is pending, else None (storage knows)."""
        if self.snapshot is not None:
            return self.snapshot.metadata.index + 1
        return None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_term(self, i: int) -> int | None:
        """The term of entry ``i`` if it is held here, else None."""
        if i < self.offset:
            snap = self.snapshot
            if snap is not None and snap.metadata.index == i:
                return snap.metadata.term
            return None
        k = i - self.offset
        if k < len(self.entries):
            return self.entries[k].term
        if not self.entries and self.snapshot is not None and self.snapshot.metadata.index == i:
            return self.snapshot.metadata.term
        return None

    def stable_to(self, i: int, t: int) -> None:
        """Entries up to ``i`` (of term ``t``) are persisted: drop them, unless replaced meanwhile."""
        gt = self.maybe_term(i)
        if gt is None or gt != t or i < self.offset:
            return  # the entry was overwritten (or is the snapshot's): nothing to drop
        del self.entries[:i + 1 - self.offset]
        self.offset = i + 1

    def stable_snap_to(self, i: int) -> None:
        if self.snapshot is not None and self.snapshot.metadata.index == i:
            self.snapshot = None

    def restore(self, s: Snapshot) -> None:
        self.offset = s.metadata.index + 1
        self.entries = []
        self.snapshot = s

    def truncate_and_append(self, ents: list[Entry]) -> None:
        """Append ``ents``, dropping any held entries at or after ``ents[0].index``.

        Raises IndexError, changing nothing, if ``ents`` would start past the last held entry
        (a hole in the log: a caller's bug; etcd's ``u.slice`` panics on it).
        """
        after = ents[0].index
        n = len(self.entries)
        if after == self.offset + n:
            self.entries.extend(ents)
        elif after <= self.offset:
            # Replace everything held (the log's conflicting suffix starts at or before us).
            self.offset = after
            self.entries = list(ents)
        else:
            # Keep [offset, after): slice checks that after is within what we hold.
            self.entries = self.slice(self.offset, after)
            self.entries.extend(ents)

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries ``[lo, hi)``; the caller keeps ``offset <= lo <= hi <= offset + len``."""
        off = self.offset
        if lo < off or hi > off + len(self.entries) or lo > hi:
            raise IndexError(f"unstable.slice[{lo},{hi}) out of bound [{off},{off + len(self.entries)}]")
        return self.entries[lo - off:hi - off]
