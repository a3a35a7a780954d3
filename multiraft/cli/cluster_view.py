"""The cluster as its nodes' STATUS answers show it: one summary per node, one merged view per
range (what ``multiraft status`` and ``multiraft ranges`` print).

A range's replicas report separately, and a lagging replica reports an old descriptor (before a
split applied there). ``merge_ranges`` folds the answers so that a stale view never wins:

- a range's span, generation and replicas come from its **newest descriptor** among the answers
  (highest generation, then highest conf version, which grows with every replica change;
  replicas that are not initialized report none and are ignored for it); its voters and
  learners too, from the entry's ``"voters"`` / ``"learners"`` node ids (an entry without them,
  from a node that predates replica changes, makes every replica a voter);
- its leader, term, commit index and followers' progress come from the replica that says it is
  the leader with the highest term, else from the highest-term replica's leader hint (leaders
  are reported as replica ids: they are mapped to node ids through the descriptor's
  ``[node, replica]`` pairs);
- a descriptor that overlaps the descriptor of *another* range with a higher generation is
  stale: a split moved part of its span to that range (a split gives both halves the parent's
  generation + 1), and the node that reported it has not applied the split yet. It is left out,
  so the ranges printed never overlap. (After a split of L into L and R, a lagging node reports
  L at generation g with the wide span; the others report L and R at g + 1: L(g + 1) and R are
  shown, once each.)

Ranges no answer describes (only uninitialized replicas answered) have no span: ``status``
lists them last, ``ranges`` does not list them.

The nodes themselves (``multiraft nodes``) come from the answers' ``"directory"`` lists, merged
by ``merge_directories``: a node is listed if any directory names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..client import Client
from ..errors import ClientError

__all__ = ["NodeView", "RangeView", "ClusterView", "merge_ranges", "merge_directories",
           "NODE_STATES"]

#: A directory record's states, by precedence when two directories disagree on a node (see
#: ``merge_directories``)
NODE_STATES = ("dead", "live", "decommissioning", "decommissioned")
#: The keys of a directory record (``"directory"`` in a STATUS answer)
_RECORD_KEYS = ("node_id", "raft_address", "client_address", "state")
#: How long ``ClusterView.poll`` waits for one node's STATUS per round (a node that is down must
#: not eat the whole wait each round), and its pause between two rounds.
POLL_STATUS_TIMEOUT = 1.0
POLL_PAUSE = 0.05


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
    ``leader`` is 0 if unknown, ``leader_answered`` says whether the leader itself answered
    (not only a follower's hint); ``match`` holds the followers' match index as the leader
    sees it (empty without a leader's answer). ``start_key`` is None if no answer carried a
    descriptor; ``end_key`` None (or b"") is the end of the key space."""

    range_id: int
    start_key: bytes | None = None
    end_key: bytes | None = None
    generation: int | None = None
    conf_ver: int = 0
    replicas: list[int] = field(default_factory=list)
    voters: list[int] = field(default_factory=list)
    learners: list[int] = field(default_factory=list)
    leader: int = 0
    leader_answered: bool = False
    term: int = 0
    commit: int = 0
    applied: dict[int, int] = field(default_factory=dict)
    states: dict[int, str] = field(default_factory=dict)
    match: dict[int, int] = field(default_factory=dict)

    @property
    def described(self) -> bool:
        """Whether some answer carried this range's descriptor."""
        return self.start_key is not None

    def as_dict(self) -> dict[str, Any]:
        """What ``multiraft status --json`` lists per range."""
        return {"range_id": self.range_id, "start_key": self.start_key,
                "end_key": self.end_key or None, "generation": self.generation,
                "replicas": self.replicas, "leader": self.leader, "term": self.term,
                "commit": self.commit, "applied": self.applied, "states": self.states,
                "match": self.match}

    def range_object(self) -> dict[str, Any]:
        """The RANGE object of ``multiraft ranges --json`` (issue 13's contract): node ids,
        sorted; no range holds system data yet."""
        return {"range_id": self.range_id, "start_key": self.start_key or b"",
                "end_key": self.end_key or None, "generation": self.generation or 0,
                "replicas": sorted(self.replicas), "voters": sorted(self.voters),
                "learners": sorted(self.learners), "leader": self.leader, "system": False}

    @classmethod
    def from_range_info(cls, info: Mapping[str, Any]) -> RangeView:
        """The view of a RANGE_INFO map (the answer to CHANGE_REPLICAS and TRANSFER_LEADER,
        ``transport.client_protocol``): its replicas are ``[node, replica, role]`` triples."""
        return cls(info["range_id"], start_key=info["start_key"], end_key=info["end_key"],
                   generation=info["generation"], conf_ver=info["conf_ver"],
                   replicas=sorted({r[0] for r in info["replicas"]}),
                   voters=list(info["voters"]), learners=list(info["learners"]),
                   leader=info["leader"], leader_answered=True)


