"""What one ``bench --compare`` row costs, and where: ``python -m multiraft.bench.row_cost``.

Starts a fresh 3-process loopback cluster of one design (RocksDB, fsync on, metrics on), warms
it up, runs the workload generator for ``--seconds`` and prints one JSON line: writes/s, p50 and
p99, timeouts, CPU per write (all node processes, and the load generator), and the work done
per write, summed over the nodes from their Prometheus counters: replica writes handed to group
commit (one per Ready cycle that writes), group-commit rounds, raft frames and messages sent
and coalesced heartbeats sent. With ``--py-spy FILE`` node 1 is sampled during the measured run
(py-spy's raw format; ``--gil`` samples only the thread holding the GIL).

It is the quick A/B loop of issue 15 (one row, a minute); ``bench --compare`` is the full
matrix. Run it several times and take medians: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from multiraft.bench.compare import cpu_now
from multiraft.bench.workload import run_workload
from multiraft.local_cluster import LocalCluster, free_base_port

__all__ = ["measure", "main"]

#: the Prometheus counters summed over the nodes, and the name each has in the output
_COUNTERS = {
    "multiraft_writer_batches_total": "replica_writes",
    "multiraft_writer_groups_total": "group_commits",
    "multiraft_transport_peer_frames_sent_total": "raft_frames",
    "multiraft_transport_peer_messages_sent_total": "raft_messages",
    "multiraft_store_heartbeats_sent_total": "heartbeats",
    "multiraft_store_heartbeat_responses_sent_total": "heartbeat_responses",
}
_SAMPLE = re.compile(r"^(\w+)(?:\{[^}]*\})? ([0-9.e+-]+)$")


def _scrape(addrs: list[str]) -> dict[str, float]:
    """The ``_COUNTERS`` of every node at ``addrs``, summed."""
    total = dict.fromkeys(_COUNTERS.values(), 0.0)
    for a in addrs:
        with urllib.request.urlopen(f"http://{a}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        for line in text.splitlines():
            m = _SAMPLE.match(line)
            if m and m.group(1) in _COUNTERS:
                total[_COUNTERS[m.group(1)]] += float(m.group(2))
    return total


def measure(design: str, ranges: int, inflight: int, seconds: float = 12.0,
            warmup: float = 2.0, py_spy: str | None = None, gil: bool = False) -> dict[str, Any]:
    """One row on a fresh cluster of ``ranges`` ranges, every range active."""
    with tempfile.TemporaryDirectory(prefix="multiraft-row-") as d:
        c = LocalCluster(d, 3, ranges, base_port=free_base_port(["127.0.0.1"]), design=design,
                         metrics=True)
        c.start(timeout=120)
        try:
            metrics = [m for m in (c.metrics_addr(i) for i in c.ids) if m is not None]
            run_workload(c.client_addrs, seconds=warmup, inflight=inflight, active_ranges=ranges)
            spy = None
            if py_spy is not None:
                beside = Path(sys.executable).with_name("py-spy")  # (a venv's, not on PATH)
                exe = shutil.which("py-spy") or str(beside)
                spy = subprocess.Popen(
                    [exe, "record", "-p", str(c.pids[0]), "-d", str(max(1, int(seconds) - 1)),
                     "-f", "raw", "-o", py_spy, "-r", "200", *(["--gil"] if gil else [])],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before, counted = cpu_now(c.pids), _scrape(metrics)
            r = run_workload(c.client_addrs, seconds=seconds, inflight=inflight,
                             active_ranges=ranges)
            after, counted_after = cpu_now(c.pids), _scrape(metrics)
            if spy is not None:
                spy.wait(timeout=seconds + 30)
        finally:
            c.stop()
    ops = max(1, r.ops)
    s = r.summary()
    return {"design": design, "ranges": ranges, "inflight": inflight,
            "writes_per_s": round(r.ops_per_s), "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"],
            "timeouts": r.timeouts,
            "cpu_us_per_write_nodes": round((after[0] - before[0]) / ops * 1e6),
            "cpu_us_per_write_load": round((after[1] - before[1]) / ops * 1e6),
            "per_write": {k: round((counted_after[k] - counted[k]) / ops, 2) for k in counted}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m multiraft.bench.row_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--design", choices=("actors", "locks"), default="actors")
    p.add_argument("--ranges", type=int, default=256)
    p.add_argument("--inflight", type=int, default=512)
    p.add_argument("--seconds", type=float, default=12.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--py-spy", metavar="FILE", help="sample node 1 into FILE (raw format)")
    p.add_argument("--gil", action="store_true", help="with --py-spy: the GIL holder only")
    a = p.parse_args(argv)
    print(json.dumps(measure(a.design, a.ranges, a.inflight, a.seconds, a.warmup, a.py_spy,
                             a.gil)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
