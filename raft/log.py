"""The raft log: durable entries in Storage followed by the unstable tail, and the commit and
apply cursors over it (etcd's ``raftLog``)."""

from __future__ import annotations

from .errors import CompactedError, UnavailableError
from .log_unstable import Unstable
from .sizing import limit_size
from .storage import Storage
from .types import Entry, Snapshot

__all__ = ["RaftLog"]


class RaftLog:
    """The log of one raft node.

    Invariant: ``applied <= applying <= committed <= last_index()``; entries at or below
    ``committed`` are never truncated (a conflict there means the log was corrupted).
    """

    __slots__ = ("storage", "unstable", "committed", "applying", "applied", "max_applying_size")

    def __init__(self, storage: Storage, max_applying_size: int | None = None) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        # The log starts at the last compaction point (or 0): that is committed and applied.
        self.committed = first - 1
        self.applying = first - 1
        self.applied = first - 1
        self.max_applying_size = max_applying_size

    def __repr__(self) -> str:
        return (f"RaftLog(committed={self.committed} applied={self.applied} applying={self.applying}"
                f" unstable.offset={self.unstable.offset} len(unstable)={len(self.unstable.entries)})")

    # -- bounds and terms --

    def first_index(self) -> int:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        u = self.unstable
        if u.entries:
            return u.offset + len(u.entries) - 1
        i = u.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def term(self, i: int) -> int:
        """The term of entry ``i``; ``CompactedError`` below the log, ``UnavailableError`` past it."""
        u = self.unstable
        k = i - u.offset
        if 0 <= k < len(u.entries):
            return u.entries[k].term
        t = u.maybe_term(i)
        if t is not None:
            return t
        if i < self.first_index() - 1:
            raise CompactedError(f"term of {i}: compacted")
        if i > self.last_index():
            raise UnavailableError(f"term of {i}: past last index {self.last_index()}")
        return self.storage.term(i)

    def term_or_zero(self, i: int) -> int:
        try:
            return self.term(i)
        except (CompactedError, UnavailableError):
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, i: int, t: int) -> bool:
        try:
            return self.term(i) == t
        except (CompactedError, UnavailableError):
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Whether a log ending at (last_index, term) is at least as up to date as ours (§5.4.1)."""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    # -- appending --

    def maybe_append(self, index: int, log_term: int, committed: int,
                     ents: list[Entry] | tuple[Entry, ...]) -> tuple[int, bool]:
        """Append a leader's entries that follow (index, log_term); (last new index, ok)."""
        if not self.match_term(index, log_term):
            return 0, False
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise AssertionError(f"entry {ci} conflicts with committed entry [committed({self.committed})]")
            self.append(list(ents[ci - (index + 1):]))
        self.commit_to(min(committed, last_new))
        return last_new, True

    def append(self, ents: list[Entry]) -> int:
        if not ents:
            return self.last_index()
        after = ents[0].index - 1
        if after < self.committed:
            raise AssertionError(f"after({after}) is out of range [committed({self.committed})]")
        self.unstable.truncate_and_append(ents)
        return self.last_index()

    def find_conflict(self, ents: list[Entry] | tuple[Entry, ...]) -> int:
        """The index of the first entry whose term differs from ours (or that we lack); 0 if none."""
        if not ents:
            return 0
        last = self.last_index()
        for e in ents:
            if e.index > last:
                return e.index  # we lack it: everything from here on is new
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest (index, term) at or below ``index`` whose term is ``<= term``.

        Used for fast rejection: the leader skips every entry of a term the follower lacks.
        Term 0 means "unknown" (the entry is compacted or missing).
        """
        while index > 0:
            try:
                our = self.term(index)
            except (CompactedError, UnavailableError):
                return index, 0
            if our <= term:
                return index, our
            index -= 1
        return 0, 0

    # -- reading --

    def next_unstable_ents(self) -> list[Entry]:
        return list(self.unstable.entries)

    def has_pending_snapshot(self) -> bool:
        return self.unstable.snapshot is not None

    def next_committed_ents(self) -> list[Entry]:
        """Committed entries not yet handed out for applying (none while a snapshot is pending)."""
        if self.unstable.snapshot is not None:
            return []
        lo, hi = max(self.applying + 1, self.first_index()), self.committed + 1
        if lo >= hi:
            return []
        return self.slice(lo, hi, self.max_applying_size)

    def has_next_committed_ents(self) -> bool:
        return self.unstable.snapshot is None and self.committed > self.applying

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    def entries(self, i: int, max_size: int | None) -> list[Entry]:
        last = self.last_index()
        if i > last:
            return []
        return self.slice(i, last + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries ``[lo, hi)`` at most ``max_size`` bytes (at least one); may raise CompactedError."""
        first = self.first_index()
        if lo < first:
            raise CompactedError(f"slice from {lo}: first index is {first}")
        if hi > self.last_index() + 1 or lo > hi:
            raise IndexError(f"slice[{lo},{hi}) out of bound [{first},{self.last_index()}]")
        if lo == hi:
            return []
        off = self.unstable.offset
        if lo >= off:
            return limit_size(self.unstable.slice(lo, hi), max_size)
        stored = self.storage.entries(lo, min(hi, off), max_size)
        if hi <= off or len(stored) < min(hi, off) - lo:
            return stored  # all from storage, or storage already hit the size limit
        return limit_size(stored + self.unstable.slice(off, hi), max_size)

    # -- cursors --

    def commit_to(self, to: int) -> None:
        """Raise the commit index (never lower it)."""
        if self.committed < to:
            if self.last_index() < to:
                raise AssertionError(f"to commit {to} is out of range [last index {self.last_index()}]")
            self.committed = to

    def maybe_commit(self, max_index: int, term: int) -> bool:
        """Commit up to ``max_index`` if that entry is of ``term`` (only current-term entries are
        committed by counting replicas, §5.4.2)."""
        if max_index > self.committed and self.term_or_zero(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def accept_applying(self, i: int) -> None:
        """Entries up to ``i`` were handed to the application in a Ready."""
        if i > self.applying:
            self.applying = i

    def applied_to(self, i: int) -> None:
        if i == 0:
            return
        if self.committed < i or i < self.applied:
            raise AssertionError(f"applied({i}) is out of range [prev applied {self.applied}, committed {self.committed}]")
        self.applied = i
        if self.applying < i:
            self.applying = i

    def stable_to(self, i: int, t: int) -> None:
        self.unstable.stable_to(i, t)

    def stable_snap_to(self, i: int) -> None:
        self.unstable.stable_snap_to(i)

    def restore(self, s: Snapshot) -> None:
        """Replace the log by snapshot ``s`` (it is committed by definition)."""
        self.committed = s.metadata.index
        self.unstable.restore(s)
