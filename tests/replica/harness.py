"""One ``ReplicaCore`` on a ``MemoryEngine`` (or an engine the test gives), driven by hand: its
writes wait in ``env.writes`` until the test makes them durable (``env.flush()``), its messages
(and snapshot answers) are recorded by a fake transport, its client answers by ``Reply``."""

from __future__ import annotations

from typing import Any

from multiraft.raft.types import Message
from multiraft.replica.core import ReplicaCore
from multiraft.replica.env import ReplicaServices
from multiraft.replica.snapshot_sender import SnapshotSender
from multiraft.storage.engine import Engine, WriteBatch
from multiraft.storage.layout import bootstrap_node
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.storage.snapshot_staging import MemoryStaging, SnapshotStaging
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus
from multiraft.transport.codec import Heartbeat, ReplicaCheck, ReplicaGone, SnapshotAck, SnapshotChunk
from multiraft.transport.handler import Responder


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int, Message]] = []
        self.chunks: list[tuple[int, SnapshotChunk]] = []
        self.acks: list[tuple[int, SnapshotAck]] = []
        self.gone: list[tuple[int, ReplicaGone]] = []
        self.checks: list[tuple[int, ReplicaCheck]] = []

    def send(self, node: int, range_id: int, m: Message) -> None:
        self.sent.append((node, range_id, m))

    def send_snapshot_chunk(self, node: int, chunk: SnapshotChunk) -> None:
        self.chunks.append((node, chunk))

    def send_snapshot_ack(self, node: int, ack: SnapshotAck) -> None:
        self.acks.append((node, ack))

    def send_replica_gone(self, node: int, gone: ReplicaGone) -> None:
        self.gone.append((node, gone))

    def send_replica_check(self, node: int, check: ReplicaCheck) -> None:
        self.checks.append((node, check))


class FakeHeartbeats:
    def __init__(self) -> None:
        self.posted: list[tuple[int, Heartbeat]] = []

    def post(self, node_id: int, hb: Heartbeat) -> None:
        self.posted.append((node_id, hb))

    def post_response(self, node_id: int, hb: Heartbeat) -> None:
        self.posted.append((node_id, hb))


class FakeEnv:
    """Holds the core's writes until ``flush``: a test decides when they become durable."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.core: ReplicaCore | None = None
        self.writes: list[WriteBatch] = []
        self.descriptors: list[RangeDescriptor] = []
        self.splits: list[tuple[RangeDescriptor, RangeDescriptor, bool]] = []
        self.awake_calls = 0
        self.destroyed = 0

    def submit_write(self, batch: WriteBatch, sync: bool) -> None:
        self.writes.append(batch)

    def awake(self) -> None:
        self.awake_calls += 1

    def quiesced(self) -> None:
        pass

    def descriptor_changed(self, descriptor: RangeDescriptor) -> None:
        self.descriptors.append(descriptor)

    def split_applied(self, left: RangeDescriptor, right: RangeDescriptor,
                      campaign: bool) -> None:
        self.splits.append((left, right, campaign))

    def overlapping(self, descriptor: RangeDescriptor) -> int | None:
        return None

    def replica_destroyed(self) -> None:
        self.destroyed += 1

    def flush(self, rounds: int = 20) -> None:
        """Make every write durable and let the core go on, until it has nothing to write."""
        assert self.core is not None
        for _ in range(rounds):
            if not self.writes:
                self.core.process_ready()
                if not self.writes:
                    return
            batch = self.writes.pop(0)
            self.engine.write(batch)
            self.core.write_done()
        raise AssertionError("the replica kept writing")


class Reply(Responder):
    """A ``Responder`` that keeps the answer."""

    def __init__(self) -> None:
        super().__init__(lambda _data: None, 0, ClientOp.PUT)
        self.status: ClientStatus | None = None
        self.result: Any = None

    def respond(self, status: ClientStatus, result: Any = None) -> None:
        if self.status is None:
            self.status, self.result = status, result


def make_replica(node_id: int = 1, peers: tuple[int, ...] = (2, 3), range_id: int = 1,
                 bootstrap: bool = True, engine: Engine | None = None,
                 staging: SnapshotStaging | None = None,
                 **svc_options: Any) -> tuple[ReplicaCore, FakeEnv]:
    """The replica of ``range_id`` on node ``node_id`` of a new cluster ``{node_id} | peers``
    of one range (replica id = node id); ``bootstrap=False``: none written (an uninitialized
    replica, or one whose engine the test prepared). With no peers it campaigns at once, so it
    leads. Received snapshots are staged in ``staging`` (default: in memory)."""
    engine = MemoryEngine() if engine is None else engine
    staging = MemoryStaging() if staging is None else staging
    if bootstrap:
        bootstrap_node(engine, node_id, list(peers), 1)
    transport = FakeTransport()
    svc = ReplicaServices(node_id, engine, transport, FakeHeartbeats(),
                          SnapshotSender(transport, node_id=node_id), staging, **svc_options)
    env = FakeEnv(engine)
    core = ReplicaCore(svc, env, range_id, node_id, campaign=bootstrap and not peers)
    env.core = core
    core.start()
    env.flush()
    return core, env


def put(core: ReplicaCore, key: bytes, value: bytes, seq: int, client_id: int = 7) -> Reply:
    reply = Reply()
    core.client(ClientRequest(seq, ClientOp.PUT, (key, value), client_id, seq), reply)
    return reply


def get(core: ReplicaCore, key: bytes) -> Reply:
    reply = Reply()
    core.client(ClientRequest(0, ClientOp.GET, (key,)), reply)
    return reply


def elect(core: ReplicaCore, env: FakeEnv) -> None:
    """Make ``core`` (of a 3-replica range) leader by answering its (pre-)vote requests from
    replica 2 by hand; its later appends are never acknowledged: nothing commits."""
    from multiraft.raft.types import MessageType as MT
    core.rn.campaign()
    for kind, answer in ((MT.PRE_VOTE, MT.PRE_VOTE_RESP), (MT.VOTE, MT.VOTE_RESP)):
        env.flush()
        asks = [m for _, _, m in core.svc.transport.sent if m.type == kind and m.to == 2]
        assert asks, f"no {kind.name} sent"
        core.step_raft(2, [Message(answer, to=core.replica_id, from_=2, term=asks[-1].term)])
    env.flush()
    from multiraft.raft import StateType
    assert core.rn.raft.state == StateType.LEADER
