"""Rebalancing and leader balancing by the allocator (both designs, in-process nodes on
loopback): replicas move onto a node that joins until every live node holds within 10% of the
mean replica count plus one, and acknowledged data survives the loss of a former node
afterwards; a node that leads every range by election hands leaderships over until none leads
more than ceil(ranges / nodes) + 1; with ``rebalance=False`` on every node, no replica moves
onto a joined node, while the repair of a dead node's replicas still happens."""

from __future__ import annotations

import math
import time
from typing import Any

from multiraft import Client

from .conftest import key_in, wait_until
from .membership_cluster import Nodes, nodes  # noqa: F401  (the fixture)

LIVE3 = {1: "live", 2: "live", 3: "live"}
LIVE4 = {**LIVE3, 4: "live"}


# -- helpers (shared with test_repair and test_admin_refusals) ----------------------------------

def descriptors(statuses: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """range id -> the newest descriptor (highest generation, then conf_ver) any of the given
    STATUS answers reports, from initialized replicas only; a leader's entry wins a tie."""
    best: dict[int, dict[str, Any]] = {}
    for st in statuses.values():
        for r in st["ranges"]:
            if r["start_key"] is None:
                continue
            cur = best.get(r["range_id"])
            rank = (r["generation"], r["conf_ver"], r["state"] == "leader")
            if cur is None or rank > (cur["generation"], cur["conf_ver"],
                                      cur["state"] == "leader"):
                best[r["range_id"]] = r
    return best


def replica_counts(table: dict[int, dict[str, Any]], node_ids: list[int]) -> dict[int, int]:
    """node id -> how many ranges' descriptors list a replica on it."""
    counts = {n: 0 for n in node_ids}
    for r in table.values():
        for n, _ in r["replicas"]:
            counts[n] = counts.get(n, 0) + 1
    return counts


def leader_counts(statuses: dict[int, dict[str, Any]], node_ids: list[int]) -> dict[int, int]:
    """node id -> how many ranges it leads, in the highest term any node reports per range."""
    terms: dict[int, int] = {}
    for st in statuses.values():
        for r in st["ranges"]:
            terms[r["range_id"]] = max(terms.get(r["range_id"], 0), r["term"])
    counts = {n: 0 for n in node_ids}
    for n, st in statuses.items():
        for r in st["ranges"]:
            if r["state"] == "leader" and r["term"] == terms[r["range_id"]]:
                counts[n] = counts.get(n, 0) + 1
    return counts


def balanced(counts: dict[int, int]) -> bool:
    """Every node within ``mean * 10% + 1`` of the mean (the allocator's band)."""
    mean = sum(counts.values()) / len(counts)
    slack = mean * 0.1 + 1
    return all(abs(c - mean) <= slack for c in counts.values())


def kill(c: Nodes, i: int) -> None:
    """Stop node ``i`` hard, as the cluster conftest's ``InProcessCluster._kill``: its transport
    first (it vanishes from the network mid-flight), then the node."""
    node = c.running.pop(i)
    transport = getattr(node.impl, "transport", None)
    if transport is not None:
        transport.stop()
    node.stop()


def node_statuses(c: Nodes) -> dict[int, dict[str, Any]]:
    out = {}
    for i in sorted(c.running):
        st = c.status(i)
        if st is not None:
            out[i] = st
    return out


def client_for(c: Nodes, timeout: float = 30.0) -> Client:
    return Client([c.client_addr[i] for i in sorted(c.running)], timeout=timeout)


def write_keys(client: Client, table: dict[int, dict[str, Any]], tag: str,
               per_range: int = 3) -> dict[bytes, bytes]:
    """``per_range`` keys in each range, each written (acknowledged) once: key -> value."""
    written = {}
    for r in table.values():
        for j in range(per_range):
            k = key_in(r, f"{tag}{j}")
            v = f"{tag}:{r['range_id']}:{j}".encode()
            client.put(k, v)
            written[k] = v
    return written


def check_keys(client: Client, written: dict[bytes, bytes]) -> None:
    wrong = {k: (v, got) for k, v in written.items() if (got := client.get(k)) != v}
    assert not wrong, f"acknowledged values lost or changed (key: (wanted, got)): {wrong}"


def describe(c: Nodes) -> str:
    sts = node_statuses(c)
    table = descriptors(sts)
    return (f"running {sorted(c.running)}; replicas per node "
            f"{replica_counts(table, sorted(c.running))}; leaders per node "
            f"{leader_counts(sts, sorted(c.running))}; ranges "
            + "; ".join(f"r{rid}: voters {r['voters']} learners {r['learners']} "
                        f"conf_ver {r['conf_ver']}" for rid, r in sorted(table.items()))
            + "".join(f"\n  r{rid} on node {node}: " + ", ".join(
                f"{k} {rs.get(k)}" for k in ("replica_id", "state", "leader", "term", "applied",
                                             "quiesced", "snapshots_sent",
                                             "snapshots_installed", "progress"))
                      for rid, r in sorted(table.items()) if r["learners"]
                      for node, st in sorted(sts.items())
                      for rs in st["ranges"] if rs["range_id"] == rid))


# -- tests --------------------------------------------------------------------------------------

def test_replicas_move_onto_a_joined_node_until_balanced_and_survive_a_kill(nodes: Any) -> None:
    """8 ranges, RF 3 on 3 nodes (8 replicas each); node 4 joins: the allocator moves replicas
    onto it until every node is within 10% of the mean (6) plus one, every range keeping 3
    voters; node 4 really holds them (initialized, caught up); then node 2 is killed and every
    value acknowledged before (written before the join and after the rebalancing) reads back."""
    c: Nodes = nodes(founders=3, ranges=8)
    c.wait_states(LIVE3)
    c.wait_led()
    client = client_for(c)
    try:
        written = write_keys(client, descriptors(node_statuses(c)), "before")
        c.start(4, join=[c.client_addr[1]])
        c.wait_states(LIVE4, timeout=15)

        def settled() -> dict[int, int] | None:
            table = descriptors(node_statuses(c))
            counts = replica_counts(table, [1, 2, 3, 4])
            ok = (len(table) == 8 and balanced(counts) and counts[4] > 0
                  and all(len(r["voters"]) == 3 and not r["learners"] for r in table.values()))
            return counts if ok else None
        counts = wait_until(settled, 60, "replicas to be balanced over 4 nodes", interval=0.2,
                            diagnose=lambda: describe(c))
        assert counts[4] >= 5, counts  # 24 replicas: mean 6, band 1.6
        # Node 4 holds what the descriptors say it holds, initialized and applied.
        table = descriptors(node_statuses(c))
        on4 = {rid for rid, r in table.items() if 4 in r["voters"]}
        wait_until(lambda: on4 <= {r["range_id"] for r in (c.status(4) or {"ranges": []})
                                   ["ranges"] if r["start_key"] is not None and r["applied"]},
                   20, f"node 4 to hold initialized replicas of ranges {sorted(on4)}",
                   interval=0.2, diagnose=lambda: describe(c))
        written.update(write_keys(client, table, "after"))
        print(f"balanced: {counts}")
    finally:
        client.close()
    kill(c, 2)
    client = client_for(c)
    try:
        check_keys(client, written)
    finally:
        client.close()


def test_a_node_leading_every_range_by_election_hands_leaderships_over(nodes: Any) -> None:
    """3 nodes, 9 ranges. Node 1 has a short election timeout (10 ticks), nodes 2 and 3 a long
    one (60 ticks), so node 1 wins the elections of every range (no operator transfer). The
    leader balancer then hands leaderships over: within 60 s no node leads more than
    ceil(9 / 3) + 1 = 4 ranges. Then the same again after nodes 2 and 3 restart one at a time
    (node 1 wins the elections of their ranges again)."""
    ranges = 9
    c: Nodes = nodes(founders=3, ranges=ranges, start=False)
    slow = {"election_ticks": 60}
    for i in (1, 2, 3):
        c.start(i, **({} if i == 1 else slow))
    limit = math.ceil(ranges / 3) + 1
    peak = {"1": 0}

    def led_by_1() -> bool:
        counts = leader_counts(node_statuses(c), [1, 2, 3])
        peak["1"] = max(peak["1"], counts[1])
        return sum(counts.values()) == ranges
    wait_until(led_by_1, 60, "a leader for every range", interval=0.1,
               diagnose=lambda: describe(c))
    assert peak["1"] > limit, (f"node 1 never led more than {peak['1']} ranges: the test did "
                               f"not produce the imbalance it checks ({describe(c)})")

    def spread() -> dict[int, int] | None:
        counts = leader_counts(node_statuses(c), [1, 2, 3])
        return counts if sum(counts.values()) == ranges and max(counts.values()) <= limit \
            else None
    first = wait_until(spread, 60, f"no node to lead more than {limit} ranges", interval=0.2,
                       diagnose=lambda: describe(c))
    print(f"peak node 1: {peak['1']}, then {first}")

    # Restart 2 and 3 one at a time: node 1 (the quick one) wins their ranges by election.
    peak["1"] = 0
    for i in (2, 3):
        c.stop(i)
        wait_until(lambda: sum(leader_counts(node_statuses(c), [1, 2, 3]).values()) == ranges,
                   30, f"a leader for every range with node {i} down", interval=0.1,
                   diagnose=lambda: describe(c))
        peak["1"] = max(peak["1"], leader_counts(node_statuses(c), [1, 2, 3])[1])
        c.start(i, **slow)
    c.wait_states(LIVE3, timeout=15)
    second = wait_until(spread, 60, f"no node to lead more than {limit} ranges after restarts",
                        interval=0.2, diagnose=lambda: describe(c))
    print(f"after restarts: peak node 1: {peak['1']}, then {second}")


def test_no_rebalancing_onto_a_joined_node_with_rebalance_off_but_repair_works(
        nodes: Any) -> None:
    """``rebalance=False`` on every node: node 4 joins and for 5 s no range gets a replica on
    it (all 6 ranges keep their 3 voters on nodes 1..3, conf_ver unchanged); then node 3 is
    killed (``dead_after`` 2 s): the repair still moves each of its replicas to node 4, every
    range ending with 3 voters on live nodes and its data intact."""
    c: Nodes = nodes(founders=3, ranges=6, rebalance=False, dead_after=2.0)
    c.wait_states(LIVE3)
    c.wait_led()
    client = client_for(c)
    try:
        before = descriptors(node_statuses(c))
        written = write_keys(client, before, "k", per_range=2)
        before = descriptors(node_statuses(c))
        c.start(4, join=[c.client_addr[2]])
        c.wait_states(LIVE4, timeout=15)
        c.wait_addresses(timeout=15)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:  # a bounded negative check: poll it throughout
            table = descriptors(node_statuses(c))
            moved = {rid: (r["replicas"], r["conf_ver"]) for rid, r in table.items()
                     if 4 in {n for n, _ in r["replicas"]}
                     or r["conf_ver"] != before[rid]["conf_ver"]}
            assert not moved, f"rebalance=False, yet ranges changed: {moved}; {describe(c)}"
            st4 = c.status(4)
            assert st4 is not None and not [r for r in st4["ranges"]
                                            if r["start_key"] is not None], st4["ranges"]
            time.sleep(0.25)
    finally:
        client.close()

    kill(c, 3)

    def repaired() -> bool:
        table = descriptors(node_statuses(c))
        return len(table) == 6 and all(
            len(r["voters"]) == 3 and 3 not in r["voters"] and not r["learners"]
            and 3 not in {n for n, _ in r["replicas"]} for r in table.values())
    wait_until(repaired, 40, "node 3's replicas to be repaired onto node 4", interval=0.2,
               diagnose=lambda: describe(c))
    client = client_for(c)
    try:
        check_keys(client, written)
    finally:
        client.close()
