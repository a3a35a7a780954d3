"""Linearizability checker for KV client histories, in the style of Porcupine.

What: decide whether a concurrent history of put / get / delete / cas operations (see
``multiraft.check.history``) is linearizable with respect to a sequential single-register-per-key
model. Why: the cluster tests run many clients against a store whose leaders are killed and
restarted; "every reply looked plausible" is not evidence, a linearizability check is.

How (Wing & Gong's search, with Lowe's and Porcupine's improvements):

- The history is partitioned per key (P-compositionality: a history of independent registers
  is linearizable iff each key's sub-history is) and each partition is checked on its own.
- A partition becomes a doubly linked list of call and return events sorted by time (calls
  before returns on ties, so touching intervals count as concurrent).
- Depth-first search: walking the list from its head, any call met before the first return may
  be linearized next if the model accepts its output; it is then *lifted* (its call and return
  unlinked) and the walk restarts. Meeting a return means the operation that returns there can
  no longer be placed: backtrack (re-link the last lifted operation, try the next candidate).
  Every operation is linearized: the history is linearizable.
- A cache of (set of linearized operations as a bitset, model state) prunes every search state
  already explored: from equal (set, state) pairs the rest of the search is identical.
  Beyond Porcupine, the cache also prunes a state that differs from an explored one only by
  having linearized *more* outcome-unknown operations (see :class:`_Visited`), and the search
  succeeds as soon as every operation with a known outcome is linearized.
- A step budget per key and a global deadline turn hopeless searches into ``UNKNOWN`` rather
  than a hung test.

Outcome-unknown operations (``return_ns = inf``, output ``UNKNOWN_OUTPUT``) match any result
and, returning "at infinity", can always be placed last, where their effect is invisible: they
may take effect or not. Each one left pending still doubles the states a failing search must
visit on its key, so a key with many of them (dozens) can end up ``UNKNOWN``. Outcome-unknown reads constrain nothing, so they are dropped up front.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from multiraft.check.history import UNKNOWN_OUTPUT, OpKind, Operation

__all__ = ["Verdict", "CheckResult", "check_linearizable", "partition_by_key", "kv_step"]

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_STEPS_PER_KEY = 2_000_000
_CLOCK_CHECK_EVERY = 4096  # steps between two looks at the deadline


def kv_step(state: Any, op: Operation) -> tuple[bool, Any]:
    """The sequential model of one key: ``state`` is its value, ``None`` when absent.

    Return whether ``op`` with its recorded output is legal in ``state``, and the state after it.
    An output of ``UNKNOWN_OUTPUT`` matches whatever the operation would have returned.
    """
    unknown = op.output is UNKNOWN_OUTPUT
    match op.kind:
        case OpKind.PUT:
            return True, op.args[1]
        case OpKind.DELETE:
            return True, None
        case OpKind.GET:
            return unknown or op.output == state, state
        case OpKind.CAS:
            _, expected, new = op.args
            swapped = state == expected
            return unknown or op.output == swapped, new if swapped else state
    raise ValueError(f"unknown operation kind {op.kind!r}")


class Verdict(enum.Enum):
    """Whether the history is linearizable: yes, no, or the search gave up."""

    OK = "ok"
    ILLEGAL = "illegal"
    UNKNOWN = "unknown"


@dataclass(slots=True, frozen=True)
class CheckResult:
    """The checker's answer.

    ``key`` is the key whose sub-history is not linearizable (``ILLEGAL``) or could not be
    decided (``UNKNOWN``); ``explanation`` says why in a form fit for an assertion message.
    ``str(result)`` is that message. Illegal wins over unknown when both occur.
    """

    verdict: Verdict
    key: Hashable | None
    explanation: str
    operations: int
    partitions: int
    steps: int

    @property
    def ok(self) -> bool:
        """The history is linearizable."""
        return self.verdict is Verdict.OK

    @property
    def illegal(self) -> bool:
        """The history is not linearizable: ``key`` and ``explanation`` say where."""
        return self.verdict is Verdict.ILLEGAL

    @property
    def unknown(self) -> bool:
        """The search ran out of steps or time before deciding."""
        return self.verdict is Verdict.UNKNOWN

    def __str__(self) -> str:
        summary = (f"{self.verdict.value}: {self.operations} operations on {self.partitions} keys,"
                   f" {self.steps} search steps")
        return f"{summary}\n{self.explanation}" if self.explanation else summary


def check_linearizable(history: Iterable[Operation], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                       max_steps_per_key: int = DEFAULT_MAX_STEPS_PER_KEY) -> CheckResult:
    """Check a KV history, one key at a time; stop at the first illegal key.

    ``max_steps_per_key`` bounds the search of each key (a key over budget is ``UNKNOWN`` and the
    others are still checked); ``timeout_s`` bounds the whole check.
    """
    partitions = partition_by_key(history)
    operations = sum(map(len, partitions.values()))
    deadline = time.monotonic() + timeout_s
    steps = 0
    undecided: _Search | None = None
    for key, ops in partitions.items():
        search = _Search(key, ops, max_steps_per_key, deadline)
        verdict = search.run()
        steps += search.steps
        if verdict is Verdict.ILLEGAL:
            return CheckResult(verdict, key, search.explain(), operations, len(partitions), steps)
        if verdict is Verdict.UNKNOWN:
            undecided = undecided or search
            if time.monotonic() >= deadline:
                break
    if undecided is not None:
        return CheckResult(Verdict.UNKNOWN, undecided.key, undecided.explain(), operations,
                           len(partitions), steps)
    return CheckResult(Verdict.OK, None, "", operations, len(partitions), steps)


def partition_by_key(history: Iterable[Operation]) -> dict[Hashable, list[Operation]]:
    """Split the history per key, in order of first appearance; drop outcome-unknown reads."""
    partitions: dict[Hashable, list[Operation]] = {}
    for op in history:
        if op.kind is OpKind.GET and not op.outcome_known:
            continue
        partitions.setdefault(op.key, []).append(op)
    return partitions


class _Event:
    """A call or return event in the search's doubly linked list.

    A call event's ``match`` is its return event; a return event's ``match`` is ``None``. The
    list runs from a head sentinel to a tail sentinel, so every real event has a ``prev`` and a
    ``next`` (a sentinel points at itself where it has no neighbour).
    """

    __slots__ = ("op_id", "match", "prev", "next")

    def __init__(self, op_id: int, match: _Event | None = None) -> None:
        self.op_id = op_id
        self.match = match
        self.prev: _Event = self
        self.next: _Event = self


def _linked_events(ops: Sequence[Operation]) -> _Event:
    """Build the time-ordered event list of ``ops``; return its head sentinel."""
    returns = [_Event(i) for i in range(len(ops))]
    calls = [_Event(i, returns[i]) for i in range(len(ops))]
    order = sorted([(op.call_ns, 0, i) for i, op in enumerate(ops)]
                   + [(op.return_ns, 1, i) for i, op in enumerate(ops)])
    head = prev = _Event(-1)
    for _, is_return, i in order:
        event = returns[i] if is_return else calls[i]
        event.prev, prev.next = prev, event
        prev = event
    tail = _Event(-1)
    tail.prev, prev.next = prev, tail
    return head


def _return_of(call: _Event) -> _Event:
    ret = call.match
    if ret is None:
        raise AssertionError(f"event of operation {call.op_id} is a return, not a call")
    return ret


def _lift(call: _Event) -> None:
    """Unlink a call event and its return event: the operation is linearized."""
    call.prev.next = call.next
    call.next.prev = call.prev  # a call is always followed, at least by its return
    ret = _return_of(call)
    ret.prev.next = ret.next
    ret.next.prev = ret.prev


def _unlift(call: _Event) -> None:
    """Undo :func:`_lift` of ``call`` (in reverse order, so adjacent events relink right)."""
    ret = _return_of(call)
    ret.prev.next = ret
    ret.next.prev = ret
    call.prev.next = call
    call.next.prev = call


@dataclass(slots=True, frozen=True)
class _DeadEnd:
    """The deepest point the search reached: why the history could not be extended there."""

    prefix: tuple[int, ...]  # linearized operations, in order
    state: Any  # model state after the prefix
    stuck: int  # operation whose return was reached before it could be linearized
    pending: tuple[int, ...]  # operations that could have gone next, none of which fit


class _Visited:
    """The search states already explored, with subsumption for outcome-unknown operations.

    A state is (set of linearized operations, model state). Two states with the same model state
    and the same linearized known-outcome operations, where the first has linearized a subset of
    the second's outcome-unknown operations, stand in simulation: every continuation of the second
    works from the first, with the extra outcome-unknown operations appended at the end (they
    match any output and nothing must follow them). So once the first was explored, the second
    need not be. With equal sets this is Porcupine's cache.
    """

    __slots__ = ("_unknown_mask", "_seen")

    def __init__(self, ops: Sequence[Operation]) -> None:
        self._unknown_mask = sum(1 << i for i, op in enumerate(ops) if not op.outcome_known)
        self._seen: dict[tuple[int, Any], list[int]] = {}

    def add_if_new(self, linearized: int, state: Any) -> bool:
        """Record the state; False if an explored state already covers it."""
        unknown = linearized & self._unknown_mask
        explored = self._seen.setdefault((linearized ^ unknown, state), [])
        if any(earlier & ~unknown == 0 for earlier in explored):
            return False
        explored.append(unknown)
        return True


class _Search:
    """The backtracking search over one key's sub-history."""

    def __init__(self, key: Hashable, ops: list[Operation], max_steps: int,
                 deadline: float) -> None:
        self.key = key
        self.ops = ops
        self.max_steps = max_steps
        self.deadline = deadline
        self.steps = 0
        self.verdict: Verdict | None = None
        self.deepest: _DeadEnd | None = None

    def run(self) -> Verdict:
        """Search for a linearization; the verdict for this key (also kept in ``verdict``)."""
        self.verdict = self._search()
        return self.verdict

    def _search(self) -> Verdict:
        ops, max_steps, deadline = self.ops, self.max_steps, self.deadline
        head = _linked_events(ops)
        state: Any = None  # every key starts absent
        linearized = 0  # bitset of op ids
        visited = _Visited(ops)
        known_left = sum(op.outcome_known for op in ops)
        lifted: list[tuple[_Event, Any]] = []  # (call event, state before it)
        entry = head.next
        while known_left:
            self.steps += 1
            if self.steps > max_steps or (self.steps % _CLOCK_CHECK_EVERY == 0
                                          and time.monotonic() >= deadline):
                return Verdict.UNKNOWN
            if entry.match is not None:  # a call: try to linearize its operation now
                legal, new_state = kv_step(state, ops[entry.op_id])
                if legal:
                    new_linearized = linearized | (1 << entry.op_id)
                    if visited.add_if_new(new_linearized, new_state):
                        known_left -= ops[entry.op_id].outcome_known
                        lifted.append((entry, state))
                        state, linearized = new_state, new_linearized
                        _lift(entry)
                        entry = head.next
                        continue
                entry = entry.next
            else:  # a return: its operation cannot be placed after the current prefix
                self._note_dead_end(head, entry, lifted, state)
                if not lifted:
                    return Verdict.ILLEGAL
                entry, state = lifted.pop()
                linearized &= ~(1 << entry.op_id)
                known_left += ops[entry.op_id].outcome_known
                _unlift(entry)
                entry = entry.next
        return Verdict.OK

    def _note_dead_end(self, head: _Event, ret: _Event, lifted: list[tuple[_Event, Any]],
                       state: Any) -> None:
        """Remember the dead end if it is the deepest so far (for the explanation)."""
        if self.deepest is not None and len(lifted) <= len(self.deepest.prefix):
            return
        pending = []
        event = head.next
        while event is not ret:
            if event.match is not None:
                pending.append(event.op_id)
            event = event.next
        self.deepest = _DeadEnd(tuple(call.op_id for call, _ in lifted), state, ret.op_id,
                                tuple(pending))

    def explain(self) -> str:
        """Why this key failed (deepest dead end) or was left undecided (the budget)."""
        if self.deepest is None:
            return (f"key {self.key!r}: undecided after {self.steps} steps "
                    f"(step budget {self.max_steps} or the deadline)")
        origin = min(op.call_ns for op in self.ops)
        dead_end = self.deepest
        lines = [f"key {self.key!r}: {len(self.ops)} operations, not linearizable"
                 if self.verdict is Verdict.ILLEGAL else
                 f"key {self.key!r}: undecided after {self.steps} steps; deepest dead end so far:",
                 f"longest linearizable prefix ({len(dead_end.prefix)} operations; times in ms):"]
        lines += [f"  {n}. {self.ops[i].describe(origin)}" for n, i in enumerate(dead_end.prefix, 1)]
        lines.append(f"state after it: {dead_end.state!r}; next, this operation had to take "
                     f"effect before returning:")
        lines.append(f"  {self.ops[dead_end.stuck].describe(origin)}")
        lines.append("but none of the operations that could go next fits (or all were explored):")
        lines += [f"  - {self.ops[i].describe(origin)}" for i in dead_end.pending]
        return "\n".join(lines)
