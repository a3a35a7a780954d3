"""``PySyncObjCluster``: N ``bench.pysyncobj_node`` processes on 127.0.0.1, the PySyncObj anchor
of the benchmarks, with the part of ``multiraft.local_cluster.LocalCluster``'s surface they use.

Node i listens for raft on ``base_port + i`` and for clients on ``base_port + 100 + i``, like
LocalCluster; with ``journal=True`` its journal is ``DIR/node-i.journal`` (plus PySyncObj's
``.meta`` and ``.dump`` beside it), so restarting on the same DIR brings the data back.
Each node's output goes to ``DIR/node-i.log``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from multiraft.client import Client
from multiraft.errors import ClientError

__all__ = ["PySyncObjCluster", "stop_children"]

#: The repository root: the nodes' working directory, so ``bench`` and ``transport`` import.
ROOT = Path(__file__).resolve().parent.parent


def stop_children(procs: Iterable[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM each child process still running, wait up to ``timeout`` for all of them, SIGKILL
    (and reap) the stragglers."""
    procs = list(procs)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class PySyncObjCluster:
    """Invariant: ``procs[i]`` is the process of node i, from ``start`` until ``stop``."""

    def __init__(self, directory: str | os.PathLike[str], nodes: int = 3, base_port: int = 7600,
                 journal: bool = True) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.dir = Path(directory).resolve()
        self.ids = list(range(1, nodes + 1))
        self.base_port = base_port
        self.journal = journal
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def raft_addr(self, i: int) -> str:
        return f"127.0.0.1:{self.base_port + i}"

    def client_addr(self, i: int) -> str:
        return f"127.0.0.1:{self.base_port + 100 + i}"

    @property
    def client_addrs(self) -> list[str]:
        return [self.client_addr(i) for i in self.ids]

    def start(self, timeout: float = 60.0) -> PySyncObjCluster:
        """Start every node; return once every node answers STATUS and one of them reports
        itself a serving leader (stops the nodes and raises if that takes over ``timeout``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            for i in self.ids:
                self._start_node(i)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, i: int) -> None:
        cmd = [sys.executable, "-m", "multiraft.bench.pysyncobj_node", "--id", str(i),
               "--raft-addrs", ",".join(self.raft_addr(j) for j in self.ids),
               "--client-port", str(self.base_port + 100 + i)]
        if self.journal:
            cmd += ["--journal", str(self.dir / f"node-{i}.journal")]
        with open(self.dir / f"node-{i}.log", "ab") as log:
            self.procs[i] = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log,
                                             start_new_session=True)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.leader() is None:
            for i, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"node {i} exited with {p.returncode}; see "
                                       f"{self.dir / f'node-{i}.log'}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no leader after {timeout}s; see the logs in {self.dir}")
            time.sleep(0.1)

    def leader(self) -> int | None:
        """The node that reports itself a serving leader, if every node answers STATUS."""
        leaders = []
        with Client(self.client_addrs, timeout=1.0) as c:
            for i in self.procs:
                try:
                    st = c.status(self.client_addr(i))
                except (ClientError, TimeoutError):
                    return None
                if st["ranges"][0]["state"] == "leader":
                    leaders.append(i)
        return leaders[0] if len(leaders) == 1 else None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every node (a clean stop), wait up to ``timeout``, SIGKILL the stragglers."""
        stop_children(self.procs.values(), timeout)
        self.procs.clear()

    @property
    def pids(self) -> list[int]:
        """The node processes' pids (their CPU time is measured per row)."""
        return [p.pid for p in self.procs.values()]

    def __enter__(self) -> PySyncObjCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
