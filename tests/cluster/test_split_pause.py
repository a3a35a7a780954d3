"""Issue 13, "Must show": a follower paused (SIGSTOP) through a split serves the new range after
it resumes (both designs, real node processes). It is paused through three splits: of the
range, of its right half (a range the paused node has never seen) and of its left half."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from .conftest import NODE_IDS, ProcessCluster, wait_until
from .split_faults import replica

#: how long the follower stays paused after the split (seconds): several election timeouts
#: (50 ms ticks, 10-20 ticks), so the new range elects and serves without it
PAUSE_S = 3.0


def test_follower_paused_through_a_split_serves_the_new_range(make_cluster: Any) -> None:
    """Proves: with one follower SIGSTOPped before three splits and SIGCONTed after them, (1) the
    splits and writes to every range succeed while it is paused; (2) after it resumes, it holds
    an initialized replica of each new range (exactly the splits' spans) that catches up to its
    leader's applied index; (3) with another node then killed (SIGKILL), every range still
    takes writes and reads back every acknowledged one, which needs the resumed node's vote and
    data (it is one of the two nodes left)."""
    cluster = make_cluster("procs", ranges=1)
    assert isinstance(cluster, ProcessCluster)
    leader = cluster.wait_all_led()[1]
    paused = next(n for n in NODE_IDS if n != leader)
    other = next(n for n in NODE_IDS if n not in (leader, paused))
    pid = cluster.procs[paused].pid
    with cluster.client(timeout=10) as c:
        for i in range(20):
            c.put(b"k%02d" % i, b"v%d" % i)
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            spans = {}  # range id -> (start, end) it must have on the resumed node
            for key in (b"k10", b"k15", b"k05"):
                left, right = c.split(key)
                spans[left[0]] = (left[1], left[2] or None)
                spans[right[0]] = (right[1], right[2] or None)
            t_split = time.monotonic() - t0
            for i in range(20):  # every range serves without the paused node
                c.put(b"k%02d" % i, b"during-%d" % i)
            t_put = time.monotonic() - t0
            def led() -> bool:  # (asks only the running nodes: the paused one would not answer)
                sts = [cluster.status(n) for n in (leader, other)]
                lead = {r["range_id"] for st in sts if st for r in st["ranges"]
                        if r["state"] == "leader"}
                return lead >= set(spans)
            wait_until(led, 10, f"every range to be led while node {paused} is paused")
            time.sleep(PAUSE_S)
        finally:
            os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        assert len(spans) == 4

        def holds_all() -> bool:
            for rid, span in spans.items():
                r = replica(cluster, paused, rid)
                if r is None or (r["start_key"], r["end_key"] or None) != span:
                    return False
            return True
        wait_until(holds_all, 20, f"node {paused} to hold every range, initialized",
                   diagnose=cluster.describe)

        def caught_up() -> bool:
            lead = cluster.leaders()
            for rid in spans:
                mine = replica(cluster, paused, rid)
                theirs = replica(cluster, lead[rid], rid) if rid in lead else None
                if mine is None or theirs is None or mine["applied"] < theirs["applied"]:
                    return False
            return True
        t_holds = time.monotonic() - resumed
        wait_until(caught_up, 20, f"node {paused}'s replicas to catch up")
        t_caught = time.monotonic() - resumed
        t_k = time.monotonic()
        cluster.kill(other)
        for i in range(0, 20, 2):
            c.put(b"k%02d" % i, b"after-%d" % i)
        assert c.scan(b"", None) == [(b"k%02d" % i, b"%s-%d" % (b"during" if i % 2 else b"after", i))
                                     for i in range(20)]
        t_k = time.monotonic() - t_k
        print(f"splits {t_split:.1f}s puts {t_put:.1f}s after kill {t_k:.1f}s")
        st = cluster.status(paused)
        assert st is not None
        print(f"{cluster.design}: node {paused} resumed; held every range after {t_holds:.1f}s, "
              f"caught up after {t_caught:.1f}s; leaders {cluster.leaders()}; "
              f"counters {st['node']['counters']}")
