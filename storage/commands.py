"""KV commands (what a proposal's entry data holds) and their results, as msgpack positional arrays.

A command is ``[op, client_id, seq, time_ms, register, *args]``; an entry holds one, or a batch
``[BATCH, command, command, ...]`` of the writes a leader received in one burst (``encode_batch``),
each applied in order with its own result. ``time_ms`` is the leader's
wall clock when it proposed the command and ``register`` whether it may open a client session
(``storage.sessions``).

======  ===============================================  ===========================================
op      args                                             result
======  ===============================================  ===========================================
PUT     key: bytes, value: bytes                         OK, None
GET     key: bytes                                       OK, value or None
DELETE  key: bytes                                       OK, whether the key existed
CAS     key, expected: bytes | None, new: bytes          OK, None; or FAILED, the current value
        (``expected=None``: the key must be absent)
CPUT    key, value, must_exist: bool                     OK, None; or FAILED, the current value
        (put only if the key's existence is ``must_exist``)
SCAN    start: bytes, end: bytes | None, limit: int,     OK, ``[[key, value], ...]`` within the range
        reverse: bool                                    (``end=None``: to the end of the range)
SPLIT   key: bytes, new_range_id: int,                   OK, ``(left, right)`` wire descriptors;
        expected_generation: int                         BOUNDARY if ``key`` already starts the range
======  ===============================================  ===========================================

A command on a key outside the range's descriptor (proposed before a split, applied after it),
or a SPLIT whose expected generation is not the range's, is not run: ``KEY_MISMATCH``.

``client_id`` + ``seq`` make retries idempotent (see ``sessions``); ``client_id=0`` opts out.
Any command that fails to decode or validate, or is refused, yields ``Status.ERROR`` with a message;
a write whose session is gone yields ``SESSION_EXPIRED``, one that would open a session past the
bound ``SESSIONS_FULL`` (neither ran).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import msgpack

__all__ = ["Op", "Status", "Command", "Result", "CommandError", "decode_command", "decode_entry",
           "encode_batch", "decode_result", "MAX_SCAN_LIMIT", "DEFAULT_MAX_SCAN_BYTES", "READ_OPS",
           "BATCH"]

#: The largest ``limit`` a SCAN may ask for: a scan's result is one message.
MAX_SCAN_LIMIT = 10_000
#: About how many bytes of pairs one SCAN result holds (at least one pair): the rest is left for
#: a later SCAN that resumes after the last key returned.
DEFAULT_MAX_SCAN_BYTES = 1 << 20
_U64_MAX = 2**64 - 1
#: The first element of a batch entry's array (no op has it): ``encode_batch``.
BATCH = 0


class Op(IntEnum):
    PUT = 1
    GET = 2
    DELETE = 3
    CAS = 4
    CPUT = 5
    SCAN = 6
    SPLIT = 7


#: Commands that change nothing; they are not recorded for dedup (re-running one is harmless).
READ_OPS = frozenset({Op.GET, Op.SCAN})


class Status(IntEnum):
    OK = 0
    FAILED = 1  # a condition (CAS, CPUT) did not hold; the value is the current one
    ERROR = 2  # the command was malformed or refused; the value is a message
    SESSION_EXPIRED = 3  # not run: the client's session is gone (it may have run before)
    SESSIONS_FULL = 4  # not run: it would open a session past the range's bound
    KEY_MISMATCH = 5  # not run: the key is outside the range (or a split's generation is old)
    BOUNDARY = 6  # not run: a SPLIT whose key already starts the range


class CommandError(ValueError):
    """Entry data that is not a valid command."""


def _is_bytes(v: Any) -> bool:
    return type(v) is bytes


def _is_opt_bytes(v: Any) -> bool:
    return v is None or type(v) is bytes


def _is_bool(v: Any) -> bool:
    return type(v) is bool


def _is_range_id(v: Any) -> bool:
    return type(v) is int and 0 < v <= _U64_MAX


def _is_u64(v: Any) -> bool:
    return type(v) is int and 0 <= v <= _U64_MAX


def _is_limit(v: Any) -> bool:
    return type(v) is int and 1 <= v <= MAX_SCAN_LIMIT


#: Per op, a check for each argument, in order.
_ARGS = {
    Op.PUT: (_is_bytes, _is_bytes),
    Op.GET: (_is_bytes,),
    Op.DELETE: (_is_bytes,),
    Op.CAS: (_is_bytes, _is_opt_bytes, _is_bytes),
    Op.CPUT: (_is_bytes, _is_bytes, _is_bool),
    Op.SCAN: (_is_bytes, _is_opt_bytes, _is_limit, _is_bool),
    Op.SPLIT: (_is_bytes, _is_range_id, _is_u64),
}
_OPS = {int(op): op for op in Op}


@dataclass(slots=True, frozen=True)
class Command:
    """One decoded command. Invariant: ``args`` passed ``_ARGS[op]`` (``decode_command`` checks)."""

    op: Op
    client_id: int
    seq: int
    args: tuple[Any, ...]
    time_ms: int = 0
    register: bool = True

    def encode(self) -> bytes:
        return msgpack.packb([int(self.op), self.client_id, self.seq, self.time_ms, self.register,
                              *self.args])

    @classmethod
    def put(cls, client_id: int, seq: int, key: bytes, value: bytes) -> Command:
        return cls(Op.PUT, client_id, seq, (key, value))

    @classmethod
    def get(cls, client_id: int, seq: int, key: bytes) -> Command:
        return cls(Op.GET, client_id, seq, (key,))

    @classmethod
    def delete(cls, client_id: int, seq: int, key: bytes) -> Command:
        return cls(Op.DELETE, client_id, seq, (key,))

    @classmethod
    def cas(cls, client_id: int, seq: int, key: bytes, expected: bytes | None,
            new: bytes) -> Command:
        return cls(Op.CAS, client_id, seq, (key, expected, new))

    @classmethod
    def cput(cls, client_id: int, seq: int, key: bytes, value: bytes,
             must_exist: bool) -> Command:
        return cls(Op.CPUT, client_id, seq, (key, value, must_exist))

    @classmethod
    def split(cls, client_id: int, seq: int, key: bytes, new_range_id: int,
              expected_generation: int) -> Command:
        return cls(Op.SPLIT, client_id, seq, (key, new_range_id, expected_generation))

    @classmethod
    def scan(cls, client_id: int, seq: int, start: bytes, end: bytes | None, limit: int,
             reverse: bool = False) -> Command:
        return cls(Op.SCAN, client_id, seq, (start, end, limit, reverse))


def encode_batch(commands: list[bytes]) -> bytes:
    """The entry data of a batch of encoded commands (``Command.encode``), proposed as one entry
    and applied in order, each with its own result: ``[BATCH, command, command, ...]``, built by
    concatenation (each command is already a msgpack array)."""
    n = len(commands) + 1
    if n < 16:
        head = bytes((0x90 | n,))
    elif n < 1 << 16:
        head = b"\xdc" + n.to_bytes(2, "big")
    else:
        raise ValueError(f"a batch holds at most 65,534 commands, not {n - 1}")
    return head + b"\x00" + b"".join(commands)


def decode_entry(data: bytes) -> Command | list[Command | CommandError]:
    """Decode and validate entry data: one command, or a batch (``encode_batch``) as a list of
    commands, where one that does not validate is its ``CommandError``. Raises
    ``CommandError`` for data that is neither."""
    arr = _unpack(data)
    if type(arr) is tuple and arr and arr[0] == BATCH and type(arr[0]) is int:
        out: list[Command | CommandError] = []
        for sub in arr[1:]:
            try:
                out.append(_command(sub))
            except CommandError as e:
                out.append(e)
        if not out:
            raise CommandError("an empty batch")
        return out
    return _command(arr)


def decode_command(data: bytes) -> Command:
    """Decode and validate one command's data; raises ``CommandError`` saying what is wrong."""
    return _command(_unpack(data))


