"""The README's main command as a user runs it, checked end to end: ``multiraft-cluster --nodes
3 --ranges R --dir DIR --workload S`` starts three node processes, serves the workload, prints
its summary, keeps serving, and stops everything on Ctrl-C (SIGINT). Used from a checkout
(tests/cli) and from a wheel installed in a fresh venv (tests/packaging)."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from multiraft.pids import alive as pid_alive

#: ``node ID client=HOST:PORT raft=HOST:PORT pid=PID``, as multiraft-cluster prints it.
NODE_LINE = re.compile(r"^node (\d+) client=(\S+:\d+) raft=(\S+:\d+) pid=(\d+)$")


def check_quick_start(command: Sequence[str], data_dir: Path, *, cwd: Path,
                      env: dict[str, str] | None = None, wait: float = 90.0) -> None:
    """Run ``command`` (a ``multiraft-cluster ... --dir data_dir --workload S`` invocation) and
    assert what the README promises of it."""
    proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=cwd, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l.rstrip("\n")) for l in out],
                              daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + wait
        while len(seen) < 6:  # 3 node lines, then the summary table's 3 lines
            try:
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"no summary within {wait}s; saw {seen}") from None
        assert proc.poll() is None, "it must keep serving after the workload"
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    assert rc == 0, proc.stderr.read()
    matches = [NODE_LINE.match(l) for l in seen[:3]]
    assert all(matches), seen
    pids = [int(m.group(4)) for m in matches if m]
    header, _, row = seen[3:6]
    assert header.startswith("| ops | seconds | ops/s"), seen
    ops, _, _, _, _, errors, timeouts = [c.strip() for c in row.strip("|").split("|")]
    assert int(ops) > 0 and errors == "0" and timeouts == "0", row
    assert (data_dir / "cluster.json").exists()
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if pid_alive(p)], "node processes outlived Ctrl-C"
