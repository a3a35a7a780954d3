"""``SimNetwork`` and ``SimTransport``: the simulated network between the nodes, and each
node's transport on it.

``SimTransport`` has the API of the ZeroMQ ``Transport`` the node's code calls: it encodes
every frame with the real codec (``transport.codec``) and the receiving side decodes it and
hands it to the node's ``Handler`` with the real dispatch (``transport.handler``), so only
the sockets are simulated. Raft messages a node sends in one event go out as one frame per
peer, as the real transport's outbox does.

``SimNetwork`` carries frames between the nodes with a latency drawn per frame (so frames of a
link can overtake each other, ``LinkFaults.jitter``), and drops or duplicates them with the
link's probabilities. Directed links can be cut (a partition); a node that is down receives
nothing, and what reaches a paused one waits until it resumes. Client requests and responses
travel on it too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from multiraft.raft.types import Message
from multiraft.transport.client_protocol import ClientRequest
from multiraft.transport.codec import (DecodeError, DirectoryItem, Heartbeat, NodeLoadReport,
                                       ReplicaCheck, ReplicaGone, SnapshotAck, SnapshotChunk,
                                       decode_frame, heartbeats_frame, node_directory_frame,
                                       node_load_frame, raft_frame, raft_item,
                                       replica_check_frame, replica_gone_frame,
                                       snapshot_ack_frame, snapshot_chunk_frame)
from multiraft.transport.handler import (DirectoryReceiver, Handler, Responder, dispatch_frame)

from .world import World

__all__ = ["LinkFaults", "SimNetwork", "SimTransport", "sim_address"]

log = logging.getLogger(__name__)


def sim_address(node_id: int, client: bool = False) -> str:
    """The (never bound) address a simulated node's transport reports."""
    return f"127.0.0.{2 if client else 1}:{10_000 + node_id}"


@dataclass(slots=True)
class LinkFaults:
    """How every link behaves: one-way latency (seconds) plus an exponentially distributed
    jitter of mean ``jitter``, and the probabilities that a frame is dropped or duplicated."""

    latency: float = 0.5e-3
    jitter: float = 0.5e-3
    drop: float = 0.0
    duplicate: float = 0.0


class SimNetwork:
    """Invariant: ``_up`` maps each node id to the transport of its running incarnation."""

    __slots__ = ("world", "faults", "cut", "paused", "frames", "dropped", "_up", "on_send")

    def __init__(self, world: World, faults: LinkFaults | None = None) -> None:
        self.world = world
        self.faults = faults or LinkFaults()
        #: directed (from, to) node pairs whose frames are lost (a partition)
        self.cut: set[tuple[int, int]] = set()
        #: node id -> until when it is paused (its frames wait in its socket buffers)
        self.paused: dict[int, float] = {}
        self.frames = 0
        self.dropped = 0
        self._up: dict[int, SimTransport] = {}
        #: called with (from node, to node, range id, message) for each raft message sent
        self.on_send: Callable[[int, int, int, Message], None] | None = None

    def attach(self, transport: SimTransport) -> None:
        self._up[transport.node_id] = transport

    def detach(self, transport: SimTransport) -> None:
        if self._up.get(transport.node_id) is transport:
            del self._up[transport.node_id]

    def isolate(self, side: set[int], rest: set[int]) -> None:
        """Cut every link between ``side`` and ``rest``, both ways."""
        for a in side:
            for b in rest:
                self.cut.add((a, b))
                self.cut.add((b, a))

    def heal(self) -> None:
        self.cut.clear()

    def reachable(self, src: int, dst: int) -> bool:
        return dst in self._up and (src, dst) not in self.cut

    def _delay(self) -> float:
        f = self.faults
        return f.latency + (self.world.rng.expovariate(1 / f.jitter) if f.jitter > 0 else 0.0)

    def send(self, src: int, dst: int, frame: bytes) -> None:
        """Carry ``frame`` from node ``src`` to node ``dst`` (or lose it)."""
        self.frames += 1
        rng = self.world.rng
        if (src, dst) in self.cut or rng.random() < self.faults.drop:
            self.dropped += 1
            return
        self.world.after(self._delay(), self._arrive, src, dst, frame)
        if self.faults.duplicate > 0 and rng.random() < self.faults.duplicate:
            self.world.after(self._delay(), self._arrive, src, dst, frame)

    def pause(self, node_id: int, until: float) -> None:
        """Node ``node_id`` takes nothing in until ``until`` (what reaches it waits)."""
        self.paused[node_id] = until

    def _waits(self, dst: int, fn: Callable[..., None], *args: object) -> bool:
        until = self.paused.get(dst, 0.0)
        if self.world.now < until:
            self.world.after(until - self.world.now, fn, *args)
            return True
        return False

    def _arrive(self, src: int, dst: int, frame: bytes) -> None:
        t = self._up.get(dst)
        if t is None or (src, dst) in self.cut:
            self.dropped += 1
            return
        if not self._waits(dst, self._arrive, src, dst, frame):
            t.receive(frame)

    def client_send(self, client: int, dst: int, request: ClientRequest,
                    reply: Callable[[bytes], None]) -> None:
        """Carry a client's request to node ``dst``; its response (bytes) comes back to
        ``reply``. A client is ``-client`` on the links (it can be cut off too)."""
        if (-client, dst) in self.cut:
            return
        self.world.after(self._delay(), self._client_arrive, client, dst, request, reply)

    def _client_arrive(self, client: int, dst: int, request: ClientRequest,
                       reply: Callable[[bytes], None]) -> None:
        t = self._up.get(dst)
        if t is None or (-client, dst) in self.cut:
            return
        if self._waits(dst, self._client_arrive, client, dst, request, reply):
            return

        def respond(data: bytes) -> None:
            if (dst, -client) not in self.cut:
                self.world.after(self._delay(), reply, data)
        t.client_request(request, respond)


