"""``bin/multiraft-node``'s start failures (one line, exit 1) and the examples, run as a user
would run them."""

from __future__ import annotations

import subprocess
import sys

from .conftest import ROOT, free_base_port, run


def node_fails(*args: str, fragment: str) -> None:
    r = run("multiraft-node", "--log-level", "ERROR", *args, timeout=60)
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot start" in lines[0] and fragment in lines[0], r.stderr


def test_node_on_a_busy_port_exits_1(cluster):
    busy = cluster.manifest["nodes"][0]["raft"]
    node_fails("--id", "9", "--listen", busy, "--client", "127.0.0.1:0", "--engine", "memory",
               fragment="in use")


def test_node_metrics_on_a_busy_port_exits_1(cluster):
    busy = cluster.manifest["nodes"][0]["metrics"]
    node_fails("--id", "9", "--listen", "127.0.0.1:0", "--client", "127.0.0.1:0",
               "--engine", "memory", "--metrics", busy, fragment="in use")


def test_node_on_a_foreign_data_dir_exits_1(cluster):
    node_fails("--id", "2", "--listen", "127.0.0.1:0", "--client", "127.0.0.1:0",
               "--data-dir", str(cluster.dir / "node-1"), fragment="belongs to node 1")


def test_bad_node_flag_exits_2():
    r = run("multiraft-node", "--id", "1", "--peers", "oops")
    assert r.returncode == 2 and "bad peer" in r.stderr


def example(name: str, *args: str) -> str:
    r = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r.stdout


def test_embedding_example():
    out = example("embed_pykka.py")
    assert "range 1: leader" in out and out.endswith("stopped cleanly\n")


def test_client_script_against_a_cluster(cluster):
    out = example("client_script.py", "--addr", cluster.addrs)
    assert "get: b'hello'" in out and "get after delete: None" in out


def test_client_script_starts_its_own_cluster():
    out = example("client_script.py", "--base-port", str(free_base_port()))
    assert "cas absent->1: True" in out


def test_aio_example_against_a_cluster(cluster):
    out = example("aio_client.py", "--addr", cluster.addrs)
    assert "read back: 200 of 200" in out and "scan: 200 pairs" in out and "counter: 200" in out
