"""``LocalCluster``: N node processes on loopback, each ``python -m multiraft.cli.node``.

Used by ``multiraft-cluster``, ``multiraft check --local``, the benchmarks and the tests. Node i
listens on its host (127.0.0.1 for every node, or ``hosts[i - 1]``: ``multiraft check`` puts
node i on 127.0.0.(i+1) so that iptables rules can cut it off) for raft on ``base_port + i``
and for clients on ``base_port + 100 + i`` (and, with ``metrics=True``, serves Prometheus
metrics on ``base_port + 200 + i``); its data lives in ``DIR/node-i``. ``free_base_port``
finds a base port whose ports are all free. Restarting on the same DIR brings the same cluster
back with its data.

``stop`` also stops a node process that another program restarted in this cluster and wrote
into ``DIR/cluster.json`` (``multiraft check --cluster DIR`` restarts the nodes it kills).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import pids
from .client import Client
from .errors import ClientError

__all__ = ["LocalCluster", "NodeProcess", "free_base_port"]

#: how a node process starts: the installed package, wherever it is (a wheel has no bin/)
NODE_COMMAND = (sys.executable, "-m", "multiraft.cli.node")


@dataclass(slots=True)
class NodeProcess:
    id: int
    client: str
    raft: str
    pid: int
    metrics: str | None = None  # the Prometheus endpoint, if the cluster runs them


#: a node's ports: raft, client and metrics, at these offsets from ``base_port + i``
PORT_OFFSETS = (0, 100, 200)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_base_port(hosts: Sequence[str], low: int = 20_000, high: int = 40_000) -> int:
    """A base port P whose raft, client and metrics ports of node i (P+i, P+100+i, P+200+i on
    ``hosts[i - 1]``) are all free now; RuntimeError after 200 tries."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(low, high, 10)
        if all(_port_free(host, base + off + i) for i, host in enumerate(hosts, 1)
               for off in PORT_OFFSETS):
            return base
    raise RuntimeError(f"no free port range for {list(hosts)}")


