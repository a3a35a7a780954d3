"""``SessionTable``: a range's client sessions, kept by the log alone (the Raft thesis, 6.3).

A write carries its command id ``(client_id, seq)``, the leader's wall-clock time when it was
proposed (``time_ms``) and ``register``: whether it may open a session. Applying it:

- the range's clock becomes ``max(clock, time_ms)``: time as the log tells it, identical on
  every replica that applied the same entries, and never going back (a leader whose clock is
  behind cannot revive a session);
- every session idle (no write applied) for longer than ``ttl_ms`` of that clock expires;
- a command of a session the range holds: its last applied seq answers from the record (a
  retry is never run twice), an older seq is stale, a newer one runs;
- a command of a session the range does not hold runs and opens one only if ``register`` is
  set and fewer than ``max_sessions`` are open; else it is refused, not run:
  ``SESSION_EXPIRED`` (its session may have applied this very command and then expired, so
  the client cannot know: a ``Timeout`` to the caller) or ``SESSIONS_FULL``.

A client sets ``register`` only on a write none of whose earlier attempts went unanswered: a
retry of an attempt that may have applied must find the session that applied it, or fail.

Expiry and the bound depend only on the entries applied and on ``SessionLimits``, which every
node of a cluster must share (``NodeConfig.sessions``): then every replica keeps the same
table, which snapshots (range-local records) and splits carry along.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from . import keys
from .commands import Command, Result, Status
from .engine import Reader, WriteBatch
from .errors import StorageCorruptionError

__all__ = ["SessionLimits", "SessionTable", "DedupRecord", "encode_dedup_record",
           "decode_dedup_record", "load_dedup_table", "DEFAULT_SESSION_TTL_MS",
           "DEFAULT_MAX_SESSIONS"]

#: A session with no write applied for this long (log time) expires: far longer than any
#: client keeps retrying one write (``Client``'s timeout is 5 s).
DEFAULT_SESSION_TTL_MS = 300_000
#: Sessions open at once per range; a new one past it is refused (SESSIONS_FULL).
DEFAULT_MAX_SESSIONS = 50_000


@dataclass(slots=True, frozen=True)
class SessionLimits:
    """How long a session lives without a write, and how many a range holds. Cluster-wide:
    replicas with different limits would keep different tables."""

    ttl_ms: int = DEFAULT_SESSION_TTL_MS
    max_sessions: int = DEFAULT_MAX_SESSIONS

    def validate(self) -> None:
        if self.ttl_ms <= 0 or self.max_sessions <= 0:
            raise ValueError("the session ttl and max_sessions must be positive")


@dataclass(slots=True, frozen=True)
class DedupRecord:
    """A session's last applied write: its ``seq``, the ``index`` of the entry that applied
    it, the range's clock then (``time_ms``, the session's last activity) and its ``result``."""

    seq: int
    index: int
    time_ms: int
    result: Result


def encode_dedup_record(r: DedupRecord) -> bytes:
    return msgpack.packb([r.seq, r.index, r.time_ms, int(r.result.status), r.result.value])


def decode_dedup_record(b: bytes) -> DedupRecord:
    try:
        seq, index, time_ms, status, value = msgpack.unpackb(b)
        return DedupRecord(int(seq), int(index), int(time_ms), Result(Status(status), value))
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise StorageCorruptionError(f"bad dedup record: {e!r}") from None


def load_dedup_table(reader: Reader, range_id: int) -> dict[int, DedupRecord]:
    """A range's session records, in the order they were last written (ascending index)."""
    records = [(keys.client_id_of_dedup_key(k), decode_dedup_record(v))
               for k, v in reader.scan(*keys.dedup_span(range_id))]
    records.sort(key=lambda cr: cr[1].index)
    return dict(records)


class SessionTable:
    """The sessions of one range.

    Invariants: ``_records`` iterates in ascending ``index``, hence (the clock never goes
    back) in ascending ``time_ms``, so the sessions to expire are always at its front;
    ``clock`` is the largest ``time_ms`` applied (0 before any), at least every record's.
    """

    __slots__ = ("range_id", "limits", "clock", "_records", "_touched", "_expired")

    def __init__(self, range_id: int, limits: SessionLimits, records: dict[int, DedupRecord],
                 clock: int) -> None:
        self.range_id = range_id
        self.limits = limits
        self.reset(records, clock)

    def reset(self, records: dict[int, DedupRecord], clock: int) -> None:
        """Replace the table and clock (loaded from the engine, or an installed snapshot's; the
        clock is persisted in the applied state, since a refused write moves it too)."""
        self._records = dict(sorted(records.items(), key=lambda cr: cr[1].index))
        self.clock = clock
        self._touched: set[int] = set()
        self._expired: set[int] = set()

    def get(self, client_id: int) -> DedupRecord | None:
        return self._records.get(client_id)

    def records(self) -> dict[int, DedupRecord]:
        """A copy of the records, oldest first."""
        return dict(self._records)

    def admit(self, cmd: Command) -> Result | None:
        """Before running write ``cmd`` (``client_id != 0``) at its log position: advance the
        clock, expire idle sessions, then the answer it gets without running (a recorded
        result, or a refusal), or None if it is to run (then ``record`` its result)."""
        if cmd.time_ms > self.clock:
            self.clock = cmd.time_ms
        self._expire()
        rec = self._records.get(cmd.client_id)
        if rec is None:
            if not cmd.register:
                return Result(Status.SESSION_EXPIRED,
                              f"client {cmd.client_id} has no session in range {self.range_id} "
                              f"(expired, or never opened): seq {cmd.seq} was not run")
            if len(self._records) >= self.limits.max_sessions:
                return Result(Status.SESSIONS_FULL,
                              f"range {self.range_id} holds {len(self._records)} client "
                              "sessions (max_sessions): no new one opens until some expire "
                              f"({self.limits.ttl_ms} ms idle)")
            return None
        if cmd.seq == rec.seq:
            return rec.result
        if cmd.seq < rec.seq:
            return Result(Status.ERROR, f"stale seq {cmd.seq}: client {cmd.client_id} is at "
                                        f"{rec.seq}")
        return None

    def record(self, cmd: Command, index: int, result: Result) -> None:
        """``cmd``, admitted, ran at ``index`` with ``result``."""
        cid = cmd.client_id
        self._records.pop(cid, None)  # re-inserted last: the order stays by index
        self._records[cid] = DedupRecord(cmd.seq, index, self.clock, result)
        self._touched.add(cid)
        self._expired.discard(cid)

    def flush(self, batch: WriteBatch) -> None:
        """Write the records changed since the last flush into ``batch``."""
        rid, records = self.range_id, self._records
        for cid in self._touched:
            batch.put(keys.dedup_key(rid, cid), encode_dedup_record(records[cid]))
        for cid in self._expired:
            batch.delete(keys.dedup_key(rid, cid))
        self._touched.clear()
        self._expired.clear()

    def _expire(self) -> None:
        horizon = self.clock - self.limits.ttl_ms
        records = self._records
        while records:
            cid = next(iter(records))
            if records[cid].time_ms >= horizon:
                return
            del records[cid]
            self._touched.discard(cid)
            self._expired.add(cid)
