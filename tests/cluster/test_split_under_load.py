"""Issue 13, "Must show": 100 splits in a row while clients read, write and CAS, and a scanner
scans the whole key space (both designs, in-process nodes).

A fixed key set is written first and never deleted (the writers only put and CAS), so every
complete scan must return exactly that key set, each key once, in order, whichever ranges split
under it. The writers' histories (pre-writes included) must be linearizable."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from multiraft import ClientError, Refused, Timeout
from multiraft.check.history import HistoryRecorder, OpKind
from multiraft.check.linearizability import check_linearizable

from .conftest import Cluster, wait_until
from .test_splits import ranges_covering

KEYS = [b"k%03d" % i for i in range(200)]
SPLITS = 100
WRITERS = 8
#: every loop's bounds: the whole workload stops after RUN_SECONDS, or once the splits are done
RUN_SECONDS = 45.0
OPS_PER_WRITER = 3_000
MAX_SCANS = 2_000
#: a split that timed out is tried again (same key) at most this many times
SPLIT_TRIES = 5
#: seconds between two splits: spreads the 100 splits over ~10 s of client load
SPLIT_PACE = 0.08


class Workload:
    """The writers, the scanner and the splitter, each a bounded thread."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.rec = HistoryRecorder()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.scans_ok = 0
        self.scans_failed = 0
        self.bad_scans: list[list[bytes]] = []
        self.splits_done: list[bytes] = []
        self.split_log: list[str] = []
        self.deadline = time.monotonic() + RUN_SECONDS

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def writer(self, cid: int) -> None:
        client = self.cluster.client(timeout=3)
        rng = random.Random(cid)
        seen: dict[bytes, bytes | None] = {}
        try:
            for n in range(OPS_PER_WRITER):
                if not self.running():
                    return
                key = rng.choice(KEYS)
                value = f"{cid}:{n}".encode()
                r = rng.random()
                if r < 0.4:
                    kind, args, call = OpKind.GET, (key,), lambda: client.get(key)
                elif r < 0.7:
                    kind, args, call = OpKind.PUT, (key, value), lambda: client.put(key, value)
                else:
                    exp = seen.get(key, b"init")
                    kind, args, call = (OpKind.CAS, (key, exp, value),
                                        lambda: client.cas(key, exp, value))
                token = self.rec.begin(cid, kind, args)
                try:
                    out = call()
                except Timeout:
                    self.rec.end_unknown(token)
                    continue
                except ClientError:
                    self.rec.discard(token)  # not applied (the client's contract)
                    continue
                self.rec.end(token, out)
                if kind is OpKind.GET:
                    seen[key] = out
                elif kind is OpKind.PUT or out:
                    seen[key] = value
        except BaseException as e:  # surfaced by the test
            self.errors.append(e)

    def scanner(self) -> None:
        client = self.cluster.client(timeout=5)
        try:
            for _ in range(MAX_SCANS):
                if not self.running():
                    return
                try:
                    pairs = client.scan(b"", None)
                except ClientError:
                    self.scans_failed += 1
                    continue
                got = [k for k, _ in pairs]
                if got == KEYS:
                    self.scans_ok += 1
                else:
                    self.bad_scans.append(got)
        except BaseException as e:
            self.errors.append(e)

    def splitter(self, split_keys: list[bytes]) -> None:
        client = self.cluster.client(timeout=5)
        try:
            for key in split_keys:
                for attempt in range(SPLIT_TRIES):
                    if not self.running():
                        return
                    try:
                        client.split(key)
                    except Refused as e:  # a try that timed out had applied after all
                        assert attempt > 0 and "already starts" in str(e), e
                    except ClientError as e:
                        self.split_log.append(f"split {key!r} try {attempt}: {e!r}")
                        continue
                    self.splits_done.append(key)
                    self.stop.wait(SPLIT_PACE)
                    break
                else:
                    raise AssertionError(f"split at {key!r} failed {SPLIT_TRIES} times: "
                                         f"{self.split_log[-SPLIT_TRIES:]}")
        except BaseException as e:
            self.errors.append(e)
        finally:
            self.stop.set()  # the splits are the workload: once done, everything stops


