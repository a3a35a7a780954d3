"""``multiraft check --cluster DIR`` against a cluster it did not start (``multiraft-cluster``):
kill and pause reach its nodes by the pids in ``cluster.json``; a killed node is started again
as it was started (its new pid recorded there), every node is up when the check ends, and
``multiraft-cluster``'s Ctrl-C still stops every node, the restarted ones included."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from multiraft import pids
from multiraft.check.processes import ManifestNodes

from .test_check_command import ROOT, check

from tests.cli.conftest import free_base_port


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Iterator[Path]:
    """``multiraft-cluster --nodes 3 --ranges 4 --dir DIR`` (every node on 127.0.0.1); stopped
    with SIGINT at the end, after which no node listed in cluster.json may still run."""
    d = tmp_path / "cluster"
    proc = subprocess.Popen([sys.executable, str(ROOT / "bin" / "multiraft-cluster"), "--nodes",
                             "3", "--ranges", "4", "--dir", str(d), "--base-port",
                             str(free_base_port())],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        for _ in range(3):  # the node lines: the cluster is up (multiraft-cluster gives up in 60 s)
            assert proc.stdout.readline().startswith("node "), proc.stderr.read() if proc.stderr else ""
        yield d
        manifest_pids = [n["pid"] for n in json.loads((d / "cluster.json").read_text())["nodes"]]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    deadline = time.monotonic() + 10
    while any(pids.alive(p) for p in manifest_pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in manifest_pids if pids.alive(p)], "a node outlived multiraft-cluster"


def test_a_killed_node_is_restarted_as_it_was_and_recorded(cluster_dir: Path) -> None:
    nodes = ManifestNodes(cluster_dir)
    old = nodes.pid(2)
    assert old is not None and nodes.running(2)
    argv = pids.cmdline(old)
    nodes.kill(2)
    assert not nodes.running(2) and nodes.pid(2) is None
    nodes.restart(2)
    new = nodes.pid(2)
    assert new is not None and new != old
    deadline = time.monotonic() + 10  # /proc/PID/cmdline reads empty for a moment after exec
    while pids.cmdline(new) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pids.cmdline(new) == argv
    listed = {n["id"]: n["pid"] for n in json.loads((cluster_dir / "cluster.json").read_text())["nodes"]}
    assert listed[2] == new


def test_check_kills_and_pauses_the_nodes_of_a_cluster_it_did_not_start(cluster_dir: Path,
                                                                        tmp_path: Path) -> None:
    before = {n["id"]: n["pid"] for n in json.loads((cluster_dir / "cluster.json").read_text())["nodes"]}
    done = check("--cluster", str(cluster_dir), "--nemesis", "kill,pause", "--seconds", "10",
                 "--json", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["linearizable"] is True and result["nemesis"] == ["kill", "pause"], result
    after = {n["id"]: n["pid"] for n in json.loads((cluster_dir / "cluster.json").read_text())["nodes"]}
    assert all(pids.alive(p) for p in after.values()), "every node is up after the check"
    assert sum(after[i] != before[i] for i in before) >= 1, "the killed node has a new pid"
    assert "partition" not in done.stderr


def test_partition_of_a_multiraft_cluster_is_a_usage_error(cluster_dir: Path,
                                                           tmp_path: Path) -> None:
    done = check("--cluster", str(cluster_dir), "--nemesis", "partition", cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    assert "share 127.0.0.1" in done.stderr and "use --local" in done.stderr
