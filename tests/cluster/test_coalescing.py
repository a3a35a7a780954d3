"""Issue 5, test 2: coalesced heartbeats and quiescence, proven by counters on a 3-node
in-process cluster of 1,000 ranges (in-process: the tick count and the heartbeat frames handed
to the transport are read exactly; the frames still go out over real ZeroMQ)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .conftest import NODE_IDS, TICKS_BY_DESIGN, InProcessCluster, wait_until

RANGES = 1_000
TICK_MS = 100  # both designs settle 1,000 ranges at 100 ms; see the README on the lock design at 50 ms
SLOP = 2  # ticks: a window's two ends are read a few microseconds apart from a running node


@dataclass
class HeartbeatSpy:
    """Wraps a node's ``transport.send_heartbeats`` (one call = one heartbeat frame on the wire):
    frames and heartbeats per destination node, and the largest frame. Also counts the node
    directory's gossip frames (``send_node_directory`` and ``send_node_load``, every 10 ticks:
    store.gossip), the other frames an idle node sends."""

    frames: dict[int, int] = field(default_factory=dict)
    gossip: dict[int, int] = field(default_factory=dict)
    heartbeats: dict[int, int] = field(default_factory=dict)
    largest: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, transport: Any) -> None:
        real = transport.send_heartbeats

        def send_heartbeats(node_id: int, heartbeats: list) -> None:
            with self.lock:
                self.frames[node_id] = self.frames.get(node_id, 0) + 1
                self.heartbeats[node_id] = self.heartbeats.get(node_id, 0) + len(heartbeats)
                self.largest = max(self.largest, len(heartbeats))
            real(node_id, heartbeats)
        transport.send_heartbeats = send_heartbeats
        real_gossip = transport.send_node_directory

        def send_node_directory(node_id: int, records: list) -> None:
            with self.lock:
                self.gossip[node_id] = self.gossip.get(node_id, 0) + 1
            real_gossip(node_id, records)
        transport.send_node_directory = send_node_directory
        real_load = transport.send_node_load

        def send_node_load(node_id: int, load: Any) -> None:
            with self.lock:
                self.gossip[node_id] = self.gossip.get(node_id, 0) + 1
            real_load(node_id, load)
        transport.send_node_load = send_node_load


@dataclass
class Sample:
    ticks: int
    frames: dict[int, int]            # heartbeat frames sent, per destination (spy)
    heartbeats: dict[int, int]        # per-range heartbeats in them, per destination (spy)
    wire_frames: dict[int, int]       # every frame the transport put on the wire, per peer
    wire_messages: dict[int, int]     # raft messages + heartbeats in them, per peer
    heartbeats_sent: int              # the node's own counter, from STATUS


def sample(cluster: InProcessCluster, spies: dict[int, HeartbeatSpy], node: int) -> Sample:
    n = cluster.nodes[node]
    ticks = TICKS_BY_DESIGN[cluster.design](n)
    spy = spies[node]
    with spy.lock:
        frames, hbs = dict(spy.frames), dict(spy.heartbeats)
    peers = n.impl.transport.counters.peers
    st = cluster.status(node)
    assert st is not None, f"node {node} does not answer STATUS"
    return Sample(ticks, frames, hbs, {p: c.frames_sent for p, c in list(peers.items())},
                  {p: c.messages_sent for p, c in list(peers.items())},
                  st["node"]["counters"]["heartbeats_sent"])


def other_frames(cluster: InProcessCluster, spies: dict[int, HeartbeatSpy], node: int,
                 peer: int) -> int:
    """Frames on the wire to ``peer`` that are neither heartbeat frames nor node directory gossip
    handed to the transport.

    The wire counter is the transport thread's, behind by the frames in flight; the largest
    value over a short poll is the caught-up one (the transport idles between ticks)."""
    best = None
    for _ in range(40):
        with spies[node].lock:
            handed = spies[node].frames.get(peer, 0) + spies[node].gossip.get(peer, 0)
        wire = cluster.nodes[node].impl.transport.counters.peers[peer].frames_sent
        best = wire - handed if best is None else max(best, wire - handed)
        time.sleep(TICK_MS / 1000 / 8)
    return best


def delta(a: dict[int, int], b: dict[int, int], peer: int) -> int:
    return b.get(peer, 0) - a.get(peer, 0)


def all_quiesced(cluster: InProcessCluster) -> bool:
    sts = cluster.statuses()
    return len(sts) == len(NODE_IDS) and all(
        len(st["ranges"]) == RANGES and all(r["quiesced"] for r in st["ranges"])
        for st in sts.values())


def test_one_heartbeat_frame_per_node_pair_per_tick_and_none_per_range_when_idle(
        make_cluster: Any) -> None:
    """Proves, with 1,000 ranges on 3 nodes and a 50 ms tick:
    (1) while ranges elect and heartbeat, each node sends exactly one heartbeat frame to each
        peer per tick (± boundary slop), however many ranges' heartbeats it carries (frames
        carrying hundreds are seen);
    (2) once every replica is quiesced, no per-range heartbeat is sent at all (the node's
        heartbeats_sent counter and the frames' contents stop growing), while one empty frame
        per peer per tick keeps flowing as the liveness ping, and nothing else is on the wire
        but the node directory's gossip."""
    # (no balancing: 1,000 leaders elected unevenly would be moved one by one for a minute, and
    # a cluster that is still balancing is not idle; what is measured here is an idle one)
    cluster = make_cluster("inproc", ranges=RANGES, tick_ms=TICK_MS, start=False,
                           node_options={"rebalance": False})
    spies = {n: HeartbeatSpy() for n in NODE_IDS}
    starts: dict[int, Sample] = {}

    def on_start(node: int, n: Any) -> None:
        spies[node].install(n.impl.transport)
        starts[node] = Sample(TICKS_BY_DESIGN[cluster.design](n), {}, {}, {}, {}, 0)
    cluster.on_start.append(on_start)
    cluster.start_all()

    # (1) from start until everything is quiesced: ranges elect, heartbeat, then go quiet.
    wait_until(lambda: all_quiesced(cluster), 240, "every replica of every node to quiesce",
               interval=0.5, diagnose=cluster.describe)
    busy = {n: sample(cluster, spies, n) for n in NODE_IDS}
    for node in NODE_IDS:
        a, b = starts[node], busy[node]
        ticks = b.ticks - a.ticks
        assert ticks >= 20, f"node {node}: only {ticks} ticks"
        for peer in NODE_IDS:
            if peer == node:
                continue
            frames = delta(a.frames, b.frames, peer)
            assert abs(frames - ticks) <= SLOP, (
                f"node {node} -> {peer}: {frames} heartbeat frames in {ticks} ticks")
    total_hbs = sum(sum(s.heartbeats.values()) for s in busy.values())
    total_frames = sum(sum(s.frames.values()) for s in busy.values())
    largest = max(s.largest for s in spies.values())
    assert largest >= 100 and total_hbs > 2 * total_frames, (
        f"heartbeats not coalesced: {total_hbs} heartbeats in {total_frames} frames, "
        f"largest frame {largest}")

    # (2) idle: a window of at least 40 ticks on every node.
    idle0 = {n: sample(cluster, spies, n) for n in NODE_IDS}
    others_before = {(n, p): other_frames(cluster, spies, n, p)
                     for n in NODE_IDS for p in NODE_IDS if p != n}
    wait_until(lambda: all(TICKS_BY_DESIGN[cluster.design](cluster.nodes[n])
                           >= idle0[n].ticks + 40 for n in NODE_IDS), 60, "40 idle ticks")
    idle1 = {n: sample(cluster, spies, n) for n in NODE_IDS}
    assert all_quiesced(cluster), cluster.describe()
    for node in NODE_IDS:
        a, b = idle0[node], idle1[node]
        ticks = b.ticks - a.ticks
        assert b.heartbeats_sent == a.heartbeats_sent, (
            f"node {node}: {b.heartbeats_sent - a.heartbeats_sent} per-range heartbeats sent "
            f"while idle")
        for peer in NODE_IDS:
            if peer == node:
                continue
            pair = f"node {node} -> {peer} in {ticks} idle ticks"
            assert delta(a.heartbeats, b.heartbeats, peer) == 0, f"{pair}: heartbeats sent"
            assert abs(delta(a.frames, b.frames, peer) - ticks) <= SLOP, (
                f"{pair}: {delta(a.frames, b.frames, peer)} liveness frames")
            # The transport put nothing on the wire but the heartbeat frames handed to it.
            assert other_frames(cluster, spies, node, peer) == others_before[(node, peer)], (
                f"{pair}: frames other than heartbeat frames went on the wire")
            assert delta(a.wire_messages, b.wire_messages, peer) == 0, (
                f"{pair}: {delta(a.wire_messages, b.wire_messages, peer)} messages on the wire")
