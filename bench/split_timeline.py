"""One hot range splitting under load: throughput and the number of ranges over time (issue 13).

    .venv/bin/python -m multiraft.bench.split_timeline --out bench/results/splits \\
        [--split-qps 0,500,1000,2500] [--rounds 3] [--seconds 60] [--design actors]

Each run starts a fresh 3-process loopback cluster of **one range** (``--ranges 1``: RocksDB,
fsync on) with ``--split-qps Q`` on every node (0: no load splits; size splits stay at their
default and never fire here), then writes 100-byte values to ``KEYS`` keys under one prefix
(``user/000000`` ...: all in the one range's span) from ``inflight`` pipelined requests for
``seconds``. Every second it records the writes completed in that second (from the workload)
and the number of ranges and the leaders per node (from every node's STATUS, merged as
``multiraft ranges`` merges them). A round runs every threshold back to back, on fresh
clusters; ratios to the no-split run are taken per round, then the median.

Writes ``results.json``, ``splits.md`` and ``split_timeline.png`` (per threshold, the run with
the median tail throughput) into ``--out``; re-render a saved JSON with ``--render JSON``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict

from multiraft.cli.cluster_view import merge_ranges
from multiraft.client import Client
from multiraft.errors import ClientError
from multiraft.local_cluster import LocalCluster

from .workload import WorkloadResult, WorkloadSummary, run_workload

__all__ = ["hot_keys", "hot_range_run", "run_one", "run_sweep", "tail_rate", "Sample",
           "HotRun", "TimelineRun", "SweepResults", "markdown", "plot", "write_report", "main",
           "KEYS", "TIMELINE_PNG"]

#: how many distinct keys the hot range's writes go to
KEYS = 1000
TIMELINE_PNG = "split_timeline.png"
#: the plot's throughput line is the mean of this many seconds
SMOOTH_SECONDS = 5


def hot_keys(n: int = KEYS, prefix: bytes = b"user/") -> list[bytes]:
    """``n`` keys under ``prefix``: all in the span of whichever range holds the prefix."""
    return [prefix + b"%06d" % i for i in range(n)]


class Sample(TypedDict):
    """Second ``t`` of a run (``t`` counts from the workload's start, 1 = the first second):
    the writes completed in it, and the ranges seen at its end (``leaders``: node id as a
    string -> ranges it leads; -1 ranges if no node answered)."""

    t: int
    writes: int
    ranges: int
    leaders: dict[str, int]


class HotRun(WorkloadSummary):
    """``hot_range_run``'s result: the workload's summary figures and the timeline."""

    ranges_end: int
    samples: list[Sample]


class TimelineRun(HotRun):
    """One run of the sweep: which cluster, and the rate over its last ``tail_seconds``."""

    design: str
    split_qps: float
    inflight: int
    round: int
    tail_seconds: float
    tail_ops_per_s: float


def _count_ranges(client: Client, addrs: Sequence[str]) -> tuple[int, dict[str, int]]:
    """The ranges the nodes' STATUS answers describe (merged: a lagging node's stale span never
    counts twice), and how many each node leads (-1, {} if no node answered)."""
    answers = []
    for a in addrs:
        try:
            st = client.status(a, timeout=2.0)
        except (ClientError, TimeoutError):
            continue
        answers.append((int(st["node"]["node_id"]), st["ranges"]))
    if not answers:
        return -1, {}
    views = [v for v in merge_ranges(answers) if v.described]
    leaders: dict[str, int] = {}
    for v in views:
        if v.leader:
            leaders[str(v.leader)] = leaders.get(str(v.leader), 0) + 1
    return len(views), dict(sorted(leaders.items()))


def hot_range_run(addrs: list[str], seconds: float, inflight: int = 64,
                  keys: Sequence[bytes] | None = None, value_size: int = 100,
                  seed: int = 1) -> HotRun:
    """Write to ``keys`` (default ``hot_keys()``) for ``seconds`` while a sampler thread counts
    the ranges every second; the timeline joins the two by second."""
    stop = threading.Event()
    seen: list[tuple[float, int, dict[str, int]]] = []  # (monotonic time, ranges, leaders)

    def sample() -> None:
        with Client(addrs, timeout=2.0) as c:
            while True:
                ranges, leaders = _count_ranges(c, addrs)
                seen.append((time.monotonic(), ranges, leaders))
                if stop.wait(1.0):
                    return

    sampler = threading.Thread(target=sample, name="split-timeline-sampler", daemon=True)
    sampler.start()
    try:
        r = run_workload(addrs, seconds=seconds, inflight=inflight, value_size=value_size,
                         keys=list(keys) if keys is not None else hot_keys(), seed=seed)
    finally:
        stop.set()
        sampler.join(timeout=10)
    ranges_end, leaders_end = _count_ranges_now(addrs)
    if ranges_end < 0 and seen:
        ranges_end, leaders_end = seen[-1][1], seen[-1][2]
    seen.append((time.monotonic(), ranges_end, leaders_end))
    return {**r.summary(), "ranges_end": ranges_end, "samples": _timeline(r, seen)}


def _count_ranges_now(addrs: list[str]) -> tuple[int, dict[str, int]]:
    with Client(addrs, timeout=2.0) as c:
        return _count_ranges(c, addrs)


def _timeline(r: WorkloadResult, seen: list[tuple[float, int, dict[str, int]]]
              ) -> list[Sample]:
    """Per whole second of the run: its writes, and the last range count taken by its end."""
    out: list[Sample] = []
    i, ranges, leaders = 0, (seen[0][1] if seen else -1), (seen[0][2] if seen else {})
    for second in range(int(r.seconds)):
        t_end = r.started + second + 1
        while i < len(seen) and seen[i][0] <= t_end:
            _, ranges, leaders = seen[i]
            i += 1
        out.append({"t": second + 1, "writes": r.per_second[second] if second < len(
            r.per_second) else 0, "ranges": ranges, "leaders": leaders})
    return out


def tail_rate(samples: Sequence[Sample], tail_seconds: float) -> float:
    """Writes/s over the last ``tail_seconds`` whole seconds of a timeline (all if shorter)."""
    n = max(1, min(len(samples), int(tail_seconds)))
    tail = samples[-n:]
    return sum(s["writes"] for s in tail) / len(tail) if tail else 0.0


def run_one(design: str, split_qps: float, seconds: float, inflight: int = 64,
            base_port: int = 7800, rnd: int = 1, tail_seconds: float = 20.0,
            keys: Sequence[bytes] | None = None) -> TimelineRun:
    """A fresh one-range cluster with ``--split-qps split_qps``, one ``hot_range_run``."""
    with tempfile.TemporaryDirectory(prefix=f"splits-{design}-") as d:
        cluster = LocalCluster(d, 3, 1, base_port=base_port, design=design,
                               split_qps=split_qps)
        cluster.start(timeout=120)
        try:
            time.sleep(1.0)  # let the first election's entries settle
            run = hot_range_run(cluster.client_addrs, seconds, inflight, keys, seed=rnd)
        finally:
            cluster.stop()
    return {**run, "design": design, "split_qps": split_qps, "inflight": inflight, "round": rnd,
            "tail_seconds": tail_seconds, "tail_ops_per_s": round(
                tail_rate(run["samples"], tail_seconds), 1)}


class SweepMeta(TypedDict):
    started: str
    command: str
    cpus: int
    python: str
    platform: str
    seconds: float
    inflight: int
    keys: int
    rounds: int
    tail_seconds: float


class SweepResults(TypedDict):
    meta: SweepMeta
    runs: list[TimelineRun]
    failures: list[str]


def run_sweep(out_dir: Path, thresholds: Sequence[float], rounds: int = 3,
              designs: Sequence[str] = ("actors",), seconds: float = 60.0, inflight: int = 64,
              tail_seconds: float = 20.0, base_port: int = 7800, command: str = "",
              log: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True)
              ) -> SweepResults:
    """Every (design, threshold) once per round, each on a fresh cluster; the report is
    rewritten after every run (an interrupted sweep keeps what it measured)."""
    results: SweepResults = {
        "meta": {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "command": command, "cpus": len(os.sched_getaffinity(0)),
                 "python": platform.python_version(), "platform": platform.platform(),
                 "seconds": seconds, "inflight": inflight, "keys": KEYS, "rounds": rounds,
                 "tail_seconds": tail_seconds},
        "runs": [], "failures": []}
    for rnd in range(1, rounds + 1):
        # Alternate the order per round, so a slow drift of the machine favours no threshold.
        order = [(d, q) for d in designs for q in thresholds]
        for design, q in (order if rnd % 2 else order[::-1]):
            try:
                run = run_one(design, q, seconds, inflight, base_port, rnd, tail_seconds)
            except Exception as e:  # noqa: BLE001 - one failed cluster must not lose the sweep
                log(f"[round {rnd}] {design} split_qps {q:g}: FAILED: {e!r}")
                results["failures"].append(f"round {rnd} {design} split_qps {q:g}: {e!r}")
                continue
            log(f"[round {rnd}] {design:6} split_qps {q:6g}: {run['ops_per_s']:7,.0f} writes/s"
                f" (last {tail_seconds:g} s: {run['tail_ops_per_s']:7,.0f}), "
                f"{run['ranges_end']} ranges at the end, leaders {run['samples'][-1]['leaders']}"
                f", errors {run['errors']} timeouts {run['timeouts']}")
            results["runs"].append(run)
            write_report(results, out_dir)
    return results


def _label(q: float) -> str:
    return "load splits off" if q == 0 else f"split_qps {q:g}"


def summarize(results: SweepResults) -> list[dict[str, float | str]]:
    """Per (design, threshold): medians across rounds of the whole-run and tail writes/s and
    the ranges at the end, and the median per-round ratio of the tail rate to the same round's
    no-split run (absent without one)."""
    runs = results["runs"]
    off = {(r["design"], r["round"]): r["tail_ops_per_s"] for r in runs if r["split_qps"] == 0}
    rows: list[dict[str, float | str]] = []
    for design, q in sorted({(r["design"], r["split_qps"]) for r in runs}):
        mine = [r for r in runs if (r["design"], r["split_qps"]) == (design, q)]
        ratios = [r["tail_ops_per_s"] / off[(design, r["round"])] for r in mine
                  if off.get((design, r["round"]))]
        row: dict[str, float | str] = {
            "design": design, "split_qps": q, "runs": len(mine),
            "ops_per_s": statistics.median(r["ops_per_s"] for r in mine),
            "tail_ops_per_s": statistics.median(r["tail_ops_per_s"] for r in mine),
            "ranges_end": statistics.median(r["ranges_end"] for r in mine),
            "p99_ms": statistics.median(r["p99_ms"] for r in mine)}
        if ratios:
            row["ratio_vs_off"] = statistics.median(ratios)
        rows.append(row)
    return rows


def markdown(results: SweepResults) -> str:
    meta = results["meta"]
    lines = [
        "# One hot range, load splits at several thresholds", "",
        f"`{meta['command']}` — started {meta['started']} on {meta['cpus']} CPUs, Python "
        f"{meta['python']}; one-range 3-process loopback clusters (RocksDB, fsync on), "
        f"{meta['inflight']} writes in flight to {meta['keys']:,} keys of one prefix for "
        f"{meta['seconds']:g} s per run, {meta['rounds']} round(s), fresh cluster per run. "
        f"Medians across rounds; *last {meta['tail_seconds']:g} s* is the rate once splits had "
        "their time; *vs off* is the median of the per-round ratios to the no-split run.", "",
        "| design | split_qps | writes/s (whole run) | writes/s (last "
        f"{meta['tail_seconds']:g} s) | vs off | ranges at the end | p99 ms | runs |",
        "|---|---|---|---|---|---|---|---|"]
    for row in summarize(results):
        ratio, q = row.get("ratio_vs_off"), row["split_qps"]
        lines.append(
            f"| {row['design']} | {'off' if q == 0 else format(q, 'g')}"
            f" | {row['ops_per_s']:,.0f} | {row['tail_ops_per_s']:,.0f} | "
            f"{'–' if ratio is None or q == 0 else f'{ratio:.2f}'} | {row['ranges_end']:g} | "
            f"{row['p99_ms']:,.0f} | {row['runs']} |")
    lines += ["", "Every run (whole run / last window writes/s, ranges at the end):", ""]
    for r in results["runs"]:
        lines.append(f"- round {r['round']}, {r['design']}, {_label(r['split_qps'])}: "
                     f"{r['ops_per_s']:,.0f} / {r['tail_ops_per_s']:,.0f}, {r['ranges_end']} "
                     f"ranges, leaders by node {r['samples'][-1]['leaders'] if r['samples'] else {}}")
    if results["failures"]:
        lines += ["", "Failures:", "", *(f"- `{f}`" for f in results["failures"])]
    lines += ["", f"![ranges and throughput over time]({TIMELINE_PNG})"]
    return "\n".join(lines) + "\n"


def _median_runs(results: SweepResults) -> list[TimelineRun]:
    """Per (design, threshold), the run with the median tail rate (lower middle if even)."""
    groups: dict[tuple[str, float], list[TimelineRun]] = {}
    for r in results["runs"]:
        groups.setdefault((r["design"], r["split_qps"]), []).append(r)
    return [sorted(rs, key=lambda r: r["tail_ops_per_s"])[(len(rs) - 1) // 2]
            for _, rs in sorted(groups.items())]


def _rolling(xs: Sequence[int], n: int) -> list[float]:
    """The mean of each ``n``-second window ending at each second (shorter at the start)."""
    return [sum(xs[max(0, i - n + 1):i + 1]) / (i + 1 - max(0, i - n + 1)) for i in range(len(xs))]


def plot(results: SweepResults, out: Path) -> Path | None:
    """Writes/s (top) and ranges (bottom) against time, one line per (design, threshold)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [r for r in _median_runs(results) if r["samples"]]
    if not chosen:
        return None
    designs = sorted({r["design"] for r in chosen})
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    try:
        for n, r in enumerate(chosen):
            ts = [s["t"] for s in r["samples"]]
            label = _label(r["split_qps"]) + (f" ({r['design']})" if len(designs) > 1 else "")
            look = {"color": "C7" if r["split_qps"] == 0 else f"C{n}",
                    "linestyle": "--" if r["split_qps"] == 0 else "-"}
            writes = [s["writes"] for s in r["samples"]]
            top.plot(ts, writes, alpha=0.3, linewidth=0.8, **look)  # every second, faint
            top.plot(ts, _rolling(writes, SMOOTH_SECONDS), label=label, linewidth=2, **look)
            bottom.step(ts, [max(0, s["ranges"]) for s in r["samples"]], where="post",
                        label=label, **look)
        meta = results["meta"]
        top.set_ylabel(f"durable writes/s ({SMOOTH_SECONDS} s mean; faint: each second)")
        top.set_ylim(bottom=0)
        top.set_title(f"One hot range, 3-node loopback cluster, {meta['inflight']} writes in "
                      f"flight to {meta['keys']:,} keys ({meta['cpus']} CPUs)")
        top.grid(True, alpha=0.3)
        top.legend(loc="lower right", fontsize="small")
        bottom.set_ylabel("ranges")
        bottom.set_xlabel("seconds since the workload started")
        bottom.set_ylim(bottom=0)
        bottom.yaxis.get_major_locator().set_params(integer=True)
        bottom.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(out, dpi=110)
    finally:
        plt.close(fig)
    return out


