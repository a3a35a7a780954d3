"""``multiraft bench``: the pipelined write/read workload of ``bench.workload`` against a running
cluster, with a live progress bar on stderr and its summary as a table (or JSON) on stdout."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from bench.workload import WorkloadResult, run_workload

from .output import print_json, print_table

__all__ = ["run_bench", "print_summary"]


def run_bench(addrs: list[str], seconds: float, **workload: Any) -> WorkloadResult:
    """Run ``run_workload(addrs, seconds, **workload)`` on a worker thread while the progress
    bar follows the clock (the workload reports only when done); its errors are re-raised."""
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
    return outcome["result"]


def print_summary(result: WorkloadResult, as_json: bool) -> None:
    s = result.summary()
    if as_json:
        print_json(s)
    else:
        print_table(["ops", "seconds", "ops/s", "p50 ms", "p99 ms", "errors", "timeouts",
                     "redirects"],
                    [[s["ops"], s["seconds"], f"{s['ops_per_s']:,}", s["p50_ms"], s["p99_ms"],
                      s["errors"], s["timeouts"], s["redirects"]]])
