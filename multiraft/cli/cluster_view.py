"""The cluster as its nodes' STATUS answers show it: one summary per node, one merged view per
range (what ``multiraft status`` and ``multiraft ranges`` print).

A range's replicas report separately; the merged view trusts the replica that says it is the
leader with the highest term (its descriptor, commit index and followers' progress), and falls
back on the followers' view when no leader answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..client import Client
from ..errors import ClientError

__all__ = ["NodeView", "RangeView", "ClusterView"]


@dataclass(slots=True)
class NodeView:
    """One node's STATUS answer (``status``), or why there is none (``error``)."""

    address: str
    status: dict[str, Any] | None = None
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        """Per node: ranges, leaders held, terms and applied indexes (aggregated)."""
        if self.status is None:
            return {"address": self.address, "error": self.error}
        node, ranges = self.status["node"], self.status["ranges"]
        return {
            "node_id": node["node_id"], "address": self.address, "ranges": node["ranges"],
            "leaders": sum(r["state"] == "leader" for r in ranges),
            "leader_ranges": [r["range_id"] for r in ranges if r["state"] == "leader"],
            "quiesced": sum(bool(r["quiesced"]) for r in ranges),
            "term_min": min((r["term"] for r in ranges), default=0),
            "term_max": max((r["term"] for r in ranges), default=0),
            "applied_sum": sum(r["applied"] for r in ranges),
            "silent_peers": node["silent_peers"], "counters": node["counters"],
        }


@dataclass(slots=True)
class RangeView:
    """One range across the nodes that answered. Node ids throughout (not replica ids);
    ``leader`` is 0 if unknown; ``match`` holds the followers' match index as the leader
    sees it (empty without a leader's answer)."""

    range_id: int
    start_key: bytes | None = None
    end_key: bytes | None = None
    replicas: list[int] = field(default_factory=list)
    leader: int = 0
    term: int = 0
    commit: int = 0
    applied: dict[int, int] = field(default_factory=dict)
    states: dict[int, str] = field(default_factory=dict)
    match: dict[int, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"range_id": self.range_id, "start_key": self.start_key,
                "end_key": self.end_key or None, "replicas": self.replicas,
                "leader": self.leader, "term": self.term, "commit": self.commit,
                "applied": self.applied, "states": self.states, "match": self.match}


def _merge(view: RangeView, node_id: int, r: dict[str, Any]) -> None:
    """Fold one replica's status into ``view`` (see the module docstring for who wins)."""
    node_of = {rid: n for n, rid in r["replicas"]}
    have_leader = view.states.get(view.leader) == "leader"  # a leader's own answer is in
    view.applied[node_id] = r["applied"]
    view.states[node_id] = r["state"]
    newer = r["term"] > view.term
    if r["state"] == "leader" and (newer or not have_leader):
        view.start_key, view.end_key = r["start_key"], r["end_key"]
        view.replicas = sorted(node_of.values())
        view.leader, view.term, view.commit = node_id, r["term"], r["commit"]
        view.match = {node_of.get(rid, rid): m for rid, m in r["progress"] if rid != r["replica_id"]}
        return
    if view.start_key is None and r["start_key"] is not None:
        view.start_key, view.end_key = r["start_key"], r["end_key"]
        view.replicas = sorted(node_of.values())
    if newer and not have_leader:
        view.term, view.commit = r["term"], max(view.commit, r["commit"])
        view.leader = node_of.get(r["leader"], r["leader"])


@dataclass(slots=True)
class ClusterView:
    nodes: list[NodeView]
    ranges: list[RangeView]

    @property
    def unreachable(self) -> list[str]:
        return [n.address for n in self.nodes if n.status is None]

    @classmethod
    def fetch(cls, client: Client) -> ClusterView:
        """Ask every address of ``client`` for its STATUS (each within the client's timeout)."""
        nodes = []
        for addr in client.addresses:
            try:
                nodes.append(NodeView(addr, status=client.status(addr, ranges=True)))
            except (ClientError, TimeoutError) as e:
                nodes.append(NodeView(addr, error=str(e) or type(e).__name__))
        ranges: dict[int, RangeView] = {}
        for n in nodes:
            if n.status is None:
                continue
            node_id = n.status["node"]["node_id"]
            for r in n.status["ranges"]:
                view = ranges.setdefault(r["range_id"], RangeView(r["range_id"]))
                _merge(view, node_id, r)
        return cls(nodes, [ranges[k] for k in sorted(ranges)])