def write_report(results: SweepResults, out_dir: Path) -> dict[str, Path]:
    """results.json, splits.md and the PNG into out_dir; {file name: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results.json": out_dir / "results.json", "splits.md": out_dir / "splits.md"}
    paths["results.json"].write_text(json.dumps(results, indent=2) + "\n")
    paths["splits.md"].write_text(markdown(results))
    png = plot(results, out_dir / TIMELINE_PNG)
    if png is not None:
        paths[png.name] = png
    return paths


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("thresholds are >= 0 (0: load splits off)")
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-splits"),
                    help="where results.json, splits.md and split_timeline.png go")
    ap.add_argument("--split-qps", type=_floats, default=[0.0, 1000.0], metavar="Q[,Q...]",
                    help="load-split thresholds to run, 0 = off (default 0,1000)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=60.0, help="per run")
    ap.add_argument("--tail-seconds", type=float, default=20.0,
                    help="the window at the end reported as the settled rate")
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--design", default="actors", help="actors, locks or actors,locks")
    ap.add_argument("--base-port", type=int, default=7800)
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="only re-render a saved results.json into --out")
    args = ap.parse_args(argv)
    if args.render is not None:
        for p in write_report(json.loads(args.render.read_text()), args.out).values():
            print(p)
        return 0
    designs = [d.strip() for d in args.design.split(",") if d.strip()]
    if args.rounds < 1 or args.seconds <= 0 or args.inflight < 1 or \
            not set(designs) <= {"actors", "locks"}:
        ap.error("--rounds >= 1, --seconds > 0, --inflight >= 1, --design actors|locks")
    command = "python -m multiraft.bench.split_timeline " + " ".join(
        sys.argv[1:] if argv is None else argv)
    results = run_sweep(args.out, args.split_qps, args.rounds, designs, args.seconds,
                        args.inflight, args.tail_seconds, args.base_port, command)
    write_report(results, args.out)
    print(markdown(results))
    return 3 if results["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
