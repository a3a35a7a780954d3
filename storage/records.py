"""Value encodings of a range's local records (layout in ``keys``) and the plain data they hold.

Fixed-width ``struct`` encodings for the records written on every append (log entries,
HardState); msgpack positional arrays for the rarer ones. Every decoder raises
``StorageCorruptionError`` on bytes it cannot read: a record that does not decode is damage,
never something to guess around.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import msgpack
from multiraft.raft.types import ConfState, Entry, EntryType, HardState

from .errors import StorageCorruptionError

__all__ = ["TruncatedState", "AppliedState", "encode_hard_state", "decode_hard_state",
           "encode_truncated_state", "decode_truncated_state", "encode_applied_state",
           "decode_applied_state", "encode_entry", "decode_entry"]

_HARD_STATE = struct.Struct(">QQQ")  # term, vote, commit
_TRUNCATED = struct.Struct(">QQ")  # index, term
_ENTRY_HEAD = struct.Struct(">QB")  # term, type; the index is in the key, the data follows
_ENTRY_TYPES = tuple(EntryType)


@dataclass(slots=True, frozen=True)
class TruncatedState:
    """The last entry dropped from the log (by truncation or a snapshot): ``first_index`` of the
    log is ``index + 1``, and ``term`` answers ``term(index)``. ``(0, 0)`` for a fresh log."""

    index: int = 0
    term: int = 0


@dataclass(slots=True, frozen=True)
class AppliedState:
    """What the state machine has applied: the index/term of the last applied entry, the
    membership in force there and the range's log clock (``clock_ms``: the largest leader time
    applied, which expires client sessions; see ``sessions``) and an estimate of its user
    data's bytes (``data_bytes``: keys and values written, less those deleted; overwrites are
    counted again, so it only errs high until a split's scan corrects it). Invariant: written
    in the same batch as the data it covers."""

    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)
    clock_ms: int = 0
    data_bytes: int = 0


def encode_hard_state(hs: HardState) -> bytes:
    return _HARD_STATE.pack(hs.term, hs.vote, hs.commit)


def decode_hard_state(b: bytes) -> HardState:
    try:
        return HardState(*_HARD_STATE.unpack(b))
    except struct.error as e:
        raise StorageCorruptionError(f"bad HardState record: {e}") from None


def encode_truncated_state(ts: TruncatedState) -> bytes:
    return _TRUNCATED.pack(ts.index, ts.term)


def decode_truncated_state(b: bytes) -> TruncatedState:
    try:
        return TruncatedState(*_TRUNCATED.unpack(b))
    except struct.error as e:
        raise StorageCorruptionError(f"bad truncated state record: {e}") from None


def encode_applied_state(a: AppliedState) -> bytes:
    cs = a.conf_state
    return msgpack.packb([a.index, a.term, cs.voters, cs.learners, cs.voters_outgoing,
                          cs.learners_next, cs.auto_leave, a.clock_ms, a.data_bytes])


def decode_applied_state(b: bytes) -> AppliedState:
    try:
        (index, term, voters, learners, outgoing, learners_next, auto_leave,
         clock_ms, data_bytes) = msgpack.unpackb(b)
        cs = ConfState(tuple(voters), tuple(learners), tuple(outgoing), tuple(learners_next),
                       bool(auto_leave))
        return AppliedState(int(index), int(term), cs, int(clock_ms), int(data_bytes))
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise StorageCorruptionError(f"bad applied state record: {e!r}") from None


def encode_entry(e: Entry) -> bytes:
    """The value stored under ``log_key(rid, e.index)``."""
    return _ENTRY_HEAD.pack(e.term, e.type) + e.data


def decode_entry(index: int, b: bytes) -> Entry:
    try:
        term, typ = _ENTRY_HEAD.unpack_from(b)
        return Entry(term, index, _ENTRY_TYPES[typ], b[_ENTRY_HEAD.size:])
    except (struct.error, IndexError) as e:
        raise StorageCorruptionError(f"bad log entry at index {index}: {e}") from None
