"""``World``: the simulation's one thread of control.

A virtual clock, one seeded random source, and a queue of timed events. Everything in a
simulated cluster happens as an event: a mailbox turn, a frame arriving, a tick, a client's
request, a crash. The queue orders events by time, then by when they were scheduled, so a run
is a pure function of its seed. Each event's time and name go into ``trace_hash``: two runs of
one seed that diverge anywhere have different hashes.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections.abc import Callable
from typing import Any

__all__ = ["World"]

#: 2026-01-01T00:00:00Z, in ms: the simulated wall clock's origin (session stamps)
_EPOCH_MS = 1_767_225_600_000


def _name(fn: Callable[..., None]) -> str:
    """What the trace calls an event: its function's qualified name (a partial's function's)."""
    inner = getattr(fn, "func", fn)
    return str(getattr(inner, "__qualname__", type(inner).__qualname__))


class World:
    """Invariant: every queued event's time is at least ``now`` (time never goes back)."""

    __slots__ = ("now", "rng", "events", "_queue", "_seq", "_trace")

    def __init__(self, seed: int) -> None:
        #: virtual seconds since the simulation began
        self.now = 0.0
        self.rng = random.Random(seed)
        #: events run so far
        self.events = 0
        self._queue: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._trace = hashlib.blake2b(digest_size=16)

    def clock(self) -> float:
        """The virtual monotonic clock (seconds): what the nodes read as ``time.monotonic``."""
        return self.now

    def wall_clock_ms(self) -> int:
        """The virtual wall clock (ms since the epoch)."""
        return _EPOCH_MS + int(self.now * 1000)

    def after(self, delay: float, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` ``delay`` virtual seconds from now (0: after what is due now)."""
        self._seq += 1
        heapq.heappush(self._queue, (self.now + max(0.0, delay), self._seq, fn, args))

    def note(self, text: str) -> None:
        """Add ``text`` to the trace (what happened, beyond which events ran when)."""
        self._trace.update(text.encode())

    @property
    def idle(self) -> bool:
        return not self._queue

    def step(self) -> bool:
        """Run the next event; False if none is queued."""
        if not self._queue:
            return False
        at, _, fn, args = heapq.heappop(self._queue)
        self.now = at
        self.events += 1
        try:
            name = fn.__qualname__
        except AttributeError:
            name = _name(fn)
        self._trace.update(f"{at:.6f} {name};".encode())
        fn(*args)
        return True

    def run_until(self, t: float, max_events: int | None = None) -> None:
        """Run events until virtual time ``t`` (or ``max_events`` more events have run)."""
        stop = None if max_events is None else self.events + max_events
        while self._queue and self._queue[0][0] <= t:
            if stop is not None and self.events >= stop:
                return
            self.step()
        if stop is None or self.events < stop:
            self.now = max(self.now, t)

    @property
    def trace_hash(self) -> str:
        return self._trace.hexdigest()
