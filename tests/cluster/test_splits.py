"""Range splits on a live cluster, both designs (issue 13).

A split is one command on the left range, applied by every replica at the same index; the
right-hand range gets its own id, the same replicas and the left's sessions, and its replica on
the node that led the left campaigns, so it serves within about an election timeout."""

from __future__ import annotations

import time
from typing import Any

import pytest

from multiraft.errors import RangeBoundary

from .conftest import key_in, wait_until


def ranges_covering(cluster: Any) -> list[tuple[bytes, bytes | None, int]]:
    """(start, end, range id) of every initialized range any node reports, newest generation
    per range, sorted by start."""
    newest: dict[int, dict[str, Any]] = {}
    for st in cluster.statuses().values():
        for r in st["ranges"]:
            if r["start_key"] is None:
                continue
            cur = newest.get(r["range_id"])
            if cur is None or r["generation"] > cur["generation"]:
                newest[r["range_id"]] = r
    return sorted((r["start_key"], r["end_key"] or None, rid) for rid, r in newest.items())


def write_and_split(cluster: Any, keys: list[bytes]) -> None:
    """Write each key (its own value), then split at every key but the first."""
    with cluster.client(timeout=10) as c:
        for k in keys:
            c.put(k, k)
        for k in keys[1:]:
            c.split(k)


def test_split_then_read_and_write_both_halves(make_cluster: Any) -> None:
    """Proves: after ``split(key)`` the key space is tiled by the two halves (generation + 1
    each, same replicas), keys written before the split read back from either half, new writes
    to both halves apply, and every node holds a replica of the new range."""
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    with cluster.client(timeout=10) as c:
        for i in range(20):
            c.put(b"k%02d" % i, b"before-%d" % i)
        left, right = c.split(b"k10")
        assert left[1:] == (b"", b"k10", 1) and right[1:] == (b"k10", b"", 1)
        assert right[0] != left[0]
        for i in range(20):
            assert c.get(b"k%02d" % i) == b"before-%d" % i
            c.put(b"k%02d" % i, b"after-%d" % i)
        assert c.scan(b"", None) == [(b"k%02d" % i, b"after-%d" % i) for i in range(20)]
    wait_until(lambda: all(
        any(r["range_id"] == right[0] and r["start_key"] == b"k10" for r in st["ranges"])
        for st in cluster.statuses().values()) or None, 20, "every node to hold the new range")
    assert ranges_covering(cluster) == [(b"", b"k10", left[0]), (b"k10", None, right[0])]


def test_splitting_at_a_range_start_is_refused(make_cluster: Any) -> None:
    """Proves: splitting at the start of the key space, or at an existing boundary, is
    ``Refused`` and changes nothing."""
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    with cluster.client(timeout=10) as c:
        with pytest.raises(RangeBoundary, match="already starts"):
            c.split(b"")
        c.split(b"m")
        with pytest.raises(RangeBoundary, match="already starts"):
            c.split(b"m")
    assert [r[:2] for r in ranges_covering(cluster)] == [(b"", b"m"), (b"m", None)]


def test_many_splits_in_a_row_serve_every_key(make_cluster: Any) -> None:
    """Proves: 30 splits in a row (each at a key of the newest right-hand range) leave 31 ranges
    tiling the key space, each with a leader, every key readable and writable."""
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    keys = [b"s%03d" % i for i in range(0, 300, 10)]
    write_and_split(cluster, keys)
    with cluster.client(timeout=10) as c:
        for k in keys:
            assert c.get(k) == k
            c.put(k, k + b"!")
        assert [k for k, _ in c.scan(b"", None)] == keys
    spans = ranges_covering(cluster)
    assert len(spans) == len(keys)
    assert [s for s, _, _ in spans] == [b""] + keys[1:]
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(cluster.leaders()) < len(keys):
        time.sleep(0.2)
    assert len(cluster.leaders()) == len(keys)


def test_lookup_by_key_finds_a_range_without_full_status(make_cluster: Any) -> None:
    """Proves: any node answers LOOKUP(key) with the descriptor of the key's range (from its
    own replica, leader or not) and a leader hint, and a new ``Client`` reads every key after
    10 splits."""
    from multiraft.transport.client import ClientConnection
    from multiraft.transport.client_protocol import ClientOp, ClientStatus

    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    keys = [b"l%02d" % i for i in range(0, 100, 10)]
    write_and_split(cluster, keys)
    for node, addr in cluster.client_addr.items():
        with ClientConnection(addr) as conn:
            resp = wait_until(lambda: (lambda r: r if r.status is ClientStatus.OK and any(
                d[1] == b"l50" for d in r.result[0]) else None)(
                conn.request(ClientOp.LOOKUP, (b"l55",), timeout=5)), 20, "a LOOKUP answer")
        (rid, start, end, gen), *_ = resp.result[0]
        assert (start, end) == (b"l50", b"l60") and gen >= 1 and resp.result[1] in (1, 2, 3)
    with cluster.client(timeout=10) as fresh:
        assert [fresh.get(k) for k in keys] == keys