def _unpack(data: bytes) -> Any:
    try:
        return msgpack.unpackb(data, use_list=False)
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise CommandError(f"undecodable command: {e!r}") from None


def _command(arr: Any) -> Command:
    if type(arr) is not tuple or len(arr) < 5:
        raise CommandError("a command is an array [op, client_id, seq, time_ms, register, *args]")
    op = _OPS.get(arr[0]) if type(arr[0]) is int else None
    if op is None:
        raise CommandError(f"unknown op {arr[0]!r}")
    client_id, seq, time_ms, register, args = arr[1], arr[2], arr[3], arr[4], arr[5:]
    if not (type(client_id) is int and 0 <= client_id <= _U64_MAX
            and type(seq) is int and 0 <= seq <= _U64_MAX
            and type(time_ms) is int and 0 <= time_ms <= _U64_MAX):
        raise CommandError("client_id, seq and time_ms must be unsigned 64-bit integers")
    if type(register) is not bool:
        raise CommandError("register must be a bool")
    checks = _ARGS[op]
    if len(args) != len(checks) or not all(check(a) for check, a in zip(checks, args)):
        raise CommandError(f"bad arguments for {op.name}: {args!r}"[:200])
    return Command(op, client_id, seq, args, time_ms, register)


@dataclass(slots=True, frozen=True)
class Result:
    """The outcome of one command: a status and a value (see the table above)."""

    status: Status
    value: Any = None

    def encode(self) -> bytes:
        return msgpack.packb([int(self.status), self.value])


def decode_result(data: bytes) -> Result:
    status, value = msgpack.unpackb(data)
    return Result(Status(status), value)
