"""Replica changes while 12 clients read and write (both designs): ranges gain, lose and move
replicas, a leader removes itself, and the recorded history stays linearizable; then a replica
partitioned through its own removal destroys itself once the partition heals, and the removed
replica's late messages change nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

from multiraft.errors import Refused
from multiraft.transport import FaultInjector

from .conftest import Cluster, key_in, wait_until
from .test_linearizability import checked_history, clients_running
from .test_replica_changes import NODES, change, replica_on, wait_gone

RANGES = 8
CLIENTS = 12
RUN_SECONDS = 15.0


def _changes(cluster: Cluster, stop: threading.Event, deadline: float) -> list[str]:
    """Add, move and remove replicas of one range after another (a leader's own removal among
    them) until ``deadline``; the changes made."""
    c = cluster.client(timeout=30.0)
    done: list[str] = []
    refused: list[str] = []  # (refusals change nothing; the allocator works alongside)
    ranges = sorted(cluster.range_table().values(), key=lambda r: r["range_id"])
    i = 0
    while time.monotonic() < deadline and not stop.is_set():
        rng = cluster.range_table()[ranges[i % len(ranges)]["range_id"]]
        members = {n for n, _ in rng["replicas"]}
        outside = [n for n in NODES if n not in members]
        leader = cluster.leader_of(rng["range_id"])
        step = i % 3
        i += 1
        try:
            if step == 0 and outside:
                frm = next(n for n in sorted(members) if n != leader)
                change(c, rng, "move", frm=frm, to=outside[0])
                done.append(f"r{rng['range_id']}: move {frm}->{outside[0]}")
            elif step == 1 and outside:
                change(c, rng, "add", to=outside[0])
                done.append(f"r{rng['range_id']}: add {outside[0]}")
            elif len(members) > 3 or step == 2:
                change(c, rng, "remove", frm=leader)
                done.append(f"r{rng['range_id']}: remove leader {leader}")
        except Refused as e:  # e.g. the allocator's own move of that range is under way
            refused.append(str(e))
    return done


def test_replica_changes_under_load_are_linearizable(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=RANGES, node_ids=NODES)
    cluster.wait_all_led()
    keys = [key_in(r, f"m{i}") for r in cluster.range_table().values() for i in range(3)]
    with clients_running(cluster, keys, CLIENTS) as (rec, stop):
        changes = _changes(cluster, stop, time.monotonic() + RUN_SECONDS)
    assert len(changes) >= 4, changes
    result, ops, known = checked_history(rec, 300)
    print(f"{len(changes)} changes {changes}; {ops} ops, {known} known; {result.verdict.value}")
    assert result.ok, f"changes: {changes}\n{result}"
    # Every range ends out of any joint config, without learners, each replica agreeing.
    for rid, r in cluster.range_table().items():
        views = {n: replica_on(cluster, n, rid) for n, _ in r["replicas"]}
        wait_until(lambda: all((v := replica_on(cluster, n, rid)) is not None
                               and v["conf_ver"] == r["conf_ver"] for n in views), 30,
                   f"range {rid}'s replicas to agree on its descriptor", interval=0.2,
                   diagnose=cluster.describe)
        assert not r["learners"], r


def test_a_replica_partitioned_through_its_removal_destroys_itself_after_healing(
        make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=4, node_ids=NODES)
    cluster.wait_all_led()
    c = cluster.client(timeout=30.0)
    rng = next(r for r in cluster.range_table().values()
               if 4 not in {n for n, _ in r["replicas"]})
    leader = cluster.leader_of(rng["range_id"])
    cut = next(n for n, _ in rng["replicas"] if n != leader)
    faults = FaultInjector(seed=7)
    for n in NODES:
        cluster.nodes[n].impl.transport._faults = faults  # type: ignore[attr-defined]
        if n != cut:
            faults.partition(n, cut)
    try:
        change(c, rng, "remove", frm=cut)
        c.put(key_in(rng, "after"), b"x")
        assert replica_on(cluster, cut, rng["range_id"]) is not None  # it cannot know yet
    finally:
        faults.heal()
    wait_gone(cluster, cut, rng["range_id"])
    counters = cluster.status(cut)["node"]["counters"]  # type: ignore[index]
    assert counters["replicas_removed"] >= 1
    # Late messages for the destroyed replica (its id is below the tombstone) recreate nothing.
    assert c.get(key_in(rng, "after")) == b"x"
    time.sleep(1.0)  # several heartbeat intervals: nothing may bring it back
    assert cluster.replica_status(cut, rng["range_id"]) is None
