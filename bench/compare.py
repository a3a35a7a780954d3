"""``multiraft bench --compare``: the actor design against the lock design, side by side (issue 7).

One run measures both designs alternately (round 1: actors, locks; round 2: actors, locks; ...)
on the same machine, each on a fresh 3-process loopback cluster (RocksDB, fsync on):

- durable write throughput, median and p99 latency and the latency CDF at each number of
  active ranges (keys spread over the first N ranges of a cluster of ``max(active)`` ranges) and
  each number of requests in flight, all on one cluster per design per round;
- idle cost at each cluster size (``bench.bench_cluster.scale``): CPU, RSS and threads per node
  once the ranges are quiesced, and the elections seen while idle;
- PySyncObj (``bench.pysyncobj_cluster``), with and without its journal, on the same workload
  generator and protocol for its one-group case: the Python anchor;
- etcd (``bench.etcd``), when an ``etcd`` binary is on PATH (recorded under ``skipped``
  otherwise): three members on loopback with their own data dirs, driven through its KV ``Put``
  by a pipelined ``grpc.aio`` load of the same shape, keys, values and in-flight counts: the
  outside anchor;
- every throughput row records the CPU seconds of the system's processes and of the load
  generator during its measured run, and so the CPU per write;
- one hot range (issue 13): a fresh cluster of one range, every write to keys under one prefix,
  load splits off (``--split-qps 0``) and on (``--split-qps hot_range_split_qps``), run for
  ``hot_range_seconds`` (each split needs 10 s of sustained load); the writes/s of its last
  ``seconds`` and the number of ranges at the end (``bench.split_timeline``).

Rows from the same round ran back to back, so ratios are taken per round, then the median.
Results (JSON, markdown, PNG plots) are written by ``bench.compare_report``. A cluster that
fails to start is recorded under ``failures`` and the run goes on.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NotRequired, Protocol, TypedDict

from multiraft.local_cluster import LocalCluster

from multiraft.pids import cpu_seconds

from .bench_cluster import scale
from .etcd.cluster import EtcdCluster, etcd_binary
from .etcd.workload import run_etcd_workload
from .pysyncobj_cluster import PySyncObjCluster
from .split_timeline import run_one
from .workload import WorkloadResult, WorkloadSummary, run_workload

__all__ = ["CompareConfig", "run_compare", "QUICK", "cdf_quantiles", "CompareResults",
           "CompareMeta", "Host", "ThroughputRow", "IdleRow", "IdleNode", "Failure",
           "HotRangeRow"]

DESIGNS = ("actors", "locks")
#: the anchor systems: name -> whether PySyncObj runs with its journal
ANCHORS = {"pysyncobj-journal": True, "pysyncobj-memory": False}


@dataclass(slots=True)
class CompareConfig:
    """What one comparison run measures. The defaults are issue 7's matrix."""

    rounds: int = 2
    seconds: float = 10.0
    warmup_seconds: float = 2.0
    active_ranges: tuple[int, ...] = (1, 16, 256, 1024)
    inflight: tuple[int, ...] = (64, 512)
    idle_ranges: tuple[int, ...] = (1000, 10_000)
    idle_seconds: float = 60.0
    value_size: int = 100
    pysyncobj: bool = True
    #: measure etcd too, if an ``etcd`` binary is on PATH
    etcd: bool = True
    base_port: int = 7800
    command: str = "multiraft bench --compare"
    designs: tuple[str, ...] = field(default=DESIGNS)
    #: the hot-range row: how long each run lasts (its last ``seconds`` are reported), the
    #: load-split threshold of its "on" runs, its requests in flight; 0 seconds: no such row
    hot_range_seconds: float = 60.0
    hot_range_split_qps: float = 1000.0
    hot_range_inflight: int = 64


#: a smoke run of the whole harness in about a minute (the tests run it)
QUICK = CompareConfig(rounds=1, seconds=1.0, warmup_seconds=0.3, active_ranges=(1, 4),
                      inflight=(8,), idle_ranges=(8,), idle_seconds=1.0, hot_range_seconds=2.0,
                      hot_range_inflight=8)


class Host(TypedDict):
    cpus: int
    python: str
    platform: str


