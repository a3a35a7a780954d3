"""The node directory: merge by version (and its tie-break), a node's own record, liveness ->
dead, operator states, JOIN admission, persistence, the gossip rounds, the NODE_DIRECTORY
frame (a garbage one is counted, never delivered), and the node ops' answers."""

from __future__ import annotations

import time
from typing import Any

import msgpack
import pytest
import zmq

from multiraft.raft.types import MessageType as MT
from multiraft.storage import keys
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.store.counters import StoreCounters
from multiraft.store.gossip import DirectoryGossip
from multiraft.store.join import JoinFailed, join_cluster
from multiraft.store.node_directory import JoinRefused, NodeDirectory, NodeRecord, UnknownNode
from multiraft.store.node_ops import NodeOps
from multiraft.store.replica_creation import CreationLimits
from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientStatus,
                                                 decode_response)
from multiraft.transport.codec import (VERSION, DecodeError, FrameKind, decode_frame,
                                       node_directory_frame, NodeLoadReport, node_load_frame)
from multiraft.transport.handler import Responder
from multiraft.transport.zmq_transport import Transport
from tests.cluster.conftest import free_ports, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def directory(node_id: int = 1, clock: Clock | None = None, dead_after: float = 10.0,
              peers: dict[int, str] | None = None) -> NodeDirectory:
    d = NodeDirectory(node_id, f"h:{7100 + node_id}", f"h:{7200 + node_id}",
                      {2: "h:7102", 3: "h:7103"} if peers is None else peers,
                      dead_after=dead_after, clock=clock or Clock())
    d.set_own_addresses(f"h:{7100 + node_id}", f"h:{7200 + node_id}")
    return d


# -- records and merge ------------------------------------------------------------------------

def test_starts_with_itself_and_its_peers_client_addresses_unknown() -> None:
    d = directory()
    assert [r.item() for r in d.records()] == [(1, "h:7101", "h:7201", "active", 1),
                                               (2, "h:7102", "", "active", 0),
                                               (3, "h:7103", "", "active", 0)]
    assert d.peers() == [2, 3] and 2 in d and 9 not in d


def test_higher_version_wins_lower_is_ignored() -> None:
    d = directory()
    g0 = d.generation
    assert d.merge(2, [(2, "h:7102", "h:7202", "active", 1)])
    assert d.get(2) == NodeRecord(2, "h:7102", "h:7202", "active", 1)
    assert not d.merge(3, [(2, "h:9999", "h:9998", "active", 0)])  # older
    assert not d.merge(3, [(2, "h:7102", "h:7202", "active", 1)])  # the same
    assert d.get(2) == NodeRecord(2, "h:7102", "h:7202", "active", 1)
    assert d.generation == g0 + 1


def test_equal_versions_settle_the_same_way_on_every_node() -> None:
    a, b = directory(1), directory(3)
    x = (2, "h:7102", "h:7202", "active", 5)
    y = (2, "h:7102", "h:7202", "decommissioning", 5)
    a.merge(2, [x])
    a.merge(3, [y])
    b.merge(3, [y])
    b.merge(2, [x])
    assert a.get(2) == b.get(2) == NodeRecord.of_item(y)


def test_a_new_node_is_learned_from_gossip() -> None:
    d = directory()
    d.merge(2, [(4, "h:7104", "h:7204", "active", 1)])
    assert d.peers() == [2, 3, 4]
    assert d.raft_addresses()[4] == "h:7104"


def test_own_record_bumps_its_version_when_its_addresses_change() -> None:
    d = directory()
    assert d.set_own_addresses("h:7101", "h:7201").version == 1  # unchanged: no new version
    assert d.set_own_addresses("h:8101", "h:7201").version == 2


def test_a_winning_record_about_this_node_keeps_its_real_addresses() -> None:
    d = directory()
    d.merge(2, [(1, "h:old", "h:old", "decommissioning", 7)])
    assert d.get(1) == NodeRecord(1, "h:7101", "h:7201", "decommissioning", 8)


