"""``Histogram``: bucketed observations kept by one actor (no lock: its owner alone writes
it); exported as Prometheus histograms through STATUS and the metrics collector."""

from __future__ import annotations

import bisect
from typing import Any

__all__ = ["Histogram", "LATENCY_BOUNDS", "SIZE_BOUNDS"]

#: seconds: 0.5 ms .. 10 s
LATENCY_BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
#: items per message or frame
SIZE_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class Histogram:
    """Invariant: ``counts[i]`` counts observations in ``(bounds[i-1], bounds[i]]``; the last
    slot counts those above every bound; ``count == sum(counts)``."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def as_dict(self) -> dict[str, Any]:
        return {"bounds": list(self.bounds), "counts": list(self.counts), "sum": self.sum,
                "count": self.count}
