"""``InvariantChecker``: what must hold in the simulated cluster, checked as it runs.

After every mailbox turn of a replica (the only place its state changes):
- at most one leader per range per term;
- committed entries never change: the entry at an index a replica knows committed is the same
  (term and data) on every replica that ever knew it committed, for the whole run.
- a replica never forgets a term it has sent a message in: what a replica tells others (a vote,
  an acknowledgement), it has made durable first, so its term after a crash and restart is at
  least that (pre-votes excepted: they name a term the sender has not entered; and a replica
  removed by its range, or dropped while uninitialized, forgets on purpose).
After every turn of a replica whose descriptor changed (it initialized, split, changed its
replicas): no two initialized replicas on its node overlap.
On every vote a node sends: a replica its range removed (or that dropped itself) never grants
a vote.
After every turn of a store whose routes changed, if every node is up: the newest descriptor of
each range the stores route tiles the key space (a split routes both halves in one step). At
the end (``final``), with the cluster quiet: so do the replicas' own descriptors, and replicas
of a range at the same applied index hold the same user data.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from multiraft.actors.replica import ReplicaActor
from multiraft.actors.store import StoreActor
from multiraft.raft.types import Message, MessageType, StateType
from multiraft.storage import keys
from multiraft.storage.range_descriptor import RangeDescriptor

if TYPE_CHECKING:
    from multiraft.replica.core import ReplicaCore

    from .cluster import SimCluster

__all__ = ["InvariantChecker"]

_VOTES = (MessageType.VOTE_RESP, MessageType.PRE_VOTE_RESP)
_PRE_VOTES = (MessageType.PRE_VOTE, MessageType.PRE_VOTE_RESP)


class InvariantChecker:
    """Invariants (of the checker itself): ``_leaders`` holds the first leader seen per
    (range, term); ``_committed`` the (term, data digest) first seen committed per (range,
    index); ``_checked`` the commit index up to which each replica was compared."""

    def __init__(self, cluster: SimCluster, limit: int = 20) -> None:
        self.cluster = cluster
        self.limit = limit
        self.violations: list[str] = []
        self._leaders: dict[tuple[int, int], tuple[int, int]] = {}
        self._committed: dict[tuple[int, int], tuple[int, bytes]] = {}
        self._checked: dict[tuple[int, int, int], int] = {}
        #: (node, range, replica id) -> the highest term it sent a message in
        self._sent_term: dict[tuple[int, int, int], int] = {}
        #: node -> (ranges routed, their generations and conf versions summed) when last checked
        self._routed: dict[int, tuple[int, int]] = {}
        #: (node, range, replica id) -> its descriptor when last checked
        self._descriptor: dict[tuple[int, int, int], RangeDescriptor | None] = {}

    def _violation(self, text: str) -> None:
        if len(self.violations) < self.limit:
            w = self.cluster.world
            self.violations.append(f"t={w.now:.3f}s event {w.events}: {text}")

    # -- after every event --

    def after_task(self, node_id: int, task: Any) -> None:
        """A mailbox turn on ``node_id`` ended (``SimCluster.on_task``)."""
        actor = getattr(task, "actor", None)
        if type(actor) is ReplicaActor:
            self._replica(node_id, actor.core)
        elif type(actor) is StoreActor:
            self._routes(node_id, actor.router.descriptors)

    def _replica(self, node_id: int, core: ReplicaCore) -> None:
        r = core.rn.raft
        range_id, rid = core.range_id, core.replica_id
        if r.state is StateType.LEADER:
            first = self._leaders.setdefault((range_id, r.term), (node_id, rid))
            if first != (node_id, rid):
                self._violation(f"range {range_id}: two leaders in term {r.term}: replica "
                                f"{first[1]} on node {first[0]} and replica {rid} on node "
                                f"{node_id}")
        k = (node_id, range_id, rid)
        d = core.descriptor
        if d is not self._descriptor.get(k):  # initialized, split, changed: check the node
            self._descriptor[k] = d
            self._node_spans(node_id)
        if core.removed or core.dropped:
            # its state is destroyed on purpose: removed by its range, or dropped while
            # uninitialized (it had voted in no term: ``ReplicaCore.drop_if_uninitialized``)
            self._sent_term.pop(k, None)
            return
        sent = self._sent_term.get(k, 0)
        if r.term < sent:
            self._violation(f"range {range_id}: replica {rid} on node {node_id} is at term "
                            f"{r.term}, after sending messages in term {sent}: it lost "
                            "state it had told others (not fsynced?)")
            self._sent_term[k] = r.term  # (once)
        log = r.raft_log
        commit = log.committed
        lo = max(self._checked.get(k, 0) + 1, log.first_index())
        if commit < lo:
            return
        self._checked[k] = commit
        committed = self._committed
        for e in log.slice(lo, commit + 1):
            seen = (e.term, hashlib.blake2b(e.data, digest_size=8).digest())
            first_seen = committed.setdefault((range_id, e.index), seen)
            if first_seen != seen:
                self._violation(f"range {range_id}: committed entry {e.index} changed on "
                                f"replica {rid} of node {node_id}: term {first_seen[0]} "
                                f"became {e.term}")

    def _node_spans(self, node_id: int) -> None:
        spans = sorted((d.start_key, d.end_key, d.range_id) for d in self._descriptors(node_id))
        for (s1, e1, r1), (s2, _, r2) in zip(spans, spans[1:]):
            if e1 is None or e1 > s2:
                self._violation(f"node {node_id}: initialized replicas of ranges {r1} and {r2} "
                                f"overlap at {s2!r}")

    def _descriptors(self, node_id: int) -> list[RangeDescriptor]:
        out = []
        for actor in self.cluster.nodes[node_id].replicas():
            core = actor.core
            d = core.descriptor
            if d is not None and not core.removed and not core.dropped:
                out.append(d)
        return out

    def on_send(self, src: int, dst: int, range_id: int, m: Message) -> None:  # noqa: ARG002
        """A raft message leaves node ``src`` (``SimNetwork.on_send``)."""
        if m.type not in _PRE_VOTES:
            k = (src, range_id, m.from_)
            if m.term > self._sent_term.get(k, 0):
                self._sent_term[k] = m.term
        if m.type not in _VOTES or m.reject:
            return
        for actor in self.cluster.nodes[src].replicas():
            core = actor.core
            if core.range_id == range_id and core.replica_id == m.from_ and \
                    (core.removed or core.dropped):
                self._violation(f"range {range_id}: removed replica {m.from_} on node {src} "
                                f"granted a vote in term {m.term}")

    # -- at the end --

    def final(self) -> None:
        """The end-of-run checks (the cluster healed, every node up, clients done)."""
        self._tiling([d for n in self.cluster.nodes for d in self._descriptors(n)])
        self._same_data()

    def _routes(self, node_id: int, routed: dict[int, RangeDescriptor]) -> None:
        """After a store's turn: if its routes changed (a split, a replica come or gone) and
        every node is up with its ranges loaded (one that is not may hold the only copy of a
        newer descriptor), the ranges the stores route tile the key space."""
        version = (len(routed), sum(d.generation + d.conf_ver for d in routed.values()))
        if self._routed.get(node_id) == version:
            return
        self._routed[node_id] = version
        routes: list[RangeDescriptor] = []
        for n in self.cluster.nodes.values():
            held = n.routed()
            if held is None:  # down, or starting: it may hold the only newer descriptor
                return
            routes += held
        self._tiling(routes, "routed")

    def _tiling(self, descriptors: list[RangeDescriptor], what: str = "held") -> None:
        """The newest of ``descriptors`` for each range tiles the key space."""
        latest: dict[int, RangeDescriptor] = {}
        for d in descriptors:
            if d.range_id not in latest or d.generation > latest[d.range_id].generation:
                latest[d.range_id] = d
        spans = sorted((d.start_key, d.end_key, d.range_id) for d in latest.values())
        at: bytes | None = b""
        for start, end, range_id in spans:
            if at is None or start != at:
                self._violation(f"the ranges {what} do not tile the key space: range "
                                f"{range_id} starts at {start!r}, the one before ends at {at!r}")
                break
            at = end
        else:
            if at is not None:
                self._violation(f"the ranges {what} do not tile the key space: the last ends "
                                f"at {at!r}")

    def _same_data(self) -> None:
        # (range, applied index) -> (data digest, node) first seen
        seen: dict[tuple[int, int], tuple[bytes, int]] = {}
        for node_id, n in self.cluster.nodes.items():
            node = n.node
            if node is None or node.engine is None:
                continue
            for actor in n.replicas():
                core = actor.core
                d = core.descriptor
                if d is None or core.removed or core.dropped:
                    continue
                digest = hashlib.blake2b(digest_size=16)
                for k, v in node.engine.scan(*keys.user_span(d.start_key, d.end_key)):
                    digest.update(len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v)
                applied = core.sm.applied.index
                first = seen.setdefault((d.range_id, applied), (digest.digest(), node_id))
                if first[0] != digest.digest():
                    self._violation(f"range {d.range_id}: replicas on nodes {first[1]} and "
                                    f"{node_id} at applied index {applied} hold different data")
