"""Nodes join, leave and die (both designs, in-process nodes on loopback): a 4th node joins a
running 3-node cluster through one node's client address and every node lists it within
seconds, none restarted; a joined node restarts from its persisted directory and never
bootstraps; DECOMMISSION reaches every node by gossip; a stopped node is dead after
``dead_after``; a JOIN for another live node's id, another cluster, or a decommissioned id is
refused and the new node does not start."""

from __future__ import annotations

from typing import Any

import pytest

from multiraft import Node
from multiraft.store.join import JoinFailed
from multiraft.transport.client_protocol import ClientOp, ClientStatus

from .membership_cluster import Nodes, nodes  # noqa: F401  (the fixture)

LIVE3 = {1: "live", 2: "live", 3: "live"}
LIVE4 = {**LIVE3, 4: "live"}


def test_a_fourth_node_joins_a_running_cluster_and_every_node_lists_it(nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=4)
    c.wait_states(LIVE3)
    before = {i: (n, n.impl.transport) for i, n in c.running.items()}
    joined = c.start(4, join=[c.client_addr[1]])
    assert c.status(4)["node"]["ranges"] == 0  # type: ignore[index]  # no bootstrap of its own
    c.wait_states(LIVE4, timeout=10)
    c.wait_addresses(timeout=10)  # every node knows every node's addresses, node 4's included
    for i in (1, 2, 3, 4):
        rec = c.directory(i)[4]
        assert (rec["raft_address"], rec["client_address"]) == (c.raft_addr[4], c.client_addr[4])
    # nobody restarted: the same nodes, the same transports, all still serving their ranges
    assert {i: (n, n.impl.transport) for i, n in c.running.items() if i != 4} == before
    assert joined.impl.transport is not None
    c.wait_led()


def test_a_joined_node_restarts_from_its_directory_and_never_bootstraps(nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=4)
    c.start(4, join=[c.client_addr[2]])
    c.wait_states(LIVE4, timeout=10)
    c.stop(4)
    c.start(4)  # no --join, no --peers: the engine holds the marker and the directory
    st = c.status(4)
    assert st is not None and st["node"]["ranges"] == 0
    assert sorted(r["node_id"] for r in st["directory"]) == [1, 2, 3, 4]
    c.wait_states(LIVE4, timeout=10)


def test_decommission_is_gossiped_to_every_node(nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=2)
    c.wait_states(LIVE3)
    c.wait_addresses()
    status, rec = c.request(1, ClientOp.DECOMMISSION, 3, "decommissioning")
    assert status is ClientStatus.OK
    assert {k: rec[k] for k in ("node_id", "raft_address", "client_address", "state")} == {
        "node_id": 3, "raft_address": c.raft_addr[3], "client_address": c.client_addr[3],
        "state": "decommissioning"}
    c.wait_states({**LIVE3, 3: "decommissioning"}, timeout=10)
    status, rec = c.request(2, ClientOp.DECOMMISSION, 3, "active")  # recommission, elsewhere
    assert status is ClientStatus.OK and rec["state"] == "active"
    c.wait_states(LIVE3, timeout=10)
    status, msg = c.request(1, ClientOp.DECOMMISSION, 9, "decommissioned")
    assert status is ClientStatus.REFUSED and "no node 9" in msg


def test_a_stopped_node_is_dead_after_dead_after(nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=2, dead_after=2.0)
    c.wait_states(LIVE3)
    c.stop(3)
    c.wait_states({1: "live", 2: "live", 3: "dead"}, timeout=15)
    status, _ = c.request(1, ClientOp.DECOMMISSION, 3, "decommissioned")
    assert status is ClientStatus.OK
    c.wait_states({1: "live", 2: "live", 3: "decommissioned"}, timeout=10)  # even though dead
    c.request(1, ClientOp.DECOMMISSION, 3, "active")
    c.start(3)
    c.wait_states(LIVE3, timeout=15)


def _refused(c: Nodes, i: int, **over: Any) -> str:
    node = Node(c.config(i, **over))
    with pytest.raises(JoinFailed) as e:
        node.start()
    assert node.impl.transport is None  # stopped again: nothing left running
    return str(e.value)


def test_join_is_refused_for_another_live_nodes_id(nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=2)
    c.wait_states(LIVE3)
    msg = _refused(c, 5, node_id=2, listen=c.raft_addr[5], client_listen=c.client_addr[5],
                   join=[c.client_addr[1]], data_dir=str(c.tmp_path / "impostor"))
    assert "node 2 cannot join" in msg and "belongs to another live node" in msg
    assert c.states(1) == LIVE3


def test_join_is_refused_for_another_cluster_and_for_a_decommissioned_id(nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=2, cluster_id="blue")
    c.wait_states(LIVE3)
    msg = _refused(c, 4, join=[c.client_addr[1], c.client_addr[2]], cluster_id="green",
                   data_dir=str(c.tmp_path / "green-4"))
    assert "cluster id 'green' is not this cluster's ('blue')" in msg
    c.start(4, join=[c.client_addr[1]])
    c.wait_states(LIVE4, timeout=10)
    c.stop(4)
    assert c.request(1, ClientOp.DECOMMISSION, 4, "decommissioned")[0] is ClientStatus.OK
    c.wait_states({**LIVE3, 4: "decommissioned"}, on=[1, 2, 3], timeout=10)
    msg = _refused(c, 5, node_id=4, join=[c.client_addr[3]],
                   data_dir=str(c.tmp_path / "node-4-again"))
    assert "decommissioned" in msg
