"""``NodeDirectory``: which nodes make up the cluster, as this node knows them.

Each node holds a record per node: its raft and client addresses, its operator state
("active", "decommissioning", "decommissioned": set by DECOMMISSION) and a ``version``. The
directory is replicated by gossip, as CockroachDB's node descriptors are: every node sends its
whole directory to every node it knows every few ticks (``store.gossip``), and a receiver merges
record by record, the higher ``(version, state, raft address, client address)`` winning (the
version decides; the rest is a deterministic tie-break, so every node settles on the same
record). A node's own record is its own: it bumps the version when its addresses change; a
DECOMMISSION anywhere bumps the version of the record it changes. A record about this node
that wins carries its state here, but never other addresses than this node's: it is re-issued
at a higher version with the real ones.

Liveness, in this node's view: a node is "dead" once nothing was gossiped from it for
``dead_after`` seconds (CockroachDB's ``server.time_until_store_dead``), counted from the
directory's creation for a node never heard from. This node is always live to itself. The
directory is persisted in the engine (``keys.node_directory_key``) so a restarted node knows the
cluster without its original peer list.

Thread-safe: both designs call it from several threads (the transport thread merges gossip,
the store's thread gossips and answers STATUS and node ops); one small lock guards it all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

import msgpack

from multiraft.replica.allocator import NodeLoad
from multiraft.storage import keys
from multiraft.storage.engine import Engine
from multiraft.transport.codec import (NODE_STATES, DecodeError, DirectoryItem,
                                       decode_directory_items)

__all__ = ["NodeRecord", "NodeDirectory", "OperatorState", "NodeView", "UnknownNode",
           "JoinRefused", "DEFAULT_DEAD_AFTER"]

log = logging.getLogger(__name__)

#: Seconds without gossip after which a node is dead (CockroachDB's time_until_store_dead).
DEFAULT_DEAD_AFTER = 300.0

OperatorState = Literal["active", "decommissioning", "decommissioned"]
#: A node's state in one node's view: live or dead unless an operator state overrides it.
NodeView = Literal["live", "dead", "decommissioning", "decommissioned"]

_STATE_RANK = {s: i for i, s in enumerate(NODE_STATES)}


class UnknownNode(KeyError):
    """A node op named a node id the directory does not hold."""


class JoinRefused(ValueError):
    """A JOIN this node refuses: the id is another node's, or was decommissioned."""


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One node as the directory knows it; ``client_address`` is "" while unknown."""

    node_id: int
    raft_address: str
    client_address: str
    state: OperatorState
    version: int

    def precedence(self) -> tuple[int, int, str, str]:
        """The merge order: the higher wins (version first; the rest breaks ties the same way
        on every node)."""
        return self.version, _STATE_RANK[self.state], self.raft_address, self.client_address

    def item(self) -> DirectoryItem:
        """The record as a NODE_DIRECTORY frame carries it."""
        return (self.node_id, self.raft_address, self.client_address, self.state, self.version)

    @classmethod
    def of_item(cls, item: DirectoryItem) -> NodeRecord:
        node_id, raft, client, state, version = item
        return cls(node_id, raft, client, cast(OperatorState, state), version)

    def as_map(self) -> dict[str, Any]:
        """The record as node ops answer it (``state``: the operator state)."""
        return {"node_id": self.node_id, "raft_address": self.raft_address,
                "client_address": self.client_address, "state": self.state,
                "version": self.version}

    def same_addresses(self, raft_address: str, client_address: str) -> bool:
        """Whether this record names these addresses (an unknown client address matches)."""
        return self.raft_address == raft_address and (
            not self.client_address or self.client_address == client_address)


class NodeDirectory:
    """Invariants: ``_records`` holds this node's own record; ``generation`` grows on every
    change of a record (what the gossip and the persistence watch); every field is read and
    written with ``_lock`` held."""

    __slots__ = ("node_id", "dead_after", "_clock", "_lock", "_records", "_last_heard",
                 "_born", "_generation", "_self_known", "_loads")

    def __init__(self, node_id: int, raft_address: str, client_address: str,
                 peers: Mapping[int, str], *, dead_after: float = DEFAULT_DEAD_AFTER,
                 known: Iterable[NodeRecord] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        """This node at its configured addresses, its configured ``peers`` (node id -> raft
        address; client addresses unknown), then the ``known`` records (persisted ones) over
        them by precedence."""
        self.node_id = node_id
        self.dead_after = dead_after
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[int, NodeRecord] = {
            n: NodeRecord(n, addr, "", "active", 0) for n, addr in peers.items() if n != node_id}
        self._records[node_id] = NodeRecord(node_id, raft_address, client_address, "active", 0)
        for r in known:
            cur = self._records.get(r.node_id)
            if cur is None or r.precedence() > cur.precedence():
                self._records[r.node_id] = r
        self._born = clock()
        self._last_heard: dict[int, float] = {}
        self._generation = 1
        #: whether this node's own addresses are final (the transport has bound them)
        self._self_known = False
        #: node id -> (replicas, leaders) as the node last gossiped them (this node's own:
        #: as of its last gossip round); not persisted, not versioned: a fresh count wins
        self._loads: dict[int, tuple[int, int]] = {}

    # -- persistence --

    @classmethod
    def load(cls, engine: Engine, node_id: int, raft_address: str, client_address: str,
             peers: Mapping[int, str], *, dead_after: float = DEFAULT_DEAD_AFTER,
             clock: Callable[[], float] = time.monotonic) -> NodeDirectory:
        """The directory persisted in ``engine`` (none: just this node and ``peers``). A
        damaged record is logged and ignored: gossip brings the cluster back."""
        known: list[NodeRecord] = []
        raw = engine.get(keys.node_directory_key())
        if raw is not None:
            try:
                known = [NodeRecord.of_item(i) for i in decode_directory_items(
                    msgpack.unpackb(raw, use_list=False))]
            except (DecodeError, ValueError, TypeError) as e:
                log.warning("node %d: ignoring its damaged persisted node directory: %s",
                            node_id, e)
        return cls(node_id, raft_address, client_address, peers, dead_after=dead_after,
                   known=known, clock=clock)

    def persist(self, engine: Engine, sync: bool = False) -> int:
        """Write the directory into ``engine``; the generation written."""
        with self._lock:
            generation = self._generation
            items = [r.item() for _, r in sorted(self._records.items())]
        batch = engine.batch()
        batch.put(keys.node_directory_key(), msgpack.packb(items))
        engine.write(batch, sync=sync)
        return generation

    # -- reading --

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def __contains__(self, node_id: object) -> bool:
        with self._lock:
            return node_id in self._records

    def get(self, node_id: int) -> NodeRecord | None:
        with self._lock:
            return self._records.get(node_id)

    def records(self) -> list[NodeRecord]:
        """Every record, by node id."""
        with self._lock:
            return [r for _, r in sorted(self._records.items())]

    def items(self) -> list[DirectoryItem]:
        """Every record as gossip carries it."""
        return [r.item() for r in self.records()]

    def peers(self) -> list[int]:
        """The other nodes' ids, sorted: the nodes to heartbeat and to gossip to."""
        with self._lock:
            return sorted(n for n in self._records if n != self.node_id)

    def raft_addresses(self) -> dict[int, str]:
        """node id -> raft address of the other nodes."""
        with self._lock:
            return {n: r.raft_address for n, r in self._records.items() if n != self.node_id}

    def states(self) -> dict[int, NodeView]:
        """Every node's state in this node's view (see the module docstring)."""
        with self._lock:
            now = self._clock()
            return {n: self._view(r, now) for n, r in self._records.items()}

    def status(self) -> list[dict[str, Any]]:
        """STATUS's ``directory``: ``{"node_id", "raft_address", "client_address", "state"}``
        per node, by node id, ``state`` as ``states`` gives it."""
        with self._lock:
            now = self._clock()
            return [{"node_id": n, "raft_address": r.raft_address,
                     "client_address": r.client_address, "state": self._view(r, now)}
                    for n, r in sorted(self._records.items())]

    def _view(self, r: NodeRecord, now: float) -> NodeView:
        if r.state != "active":
            return r.state
        if r.node_id == self.node_id:
            return "live"
        heard = self._last_heard.get(r.node_id, self._born)
        return "live" if now - heard <= self.dead_after else "dead"

    # -- changing --

    def set_own_addresses(self, raft_address: str, client_address: str) -> NodeRecord:
        """The transport bound this node's addresses: its record names them (a new version if
        they changed, or the record was never issued)."""
        with self._lock:
            self._self_known = True
            cur = self._records[self.node_id]
            if cur.version == 0 or (cur.raft_address, cur.client_address) != (
                    raft_address, client_address):
                cur = self._put(replace(cur, raft_address=raft_address,
                                        client_address=client_address, version=cur.version + 1))
            return cur

    def merge(self, from_node: int | None, items: Iterable[DirectoryItem]) -> bool:
        """Merge a gossiped directory (``from_node``: its sender, heard from now; None: not
        gossip, e.g. a JOIN answer); whether any record changed."""
        changed = False
        with self._lock:
            if from_node is not None:
                self._last_heard[from_node] = self._clock()
            for item in items:
                incoming = NodeRecord.of_item(item)
                cur = self._records.get(incoming.node_id)
                if cur is not None and incoming.precedence() <= cur.precedence():
                    continue
                if incoming.node_id == self.node_id and cur is not None and self._self_known \
                        and (incoming.raft_address, incoming.client_address) != (
                            cur.raft_address, cur.client_address):
                    # our state as decided elsewhere, our addresses as they are
                    incoming = replace(incoming, raft_address=cur.raft_address,
                                       client_address=cur.client_address,
                                       version=incoming.version + 1)
                self._put(incoming)
                changed = True
        return changed

    def set_load(self, node_id: int, replicas: int, leaders: int) -> None:
        """``node_id`` holds ``replicas`` replicas and leads ``leaders`` of them (gossiped)."""
        with self._lock:
            self._loads[node_id] = (replicas, leaders)

    def loads(self) -> dict[int, NodeLoad]:
        """Every known node's state and load (``replica.allocator.ClusterLoad``); a node whose
        load was never heard counts as empty."""
        with self._lock:
            now = self._clock()
            return {n: NodeLoad(self._view(r, now), *self._loads.get(n, (0, 0)))
                    for n, r in self._records.items()}

    def heard(self, node_id: int) -> None:
        """``node_id`` is alive now (it gossiped, or it just joined)."""
        with self._lock:
            self._last_heard[node_id] = self._clock()

    def set_state(self, node_id: int, state: OperatorState) -> NodeRecord:
        """An operator's DECOMMISSION: ``node_id``'s state, at a new version; raises
        ``UnknownNode``."""
        if state not in _STATE_RANK:
            raise ValueError(f"unknown node state {state!r}")
        with self._lock:
            cur = self._records.get(node_id)
            if cur is None:
                raise UnknownNode(node_id)
            return self._put(replace(cur, state=state, version=cur.version + 1))

    def admit(self, node_id: int, raft_address: str, client_address: str) -> NodeRecord:
        """A JOIN of ``node_id`` at these addresses: its record, new or refreshed at a new
        version. Raises ``JoinRefused`` if the id was decommissioned, or belongs to another
        node (other addresses) that is not dead."""
        with self._lock:
            cur = self._records.get(node_id)
            if cur is not None:
                if cur.state == "decommissioned":
                    raise JoinRefused(f"node id {node_id} was decommissioned; it cannot join "
                                      f"again: give the new node a new id")
                if node_id == self.node_id:
                    raise JoinRefused(f"node id {node_id} is the id of the node asked "
                                      f"({cur.raft_address})")
                if not cur.same_addresses(raft_address, client_address) \
                        and self._view(cur, self._clock()) != "dead":
                    raise JoinRefused(
                        f"node id {node_id} belongs to another live node (raft "
                        f"{cur.raft_address}, clients {cur.client_address or 'unknown'}); "
                        f"give the new node a new id")
            state: OperatorState = "active" if cur is None else cur.state
            version = 0 if cur is None else cur.version
            record = self._put(NodeRecord(node_id, raft_address, client_address, state,
                                          version + 1))
            self._last_heard[node_id] = self._clock()
            return record

    def _put(self, record: NodeRecord) -> NodeRecord:
        self._records[record.node_id] = record
        self._generation += 1
        return record
