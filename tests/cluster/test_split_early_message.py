"""Issue 13, "Must show": a message for the right-hand range reaches a node before the split
applies there (CockroachDB #7600 / #16749), both designs, in-process nodes.

The test holds the left range's raft traffic at one follower (``RangeHold``), so that node
applies the split late; meanwhile the new range's leader reaches it (votes, appends)."""

from __future__ import annotations

import time
from typing import Any

from .conftest import InProcessCluster, NODE_IDS, wait_until
from .split_faults import RangeHold, counter, hard_state, replica

#: how long the lagging node is kept from applying the split, at most (seconds)
HOLD_S = 20.0


def routed_range(cluster: InProcessCluster, node: int, key: bytes) -> int | None:
    """Which local range ``node``'s store routes ``key`` to (its own routing table)."""
    impl = cluster.nodes[node].impl
    if cluster.design == "actors":
        return impl.handler._routes.router.range_of(key)  # the published table
    with impl.store.mu:
        return impl.store.router.range_of(key)


def test_message_for_the_right_range_before_the_split_applies(make_cluster: Any) -> None:
    """Proves, with a follower kept from applying a split while the new range's leader contacts
    it: (1) that follower gets a replica of the new range that is uninitialized (no descriptor),
    out of its key routing (the left range, not yet split there, still serves those keys) and
    holds no initialized replica overlapping the left one; it votes in the new range's
    election, so its HardState has a term and a vote; it is sent no snapshot meanwhile (its
    appends are dropped for a while: CockroachDB's maybeDropMsgApp); (2) the new range serves
    writes without it; (3) once the hold is released and the split applies there, that replica is initialized
    from the split (not from a snapshot), keeping the term and vote it persisted, and catches up:
    every write to the new range is on it."""
    # 100 ms ticks: the early replica drops appends for two election timeouts of its ticks
    # (10 ticks each), 2 s, well past the ~1 s this test holds the split back
    cluster = make_cluster("inproc", ranges=1, tick_ms=100)
    assert isinstance(cluster, InProcessCluster)
    leader = cluster.wait_all_led()[1]
    lagging = next(n for n in NODE_IDS if n != leader)
    with cluster.client(timeout=10) as c:
        for i in range(20):
            c.put(b"k%02d" % i, b"v%d" % i)
        wait_until(lambda: all((r := replica(cluster, n, 1)) is not None
                               and r["applied"] == replica(cluster, leader, 1)["applied"]
                               for n in NODE_IDS), 10, "every replica of range 1 to catch up")
        hold = RangeHold.install(cluster, lagging, {1})
        held_at = time.monotonic()
        left, right = c.split(b"k10")
        rid = right[0]

        # (1) the early replica: uninitialized, and it voted
        def voted() -> Any:
            hs = hard_state(cluster, lagging, rid)
            return hs if hs is not None and hs.vote else None
        hs_before = wait_until(voted, 10, f"node {lagging}'s replica of range {rid} to vote")
        early = replica(cluster, lagging, rid)
        assert early is not None and early["start_key"] is None and early["generation"] is None, \
            early
        lagging_left = replica(cluster, lagging, 1)
        assert lagging_left is not None and lagging_left["end_key"] in (None, b""), lagging_left
        assert routed_range(cluster, lagging, b"k15") == 1
        st = cluster.status(lagging)
        assert st is not None
        spans = [(r["start_key"], r["end_key"]) for r in st["ranges"] if r["start_key"] is not None]
        assert spans == [(b"", lagging_left["end_key"])], spans  # no overlapping replica

        # (2) the new range serves without the lagging node
        for i in range(10, 20):
            c.put(b"k%02d" % i, b"w%d" % i)
        time.sleep(0.3)  # the new range's leader keeps reaching the lagging node meanwhile
        assert hold.holding and replica(cluster, lagging, rid)["start_key"] is None
        refused = counter(cluster, lagging, "snapshots_refused_overlap")
        # Its appends are dropped there for a while (CockroachDB's maybeDropMsgApp), so it is
        # sent no snapshot the split would make useless (refused: the left range covers it).
        assert refused == 0, f"{refused} snapshots of range {rid} refused on node {lagging}"
        assert counter(cluster, lagging, "appends_dropped_awaiting_split") > 0

        # (3) release: the split applies there and initializes the early replica
        held = time.monotonic() - held_at
        assert held < 1.8, f"held {held:.1f}s: past the early replica's append-dropping window"
        hold.release()
        wait_until(lambda: (r := replica(cluster, lagging, rid)) is not None
                   and r["start_key"] == b"k10", HOLD_S,
                   f"node {lagging}'s replica of range {rid} to be initialized",
                   diagnose=cluster.describe)
        hs_after = hard_state(cluster, lagging, rid)
        assert hs_after is not None
        r_leader = cluster.leader_of(rid)
        lead_term = replica(cluster, r_leader, rid)["term"]
        assert hs_after.term >= hs_before.term
        if hs_after.term == hs_before.term:
            assert hs_after.vote == hs_before.vote, (hs_before, hs_after)
        if lead_term == hs_before.term:  # no election since: nothing may have changed it
            assert (hs_after.term, hs_after.vote) == (hs_before.term, hs_before.vote)
        ldr = replica(cluster, r_leader, rid)
        wait_until(lambda: replica(cluster, lagging, rid)["applied"] >= ldr["applied"], 10,
                   f"node {lagging}'s replica of range {rid} to catch up")
        print(f"{cluster.design}: held {held:.2f}s; hs before {hs_before}, after {hs_after}; leader term "
              f"{lead_term}; {hold.dropped} held messages; snapshots refused (overlap) "
              f"{refused}, sent by range {rid}'s leader {ldr['snapshots_sent']}, installed "
              f"on node {lagging} {replica(cluster, lagging, rid)['snapshots_installed']}")
        assert replica(cluster, lagging, rid)["snapshots_installed"] == 0  # the split did it
        # (only the lagging node and the leader now: its quorum needs the lagging node)
        other = next(n for n in NODE_IDS if n not in (lagging, r_leader))
        cluster.kill(other)
        c.put(b"k19", b"after")
        assert c.get(b"k19") == b"after"
        assert [k for k, _ in c.scan(b"k10", None)] == [b"k%02d" % i for i in range(10, 20)]
