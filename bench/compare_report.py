"""Render a design-comparison results dict (from ``bench/compare.py``) as markdown and PNG plots.

    .venv/bin/python -m multiraft.bench.compare_report RESULTS.json [--out DIR]

The harness measures "actors" and "locks" back to back in each round (plus PySyncObj as an
anchor at one range, and the idle cost of many ranges); this module only reads its results:
medians across rounds, the actors/locks ratio taken per round (the two designs of one round
shared the machine's state, so their ratio is steadier than a ratio of medians), a markdown
report and two plots. Re-rendering a saved JSON needs no cluster.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Literal, TypedDict

import matplotlib

matplotlib.use("Agg")  # files only: no display on a bench host
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import (FuncFormatter, LogLocator, NullFormatter,  # noqa: E402
                               NullLocator)

from .compare import (ANCHORS, DESIGNS, CompareResults, HotRangeRow,  # noqa: E402
                      IdleRow, ThroughputRow)

__all__ = ["summarize", "markdown", "plot", "write_report", "main", "Summary", "LatencyCell",
           "IdleSummary", "HotRangeSummary"]

#: (system, active ranges, in flight)
Point = tuple[str, int, int]

THROUGHPUT_PNG = "throughput_vs_ranges.png"
CDF_PNG = "latency_cdf.png"
LINESTYLES = ("-", "--", ":", "-.")  # per in-flight count: lines for the designs
MARKERS = ("s", "^", "D", "v")  # ... and markers for the one-range anchor


class LatencyCell(TypedDict):
    """Medians across rounds at one point."""

    ops_per_s: float
    p50_ms: float
    p99_ms: float
    #: CPU of every process (the system's and the load generator's) per write; None in
    #: results from before issue 15
    cpu_us_per_write: float | None


class IdleSummary(TypedDict):
    """Medians across rounds of one design's idle cost at one cluster size."""

    cpu_pct_median_node: float
    cpu_pct_max_node: float
    rss_mb: float
    threads: float
    start_seconds: float
    elections: float


class HotRangeSummary(TypedDict):
    """Medians across rounds of one design on one hot range, load splits off or on;
    ``vs_off`` is the median per-round ratio to the same round's run with them off."""

    ops_per_s: float
    ranges_end: float
    p99_ms: float
    vs_off: float | None
    rounds: int


class Summary(TypedDict):
    """``summarize``'s result (see there)."""

    throughput: dict[Point, LatencyCell]
    ratio: dict[tuple[int, int], float]
    idle: dict[tuple[str, int], IdleSummary]
    hot_range: dict[tuple[str, float], HotRangeSummary]


def summarize(results: CompareResults) -> Summary:
    """Medians across rounds.

    Returns ``{"throughput": {(system, ranges, inflight): {ops_per_s, p50_ms, p99_ms}},
    "ratio": {(ranges, inflight): median over rounds of actors/locks ops_per_s},
    "idle": {(system, ranges): {cpu_pct_median_node, cpu_pct_max_node, rss_mb, threads,
    start_seconds, elections}}, "hot_range": {(system, split_qps): HotRangeSummary}}``. Idle
    RSS and threads are the median node of each round.
    """
    groups: dict[Point, list[ThroughputRow]] = {}
    for row in results["throughput"]:
        groups.setdefault((row["system"], row["active_ranges"], row["inflight"]), []).append(row)
    throughput: dict[Point, LatencyCell] = {
        key: {"ops_per_s": statistics.median(r["ops_per_s"] for r in rows),
              "p50_ms": statistics.median(r["p50_ms"] for r in rows),
              "p99_ms": statistics.median(r["p99_ms"] for r in rows),
              "cpu_us_per_write": _median_cpu(rows)}
        for key, rows in groups.items()}

    by_round = {(r["system"], r["round"], r["active_ranges"], r["inflight"]): r["ops_per_s"]
                for r in results["throughput"]}
    per_round: dict[tuple[int, int], list[float]] = {}
    for (system, rnd, ranges, inflight), ops in by_round.items():
        locks = by_round.get(("locks", rnd, ranges, inflight))
        if system == "actors" and locks:
            per_round.setdefault((ranges, inflight), []).append(ops / locks)
    ratio = {key: statistics.median(rs) for key, rs in per_round.items()}

    idle_groups: dict[tuple[str, int], list[IdleRow]] = {}
    for idle_row in results["idle"]:
        idle_groups.setdefault((idle_row["system"], idle_row["ranges"]), []).append(idle_row)
    idle = {key: _idle_medians(rows) for key, rows in idle_groups.items()}
    return {"throughput": throughput, "ratio": ratio, "idle": idle,
            "hot_range": _hot_range_medians(results.get("hot_range") or [])}


