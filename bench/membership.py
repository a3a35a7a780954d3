"""A node joins a loaded cluster: how long until replicas and leaders are balanced, and what
the writes see meanwhile (both designs).

``python -m multiraft.bench.membership --out DIR [--design actors,locks] [--ranges 32]
[--seconds 60] [--rounds 1]``: per design and round, a fresh 3-process cluster (RocksDB,
fsync) with ``--ranges`` ranges and writers (8 threads, one ``Client`` each, put loops over
keys of every range) for ``--seconds``; after 10 s node 4 starts with ``--join`` and the
rebalancer moves replicas onto it. Every 0.5 s the nodes' STATUS gives each node's replicas and
leaders. Reported: when node 4 joined, the time until every node holds within 10% + 1 of the
mean replica count (``balanced_s``) and until no node leads more than ceil(ranges / 4) + 1
ranges (``leaders_balanced_s``), the moves made, and writes/s before the join, while
rebalancing and after. Writes ``membership.json`` and ``membership.md`` to DIR.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from multiraft.client import Client
from multiraft.errors import ClientError
from multiraft.local_cluster import NODE_COMMAND, LocalCluster, free_base_port

__all__ = ["join_run", "main"]

WRITERS = 8
JOIN_AT = 10.0


def _counts(addrs: list[str]) -> dict[int, tuple[int, int]]:
    """node id -> (initialized replicas, leaders), from every node that answers."""
    out: dict[int, tuple[int, int]] = {}
    with Client(addrs, timeout=1.0) as c:
        for a in addrs:
            try:
                st = c.status(a, timeout=1.0)
            except (ClientError, TimeoutError):
                continue
            ranges = [r for r in st["ranges"] if r["start_key"] is not None]
            out[st["node"]["node_id"]] = (len(ranges),
                                          sum(r["state"] == "leader" for r in ranges))
    return out


def _writers(addr: str, keys: list[bytes], stop: threading.Event,
             per_second: list[int], t0: float) -> list[threading.Thread]:
    lock = threading.Lock()

    def loop(i: int) -> None:
        with Client([addr], timeout=5.0) as c:
            n = 0
            while not stop.is_set():
                k = keys[(i * 7919 + n) % len(keys)]
                n += 1
                try:
                    c.put(k, b"v" * 100)
                except ClientError:
                    continue
                s = int(time.monotonic() - t0)
                with lock:
                    while len(per_second) <= s:
                        per_second.append(0)
                    per_second[s] += 1
    return [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(WRITERS)]


def _balanced(counts: dict[int, tuple[int, int]], ranges: int) -> tuple[bool, bool]:
    reps = [r for r, _ in counts.values()]
    mean = sum(reps) / len(reps)
    replicas_ok = all(abs(r - mean) <= mean * 0.1 + 1 for r in reps)
    leaders_ok = max(lead for _, lead in counts.values()) <= math.ceil(ranges / len(counts)) + 1
    return replicas_ok, leaders_ok


def join_run(design: str, ranges: int, seconds: float, workdir: Path) -> dict[str, Any]:
    """One run (see the module docstring)."""
    base = free_base_port(["127.0.0.1"] * 4)
    cluster = LocalCluster(workdir, 3, ranges, base_port=base, design=design)
    cluster.start(timeout=90)
    joiner: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    per_second: list[int] = []
    samples: list[dict[str, Any]] = []
    try:
        keys = [bytes([i * 256 // ranges]) + b"/k%03d" % j for i in range(ranges)
                for j in range(8)]
        t0 = time.monotonic()
        threads = _writers(cluster.client_addr(1), keys, stop, per_second, t0)
        for t in threads:
            t.start()
        addrs = [*cluster.client_addrs, f"127.0.0.1:{base + 104}"]
        joined_at = balanced_at = leaders_at = None
        while time.monotonic() - t0 < seconds:
            now = time.monotonic() - t0
            if joiner is None and now >= JOIN_AT:
                log = open(workdir / "node-4.log", "ab")
                joiner = subprocess.Popen(
                    [*NODE_COMMAND, "--id", "4", "--join", cluster.client_addr(1),
                     "--base-port", str(base), "--data-dir", str(workdir / "node-4"),
                     "--design", design, "--tick-ms", str(cluster.tick_ms)],
                    stdout=log, stderr=log, start_new_session=True)
                log.close()
                joined_at = now
            counts = _counts(addrs)
            samples.append({"t": round(now, 1),
                            "replicas": {str(n): r for n, (r, _) in sorted(counts.items())},
                            "leaders": {str(n): x for n, (_, x) in sorted(counts.items())}})
            if joined_at is not None and 4 in counts and counts[4][0] > 0:
                rep_ok, lead_ok = _balanced(counts, ranges)
                if rep_ok and balanced_at is None:
                    balanced_at = now
                if lead_ok and rep_ok and leaders_at is None:
                    leaders_at = now
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        stop.set()
        if joiner is not None:
            joiner.terminate()
            try:
                joiner.wait(30)
            except subprocess.TimeoutExpired:
                joiner.kill()
                joiner.wait(10)
        cluster.stop()
    end4 = samples[-1]["replicas"].get("4", 0) if samples else 0

    def rate(lo: float, hi: float) -> float:
        secs = per_second[int(lo):int(hi)]
        return round(statistics.median(secs), 1) if secs else 0.0
    assert joined_at is not None
    settle = balanced_at if balanced_at is not None else seconds
    return {"design": design, "ranges": ranges, "seconds": seconds,
            "joined_at_s": round(joined_at, 1),
            "balanced_s": None if balanced_at is None else round(balanced_at - joined_at, 1),
            "leaders_balanced_s": None if leaders_at is None else round(leaders_at - joined_at, 1),
            "replicas_on_new_node": end4,
            "writes_per_s_before": rate(2, joined_at),
            "writes_per_s_rebalancing": rate(joined_at, settle),
            "writes_per_s_after": rate(settle, seconds), "samples": samples}


def _markdown(runs: list[dict[str, Any]]) -> str:
    lines = ["| design | ranges | balanced after (s) | leaders too (s) | replicas on node 4 | "
             "writes/s before | while rebalancing | after |", "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['design']} | {r['ranges']} | {r['balanced_s']} | "
                     f"{r['leaders_balanced_s']} | {r['replicas_on_new_node']} | "
                     f"{r['writes_per_s_before']:,.0f} | {r['writes_per_s_rebalancing']:,.0f} | "
                     f"{r['writes_per_s_after']:,.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m multiraft.bench.membership",
                                description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--out", required=True)
    p.add_argument("--design", default="actors,locks")
    p.add_argument("--ranges", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--rounds", type=int, default=1)
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for rnd in range(a.rounds):
        for design in a.design.split(","):
            with tempfile.TemporaryDirectory(prefix="multiraft-join-") as tmp:
                run = join_run(design, a.ranges, a.seconds, Path(tmp))
            run["round"] = rnd
            runs.append(run)
            print(f"{design} round {rnd}: balanced after {run['balanced_s']} s, leaders "
                  f"{run['leaders_balanced_s']} s, {run['replicas_on_new_node']} replicas on "
                  f"node 4; writes/s {run['writes_per_s_before']} / "
                  f"{run['writes_per_s_rebalancing']} / {run['writes_per_s_after']}", flush=True)
    (out / "membership.json").write_text(json.dumps(runs, indent=1))
    (out / "membership.md").write_text(_markdown(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
