"""A 3-process cluster started by ``bin/multiraft-cluster`` (once for the tests/cli package), and helpers to
run the command-line programs as subprocesses."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from multiraft import local_cluster
from tests.support.quick_start import NODE_LINE, pid_alive

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "bin"


def free_base_port(nodes: int = 3) -> int:
    """A base port P whose P+i, P+100+i and P+200+i (i = 1..nodes) are free on 127.0.0.1 now."""
    return local_cluster.free_base_port(["127.0.0.1"] * nodes)


def run(program: str, *args: str, env: dict[str, str] | None = None,
        timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run ``bin/PROGRAM ARGS`` to completion; ``MULTIRAFT_ADDR`` only if ``env`` sets it."""
    base = {k: v for k, v in os.environ.items() if k != "MULTIRAFT_ADDR"}
    return subprocess.run([sys.executable, str(BIN / program), *args], capture_output=True,
                          text=True, timeout=timeout, env={**base, **(env or {})}, cwd=ROOT)


@dataclass(slots=True)
class ClusterProcess:
    dir: Path
    proc: subprocess.Popen[str]
    lines: list[str]
    manifest: dict

    @property
    def addrs(self) -> str:
        return ",".join(n["client"] for n in self.manifest["nodes"])

    def ctl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """``bin/multiraft --cluster DIR ARGS``."""
        return run("multiraft", "--cluster", str(self.dir), *args, timeout=timeout)


@contextlib.contextmanager
def cluster_process(d: Path, *args: str) -> Iterator[ClusterProcess]:
    """``multiraft-cluster --nodes 3 --dir d ARGS`` (on free ports, without fsync) once it has
    printed its three node lines; stopped with SIGTERM, after which it must exit 0 and every
    node process must be gone."""
    proc = subprocess.Popen(
        [sys.executable, str(BIN / "multiraft-cluster"), "--nodes", "3", "--dir", str(d),
         "--base-port", str(free_base_port()), "--no-fsync", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    lines: list[str] = []
    try:
        while len(lines) < 3:  # multiraft-cluster gives up by itself after 60 s
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"multiraft-cluster exited {proc.wait()}: {proc.stderr.read()}")
            lines.append(line.rstrip("\n"))
        manifest = json.loads((d / "cluster.json").read_text())
        yield ClusterProcess(d, proc, lines, manifest)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    pids = [int(NODE_LINE.match(l).group(4)) for l in lines]
    assert rc == 0
    deadline = time.monotonic() + 10
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if pid_alive(p)], "node processes outlived multiraft-cluster"


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcess]:
    """``multiraft-cluster --nodes 3 --ranges 8 --metrics``; stopped with SIGTERM, after which
    every node process must be gone."""
    with cluster_process(tmp_path_factory.mktemp("cluster"), "--ranges", "8", "--metrics") as c:
        yield c


def start_node_until_ready(args: list[str],
                           timeout: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    """``bin/multiraft-node ARGS`` once it has logged that it is ready: (process, that line).
    Its stderr is drained from then on, so the node never blocks on a full pipe."""
    proc = subprocess.Popen([sys.executable, str(BIN / "multiraft-node"), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    err = proc.stderr
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        seen = []
        while True:
            line = err.readline()
            if not line:
                raise AssertionError(f"multiraft-node exited {proc.wait()}: {''.join(seen)}")
            seen.append(line)
            if " ready (pid " in line:
                break
    finally:
        watchdog.cancel()
    threading.Thread(target=err.read, daemon=True).start()
    return proc, line
