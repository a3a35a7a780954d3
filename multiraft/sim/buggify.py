"""``Buggify``: the simulation's side of the node's fault points (``store.fault_points``).

As in FoundationDB, each fault point is switched on for a whole run or not (half the seeds
each), and a point that is on fires now and then: the work it guards runs a few virtual
milliseconds later, as an event of its own. So each seed explores a different mix of slow
acknowledgements and descheduled actors.
"""

from __future__ import annotations

from collections.abc import Callable

from multiraft.store.fault_points import FaultPoint

from .world import World

__all__ = ["Buggify"]

#: how often a point that is on fires, per call
_RATES = {FaultPoint.DELAY_WRITE_ACK: 0.05, FaultPoint.DELAY_MAILBOX_TURN: 0.02}


class Buggify:
    """Invariant: only the points in ``on`` ever fire; ``fired`` counts each one's firings."""

    def __init__(self, world: World, enabled: bool = True) -> None:
        self.world = world
        rng = world.rng
        self.on = frozenset(p for p in FaultPoint if enabled and rng.random() < 0.5)
        self.fired = dict.fromkeys(FaultPoint, 0)

    def delay(self, point: FaultPoint, later: Callable[[], None]) -> bool:
        if point not in self.on:
            return False
        rng = self.world.rng
        if rng.random() >= _RATES[point]:
            return False
        self.fired[point] += 1
        self.world.after(rng.uniform(0.0005, 0.03), later)
        return True
