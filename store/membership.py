"""``Membership``: a node's part in the cluster's membership, the one object both designs' stores
hold: its ``NodeDirectory`` (who the nodes are, live or dead), the ``DirectoryGossip`` that
spreads it, and the ``NodeOps`` (DECOMMISSION, JOIN) that change it. Built by
``NodeLifecycle``; a store built without one (unit tests) gets ``Membership.standalone``: a
fixed directory of its configured peers that never gossips.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from multiraft.storage.engine import Engine
from multiraft.transport.client_protocol import ClientRequest
from multiraft.transport.codec import DirectoryItem, NodeLoadReport
from multiraft.transport.handler import Responder

from .gossip import DirectoryGossip
from .node_directory import DEFAULT_DEAD_AFTER, NodeDirectory
from .node_ops import NodeOps

__all__ = ["Membership"]


class Membership:
    __slots__ = ("directory", "gossip", "ops")

    def __init__(self, directory: NodeDirectory, gossip: DirectoryGossip, ops: NodeOps) -> None:
        self.directory = directory
        self.gossip = gossip
        self.ops = ops

    @classmethod
    def open(cls, engine: Engine, node_id: int, raft_address: str, client_address: str,
             peers: Mapping[int, str], cluster_id: str,
             dead_after: float = DEFAULT_DEAD_AFTER,
             clock: Callable[[], float] = time.monotonic) -> Membership:
        """The membership of node ``node_id``: its directory as persisted in ``engine`` over
        its configured ``peers`` (the transport's initial peers)."""
        directory = NodeDirectory.load(engine, node_id, raft_address, client_address, peers,
                                       dead_after=dead_after, clock=clock)
        return cls(directory, DirectoryGossip(directory, engine, peers),
                   NodeOps(directory, cluster_id))

    @classmethod
    def standalone(cls, node_id: int, peers: list[int]) -> Membership:
        """A fixed membership of ``peers`` (addresses unknown), for a store run on its own."""
        directory = NodeDirectory(node_id, "", "", {p: "" for p in peers})
        return cls(directory, DirectoryGossip(directory, None, directory.raft_addresses()),
                   NodeOps(directory, ""))

    def started(self, transport: Any, raft_address: str, client_address: str) -> None:
        """The transport is bound at these addresses: this node's record names them, and the
        gossip runs through it from now on."""
        self.directory.set_own_addresses(raft_address, client_address)
        self.gossip.attach(transport)

    def receive(self, from_node: int, payload: list[DirectoryItem] | NodeLoadReport) -> None:
        """A NODE_DIRECTORY or NODE_LOAD frame (the transport's thread)."""
        if isinstance(payload, NodeLoadReport):
            self.directory.set_load(from_node, payload.replicas, payload.leaders)
        else:
            self.directory.merge(from_node, payload)

    def tick(self, replicas: int = 0, leaders: int = 0) -> list[int]:
        """The store's tick: gossip (with this node's load: ``replicas`` initialized replicas,
        ``leaders`` of them leading); the other nodes' ids (to heartbeat, to watch)."""
        return self.gossip.tick(NodeLoadReport(replicas, leaders))

    def handle(self, req: ClientRequest, responder: Responder) -> None:
        """A node op (``client_protocol.NODE_OPS``)."""
        self.ops.handle(req, responder)

    def status(self) -> list[dict[str, Any]]:
        """STATUS's ``directory``."""
        return self.directory.status()
