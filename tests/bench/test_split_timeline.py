"""bench/split_timeline.py: a hot-range run on a real one-range cluster that splits under it
(the workload follows the split, the timeline counts the ranges), and the sweep's report
(medians, per-round ratios, markdown, PNG, re-render) on fabricated runs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from multiraft.bench.split_timeline import (TIMELINE_PNG, HotRun, SweepResults, TimelineRun,
                                            hot_keys, hot_range_run, main, markdown, summarize,
                                            tail_rate, write_report)
from multiraft.client import Client
from multiraft.local_cluster import LocalCluster, free_base_port

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.timeout(120)
def test_a_hot_range_run_follows_a_split_and_counts_the_ranges(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, 3, 1, base_port=free_base_port(["127.0.0.1"] * 3),
                           split_qps=0)
    cluster.start(timeout=60)
    try:
        out: dict[str, HotRun] = {}
        worker = threading.Thread(target=lambda: out.setdefault(
            "run", hot_range_run(cluster.client_addrs, 4.0, inflight=16)))
        worker.start()
        time.sleep(1.5)
        with Client(cluster.client_addrs, timeout=10) as c:
            left, right = c.split(b"user/000500")  # mid-run, as a load split would
        worker.join(timeout=60)
        run = out["run"]
    finally:
        cluster.stop()
    assert right[1] == b"user/000500" and left[2] == b"user/000500"
    assert (run["errors"], run["timeouts"]) == (0, 0)
    assert run["ops"] > 0 and run["ranges_end"] == 2
    samples = run["samples"]
    assert [s["t"] for s in samples] == list(range(1, len(samples) + 1)) and len(samples) >= 4
    assert samples[0]["ranges"] == 1 and samples[-1]["ranges"] == 2
    assert sum(s["writes"] for s in samples) <= run["ops"]
    assert samples[-1]["writes"] > 0  # writes go on on both halves after the split
    assert sum(samples[-1]["leaders"].values()) == 2


def test_hot_keys_share_a_prefix_in_order() -> None:
    keys = hot_keys(1000)
    assert len(set(keys)) == 1000 and keys == sorted(keys)
    assert all(k.startswith(b"user/") for k in keys)


def _run(design: str, q: float, rnd: int, tail: float, ranges: int) -> TimelineRun:
    samples = [{"t": t, "writes": int(tail), "ranges": 1 if t < 10 else ranges,
                "leaders": {"1": 1 if t < 10 else ranges}} for t in range(1, 31)]
    return {"ops": int(tail) * 30, "seconds": 30.0, "ops_per_s": tail, "p50_ms": 10.0,
            "p99_ms": 40.0, "errors": 0, "timeouts": 0, "redirects": 0, "ranges_end": ranges,
            "samples": samples,  # type: ignore[typeddict-item]
            "design": design, "split_qps": q, "inflight": 64, "round": rnd,
            "tail_seconds": 20.0, "tail_ops_per_s": tail}


def _results() -> SweepResults:
    # round 1: off 1000, on 800 (0.8); round 2: off 2000, on 2000 (1.0); round 3: off 1000,
    # on 1100 (1.1) -> median ratio 1.0, while the ratio of the medians is 1100 / 1000.
    figures = {1: (1000.0, 800.0), 2: (2000.0, 2000.0), 3: (1000.0, 1100.0)}
    runs = [_run("actors", q, rnd, figures[rnd][i], 1 if q == 0 else 4)
            for rnd in (1, 2, 3) for i, q in enumerate((0.0, 500.0))]
    return {"meta": {"started": "2026-12-01T10:00:00Z", "command": "python -m x --rounds 3",
                     "cpus": 2, "python": "3.11.7", "platform": "Linux", "seconds": 30.0,
                     "inflight": 64, "keys": 1000, "rounds": 3, "tail_seconds": 20.0},
            "runs": runs, "failures": []}


def test_summarize_medians_and_per_round_ratio() -> None:
    rows = {row["split_qps"]: row for row in summarize(_results())}
    assert rows[0.0]["tail_ops_per_s"] == 1000.0 and rows[0.0]["ratio_vs_off"] == 1.0
    assert rows[500.0]["tail_ops_per_s"] == 1100.0 and rows[500.0]["ranges_end"] == 4
    assert rows[500.0]["ratio_vs_off"] == pytest.approx(1.0)
    assert rows[500.0]["runs"] == 3


def test_tail_rate_is_the_mean_of_the_last_seconds() -> None:
    samples = [{"t": t, "writes": w, "ranges": 1, "leaders": {}}
               for t, w in enumerate([100, 200, 300, 400], 1)]
    assert tail_rate(samples, 2) == 350.0  # type: ignore[arg-type]
    assert tail_rate(samples, 10) == 250.0  # type: ignore[arg-type]


def test_report_markdown_png_and_rerender(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    results = _results()
    paths = write_report(results, tmp_path / "out")
    assert set(paths) == {"results.json", "splits.md", TIMELINE_PNG}
    png = paths[TIMELINE_PNG].read_bytes()
    assert png[:8] == PNG_SIGNATURE and len(png) > 10_000
    assert plt.get_fignums() == []
    md = paths["splits.md"].read_text()
    assert "| actors | off | 1,000 | 1,000 | – | 1 | 40 | 3 |" in md.splitlines()
    assert "| actors | 500 | 1,100 | 1,100 | 1.00 | 4 | 40 | 3 |" in md.splitlines()
    assert md == markdown(results)
    assert main(["--render", str(paths["results.json"]), "--out", str(tmp_path / "again")]) == 0
    assert json.loads((tmp_path / "again" / "results.json").read_text()) == results
    assert str(tmp_path / "again" / TIMELINE_PNG) in capsys.readouterr().out