class SimTransport:
    """One incarnation's transport (``Transport``'s API, on the ``SimNetwork``)."""

    def __init__(self, network: SimNetwork, node_id: int, handler: Handler,
                 on_directory: DirectoryReceiver | None) -> None:
        self.network = network
        self.node_id = node_id
        self._handler = handler
        self._on_directory = on_directory
        self.address = sim_address(node_id)
        self.client_address = sim_address(node_id, client=True)
        self.decode_errors = 0
        #: raft items (encoded) queued per peer until the end of the current event
        self._outbox: dict[int, list[bytes]] = {}

    def start(self) -> None:
        self.network.attach(self)

    def stop(self) -> None:
        self.network.detach(self)
        self._outbox.clear()

    # -- sending (the node's side) --

    def send(self, node_id: int, range_id: int, message: Message) -> None:
        net = self.network
        if net.on_send is not None:
            net.on_send(self.node_id, node_id, range_id, message)
        if not self._outbox:
            net.world.after(0.0, self._flush)
        self._outbox.setdefault(node_id, []).append(raft_item(range_id, message))

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, {}
        for node_id, items in outbox.items():
            self._frame(node_id, raft_frame(self.node_id, items))

    def _frame(self, node_id: int, frame: bytes) -> None:
        if not self.network.reachable(self.node_id, node_id):
            # what ZeroMQ's full queue to a dead peer amounts to (the store rate-limits it),
            # told from the transport's side, as the real one does from its thread
            self.network.world.after(0.0, self._handler.on_unreachable, node_id)
        self.network.send(self.node_id, node_id, frame)

    def send_heartbeats(self, node_id: int, heartbeats: list[Heartbeat]) -> None:
        self._frame(node_id, heartbeats_frame(self.node_id, heartbeats))

    def send_heartbeat_responses(self, node_id: int, responses: list[Heartbeat]) -> None:
        self._frame(node_id, heartbeats_frame(self.node_id, responses, responses=True))

    def send_snapshot_chunk(self, node_id: int, chunk: SnapshotChunk) -> None:
        self._frame(node_id, snapshot_chunk_frame(self.node_id, chunk))

    def snapshot_bytes_queued(self, node_id: int) -> int:  # noqa: ARG002
        return 0

    def send_snapshot_ack(self, node_id: int, ack: SnapshotAck) -> None:
        self._frame(node_id, snapshot_ack_frame(self.node_id, ack))

    def send_replica_gone(self, node_id: int, gone: ReplicaGone) -> None:
        self._frame(node_id, replica_gone_frame(self.node_id, gone))

    def send_node_directory(self, node_id: int, records: list[DirectoryItem]) -> None:
        self._frame(node_id, node_directory_frame(self.node_id, records))

    def send_replica_check(self, node_id: int, check: ReplicaCheck) -> None:
        self._frame(node_id, replica_check_frame(self.node_id, check))

    def send_node_load(self, node_id: int, load: NodeLoadReport) -> None:
        self._frame(node_id, node_load_frame(self.node_id, load))

    def add_peer(self, node_id: int, address: str, public_key: bytes | None = None) -> None:
        """Nothing to connect: every node reaches every other through the network."""

    # -- receiving (the network's side) --

    def receive(self, frame: bytes) -> None:
        try:
            kind, sender, payload = decode_frame(frame)
        except DecodeError as e:
            self.decode_errors += 1
            log.warning("node %d: dropped a malformed frame: %s", self.node_id, e)
            return
        dispatch_frame(self._handler, self._on_directory, kind, sender, payload)

    def client_request(self, request: ClientRequest, reply: Callable[[bytes], None]) -> None:
        self._handler.on_client_request(request, Responder(reply, request.request_id,
                                                           request.op))
