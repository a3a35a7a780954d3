"""The membership commands end to end on a real 4-node cluster (``LocalCluster``, both
designs, 2 ranges, automatic splits off): ``replicas add|remove|move``, ``transfer``, ``nodes``
and ``node decommission``, run as ``bin/multiraft`` subprocesses.

Most of these need the server side of the membership ops (CHANGE_REPLICAS, TRANSFER_LEADER,
DECOMMISSION, the STATUS ``"voters"``/``"learners"``/``"conf_ver"`` fields and
``"directory"``): each test's docstring says what it needs. Each range starts on 3 of the 4
nodes; the tests run in file order on one cluster per design, read the placement they start
from, and leave it as they found it (but decommission, last, which retires a node for good)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multiraft.local_cluster import LocalCluster

from .conftest import free_base_port, run

RANGE_KEYS = {"range_id", "start_key", "end_key", "generation", "replicas", "voters", "learners",
              "leader", "system"}
NODE_KEYS = {"node_id", "raft_address", "client_address", "state", "replicas", "leaders"}
NODES = [1, 2, 3, 4]


class Cluster:
    def __init__(self, local: LocalCluster) -> None:
        self.local = local

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``bin/multiraft --addr (every node) ARGS``."""
        return run("multiraft", "--addr", ",".join(self.local.client_addrs), *args, timeout=120)

    def json(self, *args: str) -> Any:
        """The JSON of ``--json ARGS``, which must exit 0."""
        r = self.ctl("--json", *args)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return json.loads(r.stdout)

    def ranges(self) -> dict[int, dict[str, Any]]:
        return {r["range_id"]: r for r in self.json("ranges")}

    def placement(self, range_id: int) -> tuple[list[int], int, int]:
        """Range ``range_id``'s voters now, the node holding none of it, and its leader."""
        r = self.ranges()[range_id]
        assert len(r["voters"]) == 3, r
        return r["voters"], next(n for n in NODES if n not in r["replicas"]), r["leader"]


def refused(r: subprocess.CompletedProcess[str], fragment: str = "") -> dict[str, Any]:
    """Exit 1 with one line on stderr and one JSON value on stdout (returned)."""
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    return out


