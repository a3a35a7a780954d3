"""``bin/multiraft-node``'s start failures (one line, exit 1) and the examples, run as a user
would run them."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import pytest
import zmq

from .conftest import BIN, ROOT, free_base_port, run, start_node_until_ready


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


@pytest.mark.parametrize("wipe", ["engine dir removed", "engine dir emptied"])
def test_node_with_ident_but_a_wiped_engine_exits_1_before_contacting_peers(tmp_path, wipe):
    """Amnesia (issue 12, defect 3): a node whose IDENT survived but whose engine was wiped
    must not rebuild its ranges at term 1 under its old replica ids (it could vote twice in a
    term); it exits 1 at once with one line, having sent nothing to its peers."""
    base = free_base_port()
    peers = {2: f"127.0.0.1:{base + 2}", 3: f"127.0.0.1:{base + 3}"}
    data = tmp_path / "node-1"
    args = ["--id", "1", "--listen", f"127.0.0.1:{base + 1}", "--client", f"127.0.0.1:{base + 101}",
            "--peers", ",".join(f"{n}={a}" for n, a in peers.items()), "--data-dir", str(data),
            "--ranges", "2", "--tick-ms", "50"]
    first, _ = start_node_until_ready(args)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0
    assert (data / "IDENT").exists() and (data / "engine" / "CURRENT").exists()

    shutil.rmtree(data / "engine")
    if wipe == "engine dir emptied":
        (data / "engine").mkdir()

    ctx = zmq.Context()
    pulls = []
    received: list[int] = []
    try:
        for addr in peers.values():  # the peers' raft addresses: the node PUSHes to them
            s = ctx.socket(zmq.PULL)
            s.setsockopt(zmq.LINGER, 0)
            s.bind(f"tcp://{addr}")
            pulls.append(s)
        poller = zmq.Poller()
        for s in pulls:
            poller.register(s, zmq.POLLIN)
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(BIN / "multiraft-node"), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            deadline = started + 10
            while proc.poll() is None and time.monotonic() < deadline:
                for s, _ in poller.poll(100):
                    received.append(len(s.recv()))
            elapsed = time.monotonic() - started
            still_running = proc.poll() is None
            if still_running:
                proc.kill()
            out, err = proc.communicate(timeout=30)
            for s, _ in poller.poll(300):  # anything sent just before it exited
                received.append(len(s.recv()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        for s in pulls:
            s.close()
        ctx.term()

    assert not still_running, (f"the node kept running on a wiped engine (it rebuilt its "
                               f"ranges), and sent {len(received)} frames to its peers")
    assert not received, f"the node sent {len(received)} frames to its peers"
    assert proc.returncode == 1, (out, err)
    assert elapsed < 8, elapsed
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert "cannot start" in line and str(data) in line and "new node" in line, line
    assert not (data / "engine" / "CURRENT").exists()  # no new database was created


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
