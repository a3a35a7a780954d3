"""Issue 12, defect 0: a node paused (SIGSTOP) and resumed (SIGCONT) under load must survive.

A node paused for longer than its transport's timeouts used to die on resume: with ZMTP
heartbeats on the peer sockets (1 s interval, 3 s timeout), libzmq 4.3.5 aborted the resumed
process with ``Assertion failed: !_io_error (src/stream_engine_base.cpp:310)`` (libzmq #4364,
#4841). No pause may kill a node: raft tolerates a slow node, the transport must too.

The test runs a bounded write load from background threads (LOAD_THREADS on one ``Client``),
pauses one node for twice the
longest timeout involved (PAUSE_S), resumes it, CYCLES times in a row (8 in CI;
``MULTIRAFT_PAUSE_CYCLES=N`` for a longer run), and after each resume checks
that every node process is alive. At the end it kills another node with SIGKILL: the remaining
two nodes, the resumed one among them, must still take writes on every range (the resumed
node's vote is needed), and the load must have seen successful writes in every cycle.

How often the abort came before the fix (2 cores; a run is 20 cycles of one design): it needs
more frames queued for the paused node than its 1,000-frame receive queue takes, so it depends
on load and machine speed. With one load thread 2 of 4 runs aborted, with four 4 of 5 (at
cycles 2, 2, 4, 8), with eight 1 of 2 (cycle 13). The deterministic guard is
``tests/transport/test_processes.py::test_no_zmtp_heartbeats_and_tcp_keepalive_on_node_sockets``.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from typing import Any

from multiraft import ClientError

from .conftest import NODE_IDS, ProcessCluster, key_in, wait_until

RANGES = 16
#: Twice the longest timeout involved in the transport: the 3 s ZMTP heartbeat timeout the
#: peer sockets had when this test was written (raft's own timeouts here are far shorter:
#: 50 ms ticks, election after 10-20 ticks, node liveness after 20 ticks).
PAUSE_S = 6.0
#: 8 by default: with four load threads every abort seen before the fix came by cycle 8 (see
#: above); ``MULTIRAFT_PAUSE_CYCLES=20`` runs the original 20-cycle soak (about 140 s a design).
CYCLES = int(os.environ.get("MULTIRAFT_PAUSE_CYCLES", "8"))
#: The load's bounds: it stops at the end of the test, after LOAD_SECONDS, or after LOAD_OPS.
LOAD_SECONDS = 210.0
LOAD_OPS = 200_000
LOAD_THREADS = 4
#: How long a resumed node gets to answer STATUS and hear from both peers again.
REJOIN_S = 20.0


class Load:
    """Puts from LOAD_THREADS background threads (one ``Client``), each round-robin over one key
    per range; records when each put succeeded. Bounded by ``stop()``, LOAD_SECONDS and
    LOAD_OPS (in all)."""

    def __init__(self, cluster: ProcessCluster, keys: list[bytes]) -> None:
        self.client = cluster.client(timeout=2.0)
        self.keys = keys
        self.ok_at: list[float] = []
        self.failed = 0
        self.errors: list[BaseException] = []
        self._ops = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"pause-load-{i}",
                                          daemon=True) for i in range(LOAD_THREADS)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        assert not any(t.is_alive() for t in self._threads), "a load thread did not stop"

    def successes_between(self, t0: float, t1: float) -> int:
        return sum(t0 <= t <= t1 for t in list(self.ok_at))

    def _run(self, i: int) -> None:
        deadline = time.monotonic() + LOAD_SECONDS
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                n = next(self._ops)
                if n >= LOAD_OPS:
                    return
                key = self.keys[n % len(self.keys)]
                try:
                    self.client.put(key, f"v{n}".encode())
                except ClientError:  # Timeout / Unavailable while a node is paused
                    with self._lock:
                        self.failed += 1
                    continue
                self.ok_at.append(time.monotonic())
        except BaseException as e:  # surfaced by the test
            self.errors.append(e)


def assert_all_alive(cluster: ProcessCluster, what: str) -> None:
    dead = {n: p.poll() for n, p in cluster.procs.items() if p.poll() is not None}
    assert not dead, (f"{what}: node(s) exited (node: return code; -6 is SIGABRT) {dead}\n"
                      + "\n".join(cluster.log_tail(n) for n in dead))


def assert_no_libzmq_assertion(cluster: ProcessCluster) -> None:
    hits = {}
    for n in NODE_IDS:
        try:
            text = cluster.log_path(n).read_text(errors="replace")
        except OSError:
            continue
        lines = [line for line in text.splitlines() if "Assertion failed" in line]
        if lines:
            hits[n] = lines
    assert not hits, f"libzmq assertion(s) in the node logs: {hits}"


def rejoined(cluster: ProcessCluster, node: int) -> bool:
    """The node answers STATUS and hears from every peer again (its transport works)."""
    st = cluster.status(node)
    return st is not None and not st["node"]["silent_peers"]


def test_pause_resume_under_load(make_cluster: Any) -> None:
    """Proves: (1) a node SIGSTOPped for PAUSE_S under write load and SIGCONTed, CYCLES times in
    a row, is alive after every resume (no libzmq abort) and rejoins (answers STATUS, hears from
    both peers); so are the other nodes; (2) the load's writes succeed in every cycle, while
    the node is paused and after it resumed; (3) after another node is killed with SIGKILL,
    every range still takes writes, which needs the resumed node's vote."""
    cluster = make_cluster("procs", ranges=RANGES)
    assert isinstance(cluster, ProcessCluster)
    cluster.wait_all_led()
    table = cluster.range_table()
    keys = [key_in(r, f"p{rid}") for rid, r in sorted(table.items())]
    paused, killed = NODE_IDS[-1], NODE_IDS[0]
    pid = cluster.procs[paused].pid

    load = Load(cluster, keys)
    load.start()
    t_start = time.monotonic()
    cycles: list[tuple[float, float, float]] = []  # (paused at, resumed at, rejoined at)
    try:
        wait_until(lambda: load.ok_at, 20, "the load's first successful write")
        for i in range(CYCLES):
            t0 = time.monotonic()
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(PAUSE_S)
            finally:
                os.kill(pid, signal.SIGCONT)
            t1 = time.monotonic()
            wait_until(lambda: cluster.procs[paused].poll() is not None
                       or rejoined(cluster, paused), REJOIN_S,
                       f"node {paused} to rejoin after pause {i + 1}",
                       interval=0.1, diagnose=cluster.describe)
            time.sleep(0.5)  # an abort comes while the node drains what queued for it
            assert_all_alive(cluster, f"after resume {i + 1} of {CYCLES}")
            t2 = time.monotonic()
            cycles.append((t0, t1, t2))
            print(f"cycle {i + 1}: paused {t1 - t0:.1f}s, rejoined after {t2 - t1:.1f}s, "
                  f"{load.successes_between(t0, t2)} writes ok in the cycle")
        assert_no_libzmq_assertion(cluster)

        # The resumed node's vote is needed once another node is gone.
        cluster.kill(killed)
        client = cluster.client(timeout=20.0)
        t_kill = time.monotonic()
        for key in keys:
            client.put(key, b"after-kill")
        print(f"killed node {killed}: a write on each of the {RANGES} ranges in "
              f"{time.monotonic() - t_kill:.1f}s")
        assert_all_alive(cluster, "after the kill")
    finally:
        if cluster.procs[paused].poll() is None:  # never leave it stopped
            os.kill(pid, signal.SIGCONT)
        load.stop()

    assert not load.errors, load.errors
    starved = [i + 1 for i, (t0, t1, t2) in enumerate(cycles)
               if not load.successes_between(t0, t1) or not load.successes_between(t1, t2)]
    assert not starved, (f"no successful write while paused or after the resume in cycles "
                         f"{starved}")
    print(f"{CYCLES} pause cycles in {time.monotonic() - t_start:.0f}s; load: "
          f"{len(load.ok_at)} writes ok, {load.failed} failed")
