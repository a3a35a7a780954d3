"""``multiraft check`` as a user runs it (``bin/multiraft`` in a subprocess).

- ``--local --seconds 12 --nemesis partition,kill,pause --json`` on both designs: exit 0, the
  history linearizable, every nemesis ran, no rule and no node process left behind. This is
  CI's short check; ``MULTIRAFT_SOAK_SECONDS=N`` makes it an N-second soak.
- usage errors (exit 2): kill/pause without pids, partition of nodes sharing
  127.0.0.1, bad values;
- a deliberately broken store (a stand-in node that forgets every write): exit 1, the history
  saved as JSON, and ``--history FILE`` finds it not linearizable again; a constructed broken
  history file likewise.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from multiraft import pids
from multiraft.check.history import OpKind, Operation, UNKNOWN_OUTPUT
from multiraft.check.history_file import dump_history, load_history, save_history
from multiraft.check.iptables import TAG_PREFIX
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus
from tests.support.fake_node import FakeNode

ROOT = Path(__file__).resolve().parents[2]
MULTIRAFT = [sys.executable, str(ROOT / "bin" / "multiraft")]

#: the short check CI runs; ``MULTIRAFT_SOAK_SECONDS=N`` runs it for N seconds instead
SECONDS = float(os.environ.get("MULTIRAFT_SOAK_SECONDS", "12"))


def check(*args: str, cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MULTIRAFT_ADDR"}
    return subprocess.run([*MULTIRAFT, "check", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def _rules_tagged(tag: str) -> list[str]:
    out = subprocess.run(["iptables", "-w", "-S", "INPUT"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if tag in line]


@pytest.mark.timeout(int(SECONDS) * 3 + 300)
@pytest.mark.parametrize("design", ["actors", "locks"])
def test_a_local_cluster_under_every_nemesis_is_linearizable(design: str, tmp_path: Path) -> None:
    data = tmp_path / "cluster"
    proc = subprocess.Popen(
        [*MULTIRAFT, "check", "--local", "--dir", str(data), "--design", design,
         "--seconds", f"{SECONDS:g}", "--nemesis", "partition,kill,pause,split,move", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        out, err = proc.communicate(timeout=SECONDS * 3 + 240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(err, file=sys.stderr)
    assert proc.returncode == 0, err
    result = json.loads(out)  # exactly one JSON value on stdout
    assert result == {"linearizable": True, "ops": result["ops"],
                      "nemesis": ["partition", "kill", "pause", "split", "move"],
                      "history": None}, result
    assert result["ops"] >= 200, "the clients did hardly anything"
    for fault in ("fault partition", "fault kill: node", "fault pause: node", "heal pause",
                  "fault split: at", "fault move: range"):
        assert fault in err, f"{fault!r} not reported"
    # No node may die of anything but the nemesis' own kill -9 (a pause or partition that
    # killed one, as libzmq's ZMTP heartbeats once did, is an incident).
    assert "INCIDENT" not in err, err
    assert _rules_tagged(f"{TAG_PREFIX}{proc.pid} ") == [], "a partition rule outlived the check"
    node_pids = [n["pid"] for n in json.loads((data / "cluster.json").read_text())["nodes"]]
    assert not [p for p in node_pids if pids.alive(p)], "node processes outlived the check"
    hosts = sorted(n["client"].rpartition(":")[0]
                   for n in json.loads((data / "cluster.json").read_text())["nodes"])
    assert hosts == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


@pytest.mark.parametrize("args, message", [
    (["--nemesis", "kill", "--addr", "127.0.0.2:1,127.0.0.3:1"], "kill needs the nodes' pids"),
    (["--nemesis", "pause,kill"], "pause and kill need the nodes' pids"),
    (["--nemesis", "partition", "--addr", "127.0.0.1:7201,127.0.0.1:7202"], "share 127.0.0.1"),
    (["--nemesis", "bogus", "--local"], "unknown nemesis 'bogus'"),
    (["--seconds", "0", "--local"], "--seconds"),
    (["--seconds", "ten", "--local"], "invalid float value"),
    (["--clients", "0", "--local"], "--clients"),
    (["--design", "rafts", "--local"], "invalid choice"),
    (["--design", "locks"], "--design is for --local"),
    (["--dir", "x", "--nemesis", "none"], "--dir is for --local"),
    (["--local", "--addr", "127.0.0.2:1"], "no --addr or --cluster"),
    (["--history", "does-not-exist.json"], "cannot read"),
    (["--history", "h.json", "--local"], "no --local, --dir or --design"),
])
def test_usage_errors_exit_2_before_anything_runs(args: list[str], message: str,
                                                  tmp_path: Path) -> None:
    done = check(*args, cwd=tmp_path, timeout=30)
    assert done.returncode == 2, done
    assert message in done.stderr, done.stderr
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


def test_the_help_says_what_kill_pause_and_partition_need(tmp_path: Path) -> None:
    done = check("--help", cwd=tmp_path, timeout=30)
    text = " ".join(done.stdout.split())
    assert done.returncode == 0
    assert "they need --cluster DIR (the pids in its cluster.json" in text
    assert "needs every node on its own loopback address (127.0.0.x)" in text


def test_an_unreachable_cluster_could_not_be_checked(tmp_path: Path) -> None:
    with FakeNode(lambda req: None) as node:  # answers nothing but STATUS ...
        dead = node.address
    done = check("--addr", dead, "--nemesis", "none", "--seconds", "1", "--timeout", "1",
                 "--json", cwd=tmp_path, timeout=60)  # ... and now nothing at all
    assert done.returncode == 3, done
    assert "cluster unreachable" in done.stderr
    assert json.loads(done.stdout)["linearizable"] is None


class ForgetfulNode(FakeNode):
    """A store that acknowledges every write and forgets it: every read finds nothing."""

    def __init__(self) -> None:
        super().__init__(self.answer_request)

    @staticmethod
    def answer_request(req: ClientRequest) -> tuple[ClientStatus, object]:
        if req.op is ClientOp.GET:
            return ClientStatus.OK, None
        if req.op is ClientOp.CAS:
            return ClientStatus.OK, (True, None)
        return ClientStatus.OK, None

    def status(self) -> dict[str, object]:
        return {"node": {"node_id": 1, "ranges": 1, "silent_peers": [], "counters": {}},
                "ranges": [{"range_id": 1, "replica_id": 1, "start_key": b"", "end_key": b"",
                            "generation": 0, "replicas": [(1, 1)], "leader": 1,
                            "state": "leader", "term": 1, "commit": 1, "applied": 1,
                            "progress": [], "quiesced": False}]}


def test_a_store_that_loses_writes_is_not_linearizable_and_its_history_is_saved(
        tmp_path: Path) -> None:
    with ForgetfulNode() as node:
        done = check("--addr", node.address, "--nemesis", "none", "--seconds", "2",
                     "--clients", "2", "--json", cwd=tmp_path, timeout=90)
    assert done.returncode == 1, done
    result = json.loads(done.stdout)
    assert result["linearizable"] is False and result["nemesis"] == [] and result["ops"] > 0
    saved = Path(result["history"])
    assert saved.parent == tmp_path and saved.is_file() and str(saved) in done.stderr
    history, doc = load_history(saved)
    assert doc["verdict"] == "illegal" and "not linearizable" in doc["explanation"]
    assert len(history) == result["ops"]
    again = check("--history", str(saved), "--json", cwd=tmp_path, timeout=60)
    assert again.returncode == 1, again
    assert json.loads(again.stdout) == {"linearizable": False, "ops": len(history),
                                        "nemesis": [], "history": str(saved)}


def test_a_constructed_broken_history_is_reported_not_linearizable(tmp_path: Path) -> None:
    """put(k, a) completes, then a read finds the older value b written before it: a stale
    read. Also an unknown-outcome write that cannot explain it."""
    ops = [Operation(1, OpKind.PUT, (b"k", b"b"), None, 0, 10),
           Operation(1, OpKind.PUT, (b"k", b"a"), None, 20, 30),
           Operation(2, OpKind.GET, (b"k",), b"b", 40, 50),
           Operation(3, OpKind.PUT, (b"k", b"\xff-not-utf8"), UNKNOWN_OUTPUT, 5, math.inf)]
    path = save_history(tmp_path / "broken.json", dump_history(ops, "unchecked"))
    assert load_history(path)[0] == ops, "a saved history reads back exactly"
    done = check("--history", str(path), cwd=tmp_path, timeout=60)
    assert done.returncode == 1, done
    assert "linearizable: NO" in done.stdout
    assert "client 2: get(b'k') -> b'b'" in done.stderr


@pytest.mark.timeout(180)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_check_heals_and_stops_everything(sig: int, tmp_path: Path) -> None:
    """Ctrl-C (or SIGTERM) in the middle of a partition: the rules are removed and every node
    process is stopped before the command exits."""
    data = tmp_path / "cluster"
    proc = subprocess.Popen(
        [*MULTIRAFT, "check", "--local", "--dir", str(data), "--seconds", "60",
         "--nemesis", "partition"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tmp_path)
    assert proc.stderr is not None
    seen = []
    try:
        for line in proc.stderr:  # bounded: the partition comes ~1 s after the cluster is up
            seen.append(line)
            if "fault partition" in line:
                break
        assert _rules_tagged(f"{TAG_PREFIX}{proc.pid} "), "the partition is in place"
        proc.send_signal(sig)
        rc = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 130, "".join(seen)
    assert _rules_tagged(f"{TAG_PREFIX}{proc.pid} ") == []
    node_pids = [n["pid"] for n in json.loads((data / "cluster.json").read_text())["nodes"]]
    assert len(node_pids) == 3 and not [p for p in node_pids if pids.alive(p)]
