"""``ReplicaCounters``: node-wide counters every replica of a node adds to.

Replicas run on whichever thread their design gives them (pooled workers, the transport thread,
process_raft), so these are incremented under a lock. Only rare events are counted here
(refused or dropped inputs), never the hot path. The store reports them with its own counters
(``store.StoreCounters``), so they appear in STATUS and in the metrics.
"""

from __future__ import annotations

import threading

__all__ = ["ReplicaCounters", "Gauge"]


class Gauge:
    """A node-wide level its replicas raise and lower (any thread): e.g. how many ranges the
    node leads, which the node's gossip reports for leader balancing."""

    __slots__ = ("_lock", "value")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, n: int) -> None:
        with self._lock:
            self.value += n


class ReplicaCounters:
    """Invariant: ``_counts`` holds exactly ``NAMES``, each only ever incremented."""

    #: raft messages, heartbeats and snapshot chunks dropped because the replica they claim to
    #: come from does not live, by the range's descriptor, on the node that sent them
    #: ``busy_range_quota``: writes answered BUSY, never proposed, because their range's
    #: proposal quota was used up (commands proposed and not yet applied)
    #: ``busy_pending_limit``: client requests answered BUSY because the node held
    #: max_pending_requests requests already (proposed writes, reads waiting for ReadIndex)
    #: ``range_key_mismatches``: client requests for keys outside the replica's range (a
    #: client's stale cache), answered RANGE_KEY_MISMATCH with the descriptors it knows
    #: ``snapshots_refused_overlap``: snapshots refused because their range overlaps another
    #: initialized range on the node (a split's right half arriving before the split applies)
    #: ``appends_dropped_awaiting_split``: MsgApps an uninitialized replica dropped because a
    #: local range still covers its start key: the split that creates it has yet to apply here
    #: ``replicas_removed``: replicas this node's ranges removed (then destroyed here)
    #: ``messages_for_removed_replicas``: raft messages dropped because they were for a replica
    #: id this node no longer holds (at or below its tombstone, or older than its replica)
    #: ``messages_from_removed_replicas``: raft messages from replicas their range removed,
    #: answered REPLICA_GONE so they destroy themselves
    NAMES = ("raft_sender_mismatches", "busy_range_quota", "busy_pending_limit",
             "range_key_mismatches", "snapshots_refused_overlap", "appends_dropped_awaiting_split",
             "replicas_removed", "messages_for_removed_replicas",
             "messages_from_removed_replicas")

    __slots__ = ("_lock", "_counts", "leading")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(self.NAMES, 0)
        #: how many of the node's replicas lead their range (gossiped for leader balancing)
        self.leading = Gauge()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def get(self, name: str) -> int:
        return self._counts[name]

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
