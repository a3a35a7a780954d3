"""Replica changes on a real 4-node cluster, both designs: add (learner, snapshot, promotion),
remove (the leader too: it hands leadership over first), move (learner, joint config, leave),
remove then re-add the same node (a new replica id; the old one's tombstone), and refused
changes that change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from multiraft import Client
from multiraft.errors import Refused
from multiraft.storage import keys
from multiraft.storage.replica_gc import load_tombstone

from .conftest import Cluster, key_in, wait_until

NODES = (1, 2, 3, 4)


def change(c: Client, rng: dict[str, Any], kind: str, frm: int = 0, to: int = 0) -> dict[str, Any]:
    return c.change_replicas(rng["range_id"], kind, frm, to)


def transfer(c: Client, rng: dict[str, Any], to: int) -> dict[str, Any]:
    return c.transfer_leader(rng["range_id"], to)


def replica_on(cluster: Cluster, node: int, range_id: int) -> dict[str, Any] | None:
    r = cluster.replica_status(node, range_id)
    return r if r is not None and r["start_key"] is not None else None


def wait_caught_up(cluster: Cluster, node: int, range_id: int, index: int) -> None:
    wait_until(lambda: (r := replica_on(cluster, node, range_id)) is not None
               and r["applied"] >= index, 30, f"node {node}'s replica of range {range_id} to "
               f"apply {index}", interval=0.1, diagnose=cluster.describe)


def wait_gone(cluster: Cluster, node: int, range_id: int) -> None:
    """Until ``node`` holds no replica of ``range_id`` (the allocator leaves a range an
    operator changed alone for a minute: no new replica comes meanwhile)."""
    wait_until(lambda: cluster.replica_status(node, range_id) is None, 60,
               f"node {node}'s replica of range {range_id} to be destroyed", interval=0.1,
               diagnose=lambda: f"{cluster.describe()}\n{cluster.replica_status(node, range_id)}")


@pytest.fixture
def cluster(make_cluster: Any) -> Cluster:
    c: Cluster = make_cluster("inproc", ranges=4, tick_ms=50, node_ids=NODES)
    c.wait_all_led()
    return c


def _range_without(cluster: Cluster, node: int) -> dict[str, Any]:
    return next(r for r in cluster.range_table().values()
                if node not in {n for n, _ in r["replicas"]})


def test_add_then_remove_a_replica(cluster: Cluster) -> None:
    c = cluster.client(timeout=30.0)
    rng = _range_without(cluster, 4)
    k = key_in(rng, "added")
    c.put(k, b"before")
    info = change(c, rng, "add", to=4)
    assert 4 in info["voters"] and not info["learners"]
    assert info["conf_ver"] == 2  # a learner, then its promotion
    assert sorted(r for _, r, _ in info["replicas"])[-1] == 4  # next_replica_id's
    c.put(k, b"after")
    leader = cluster.leader_of(rng["range_id"])
    commit = replica_on(cluster, leader, rng["range_id"])["commit"]  # type: ignore[index]
    wait_caught_up(cluster, 4, rng["range_id"], commit)
    r4 = replica_on(cluster, 4, rng["range_id"])
    assert r4 is not None and list(r4["voters"]) == sorted(info["voters"])

    # Remove a follower: its replica on that node is destroyed, a tombstone left.
    victim = next(n for n in info["voters"] if n not in (leader, 4))
    info = change(c, rng, "remove", frm=victim)
    assert victim not in info["voters"]
    wait_gone(cluster, victim, rng["range_id"])
    engine = cluster.nodes[victim].impl.engine  # type: ignore[attr-defined]
    assert load_tombstone(engine, rng["range_id"]) > victim
    assert engine.get(keys.descriptor_key(rng["range_id"])) is None
    assert c.get(k) == b"after"


def test_remove_the_leader_hands_leadership_over_first(cluster: Cluster) -> None:
    c = cluster.client(timeout=30.0)
    rng = next(iter(cluster.range_table().values()))
    k = key_in(rng, "leader")
    c.put(k, b"v")
    leader = cluster.leader_of(rng["range_id"])
    info = change(c, rng, "remove", frm=leader)
    assert leader not in info["voters"] and len(info["voters"]) == 2
    assert info["leader"] != leader
    wait_gone(cluster, leader, rng["range_id"])
    assert c.get(k) == b"v"


def test_move_goes_through_a_joint_config_and_leaves_it(cluster: Cluster) -> None:
    c = cluster.client(timeout=30.0)
    rng = _range_without(cluster, 4)
    k = key_in(rng, "moved")
    c.put(k, b"v")
    frm = next(n for n, _ in rng["replicas"] if n != cluster.leader_of(rng["range_id"]))
    info = change(c, rng, "move", frm=frm, to=4)
    assert 4 in info["voters"] and frm not in info["voters"] and not info["learners"]
    assert all(role == "voter" for _, _, role in info["replicas"])
    assert info["conf_ver"] == 3  # learner, joint (promote + remove), leave
    wait_gone(cluster, frm, rng["range_id"])
    assert c.get(k) == b"v"


def test_remove_then_re_add_the_same_node_gets_a_new_replica_id(cluster: Cluster) -> None:
    c = cluster.client(timeout=30.0)
    rng = _range_without(cluster, 4)
    k = key_in(rng, "again")
    leader = cluster.leader_of(rng["range_id"])
    node = next(n for n, _ in rng["replicas"] if n != leader)
    old_id = next(r for n, r in rng["replicas"] if n == node)
    change(c, rng, "remove", frm=node)
    wait_gone(cluster, node, rng["range_id"])
    c.put(k, b"while away")
    info = change(c, rng, "add", to=node)
    new_id = next(r for n, r, _ in info["replicas"] if n == node)
    assert new_id > old_id and new_id not in {r for _, r in rng["replicas"]}
    leader = cluster.leader_of(rng["range_id"])
    commit = replica_on(cluster, leader, rng["range_id"])["commit"]  # type: ignore[index]
    wait_caught_up(cluster, node, rng["range_id"], commit)
    assert replica_on(cluster, node, rng["range_id"])["replica_id"] == new_id  # type: ignore[index]
    assert c.get(k) == b"while away"


def test_transfer_leadership(cluster: Cluster) -> None:
    c = cluster.client(timeout=30.0)
    rng = next(iter(cluster.range_table().values()))
    leader = cluster.leader_of(rng["range_id"])
    to = next(n for n, _ in rng["replicas"] if n != leader)
    info = transfer(c, rng, to)
    assert info["leader"] == to
    assert cluster.leader_of(rng["range_id"]) == to
    assert transfer(c, rng, to)["leader"] == to  # already leads: at once


@pytest.mark.parametrize("kind,frm,to,why", [
    ("add", 0, 9, "unknown node 9"),
    ("remove", 0, 0, "holds no replica"),
    ("move", 0, 0, "holds no replica"),
])
def test_bad_changes_are_refused_and_change_nothing(cluster: Cluster, kind: str, frm: int,
                                                   to: int, why: str) -> None:
    c = cluster.client(timeout=10.0)
    rng = _range_without(cluster, 4)
    before = {n for n, _ in rng["replicas"]}
    if kind == "remove":
        frm = 4
    elif kind == "move":
        frm, to = 4, next(iter(before))
    with pytest.raises(Refused, match=why):
        change(c, rng, kind, frm=frm, to=to)
    with pytest.raises(Refused, match="already holds"):
        change(c, rng, "add", to=next(iter(before)))
    after = cluster.range_table()[rng["range_id"]]
    assert {n for n, _ in after["replicas"]} == before and after["conf_ver"] == rng["conf_ver"]
