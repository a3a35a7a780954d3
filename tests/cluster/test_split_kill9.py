"""Issue 13, "Must show": kill -9 of every node right after a split; after the restart both
ranges and all acknowledged data are intact (both designs, real node processes).

A writer thread keeps writing fresh keys (each written once, so an acknowledged write must be
read back exactly) across the split and up to the kill; the kill comes right after the split
is acknowledged (at once, or a few milliseconds later), while followers are still applying it."""

from __future__ import annotations

import threading
import time
from typing import Any

from multiraft import ClientError

from .conftest import NODE_IDS, ProcessCluster, wait_until
from .test_splits import ranges_covering

#: kill delays after the split is acknowledged (seconds), one crash-and-restart cycle each
DELAYS = (0.0, 0.02, 0.1)
#: the writer's bounds
WRITER_SECONDS = 60.0
WRITER_OPS = 20_000


class Writer:
    """Puts fresh keys round-robin over ``prefixes`` (both sides of every split point); records
    the acknowledged ones. Bounded by ``stop()``, WRITER_SECONDS and WRITER_OPS."""

    def __init__(self, cluster: ProcessCluster, prefixes: list[bytes], cycle: int) -> None:
        self.cycle = cycle
        self.client = cluster.client(timeout=2)
        self.prefixes = prefixes
        self.acked: dict[bytes, bytes] = {}
        self.n = 0
        self._stop = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="kill9-writer")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert not self._thread.is_alive(), "the writer did not stop"

    def _run(self) -> None:
        deadline = time.monotonic() + WRITER_SECONDS
        try:
            while not self._stop.is_set() and time.monotonic() < deadline and self.n < WRITER_OPS:
                key = self.prefixes[self.n % len(self.prefixes)] + b"/%d/%06d" % (self.cycle, self.n)
                value = b"v%d" % self.n
                self.n += 1
                try:
                    self.client.put(key, value)
                except ClientError:  # unknown or not applied: either way, not acknowledged
                    continue
                self.acked[key] = value
        except BaseException as e:
            self.errors.append(e)


def test_kill9_every_node_right_after_a_split(make_cluster: Any) -> None:
    """Proves, for each delay in DELAYS (one cycle each, the ranges accumulating): after a split
    is acknowledged, SIGKILL of all three nodes at once and a restart leave (1) exactly the
    ranges expected, tiling the key space at the split keys, each with a leader; (2) every
    write acknowledged before the kill, on both sides of every split, readable with its value;
    (3) every range writable again."""
    cluster = make_cluster("procs", ranges=1)
    assert isinstance(cluster, ProcessCluster)
    cluster.wait_all_led()
    split_keys = [b"m", b"g", b"t"][:len(DELAYS)]
    prefixes = [b"a", b"h", b"n", b"u"]  # one in each range the splits make
    acked: dict[bytes, bytes] = {}
    done_splits: list[bytes] = []
    with cluster.client(timeout=10) as admin:
        for cycle, (key, delay) in enumerate(zip(split_keys, DELAYS)):
            w = Writer(cluster, prefixes, cycle)
            w.start()
            time.sleep(0.3)  # writes before the split
            admin.split(key)
            done_splits.append(key)
            time.sleep(delay)
            for n in NODE_IDS:  # every node, right after the split: SIGKILL, no flush
                cluster.kill(n)
            w.stop()
            assert not w.errors, w.errors
            acked.update(w.acked)
            cluster.start_all()
            expected = [b""] + sorted(done_splits)

            def tiled() -> Any:
                spans = ranges_covering(cluster)
                return spans if [s for s, _, _ in spans] == expected else None
            spans = wait_until(tiled, 30, f"the ranges to start at {expected}",
                               diagnose=cluster.describe)
            assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1))
            assert spans[-1][1] is None
            wait_until(lambda: len(cluster.leaders()) == len(expected), 30,
                       "a leader for every range", diagnose=cluster.describe)
            got = dict(admin.scan(b"", None))
            lost = {k: v for k, v in acked.items() if got.get(k) != v}
            assert not lost, (f"delay {delay}: {len(lost)} of {len(acked)} acknowledged writes "
                              f"lost or changed, e.g. {sorted(lost.items())[:5]}")
            for p in prefixes:
                admin.put(p + b"/after", b"x")
                assert admin.get(p + b"/after") == b"x"
            print(f"{cluster.design}: delay {delay}: {len(w.acked)} of {w.n} writes acknowledged "
                  f"in the cycle, all {len(acked)} intact; ranges {[s for s, _, _ in spans]}")
