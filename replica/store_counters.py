"""``StoreCounters``: a store's plain counters, read by STATUS and the metrics."""

from __future__ import annotations

from .histogram import SIZE_BOUNDS, Histogram

__all__ = ["StoreCounters"]


class StoreCounters:
    """Written only by whoever owns the store (its actor, or under its mutex)."""

    __slots__ = ("dropped_unknown_range", "replicas_created", "heartbeat_frames_sent",
                 "heartbeats_sent", "heartbeat_responses_sent", "client_requests",
                 "range_not_found", "heartbeat_frame_size")

    def __init__(self) -> None:
        self.dropped_unknown_range = self.replicas_created = self.heartbeat_frames_sent = 0
        self.heartbeats_sent = self.heartbeat_responses_sent = 0
        self.client_requests = self.range_not_found = 0
        self.heartbeat_frame_size = Histogram(SIZE_BOUNDS)

    def as_dict(self) -> dict[str, int]:
        return {n: getattr(self, n) for n in self.__slots__ if n != "heartbeat_frame_size"}

    def histograms(self) -> dict[str, dict]:
        return {"heartbeat_frame_size": self.heartbeat_frame_size.as_dict()}
