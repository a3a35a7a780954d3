"""The initial layout of a new cluster: how the key space is split into ranges and where their
replicas live. Every node of a new cluster computes the same layout from the same inputs (the
sorted node ids, the number of ranges, the split keys), so bootstrapping needs no coordination.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from multiraft.raft.types import ConfState

from . import keys
from .bootstrap import bootstrap_range
from .engine import Engine, WriteBatch
from .range_descriptor import RangeDescriptor, load_descriptors

__all__ = ["PlannedRange", "plan_ranges", "even_split_keys", "bootstrap_node", "is_bootstrapped",
           "mark_bootstrapped"]

log = logging.getLogger(__name__)

#: Replicas per range (all nodes if there are fewer).
REPLICATION = 3


@dataclass(slots=True, frozen=True)
class PlannedRange:
    descriptor: RangeDescriptor
    #: the node whose replica campaigns first, so leaders spread evenly over the nodes
    preferred_leader: int


def even_split_keys(n_ranges: int) -> list[bytes]:
    """``n_ranges - 1`` split keys cutting the byte-string key space into equal slices by prefix."""
    if n_ranges < 1:
        raise ValueError("a cluster needs at least one range")
    width = 1
    while 256 ** width < 16 * n_ranges:
        width += 1
    space = 256 ** width
    return [(i * space // n_ranges).to_bytes(width, "big") for i in range(1, n_ranges)]


def plan_ranges(node_ids: list[int], n_ranges: int, split_keys: list[bytes] | None = None,
                replication: int = REPLICATION) -> list[PlannedRange]:
    """Ranges 1..n covering the key space, each on ``replication`` consecutive nodes (round
    robin), replica id = node id; range i's first replica is its preferred leader."""
    nodes = sorted(set(node_ids))
    if not nodes:
        raise ValueError("a cluster needs at least one node")
    splits = even_split_keys(n_ranges) if split_keys is None else sorted(set(split_keys))
    if len(splits) != n_ranges - 1 or (splits and splits[0] == b""):
        raise ValueError(f"{n_ranges} ranges need {n_ranges - 1} distinct non-empty split keys")
    starts = [b"", *splits]
    ends: list[bytes | None] = [*splits, None]
    k = min(replication, len(nodes))
    out = []
    for i in range(n_ranges):
        members = [nodes[(i + j) % len(nodes)] for j in range(k)]
        d = RangeDescriptor(i + 1, starts[i], ends[i], tuple((n, n) for n in members))
        out.append(PlannedRange(d, members[0]))
    return out


def is_bootstrapped(engine: Engine) -> bool:
    """Whether this store has ever bootstrapped its share of a cluster or joined one: its
    marker, or (stores written before the marker existed) any range descriptor."""
    return engine.get(keys.bootstrapped_key()) is not None or bool(load_descriptors(engine))


def _put_marker(batch: WriteBatch) -> None:
    batch.put(keys.bootstrapped_key(), b"1")


def mark_bootstrapped(engine: Engine) -> None:
    """Durably mark this store as part of a cluster (a node that joined one: it holds no range
    yet, and must never bootstrap a cluster of its own on a later start)."""
    batch = engine.batch()
    _put_marker(batch)
    engine.write(batch, sync=True)


def bootstrap_node(engine: Engine, node_id: int, peers: list[int], n_ranges: int,
                   split_keys: list[bytes] | None = None,
                   replication: int = REPLICATION) -> set[int]:
    """Write node ``node_id``'s share of a new cluster (its replicas' initial state and the
    bootstrapped marker, one synced write) if this store never bootstrapped nor joined
    (``is_bootstrapped``): never merely because it holds no range now, as a node whose replicas
    were all moved away does (a second copy of ranges the cluster has could elect itself).
    ``replication`` replicas per range, at most one per node. Returns the ranges whose first
    campaign is this node's (empty if the store was not new)."""
    if n_ranges <= 0:
        return set()
    if engine.get(keys.bootstrapped_key()) is not None:
        return set()
    if load_descriptors(engine):  # bootstrapped before the marker existed: mark it now
        mark_bootstrapped(engine)
        return set()
    batch = engine.batch()
    mine = set()
    for p in plan_ranges([node_id, *peers], n_ranges, split_keys, replication):
        d = p.descriptor
        if any(node == node_id for node, _ in d.replicas):
            bootstrap_range(batch, d, ConfState(voters=tuple(sorted(r for _, r in d.replicas))))
            if p.preferred_leader == node_id:
                mine.add(d.range_id)
    _put_marker(batch)
    engine.write(batch, sync=True)
    log.info("node %d: bootstrapped its share of a new cluster of %d ranges", node_id, n_ranges)
    return mine