def test_100_splits_under_reads_writes_cas_and_scans(make_cluster: Any) -> None:
    """Proves, on one range split 100 times in a row at random keys of the fixed key set
    (so splits hit old and new ranges alike), while 8 clients get/put/CAS those keys and a
    scanner scans the whole key space: (1) every split completes, leaving 101 ranges that tile
    the key space at exactly the split keys, each of them with a leader and every key readable;
    (2) every scan that completed returned every key exactly once, in order, and many did;
    (3) the clients' history (the pre-writes included) is linearizable."""
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    w = Workload(cluster)
    with cluster.client(timeout=10) as c:
        for k in KEYS:  # recorded too: the checker starts every key at "absent"
            token = w.rec.begin(99, OpKind.PUT, (k, b"init"))
            c.put(k, b"init")
            w.rec.end(token, None)
    split_keys = random.Random(13).sample(KEYS[1:], SPLITS)
    threads = [threading.Thread(target=w.writer, args=(cid,), name=f"writer-{cid}")
               for cid in range(WRITERS)]
    threads.append(threading.Thread(target=w.scanner, name="scanner"))
    threads.append(threading.Thread(target=w.splitter, args=(split_keys,), name="splitter"))
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_SECONDS + 30)
    elapsed = time.monotonic() - t0
    assert not any(t.is_alive() for t in threads), "a workload thread did not stop"
    assert not w.errors, w.errors
    assert len(w.splits_done) == SPLITS, (
        f"only {len(w.splits_done)} of {SPLITS} splits in {elapsed:.1f}s; {w.split_log[-5:]}\n"
        f"{cluster.describe()}")
    assert not w.bad_scans, (f"{len(w.bad_scans)} scans did not see every key once, in order; "
                             f"first: {len(w.bad_scans[0])} keys, missing "
                             f"{sorted(set(KEYS) - set(w.bad_scans[0]))[:10]}, duplicated "
                             f"{sorted({k for k in w.bad_scans[0] if w.bad_scans[0].count(k) > 1})[:10]}")
    assert w.scans_ok >= 5, f"only {w.scans_ok} complete scans ({w.scans_failed} failed)"

    def all_ranges() -> list[tuple[bytes, bytes | None, int]] | None:
        s = ranges_covering(cluster)
        return s if len(s) == SPLITS + 1 else None
    spans = wait_until(all_ranges, 20, f"{SPLITS + 1} ranges in the nodes' status")
    assert [s for s, _, _ in spans] == [b""] + sorted(split_keys)
    assert all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1)) and \
        spans[-1][1] is None
    wait_until(lambda: len(cluster.leaders()) == SPLITS + 1, 30, "a leader for every range",
               interval=0.2, diagnose=cluster.describe)
    with cluster.client(timeout=10) as c:
        assert [k for k, _ in c.scan(b"", None)] == KEYS

    history = w.rec.history()
    known = [op for op in history if op.outcome_known]
    assert len(known) >= 1_000, f"only {len(known)} operations completed ({len(history)} in all)"
    result = check_linearizable(history, timeout_s=60)
    sts = cluster.statuses().values()
    snaps = sum(r["snapshots_sent"] for st in sts for r in st["ranges"])
    refused = sum(st["node"]["counters"].get("snapshots_refused_overlap", 0) for st in sts)
    print(f"snapshots sent {snaps}, refused (overlap) {refused}")
    print(f"{cluster.design}: {SPLITS} splits in {elapsed:.1f}s; {w.scans_ok} scans ok, "
          f"{w.scans_failed} failed; {len(history)} ops, {len(known)} known; "
          f"{result.verdict.value}, {result.steps} steps")
    assert result.ok, str(result)
