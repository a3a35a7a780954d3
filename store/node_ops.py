"""``NodeOps``: the client ops a node answers itself about cluster membership, whichever design
runs it (``client_protocol.NODE_OPS``):

- ``DECOMMISSION (node_id, state)``: set that node's operator state ("decommissioning",
  "decommissioned", or "active" to recommission) at a new version; the gossip carries it to
  every node. OK with the record (``NodeRecord.as_map``); REFUSED for an unknown node id.
- ``JOIN (node_id, raft_address, client_address, cluster_id)``: a new node asks to be let in.
  REFUSED if the cluster id is not this node's, if the id is another live node's, or if it was
  decommissioned; else its record is added (or refreshed) and OK carries ``{"directory":
  [records], "cluster_id"}`` for the new node to start from.

It answers at once and never blocks: the directory has its own small lock, and the change
reaches the other nodes at the next gossip tick.
"""

from __future__ import annotations

import logging
from typing import cast

from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus
from multiraft.transport.handler import Responder

from .node_directory import JoinRefused, NodeDirectory, OperatorState, UnknownNode

__all__ = ["NodeOps"]

log = logging.getLogger(__name__)


class NodeOps:
    __slots__ = ("directory", "cluster_id")

    def __init__(self, directory: NodeDirectory, cluster_id: str) -> None:
        self.directory = directory
        self.cluster_id = cluster_id

    def handle(self, req: ClientRequest, responder: Responder) -> None:
        """Answer a node op (the protocol already checked its arguments' types)."""
        if req.op is ClientOp.DECOMMISSION:
            node_id, state = req.args
            try:
                record = self.directory.set_state(node_id, cast(OperatorState, state))
            except UnknownNode:
                responder.respond(ClientStatus.REFUSED, f"no node {node_id} in the directory")
                return
            log.info("node %d: node %d is now %s", self.directory.node_id, node_id, state)
            responder.respond(ClientStatus.OK, record.as_map())
        elif req.op is ClientOp.JOIN:
            node_id, raft_address, client_address, cluster_id = req.args
            if cluster_id != self.cluster_id:
                responder.respond(ClientStatus.REFUSED,
                                  f"cluster id {cluster_id!r} is not this cluster's "
                                  f"({self.cluster_id!r})")
                return
            if node_id == 0 or not raft_address:
                responder.respond(ClientStatus.REFUSED, "a joining node needs an id > 0 and a "
                                                        "raft address")
                return
            try:
                self.directory.admit(node_id, raft_address, client_address)
            except JoinRefused as e:
                responder.respond(ClientStatus.REFUSED, str(e))
                return
            log.info("node %d: node %d joins at %s", self.directory.node_id, node_id,
                     raft_address)
            responder.respond(ClientStatus.OK, {
                "directory": [r.as_map() for r in self.directory.records()],
                "cluster_id": self.cluster_id})
        else:
            responder.respond(ClientStatus.REFUSED, f"{req.op.name} is not a node op")
