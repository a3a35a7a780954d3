"""Cluster benchmarks on 3 node processes over loopback (issue 5).

    .venv/bin/python -m multiraft.bench.bench_cluster throughput [--ranges 1,16,256] [--runs 3] [--seconds 10]
    .venv/bin/python -m multiraft.bench.bench_cluster scale [--ranges 10000] [--idle-seconds 300]

``throughput``: durable writes (RocksDB, fsync on), 100-byte values, 64 requests in flight,
keys spread over every range: ops/s, median and p99 latency, median of ``--runs`` fresh clusters.
``scale``: start time until every range has a leader, RSS and threads per node, idle CPU per node
once the ranges are quiesced, and the elections (term changes) seen over the idle window.
Results go to bench/results/cluster_*.json; a markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import TypedDict

from multiraft.client import Client
from multiraft.local_cluster import LocalCluster

from .workload import WorkloadSummary, run_workload

RESULTS = Path(__file__).parent / "results"


class ThroughputPoint(TypedDict):
    """``throughput`` at one range count: medians over the runs, and every run's summary."""

    ops_per_s: float
    p50_ms: float
    p99_ms: float
    runs: list[WorkloadSummary]


class NodeIdle(TypedDict):
    """One node over ``scale``'s idle window."""

    idle_cpu_pct: float
    rss_mb: float
    threads: int


class ScaleResult(TypedDict):
    """What ``scale`` measures; ``per_node`` is by node id."""

    ranges: int
    start_seconds: float
    quiesced_after_seconds: float
    idle_seconds: float
    per_node: dict[int, NodeIdle]
    ranges_with_elections_while_idle: int


def _proc_stat(pid: int) -> tuple[float, int, int]:
    """(CPU seconds used, RSS bytes, threads) of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = 100.0  # os.sysconf("SC_CLK_TCK") on Linux
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    threads = int(fields[17])
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
    return cpu, rss, threads


def throughput(ranges: list[int], runs: int, seconds: float, inflight: int, design: str,
               base_port: int) -> dict[int, ThroughputPoint]:
    out: dict[int, ThroughputPoint] = {}
    for n in ranges:
        results: list[WorkloadSummary] = []
        for run in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-cluster-") as d:
                with LocalCluster(d, 3, n, base_port=base_port, design=design) as c:
                    time.sleep(1.0)  # let the first elections' entries settle
                    r = run_workload(c.client_addrs, seconds=seconds, inflight=inflight,
                                     active_ranges=n, seed=run)
                    results.append(r.summary())
        out[n] = {
            "ops_per_s": statistics.median(x["ops_per_s"] for x in results),
            "p50_ms": statistics.median(x["p50_ms"] for x in results),
            "p99_ms": statistics.median(x["p99_ms"] for x in results),
            "runs": results,
        }
    return out


def _terms(c: LocalCluster) -> dict[int, int]:
    terms: dict[int, int] = {}
    with Client(c.client_addrs, timeout=30) as cl:
        for a in c.client_addrs:
            for r in cl.status(a)["ranges"]:
                terms[r["range_id"]] = max(terms.get(r["range_id"], 0), r["term"])
    return terms


def _quiesced_fraction(c: LocalCluster) -> float:
    total = quiet = 0
    with Client(c.client_addrs, timeout=30) as cl:
        for a in c.client_addrs:
            for r in cl.status(a)["ranges"]:
                total += 1
                quiet += bool(r["quiesced"])
    return quiet / total if total else 0.0


def scale(ranges: int, idle_seconds: float, design: str, base_port: int) -> ScaleResult:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as d:
        c = LocalCluster(d, 3, ranges, base_port=base_port, design=design)
        t0 = time.monotonic()
        c.start(timeout=600)
        start_s = time.monotonic() - t0
        try:
            deadline = time.monotonic() + 300
            while _quiesced_fraction(c) < 0.99 and time.monotonic() < deadline:
                time.sleep(2)
            quiesce_s = time.monotonic() - t0
            before_terms = _terms(c)
            before = {i: _proc_stat(p.pid) for i, p in c.procs.items()}
            time.sleep(idle_seconds)
            after = {i: _proc_stat(p.pid) for i, p in c.procs.items()}
            after_terms = _terms(c)
        finally:
            c.stop()
    elections = sum(1 for r, t in after_terms.items() if t != before_terms.get(r))
    return {
        "ranges": ranges, "start_seconds": round(start_s, 1),
        "quiesced_after_seconds": round(quiesce_s, 1), "idle_seconds": idle_seconds,
        "per_node": {i: {"idle_cpu_pct": round(100 * (after[i][0] - before[i][0]) / idle_seconds, 2),
                         "rss_mb": round(after[i][1] / 2**20, 1), "threads": after[i][2]}
                     for i in after},
        "ranges_with_elections_while_idle": elections,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--ranges", default="1,16,256")
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--seconds", type=float, default=10.0)
    t.add_argument("--inflight", type=int, default=64)
    s = sub.add_parser("scale")
    s.add_argument("--ranges", type=int, default=10_000)
    s.add_argument("--idle-seconds", type=float, default=300.0)
    for p in (t, s):
        p.add_argument("--design", choices=["actors", "locks"], default="actors")
        p.add_argument("--base-port", type=int, default=7800)
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    if args.what == "throughput":
        tput = throughput([int(x) for x in args.ranges.split(",")], args.runs, args.seconds,
                          args.inflight, args.design, args.base_port)
        (RESULTS / f"cluster_throughput_{args.design}.json").write_text(json.dumps(tput, indent=2))
        print(f"| ranges | writes/s | p50 ms | p99 ms |  ({args.design}, median of {args.runs}, "
              f"{args.inflight} in flight)\n|---|---|---|---|")
        for n, r in tput.items():
            print(f"| {n} | {r['ops_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    else:
        res = scale(args.ranges, args.idle_seconds, args.design, args.base_port)
        (RESULTS / f"cluster_scale_{args.design}.json").write_text(json.dumps(res, indent=2))
        print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
