"""Fault injection: drop, delay and partition traffic by (from, to) node pair, at run time.

A ``FaultInjector`` is handed to a ``Transport`` (or shared by several in one process); the
transport consults it for every outgoing frame, on its own thread, only when one was given,
so production pays one ``None`` check. Faults apply on the sending side: to cut a link in both
directions, the rules must reach both ends (``partition`` sets both pairs; separate processes
each need the call). A dropped frame is lost silently, as in a real partition; raft retransmits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["LinkFault", "FaultInjector"]


@dataclass(slots=True, frozen=True)
class LinkFault:
    """What happens to frames on one directed link."""

    #: probability in [0, 1] that a frame is dropped.
    drop: float = 0.0
    #: seconds each frame is held before it is sent (order on the link is kept).
    delay: float = 0.0
    #: every frame is dropped.
    partitioned: bool = False


class FaultInjector:
    """Per-link fault rules, switched from any thread.

    Invariant: ``_rules`` is never mutated in place, only replaced, so the transport thread
    always reads a consistent dict without a lock.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rules: dict[tuple[int, int], LinkFault] = {}
        self._rng = random.Random(seed)

    def set(self, src: int, dst: int, fault: LinkFault | None) -> None:
        """Set (or with ``None`` clear) the fault of the link ``src -> dst``."""
        rules = dict(self._rules)
        if fault is None:
            rules.pop((src, dst), None)
        else:
            rules[(src, dst)] = fault
        self._rules = rules

    def partition(self, a: int, b: int) -> None:
        """Cut the link between ``a`` and ``b`` in both directions."""
        self.set(a, b, LinkFault(partitioned=True))
        self.set(b, a, LinkFault(partitioned=True))

    def heal(self) -> None:
        """Clear every rule."""
        self._rules = {}

    def verdict(self, src: int, dst: int) -> float | None:
        """For one frame on ``src -> dst``: ``None`` to drop it, else seconds to hold it."""
        fault = self._rules.get((src, dst))
        if fault is None:
            return 0.0
        if fault.partitioned or (fault.drop and self._rng.random() < fault.drop):
            return None
        return fault.delay
