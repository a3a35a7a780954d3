"""``EtcdCluster``: N etcd members on 127.0.0.1, each with its own data dir, the outside anchor
of ``multiraft bench --compare`` (issue 15) when an ``etcd`` binary is on PATH.

Member i serves clients on ``base_port + i`` and peers on ``base_port + 100 + i``; its data is
``DIR/member-i`` and its output ``DIR/member-i.log``. etcd fsyncs its WAL before it
acknowledges a write (its default), as every row of ours does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from ..pysyncobj_cluster import stop_children

__all__ = ["EtcdCluster", "etcd_binary"]


def etcd_binary() -> str | None:
    """The ``etcd`` on PATH, if any."""
    return shutil.which("etcd")


class EtcdCluster:
    """Invariant: ``procs[i]`` is member i's process, from ``start`` until ``stop``."""

    def __init__(self, directory: str | os.PathLike[str], nodes: int = 3,
                 base_port: int = 7900) -> None:
        binary = etcd_binary()
        if binary is None:
            raise FileNotFoundError("no etcd binary on PATH")
        self.binary = binary
        self.dir = Path(directory).resolve()
        self.ids = list(range(1, nodes + 1))
        self.base_port = base_port
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def client_addr(self, i: int) -> str:
        return f"127.0.0.1:{self.base_port + i}"

    def peer_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.base_port + 100 + i}"

    @property
    def client_addrs(self) -> list[str]:
        return [self.client_addr(i) for i in self.ids]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    def start(self, timeout: float = 60.0) -> EtcdCluster:
        """Start every member; return once each answers ``/health`` (stops them and raises if
        that takes over ``timeout``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        initial = ",".join(f"m{i}={self.peer_url(i)}" for i in self.ids)
        try:
            for i in self.ids:
                url = f"http://{self.client_addr(i)}"
                cmd = [self.binary, "--name", f"m{i}", "--data-dir", str(self.dir / f"member-{i}"),
                       "--listen-client-urls", url, "--advertise-client-urls", url,
                       "--listen-peer-urls", self.peer_url(i),
                       "--initial-advertise-peer-urls", self.peer_url(i),
                       "--initial-cluster", initial, "--initial-cluster-state", "new",
                       "--initial-cluster-token", f"multiraft-bench-{self.base_port}"]
                with open(self.dir / f"member-{i}.log", "ab") as log:
                    self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log,
                                                     start_new_session=True)
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = set(self.ids)
        while waiting:
            for i in list(waiting):
                p = self.procs[i]
                if p.poll() is not None:
                    raise RuntimeError(f"etcd member {i} exited with {p.returncode}; see "
                                       f"{self.dir / f'member-{i}.log'}")
                try:
                    with urllib.request.urlopen(f"http://{self.client_addr(i)}/health",
                                                timeout=1.0) as r:
                        if b'"true"' in r.read():
                            waiting.discard(i)
                except OSError:
                    pass
            if waiting and time.monotonic() > deadline:
                raise TimeoutError(f"etcd members {sorted(waiting)} not healthy after "
                                   f"{timeout}s; see the logs in {self.dir}")
            if waiting:
                time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every member, wait up to ``timeout``, SIGKILL the stragglers."""
        stop_children(self.procs.values(), timeout)
        self.procs.clear()

    def __enter__(self) -> EtcdCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
