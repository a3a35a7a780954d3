"""``ReplicaStorage``: the raft ``Storage`` contract for one range, over the store's engine.

Reads follow ``raft.storage.MemoryStorage`` exactly (CompactedError at or below the truncated
index, UnavailableError past the last index, ``term`` of the truncated index answered).
Writes do not touch the engine: ``append``, ``set_hard_state``, ``truncate`` and
``apply_snapshot`` put their operations into a batch the caller writes, so a storage writer can
commit many ranges in one engine write and one fsync.

The in-memory view (last index, HardState, truncated state, entry cache) moves forward when a
mutator is called, before the caller writes the batch. That is safe under raft's loop: the
RawNode only reads entries from storage after ``advance``, and the caller writes the Ready's
batch before it calls ``advance``. A batch that is then *not* written leaves this object ahead of
the engine; the store must treat a failed write as fatal (or rebuild the object from the engine).
"""

from __future__ import annotations

from multiraft.raft.errors import CompactedError, SnapOutOfDateError, UnavailableError
from multiraft.raft.sizing import entries_size, entry_size, limit_size
from multiraft.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata

from . import keys
from .engine import Engine, Reader, WriteBatch
from .errors import StorageCorruptionError
from .records import (AppliedState, TruncatedState, decode_applied_state, decode_entry,
                      decode_hard_state, decode_truncated_state, encode_entry, encode_hard_state,
                      encode_truncated_state)

__all__ = ["ReplicaStorage"]

#: Entries read from the engine per scan when serving ``entries`` below the cache.
_READ_PAGE = 256


