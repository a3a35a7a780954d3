"""Processes known only by their pid (not children of this process): alive or not, what they
run, and stopping them.

``LocalCluster`` stops the node processes another program restarted in its cluster (listed in
its ``cluster.json``), and ``multiraft check`` signals and restarts the nodes of a cluster it did
not start; both only know those processes by pid. A zombie (dead, not yet reaped by its parent)
counts as dead. Linux only (``/proc``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

__all__ = ["alive", "cmdline", "stop", "cpu_seconds"]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ")"
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds ``pid`` has used so far (None if it is gone or unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # (fields 3.. of proc(5): state is [0])
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmdline(pid: int) -> list[str] | None:
    """The argv of ``pid`` (None if it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [os.fsdecode(a) for a in raw.split(b"\0")[:-1]] or None


def stop(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM ``pid`` (and SIGCONT, in case it is stopped), SIGKILL if it outlives
    ``timeout``; returns once it is dead, or ``timeout`` after the SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGCONT):
        if not _signal(pid, sig):
            return
    if _wait_dead(pid, timeout) or not _signal(pid, signal.SIGKILL):
        return
    _wait_dead(pid, timeout)


def _signal(pid: int, sig: int) -> bool:
    """Send ``sig``; False if ``pid`` is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
