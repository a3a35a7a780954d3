"""Issue 12, defect 8 on both designs, in-process:

(a) a node whose raft address is not loopback (0.0.0.0) and that has no CurveZMQ keys is refused
    before it starts, unless ``insecure=True``; with it, it serves with its peers;
(b) a metrics endpoint given only a port binds 127.0.0.1;
(c) raft traffic claiming a replica that the range's descriptor puts on another node than the
    sending one is dropped and counted (STATUS counters, metrics), never stepped: a raw
    transport speaking as node 3 claims to be replica 2 (which lives on node 2).
"""

from __future__ import annotations

from typing import Any

import pytest

from multiraft import Node
from multiraft.metrics import node_collector
from multiraft.raft.types import Message, MessageType as MT, SnapshotMetadata
from multiraft.transport.codec import Heartbeat, SnapshotChunk
from tests.support.raw_peer import RawPeer

from .conftest import key_in, wait_until

FORGED_TERM = 1_000


def test_a_public_raft_address_needs_insecure(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=2, start=False)
    port = cluster.raft_addr[1].rpartition(":")[2]
    cluster.overrides[1] = {"listen": f"0.0.0.0:{port}"}
    with pytest.raises(ValueError, match=f"0.0.0.0:{port}.*--keys.*--insecure"):
        Node(cluster.config(1))
    cluster.overrides[1]["insecure"] = True
    cluster.start_all()
    assert cluster.nodes[1].raft_address == f"0.0.0.0:{port}"
    cluster.wait_all_led()
    with cluster.client(timeout=10) as c:
        for rid, rng in cluster.range_table().items():
            c.put(key_in(rng, "k"), b"v%d" % rid)
            assert c.get(key_in(rng, "k")) == b"v%d" % rid


def test_a_bare_metrics_port_binds_loopback(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1, node_options={"metrics_listen": "0"})
    for node in cluster.nodes.values():
        assert node.metrics_address is not None
        assert node.metrics_address.startswith("127.0.0.1:"), node.metrics_address


def _scrape(node: Node) -> dict[str, float]:
    return {s.name: s.value for fam in node_collector(node.impl).collect() for s in fam.samples
            if not s.labels}


def test_forged_replica_ids_are_dropped_and_counted(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    target = 1

    def counters() -> dict[str, int]:
        st = cluster.status(target)
        assert st is not None
        return st["node"]["counters"]

    def term() -> int:
        r = cluster.replica_status(target, 1)
        assert r is not None
        return r["term"]

    before = counters().get("raft_sender_mismatches", 0)
    with RawPeer(3, {target: cluster.raft_addr[target]}) as forger:
        forger.wait_connected(target)
        forger.send(target, [(1, Message(MT.APP, to=1, from_=2, term=FORGED_TERM, log_term=1,
                                         index=1))])
        forger.send(target, [(1, Message(MT.VOTE, to=1, from_=2, term=FORGED_TERM,
                                         log_term=FORGED_TERM, index=10**6))])
        forger.heartbeats(target, [Heartbeat(1, 2, 1, FORGED_TERM, 1)])
        forger.snapshot_chunk(target, SnapshotChunk(1, 2, 1, FORGED_TERM,
                                                    SnapshotMetadata(index=10**6, term=FORGED_TERM),
                                                    0, False, b"forged"))
        wait_until(lambda: counters().get("raft_sender_mismatches", 0) - before >= 4, 20,
                   "the forged traffic to be counted", diagnose=cluster.describe)
    assert term() < FORGED_TERM, "a forged message was stepped"
    metrics = _scrape(cluster.nodes[target])
    assert metrics["multiraft_store_raft_sender_mismatches_total"] >= before + 4
    # The range is undisturbed: it still serves, in its old term.
    with cluster.client(timeout=10) as c:
        key = key_in(cluster.range_table()[1], "after")
        c.put(key, b"ok")
        assert c.get(key) == b"ok"
    assert all(r["term"] < FORGED_TERM for st in cluster.statuses().values()
               for r in st["ranges"])
