"""The node processes the nemesis signals: kill -9, SIGSTOP/SIGCONT, restart.

Two kinds, one interface (``NodeProcesses``):

- ``LocalNodes``: the nodes of a ``LocalCluster`` this process started (``check --local``):
  its children, restarted by the cluster itself;
- ``ManifestNodes``: the nodes of a cluster another program started, known by the pids in its
  ``cluster.json`` (``multiraft-cluster --dir DIR``, then ``check --cluster DIR``). How each one
  was started (argv, working folder, environment, log file) is read from ``/proc`` before any
  fault, so a node can be started again after it was killed; the new pid is written into
  ``cluster.json`` (``LocalCluster.stop`` stops such restarted nodes too). The restarted nodes
  keep running after the check: the cluster is left as it was found, every node up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from .. import pids
from ..local_cluster import LocalCluster

__all__ = ["NodeProcesses", "LocalNodes", "ManifestNodes", "ProcessError"]


class ProcessError(Exception):
    """A node process cannot be signalled or started as the nemesis needs."""


class NodeProcesses(ABC):
    """The processes of nodes ``ids``; ``pid(i)`` is None while node i is not running."""

    ids: list[int]

    @abstractmethod
    def pid(self, i: int) -> int | None: ...

    @abstractmethod
    def running(self, i: int) -> bool:
        """Node i's process is alive (stopped by SIGSTOP counts as alive)."""

    @abstractmethod
    def kill(self, i: int) -> None:
        """SIGKILL node i and wait until it is dead."""

    @abstractmethod
    def restart(self, i: int) -> None:
        """Start node i again (it is not running)."""

    @abstractmethod
    def how_it_ended(self, i: int) -> str:
        """How node i's last process ended (``exit 1``, ``SIGABRT``, ``unknown``)."""

    @abstractmethod
    def log_path(self, i: int) -> Path | None: ...

    def signal(self, i: int, sig: int) -> None:
        pid = self.pid(i)
        if pid is None:
            raise ProcessError(f"node {i} is not running")
        try:
            os.kill(pid, sig)
        except OSError as e:
            raise ProcessError(f"signal {signal.Signals(sig).name} to node {i} (pid {pid}): {e}") from None

    def log_tail(self, i: int, lines: int = 8) -> str:
        path = self.log_path(i)
        if path is None:
            return ""
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _ended(returncode: int | None) -> str:
    if returncode is None:
        return "unknown"
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit {returncode}"


class LocalNodes(NodeProcesses):
    """The nodes of a ``LocalCluster`` this process runs."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster
        self.ids = list(cluster.ids)
        self._last_returncode: dict[int, int | None] = {}

    def pid(self, i: int) -> int | None:
        p = self.cluster.procs.get(i)
        return p.pid if p is not None and p.poll() is None else None

    def running(self, i: int) -> bool:
        p = self.cluster.procs.get(i)
        if p is None:
            return False
        if p.poll() is None:
            return True
        self._last_returncode[i] = p.returncode
        return False

    def kill(self, i: int) -> None:
        p = self.cluster.procs.get(i)
        self.cluster.kill(i)  # SIGKILL and reap
        self._last_returncode[i] = p.returncode if p is not None else None

    def restart(self, i: int) -> None:
        if self.running(i):
            raise ProcessError(f"node {i} is running")
        p = self.cluster.procs.pop(i, None)
        if p is not None:
            self._last_returncode[i] = p.wait()
        try:
            self.cluster.start_node(i)
        except OSError as e:
            raise ProcessError(f"restart of node {i}: {e}") from None
        self.cluster.write_manifest()

    def how_it_ended(self, i: int) -> str:
        return _ended(self._last_returncode.get(i))

    def log_path(self, i: int) -> Path | None:
        return self.cluster.dir / f"node-{i}.log"


@dataclass(slots=True)
class _Launch:
    """How a node process was started, read from ``/proc/PID`` while it ran."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    log: Path | None  # its stdout, when that is a file


