"""The README's main command, as a user runs it: ``multiraft-cluster --nodes 3 --ranges 16
--dir DIR --workload S`` starts three node processes, serves the workload, prints its summary,
keeps serving, and stops everything on Ctrl-C (SIGINT)."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .conftest import BIN, NODE_LINE, ROOT, pid_alive, free_base_port


def test_quick_start_serves_a_workload_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(BIN / "multiraft-cluster"), "--nodes", "3", "--ranges", "16",
         "--dir", str(tmp_path / "data"), "--workload", "2", "--base-port", str(free_base_port())],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l.rstrip("\n")) for l in proc.stdout],
                              daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while len(seen) < 6:  # 3 node lines, then the summary table's 3 lines
            seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        assert proc.poll() is None, "it must keep serving after the workload"
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    assert rc == 0, proc.stderr.read()
    pids = [int(NODE_LINE.match(l).group(4)) for l in seen[:3]]
    header, _, row = seen[3:6]
    assert header.startswith("| ops | seconds | ops/s")
    ops, _, _, _, _, errors, timeouts = [c.strip() for c in row.strip("|").split("|")]
    assert int(ops) > 0 and errors == "0" and timeouts == "0"
    assert (tmp_path / "data" / "cluster.json").exists()
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if pid_alive(p)], "node processes outlived Ctrl-C"