class LocalCluster:
    """Invariant: ``procs[i]`` is the running process of node i (absent once stopped)."""

    def __init__(self, directory: str | os.PathLike[str], nodes: int = 3, ranges: int = 16,
                 base_port: int = 7100, design: str = "actors", tick_ms: int = 100,
                 fsync: bool = True, engine: str = "rocksdb", log_level: str = "WARNING",
                 extra_args: list[str] | None = None, metrics: bool = False,
                 keys: str | None = None, hosts: Sequence[str] | None = None,
                 split_bytes: int | None = None, split_qps: float | None = None,
                 dead_after: float | None = None, replicas: int | None = None,
                 rebalance: bool = True) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        if hosts is not None and len(hosts) != nodes:
            raise ValueError(f"{nodes} nodes need {nodes} hosts, got {list(hosts)}")
        #: node i's host is ``hosts[i - 1]``; every node on 127.0.0.1 by default
        self.hosts = list(hosts) if hosts is not None else ["127.0.0.1"] * nodes
        self.dir = Path(directory).resolve()
        self.ids = list(range(1, nodes + 1))
        self.ranges = ranges
        self.base_port = base_port
        self.design = design
        self.tick_ms = tick_ms
        self.fsync = fsync
        self.engine = engine
        self.log_level = log_level
        self.extra_args = list(extra_args or [])
        #: a key directory (``multiraft keys gen``): nodes run CurveZMQ, clients use its keys
        self.keys = keys
        self.metrics = metrics
        #: ``--split-bytes`` / ``--split-qps`` of every node (None: the node's default)
        self.split_bytes = split_bytes
        self.split_qps = split_qps
        #: ``--dead-after`` / ``--replicas`` of every node (None: the node's default), and
        #: ``--no-rebalance`` unless ``rebalance``
        self.dead_after = dead_after
        self.replicas = replicas
        self.rebalance = rebalance
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def host(self, i: int) -> str:
        return self.hosts[i - 1]

    def raft_addr(self, i: int) -> str:
        return f"{self.host(i)}:{self.base_port + i}"

    def client_addr(self, i: int) -> str:
        return f"{self.host(i)}:{self.base_port + 100 + i}"

    def metrics_addr(self, i: int) -> str | None:
        return f"{self.host(i)}:{self.base_port + 200 + i}" if self.metrics else None

    @property
    def pids(self) -> list[int]:
        """The running node processes' pids."""
        return [p.pid for p in self.procs.values()]

    @property
    def client_addrs(self) -> list[str]:
        return [self.client_addr(i) for i in self.ids]

    def client(self, timeout: float = 5.0) -> Client:
        """A client of this cluster (with its CurveZMQ keys if it has some)."""
        curve = None
        if self.keys:
            from multiraft.transport.keys import load_client_curve
            curve = load_client_curve(self.keys, {self.client_addr(i): i for i in self.ids})
        return Client(self.client_addrs, timeout=timeout, curve=curve)

    def start(self, timeout: float = 60.0) -> LocalCluster:
        """Start every node and wait until every range has a leader."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for i in self.ids:
            self.start_node(i)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        self.write_manifest()
        return self

    def start_node(self, i: int) -> None:
        peers = ",".join(f"{j}={self.raft_addr(j)}" for j in self.ids if j != i)
        cmd = [*NODE_COMMAND, "--id", str(i), "--listen", self.raft_addr(i),
               "--client", self.client_addr(i), "--data-dir", str(self.dir / f"node-{i}"),
               "--engine", self.engine, "--tick-ms", str(self.tick_ms),
               "--ranges", str(self.ranges), "--design", self.design,
               "--log-level", self.log_level, *self.extra_args]
        if peers:
            cmd += ["--peers", peers]
        if not self.fsync:
            cmd.append("--no-fsync")
        if self.keys:
            cmd += ["--keys", self.keys]
        if self.split_bytes is not None:
            cmd += ["--split-bytes", str(self.split_bytes)]
        if self.split_qps is not None:
            cmd += ["--split-qps", repr(float(self.split_qps))]
        if self.dead_after is not None:
            cmd += ["--dead-after", repr(float(self.dead_after))]
        if self.replicas is not None:
            cmd += ["--replicas", str(self.replicas)]
        if not self.rebalance:
            cmd.append("--no-rebalance")
        metrics = self.metrics_addr(i)
        if metrics is not None:
            cmd += ["--metrics", metrics]
        log = open(self.dir / f"node-{i}.log", "ab")
        try:
            self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()

    def wait_ready(self, timeout: float) -> None:
        """Until every node answers and every range has a leader (from the leaders' view)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"node {i} exited with {p.returncode}; see "
                                       f"{self.dir / f'node-{i}.log'}")
            if self.leaderless_ranges() == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster not ready after {timeout}s")
            time.sleep(0.2)

    def leaderless_ranges(self) -> int:
        """How many ranges have no leader in any running node's view (-1: a node is silent)."""
        led: set[int] = set()
        seen: set[int] = set()
        with self.client(timeout=2.0) as c:
            for i in self.procs:
                try:
                    st = c.status(self.client_addr(i))
                except (ClientError, TimeoutError):
                    return -1
                for r in st["ranges"]:
                    seen.add(r["range_id"])
                    if r["state"] == "leader":
                        led.add(r["range_id"])
        return len(seen - led) if seen else -1

    def manifest(self) -> dict[str, Any]:
        """``{"nodes": [{"id", "client", "raft", "pid"}]}``, plus ``"metrics"`` per node when
        the cluster serves metrics."""
        nodes = [NodeProcess(i, self.client_addr(i), self.raft_addr(i), p.pid, self.metrics_addr(i))
                 for i, p in sorted(self.procs.items())]
        return {"nodes": [{k: v for k, v in asdict(n).items() if k != "metrics" or self.metrics}
                          for n in nodes]}

    def write_manifest(self) -> None:
        (self.dir / "cluster.json").write_text(json.dumps(self.manifest(), indent=2) + "\n")

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to node i and reap it (SIGKILL: a crash; SIGTERM: a clean stop)."""
        p = self.procs.pop(i, None)
        if p is None:
            return
        p.send_signal(sig)
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop(self) -> None:
        """Stop every node: SIGTERM (graceful), SIGKILL after 30 s; the nodes another program
        restarted in this cluster too (see the module docstring)."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i in list(self.procs):
            self.kill(i, signal.SIGTERM)
        for pid in self._restarted_elsewhere():
            pids.stop(pid)

    def _restarted_elsewhere(self) -> list[int]:
        """Running pids in ``cluster.json`` that are none of ours: node processes of this
        cluster (their argv names the node's data dir) another program started."""
        try:
            nodes = json.loads((self.dir / "cluster.json").read_text())["nodes"]
        except (OSError, ValueError, KeyError, TypeError):
            return []
        found = []
        for n in nodes:
            pid, data_dir = n.get("pid"), str(self.dir / f"node-{n.get('id')}")
            if not isinstance(pid, int) or not pids.alive(pid):
                continue
            argv = pids.cmdline(pid) or []
            if any(a == "--data-dir" and b == data_dir for a, b in zip(argv, argv[1:])):
                found.append(pid)
        return found

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
