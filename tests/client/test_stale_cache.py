"""A client whose range cache predates splits meets a replica that lags behind them (issue 13,
CockroachDB #105294), against scripted fake nodes, both clients: each operation ends in an
answer after a few attempts, not in a loop until its timeout, and the cache never goes back to
an older generation.

Two fake nodes. Before the splits both report one range over the whole key space, led by node
1; the client learns that. Then the key space splits (three times): node 2 is up to date (the
four ranges at generation 2, all led by it, and it serves every request); node 1 lags, having
applied only the first split: its STATUS still says one range at generation 0, led by itself,
and it answers a key outside its range 1 (generation 1, ``[b"", b"m")``) RANGE_KEY_MISMATCH
with the descriptors it knows (both at generation 1), and a key inside it NOT_LEADER naming
node 2."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import multiraft
from multiraft import aio
from multiraft.routing import RangeCache
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus as S
from tests.support.fake_node import FakeNode

CURRENT = [(1, b"", b"g", 2), (7, b"g", b"m", 2), (5, b"m", b"t", 2), (9, b"t", b"", 2)]
LAGGING = [(1, b"", b"m", 1), (5, b"m", b"", 1)]
KEYS = [b"a", b"h", b"n", b"u"]
#: requests (both nodes) a put and a get may take: the put to the lagging node, then to the
#: current one; the get to the current one
MAX_REQUESTS_PER_OP = 3


def ranges(descs: list[tuple[int, bytes, bytes, int]], leader: int, me: int) -> list[dict[str, Any]]:
    return [{"range_id": rid, "start_key": s, "end_key": e, "generation": g, "leader": leader,
             "state": "leader" if leader == me else "follower"} for rid, s, e, g in descs]


class Node(FakeNode):
    """A fake node whose STATUS is ``view`` (set by the test)."""

    view: list[dict[str, Any]]

    def status(self) -> dict[str, object]:
        return {"node": {"node_id": self.node_id}, "ranges": self.view}


class Cluster:
    def __init__(self) -> None:
        self.split = False
        self.values: dict[bytes, bytes] = {}
        self.lagging = Node(self._lagging_answer, node_id=1)
        self.current = Node(self._current_answer, node_id=2)
        self.lagging.view = self.current.view = ranges([(1, b"", b"", 0)], 1, 1)

    def do_splits(self) -> None:
        self.split = True
        self.lagging.view = ranges([(1, b"", b"", 0)], 1, 1)  # lags: never hears of them
        self.current.view = ranges(CURRENT, 2, 2)

    def _serve(self, req: ClientRequest) -> tuple[S, object]:
        if req.op is ClientOp.PUT:
            self.values[req.args[0]] = req.args[1]
            return S.OK, None
        return S.OK, self.values.get(req.args[0])

    def _lagging_answer(self, req: ClientRequest) -> tuple[S, object]:
        if not self.split:
            return self._serve(req)
        if req.args[0] >= b"m":
            return S.RANGE_KEY_MISMATCH, tuple(LAGGING)
        return S.NOT_LEADER, 2

    def _current_answer(self, req: ClientRequest) -> tuple[S, object]:
        if not self.split:
            return S.NOT_LEADER, 1
        return self._serve(req)

    def requests(self) -> int:
        return len(self.lagging.requests) + len(self.current.requests)

    def close(self) -> None:
        self.lagging.close()
        self.current.close()


class Watch:
    """Wraps a cache's merge: ``bad`` lists every merge that lowered the generation a key's
    cached range has; ``stale_offers`` counts the ranges offered that are older than a cached
    range they overlap (the views the cache must refuse)."""

    PROBES = [b"", b"a", b"h", b"n", b"u", b"z"] + [b"s%02dx" % i for i in range(100)]

    def __init__(self, cache: RangeCache) -> None:
        self.cache = cache
        self.bad: list[str] = []
        self.stale_offers = 0
        self._merge = cache._merge
        cache._merge = self._checked  # type: ignore[method-assign]

    def _gens(self) -> dict[bytes, int]:
        out = {}
        for k in self.PROBES:
            for r in self.cache._ranges:
                if r.start <= k and (r.end is None or k < r.end):
                    out[k] = r.generation
        return out

    def _checked(self, new: Any) -> None:
        self.stale_offers += sum(any(c.overlaps(r.start, r.end) and c.generation > r.generation
                                     for c in self.cache._ranges) for r in new)
        before = self._gens()
        self._merge(new)
        after = self._gens()
        self.bad.extend(f"{k!r}: {before[k]} -> {after[k]}" for k in before
                        if k in after and after[k] < before[k])


def run_ops(kind: str, cluster: Cluster) -> tuple[list[int], Watch, RangeCache]:
    """The operations: one before the splits (the cache learns the old range, led by node 1),
    then, after them, a put and a get of every key (keys past the lagging node's range first);
    then a rediscovery (what the client does after a mismatch naming no leader: it reads the
    lagging node's stale STATUS as well as the current node's), and every key again. Returns
    the requests each post-split put+get took, the generation regressions seen, the cache."""
    addrs = [cluster.lagging.address, cluster.current.address]
    per_op: list[int] = []
    order = [b"n", b"u", b"a", b"h"]

    if kind == "sync":
        with multiraft.Client(addrs, timeout=5) as c:
            bad = Watch(c._routing.cache)
            c.put(b"a", b"0")
            cluster.do_splits()
            for rnd in range(2):
                if rnd:
                    c._discover(time.monotonic() + 2)
                for k in order:
                    n0 = cluster.requests()
                    c.put(k, b"%d" % rnd)
                    assert c.get(k) == b"%d" % rnd
                    per_op.append(cluster.requests() - n0)
            return per_op, bad, c._routing.cache

    async def run() -> tuple[Watch, RangeCache]:
        async with aio.Client(addrs, timeout=5) as c:
            bad = Watch(c._routing.cache)
            await c.put(b"a", b"0")
            cluster.do_splits()
            for rnd in range(2):
                if rnd:
                    await c._discover(time.monotonic() + 2)
                for k in order:
                    n0 = cluster.requests()
                    await c.put(k, b"%d" % rnd)
                    assert await c.get(k) == b"%d" % rnd
                    per_op.append(cluster.requests() - n0)
            return bad, c._routing.cache
    bad, cache = asyncio.run(run())
    return per_op, bad, cache


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_stale_cache_and_lagging_replica_end_in_an_answer(kind: str) -> None:
    """Proves: after the splits, every put and get of a client whose cache holds the pre-split
    range (led by the now-lagging node) returns the right answer, each put+get pair within
    MAX_REQUESTS_PER_OP requests (not a loop until the timeout); the lagging node's mismatch
    answers (generation 1) raise the cache's generation and its stale STATUS (generation 0),
    read at the rediscovery, never lowers it for any key; after the rediscovery the cache holds
    the current ranges and every operation goes straight to their leader."""
    cluster = Cluster()
    try:
        t0 = time.monotonic()
        per_op, bad, cache = run_ops(kind, cluster)
        elapsed = time.monotonic() - t0
    finally:
        cluster.close()
    assert not bad.bad, bad.bad
    assert bad.stale_offers > 0  # the lagging node's STATUS was offered, and refused
    assert max(per_op) <= MAX_REQUESTS_PER_OP, per_op
    assert per_op[len(KEYS):] == [2] * len(KEYS), per_op  # after the rediscovery: direct
    assert elapsed < 3, f"{elapsed:.1f}s"
    held = {(r.range_id, r.start, r.end or b"", r.generation) for r in cache._ranges}
    assert held == set(CURRENT), sorted(held)
    print(f"{kind}: requests per put+get {per_op}; cache {sorted(held)}")