def _overlap(a: RangeView, b: RangeView) -> bool:
    """Whether the spans of two described ranges share a key."""
    assert a.start_key is not None and b.start_key is not None
    return ((not a.end_key or b.start_key < a.end_key)
            and (not b.end_key or a.start_key < b.end_key))


def _fold(range_id: int, reports: Sequence[tuple[int, Mapping[str, Any]]]) -> RangeView:
    """One range's view from its replicas' reports, (node id, STATUS range entry) each."""
    view = RangeView(range_id)
    described = [r for _, r in reports if r.get("start_key") is not None]
    if described:
        newest = max(described, key=lambda r: (r.get("generation") or 0, r.get("conf_ver") or 0,
                                               r["state"] == "leader", r["term"]))
        view.start_key, view.end_key = newest["start_key"], newest["end_key"]
        view.generation = newest.get("generation") or 0
        view.conf_ver = newest.get("conf_ver") or 0
        view.replicas = sorted({n for n, _ in newest["replicas"]})
        view.voters = sorted(newest.get("voters", view.replicas))
        view.learners = sorted(newest.get("learners", []))
    node_of: dict[int, int] = {}  # replica id -> node id: the newest descriptor's pairs win
    for r in sorted(described, key=lambda r: (r.get("generation") or 0, r.get("conf_ver") or 0)):
        node_of.update({rid: n for n, rid in r["replicas"]})
    for node_id, r in reports:
        view.applied[node_id] = r["applied"]
        view.states[node_id] = r["state"]
    leaders = [(node_id, r) for node_id, r in reports if r["state"] == "leader"]
    if leaders:
        node_id, r = max(leaders, key=lambda x: x[1]["term"])
        view.leader, view.leader_answered = node_id, True
        view.term, view.commit = r["term"], r["commit"]
        view.match = {node_of.get(rid, rid): m for rid, m in r["progress"]
                      if rid != r["replica_id"]}
    elif reports:
        _, r = max(reports, key=lambda x: x[1]["term"])
        view.term = r["term"]
        view.commit = max(x["commit"] for _, x in reports)
        view.leader = node_of.get(r["leader"], 0) if r["leader"] else 0
    return view


def merge_ranges(answers: Iterable[tuple[int, Iterable[Mapping[str, Any]]]]) -> list[RangeView]:
    """The ranges of the STATUS answers ``(node id, its "ranges" list)``, merged as the module
    docstring says: described ranges sorted by start key (never overlapping), then the ranges
    nobody described, by range id."""
    reports: dict[int, list[tuple[int, Mapping[str, Any]]]] = {}
    for node_id, ranges in answers:
        for r in ranges:
            reports.setdefault(r["range_id"], []).append((node_id, r))
    views = [_fold(rid, reps) for rid, reps in reports.items()]
    kept: list[RangeView] = []
    for v in sorted((v for v in views if v.described),
                    key=lambda v: (-(v.generation or 0), v.range_id)):
        if not any(_overlap(v, k) for k in kept):  # else a newer range holds part of its span
            kept.append(v)
    kept.sort(key=lambda v: v.start_key or b"")
    return kept + sorted((v for v in views if not v.described), key=lambda v: v.range_id)


