"""``multiraft bench --compare --quick``: the whole comparison harness end to end, small.

It starts real 3-process clusters of both designs and of PySyncObj on loopback (base port 18900),
and of etcd where an ``etcd`` binary is on PATH (CI has none: then it must say so, under
``skipped``), so this shows the harness measures every system, alternates the designs, records
idle cost and CPU per write, writes the report and leaves no process behind. The full matrix is a documented manual run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from multiraft.pids import alive

BIN = Path(__file__).resolve().parents[2] / "bin"
BASE_PORT = 18900

pytestmark = pytest.mark.timeout(300)


def _listening_nodes() -> list[str]:
    """Command lines of processes still holding this test's ports."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"127.0.0.1:{BASE_PORT + 1}" in line
            or f"--client-port {BASE_PORT + 101}" in line or "--initial-cluster-token" in line]


def test_quick_compare_measures_every_system_and_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, str(BIN / "multiraft"), "bench", "--compare",
                           "--quick", "--out", str(out), "--base-port", str(BASE_PORT)],
                          capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    assert results["failures"] == []
    assert results["meta"]["order"] == ["actors", "locks"]
    rows = results["throughput"]
    etcd = shutil.which("etcd") is not None
    assert {r["system"] for r in rows} == {"actors", "locks", "pysyncobj-journal",
                                           "pysyncobj-memory"} | ({"etcd"} if etcd else set())
    assert results["skipped"] == ([] if etcd else ["etcd: no etcd binary on PATH"])
    for design in ("actors", "locks"):
        cells = {(r["active_ranges"], r["inflight"]) for r in rows if r["system"] == design}
        assert cells == {(1, 8), (4, 8)}
    for r in rows:
        assert r["ops"] > 0 and r["errors"] == 0 and r["timeouts"] == 0, r
        cdf = r["cdf_ms"]
        assert len(cdf) == len(results["meta"]["cdf_quantiles"])
        assert cdf == sorted(cdf) and cdf[0] > 0
        assert r["cpu_s_nodes"] > 0 and r["cpu_s_load"] > 0
        assert r["cpu_us_per_write"] == pytest.approx(
            (r["cpu_s_nodes"] + r["cpu_s_load"]) / r["ops"] * 1e6, rel=0.01)

    idle = {(r["system"], r["ranges"]): r for r in results["idle"]}
    assert set(idle) == {("actors", 8), ("locks", 8)}
    for r in idle.values():
        assert [n["node"] for n in r["per_node"]] == [1, 2, 3]
        assert all(n["rss_mb"] > 10 and n["threads"] >= 3 for n in r["per_node"])

    hot = {(r["system"], r["split_qps"]): r for r in results["hot_range"]}
    assert set(hot) == {("actors", 0.0), ("actors", 1000.0), ("locks", 0.0), ("locks", 1000.0)}
    for r in hot.values():  # --quick runs 2 s: too short for a load split (10 s of load)
        assert r["ops_per_s"] > 0 and (r["errors"], r["timeouts"]) == (0, 0), r
        assert r["ranges_end"] == 1 and r["ranges_over_time"][0] == 1

    report = (out / "compare.md").read_text()
    assert proc.stdout.strip() == report.strip()
    assert "| 4 | 8 |" in report and "pysyncobj-journal" in report
    assert "| locks | on (split_qps 1000) |" in report
    for png in ("throughput_vs_ranges.png", "latency_cdf.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _listening_nodes() == []


@pytest.mark.parametrize("flags, message", [
    (["--ranges", "1,x"], "not a list of integers"),
    (["--inflight", "0"], "must be positive"),
    (["--rounds", "0"], "--rounds >= 1"),
    (["--read-ratio", "0.5"], "writes only"),
])
def test_compare_rejects_a_bad_matrix(tmp_path: Path, flags: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, str(BIN / "multiraft"), "bench", "--compare",
                           *flags, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert not (tmp_path / "results.json").exists()


def _children(pid: int) -> list[int]:
    """The pids whose parent is ``pid`` (Linux ``/proc``)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                out.append(int(d.name))
    return out


def test_sigterm_stops_the_comparison_and_every_process_it_started(tmp_path: Path) -> None:
    """``kill PID`` of a running ``bench --compare`` is an interrupt, like Ctrl-C: the clusters
    it started are stopped on the way out, none is left serving."""
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, str(BIN / "multiraft"), "bench", "--compare",
                             "--quick", "--no-pysyncobj", "--no-etcd", "--out",
                             str(tmp_path / "report"), "--base-port", str(BASE_PORT)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nodes: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(nodes) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
            nodes = _children(proc.pid)
        assert len(nodes) >= 3, "the comparison started no cluster"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        time.sleep(0.5)
        left = [p for p in nodes if alive(p)]
        assert left == [], f"node processes left running after SIGTERM: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for p in nodes:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
