"""``DirectoryGossip``: spreads this node's ``NodeDirectory`` and acts on its changes.

Driven by the store's tick (one thread: the store actor's, or the lock design's process_raft):
every ``every_ticks`` ticks, and at the first tick after the directory changed, it sends the
whole directory (a few hundred bytes per node) to every other node it knows, as one
NODE_DIRECTORY frame each. On a change it also connects the transport to nodes it has not
reached yet, or that moved (``Transport.add_peer``: nobody restarts when a node joins), and
persists the directory. A lost frame costs nothing: the next round resends everything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from multiraft.storage.engine import Engine
from multiraft.transport.codec import NodeLoadReport

from .node_directory import NodeDirectory

__all__ = ["DirectoryGossip", "GOSSIP_EVERY_TICKS"]

log = logging.getLogger(__name__)

#: Ticks between two gossip rounds when nothing changed (1 s at the default 100 ms tick).
GOSSIP_EVERY_TICKS = 10


class DirectoryGossip:
    """Invariants: ``_connected`` maps each peer the transport was told of to the raft address
    it was given; ``_seen`` is the directory generation last acted on. Only the tick's thread
    calls ``tick``; ``attach`` happens once, before the first round can matter."""

    __slots__ = ("directory", "every_ticks", "_engine", "_transport", "_connected", "_seen",
                 "_ticks")

    def __init__(self, directory: NodeDirectory, engine: Engine | None,
                 connected: Mapping[int, str], every_ticks: int = GOSSIP_EVERY_TICKS) -> None:
        """``connected``: the peers the transport was built with (node id -> raft address)."""
        if every_ticks <= 0:
            raise ValueError("gossip needs a positive interval")
        self.directory = directory
        self.every_ticks = every_ticks
        self._engine = engine
        self._transport: Any = None
        self._connected = dict(connected)
        self._seen = 0
        self._ticks = 0

    def attach(self, transport: Any) -> None:
        """Gossip through ``transport`` from now on (its addresses are bound)."""
        self._transport = transport

    def tick(self, load: NodeLoadReport = NodeLoadReport(0, 0)) -> list[int]:
        """One tick: gossip if due or if the directory changed (and this node's ``load`` with
        it). The other nodes' ids, for the store's heartbeats and liveness."""
        d = self.directory
        peers = d.peers()
        transport = self._transport
        if transport is None:
            return peers
        self._ticks += 1
        generation = d.generation
        changed = generation != self._seen
        if changed:
            self._seen = generation
            self._connect(transport)
            self._persist()
        if changed or self._ticks >= self.every_ticks:
            self._ticks = 0
            items = d.items()
            d.set_load(d.node_id, load.replicas, load.leaders)
            for node in peers:
                transport.send_node_directory(node, items)
                transport.send_node_load(node, load)
        return peers

    def _connect(self, transport: Any) -> None:
        for node, address in self.directory.raft_addresses().items():
            if self._connected.get(node) != address:
                try:
                    transport.add_peer(node, address)
                except ValueError as e:  # CURVE without the node's key: cannot reach it
                    log.warning("node %d: cannot connect to node %d at %s: %s",
                                self.directory.node_id, node, address, e)
                    continue
                log.info("node %d: connecting to node %d at %s", self.directory.node_id,
                         node, address)
                self._connected[node] = address

    def _persist(self) -> None:
        if self._engine is None:
            return
        try:
            self.directory.persist(self._engine)
        except Exception:  # the engine closing under a stopping node; gossip rebuilds it
            log.warning("node %d: could not persist the node directory",
                        self.directory.node_id, exc_info=True)