def _median_cpu(rows: list[ThroughputRow]) -> float | None:
    cpu = [r["cpu_us_per_write"] for r in rows if "cpu_us_per_write" in r]
    return statistics.median(cpu) if cpu else None


def _hot_range_medians(rows: list[HotRangeRow]) -> dict[tuple[str, float], HotRangeSummary]:
    off = {(r["system"], r["round"]): r["ops_per_s"] for r in rows if r["split_qps"] == 0}
    groups: dict[tuple[str, float], list[HotRangeRow]] = {}
    for r in rows:
        groups.setdefault((r["system"], r["split_qps"]), []).append(r)
    out: dict[tuple[str, float], HotRangeSummary] = {}
    for key, rs in groups.items():
        ratios = [r["ops_per_s"] / off[(r["system"], r["round"])] for r in rs
                  if off.get((r["system"], r["round"]))]
        out[key] = {"ops_per_s": statistics.median(r["ops_per_s"] for r in rs),
                    "ranges_end": statistics.median(r["ranges_end"] for r in rs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in rs),
                    "vs_off": statistics.median(ratios) if ratios else None,
                    "rounds": len(rs)}
    return out


def _idle_medians(rows: list[IdleRow]) -> IdleSummary:
    """Per round: the median and max node; then the median of each across rounds."""
    def node_median(row: IdleRow, m: Literal["cpu_pct", "rss_mb", "threads"]) -> float:
        return statistics.median(n[m] for n in row["per_node"])

    return {
        "cpu_pct_median_node": statistics.median(node_median(r, "cpu_pct") for r in rows),
        "cpu_pct_max_node": statistics.median(max(n["cpu_pct"] for n in r["per_node"])
                                              for r in rows),
        "rss_mb": statistics.median(node_median(r, "rss_mb") for r in rows),
        "threads": statistics.median(node_median(r, "threads") for r in rows),
        "start_seconds": statistics.median(r["start_seconds"] for r in rows),
        "elections": statistics.median(r["elections_while_idle"] for r in rows),
    }


