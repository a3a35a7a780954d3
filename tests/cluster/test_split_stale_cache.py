"""Issue 13, "Must show": a stale client cache meeting a lagging replica ends in an answer, not
a loop (CockroachDB #105294); both designs, in-process nodes.

The client learns the cluster while it is one range, led by node X. Then X's replica of that
range is made to lag (its raft traffic held: it loses the lead and never hears of what follows)
and the range splits 20 times. The client's cache now predates every split and names X, whose
store still routes every key to its stale, unsplit replica. (Scripted RANGE_KEY_MISMATCH
answers with old descriptors: ``tests/client/test_stale_cache.py``; the cache under any stale
views: ``tests/client/test_range_cache.py``.)"""

from __future__ import annotations

import random
import time
from typing import Any

from multiraft import Client

from .conftest import NODE_IDS, InProcessCluster
from .split_faults import RangeHold, replica
from .test_splits import ranges_covering
from tests.client.test_stale_cache import Watch

SPLIT_KEYS = sorted(random.Random(105294).sample([b"s%02d" % i for i in range(1, 100)], 20))
#: requests one put+get of the stale client may take (both designs; the first ones pay for
#: the stale cache: the lagging node, then a follower's hint, then the leader)
MAX_REQUESTS = 8


def test_stale_cache_meets_lagging_replica(make_cluster: Any) -> None:
    """Proves: (1) with its cache from before 20 splits, naming a node whose replica lags behind
    all of them, a client's put and get of a key in each of the 21 ranges answer correctly,
    each pair within MAX_REQUESTS requests and well within the timeout; (2) rediscovering then
    (the lagging node's STATUS still shows the unsplit range) never lowers the generation the
    cache holds for any key, and leaves the cache holding exactly the current ranges, after
    which every put+get goes straight to the leaders (2 requests)."""
    cluster = make_cluster("inproc", ranges=1)
    assert isinstance(cluster, InProcessCluster)
    lagging = cluster.wait_all_led()[1]
    addrs = [cluster.client_addr[lagging]] + [cluster.client_addr[n] for n in NODE_IDS
                                              if n != lagging]
    stale = Client(addrs, timeout=5)
    cluster._clients.append(stale)  # closed at teardown
    watch = Watch(stale._routing.cache)
    stale.put(b"a", b"before")
    assert stale._routing.cache.lookup(b"s50").generation == 0
    assert stale._routing.cache.leader_addr(b"s50") == cluster.client_addr[lagging]
    sent = [0]
    for conn in list(stale._all_conns):  # every node's, opened by the first discovery
        real = conn.request

        def counted(*args: Any, _real: Any = real, **kwargs: Any) -> Any:
            sent[0] += 1
            return _real(*args, **kwargs)
        conn.request = counted  # type: ignore[method-assign]

    RangeHold.install(cluster, lagging, {1})
    with cluster.client(timeout=10) as admin:
        # A write wakes the (quiesced) range: its leader hears no answer, steps down (check
        # quorum), and the other two elect one of them; the write is retried there.
        admin.put(b"wake", b"1")
        cluster.leader_of(1, exclude=lagging)
        for k in SPLIT_KEYS:
            admin.split(k)
    assert replica(cluster, lagging, 1)["end_key"] in (None, b"")  # it lags behind them all
    keys = [b"a"] + [k + b"x" for k in SPLIT_KEYS]  # one in each range

    per_op: list[list[int]] = [[], []]
    t0 = time.monotonic()
    for rnd in range(2):
        if rnd:  # twice: the second time the lagging node's view is older than the cache's
            stale._discover(time.monotonic() + 5)
            stale._discover(time.monotonic() + 5)
        for k in keys:
            n0 = sent[0]
            stale.put(k, b"%d" % rnd)
            assert stale.get(k) == b"%d" % rnd
            per_op[rnd].append(sent[0] - n0)
    elapsed = time.monotonic() - t0
    assert not watch.bad, watch.bad
    assert watch.stale_offers > 0  # the lagging node's STATUS was offered, and refused
    assert max(per_op[0]) <= MAX_REQUESTS, per_op[0]
    current = {(rid, s, e) for s, e, rid in ranges_covering(cluster)}
    held = {(r.range_id, r.start, r.end) for r in stale._routing.cache._ranges}
    assert held == current, sorted(held ^ current)
    assert per_op[1] == [2] * len(keys), per_op[1]
    assert elapsed < 20, f"{elapsed:.1f}s for {2 * len(keys)} put+get pairs"
    print(f"{cluster.design}: requests per put+get before the rediscovery {per_op[0]}, after "
          f"{per_op[1]}; {elapsed:.1f}s")