# -- liveness and states ------------------------------------------------------------------------

def test_a_node_not_heard_for_dead_after_is_dead_and_alive_again_once_heard() -> None:
    clock = Clock()
    d = directory(clock=clock, dead_after=10.0)
    assert d.states() == {1: "live", 2: "live", 3: "live"}
    clock.now += 5
    d.merge(2, [])
    clock.now += 6  # 11 s after start: 3 never heard; 2 heard 6 s ago
    assert d.states() == {1: "live", 2: "live", 3: "dead"}
    clock.now += 100
    assert d.states() == {1: "live", 2: "dead", 3: "dead"}  # itself: always live
    d.merge(3, [])
    assert d.states()[3] == "live"


def test_operator_states_override_live_and_dead() -> None:
    clock = Clock()
    d = directory(clock=clock, dead_after=1.0)
    assert d.set_state(2, "decommissioning").version == 1
    d.set_state(3, "decommissioned")
    clock.now += 50
    assert d.states() == {1: "live", 2: "decommissioning", 3: "decommissioned"}
    d.set_state(2, "active")
    assert d.states()[2] == "dead"
    with pytest.raises(UnknownNode):
        d.set_state(9, "decommissioned")


def test_status_lists_every_node_sorted_with_its_view_state() -> None:
    d = directory()
    d.merge(2, [(4, "h:7104", "", "active", 1)])
    assert d.status() == [
        {"node_id": 1, "raft_address": "h:7101", "client_address": "h:7201", "state": "live"},
        {"node_id": 2, "raft_address": "h:7102", "client_address": "", "state": "live"},
        {"node_id": 3, "raft_address": "h:7103", "client_address": "", "state": "live"},
        {"node_id": 4, "raft_address": "h:7104", "client_address": "", "state": "live"}]


# -- JOIN admission -------------------------------------------------------------------------------

def test_admit_adds_a_new_node_and_refreshes_a_known_one() -> None:
    d = directory()
    assert d.admit(4, "h:7104", "h:7204") == NodeRecord(4, "h:7104", "h:7204", "active", 1)
    assert d.admit(4, "h:7104", "h:7204").version == 2  # the same node again (restarted)
    assert d.admit(2, "h:7102", "h:7202").client_address == "h:7202"  # a configured peer


def test_admit_refuses_another_live_nodes_id_and_a_decommissioned_one() -> None:
    clock = Clock()
    d = directory(clock=clock, dead_after=10.0)
    d.merge(2, [(2, "h:7102", "h:7202", "active", 1)])
    with pytest.raises(JoinRefused, match="another live node"):
        d.admit(2, "h:9102", "h:9202")
    with pytest.raises(JoinRefused, match="the node asked"):
        d.admit(1, "h:7101", "h:7201")
    d.set_state(3, "decommissioned")
    with pytest.raises(JoinRefused, match="decommissioned"):
        d.admit(3, "h:7103", "h:7203")
    clock.now += 11  # node 2 is dead now: its id may be taken over
    assert d.admit(2, "h:9102", "h:9202").raft_address == "h:9102"


# -- persistence --------------------------------------------------------------------------------

def test_persisted_directory_is_what_a_restarted_node_starts_from() -> None:
    e = MemoryEngine()
    d = directory()
    d.merge(2, [(4, "h:7104", "h:7204", "active", 3)])
    d.set_state(3, "decommissioning")
    d.persist(e)
    again = NodeDirectory.load(e, 1, "h:7101", "h:7201", {})  # no peers configured
    assert again.records() == d.records()
    again.set_own_addresses("h:7101", "h:7201")
    assert again.get(1) == d.get(1)  # the same addresses: no new version