class ReplicaStorage:
    """Raft log storage of range ``range_id``.

    Invariants (of the view, which the engine matches once the caller's batches are written):
      - ``_truncated.index <= _last_index``; the log holds exactly the entries
        ``(_truncated.index, _last_index]``, contiguous; ``first_index() == _truncated.index + 1``;
      - ``_last_term`` is the term of ``_last_index`` (``_truncated.term`` if the log is empty);
      - ``_cache`` is a contiguous run of the newest entries: empty, or ending at ``_last_index``
        and starting above ``_truncated.index``; at most ``cache_entries`` entries and, beyond its
        first entry, ``cache_bytes`` bytes; ``_cache_bytes`` is ``entries_size(_cache)``.
    """

    __slots__ = ("range_id", "_engine", "_hard_state", "_truncated", "_last_index", "_last_term",
                 "_cache", "_cache_bytes", "_cache_entries", "_cache_limit", "_hard_state_key",
                 "_log_key")

    def __init__(self, engine: Engine, range_id: int, cache_entries: int = 128,
                 cache_bytes: int = 256 << 10, view: Reader | None = None) -> None:
        """Load the range's raft state from ``view`` (a consistent snapshot of ``engine``,
        shared with the state machine's load) or ``engine``; an unknown range starts empty."""
        self.range_id = range_id
        self._engine = engine
        self._cache_entries = cache_entries
        self._cache_limit = cache_bytes
        self._hard_state_key = keys.hard_state_key(range_id)  # written on every Ready
        self._log_key = keys.log_key_encoder(range_id)
        src: Reader = engine if view is None else view
        raw_hs, raw_ts = src.multi_get([self._hard_state_key,
                                        keys.truncated_state_key(range_id)])
        self._hard_state = HardState() if raw_hs is None else decode_hard_state(raw_hs)
        self._truncated = TruncatedState() if raw_ts is None else decode_truncated_state(raw_ts)
        lo, hi = keys.log_span(range_id)
        last = src.scan(lo, hi, limit=1, reverse=True)
        if last:
            e = decode_entry(keys.index_of_log_key(last[0][0]), last[0][1])
            self._last_index, self._last_term = e.index, e.term
        else:
            self._last_index, self._last_term = self._truncated.index, self._truncated.term
        if self._last_index < self._truncated.index:
            raise StorageCorruptionError(
                f"range {range_id}: last log index {self._last_index} is below the truncated "
                f"index {self._truncated.index}")
        self._cache: list[Entry] = []
        self._cache_bytes = 0

    def raise_hard_state_to_truncated(self) -> None:
        """Raise the HardState (in this view) to the truncated state: term at least its term
        (the vote dropped if the term moves), commit at least its index. A split's right-hand
        range starts at a truncated state with no HardState written (``storage.split``), so a
        replica that voted before the split applied keeps its term and vote, and raft finds
        what it expects next to the initial snapshot. In memory only: every load raises it alike."""
        hs, ts = self._hard_state, self._truncated
        if hs.term < ts.term:
            hs = HardState(ts.term, 0, hs.commit)
        if hs.commit < ts.index:
            hs = HardState(hs.term, hs.vote, ts.index)
        self._hard_state = hs

    # -- reads: the raft Storage contract --

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._applied_state().conf_state

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries in ``[lo, hi)``, at most ``max_size`` bytes (at least one)."""
        if lo <= self._truncated.index:
            raise CompactedError(f"entries from {lo}: compacted up to {self._truncated.index}")
        if hi > self._last_index + 1:
            raise UnavailableError(f"entries to {hi}: last index is {self._last_index}")
        if self._last_index == self._truncated.index:
            raise UnavailableError("no entries")
        cache = self._cache
        cache_lo = cache[0].index if cache else self._last_index + 1
        if lo >= cache_lo:
            return limit_size(cache[lo - cache_lo:hi - cache_lo], max_size)
        ents = self._read_log(lo, min(hi, cache_lo), max_size)
        if hi > cache_lo and ents[-1].index == cache_lo - 1:
            ents.extend(cache[:hi - cache_lo])
        return limit_size(ents, max_size)

    def term(self, i: int) -> int:
        if i < self._truncated.index:
            raise CompactedError(f"term of {i}: compacted up to {self._truncated.index}")
        if i > self._last_index:
            raise UnavailableError(f"term of {i}: last index is {self._last_index}")
        if i == self._last_index:
            return self._last_term
        if i == self._truncated.index:
            return self._truncated.term
        cache = self._cache
        if cache and i >= cache[0].index:
            return cache[i - cache[0].index].term
        return self._read_log(i, i + 1, None)[0].term

    def first_index(self) -> int:
        return self._truncated.index + 1

    def last_index(self) -> int:
        return self._last_index

    def snapshot(self) -> Snapshot:
        """A snapshot at the applied state; ``data`` is the encoded range descriptor, so the
        receiver knows which range it is. The user data travels separately, in chunks from
        ``storage.snapshot.SnapshotSource`` (which carries its own, possibly newer, metadata)."""
        applied = self._applied_state()
        if applied.index == 0:
            return Snapshot()
        raw = self._engine.get(keys.descriptor_key(self.range_id))
        return Snapshot(raw or b"", SnapshotMetadata(applied.conf_state, applied.index, applied.term))

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    def _applied_state(self) -> AppliedState:
        raw = self._engine.get(keys.applied_state_key(self.range_id))
        return AppliedState() if raw is None else decode_applied_state(raw)

    def _read_log(self, lo: int, hi: int, max_size: int | None) -> list[Entry]:
        """Entries ``[lo, hi)`` from the engine; stops early once past ``max_size`` bytes."""
        out: list[Entry] = []
        size, rid, engine = 0, self.range_id, self._engine
        while lo < hi:
            page = engine.scan(self._log_key(lo), self._log_key(hi), limit=_READ_PAGE)
            read = [decode_entry(keys.index_of_log_key(k), v) for k, v in page]
            if not read or read[0].index != lo or read[-1].index != lo + len(read) - 1:
                raise StorageCorruptionError(f"range {rid}: raft log has a hole at {lo}..{hi}")
            out.extend(read)
            lo += len(read)
            if max_size is not None:
                size += entries_size(read)
                if size > max_size:
                    break
        return out

    # -- writes: operations into the caller's batch --

    def append(self, batch: WriteBatch, entries: list[Entry]) -> None:
        """Append ``entries``, replacing any conflicting suffix; compacted ones are skipped.

        Raises ValueError if the entries would leave a gap after the last index.
        """
        if not entries:
            return
        first = self._truncated.index + 1
        if entries[0].index < first:
            if entries[-1].index < first:
                return
            entries = entries[first - entries[0].index:]
        start, newest = entries[0].index, entries[-1]
        if start > self._last_index + 1:
            raise ValueError(f"missing log entry: last index {self._last_index}, "
                             f"appending at {start}")
        put, log_key = batch.put, self._log_key
        for e in entries:
            put(log_key(e.index), encode_entry(e))
        if newest.index < self._last_index:
            batch.delete_range(log_key(newest.index + 1), log_key(self._last_index + 1))
        self._last_index, self._last_term = newest.index, newest.term
        self._cache_append(start, entries)

    def set_hard_state(self, batch: WriteBatch, hs: HardState) -> None:
        batch.put(self._hard_state_key, encode_hard_state(hs))
        self._hard_state = hs

    def truncate(self, batch: WriteBatch, index: int) -> None:
        """Drop the entries up to and including ``index`` (one delete-range), keeping its term
        as the truncated state. The caller keeps ``index`` at or below the applied index."""
        if index <= self._truncated.index:
            raise CompactedError(f"truncate to {index}: already truncated up to "
                                 f"{self._truncated.index}")
        if index > self._last_index:
            raise ValueError(f"truncate {index} is out of bound (last index {self._last_index})")
        ts = TruncatedState(index, self.term(index))
        batch.delete_range(self._log_key(self._truncated.index + 1), self._log_key(index + 1))
        batch.put(keys.truncated_state_key(self.range_id), encode_truncated_state(ts))
        self._truncated = ts
        cache = self._cache
        if cache and cache[0].index <= index:
            dropped = cache[:index + 1 - cache[0].index]
            del cache[:len(dropped)]
            self._cache_bytes -= entries_size(dropped)

    def apply_snapshot(self, batch: WriteBatch, metadata: SnapshotMetadata) -> None:
        """Replace the whole log by a snapshot at ``metadata`` (raft's side of installing one:
        the data, applied state and descriptor are ``storage.snapshot``'s)."""
        if metadata.index <= self._truncated.index:
            raise SnapOutOfDateError(f"snapshot at {metadata.index} is not newer than "
                                     f"{self._truncated.index}")
        batch.delete_range(*keys.log_span(self.range_id))
        ts = TruncatedState(metadata.index, metadata.term)
        batch.put(keys.truncated_state_key(self.range_id), encode_truncated_state(ts))
        self._truncated = ts
        self._last_index, self._last_term = ts.index, ts.term
        self._cache.clear()
        self._cache_bytes = 0

    def _cache_append(self, start: int, entries: list[Entry]) -> None:
        cache = self._cache
        if cache and start <= cache[-1].index:
            cut = max(start - cache[0].index, 0)
            self._cache_bytes -= entries_size(cache[cut:])
            del cache[cut:]
        cache += entries
        self._cache_bytes += entry_size(entries[0]) if len(entries) == 1 else entries_size(entries)
        if len(cache) > self._cache_entries or self._cache_bytes > self._cache_limit:
            self._cache_evict()

    def _cache_evict(self) -> None:
        """Drop the oldest cached entries until within 3/4 of both bounds (keeping at least one).
        The slack makes eviction run once every many appends instead of on each one once the
        cache is full: a group commit appends to every range."""
        cache = self._cache
        n = max(len(cache) - self._cache_entries * 3 // 4, 0)
        size = self._cache_bytes - entries_size(cache[:n])
        limit = self._cache_limit * 3 // 4
        while size > limit and n < len(cache) - 1:
            size -= entry_size(cache[n])
            n += 1
        del cache[:n]
        self._cache_bytes = size
