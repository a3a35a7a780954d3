"""Repair by the allocator (both designs, 4 in-process nodes on loopback, RF 3): a dead node's
replicas are re-replicated onto the live nodes within a bounded time and acknowledged data is
intact; a node decommissioned while clients read and write is drained (every replica it held
moved elsewhere, its leaderships handed over) and the recorded history stays linearizable."""

from __future__ import annotations

from typing import Any


from .conftest import Cluster, key_in, wait_until
from .test_linearizability import checked_history, clients_running
from .test_rebalance import check_keys, descriptors, leader_counts, replica_counts, write_keys

NODES = (1, 2, 3, 4)
RANGES = 6
OPTIONS = {"dead_after": 2.0, "fsync": False}


def describe(cluster: Cluster) -> str:
    sts = cluster.statuses()
    table = descriptors(sts)
    return (f"{cluster.describe()}\nreplicas per node {replica_counts(table, list(NODES))}; "
            f"leaders per node {leader_counts(sts, list(NODES))}\n"
            + "\n".join(f"  r{rid}: voters {r['voters']} learners {r['learners']} "
                        f"conf_ver {r['conf_ver']}" for rid, r in sorted(table.items())))


def without(cluster: Cluster, gone: int) -> dict[int, dict[str, Any]] | None:
    """The range table if every range has 3 voters, no learner and no replica on ``gone``."""
    table = descriptors(cluster.statuses())
    ok = len(table) == RANGES and all(
        len(r["voters"]) == 3 and not r["learners"]
        and gone not in {n for n, _ in r["replicas"]} for r in table.values())
    return table if ok else None


def test_a_dead_nodes_ranges_are_re_replicated(make_cluster: Any) -> None:
    """Node 2 (of 4) is stopped hard; after ``dead_after`` (2 s) the leaders move each of its
    replicas to the one live node that lacks the range: within 40 s every range has 3 voters,
    all on live nodes, and every acknowledged value reads back.

    FAILS (both designs, about 5 runs in 6) because of a product bug: the leader balancer
    picks node 2 as a transfer target while it is dying (the directory calls it live for
    ``dead_after``; raft's ``recent_active`` still true), and that automatic transfer request
    stays in flight for ``LEARNER_TIMEOUT`` (60 s): the leader retries the transfer every
    election timeout (``leader_transfers`` 23 -> 83 over 30 s), drops every proposal meanwhile
    ("proposal dropped: leadership transfer in progress", puts to the range BUSY for 60 s),
    and never asks the allocator for the repair, which comes ~62 s after the kill. With
    ``rebalance=False`` the same kill is repaired in ~2.3 s (6 runs of 6)."""
    cluster = make_cluster("inproc", ranges=RANGES, node_ids=NODES, node_options=OPTIONS)
    cluster.wait_all_led()
    client = cluster.client(timeout=30.0)
    written = write_keys(client, descriptors(cluster.statuses()), "d")
    table = descriptors(cluster.statuses())
    held = [rid for rid, r in table.items() if 2 in r["voters"]]
    assert held, f"node 2 holds no replica to repair: {describe(cluster)}"
    cluster.kill(2)
    wait_until(lambda: without(cluster, 2), 40, "every range to have 3 voters on live nodes",
               interval=0.2, diagnose=lambda: describe(cluster))
    check_keys(client, written)


def test_decommission_under_load_drains_the_node_and_stays_linearizable(
        make_cluster: Any) -> None:
    """8 client threads put/get/cas on 3 keys per range while node 1 is decommissioned
    ("decommissioning": the leaders move its replicas away, node 1's own leaderships handed
    over first); once no range has a replica on it (and node 1 holds none), it is marked
    "decommissioned". The history is linearizable and every range ends with 3 voters, none on
    node 1."""
    cluster = make_cluster("inproc", ranges=RANGES, node_ids=NODES, node_options=OPTIONS)
    cluster.wait_all_led()
    table = descriptors(cluster.statuses())
    keys = [key_in(r, f"q{i}") for r in table.values() for i in range(3)]
    assert replica_counts(table, list(NODES))[1] > 0, describe(cluster)
    admin = cluster.client(timeout=10.0)
    with clients_running(cluster, keys, 8) as (rec, stop):
        stop.wait(1.0)  # some load before the decommission (pacing, not synchronization)
        rec1 = admin.decommission(1, "decommissioning")
        assert rec1["state"] == "decommissioning", rec1
        wait_until(lambda: without(cluster, 1), 60, "no range to have a replica on node 1",
                   interval=0.2, diagnose=lambda: describe(cluster))
        wait_until(lambda: (st := cluster.status(1)) is not None and not [
            r for r in st["ranges"] if r["start_key"] is not None], 40,
            "node 1 to destroy its replicas", interval=0.2, diagnose=lambda: describe(cluster))
        rec1 = admin.decommission(1, "decommissioned")
        assert rec1["state"] == "decommissioned", rec1
        stop.wait(1.0)  # load goes on a little after the drain
    result, ops, known = checked_history(rec, 200)
    print(f"{ops} ops, {known} known; {result.verdict.value}")
    assert result.ok, str(result)
    table = without(cluster, 1)
    assert table is not None, describe(cluster)
    assert all(1 not in r["voters"] for r in table.values())
    assert leader_counts(cluster.statuses(), list(NODES))[1] == 0, describe(cluster)
