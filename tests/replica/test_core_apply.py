"""``ReplicaCore`` alone, on a one-replica range with in-memory stand-ins for the node (issue 12,
defect 9): an entry whose data is not a command (a buggy or hostile leader's) is applied as an
error result, and the replica goes on serving; it used to be decoded again when answering
clients, which raised and killed the replica, on every replica of the range."""

from __future__ import annotations

from typing import Any

from multiraft.raft import ConfState
from multiraft.replica.core import ReplicaCore
from multiraft.replica.env import ReplicaServices
from multiraft.replica.snapshot_sender import SnapshotSender
from multiraft.storage import MemoryEngine, RangeDescriptor
from multiraft.storage.bootstrap import bootstrap_range
from multiraft.storage.engine import WriteBatch
from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientResponse,
                                                 ClientStatus, decode_response)
from multiraft.transport.handler import Responder

DESC = RangeDescriptor(1, b"", None, ((1, 1),), 0)


class Node:
    """The node around one replica: the writer writes at once (the test drives the cycle)."""

    def __init__(self) -> None:
        self.engine = MemoryEngine()
        b = self.engine.batch()
        bootstrap_range(b, DESC, ConfState(voters=(1,)))
        self.engine.write(b)
        self.writes: list[WriteBatch] = []
        self.answers: list[ClientResponse] = []

    # ReplicaEnv
    def submit_write(self, batch: WriteBatch, sync: bool) -> None:
        self.writes.append(batch)

    def awake(self) -> None: ...

    def quiesced(self) -> None: ...

    def descriptor_changed(self, descriptor: RangeDescriptor) -> None: ...

    # HeartbeatSink and transport: one replica sends nothing
    def post(self, *a: Any) -> None: ...

    def post_response(self, *a: Any) -> None: ...

    def run(self, core: ReplicaCore) -> None:
        """Write what the core handed over and tell it, until it is idle."""
        for _ in range(100):
            if not self.writes:
                core.process_ready()  # messages to itself (its own vote) may make more work
                if not self.writes:
                    return
            self.engine.write(self.writes.pop(0))
            core.write_done()
        raise AssertionError("the replica never went idle")

    def responder(self, rid: int, op: ClientOp) -> Responder:
        return Responder(lambda data: self.answers.append(decode_response(data)), rid, op)


def test_an_entry_that_is_not_a_command_does_not_kill_the_replica() -> None:
    node = Node()
    svc = ReplicaServices(1, node.engine, node, node, SnapshotSender(node))
    core = ReplicaCore(svc, node, 1, 1, campaign=True)
    core.start()
    node.run(core)
    assert core.rn.raft.state.name == "LEADER"
    core.rn.propose(b"\xc1 not a command")  # what no client request can produce
    core.process_ready()
    node.run(core)  # applied: an error result, answered to nobody
    core.client(ClientRequest(1, ClientOp.PUT, (b"k", b"v"), 7, 1), node.responder(1, ClientOp.PUT))
    core.process_ready()
    node.run(core)
    assert [(a.request_id, a.status) for a in node.answers] == [(1, ClientStatus.OK)]
    assert core.sm.applied.index >= 3
