"""Client histories of KV operations, as a linearizability checker needs them.

A history is a list of :class:`Operation`: what a client asked (kind and arguments), what it got
back, and the monotonic-clock interval ``[call_ns, return_ns]`` within which the operation must
have taken effect. :class:`HistoryRecorder` is what concurrent client threads write to while a
test runs; the checker (``multiraft.check.linearizability``) reads the finished list.

An operation whose outcome the client never learned (it timed out, the connection dropped) is
recorded with ``return_ns = math.inf`` and ``output = UNKNOWN_OUTPUT``: it may have taken effect
at any moment after its call, or never.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["OpKind", "Operation", "UNKNOWN_OUTPUT", "HistoryRecorder", "validate_call"]


class OpKind(enum.StrEnum):
    """The KV operations the checker understands, with their argument tuples (key first).

    - ``put``    ``(key, value)``             output ignored (an acknowledgement)
    - ``get``    ``(key,)``                   output: the value, or ``None`` if absent
    - ``delete`` ``(key,)``                   output ignored (an acknowledgement)
    - ``cas``    ``(key, expected, new)``     output: ``True`` if swapped, else ``False``;
      ``expected=None`` means "only if the key is absent"
    """

    PUT = "put"
    GET = "get"
    DELETE = "delete"
    CAS = "cas"

    @property
    def arity(self) -> int:
        """Number of arguments, the key included."""
        return _ARITY[self]


_ARITY: Final = {OpKind.PUT: 2, OpKind.GET: 1, OpKind.DELETE: 1, OpKind.CAS: 3}


class _UnknownOutput:
    """Type of :data:`UNKNOWN_OUTPUT`; a singleton that prints as ``?``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "?"


UNKNOWN_OUTPUT: Final = _UnknownOutput()
"""Output of an operation whose outcome the client never learned: matches any result."""


@dataclass(slots=True, frozen=True)
class Operation:
    """One client operation: its input, output and real-time interval.

    ``args`` holds the key first (see :class:`OpKind`). Values must be hashable and not ``None``
    (``None`` stands for "absent"). ``return_ns`` is ``math.inf`` when the outcome is unknown.
    """

    client_id: int
    kind: OpKind
    args: tuple[Any, ...]
    output: Any
    call_ns: int
    return_ns: float

    @property
    def key(self) -> Hashable:
        """The single key this operation touches; histories are partitioned by it."""
        key: Hashable = self.args[0]
        return key

    @property
    def outcome_known(self) -> bool:
        """False for an operation that timed out: it may or may not have taken effect."""
        return self.return_ns != math.inf

    def describe(self, origin_ns: int = 0) -> str:
        """One line for failure messages, times in ms relative to ``origin_ns``."""
        args = ", ".join(map(repr, self.args))
        end = "inf" if not self.outcome_known else f"{(self.return_ns - origin_ns) / 1e6:.3f}"
        return (f"client {self.client_id}: {self.kind}({args}) -> {self.output!r}"
                f"  [{(self.call_ns - origin_ns) / 1e6:.3f} .. {end} ms]")


def validate_call(kind: OpKind | str, args: tuple[Any, ...]) -> OpKind:
    """Return ``kind`` as an :class:`OpKind`; raise ``ValueError`` on a malformed call."""
    op_kind = OpKind(kind)
    if len(args) != op_kind.arity:
        raise ValueError(f"{op_kind} takes {op_kind.arity} arguments (key first), got {args!r}")
    if op_kind is OpKind.PUT and args[1] is None:
        raise ValueError("put of None: None means 'absent'; use delete")
    if op_kind is OpKind.CAS and args[2] is None:
        raise ValueError("cas to None: None means 'absent'")
    return op_kind


@dataclass(slots=True)
class _Pending:
    """An operation between ``begin`` and its end."""

    client_id: int
    kind: OpKind
    args: tuple[Any, ...]
    call_ns: int


class HistoryRecorder:
    """Thread-safe log of the operations concurrent clients perform.

    Each client thread calls :meth:`begin` just before sending a request and one of
    :meth:`end` (a reply came), :meth:`end_unknown` (timeout, connection lost: the request may
    or may not have taken effect) or :meth:`discard` (the request definitely had no effect,
    e.g. rejected before being proposed) right after. The call timestamp is taken inside
    ``begin`` and the return timestamp inside ``end``, so the recorded interval always contains
    the real one. :meth:`history` returns the operations recorded so far.
    """

    def __init__(self, clock_ns: Callable[[], int] = time.monotonic_ns) -> None:
        """``clock_ns``: the clock of call and return times (a simulation's virtual one)."""
        self._clock_ns = clock_ns
        self._lock = threading.Lock()
        self._next_token = 0
        self._pending: dict[int, _Pending] = {}
        self._done: list[Operation] = []

    def begin(self, client_id: int, op: OpKind | str, args: tuple[Any, ...]) -> int:
        """Record the call of ``op(*args)`` by ``client_id``; return a token for its end."""
        kind = validate_call(op, args)
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._pending[token] = _Pending(client_id, kind, args, self._clock_ns())
        return token

    def end(self, token: int, output: Any) -> None:
        """Record that the operation behind ``token`` returned ``output``."""
        return_ns = self._clock_ns()
        self._finish(token, output, return_ns)

    def end_unknown(self, token: int) -> None:
        """Record that the operation's outcome is unknown: it may take effect at any later time."""
        self._finish(token, UNKNOWN_OUTPUT, math.inf)

    def discard(self, token: int) -> None:
        """Forget the operation: it certainly did not take effect and returned nothing."""
        with self._lock:
            del self._pending[token]

    def history(self) -> list[Operation]:
        """The finished operations, plus any still in flight recorded as outcome-unknown."""
        with self._lock:
            in_flight = [Operation(p.client_id, p.kind, p.args, UNKNOWN_OUTPUT, p.call_ns, math.inf)
                         for p in self._pending.values()]
            return self._done + in_flight

    def _finish(self, token: int, output: Any, return_ns: float) -> None:
        with self._lock:
            p = self._pending.pop(token)
            self._done.append(Operation(p.client_id, p.kind, p.args, output, p.call_ns, return_ns))
