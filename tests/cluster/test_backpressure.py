"""Issue 12, defect 7 on both designs, in-process: backpressure and bounded replica creation.

(a) A burst of writes over a range's proposal quota is answered BUSY (counted on the leader),
    and the client, which backs off on BUSY, still completes every write.
(b) The same with a small bound on the node's pending requests.
(c) 10,000 raft messages for random range ids from a known node create at most the cap of
    (uninitialized) replicas, the node keeps serving, and the replicas it created are dropped
    with their raft state once they stay uninitialized past the ttl; the same messages from a
    node id the cluster does not know create none.
(d) A leader's heartbeat creates the replica too (CockroachDB's rule): a leader whose one
    probing MsgApp went to a replica that was gone (a superseded one destroys itself on it)
    waits, paused, for an answer to a heartbeat.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from multiraft import aio
from multiraft.raft.types import Message, MessageType as MT
from multiraft.storage import keys
from multiraft.transport.codec import Heartbeat
from tests.support.raw_peer import RawPeer

from .conftest import key_in, wait_until

WRITES = 300


def _burst(cluster: Any, value: bytes) -> None:
    """WRITES concurrent puts into range 1 through one asyncio client (64 in flight), then every
    value read back."""
    rng = cluster.range_table()[1]
    ks = [key_in(rng, f"burst/{i:04d}") for i in range(WRITES)]
    addrs = [cluster.client_addr[n] for n in sorted(cluster.client_addr)]

    async def main() -> list[bytes | None]:
        async with aio.Client(addrs, timeout=60, sessions=64) as c:
            await asyncio.gather(*(c.put(k, value + k) for k in ks))
            return [await c.get(k) for k in ks]

    assert asyncio.run(main()) == [value + k for k in ks]


def _counters(cluster: Any, node: int) -> dict[str, int]:
    st = cluster.status(node)
    assert st is not None
    return st["node"]["counters"]


def test_a_burst_over_the_range_quota_is_busy_and_completes(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1, node_options={"range_quota_bytes": 16 << 10})
    leader = cluster.leader_of(1)
    _burst(cluster, b"q" * (2 << 10))  # 64 x 2 KiB in flight: 8 times the quota
    assert _counters(cluster, leader)["busy_range_quota"] > 0
    r = cluster.replica_status(leader, 1)
    assert r is not None and r["proposals_over_quota"] > 0


def test_a_burst_over_the_pending_bound_is_busy_and_completes(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1, node_options={"max_pending_requests": 4})
    leader = cluster.leader_of(1)
    _burst(cluster, b"p" * 100)
    assert _counters(cluster, leader)["busy_pending_limit"] > 0


FLOOD = 10_000
CAP = 20


def _flood(cluster: Any, sender: int, target: int) -> list[int]:
    """FLOOD MsgApps for random range ids (none exists), as node ``sender``'s replica; the ids."""
    rids = random.Random(7).sample(range(1_000, 2**40), FLOOD)
    with RawPeer(sender, {target: cluster.raft_addr[target]}) as peer:
        peer.wait_connected(target)
        peer.send(target, [(rid, Message(MT.APP, to=target, from_=sender, term=5, log_term=1,
                                         index=1)) for rid in rids])
        wait_until(lambda: peer.sent(target) >= FLOOD, 20, "the flood to leave")
    return rids


def test_a_flood_of_unknown_ranges_from_a_known_node_is_capped_and_collected(
        make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=2, node_options={
        "max_uninitialized_replicas": CAP, "uninitialized_replica_ttl": 2.0})
    cluster.wait_all_led()
    target = 1
    rids = _flood(cluster, 3, target)

    def handled() -> dict[str, int] | None:
        c = _counters(cluster, target)
        refused = sum(v for k, v in c.items() if k.startswith("replica_create_refused_"))
        return c if c["replicas_created"] + refused >= FLOOD else None
    c = wait_until(handled, 30, "every flooded range to be created or refused",
                   diagnose=cluster.describe)
    assert 0 < c["replicas_created"] <= CAP, c
    assert c["replica_create_refused_cap"] + c["replica_create_refused_rate"] > 0, c
    st = cluster.status(target)
    assert st is not None and st["node"]["ranges"] <= 2 + CAP
    assert st["node"]["uninitialized_replicas"] <= CAP
    # The node keeps serving.
    with cluster.client(timeout=10) as client:
        for rid, rng in cluster.range_table().items():
            client.put(key_in(rng, "flood"), b"ok%d" % rid)
            assert client.get(key_in(rng, "flood")) == b"ok%d" % rid
    # Never initialized: dropped after the ttl, with their raft state.
    wait_until(lambda: (s := cluster.status(target)) is not None and s["node"]["ranges"] == 2
               and s["node"]["uninitialized_replicas"] == 0, 30,
               "the uninitialized replicas to be dropped", diagnose=cluster.describe)
    c = _counters(cluster, target)
    assert c["uninitialized_replicas_removed"] == c["replicas_created"]
    engine = cluster.nodes[target].impl.engine
    left = [rid for rid in rids if engine.get(keys.hard_state_key(rid)) is not None]
    assert left == [], f"{len(left)} dropped replicas left their raft state"


def test_unknown_ranges_from_an_unknown_node_create_nothing(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=2)
    cluster.wait_all_led()
    target = 1
    _flood(cluster, 99, target)
    c = wait_until(lambda: (c := _counters(cluster, target))[
        "replica_create_refused_unknown_node"] >= FLOOD and c, 30,
        "the unknown node's messages to be refused", diagnose=cluster.describe)
    assert c["replicas_created"] == 0
    st = cluster.status(target)
    assert st is not None and st["node"]["ranges"] == 2


def test_a_first_contact_naming_replica_zero_is_refused_not_fatal(make_cluster: Any) -> None:
    """Replica id 0 is raft's "none": a replica cannot be built with it. A known node's message
    for an unknown range addressed to replica 0 is refused and counted; the node goes on."""
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    target = 1
    with RawPeer(3, {target: cluster.raft_addr[target]}) as peer:
        peer.wait_connected(target)
        peer.send(target, [(5_000, Message(MT.APP, to=0, from_=3, term=5, log_term=1, index=1))])
        wait_until(lambda: peer.sent(target) >= 1, 10, "the message to leave")
    c = wait_until(lambda: (c := _counters(cluster, target))[
        "replica_create_refused_type"] >= 1 and c, 20, "the message to be refused",
        diagnose=cluster.describe)
    assert c["replicas_created"] == 0
    assert cluster.nodes[target].failure is None
    with cluster.client(timeout=10) as client:
        key = key_in(cluster.range_table()[1], "still")
        client.put(key, b"serving")
        assert client.get(key) == b"serving"


def test_a_heartbeat_for_an_unknown_range_from_a_known_node_creates_its_replica(
        make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    target = 1
    with RawPeer(3, {target: cluster.raft_addr[target]}) as peer:
        peer.wait_connected(target)
        peer.heartbeats(target, [Heartbeat(5_000, 7, 8, 3, 0)])
        c = wait_until(lambda: (c := _counters(cluster, target))["replicas_created"] >= 1 and c,
                       20, "the heartbeat to create the replica", diagnose=cluster.describe)
    assert c["dropped_unknown_range"] == 0, c
    st = cluster.status(target)
    assert st is not None and st["node"]["uninitialized_replicas"] == 1