class CompareMeta(TypedDict):
    """How the run was made; ``wall_seconds`` is added once it is over."""

    started: str
    command: str
    host: Host
    rounds: int
    seconds: float
    value_size: int
    fsync: bool
    cluster_ranges: int
    order: list[str]
    cdf_quantiles: list[float]
    wall_seconds: NotRequired[float]


class ThroughputRow(WorkloadSummary):
    """One system at one (active ranges, in flight) point of one round: the workload's summary
    and its latency at each of ``meta["cdf_quantiles"]`` (empty if nothing completed)."""

    system: str
    round: int
    active_ranges: int
    inflight: int
    cdf_ms: list[float]
    #: CPU seconds of the system's processes and of the load generator in the measured run,
    #: and both together per completed write (absent in results from before issue 15)
    cpu_s_nodes: NotRequired[float]
    cpu_s_load: NotRequired[float]
    cpu_us_per_write: NotRequired[float]


class IdleNode(TypedDict):
    node: int
    cpu_pct: float
    rss_mb: float
    threads: int


class IdleRow(TypedDict):
    """One design's idle cost at one cluster size in one round."""

    system: str
    round: int
    ranges: int
    start_seconds: float
    quiesced_after_seconds: float
    idle_seconds: float
    per_node: list[IdleNode]
    elections_while_idle: int


class HotRangeRow(TypedDict):
    """One design on one hot range in one round, load splits off (``split_qps`` 0) or on:
    writes/s over the run's last ``tail_seconds`` and over all of it, the ranges at the end
    and how many of them each node leads (node id as a string)."""

    system: str
    round: int
    split_qps: float
    inflight: int
    seconds: float
    tail_seconds: float
    ops_per_s: float
    run_ops_per_s: float
    p99_ms: float
    ranges_end: int
    leaders_end: dict[str, int]
    errors: int
    timeouts: int
    ranges_over_time: list[int]


class Failure(TypedDict):
    """A cluster that failed to start or to be measured; the run went on without it."""

    system: str
    round: int
    what: str
    error: str


class CompareResults(TypedDict):
    """``run_compare``'s results, as written to results.json."""

    meta: CompareMeta
    throughput: list[ThroughputRow]
    idle: list[IdleRow]
    failures: list[Failure]
    hot_range: NotRequired[list[HotRangeRow]]  # absent in results from before issue 13
    #: what was not measured and why (e.g. "etcd: no etcd binary on PATH")
    skipped: NotRequired[list[str]]


class _Serving(Protocol):
    """A started cluster, as the throughput matrix uses it."""

    @property
    def client_addrs(self) -> list[str]: ...

    @property
    def pids(self) -> list[int]: ...


class _Load(TypedDict):
    """The ``run_workload`` arguments shared by a point's warm-up and its measured run."""

    inflight: int
    value_size: int
    active_ranges: int
    seed: int


def cdf_quantiles() -> list[float]:
    """The quantiles at which each row keeps its latency: every 0.5 %, plus 99.5 and 99.9 %."""
    return sorted({i / 200 for i in range(201)} | {0.995, 0.999})


def _row(system: str, rnd: int, active: int, inflight: int, r: WorkloadResult,
         qs: list[float], cpu: tuple[float, float]) -> ThroughputRow:
    lat = sorted(r.latencies_ms)
    cdf = [round(lat[min(len(lat) - 1, int(q * len(lat)))], 3) for q in qs] if lat else []
    nodes, load = cpu
    return {"system": system, "round": rnd, "active_ranges": active, "inflight": inflight,
            **r.summary(), "cdf_ms": cdf, "cpu_s_nodes": round(nodes, 3),
            "cpu_s_load": round(load, 3),
            "cpu_us_per_write": round((nodes + load) / r.ops * 1e6, 1) if r.ops else 0.0}


#: A workload against a serving system: (client addresses, seconds, the point's load) -> result.
Workload = Callable[[list[str], float, _Load], WorkloadResult]


def _ours(addrs: list[str], seconds: float, kw: _Load) -> WorkloadResult:
    return run_workload(addrs, seconds=seconds, **kw)


def _etcd(addrs: list[str], seconds: float, kw: _Load) -> WorkloadResult:
    return run_etcd_workload(addrs, seconds=seconds, inflight=kw["inflight"],
                             value_size=kw["value_size"], seed=kw["seed"])