def merge_directories(directories: Iterable[Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The node directories of the STATUS answers merged: one record per node, sorted by node
    id. Where directories disagree on a node's state, the later in ``NODE_STATES`` wins: a
    decommission is set once and spreads, so a directory that has not heard of it yet is
    behind; a node any directory sees live is up (those that see it dead are cut off from it
    or behind). (A decommissioning node taken back, "active", shows as decommissioning until
    every answering directory has that.)"""
    merged: dict[int, dict[str, Any]] = {}
    for directory in directories:
        for record in directory:
            cur = merged.get(record["node_id"])
            if cur is None or (NODE_STATES.index(record["state"])
                               > NODE_STATES.index(cur["state"])):
                merged[record["node_id"]] = {k: record[k] for k in _RECORD_KEYS}
    return [merged[n] for n in sorted(merged)]


@dataclass(slots=True)
class ClusterView:
    nodes: list[NodeView]
    ranges: list[RangeView]

    @property
    def unreachable(self) -> list[str]:
        return [n.address for n in self.nodes if n.status is None]

    @property
    def answered(self) -> bool:
        """Whether any node answered."""
        return len(self.unreachable) < len(self.nodes)

    @property
    def directory(self) -> list[dict[str, Any]]:
        """The answers' node directories merged (``merge_directories``)."""
        return merge_directories(n.status.get("directory", []) for n in self.nodes
                                 if n.status is not None)

    def node_objects(self) -> list[dict[str, Any]]:
        """What ``multiraft nodes --json`` lists: each directory record with ``replicas``, the
        ranges whose newest descriptor lists the node, and ``leaders``, those it leads."""
        described = self.described_ranges
        return [{**rec, "replicas": sum(rec["node_id"] in r.replicas for r in described),
                 "leaders": sum(rec["node_id"] == r.leader for r in described)}
                for rec in self.directory]

    def ranges_on(self, node_id: int) -> list[RangeView]:
        """The described ranges whose newest descriptor lists a replica on ``node_id``."""
        return [r for r in self.described_ranges if node_id in r.replicas]

    def stranded_ranges(self, node_id: int) -> list[int]:
        """The ranges with a replica on ``node_id`` that no other node could take over: every
        live node (not decommissioning) but ``node_id`` already holds one. Decommissioning
        ``node_id`` would leave them a replica short."""
        spare = {rec["node_id"] for rec in self.directory if rec["state"] == "live"} - {node_id}
        return [r.range_id for r in self.ranges_on(node_id) if not spare - set(r.replicas)]

    @property
    def described_ranges(self) -> list[RangeView]:
        """The ranges with a span, by start key (what ``multiraft ranges`` prints)."""
        return [r for r in self.ranges if r.described]

    def range(self, range_id: int) -> RangeView | None:
        return next((r for r in self.ranges if r.range_id == range_id), None)

    @classmethod
    def fetch(cls, client: Client, timeout: float | None = None) -> ClusterView:
        """Ask every address of ``client`` for its STATUS, each within ``timeout`` (default:
        the client's timeout)."""
        nodes = []
        for addr in client.addresses:
            try:
                nodes.append(NodeView(addr, status=client.status(addr, ranges=True,
                                                                 timeout=timeout)))
            except (ClientError, TimeoutError) as e:
                nodes.append(NodeView(addr, error=str(e) or type(e).__name__))
        return cls(nodes, merge_ranges((n.status["node"]["node_id"], n.status["ranges"])
                                       for n in nodes if n.status is not None))

    @classmethod
    def poll(cls, client: Client, deadline: float,
             ready: Callable[[ClusterView], bool]) -> tuple[ClusterView, bool]:
        """Fetch the view (each node within ``POLL_STATUS_TIMEOUT``) until ``ready`` holds of
        it or ``deadline`` (``time.monotonic()``) passes: the last view, and whether it was
        ready."""
        while True:
            left = deadline - time.monotonic()
            view = cls.fetch(client, timeout=max(0.05, min(POLL_STATUS_TIMEOUT, left)))
            if ready(view):
                return view, True
            if time.monotonic() >= deadline:
                return view, False
            time.sleep(min(POLL_PAUSE, max(0.0, deadline - time.monotonic())))