def _launch_of(pid: int) -> _Launch:
    proc = Path(f"/proc/{pid}")
    argv = pids.cmdline(pid)
    if argv is None or not pids.alive(pid):
        raise ProcessError(f"pid {pid} is not running")
    try:
        cwd = os.readlink(proc / "cwd")
        raw_env = (proc / "environ").read_bytes()
    except OSError as e:
        raise ProcessError(f"cannot read how pid {pid} was started: {e}") from None
    env = {}
    for item in raw_env.split(b"\0"):
        k, sep, v = item.partition(b"=")
        if sep:
            env[os.fsdecode(k)] = os.fsdecode(v)
    try:
        out = Path(os.readlink(proc / "fd" / "1"))
        log = out if out.is_file() else None
    except OSError:
        log = None
    return _Launch(argv, cwd, env, log)


class ManifestNodes(NodeProcesses):
    """The nodes of ``DIR/cluster.json`` (``{"nodes": [{"id", "pid", ...}]}``), by pid."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.manifest = Path(directory) / "cluster.json"
        try:
            nodes = json.loads(self.manifest.read_text())["nodes"]
            self._pids: dict[int, int | None] = {int(n["id"]): int(n["pid"]) for n in nodes}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ProcessError(f"no node pids in {self.manifest}: {e!r}") from None
        self.ids = sorted(self._pids)
        self._launch: dict[int, _Launch] = {}
        for i, pid in self._pids.items():
            assert pid is not None
            try:
                launch = _launch_of(pid)
            except ProcessError as e:
                raise ProcessError(f"node {i} ({self.manifest}): {e}") from None
            if not any("multiraft" in a for a in launch.argv):
                raise ProcessError(f"node {i}: pid {pid} is not a multiraft node "
                                   f"({' '.join(launch.argv)[:80]})")
            self._launch[i] = launch
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def pid(self, i: int) -> int | None:
        pid = self._pids.get(i)
        return pid if pid is not None and self.running(i) else None

    def running(self, i: int) -> bool:
        pid = self._pids.get(i)
        child = self._children.get(i)
        if child is not None and child.pid == pid:
            return child.poll() is None
        return pid is not None and pids.alive(pid)

    def kill(self, i: int) -> None:
        self.signal(i, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.running(i):
            if time.monotonic() > deadline:
                raise ProcessError(f"node {i} outlived SIGKILL for 30 s")
            time.sleep(0.02)

    def restart(self, i: int) -> None:
        if self.running(i):
            raise ProcessError(f"node {i} is running")
        launch = self._launch[i]
        try:
            out = open(launch.log, "ab") if launch.log is not None else None
            try:
                p = subprocess.Popen(launch.argv, cwd=launch.cwd, env=launch.env,
                                     stdin=subprocess.DEVNULL,
                                     stdout=out if out is not None else subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
            finally:
                if out is not None:
                    out.close()
        except OSError as e:
            raise ProcessError(f"restart of node {i}: {e}") from None
        self._children[i] = p
        self._pids[i] = p.pid
        self._write_pid(i, p.pid)

    def _write_pid(self, i: int, pid: int) -> None:
        try:
            doc = json.loads(self.manifest.read_text())
            for n in doc["nodes"]:
                if int(n["id"]) == i:
                    n["pid"] = pid
            tmp = self.manifest.with_name(self.manifest.name + ".tmp")
            tmp.write_text(json.dumps(doc, indent=2) + "\n")
            tmp.replace(self.manifest)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ProcessError(f"cannot record node {i}'s new pid in {self.manifest}: {e!r}") from None

    def how_it_ended(self, i: int) -> str:
        child = self._children.get(i)
        if child is not None and child.pid == self._pids.get(i):
            return _ended(child.poll())
        return "unknown (not a child of this process)"

    def log_path(self, i: int) -> Path | None:
        return self._launch[i].log
