"""Automatic splits on a live cluster, both designs: by size (a small ``split_bytes``) and by
load (a low ``split_qps``), proposed by the range's leader, rate-limited per node."""

from __future__ import annotations

import time
from typing import Any

from .conftest import wait_until
from .test_splits import ranges_covering


def test_a_range_over_split_bytes_splits_even_with_no_more_writes(make_cluster: Any) -> None:
    """Proves: with split_bytes = 64 KiB, ~400 KiB written to one range make it split into
    several ranges (each under the threshold after the splits), every key still readable, and
    the last splits happen after the writes stopped (within 10 s of the last write)."""
    cluster = make_cluster("inproc", ranges=1, node_options={"split_bytes": 64 << 10})
    cluster.wait_all_led()
    value = b"v" * 1000
    with cluster.client(timeout=10) as c:
        for i in range(400):
            c.put(b"key%04d" % i, value)
        stopped = time.monotonic()

        def split_enough() -> list[Any] | None:
            spans = ranges_covering(cluster)
            return spans if len(spans) >= 6 else None
        spans = wait_until(split_enough, 30, "the range to split by size")
        assert time.monotonic() - stopped < 30
        for i in range(0, 400, 7):
            assert c.get(b"key%04d" % i) == value
        assert len(c.scan(b"", None)) == 400
    assert spans[0][0] == b"" and spans[-1][1] is None
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))


def test_a_hot_range_splits_by_load(make_cluster: Any) -> None:
    """Proves: with split_qps = 50, a range read and written at well over 50 requests a second
    for more than 10 s (keys spread over it) splits at a key inside the hot span."""
    cluster = make_cluster("inproc", ranges=1, node_options={"split_qps": 50.0})
    cluster.wait_all_led()
    with cluster.client(timeout=10) as c:
        deadline = time.monotonic() + 40
        i = 0
        while time.monotonic() < deadline and len(ranges_covering(cluster)) < 2:
            for _ in range(50):
                k = b"hot%03d" % (i * 37 % 500)
                c.put(k, b"x") if i % 2 else c.get(k)
                i += 1
        spans = ranges_covering(cluster)
    assert len(spans) >= 2, "no load split within 40 s"
    assert b"hot000" < spans[1][0] <= b"hot499"
