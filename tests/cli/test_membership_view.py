"""The cluster view's membership fields on fabricated STATUS answers: voters and learners of
the newest descriptor by (generation, conf version), the fallback for nodes that predate
replica changes, merged node directories, and which ranges a decommission would strand."""

from __future__ import annotations

from typing import Any

from multiraft.cli.cluster_view import ClusterView, NodeView, RangeView, merge_directories, \
    merge_ranges

from .test_cluster_view import entry


def with_members(e: dict[str, Any], conf_ver: int, voters: list[int],
                 learners: list[int]) -> dict[str, Any]:
    return {**e, "conf_ver": conf_ver, "voters": voters, "learners": learners}


def test_voters_and_learners_come_from_the_newest_conf_ver() -> None:
    """Proves: at one generation, the entry with the higher conf version gives the replicas,
    voters and learners (whichever node answered first)."""
    old = with_members(entry(1, b"", b"", 3, "leader", term=4, replica_id=1), 1, [1, 2, 3], [])
    new = with_members(entry(1, b"", b"", 3, replica_id=2, term=4,
                             replicas=[[1, 1], [2, 2], [3, 3], [4, 4]]), 2, [1, 2, 3], [4])
    for answers in ([(1, [old]), (2, [new])], [(2, [new]), (1, [old])]):
        [v] = merge_ranges(answers)
        r = v.range_object()
        assert (v.conf_ver, r["replicas"], r["voters"], r["learners"]) == \
            (2, [1, 2, 3, 4], [1, 2, 3], [4])
        assert r["leader"] == 1


def test_a_higher_generation_wins_over_a_higher_conf_ver() -> None:
    split = with_members(entry(1, b"", b"m", 4, replica_id=1), 1, [1, 2, 3], [])
    older = with_members(entry(1, b"", b"", 3, replica_id=2), 9, [1, 2], [3])
    [v] = merge_ranges([(2, [older]), (1, [split])])
    assert (v.generation, v.end_key, v.voters, v.learners) == (4, b"m", [1, 2, 3], [])


def test_entries_without_voters_make_every_replica_a_voter() -> None:
    """Proves: an entry from a node that reports no voters/learners (it predates replica
    changes) gives every replica as a voter and no learners."""
    [v] = merge_ranges([(1, [entry(1, b"", b"", 1, "leader")])])
    assert (v.range_object()["voters"], v.range_object()["learners"]) == ([1, 2, 3], [])


def test_range_info_to_range_object() -> None:
    """Proves: a RANGE_INFO answer (replicas as [node, replica, role]) becomes the contract's
    RANGE object: node ids sorted, voters and learners as given, end None at the end."""
    info = {"range_id": 7, "start_key": b"m", "end_key": None, "generation": 2, "conf_ver": 5,
            "replicas": [[4, 9, "learner"], [1, 1, "voter"], [2, 2, "voter"]],
            "voters": [2, 1], "learners": [4], "leader": 2}
    assert RangeView.from_range_info(info).range_object() == {
        "range_id": 7, "start_key": b"m", "end_key": None, "generation": 2,
        "replicas": [1, 2, 4], "voters": [1, 2], "learners": [4], "leader": 2,
        "system": False}


def rec(node_id: int, state: str) -> dict[str, Any]:
    return {"node_id": node_id, "raft_address": f"r{node_id}", "client_address": f"c{node_id}",
            "state": state}


def test_merged_directories_prefer_decommission_then_live() -> None:
    """Proves: one record per node sorted by id, from any directory that names it; where they
    disagree, decommissioned beats decommissioning beats live beats dead."""
    a = [rec(3, "live"), rec(1, "dead"), rec(2, "decommissioning")]
    b = [rec(1, "live"), rec(2, "decommissioned"), rec(4, "dead")]
    for dirs in ([a, b], [b, a]):
        assert [(r["node_id"], r["state"]) for r in merge_directories(dirs)] == [
            (1, "live"), (2, "decommissioned"), (3, "live"), (4, "dead")]


def view(directory: list[dict[str, Any]], *ranges: dict[str, Any]) -> ClusterView:
    status = {"node": {"node_id": 1}, "ranges": list(ranges), "directory": directory}
    return ClusterView([NodeView("a", status=status), NodeView("b", error="timed out")],
                       merge_ranges([(1, list(ranges))]))


def test_stranded_ranges_need_a_live_node_outside_the_range() -> None:
    """Proves: a range on the node is stranded when every live node but it already holds a
    replica; dead and decommissioning nodes do not count as room."""
    r1 = entry(1, b"", b"m", 1, "leader")  # nodes 1-3
    r2 = entry(2, b"m", b"", 1, "leader", replicas=[[1, 1], [2, 2], [4, 4]])
    states = {1: "live", 2: "live", 3: "live", 4: "live", 5: "dead", 6: "decommissioning"}
    roomy = view([rec(n, s) for n, s in states.items()], r1, r2)
    assert roomy.stranded_ranges(1) == [] and roomy.stranded_ranges(3) == []
    tight = view([rec(n, s) for n, s in {**states, 4: "dead"}.items()], r1, r2)
    assert tight.stranded_ranges(1) == [1]  # range 2 could go to node 3, range 1 nowhere
    assert tight.stranded_ranges(5) == []  # no replicas: nothing to place
    assert tight.answered and tight.unreachable == ["b"]