def test_a_damaged_persisted_directory_is_ignored() -> None:
    e = MemoryEngine()
    b = e.batch()
    b.put(keys.node_directory_key(), msgpack.packb([(1, "x", "y", "bogus", 1)]))
    e.write(b)
    d = NodeDirectory.load(e, 1, "h:1", "h:2", {2: "h:3"})
    assert [r.node_id for r in d.records()] == [1, 2]


# -- the frame ------------------------------------------------------------------------------------

def test_node_directory_frame_round_trips() -> None:
    items = [(1, "127.0.0.1:7101", "127.0.0.1:7201", "active", 3),
             (4, "127.0.0.1:7104", "", "decommissioned", 0)]
    kind, sender, payload = decode_frame(node_directory_frame(1, items))
    assert (kind, sender, payload) == (FrameKind.NODE_DIRECTORY, 1, items)


@pytest.mark.parametrize("body", [
    None, 5, [[1, "a", "b", "active"]], [[0, "a", "b", "active", 1]], [[1, "", "b", "active", 1]],
    [[1, "a", "b", "gone", 1]], [[1, "a", "b", "active", -1]], [[1, "a", 7, "active", 1]],
    [[1, "a" * 300, "b", "active", 1]], [[True, "a", "b", "active", 1]], [[-5, "a", "b", "active", 1]],
])
def test_a_malformed_node_directory_frame_is_a_decode_error(body: Any) -> None:
    with pytest.raises(DecodeError):
        decode_frame(msgpack.packb((VERSION, FrameKind.NODE_DIRECTORY, 1, body)))


def test_a_garbage_directory_frame_is_counted_and_never_delivered() -> None:
    got: list[Any] = []
    (port,) = free_ports(1)

    class Quiet:
        def __getattr__(self, name: str) -> Any:
            return lambda *a: None

    t = Transport(1, f"127.0.0.1:{port}", {}, Quiet(),  # type: ignore[arg-type]
                  on_directory=lambda sender, items: got.append((sender, items)))
    t.start()
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.linger = 0
        push.connect(f"tcp://127.0.0.1:{port}")
        push.send(msgpack.packb((VERSION, FrameKind.NODE_DIRECTORY, 2, [[1, "a", "b", "x", 1]])))
        push.send(b"\xc1garbage")
        push.send(node_directory_frame(2, [(2, "127.0.0.1:1", "", "active", 1)]))
        wait_until(lambda: got, 10, "the valid directory frame")
        assert t.counters.decode_errors == 2
        assert got == [(2, [(2, "127.0.0.1:1", "", "active", 1)])]
    finally:
        ctx.destroy(linger=0)
        t.stop()


# -- gossip ---------------------------------------------------------------------------------------

class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[int, list[Any]]] = []
        self.loads: list[tuple[int, NodeLoadReport]] = []
        self.peers: dict[int, str] = {}

    def send_node_directory(self, node: int, items: list[Any]) -> None:
        self.sent.append((node, items))

    def send_node_load(self, node: int, load: NodeLoadReport) -> None:
        self.loads.append((node, load))

    def add_peer(self, node: int, address: str) -> None:
        self.peers[node] = address


def test_gossip_sends_at_once_on_a_change_then_every_few_ticks() -> None:
    d, e, t = directory(), MemoryEngine(), FakeTransport()
    g = DirectoryGossip(d, e, {2: "h:7102", 3: "h:7103"}, every_ticks=3)
    assert g.tick() == [2, 3] and t.sent == []  # not attached: nothing sent
    g.attach(t)
    g.tick()  # first round: the directory is news
    assert [n for n, _ in t.sent] == [2, 3] and t.sent[0][1] == d.items()
    assert e.get(keys.node_directory_key()) is not None
    t.sent.clear()
    g.tick()
    g.tick()
    assert t.sent == []
    g.tick()
    assert [n for n, _ in t.sent] == [2, 3]
    t.sent.clear()
    d.merge(2, [(4, "h:7104", "h:7204", "active", 1)])
    assert g.tick() == [2, 3, 4]
    assert [n for n, _ in t.sent] == [2, 3, 4]
    assert t.peers == {4: "h:7104"}  # the new node is connected; the known ones were already


