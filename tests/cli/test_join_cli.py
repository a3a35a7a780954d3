"""Joining from the command line: ``multiraft-node --id 4 --join ADDR --base-port P`` joins a
running ``multiraft-cluster``-style cluster of real processes at the ports that cluster would give
node 4, and every node lists it; joins refused (another cluster, another live node's id, a data
dir of another cluster) exit 1 with the reason on stderr; the membership flags parse, validate
and reach ``multiraft-cluster``'s nodes."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multiraft.cli import node as node_cli
from multiraft.local_cluster import LocalCluster
from multiraft.storage.data_dir import open_data_dir
from multiraft.transport.client import ClientConnection
from multiraft.transport.client_protocol import ClientOp, ClientStatus
from tests.cluster.conftest import free_ports, wait_until

from .conftest import BIN, ROOT, free_base_port, run

DESIGNS = ["actors", "locks"]


def _config(*argv: str) -> Any:
    args: argparse.Namespace = node_cli._parser().parse_args(list(argv))
    return node_cli.build_config(args)[0]


def test_join_ports_follow_multiraft_clusters_rule() -> None:
    cfg = _config("--id", "4", "--join", "127.0.0.1:7101, 127.0.0.1:7102")
    assert (cfg.listen, cfg.client_listen) == ("127.0.0.1:7104", "127.0.0.1:7204")
    assert cfg.join == ["127.0.0.1:7101", "127.0.0.1:7102"] and cfg.peers == {}
    cfg = _config("--id", "5", "--join", "h:1", "--base-port", "9000")
    assert (cfg.listen, cfg.client_listen) == ("127.0.0.1:9005", "127.0.0.1:9105")
    cfg = _config("--id", "5", "--join", "h:1", "--listen", "127.0.0.1:1", "--client",
                  "127.0.0.1:2")
    assert (cfg.listen, cfg.client_listen) == ("127.0.0.1:1", "127.0.0.1:2")
    cfg = _config("--id", "2")  # no join: the defaults as before
    assert (cfg.listen, cfg.client_listen, cfg.join) == ("127.0.0.1:7100", "127.0.0.1:7200", [])


def test_membership_flags_parse_and_default() -> None:
    cfg = _config("--id", "1")
    assert (cfg.dead_after, cfg.replicas, cfg.rebalance) == (300.0, 3, True)
    cfg = _config("--id", "1", "--dead-after", "2.5", "--replicas", "5", "--no-rebalance")
    assert (cfg.dead_after, cfg.replicas, cfg.rebalance) == (2.5, 5, False)
    assert _config("--id", "1").snapshot_rate == 32 << 20
    assert _config("--id", "1", "--snapshot-rate", "1000").snapshot_rate == 1000.0


@pytest.mark.parametrize("args, fragment", [
    (["--dead-after", "0"], "dead_after"), (["--dead-after", "nan"], "dead_after"),
    (["--replicas", "0"], "replicas"), (["--join", "nohostport"], "bad join address"),
    (["--snapshot-rate", "-1"], "snapshot_rate"),
])
def test_bad_membership_flags_exit_2(args: list[str], fragment: str) -> None:
    r = run("multiraft-node", "--id", "1", "--engine", "memory", *args)
    assert r.returncode == 2 and fragment in r.stderr, r.stderr


@pytest.mark.parametrize("args", [["--replicas", "0"], ["--dead-after", "-1"]])
def test_cluster_refuses_bad_membership_flags(tmp_path: Path, args: list[str]) -> None:
    r = run("multiraft-cluster", "--nodes", "1", "--dir", str(tmp_path), *args)
    assert r.returncode == 2 and r.stderr, r.stderr


@pytest.mark.parametrize("program", ["multiraft-node", "multiraft-cluster"])
def test_help_documents_the_membership_flags(program: str) -> None:
    out = run(program, "--help").stdout
    for flag in ("--dead-after", "--replicas", "--no-rebalance", "--snapshot-rate"):
        assert flag in out
    if program == "multiraft-node":
        assert "--join" in out and "--base-port" in out and "P+100+ID" in out


# -- real processes ---------------------------------------------------------------------------

def _directory(addr: str) -> dict[int, dict[str, Any]]:
    try:
        with ClientConnection(addr) as c:
            resp = c.request(ClientOp.STATUS, ({"ranges": False},), timeout=2.0)
    except TimeoutError:
        return {}
    return {r["node_id"]: r for r in resp.result["directory"]} \
        if resp.status is ClientStatus.OK else {}


@pytest.fixture(params=DESIGNS)
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalCluster]:
    """A 3-process cluster on free ports (2 ranges, ``--dead-after 2``), stopped at the end."""
    base = free_base_port(6)
    c = LocalCluster(tmp_path / "cluster", 3, 2, base, request.param, tick_ms=50, fsync=False,
                     dead_after=2.0, replicas=3, rebalance=False)
    c.start()
    try:
        yield c
    finally:
        c.stop()


def _node(c: LocalCluster, *args: str) -> list[str]:
    return [sys.executable, str(BIN / "multiraft-node"), "--design", c.design, "--no-fsync",
            "--tick-ms", "50", *args]


def _refused(c: LocalCluster, *args: str) -> str:
    r = subprocess.run(_node(c, *args), capture_output=True, text=True, timeout=90, cwd=ROOT)
    assert r.returncode == 1, (r.returncode, r.stderr)
    return r.stderr


def test_a_node_joins_a_running_cluster_from_the_command_line(running: LocalCluster,
                                                              tmp_path: Path) -> None:
    c = running
    p = c.base_port
    joiner = subprocess.Popen(
        _node(c, "--id", "4", "--join", c.client_addr(1), "--base-port", str(p),
              "--data-dir", str(tmp_path / "node-4")),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        want = (f"127.0.0.1:{p + 4}", f"127.0.0.1:{p + 104}", "live")
        addrs = [*c.client_addrs, want[1]]
        wait_until(lambda: all((d := _directory(a)).get(4) and (
            d[4]["raft_address"], d[4]["client_address"], d[4]["state"]) == want for a in addrs),
            20, "every node to list node 4",
            diagnose=lambda: repr({a: _directory(a) for a in addrs}))
        assert joiner.poll() is None and all(pr.poll() is None for pr in c.procs.values())

        # refusals: exit 1, the reason on stderr, and the cluster unchanged
        err = _refused(c, "--id", "5", "--join", c.client_addr(2), "--base-port", str(p),
                       "--cluster-id", "other", "--data-dir", str(tmp_path / "node-5"))
        assert "node 5 cannot start" in err and "cluster id 'other'" in err, err
        r, cl = free_ports(2)
        err = _refused(c, "--id", "2", "--join", c.client_addr(1), "--listen",
                       f"127.0.0.1:{r}", "--client", f"127.0.0.1:{cl}",
                       "--data-dir", str(tmp_path / "impostor"))
        assert "belongs to another live node" in err, err
        foreign = tmp_path / "foreign"
        open_data_dir(str(foreign), "other-cluster", 6).close()
        err = _refused(c, "--id", "6", "--join", c.client_addr(1), "--base-port", str(p),
                       "--data-dir", str(foreign))
        assert "belongs to cluster 'other-cluster'" in err, err
        assert sorted(_directory(c.client_addr(1))) == [1, 2, 3, 4]

        # --dead-after 2 reached the cluster's nodes: a killed node is dead within seconds
        joiner.kill()
        joiner.wait(10)
        t0 = time.monotonic()
        wait_until(lambda: _directory(c.client_addr(1)).get(4, {}).get("state") == "dead", 20,
                   "node 1 to hold node 4 dead")
        assert time.monotonic() - t0 >= 1.0  # not before dead_after's 2 s (minus a gossip round)
    finally:
        if joiner.poll() is None:
            joiner.kill()
            joiner.wait(10)
