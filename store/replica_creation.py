"""``ReplicaCreationPolicy``: when a store may create a replica for a range it does not hold.

A store creates a replica on first contact: a range's leader (or a candidate) reaches a node
that holds no replica of it yet. Creating one for *any* message would let a flood of random
range ids exhaust the node's memory, so both designs ask this policy first (etcd's and
CockroachDB's rule, plus limits):

- the sender must be a known node (in the node directory: it changes as nodes join, see
  ``store.node_directory``; a fixed set of ids in tests);
- the message must be one a range's leader or candidate sends (MsgApp, heartbeat, snapshot,
  vote, pre-vote), with a term > 0 and addressed to a real replica id (not raft's 0);
- at most ``rate`` new replicas per second per sending node (a token bucket holding one
  second's worth, at least one), and at most ``max_uninitialized`` uninitialized replicas at once.

A replica so created is uninitialized until its snapshot brings it a descriptor
(``initialized``). One still uninitialized ``ttl`` seconds after its creation is handed back by
``expired`` for the store to drop (with its raft state: see ``ReplicaCore.drop_if_uninitialized``);
if its range really exists, its leader contacts the node again and it is created again.
Every refusal is counted in the store's counters.

Not thread-safe: its store calls it from the store's actor or with the store's mutex held.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable

from multiraft.raft.types import MessageType as MT

from .counters import StoreCounters

__all__ = ["ReplicaCreationPolicy", "CreationLimits", "CREATING_MESSAGES",
           "DEFAULT_REPLICA_CREATION_RATE", "DEFAULT_MAX_UNINITIALIZED_REPLICAS",
           "DEFAULT_UNINITIALIZED_REPLICA_TTL"]

#: The messages that may create a replica: what a range's leader or candidate sends.
CREATING_MESSAGES = frozenset({MT.APP, MT.SNAP, MT.HEARTBEAT, MT.VOTE, MT.PRE_VOTE})

#: New replicas per second per sending node (and its burst): a node joining a cluster of
#: thousands of ranges gets them all within a minute or so; a flood gets 100 a second.
DEFAULT_REPLICA_CREATION_RATE = 100.0
#: Uninitialized replicas at once: each is a RawNode and a few dicts (a few KiB).
DEFAULT_MAX_UNINITIALIZED_REPLICAS = 1_000
#: Seconds an uninitialized replica may wait for its snapshot: a real range's leader sends it
#: within a few heartbeats; this leaves room for a slow snapshot of a large range.
DEFAULT_UNINITIALIZED_REPLICA_TTL = 60.0


class CreationLimits:
    """The policy's settings, as ``NodeConfig`` gives them."""

    __slots__ = ("rate", "max_uninitialized", "ttl")

    def __init__(self, rate: float = DEFAULT_REPLICA_CREATION_RATE,
                 max_uninitialized: int = DEFAULT_MAX_UNINITIALIZED_REPLICAS,
                 ttl: float = DEFAULT_UNINITIALIZED_REPLICA_TTL) -> None:
        self.rate, self.max_uninitialized, self.ttl = rate, max_uninitialized, ttl

    def policy(self, known_nodes: Container[int] | Iterable[int], counters: StoreCounters,
               clock: Callable[[], float] = time.monotonic) -> ReplicaCreationPolicy:
        return ReplicaCreationPolicy(known_nodes, counters, rate=self.rate,
                                     max_uninitialized=self.max_uninitialized, ttl=self.ttl,
                                     clock=clock)


class ReplicaCreationPolicy:
    """Invariants: ``_uninitialized`` maps each replica created through ``admit`` and neither
    initialized nor removed since to the time it may be dropped, and never holds more than
    ``max_uninitialized``; ``_buckets`` maps a node to its (tokens, time of last refill)."""

    __slots__ = ("rate", "max_uninitialized", "ttl", "_known", "_counters", "_clock", "_buckets",
                 "_uninitialized", "_next_due")

    def __init__(self, known_nodes: Container[int] | Iterable[int], counters: StoreCounters, *,
                 rate: float,
                 max_uninitialized: int, ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or max_uninitialized <= 0 or ttl <= 0:
            raise ValueError("replica creation needs a positive rate, cap and ttl")
        self.rate = rate
        self.max_uninitialized = max_uninitialized
        self.ttl = ttl
        #: asked on every creation: a live container (the node directory) sees nodes that
        #: join later; a plain iterable of ids is frozen
        self._known: Container[int] = (known_nodes if isinstance(known_nodes, Container)
                                       and not isinstance(known_nodes, (list, tuple))
                                       else frozenset(known_nodes))
        self._counters = counters
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}
        self._uninitialized: dict[int, float] = {}
        self._next_due = float("inf")

    @property
    def uninitialized(self) -> int:
        """How many replicas created on first contact still wait for their snapshot."""
        return len(self._uninitialized)

    def admit(self, from_node: int, range_id: int, msg_type: MT, term: int,
              to_replica: int | None = None) -> bool:
        """Whether a ``msg_type`` message of ``term`` from ``from_node`` (to replica
        ``to_replica``, if given) may create a replica of ``range_id``; if so it is counted as
        uninitialized from now on. A refusal is counted by its reason."""
        c = self._counters
        if from_node not in self._known:
            c.replica_create_refused_unknown_node += 1
            return False
        if msg_type not in CREATING_MESSAGES or term <= 0 or to_replica == 0:
            c.replica_create_refused_type += 1
            return False
        if len(self._uninitialized) >= self.max_uninitialized:
            c.replica_create_refused_cap += 1
            return False
        now = self._clock()
        burst = max(1.0, self.rate)
        tokens, last = self._buckets.get(from_node, (burst, now))
        tokens = min(burst, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[from_node] = (tokens, now)
            c.replica_create_refused_rate += 1
            return False
        self._buckets[from_node] = (tokens - 1, now)
        due = now + self.ttl
        self._uninitialized[range_id] = due
        self._next_due = min(self._next_due, due)
        return True

    def initialized(self, range_id: int) -> None:
        """The range's replica has a descriptor now: it no longer counts."""
        self._uninitialized.pop(range_id, None)

    def removed(self, range_id: int) -> None:
        """The range's replica is gone."""
        self._uninitialized.pop(range_id, None)

    def expired(self) -> list[int]:
        """The uninitialized replicas past their time, for the store to drop. Each is handed
        back once and then again a ``ttl`` later while it is still there (a replica busy with
        a snapshot refuses to go)."""
        now = self._clock()
        if now < self._next_due:
            return []
        out = [rid for rid, due in self._uninitialized.items() if due <= now]
        for rid in out:
            self._uninitialized[rid] = now + self.ttl
        self._next_due = min(self._uninitialized.values(), default=float("inf"))
        return out
