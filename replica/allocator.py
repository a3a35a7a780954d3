"""``Allocator``: what a range's leader changes by itself, so the cluster keeps every range
replicated on live nodes and the load spread (CockroachDB's replicate queue and store
rebalancer, in miniature).

A leader asks, now and then (``ReplicaChanger``), ``decide(descriptor, leader node)``; the
answer is a goal the changer then drives like an operator's, or None. In order:

1. **repair**: a voter on a dead, decommissioning or decommissioned node moves to the live node
   holding the fewest replicas that does not hold the range (nothing if there is none: a
   replica is never dropped below the replication factor for lack of a place);
2. **up-replicate**: fewer voters than the replication factor (capped by the nodes not
   decommissioned): add one on the least-loaded usable node;
3. **down-replicate**: more: remove the voter on the most-loaded node;
4. **rebalance** (unless off): move a replica from the most-loaded member node to the
   least-loaded other node while one is outside ``mean * 10% + 1`` of the mean replica count
   and the move narrows the gap; at most one rebalancing move per node per
   ``REBALANCE_INTERVAL``.

``leader_target`` does the same for leadership: a node leading more than its share
(``ceil(leaders / live nodes)``) hands one range at a time to a voter on a node leading less,
at most one per ``LEADER_TRANSFER_INTERVAL``.

The counts come from ``ClusterLoad`` (the node directory's gossip): they lag by a gossip round,
so a decision may be a little off; the next one corrects it. Thread-safe: every replica of the
node shares one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from multiraft.storage.range_descriptor import LEARNER, RangeDescriptor

__all__ = ["Allocator", "ClusterLoad", "NodeLoad", "REBALANCE_INTERVAL",
           "LEADER_TRANSFER_INTERVAL", "USABLE"]

#: Seconds between two rebalancing moves made by one node's leaders.
REBALANCE_INTERVAL = 2.0
#: Seconds between two leader transfers made for balance by one node's leaders.
LEADER_TRANSFER_INTERVAL = 0.5

#: The node state a replica may be placed on.
USABLE = "live"


@dataclass(slots=True, frozen=True)
class NodeLoad:
    """What the allocator knows of a node: its state ("live", "dead", "decommissioning",
    "decommissioned"), and how many replicas and leaders it holds."""

    state: str
    replicas: int
    leaders: int


class ClusterLoad(Protocol):
    """Where the counts come from (the node directory)."""

    def loads(self) -> Mapping[int, NodeLoad]:
        """Every known node's load, by node id."""


class Allocator:
    """Invariant: ``_next_rebalance`` and ``_next_transfer`` are the earliest times this node
    makes its next rebalancing move and balancing transfer; changed under ``_lock``."""

    __slots__ = ("_load", "replication", "rebalance", "_clock", "_lock", "_next_rebalance",
                 "_next_transfer")

    def __init__(self, load: ClusterLoad, replication: int = 3, rebalance: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self.replication = replication
        self.rebalance = rebalance
        self._clock = clock
        self._lock = threading.Lock()
        self._next_rebalance = 0.0
        self._next_transfer = 0.0

    def decide(self, d: RangeDescriptor,
               repair_only: bool = False) -> tuple[str, int, int] | None:
        """The next change range ``d`` needs (a ``replica_change.Goal``), or None; with
        ``repair_only``, only a repair (for a range an operator just changed: what he did
        stays, for a while, unless a node it relies on is dead or leaving)."""
        if d.is_joint():
            return None  # (the changer leaves it first)
        loads = self._load.loads()
        voters = d.voter_nodes()
        usable = {n for n, x in loads.items() if x.state == USABLE}
        # A learner on a usable node comes first: a change begun by a former leader (it added
        # the learner, then lost its leadership) goes on towards the same place.
        outside = sorted((n for n in usable if d.replica_on(n) is None
                          or n in d.learner_nodes()),
                         key=lambda n: (n not in d.learner_nodes(), loads[n].replicas, n))
        bad = [n for n in voters if n not in usable and n in loads]
        # (a dead node may come back: it still counts; a decommissioned one does not)
        staying = [n for n, x in loads.items() if x.state in (USABLE, "dead")]
        want = max(1, min(self.replication, len(staying)))
        if bad and outside:
            return ("move", bad[0], outside[0])
        if repair_only:
            return None
        if len(voters) < want and outside:
            return ("add", 0, outside[0])
        if len(voters) > want:
            victim = max(voters, key=lambda n: (n not in usable, _count(loads, n), n))
            return ("remove", victim, 0)
        if self.rebalance and outside and not bad:
            return self._rebalance(voters, outside, loads, usable)
        return None

    def _rebalance(self, voters: list[int], outside: list[int],
                   loads: Mapping[int, NodeLoad], usable: set[int]) -> tuple[str, int, int] | None:
        mean = sum(loads[n].replicas for n in usable) / len(usable)
        slack = mean * 0.1 + 1
        src = max((n for n in voters if n in usable), key=lambda n: (loads[n].replicas, n),
                  default=None)
        dst = outside[0]
        if src is None:
            return None
        hi, lo = loads[src].replicas, loads[dst].replicas
        if hi - lo < 2 or (hi <= mean + slack and lo >= mean - slack):
            return None
        with self._lock:
            now = self._clock()
            if now < self._next_rebalance:
                return None
            self._next_rebalance = now + REBALANCE_INTERVAL
        return ("move", src, dst)

    def leader_target(self, me: int, d: RangeDescriptor) -> int | None:
        """A node to hand this range's leadership to (its voter there), if node ``me`` leads
        more than its share and that node less; None otherwise (and at most one per
        ``LEADER_TRANSFER_INTERVAL`` for the node)."""
        if not self.rebalance:
            return None
        loads = self._load.loads()
        live = {n: x for n, x in loads.items() if x.state == USABLE}
        if me not in live or len(live) < 2:
            return None
        share = math.ceil(sum(x.leaders for x in live.values()) / len(live))
        if live[me].leaders <= share:
            return None
        candidates = [n for n, r in d.replicas if n != me and n in live
                      and d.role(r) != LEARNER and live[n].leaders < share]
        if not candidates:
            return None
        with self._lock:
            now = self._clock()
            if now < self._next_transfer:
                return None
            self._next_transfer = now + LEADER_TRANSFER_INTERVAL
        return min(candidates, key=lambda n: (live[n].leaders, n))


def _count(loads: Mapping[int, NodeLoad], node: int) -> int:
    x = loads.get(node)
    return 0 if x is None else x.replicas