def test_gossip_carries_each_nodes_load_for_the_allocator() -> None:
    d, t = directory(), FakeTransport()
    g = DirectoryGossip(d, None, {2: "h:7102", 3: "h:7103"}, every_ticks=1)
    g.attach(t)
    g.tick(NodeLoadReport(7, 2))
    assert t.loads == [(2, NodeLoadReport(7, 2)), (3, NodeLoadReport(7, 2))]
    d.set_load(2, 5, 1)
    loads = d.loads()
    assert (loads[1].replicas, loads[1].leaders) == (7, 2)  # its own, as last gossiped
    assert (loads[2].replicas, loads[2].leaders, loads[2].state) == (5, 1, "live")
    assert (loads[3].replicas, loads[3].leaders) == (0, 0)  # never heard: empty


@pytest.mark.parametrize("body", [(1,), (1, -1), ("1", 2), (1, 1 << 40), None])
def test_a_malformed_node_load_frame_is_a_decode_error(body: Any) -> None:
    with pytest.raises(DecodeError):
        decode_frame(msgpack.packb((VERSION, FrameKind.NODE_LOAD, 1, body)))


def test_node_load_frame_round_trips() -> None:
    assert decode_frame(node_load_frame(3, NodeLoadReport(12, 4))) == (
        FrameKind.NODE_LOAD, 3, NodeLoadReport(12, 4))


def test_the_creation_policy_admits_a_node_learned_later() -> None:
    d = directory()
    policy = CreationLimits().policy(d, StoreCounters())
    assert not policy.admit(4, 10, MT.APP, 1, 4)
    d.merge(2, [(4, "h:7104", "h:7204", "active", 1)])
    assert policy.admit(4, 10, MT.APP, 1, 4)


# -- node ops -------------------------------------------------------------------------------------

def ask(ops: NodeOps, op: ClientOp, *args: Any) -> tuple[ClientStatus, Any]:
    out: list[bytes] = []
    ops.handle(ClientRequest(1, op, args), Responder(out.append, 1, op))
    resp = decode_response(out[0])
    return resp.status, resp.result


def test_decommission_op_answers_the_record_and_refuses_an_unknown_node() -> None:
    ops = NodeOps(directory(), "c1")
    status, rec = ask(ops, ClientOp.DECOMMISSION, 3, "decommissioning")
    assert status is ClientStatus.OK
    assert rec == {"node_id": 3, "raft_address": "h:7103", "client_address": "",
                   "state": "decommissioning", "version": 1}
    status, msg = ask(ops, ClientOp.DECOMMISSION, 9, "decommissioned")
    assert status is ClientStatus.REFUSED and "no node 9" in msg


def test_join_op_refuses_another_cluster_and_answers_the_directory() -> None:
    ops = NodeOps(directory(), "c1")
    status, msg = ask(ops, ClientOp.JOIN, 4, "h:7104", "h:7204", "c2")
    assert status is ClientStatus.REFUSED and "cluster id 'c2'" in msg
    status, result = ask(ops, ClientOp.JOIN, 4, "h:7104", "h:7204", "c1")
    assert status is ClientStatus.OK and result["cluster_id"] == "c1"
    assert [r["node_id"] for r in result["directory"]] == [1, 2, 3, 4]
    status, msg = ask(ops, ClientOp.JOIN, 4, "h:9104", "h:9204", "c1")
    assert status is ClientStatus.REFUSED and "another live node" in msg


def test_join_fails_with_a_clear_error_when_no_node_answers() -> None:
    (port,) = free_ports(1)
    t0 = time.monotonic()
    with pytest.raises(JoinFailed, match="no node let it in within 1s.*no answer"):
        join_cluster([f"127.0.0.1:{port}"], 4, "h:1", "h:2", "c1", timeout=1.0)
    assert time.monotonic() - t0 < 10
