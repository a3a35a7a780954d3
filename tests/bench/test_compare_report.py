"""bench/compare_report.py: medians, the per-round actors/locks ratio, the markdown cells,
omitted sections, and the files written (PNG signature, JSON round trip, re-render via main)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from multiraft.bench.compare_report import main, markdown, plot, summarize, write_report

QUANTILES = [0.0, 0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0]
CDF_FACTORS = [0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 1.9, 2.5, 4.0]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Hand-picked (ops_per_s, p50_ms, p99_ms) per round at 1 range, 64 in flight:
# actors/locks is 0.8 in round 1 and 1.0 in round 2 -> median 0.9, while the ratio of the
# medians would be 1900/2000 = 0.95.
KNOWN = {
    ("actors", 1): (800.0, 16.0, 30.0), ("actors", 2): (3000.0, 18.0, 32.0),
    ("locks", 1): (1000.0, 8.0, 11.0), ("locks", 2): (3000.0, 9.0, 13.0),
    ("pysyncobj-journal", 1): (400.0, 40.0, 90.0), ("pysyncobj-journal", 2): (600.0, 50.0, 110.0),
}


def _row(system: str, rnd: int, ranges: int, inflight: int) -> dict:
    default = {"actors": 2000.0 + ranges, "locks": 1500.0 + ranges}.get(system, 700.0)
    ops, p50, p99 = KNOWN.get((system, rnd), (default, 20.0, 40.0)) \
        if (ranges, inflight) == (1, 64) else (default, 20.0, 40.0)
    return {"system": system, "round": rnd, "active_ranges": ranges, "inflight": inflight,
            "ops": int(ops * 10), "seconds": 10.0, "ops_per_s": ops, "p50_ms": p50, "p99_ms": p99,
            "errors": 0, "timeouts": 0, "cdf_ms": [p50 * f for f in CDF_FACTORS],
            "cpu_us_per_write": {"actors": 300.0, "locks": 250.0}.get(system, 100.0) + 2 * rnd}


def _idle(system: str, rnd: int, ranges: int) -> dict:
    if system == "actors" and ranges == 1000:
        cpu, rss, threads = ([1.0, 2.0, 6.0], [200.0, 230.0, 260.0], 14) if rnd == 1 else \
            ([3.0, 4.0, 5.0], [210.0, 240.0, 250.0], 15)
    else:
        cpu, rss, threads = [0.5, 0.5, 0.5], [500.0, 500.0, 500.0], 40
    return {"system": system, "round": rnd, "ranges": ranges,
            "start_seconds": 12.0 if rnd == 1 else 14.0, "quiesced_after_seconds": 20.0,
            "idle_seconds": 60.0,
            "per_node": [{"node": n + 1, "cpu_pct": cpu[n], "rss_mb": rss[n], "threads": threads}
                         for n in range(3)],
            "elections_while_idle": 0 if rnd == 1 else 2}


def make_results(rounds: int = 2, idle: bool = True, pysyncobj: bool = True) -> dict:
    throughput = [_row(s, rnd, r, i) for rnd in range(1, rounds + 1) for s in ("actors", "locks")
                  for r in (1, 16, 256, 1024) for i in (64, 512)]
    if pysyncobj:
        throughput += [_row(s, rnd, 1, i) for rnd in range(1, rounds + 1)
                       for s in ("pysyncobj-journal", "pysyncobj-memory") for i in (64, 512)]
    return {
        "meta": {"started": "2026-11-25T10:00:00Z",
                 "command": "multiraft bench --compare --rounds 2",
                 "host": {"cpus": 2, "python": "3.11.9", "platform": "Linux-6.1-x86_64"},
                 "rounds": rounds, "seconds": 10.0, "value_size": 100, "fsync": True,
                 "cluster_ranges": 1024, "order": ["actors", "locks"] * rounds,
                 "cdf_quantiles": QUANTILES},
        "throughput": throughput,
        "idle": [_idle(s, rnd, r) for rnd in range(1, rounds + 1) for s in ("actors", "locks")
                 for r in (1000, 10000)] if idle else [],
    }


def test_summarize_takes_medians_and_the_median_of_per_round_ratios() -> None:
    s = summarize(make_results())
    assert s["throughput"][("actors", 1, 64)] == {"ops_per_s": 1900.0, "p50_ms": 17.0,
                                                  "p99_ms": 31.0, "cpu_us_per_write": 303.0}
    assert s["throughput"][("locks", 1, 64)] == {"ops_per_s": 2000.0, "p50_ms": 8.5,
                                                 "p99_ms": 12.0, "cpu_us_per_write": 253.0}
    assert s["ratio"][(1, 64)] == pytest.approx(0.9)  # not 0.95, the ratio of the medians
    assert s["ratio"][(1024, 512)] == pytest.approx(3024 / 2524)
    assert (1, 64) in s["ratio"] and len(s["ratio"]) == 8  # no ratio for the anchor
    assert s["idle"][("actors", 1000)] == {
        "cpu_pct_median_node": 3.0, "cpu_pct_max_node": 5.5, "rss_mb": 235.0, "threads": 14.5,
        "start_seconds": 13.0, "elections": 1}


def test_summarize_one_round() -> None:
    s = summarize(make_results(rounds=1))
    assert s["ratio"][(1, 64)] == pytest.approx(0.8)
    assert s["throughput"][("actors", 1, 64)]["ops_per_s"] == 800.0
    assert "1 round of 10 s" in markdown(make_results(rounds=1))


def test_markdown_has_header_tables_and_formatted_cells() -> None:
    md = markdown(make_results())
    lines = md.splitlines()
    assert "multiraft bench --compare --rounds 2" in md and "2026-11-25T10:00:00Z" in md
    assert "2 CPUs" in md and "Python 3.11.9" in md and "2 rounds of 10 s" in md
    assert ("| ranges | in flight | actors writes/s | locks writes/s | actors/locks | "
            "actors p50 / p99 ms | locks p50 / p99 ms | actors CPU µs/write | "
            "locks CPU µs/write |") in lines
    assert "| 1 | 64 | 1,900 | 2,000 | 0.90 | 17 / 31 | 8.5 / 12 | 303 | 253 |" in lines
    assert "| 1,024 | 512 | 3,024 | 2,524 | 1.20 | 20 / 40 | 20 / 40 | 303 | 253 |" in lines
    assert sum(line.startswith("| 16 |") for line in lines) == 2  # one row per in-flight count
    assert "| pysyncobj-journal | 64 | 500 | 45 / 100 | 0.26× | 103 |" in lines
    assert "| pysyncobj-memory | 512 | 700 | 20 / 40 | 0.35× | 103 |" in lines
    assert ("| ranges | design | CPU % of a core per node (median / max) | RSS MB per node | "
            "threads per node | ready after s | elections while idle |") in lines
    assert "| 1,000 | actors | 3.0 / 5.5 | 235 | 14.5 | 13.0 | 1 |" in lines
    assert "| 10,000 | locks | 0.50 / 0.50 | 500 | 40 | 13.0 | 1 |" in lines
    assert "![throughput vs ranges](throughput_vs_ranges.png)" in lines
    assert "![latency CDF](latency_cdf.png)" in lines


def test_markdown_omits_sections_without_data() -> None:
    md = markdown(make_results(idle=False, pysyncobj=False))
    assert "Idle cost" not in md and "PySyncObj" not in md and "pysyncobj" not in md
    assert "| 1 | 64 | 1,900 | 2,000 | 0.90 | 17 / 31 | 8.5 / 12 |" in md
    empty = make_results(idle=False, pysyncobj=False)
    empty["throughput"] = []
    md = markdown(empty)
    assert "|" not in md and ".png" not in md
    assert "multiraft bench --compare" in md


def test_markdown_marks_a_missing_design_cell() -> None:
    results = make_results(idle=False, pysyncobj=False)
    results["throughput"] = [r for r in results["throughput"]
                             if not (r["system"] == "locks" and r["active_ranges"] == 256)]
    assert "| 256 | 64 | 2,256 | – | – | 20 / 40 | – | 303 | – |" in \
        markdown(results).splitlines()


def test_results_from_before_cpu_accounting_show_a_dash_and_what_was_skipped_is_listed() -> None:
    results = make_results(idle=False, pysyncobj=False)
    for row in results["throughput"]:
        del row["cpu_us_per_write"]
    md = markdown(results)
    assert "| 1 | 64 | 1,900 | 2,000 | 0.90 | 17 / 31 | 8.5 / 12 | – | – |" in md.splitlines()
    assert "Not measured" not in md
    results["skipped"] = ["etcd: no etcd binary on PATH"]
    assert "- etcd: no etcd binary on PATH" in markdown(results).splitlines()


def test_markdown_lists_failures_and_only_when_there_are_some() -> None:
    results = make_results(idle=False, pysyncobj=False)
    assert "Failures" not in markdown(results)
    results["failures"] = [{"system": "locks", "round": 2, "what": "idle 10000",
                            "error": "TimeoutError('cluster not ready after 620s')"}]
    md = markdown(results)
    assert "## Failures (missing from the tables above)" in md
    assert "| locks | 2 | idle 10000 | `TimeoutError('cluster not ready after 620s')` |" in md


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


def test_write_report_writes_pngs_markdown_and_json(tmp_path: Path) -> None:
    results = make_results()
    out = tmp_path / "new" / "dir"
    paths = write_report(results, out)
    assert set(paths) == {"results.json", "compare.md", "throughput_vs_ranges.png",
                          "latency_cdf.png"}
    assert all(p.parent == out for p in paths.values())
    _assert_png(paths["throughput_vs_ranges.png"])
    _assert_png(paths["latency_cdf.png"])
    assert json.loads(paths["results.json"].read_text()) == results
    assert paths["compare.md"].read_text() == markdown(results)
    assert plt.get_fignums() == []  # every figure closed


def test_plot_without_throughput_writes_nothing(tmp_path: Path) -> None:
    results = make_results()
    results["throughput"] = []
    assert plot(results, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_failing_plot_leaves_no_figure_open(tmp_path: Path) -> None:
    results = make_results()
    results["throughput"][0]["cdf_ms"] = [1.0]  # not one latency per quantile
    with pytest.raises(ValueError):
        plot(results, tmp_path)
    assert plt.get_fignums() == []


def test_main_rerenders_from_a_saved_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    results = make_results(rounds=1, idle=False)
    saved = tmp_path / "run" / "saved.json"
    saved.parent.mkdir()
    saved.write_text(json.dumps(results))
    main([str(saved)])
    assert "| 1 | 64 | 800 | 1,000 | 0.80 | 16 / 30 | 8.0 / 11 | 302 | 252 |" in \
        (saved.parent / "compare.md").read_text().splitlines()
    _assert_png(saved.parent / "latency_cdf.png")
    main([str(saved), "--out", str(tmp_path / "other")])
    assert (tmp_path / "other" / "compare.md").read_text() == markdown(results)
    _assert_png(tmp_path / "other" / "throughput_vs_ranges.png")
    assert str(tmp_path / "other" / "compare.md") in capsys.readouterr().out


def _hot(system: str, rnd: int, qps: float, ops: float, ranges: int) -> dict:
    return {"system": system, "round": rnd, "split_qps": qps, "inflight": 64, "seconds": 60.02,
            "tail_seconds": 10.0, "ops_per_s": ops, "run_ops_per_s": ops, "p99_ms": 50.0,
            "ranges_end": ranges, "leaders_end": {"1": ranges}, "errors": 0, "timeouts": 0,
            "ranges_over_time": [1] * 10 + [ranges] * 50}


def test_hot_range_section_medians_and_per_round_on_off_ratio() -> None:
    results = make_results(idle=False, pysyncobj=False)
    assert "hot range" not in markdown(results)  # results from before issue 13 have none
    # actors: on/off 0.5 in round 1, 0.9 in round 2 -> 0.7, where the ratio of the medians
    # is 950 / 1500 = 0.63; locks: 1.0 and 0.6 -> 0.8
    results["hot_range"] = [
        _hot("actors", 1, 0.0, 2000.0, 1), _hot("actors", 1, 1000.0, 1000.0, 4),
        _hot("actors", 2, 0.0, 1000.0, 1), _hot("actors", 2, 1000.0, 900.0, 3),
        _hot("locks", 1, 0.0, 1500.0, 1), _hot("locks", 1, 1000.0, 1500.0, 2),
        _hot("locks", 2, 0.0, 2500.0, 1), _hot("locks", 2, 1000.0, 1500.0, 4)]
    s = summarize(results)["hot_range"]
    assert s[("actors", 1000.0)]["vs_off"] == pytest.approx(0.7)
    assert s[("actors", 1000.0)]["ops_per_s"] == 950.0 and s[("actors", 1000.0)]["ranges_end"] == 3.5
    assert s[("locks", 1000.0)]["vs_off"] == pytest.approx(0.8)
    lines = markdown(results).splitlines()
    assert "## One hot range: load splits off vs on" in lines
    assert ("| design | load splits | writes/s (last 10 s) | on/off | ranges at the end | "
            "p99 ms (whole run) |") in lines
    assert "| actors | off | 1,500 | – | 1 | 50 |" in lines
    assert "| actors | on (split_qps 1000) | 950 | 0.70 | 3.5 | 50 |" in lines
    assert "| locks | on (split_qps 1000) | 1,500 | 0.80 | 3 | 50 |" in lines
