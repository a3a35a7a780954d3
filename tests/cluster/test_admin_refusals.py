"""Bad admin requests are refused and change nothing (both designs, 4 in-process nodes, RF 3,
``rebalance=False`` so that no automatic move changes a descriptor meanwhile): a move onto a
node that already holds a voter, a transfer to a node without a voter of the range or to an
unknown node, removing the only voter, a CHANGE_REPLICAS (remove, add) whose
``expected_conf_ver`` another change made stale, and a DECOMMISSION of an unknown node each raise ``Refused``; the range's
descriptor (conf_ver, voters, learners) and the node directory are unchanged after each."""

from __future__ import annotations

from typing import Any

import pytest

from multiraft import Client
from multiraft.errors import Refused

from .conftest import Cluster
from .test_rebalance import descriptors

NODES = (1, 2, 3, 4)


def view(cluster: Cluster, rid: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(conf_ver, voters, learners) of range ``rid``, the newest descriptor any node reports."""
    r = descriptors(cluster.statuses())[rid]
    return r["conf_ver"], tuple(sorted(r["voters"])), tuple(sorted(r["learners"]))


@pytest.fixture
def cluster(make_cluster: Any) -> Cluster:
    c: Cluster = make_cluster("inproc", ranges=2, node_ids=NODES,
                              node_options={"rebalance": False, "fsync": False})
    c.wait_all_led()
    return c


def test_bad_admin_requests_are_refused_and_change_nothing(cluster: Cluster) -> None:
    c: Client = cluster.client(timeout=30.0)
    table = descriptors(cluster.statuses())
    rng = next(r for r in table.values() if 4 not in r["voters"] and 3 in r["voters"])
    rid = rng["range_id"]
    voters = sorted(rng["voters"])
    outside = next(n for n in NODES if n not in voters)
    before = view(cluster, rid)

    def refused(call: Any, match: str) -> None:
        with pytest.raises(Refused, match=match):
            call()
        assert view(cluster, rid) == before, (match, view(cluster, rid), before)

    # A move onto a node that already holds a voter of the range.
    refused(lambda: c.move_replica(rid, voters[0], voters[1]), "already holds")
    # A transfer to a node that holds no replica of the range, and to an unknown node.
    refused(lambda: c.transfer_leader(rid, outside), "holds no voter")
    refused(lambda: c.transfer_leader(rid, 9), "unknown node 9")
    # A DECOMMISSION of an unknown node: refused, the directory unchanged.
    directory = sorted((r["node_id"], r["state"]) for r in cluster.status(1)["directory"])  # type: ignore[index]
    refused(lambda: c.decommission(9, "decommissioning"), "no node 9")
    assert sorted((r["node_id"], r["state"])
                  for r in cluster.status(1)["directory"]) == directory  # type: ignore[index]

    # A change against a stale conf_ver: another change moved it on first. (A bootstrapped
    # range starts at conf_ver 0, which ``expected_conf_ver`` cannot name: 0 means "whatever";
    # so first one change to get a conf_ver to be stale against.)
    info = c.add_replica(rid, outside)
    old = info["conf_ver"]
    assert outside in info["voters"] and old > before[0], info
    gone = next(n for n in voters if n != cluster.leader_of(rid))
    info = c.remove_replica(rid, gone)
    assert gone not in info["voters"] and info["conf_ver"] > old, info
    before = view(cluster, rid)
    assert before[0] == info["conf_ver"] and outside in before[1], before
    refused(lambda: c.change_replicas(rid, "remove", from_node=outside, expected_conf_ver=old),
            "the replicas changed")
    refused(lambda: c.change_replicas(rid, "add", to_node=gone, expected_conf_ver=old),
            "the replicas changed")

    # Removing the only voter: shrink the other range to one voter first (followers only).
    other = next(r for r in table.values() if r["range_id"] != rid)
    orid = other["range_id"]
    leader = cluster.leader_of(orid)
    for n in [n for n in other["voters"] if n != leader]:
        c.remove_replica(orid, n)
    rid, before = orid, view(cluster, orid)
    assert before[1] == (leader,), before
    refused(lambda: c.remove_replica(orid, leader), "no voter would remain")
