"""``Liveness``: which peer nodes a store has not heard from lately, counted in ticks.

Every coalesced heartbeat frame (sent to each peer every tick, empty when its ranges are
quiesced) is a liveness ping, so silence for ``period`` ticks means the node is down or cut
off: the store then wakes the quiesced replicas whose leader is there.

A tick that comes long after the one before (``PAUSE_SECONDS``: the process was stopped, a
SIGSTOP or a stalled VM) is a pause this node slept through: its quiesced replicas may have
been removed from their ranges meanwhile without a word (``paused``), so the store has them ask.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Liveness", "PAUSE_SECONDS"]

#: A gap between two ticks this long means the node was paused.
PAUSE_SECONDS = 5.0


class Liveness:
    """Invariant: ``silent`` holds the peers not heard from for more than ``period`` ticks
    (reported once each time they fall silent)."""

    __slots__ = ("period", "ticks", "_last_heard", "silent", "_unreachable_told", "_clock",
                 "_last_tick_at", "paused")

    def __init__(self, peers: list[int], period: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self.ticks = 0
        self._clock = clock
        self._last_tick_at = clock()
        #: whether the last tick came ``PAUSE_SECONDS`` or more after the one before
        self.paused = False
        self._last_heard = dict.fromkeys(peers, 0)
        self.silent: set[int] = set()
        self._unreachable_told: dict[int, int] = {}

    def track(self, nodes: list[int]) -> None:
        """Watch ``nodes`` too (nodes that joined since): one never heard from falls silent a
        period from now."""
        for node in nodes:
            if node not in self._last_heard:
                self._last_heard[node] = self.ticks

    def heard(self, node: int) -> None:
        self._last_heard[node] = self.ticks
        self.silent.discard(node)

    def tick(self) -> list[int]:
        """Advance one tick; the nodes that just fell silent, and 0 once, a period after start
        (the signal for replicas that still know no leader)."""
        self.ticks += 1
        now = self._clock()
        self.paused = now - self._last_tick_at >= PAUSE_SECONDS
        self._last_tick_at = now
        out = [0] if self.ticks == self.period else []
        for node, last in self._last_heard.items():
            if self.ticks - last > self.period and node not in self.silent:
                self.silent.add(node)
                out.append(node)
        return out

    def should_report_unreachable(self, node: int) -> bool:
        """Whether to pass a transport 'unreachable' on to replicas: once per period per node
        (the transport reports every dropped frame; raft only needs to hear it once)."""
        last = self._unreachable_told.get(node)
        if last is not None and self.ticks - last < self.period:
            return False
        self._unreachable_told[node] = self.ticks
        return True
