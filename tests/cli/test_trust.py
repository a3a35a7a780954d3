"""Issue 12, defect 8 (a, b) on the command line: ``multiraft-node`` refuses a non-loopback raft
or client address without ``--keys`` or ``--insecure`` (exit 2, one line naming the address and
both ways out); the metrics endpoint binds 127.0.0.1 unless a host is given."""

from __future__ import annotations

import signal
import subprocess
import urllib.request

import pytest

from .conftest import free_base_port, run, start_node_until_ready


@pytest.mark.parametrize("flag", ["--listen", "--client"])
@pytest.mark.parametrize("addr", ["0.0.0.0:0", "10.20.30.40:7100"])
def test_a_public_address_without_keys_or_insecure_is_a_usage_error(flag: str, addr: str) -> None:
    other = "--client" if flag == "--listen" else "--listen"
    r = run("multiraft-node", "--id", "1", flag, addr, other, "127.0.0.1:0", "--engine", "memory")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert addr in lines[0] and "--keys" in lines[0] and "--insecure" in lines[0], lines[0]


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_insecure_lets_a_node_bind_every_interface() -> None:
    proc, ready = start_node_until_ready(["--id", "1", "--listen", "0.0.0.0:0", "--client", "0.0.0.0:0",
                          "--engine", "memory", "--ranges", "1", "--insecure"])
    assert _stop(proc) == 0
    assert "raft 0.0.0.0:" in ready, ready


def test_a_bare_metrics_port_binds_loopback() -> None:
    port = free_base_port(1) + 201
    proc, ready = start_node_until_ready(["--id", "1", "--listen", "127.0.0.1:0", "--client", "127.0.0.1:0",
                          "--engine", "memory", "--ranges", "1", "--metrics", str(port)])
    try:
        assert f"metrics 127.0.0.1:{port}," in ready, ready
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        assert b"multiraft_ranges 1.0" in body
    finally:
        assert _stop(proc) == 0
