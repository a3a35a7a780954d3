"""``multiraft bench``: the pipelined write/read workload of ``bench.workload`` against a running
cluster, with a live progress bar on stderr and its summary as a table (or JSON) on stdout; and
``multiraft bench --compare``, the design comparison of ``bench.compare`` on its own clusters."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .interrupts import sigterm_interrupts
from .output import print_json, print_table

if TYPE_CHECKING:
    from multiraft.bench.workload import WorkloadResult

__all__ = ["run_bench", "print_summary", "run_compare_command"]


def run_bench(addrs: list[str], seconds: float, **workload: Any) -> WorkloadResult:
    """Run ``run_workload(addrs, seconds, **workload)`` on a worker thread while the progress
    bar follows the clock (the workload reports only when done); its errors are re-raised."""
    from multiraft.bench.workload import run_workload

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = run_workload(addrs, seconds=seconds, **workload)
        except BaseException as e:  # handed to the caller's thread
            outcome["error"] = e

    # A daemon thread: Ctrl-C ends the command without waiting for the workload to drain.
    worker = threading.Thread(target=work, name="multiraft-bench", daemon=True)
    kind = "reads/writes" if workload.get("read_ratio") else "writes"
    columns = (TextColumn("[bold]bench[/bold] {task.description}"), BarColumn(),
               TextColumn("{task.completed:.0f}/{task.total:.0f} s"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(f"{kind} on {len(addrs)} node(s)", total=seconds)
        t0 = time.monotonic()
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
            progress.update(task, completed=min(seconds, time.monotonic() - t0))
        progress.update(task, completed=seconds)
    if "error" in outcome:
        raise outcome["error"]
    result: WorkloadResult = outcome["result"]
    return result


def print_summary(result: WorkloadResult, as_json: bool) -> None:
    s = result.summary()
    if as_json:
        print_json(s)
    else:
        print_table(["ops", "seconds", "ops/s", "p50 ms", "p99 ms", "errors", "timeouts",
                     "redirects"],
                    [[s["ops"], s["seconds"], f"{s['ops_per_s']:,}", s["p50_ms"], s["p99_ms"],
                      s["errors"], s["timeouts"], s["redirects"]]])


def run_compare_command(args: argparse.Namespace) -> int:
    """``multiraft bench --compare``: run ``bench.compare`` and print where its report went."""
    from multiraft.bench.compare import QUICK, CompareConfig, run_compare

    # --quick fixes the rounds and durations; the matrix flags refine either base.
    base = QUICK if args.quick else CompareConfig(rounds=args.rounds, seconds=args.seconds,
                                                  idle_seconds=args.idle_seconds)
    cfg = dataclasses.replace(
        base, active_ranges=tuple(args.ranges or base.active_ranges),
        inflight=tuple(args.inflight or base.inflight),
        idle_ranges=tuple(args.idle_ranges or base.idle_ranges),
        value_size=args.value_size, pysyncobj=not args.no_pysyncobj, etcd=not args.no_etcd,
        base_port=args.base_port,
        command="multiraft " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    if cfg.rounds < 1 or cfg.seconds <= 0 or cfg.idle_seconds <= 0 or args.read_ratio:
        print("multiraft: error: --compare needs --rounds >= 1, --seconds > 0, --idle-seconds > 0"
              " and measures writes only (no --read-ratio)", file=sys.stderr)
        return 2
    out = Path(args.out)
    with sigterm_interrupts():  # (its clusters are stopped on the way out)
        results = run_compare(out, cfg)
    if args.json:
        print_json({"out": str(out), "failures": results["failures"]})
    else:
        print((out / "compare.md").read_text())
        print(f"results: {out / 'results.json'}; plots: {out}/*.png", file=sys.stderr)
    return 3 if results["failures"] else 0  # a cluster that did not start: unavailable