def cpu_now(pids: list[int]) -> tuple[float, float]:
    """CPU seconds so far of the processes ``pids`` (together) and of this process."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return (sum(cpu_seconds(p) or 0.0 for p in pids), me.ru_utime + me.ru_stime)


def _throughput_rows(system: str, rnd: int, serving: _Serving, cfg: CompareConfig,
                     active: tuple[int, ...], log: Callable[[str], None],
                     workload: Workload = _ours) -> Iterator[ThroughputRow]:
    qs = cdf_quantiles()
    addrs, pids = serving.client_addrs, serving.pids
    for n in active:
        for inflight in cfg.inflight:
            kw: _Load = {"inflight": inflight, "value_size": cfg.value_size, "active_ranges": n,
                         "seed": rnd}
            workload(addrs, cfg.warmup_seconds, kw)  # wakes the ranges; discarded
            before = cpu_now(pids)
            r = workload(addrs, cfg.seconds, kw)
            after = cpu_now(pids)
            cpu = (after[0] - before[0], after[1] - before[1])
            row = _row(system, rnd, n, inflight, r, qs, cpu)
            log(f"  {system:18} {n:5} ranges {inflight:4} in flight: {r.ops_per_s:8,.0f} writes/s"
                f"  p50 {r.percentile(0.5):6.1f} ms  p99 {r.percentile(0.99):6.1f} ms"
                f"  errors {r.errors} timeouts {r.timeouts}"
                f"  CPU/write {row.get('cpu_us_per_write', 0):,.0f} us")
            yield row


def _measure(system: str, rnd: int, cluster: AbstractContextManager[_Serving, bool | None],
             cfg: CompareConfig, active: tuple[int, ...], results: CompareResults,
             log: Callable[[str], None], workload: Workload = _ours) -> None:
    """Start ``cluster``, run the throughput matrix on it, stop it; a failure is recorded."""
    t0 = time.monotonic()
    try:
        with cluster as c:
            log(f"[round {rnd}] {system}: ready in {time.monotonic() - t0:.1f} s")
            results["throughput"].extend(
                _throughput_rows(system, rnd, c, cfg, active, log, workload))
    except Exception as e:  # noqa: BLE001 - one failed cluster must not lose the whole run
        log(f"[round {rnd}] {system}: FAILED: {e!r}")
        results["failures"].append({"system": system, "round": rnd, "what": "throughput",
                                    "error": repr(e)})


def run_compare(out_dir: Path, cfg: CompareConfig = CompareConfig(),
                log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)
                ) -> CompareResults:
    """Run the comparison; return the results and write them (JSON, markdown, PNGs) to out_dir."""
    from .compare_report import write_report  # matplotlib is imported only when reporting

    order = [d for _ in range(cfg.rounds) for d in cfg.designs]
    results: CompareResults = {
        "meta": {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "command": cfg.command,
                 "host": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                          "platform": platform.platform()},
                 "rounds": cfg.rounds, "seconds": cfg.seconds, "value_size": cfg.value_size,
                 "fsync": True, "cluster_ranges": max(cfg.active_ranges), "order": order,
                 "cdf_quantiles": cdf_quantiles()},
        "throughput": [], "idle": [], "failures": [], "hot_range": [], "skipped": []}
    etcd = cfg.etcd and etcd_binary() is not None
    if cfg.etcd and not etcd:
        results["skipped"].append("etcd: no etcd binary on PATH")
        log("etcd: skipped (no etcd binary on PATH)")
    t_start = time.monotonic()
    for rnd in range(1, cfg.rounds + 1):
        for design in cfg.designs:
            with tempfile.TemporaryDirectory(prefix=f"compare-{design}-") as d:
                cluster = _started(LocalCluster(d, 3, max(cfg.active_ranges),
                                                base_port=cfg.base_port, design=design))
                _measure(design, rnd, cluster, cfg, cfg.active_ranges, results, log)
        if cfg.pysyncobj:
            for name, journal in ANCHORS.items():
                with tempfile.TemporaryDirectory(prefix=f"compare-{name}-") as d:
                    anchor = PySyncObjCluster(d, 3, base_port=cfg.base_port, journal=journal)
                    _measure(name, rnd, anchor, cfg, (1,), results, log)
        if etcd:
            with tempfile.TemporaryDirectory(prefix="compare-etcd-") as d:
                _measure("etcd", rnd, EtcdCluster(d, 3, base_port=cfg.base_port), cfg, (1,),
                         results, log, _etcd)
        if cfg.hot_range_seconds > 0:
            for design in cfg.designs:
                for qps in (0.0, cfg.hot_range_split_qps):
                    _hot_range(design, rnd, qps, cfg, results, log)
        write_report(results, out_dir)  # a partial report survives an interrupted run
    for ranges in cfg.idle_ranges:
        for rnd in range(1, cfg.rounds + 1):
            for design in cfg.designs:
                row = _idle_row(design, rnd, ranges, cfg, results, log)
                if row is not None:
                    results["idle"].append(row)
        write_report(results, out_dir)
    results["meta"]["wall_seconds"] = round(time.monotonic() - t_start, 1)
    write_report(results, out_dir)
    return results


def _hot_range(design: str, rnd: int, split_qps: float, cfg: CompareConfig,
               results: CompareResults, log: Callable[[str], None]) -> None:
    """One hot-range run on a fresh one-range cluster; a failure is recorded."""
    what = f"hot range, split_qps {split_qps:g}"
    try:
        run = run_one(design, split_qps, cfg.hot_range_seconds, cfg.hot_range_inflight,
                      cfg.base_port, rnd, tail_seconds=cfg.seconds)
    except Exception as e:  # noqa: BLE001 - recorded, the run goes on
        log(f"[round {rnd}] {design} {what}: FAILED: {e!r}")
        results["failures"].append({"system": design, "round": rnd, "what": what,
                                    "error": repr(e)})
        return
    leaders = run["samples"][-1]["leaders"] if run["samples"] else {}
    log(f"[round {rnd}] {design} {what}: {run['tail_ops_per_s']:,.0f} writes/s over the last "
        f"{cfg.seconds:g} s ({run['ops_per_s']:,.0f} over {cfg.hot_range_seconds:g} s), "
        f"{run['ranges_end']} ranges at the end, leaders by node {leaders}")
    results.setdefault("hot_range", []).append({
        "system": design, "round": rnd, "split_qps": split_qps, "inflight": run["inflight"],
        "seconds": run["seconds"], "tail_seconds": cfg.seconds,
        "ops_per_s": run["tail_ops_per_s"], "run_ops_per_s": run["ops_per_s"],
        "p99_ms": run["p99_ms"], "ranges_end": run["ranges_end"], "leaders_end": leaders,
        "errors": run["errors"], "timeouts": run["timeouts"],
        "ranges_over_time": [s["ranges"] for s in run["samples"]]})


def _idle_row(design: str, rnd: int, ranges: int, cfg: CompareConfig,
              results: CompareResults, log: Callable[[str], None]) -> IdleRow | None:
    try:
        s = scale(ranges, cfg.idle_seconds, design, cfg.base_port)
    except Exception as e:  # noqa: BLE001 - recorded, the run goes on
        log(f"[round {rnd}] {design} idle at {ranges} ranges: FAILED: {e!r}")
        results["failures"].append({"system": design, "round": rnd, "what": f"idle {ranges}",
                                    "error": repr(e)})
        return None
    per_node: list[IdleNode] = [
        {"node": int(i), "cpu_pct": v["idle_cpu_pct"], "rss_mb": v["rss_mb"],
         "threads": v["threads"]} for i, v in sorted(s["per_node"].items())]
    log(f"[round {rnd}] {design} idle at {ranges} ranges: ready {s['start_seconds']} s, CPU % "
        f"{[n['cpu_pct'] for n in per_node]}, RSS MB {[n['rss_mb'] for n in per_node]}, "
        f"threads {[n['threads'] for n in per_node]}")
    return {"system": design, "round": rnd, "ranges": ranges,
            "start_seconds": s["start_seconds"], "quiesced_after_seconds": s["quiesced_after_seconds"],
            "idle_seconds": s["idle_seconds"], "per_node": per_node,
            "elections_while_idle": s["ranges_with_elections_while_idle"]}


@contextmanager
def _started(cluster: LocalCluster) -> Iterator[LocalCluster]:
    """``cluster`` started with as long a timeout as a cluster of its size needs, then settled."""
    cluster.start(timeout=120 + cluster.ranges / 20)  # stops what it started if it fails
    try:
        time.sleep(1.0)  # let the first elections' entries settle
        yield cluster
    finally:
        cluster.stop()
