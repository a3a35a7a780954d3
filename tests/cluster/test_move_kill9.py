"""kill -9 of a range's leader in the middle of a move (real processes, both designs): once
the node is back, the range ends in one consistent descriptor on every replica (out of the
joint config, no learner left behind), the move either done or not begun, and every
acknowledged write still there."""

from __future__ import annotations

import threading
from typing import Any

from multiraft import ClientError

from .conftest import key_in, wait_until
from .test_replica_changes import NODES, replica_on


def test_kill9_of_the_leader_mid_move_ends_in_a_consistent_descriptor(make_cluster: Any) -> None:
    cluster = make_cluster("procs", ranges=2, node_ids=NODES)
    cluster.wait_all_led()
    c = cluster.client(timeout=30.0)
    rng = next(r for r in cluster.range_table().values()
               if 4 not in {n for n, _ in r["replicas"]})
    rid = rng["range_id"]
    written = {key_in(rng, f"k{i}"): b"v%d" % i for i in range(200)}
    for k, v in written.items():
        c.put(k, v)
    leader = cluster.leader_of(rid)
    frm = next(n for n, _ in rng["replicas"] if n != leader)
    outcome: list[Any] = []

    def move() -> None:
        try:
            outcome.append(c.move_replica(rid, frm, 4))
        except ClientError as e:  # Timeout or Unavailable: the move may or may not be done
            outcome.append(e)

    t = threading.Thread(target=move)
    t.start()
    # Kill the leader once the move has begun (the learner is in the descriptor).
    wait_until(lambda: (r := replica_on(cluster, leader, rid)) is not None
               and r["conf_ver"] > rng["conf_ver"], 30, "the move to begin", interval=0.02,
               diagnose=cluster.describe)
    cluster.kill(leader)
    cluster.start(leader)
    t.join(60)
    assert not t.is_alive()

    def settled() -> dict[str, Any] | None:
        table = cluster.range_table()
        d = table.get(rid)
        if d is None or d["learners"]:
            return None
        members = [n for n, _ in d["replicas"]]
        views = [replica_on(cluster, n, rid) for n in members]
        if any(v is None or v["conf_ver"] != d["conf_ver"] for v in views):
            return None
        return d
    d = wait_until(settled, 90, "one descriptor on every replica, no learner",
                   interval=0.2, diagnose=cluster.describe)
    voters = {n for n, _ in d["replicas"]}
    assert len(voters) == 3, d
    assert voters in ({n for n, _ in rng["replicas"]},
                      {n for n, _ in rng["replicas"]} - {frm} | {4}), d
    if isinstance(outcome[0], dict):
        assert 4 in voters and frm not in voters
    for k, v in written.items():
        assert c.get(k) == v
