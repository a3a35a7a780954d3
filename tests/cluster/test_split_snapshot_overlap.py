"""Issue 13, "Must show" (item 4): a snapshot of a split's right-hand range that reaches a node
whose left replica still covers its keys is refused, and accepted once the left one no longer
does; both designs, in-process nodes.

The left range's traffic is held at one follower (``RangeHold``) for longer than its right-hand
replica drops appends awaiting the split, so the new range's leader sends it snapshots; with a
short raft log (``log_keep_entries``) the left range's leader has truncated the split away by the
time the hold ends, so the follower's left replica learns the split from a snapshot of the left
range, never from the split command: its right-hand replica can only be initialized by a
snapshot."""

from __future__ import annotations

from typing import Any

from multiraft.storage.range_descriptor import RangeDescriptor, load_descriptors

from .conftest import InProcessCluster, NODE_IDS, wait_until
from .split_faults import RangeHold, counter, replica


def test_right_snapshot_refused_while_left_covers_then_accepted(make_cluster: Any) -> None:
    """Proves: (1) while a follower's left replica has not split, the snapshots the new range's
    leader sends it are refused (``snapshots_refused_overlap`` grows) and its replica of the new
    range stays uninitialized (nothing installed over the left range's keys); (2) once the left
    replica has narrowed (here by a snapshot of the left range), the new range's snapshot is
    accepted and installed, and that replica then holds every write of the new range: with
    the third node killed, its quorum needs it, and the new range still reads and writes."""
    cluster = make_cluster("inproc", ranges=1, node_options={"log_keep_entries": 5})
    assert isinstance(cluster, InProcessCluster)
    leader = cluster.wait_all_led()[1]
    lagging = next(n for n in NODE_IDS if n != leader)
    with cluster.client(timeout=10) as c:
        for i in range(20):
            c.put(b"k%02d" % i, b"v%d" % i)
        hold = RangeHold.install(cluster, lagging, {1})
        _, right = c.split(b"k10")
        rid = right[0]
        for i in range(40):  # the left range's log moves on and is truncated past the split
            c.put(b"k%02d" % (i % 10), b"x%d" % i)
            c.put(b"k%02d" % (10 + i % 10), b"y%d" % i)

        # (1) refused while the left replica covers the keys
        wait_until(lambda: counter(cluster, lagging, "snapshots_refused_overlap") >= 2, 20,
                   f"node {lagging} to refuse snapshots of range {rid}",
                   diagnose=cluster.describe)
        early = replica(cluster, lagging, rid)
        assert early is not None and early["start_key"] is None, early
        assert early["snapshots_installed"] == 0
        left_there = replica(cluster, lagging, 1)
        assert left_there is not None and not left_there["end_key"], left_there  # not split
        assert hold.holding

        # (2) accepted once the left replica no longer covers them
        hold.release()
        wait_until(lambda: (r := replica(cluster, lagging, rid)) is not None
                   and r["start_key"] == b"k10", 20,
                   f"node {lagging}'s replica of range {rid} to be initialized",
                   diagnose=cluster.describe)
        after = replica(cluster, lagging, rid)
        assert after is not None and after["snapshots_installed"] >= 1, after
        left_after = replica(cluster, lagging, 1)
        assert left_after is not None and left_after["end_key"] == b"k10", left_after
        assert left_after["snapshots_installed"] >= 1, left_after  # the split came by snapshot
        refused = counter(cluster, lagging, "snapshots_refused_overlap")
        print(f"{cluster.design}: {refused} snapshots refused, then "
              f"{after['snapshots_installed']} installed; {hold.dropped} messages held")

        r_leader = cluster.leader_of(rid)
        other = next(n for n in NODE_IDS if n not in (lagging, r_leader))
        cluster.kill(other)
        assert [v for _, v in c.scan(b"k10", None)] == [b"y%d" % i for i in range(30, 40)]
        c.put(b"k15", b"after")
        assert c.get(b"k15") == b"after"


def overlap_check(cluster: InProcessCluster, node: int, start: bytes, end: bytes | None) -> Any:
    """The range the node's snapshot overlap check finds over ``[start, end)`` (None: none):
    what a replica's ``env.overlapping`` asks, in each design."""
    impl = cluster.nodes[node].impl
    if cluster.design == "actors":
        return impl.handler.overlapping(start, end, -1)  # the published route table
    return impl.store.overlapping(RangeDescriptor(-1, start, end))


def test_overlap_check_knows_every_local_range_once_the_node_serves(make_cluster: Any) -> None:
    """Proves: at the moment a node's start returns (its transport already receiving), the
    check that refuses a snapshot overlapping a local range finds each of the node's ranges,
    so a right-hand range's snapshot reaching a restarted node whose left replica has not
    applied the split yet is refused from the first instant, not installed over the left
    range's keys; the same after a restart."""
    cluster = make_cluster("inproc", ranges=4, tick_ms=500, start=False)
    assert isinstance(cluster, InProcessCluster)
    seen: dict[int, list[Any]] = {}

    def on_start(node: int, n: Any) -> None:
        descs = load_descriptors(n.impl.engine)
        seen.setdefault(node, []).append(
            [(d.range_id, overlap_check(cluster, node, d.start_key + b"\x00", None if d.end_key
                                        is None else d.end_key)) for d in descs])
    cluster.on_start.append(on_start)
    cluster.start_all()
    cluster.stop(2)
    cluster.start(2)
    for node, starts in seen.items():
        for found in starts:
            assert len(found) == 4 and all(rid == got for rid, got in found), (node, found)