@pytest.fixture(scope="module", params=["actors", "locks"])
def cluster(request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    d: Path = tmp_path_factory.mktemp(f"members-{request.param}")
    with LocalCluster(d, nodes=4, ranges=2, base_port=free_base_port(4), design=request.param,
                      fsync=False, split_bytes=0, split_qps=0) as local:
        yield Cluster(local)


def test_status_and_ranges_keep_their_shape(cluster: Cluster) -> None:
    """Needs nothing new. ``status --json`` is ``{"nodes", "ranges", "unreachable"}`` with a
    ``range_id`` per range; ``ranges --json`` lists RANGE objects, each on 3 nodes, every
    replica a voter."""
    st = cluster.json("status")
    assert set(st) == {"nodes", "ranges", "unreachable"} and st["unreachable"] == []
    assert [r["range_id"] for r in st["ranges"]] == [1, 2]
    for r in cluster.ranges().values():
        assert set(r) == RANGE_KEYS
        assert r["replicas"] == r["voters"] and len(r["voters"]) == 3 and r["learners"] == []


def test_nodes_lists_every_node(cluster: Cluster) -> None:
    """Needs the STATUS ``"directory"``. Four live nodes with their addresses, each with the
    ranges listing it, the two leaders among them; the table has a line per node."""
    ranges = cluster.ranges().values()
    nodes = cluster.json("nodes")
    assert all(set(n) == NODE_KEYS for n in nodes)
    assert [n["node_id"] for n in nodes] == NODES
    local = cluster.local
    for n in nodes:
        assert n["state"] == "live"
        assert n["replicas"] == sum(n["node_id"] in r["replicas"] for r in ranges)
        assert (n["raft_address"], n["client_address"]) == (local.raft_addr(n["node_id"]),
                                                            local.client_addr(n["node_id"]))
    assert sum(n["leaders"] for n in nodes) == 2
    table = cluster.ctl("nodes")
    assert table.returncode == 0 and len(table.stdout.splitlines()) == 5


def test_unknown_range_is_refused(cluster: Cluster) -> None:
    """Needs nothing new (the client finds no range 99)."""
    refused(cluster.ctl("--json", "replicas", "add", "99", "1"), "range 99")
    refused(cluster.ctl("--json", "transfer", "99", "1"), "range 99")


def test_add_then_remove_a_replica(cluster: Cluster) -> None:
    """Needs CHANGE_REPLICAS and the STATUS voters. Adding the fourth node to range 1 prints
    the range with it a voter; ``ranges`` agrees; removing it prints the range without it."""
    voters, outsider, _ = cluster.placement(1)
    out = cluster.json("replicas", "add", "1", str(outsider))
    assert set(out) == RANGE_KEYS and out["range_id"] == 1
    assert out["replicas"] == out["voters"] == NODES and out["learners"] == []
    assert cluster.ranges()[1]["voters"] == NODES
    out = cluster.json("replicas", "remove", "1", str(outsider))
    assert out["replicas"] == out["voters"] == voters
    assert cluster.ranges()[1]["voters"] == voters


def test_move_a_replica(cluster: Cluster) -> None:
    """Needs CHANGE_REPLICAS. Moving a follower's replica of range 2 to the node without one
    leaves the range on the others and that node (a voter); then it moves back."""
    voters, outsider, leader = cluster.placement(2)
    follower = next(n for n in voters if n != leader)
    moved = sorted({*voters, outsider} - {follower})
    out = cluster.json("replicas", "move", "2", str(follower), str(outsider))
    assert out["replicas"] == out["voters"] == moved and out["learners"] == []
    assert cluster.ranges()[2]["voters"] == moved
    assert cluster.json("replicas", "move", "2", str(outsider), str(follower))["voters"] == voters


def test_refused_replica_changes(cluster: Cluster) -> None:
    """Needs CHANGE_REPLICAS' refusals (before it lands every change is refused, so this
    passes then too). A node that already holds a replica, one that holds none (remove,
    move), an unknown node: exit 1, nothing changed."""
    voters, outsider, _ = cluster.placement(1)
    refused(cluster.ctl("--json", "replicas", "add", "1", str(voters[0])))
    refused(cluster.ctl("--json", "replicas", "remove", "1", str(outsider)))
    refused(cluster.ctl("--json", "replicas", "move", "1", str(outsider), str(voters[0])))
    refused(cluster.ctl("--json", "replicas", "add", "1", "9"))
    assert cluster.ranges()[1]["voters"] == voters


def test_transfer(cluster: Cluster) -> None:
    """Needs TRANSFER_LEADER. Range 1 goes to a voter that does not lead it, then again to
    the same node (done at once); ``ranges`` shows the new leader."""
    voters, _, leader = cluster.placement(1)
    target = next(n for n in voters if n != leader)
    out = cluster.json("transfer", "1", str(target))
    assert set(out) == RANGE_KEYS and out["leader"] == target
    assert cluster.json("transfer", "1", str(target))["leader"] == target
    assert cluster.ranges()[1]["leader"] == target


def test_transfer_to_a_node_without_a_voter_is_refused(cluster: Cluster) -> None:
    """Needs TRANSFER_LEADER's refusals (passes before it lands too: every transfer is
    refused then). To the node holding no replica of range 2, or to an unknown node: exit 1."""
    _, outsider, leader = cluster.placement(2)
    refused(cluster.ctl("--json", "transfer", "2", str(outsider)))
    refused(cluster.ctl("--json", "transfer", "2", "9"))
    assert cluster.ranges()[2]["leader"] == leader


def test_decommission(cluster: Cluster) -> None:
    """Needs the directory, CHANGE_REPLICAS, DECOMMISSION and the server moving a
    decommissioning node's replicas away. With range 1 on all four nodes there is no room for
    a replica of it: decommissioning one of its nodes is refused, nothing sent; an unknown node
    too. Back on three nodes, ``node decommission`` of a node with replicas waits until they
    moved and prints it decommissioned; ``ranges`` and ``nodes`` agree."""
    voters, outsider, _ = cluster.placement(1)
    cluster.json("replicas", "add", "1", str(outsider))
    refused(cluster.ctl("--json", "node", "decommission", str(outsider)), "too few live nodes")
    refused(cluster.ctl("--json", "node", "decommission", "9"), "unknown node 9")
    assert [n["state"] for n in cluster.json("nodes")] == ["live"] * 4
    cluster.json("replicas", "remove", "1", str(outsider))
    gone = voters[0]
    out = cluster.json("node", "decommission", str(gone))
    assert set(out) == NODE_KEYS
    assert (out["node_id"], out["state"], out["replicas"], out["leaders"]) == \
        (gone, "decommissioned", 0, 0)
    assert all(gone not in r["replicas"] and len(r["voters"]) == 3
               for r in cluster.ranges().values())
    nodes = {n["node_id"]: n for n in cluster.json("nodes")}
    assert (nodes[gone]["state"], nodes[gone]["replicas"]) == ("decommissioned", 0)
    assert [n for n in NODES if nodes[n]["state"] == "live"] == [n for n in NODES if n != gone]
