"""A scripted cluster of fake nodes that speak the membership ops (CHANGE_REPLICAS,
TRANSFER_LEADER, DECOMMISSION) as ``transport.client_protocol`` documents them, and report
STATUS with the fields the server side adds (``"voters"``, ``"learners"``, ``"conf_ver"`` per
range, a ``"directory"`` per answer): for the client's and the CLI's tests, before the server
side exists.

``FakeCluster(nodes, ranges)`` keeps one model shared by its nodes (``FakeMember``, each a
``FakeNode`` on its own port): every node reports its replicas of the model's ranges, the
range's leader answers the range ops (others answer NOT_LEADER naming it) and applies them to
the model, any node answers DECOMMISSION. ``script`` gives an op a fixed answer (REFUSED,
UNAVAILABLE, ...); ``silent`` nodes never answer a non-STATUS request; ``reported_leader``
makes every STATUS name another leader for a range than the one that leads (a stale report). A node marked decommissioning loses its replicas to
spare live nodes after ``drain_after`` STATUS answers (None: never), as a replicate queue
would. Replica id = node id throughout.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus as S
from tests.support.fake_node import FakeNode


@dataclass
class Range:
    range_id: int
    start: bytes
    end: bytes | None
    voters: list[int]
    learners: list[int] = field(default_factory=list)
    leader: int = 0
    generation: int = 1
    conf_ver: int = 1

    @property
    def replicas(self) -> list[int]:
        return sorted(self.voters + self.learners)

    def info(self) -> dict[str, Any]:
        """Its RANGE_INFO map."""
        roles = {**{n: "voter" for n in self.voters}, **{n: "learner" for n in self.learners}}
        return {"range_id": self.range_id, "start_key": self.start, "end_key": self.end,
                "generation": self.generation, "conf_ver": self.conf_ver,
                "replicas": [[n, n, roles[n]] for n in self.replicas],
                "voters": sorted(self.voters), "learners": sorted(self.learners),
                "leader": self.leader}

    def entry(self, me: int, leader: int) -> dict[str, Any]:
        """Node ``me``'s STATUS entry for its replica, saying ``leader`` leads."""
        leading = leader == me
        return {"range_id": self.range_id, "replica_id": me, "start_key": self.start,
                "end_key": self.end or b"", "generation": self.generation,
                "conf_ver": self.conf_ver, "replicas": [[n, n] for n in self.replicas],
                "voters": sorted(self.voters), "learners": sorted(self.learners),
                "state": "leader" if leading else "follower", "leader": leader,
                "term": 2, "commit": 5, "applied": 5, "quiesced": False,
                "progress": [[n, 5] for n in self.replicas] if leading else []}


class FakeMember(FakeNode):
    def __init__(self, cluster: FakeCluster, node_id: int) -> None:
        self.cluster = cluster
        super().__init__(lambda req: cluster.answer(node_id, req), node_id=node_id)

    def status(self) -> dict[str, object]:
        return self.cluster.status_of(self.node_id)


class FakeCluster:
    def __init__(self, nodes: list[int], ranges: list[Range],
                 states: dict[int, str] | None = None, serving: list[int] | None = None) -> None:
        """``nodes``: the directory's node ids (``states``: their states, default live);
        ``serving``: the ones that run a fake node (default all)."""
        self._lock = threading.Lock()
        self.ranges = {r.range_id: r for r in ranges}
        self.directory = {n: {"node_id": n, "raft_address": f"127.0.0.1:{7100 + n}",
                              # (a node not serving has no client address the client could
                              # learn and then wait for)
                              "client_address": "",
                              "state": (states or {}).get(n, "live")} for n in nodes}
        self.script: dict[ClientOp, tuple[S, object]] = {}
        self.silent: set[int] = set()
        self.reported_leader: dict[int, int] = {}
        self.drain_after: int | None = 1
        self._polls_since_decommission = 0
        self.members = {n: FakeMember(self, n) for n in (serving or nodes)}
        for n, m in self.members.items():  # (a client may learn addresses from the directory)
            self.directory[n]["client_address"] = m.address

    @property
    def addrs(self) -> list[str]:
        return [m.address for m in self.members.values()]

    def requests(self, op: ClientOp) -> list[ClientRequest]:
        """Every ``op`` request any node got, by node id order."""
        return [r for m in self.members.values() for r in m.requests if r.op is op]

    def status_of(self, me: int) -> dict[str, object]:
        with self._lock:
            self._drain()
            return {"node": {"node_id": me},
                    "ranges": [r.entry(me, self.reported_leader.get(r.range_id, r.leader))
                               for r in self.ranges.values() if me in r.replicas],
                    "directory": [dict(d) for d in self.directory.values()]}

    def answer(self, me: int, req: ClientRequest) -> tuple[S, object] | None:
        if me in self.silent:
            return None
        if req.op in self.script:
            return self.script[req.op]
        with self._lock:
            if req.op is ClientOp.DECOMMISSION:
                node_id, state = req.args
                record = self.directory[node_id]
                record["state"] = "live" if state == "active" else state
                self._polls_since_decommission = 0
                return S.OK, dict(record)
            r = self.ranges[req.args[1]]
            if r.leader != me:
                return S.NOT_LEADER, r.leader
            if req.op is ClientOp.TRANSFER_LEADER:
                r.leader = req.args[2]
            else:
                _, _, _, kind, from_node, to_node = req.args
                if from_node:
                    r.voters.remove(from_node)
                if to_node:
                    r.voters.append(to_node)
                r.conf_ver += 1
            return S.OK, r.info()

    def _drain(self) -> None:
        """Move the replicas of decommissioning nodes to spare live ones, ``drain_after``
        STATUS answers after the decommission."""
        self._polls_since_decommission += 1
        if self.drain_after is None or self._polls_since_decommission <= self.drain_after:
            return
        live = [n for n, d in self.directory.items() if d["state"] == "live"]
        for node, d in self.directory.items():
            if d["state"] != "decommissioning":
                continue
            for r in self.ranges.values():
                if node in r.voters:
                    spare = next(n for n in live if n not in r.replicas)
                    r.voters[r.voters.index(node)] = spare
                    r.conf_ver += 1
                    r.leader = spare if r.leader == node else r.leader

    def close(self) -> None:
        for m in self.members.values():
            m.close()

    def __enter__(self) -> FakeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
