"""The plain counters a store and a storage writer keep, read by STATUS and the metrics."""

from __future__ import annotations

from typing import Any

from multiraft.replica.counters import ReplicaCounters
from multiraft.replica.histogram import LATENCY_BOUNDS, SIZE_BOUNDS, Histogram

__all__ = ["StoreCounters", "WriterCounters"]

#: the plain int counters of ``StoreCounters``, in the order STATUS lists them
_COUNTS = ("dropped_unknown_range", "replicas_created", "heartbeat_frames_sent",
           "heartbeats_sent", "heartbeat_responses_sent", "client_requests", "range_not_found",
           # why a message for an unknown range created no replica (store.replica_creation)
           "replica_create_refused_unknown_node", "replica_create_refused_type",
           "replica_create_refused_rate", "replica_create_refused_cap",
           # replicas dropped because they stayed uninitialized past the ttl
           "uninitialized_replicas_removed",
           # splits applied by this node's replicas (their right-hand replicas started here)
           "splits",
           # replicas removed from their range and destroyed here (tombstone written)
           "replicas_destroyed")


class StoreCounters:
    """Written only by whoever owns the store (its actor, or under its mutex); ``replicas``
    holds the counters the node's replicas add to (thread-safe), reported with these."""

    __slots__ = (*_COUNTS, "heartbeat_frame_size", "replicas")

    def __init__(self, replicas: ReplicaCounters | None = None) -> None:
        self.dropped_unknown_range = self.replicas_created = self.heartbeat_frames_sent = 0
        self.heartbeats_sent = self.heartbeat_responses_sent = 0
        self.client_requests = self.range_not_found = 0
        self.replica_create_refused_unknown_node = self.replica_create_refused_type = 0
        self.replica_create_refused_rate = self.replica_create_refused_cap = 0
        self.uninitialized_replicas_removed = self.splits = self.replicas_destroyed = 0
        self.heartbeat_frame_size = Histogram(SIZE_BOUNDS)
        self.replicas = ReplicaCounters() if replicas is None else replicas

    def as_dict(self) -> dict[str, int]:
        return {**{n: getattr(self, n) for n in _COUNTS}, **self.replicas.as_dict()}

    def histograms(self) -> dict[str, dict[str, Any]]:
        return {"heartbeat_frame_size": self.heartbeat_frame_size.as_dict()}


class WriterCounters:
    """Written only by the storage writer; ``fsync_latency`` also gives the fsync count and sum."""

    __slots__ = ("groups", "batches", "fsync_latency", "group_size")

    def __init__(self) -> None:
        self.groups = self.batches = 0
        self.fsync_latency = Histogram(LATENCY_BOUNDS)
        self.group_size = Histogram(SIZE_BOUNDS)

    def record(self, group_size: int, sync_seconds: float | None) -> None:
        """One group committed: ``group_size`` batches, fsynced in ``sync_seconds`` (or not)."""
        self.groups += 1
        self.batches += group_size
        self.group_size.observe(group_size)
        if sync_seconds is not None:
            self.fsync_latency.observe(sync_seconds)

    def as_dict(self) -> dict[str, Any]:
        return {"groups": self.groups, "batches": self.batches,
                "fsync_latency_seconds": self.fsync_latency.as_dict(),
                "group_size_batches": self.group_size.as_dict()}