def _ops(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


def _ms(x: float) -> str:
    """Milliseconds: one decimal under 10 ms, none above."""
    return f"{x:.1f}" if x < 10 else f"{x:,.0f}"


def _lat(cell: LatencyCell | None) -> str:
    return "–" if cell is None else f"{_ms(cell['p50_ms'])} / {_ms(cell['p99_ms'])}"


def _cpu(cell: LatencyCell | None) -> str:
    x = None if cell is None else cell["cpu_us_per_write"]
    return "–" if x is None else f"{x:,.0f}"


def _small(x: float) -> str:
    """Small quantities (CPU %, seconds, counts): two decimals under 1, one above."""
    return f"{x:.2f}" if x < 1 else f"{x:,.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def markdown(results: CompareResults) -> str:
    """The comparison report; a section whose data is absent is left out."""
    meta, s = results["meta"], summarize(results)
    tp, host = s["throughput"], meta["host"]
    lines = [
        "# Design comparison: actors vs locks", "",
        f"`{meta['command']}` — started {meta['started']} on {host['cpus']} CPUs, Python "
        f"{host['python']}, {host['platform']}; {meta['rounds']} "
        f"round{'s' if meta['rounds'] != 1 else ''} of {meta['seconds']:g} s "
        f"per point, {meta['value_size']}-byte values, fsync {'on' if meta['fsync'] else 'off'}, "
        f"{meta['cluster_ranges']:,}-range clusters of 3 processes on loopback. Medians across "
        "rounds; actors/locks is the median of the per-round ratios (the two designs of a round "
        "ran back to back).",
    ]
    points = sorted({(r, i) for (sys_, r, i) in tp if sys_ in DESIGNS})
    if points:
        rows = []
        for r, i in points:
            a, b = tp.get(("actors", r, i)), tp.get(("locks", r, i))
            ratio = s["ratio"].get((r, i))
            rows.append([f"{r:,}", str(i), _ops(a["ops_per_s"] if a else None),
                         _ops(b["ops_per_s"] if b else None),
                         "–" if ratio is None else f"{ratio:.2f}", _lat(a), _lat(b), _cpu(a),
                         _cpu(b)])
        lines += ["", "## Durable writes", "", "CPU per write: the CPU seconds of the three "
                  "node processes and of the load generator during the run, per completed "
                  "write.", "", *_table(
            ["ranges", "in flight", "actors writes/s", "locks writes/s", "actors/locks",
             "actors p50 / p99 ms", "locks p50 / p99 ms", "actors CPU µs/write",
             "locks CPU µs/write"], rows)]
    anchors = sorted((sys_, i) for (sys_, r, i) in tp if sys_ not in DESIGNS and r == 1)
    if anchors:
        rows = []
        for sys_, i in anchors:
            cell, actors = tp[(sys_, 1, i)], tp.get(("actors", 1, i))
            vs = f"{cell['ops_per_s'] / actors['ops_per_s']:.2f}×" if actors else "–"
            rows.append([sys_, str(i), _ops(cell["ops_per_s"]), _lat(cell), vs, _cpu(cell)])
        lines += ["", "## Anchors: PySyncObj and etcd (one raft group, 1 range)", "", *_table(
            ["system", "in flight", "writes/s", "p50 / p99 ms", "vs actors writes/s",
             "CPU µs/write"], rows)]
    hot = results.get("hot_range") or []
    if hot:
        tail, run_s = hot[0]["tail_seconds"], hot[0]["seconds"]
        rows = [[sys_, "off" if q == 0 else f"on (split_qps {q:g})", _ops(v["ops_per_s"]),
                 "–" if q == 0 or v["vs_off"] is None else f"{v['vs_off']:.2f}",
                 f"{v['ranges_end']:g}", _ms(v["p99_ms"])]
                for (sys_, q), v in sorted(s["hot_range"].items())]
        lines += ["", "## One hot range: load splits off vs on", "",
                  f"A fresh cluster of one range per run; every write goes to keys under one "
                  f"prefix ({hot[0]['inflight']} in flight) for {run_s:.0f} s; writes/s over "
                  f"its last {tail:g} s; on/off is the median of the per-round ratios. A split "
                  "needs 10 s of sustained load; both halves stay led by the same node.", "",
                  *_table(["design", "load splits", f"writes/s (last {tail:g} s)", "on/off",
                           "ranges at the end", "p99 ms (whole run)"], rows)]
    if tp:
        lines += ["", "## Plots", "", f"![throughput vs ranges]({THROUGHPUT_PNG})", "",
                  f"![latency CDF]({CDF_PNG})"]
    if s["idle"]:
        rows = [[f"{r:,}", sys_,
                 f"{_small(v['cpu_pct_median_node'])} / {_small(v['cpu_pct_max_node'])}",
                 f"{v['rss_mb']:,.0f}", f"{v['threads']:g}", _small(v["start_seconds"]),
                 f"{v['elections']:g}"]
                for (sys_, r), v in sorted(s["idle"].items(), key=lambda kv: (kv[0][1], kv[0][0]))]
        lines += ["", "## Idle cost", "", *_table(
            ["ranges", "design", "CPU % of a core per node (median / max)", "RSS MB per node",
             "threads per node", "ready after s", "elections while idle"], rows)]
    skipped = results.get("skipped") or []
    if skipped:
        lines += ["", "## Not measured", "", *(f"- {what}" for what in skipped)]
    failures = results.get("failures") or []
    if failures:
        lines += ["", "## Failures (missing from the tables above)", "", *_table(
            ["system", "round", "what", "error"],
            [[f["system"], str(f["round"]), f["what"], f"`{f['error']}`"] for f in failures])]
    return "\n".join(lines) + "\n"


def _color(system: str) -> str:
    systems = DESIGNS + tuple(ANCHORS) + ("etcd",)
    return f"C{systems.index(system)}" if system in systems else "C7"


def _median_round_rows(results: CompareResults) -> dict[Point, ThroughputRow]:
    """Per (system, ranges, inflight), the row of the round with the median throughput
    (the lower middle one for an even count), so a CDF is one real run, not a blend."""
    groups: dict[Point, list[ThroughputRow]] = {}
    for row in results["throughput"]:
        groups.setdefault((row["system"], row["active_ranges"], row["inflight"]), []).append(row)
    return {k: sorted(rows, key=lambda r: r["ops_per_s"])[(len(rows) - 1) // 2]
            for k, rows in groups.items()}


def plot(results: CompareResults, out_dir: Path) -> list[Path]:
    """Write throughput_vs_ranges.png and latency_cdf.png into out_dir; none if no throughput."""
    if not results["throughput"]:
        return []
    tp = summarize(results)["throughput"]
    inflights = sorted({i for (_, _, i) in tp})
    style = {i: LINESTYLES[n % len(LINESTYLES)] for n, i in enumerate(inflights)}
    marker = {i: MARKERS[n % len(MARKERS)] for n, i in enumerate(inflights)}
    counts = sorted({r for (_, r, _) in tp})
    out_tp, out_cdf = out_dir / THROUGHPUT_PNG, out_dir / CDF_PNG
    fig, ax = plt.subplots(figsize=(8, 5))
    try:  # the harness re-renders after every round: a failed plot must not leak its figure
        for sys_ in sorted({k[0] for k in tp}, key=lambda x: (x not in DESIGNS, x)):
            for i in inflights:
                pts = sorted((r, v["ops_per_s"]) for (s_, r, i_), v in tp.items()
                             if (s_, i_) == (sys_, i))
                if not pts:
                    continue
                xs, ys = zip(*pts)
                look = ({"linestyle": style[i], "marker": "o"} if sys_ in DESIGNS
                        else {"linestyle": "none", "marker": marker[i], "markersize": 8})
                ax.plot(xs, ys, color=_color(sys_), label=f"{sys_}, {i} in flight", **look)
        ax.set_xscale("log", base=2)
        ax.set_xticks(counts, [f"{c:,}" for c in counts])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_ylim(bottom=0)
        ax.set_xlabel("active ranges (log scale)")
        ax.set_ylabel("durable writes/s (median across rounds)")
        ax.set_title("Write throughput vs active ranges, 3-node loopback cluster")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
        fig.savefig(out_tp, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)

    chosen, qs = _median_round_rows(results), results["meta"]["cdf_quantiles"]
    ncols = min(2, len(counts))
    nrows = -(-len(counts) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 4 * nrows + 1), sharex=True,
                             sharey=True, squeeze=False)
    try:
        labelled: dict[str, Line2D] = {}
        for ax, r in zip(axes.flat, counts):
            for (sys_, r_, i), row in sorted(chosen.items()):
                if r_ == r:
                    (line,) = ax.plot(row["cdf_ms"], qs, style[i], color=_color(sys_))
                    labelled.setdefault(f"{sys_}, {i} in flight", line)
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{r:,} active range{'s' if r != 1 else ''}")
            ax.set_xlabel("write latency (ms, log scale)")
            ax.tick_params(labelbottom=True)  # sharex would hide them above an empty cell
            ax.set_ylabel("fraction of writes")
            ax.grid(True, which="both", alpha=0.3)
        for ax in axes.flat[len(counts):]:
            ax.set_visible(False)
        fig.suptitle("Write latency CDF per active-range count (round with the median "
                     "throughput)")
        fig.legend(list(labelled.values()), list(labelled), loc="lower center",
                   ncol=min(4, len(labelled)), fontsize="small")
        fig.tight_layout(rect=(0, 0.9 / (4 * nrows + 1), 1, 1))
        fig.savefig(out_cdf, dpi=120)
    finally:
        plt.close(fig)
    return [out_tp, out_cdf]


def write_report(results: CompareResults, out_dir: Path) -> dict[str, Path]:
    """Write results.json, compare.md and the plots into out_dir; {file name: path}."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results.json": out_dir / "results.json", "compare.md": out_dir / "compare.md"}
    paths["results.json"].write_text(json.dumps(results, indent=2) + "\n")
    paths["compare.md"].write_text(markdown(results))
    paths.update((p.name, p) for p in plot(results, out_dir))
    return paths


def main(argv: list[str] | None = None) -> None:
    """Re-render a report from a saved results JSON (default output: the JSON's folder)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="a results JSON written by bench/compare.py")
    ap.add_argument("--out", type=Path, help="output folder (default: the JSON's folder)")
    args = ap.parse_args(argv)
    results = json.loads(args.results.read_text())
    for path in write_report(results, args.out or args.results.parent).values():
        print(path)


if __name__ == "__main__":
    main()
