"""``KVStateMachine``: applies committed KV commands of one range to the engine.

Applying a run of committed entries puts their data writes, the dedup records they touched and
the new applied state into one batch: once the caller writes it, all of those entries are
applied, else none of them, so a crash never applies an entry twice or skips one.

Idempotent retries: a write carries its command id ``(client_id, seq)``; the range's
``SessionTable`` (``sessions``: registered and expired by the log alone, persisted with the data)
answers a retry of an applied command from its record, never running it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from multiraft.raft.types import ConfChange, ConfChangeV2, ConfState, Entry, EntryType

from . import keys
from .commands import (DEFAULT_MAX_SCAN_BYTES, MAX_SCAN_LIMIT, READ_OPS, Command, CommandError, Op,
                       Result, Status, decode_entry)
from .engine import Engine, Reader, WriteBatch
from .errors import StorageCorruptionError
from .range_descriptor import RangeDescriptor, decode_descriptor, encode_descriptor
from .records import AppliedState, decode_applied_state, encode_applied_state
from .replica_change import ReplicaChangeError, apply_steps, decode_change
from .sessions import DedupRecord, SessionLimits, SessionTable, load_dedup_table
from .split import right_range_records, split_descriptors

__all__ = ["KVStateMachine", "ConfChangeApplier", "EntryResult"]

log = logging.getLogger(__name__)

#: Applies a committed conf change to raft, returning the membership after it
#: (``RawNode.apply_conf_change``); raises ValueError for one raft cannot make.
ConfChangeApplier = Callable[[ConfChangeV2], ConfState]
#: What applying one entry gives: None (no command, or applied before), a command's result, or a
#: batch's results in order.
EntryResult = Result | list[Result] | None


class KVStateMachine:
    """The applied state of range ``range_id``.

    Invariants (of this view; the engine matches once the caller's batches are written):
      - ``applied`` is the last applied entry; every entry up to it is reflected in the data;
      - ``sessions`` holds the range's client sessions as of ``applied``;
      - ``descriptor`` is None only for a range not yet initialized (no bootstrap, no snapshot).

    Reads go to the engine, so the caller writes each apply batch before the next ``apply``.
    """

    __slots__ = ("range_id", "descriptor", "applied", "sessions", "max_scan_bytes", "splits",
                 "data_bytes", "replica_changes", "refused_changes", "_engine", "_conf_state")

    def __init__(self, engine: Engine, range_id: int,
                 sessions: SessionLimits = SessionLimits(),
                 max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES, view: Reader | None = None) -> None:
        """Load the range's applied state, descriptor and sessions from ``view`` (a consistent
        snapshot of ``engine``, shared with the raft log's load) or ``engine``."""
        self.range_id = range_id
        self.max_scan_bytes = max_scan_bytes
        self._engine = engine
        src: Reader = engine if view is None else view
        raw_desc, raw_applied = src.multi_get([keys.descriptor_key(range_id),
                                               keys.applied_state_key(range_id)])
        self.descriptor = None if raw_desc is None else decode_descriptor(raw_desc)
        self.applied = AppliedState() if raw_applied is None else decode_applied_state(raw_applied)
        self.sessions = SessionTable(range_id, sessions, load_dedup_table(src, range_id),
                                     self.applied.clock_ms)
        #: the estimate of the range's user data bytes (``AppliedState.data_bytes``), as of
        #: the last entry run
        self.data_bytes = self.applied.data_bytes
        #: (left, right) of every split applied and not yet taken by the owner (``take_splits``)
        self.splits: list[tuple[RangeDescriptor, RangeDescriptor]] = []
        #: the descriptors replica changes left, in order, not yet taken
        #: (``take_replica_changes``), each with whether an operator asked for its change
        self.replica_changes: list[tuple[RangeDescriptor, bool]] = []
        #: replica changes refused at apply (proposed against a descriptor that moved on)
        self.refused_changes = 0
        #: the membership as of the last entry run (a split copies it to its right range)
        self._conf_state = self.applied.conf_state

    def apply(self, batch: WriteBatch, entries: list[Entry],
              conf_state: ConfState | None = None,
              apply_conf_change: ConfChangeApplier | None = None) -> list[EntryResult]:
        """Apply committed ``entries`` (contiguous, starting at most at ``applied.index + 1``)
        into ``batch``; one result per entry: None for entries that carry no command (empty
        entries, conf changes) and for entries already applied, a list (one per command, in
        order) for a batch entry (``commands.encode_batch``).

        Conf changes go to ``apply_conf_change`` in log order, between the commands (a split
        after a replica change copies the changed replicas): a replica change
        (``storage.replica_change``) only if it expects the descriptor as it is, which it then
        changes in the same batch. Without ``apply_conf_change``, ``conf_state`` (if given) is
        the membership after these entries. The membership is persisted with the applied state.
        Raises ValueError if the entries leave a gap after ``applied.index``.
        """
        if not entries or entries[-1].index <= self.applied.index:
            return [None] * len(entries)
        skip = self.applied.index + 1 - entries[0].index
        if skip < 0:
            raise ValueError(f"range {self.range_id}: applying {entries[0].index} after "
                             f"{self.applied.index}")
        results: list[EntryResult] = [None] * len(entries)
        pending: dict[bytes, bytes | None] = {}
        if conf_state is not None:
            self._conf_state = conf_state
        for i in range(max(skip, 0), len(entries)):
            e = entries[i]
            if e.type is not EntryType.NORMAL:
                if apply_conf_change is not None:
                    self._conf_change(e, apply_conf_change, pending)
                continue
            if not e.data:
                continue
            try:
                cmd = decode_entry(e.data)
            except CommandError as err:
                results[i] = Result(Status.ERROR, str(err))
                continue
            if isinstance(cmd, list):  # a batch: each command in order, each with its result
                results[i] = [Result(Status.ERROR, str(c)) if isinstance(c, CommandError)
                              else self._apply_command(c, e.index, pending) for c in cmd]
            else:
                results[i] = self._apply_command(cmd, e.index, pending)
        put, delete = batch.put, batch.delete
        for k, v in pending.items():
            if v is None:
                delete(k)
            else:
                put(k, v)
        self.sessions.flush(batch)
        rid = self.range_id
        last = entries[-1]
        self.applied = AppliedState(last.index, last.term, self._conf_state,
                                    self.sessions.clock, max(self.data_bytes, 0))
        put(keys.applied_state_key(rid), encode_applied_state(self.applied))
        return results

    def _conf_change(self, e: Entry, apply_conf_change: ConfChangeApplier,
                     pending: dict[bytes, bytes | None]) -> None:
        """Apply conf change entry ``e``: a replica change (with its context) only if the
        descriptor is the one it was proposed against; a bare one to raft alone. A change that
        cannot apply (moved-on descriptor, bad steps) changes nothing, on every replica alike."""
        try:
            cc = (ConfChange.decode(e.data).as_v2() if e.type is EntryType.CONF_CHANGE
                  else ConfChangeV2.decode(e.data))
            change = decode_change(cc)
            if change is None:
                self._conf_state = apply_conf_change(cc)
                return
            expected, steps, operator = change
            d = self.descriptor
            if d is None or d.conf_ver != expected:
                raise ReplicaChangeError(f"expects conf_ver {expected}, the descriptor is at "
                                         f"{None if d is None else d.conf_ver}")
            new = apply_steps(d, steps)
            self._conf_state = apply_conf_change(cc)
        except ValueError as err:  # (ReplicaChangeError, raft's ConfChangeError, bad data)
            self.refused_changes += 1
            log.info("range %d: conf change at index %d refused: %s", self.range_id, e.index, err)
            return
        pending[keys.descriptor_key(self.range_id)] = encode_descriptor(new)
        self.descriptor = new
        self.replica_changes.append((new, operator))

    def take_replica_changes(self) -> list[tuple[RangeDescriptor, bool]]:
        """The descriptors replica changes left since the last call, oldest first, each with
        whether an operator asked for its change."""
        out, self.replica_changes = self.replica_changes, []
        return out

    def read(self, cmd: Command) -> Result:
        """Run a read-only command (GET, SCAN) against the engine, outside the log: for reads
        served through ReadIndex once ``applied`` covers the read index."""
        if cmd.op not in READ_OPS:
            return Result(Status.ERROR, f"{cmd.op.name} is not a read")
        return self._execute(cmd, {})

    def set_descriptor(self, batch: WriteBatch, desc: RangeDescriptor) -> None:
        """Persist a new descriptor for this range (conf change, split) into ``batch``."""
        batch.put(keys.descriptor_key(self.range_id), encode_descriptor(desc))
        self.descriptor = desc

    def restore(self, descriptor: RangeDescriptor, applied: AppliedState,
                dedup: dict[int, DedupRecord]) -> None:
        """Replace the view by an installed snapshot's (``storage.snapshot`` wrote the batch)."""
        self.descriptor, self.applied = descriptor, applied
        self._conf_state = applied.conf_state
        self.data_bytes = applied.data_bytes
        self.sessions.reset(dedup, applied.clock_ms)

    def dedup_table(self) -> dict[int, DedupRecord]:
        """A copy of the session records, oldest first."""
        return self.sessions.records()

    def take_splits(self) -> list[tuple[RangeDescriptor, RangeDescriptor]]:
        """The splits applied since the last call, as (left, right) descriptors."""
        out, self.splits = self.splits, []
        return out

    def _apply_command(self, cmd: Command, index: int,
                       pending: dict[bytes, bytes | None]) -> Result:
        if cmd.client_id == 0 or cmd.op in READ_OPS:
            return self._split(cmd, index, pending) if cmd.op is Op.SPLIT else \
                self._execute(cmd, pending)
        sessions = self.sessions
        answer = sessions.admit(cmd)
        if answer is not None:
            return answer
        if cmd.op is Op.SPLIT:
            return self._split(cmd, index, pending)  # (records its session itself)
        result = self._execute(cmd, pending)
        if result.status is not Status.KEY_MISMATCH:  # not run: the session did not move on
            sessions.record(cmd, index, result)
        return result

    def _split(self, cmd: Command, index: int, pending: dict[bytes, bytes | None]) -> Result:
        """The split trigger (``storage.split``): narrow this range, create the right one.
        The split's own session record is written before the sessions are copied to the right
        range, so a retry of it that reaches either half answers the split's result."""
        desc = self.descriptor
        if desc is None:
            return Result(Status.ERROR, f"range {self.range_id} is not initialized")
        key, new_range_id, expected = cmd.args
        if expected != desc.generation or not desc.contains(key):
            return Result(Status.KEY_MISMATCH, f"split at {key[:64]!r}: range {self.range_id} "
                          f"is at generation {desc.generation}, spans "
                          f"[{desc.start_key[:64]!r}, {(desc.end_key or b'')[:64]!r})")
        if key == desc.start_key:
            return Result(Status.BOUNDARY, f"{key[:64]!r} already starts range {self.range_id}")
        if new_range_id == self.range_id:
            return Result(Status.ERROR, f"split of range {self.range_id} into itself")
        left, right = split_descriptors(desc, key, new_range_id)
        result = Result(Status.OK, (left.wire(), right.wire()))
        if cmd.client_id:
            self.sessions.record(cmd, index, result)
        pending[keys.descriptor_key(self.range_id)] = encode_descriptor(left)
        # Each half is estimated at half the bytes (the same on every replica); the leader's
        # next size check scans and corrects it.
        right_bytes = self.data_bytes // 2
        self.data_bytes -= right_bytes
        for k, v in right_range_records(right, AppliedState(
                self.applied.index, self.applied.term, self._conf_state,
                self.sessions.clock, right_bytes), self.sessions.records()):
            pending[k] = v
        self.descriptor = left
        self.splits.append((left, right))
        return result

    def _execute(self, cmd: Command, pending: dict[bytes, bytes | None]) -> Result:
        """Run ``cmd``; writes go to ``pending`` (engine key -> value, None to delete), and
        reads see ``pending`` over the engine."""
        desc = self.descriptor
        if desc is None:
            return Result(Status.ERROR, f"range {self.range_id} is not initialized")
        op, args = cmd.op, cmd.args
        if op is Op.SCAN:
            start, end, limit, reverse = args
            return self._scan(desc, start, end, limit, reverse, pending)
        key = args[0]
        if not desc.contains(key):
            return Result(Status.KEY_MISMATCH, f"key {key[:64]!r} is not in range {self.range_id}")
        ek = keys.user_key(key)
        if op is Op.PUT:  # a blind write: an overwrite's old bytes stay counted
            pending[ek] = args[1]
            self.data_bytes += len(key) + len(args[1])
            return Result(Status.OK)
        current = pending[ek] if ek in pending else self._engine.get(ek)
        if op is Op.GET:
            return Result(Status.OK, current)
        if op is Op.DELETE:
            pending[ek] = None
            if current is not None:
                self.data_bytes -= len(key) + len(current)
            return Result(Status.OK, current is not None)
        if op is Op.CAS:
            ok = current == args[1]
        else:  # Op.CPUT
            ok = (current is not None) == args[2]
        if not ok:
            return Result(Status.FAILED, current)
        new = args[1] if op is Op.CPUT else args[2]
        pending[ek] = new
        self.data_bytes += len(new) - (len(current) if current is not None else -len(key))
        return Result(Status.OK)

    def _scan(self, desc: RangeDescriptor, start: bytes, end: bytes | None, limit: int,
              reverse: bool, pending: dict[bytes, bytes | None]) -> Result:
        """SCAN clamped to the range, merging ``pending`` over the engine; its value is
        ``(pairs, more)``: ``more`` if it stopped at ``limit`` or at ``max_scan_bytes`` (the range
        may hold more past the last pair)."""
        start = max(start, desc.start_key)
        if desc.end_key is not None:
            end = desc.end_key if end is None else min(end, desc.end_key)
        lo, hi = keys.user_span(start, end)
        if lo >= hi:
            return Result(Status.OK, ([], False))
        overlay = {k: v for k, v in pending.items() if lo <= k < hi}
        deletes = sum(v is None for v in overlay.values())
        # ``deletes`` more rows than asked: enough survivors even if every delete hits one.
        rows: dict[bytes, bytes | None] = dict(
            self._engine.scan(lo, hi, min(limit, MAX_SCAN_LIMIT) + deletes, reverse))
        rows.update(overlay)
        picked = sorted((k for k, v in rows.items() if v is not None), reverse=reverse)
        out: list[list[bytes]] = []
        size, budget = 0, self.max_scan_bytes
        for k in picked[:limit]:
            v = rows[k]
            assert v is not None
            user_key = keys.user_key_of(k)
            size += len(user_key) + len(v)
            if out and size > budget:
                return Result(Status.OK, (out, True))
            out.append([user_key, v])
        return Result(Status.OK, (out, len(picked) >= limit))

